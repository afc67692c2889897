// Package fiberadapter serves a lifecycle.Endpoint with Fiber v2 (fasthttp),
// and notices a client leaving at once, with no write and no heartbeat.
// Package fiberv3adapter does the same for Fiber v3, with the same
// fasthttp code: what this documentation says of fasthttp holds for both.
//
// # Why Fiber needs this
//
// fasthttp's usual streaming recipe, SetBodyStreamWriter, notices a dead
// client only when a later write fails: with a 15 s heartbeat that is 15 to
// 45 s, and never while the stream is quiet (gofiber/fiber#3307,
// valyala/fasthttp#993). RequestCtx.Done fires only on server shutdown.
// Hijacking with HijackSetNoResponse(true) sees the close but writes no
// status line and no headers, so browsers receive nothing.
//
// # How it works
//
// The stream runs inside the Fiber handler, on fasthttp's goroutine for the
// request, for as long as it lasts. The adapter writes the status line and
// the headers (those middleware set before calling Next, cookies included,
// serialized by fasthttp itself) and then the body directly on the
// connection: chunked on HTTP/1.1, ending with a clean terminating chunk;
// close-delimited on HTTP/1.0. Every stream announces Connection: close.
// When the session is over, the handler tells fasthttp, through its
// documented Hijack and HijackSetNoResponse, to write nothing more and close
// the connection.
//
// Meanwhile the adapter watches the connection for the client leaving. On
// Linux, an idle stream over TCP (TLS included) is watched by one epoll
// instance shared by the process, whose goroutine parks in Go's network
// poller and exists only while something is watched, so an idle stream
// costs one goroutine: the request's. When the client's FIN or RST arrives,
// or any byte, the connection goes to a goroutine blocked in Read, which
// returns at once: the session ends with lifecycle.ErrClientGone within
// milliseconds, with the read error as cause. Elsewhere, and for connections
// whose socket a wrapper hides (fasthttp's MaxConnsPerIP counter, listener
// wrappers), that reader watches from the start. The read deadline
// fasthttp's ReadTimeout left is cleared: no deadline passes for a
// disconnect.
//
// A request refused before its stream (over Options.MaxSessions, a body
// over Options.MaxBodySize) and HEAD get an ordinary Fiber response, on a
// connection that stays alive. After a stream the handler returns
// ErrStreamed, so that middleware which post-processes responses (cache,
// etag, compress) leaves the stream's empty leftover response alone.
//
// Writes go through a small write-behind queue: Flush hands the bytes to a
// writer goroutine that exists only while there is something to send and
// sends every queued event in one call. Idle streams cost no goroutine for
// it; busy ones cost one syscall per burst rather than per event. The queue
// is bounded (256 KiB), so a client that stops reading blocks the sender
// until the write timeout ends the session with lifecycle.ErrWriteTimeout.
//
// # Why inside the handler, and why close the connection after
//
// An earlier design hijacked the connection, ran the stream in fasthttp's
// hijack goroutine, and handed the connection back to fasthttp
// (Server.ServeConn) when the stream ended, for keep-alive. Handing a
// hijacked connection back re-enters fasthttp's accounting: with
// MaxConnsPerIP its pooled per-IP connection was closed twice (a crash under
// load), every clean stream on a keep-alive connection parked a goroutine and
// a buffered reader until the connection closed, Concurrency and
// MaxConnsPerIP counted the connection twice, TLS state and IdleTimeout were
// lost, and fasthttp's Shutdown no longer saw the stream, so the adapter had
// to register a Fiber shutdown hook from a request (which deadlocked
// app.Shutdown). Running the stream inside the handler keeps every one of
// fasthttp's mechanisms as it is: the connection is served, counted once,
// watched by ConnState, and waited for by Shutdown; fasthttp closes it once.
//
// Closing after a stream is allowed by RFC 9112 (the stream says so in its
// headers) and costs a client that opens another stream one new TCP
// connection. Measured on loopback with BenchmarkReconnect (go test -run
// '^$' -bench Reconnect ./fiberadapter: a client that reconnects at once
// after each short stream), a stream with its new connection takes 0.2 ms;
// the hand-back design, reusing the connection, took 2.0 ms and grew with
// every stream on it. A browser's EventSource waits seconds before it
// reconnects. A request pipelined behind a stream is never read nor answered
// on the stream's connection; the client sends it again on a new one
// (RFC 9112 §9.3.2).
//
// Running inside the handler costs memory: the request's goroutine carries
// fasthttp's and Fiber's frames under the handler, so its stack is 8 KiB
// where a hijacked goroutine's was 4 KiB, and Fiber's Ctx stays in use while
// the stream lasts (BENCHMARKS.md has the figures). That is the price of
// fasthttp's limits, hooks and graceful shutdown seeing streams as they see
// every other request.
//
// # Shutdown
//
// Fiber's app.Shutdown, ShutdownWithTimeout and ShutdownWithContext close
// fasthttp's shutdown channel (RequestCtx.Done) and then wait for running
// handlers, within the caller's deadline. The adapter watches that channel,
// with one goroutine per server while it has streams, and ends every stream
// with lifecycle.ErrShutdown (sending Options.Farewell), so Shutdown returns
// once their handlers have returned, or at the caller's deadline if a
// handler ignores Session.Done. A stream request still in middleware when
// shutdown begins opens and ends at once the same way. Nothing is registered
// with the app: mounting the handler is all it takes. Calling
// Endpoint.Shutdown yourself works too, on any adapter.
//
// # Limits
//
// Headers that middleware sets after Next returns cannot reach a stream,
// which has been sent by then (as on net/http).
//
// A client that pipelines a request before a stream request on one
// connection receives the stream ahead of the earlier response: fasthttp
// holds that response in its write buffer while more requests are
// buffered, and a handler cannot flush it. Browsers and HTTP client
// libraries do not pipeline; a client that does gets its own connection's
// responses out of order, nobody else's.
//
// A client may send up to 64 KiB on a stream's connection (requests that
// will not be answered on it); one that sends more is ended with
// lifecycle.ErrClientGone rather than left unwatched.
//
// A connection that ignores read deadlines (a listener wrapper that does not
// forward them) delays the end of each stream by up to a second while the
// watcher gives up on it, and the adapter logs a warning; combined with
// MaxConnsPerIP, whose wrapper fasthttp recycles once closed, the stream's
// end waits for the client to close.
//
// Under app.Test there is no client to leave: a stream ends when its
// handler returns (or at Endpoint.Shutdown), and app.Test gives up on a
// handler that waits for the client.
//
// Shutdown with no deadline (app.Shutdown) waits for every handler, as
// fasthttp waits for any request: a handler that ignores Session.Done holds
// it. Use ShutdownWithTimeout or ShutdownWithContext.
package fiberadapter
