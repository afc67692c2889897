// Package lifecycle is the framework-neutral core of ssekit: one event
// stream's Session, the Event encoding, heartbeats, the reasons a session
// ends, graceful shutdown, and the small Transport interface an adapter
// implements. It imports no web framework.
//
// # Using it
//
// Write a Handler once and build an Endpoint from it:
//
//	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
//		for {
//			select {
//			case <-s.Done():
//				return nil
//			case msg := <-updates:
//				if err := s.Send(lifecycle.Event{Data: msg}); err != nil {
//					return err
//				}
//			}
//		}
//	}, lifecycle.Options{})
//
// then mount it with the adapter for your framework (nethttpadapter,
// chiadapter, echoadapter, fiberadapter). The same Endpoint value works with
// every adapter. On shutdown, call ep.Shutdown: it ends every session with
// ErrShutdown, optionally sends a farewell event, and waits for the
// handlers.
//
// A Session ends exactly once; Done is closed and Err says why with one of
// the sentinel errors (ErrClientGone, ErrShutdown, ErrDeadline,
// ErrWriteTimeout, ErrWriteFailed, ErrHandlerReturned, ErrHandlerPanicked,
// ErrClosed), which wrap their cause. Every write method returns an error matching ErrEnded at
// once after the end.
//
// # Overload
//
// Options.MaxSessions caps the sessions open at once on an endpoint, and
// Options.MaxSessionsPerKey the sessions per key (by default the client's
// IP; set Options.SessionKey to count per user). A stream over a cap is
// refused before anything of it is sent: 503 Service Unavailable, a
// Retry-After header (Options.OverloadRetryAfter, 10 s by default) and a
// one-line text body; the handler does not run, and Options.OnReject is
// told, with a reason matching ErrOverloaded.
//
// A browser's EventSource treats any answer but 200 with text/event-stream
// as fatal: it fires "error", sets readyState to CLOSED and never
// reconnects by itself, and it cannot read Retry-After. A page that should
// come back once the server has room must reconnect on its own, with a
// backoff and jitter so that refused clients do not return together:
//
//	function connect(delay = 5000) {
//	  const es = new EventSource("/events");
//	  es.onopen = () => { delay = 5000; };
//	  es.onerror = () => {
//	    if (es.readyState === EventSource.CLOSED) { // refused: not retried by the browser
//	      setTimeout(() => connect(Math.min(delay * 2, 120000)), delay * (0.5 + Math.random()));
//	    }
//	  };
//	}
//
// Clients written with fetch, or other SSE libraries, can read Retry-After
// and wait exactly that long.
//
// # Writing an adapter
//
// An adapter connects one framework to an Endpoint. For each request on the
// route, it:
//
//  1. Reads the request body (bounded by Endpoint.Options().MaxBodySize,
//     answering 413 above it) and copies everything else a session may read
//     into a Request: method, path, raw query, headers, route parameters,
//     remote address, protocol. Copy every string: frameworks such as Fiber,
//     Echo and chi recycle their request objects and buffers when their
//     handler returns, while a session's Request is read for as long as the
//     stream runs, from any goroutine.
//  2. Provides a Transport over the raw response: WriteHeader(status,
//     header) to merge the given headers over those middleware set and send
//     the status line; Write and Flush to send bytes; SetWriteDeadline to
//     bound each write. Flush must really send the bytes, or return an
//     error: an adapter that cannot stream must fail, never buffer. Never
//     send Connection or Transfer-Encoding on HTTP/2. On HTTP/1.1 use
//     chunked framing and end it cleanly; on HTTP/1.0, close-delimited.
//  3. Provides a context that is canceled when the client has gone (FIN or
//     RST on the connection, a reset HTTP/2 stream), with the cause if it
//     has one. It must fire while nothing is being written: a dead client
//     noticed only at the next write leaks the session for as long as the
//     stream is quiet. Its values reach Session.Context. The adapter may
//     also cancel it with a cause of its own: ErrShutdown when its server is
//     shutting down (the session ends gracefully, with the farewell), or
//     ErrWriteTimeout / ErrWriteFailed when a write it made in the
//     background failed. A context that reaches its deadline ends the
//     session with ErrDeadline.
//  4. Calls Endpoint.Serve(ctx, transport, request) on the request's own
//     goroutine (or on one the adapter owns) and finishes the response after
//     it returns. Serve returns only when the handler has returned and the
//     session has let go of the transport; from then on the adapter may
//     recycle everything.
//
// The Session owns everything else: encoding, serializing concurrent
// writers, heartbeats, per-write deadlines, the close reason, the farewell,
// hooks and panics. It never calls Transport methods concurrently and never
// after Serve returns, so a Transport needs no locking of its own. Serve
// never panics.
//
// Finally, prove the adapter with the shared suite: in the adapter's tests,
// give conformance.Run a Harness whose Start serves an Endpoint with the
// framework on a fresh 127.0.0.1 listener. The suite runs every rule against
// real sockets; declare in Harness.Missing, with a reason, anything the
// framework cannot do.
package lifecycle
