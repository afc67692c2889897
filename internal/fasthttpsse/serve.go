// Package fasthttpsse serves a lifecycle.Endpoint on a fasthttp request: the
// part of the Fiber adapters (fiberadapter for Fiber v2, fiberv3adapter for
// v3) that speaks fasthttp and knows nothing of Fiber. Everything but
// reading Fiber's context, route parameters and client address, and
// turning the outcome into Fiber errors, is here, shared by both.
//
// A stream runs inside the request handler, on the handler's goroutine, for
// as long as it lasts: fasthttp keeps counting the connection as served, so
// its Concurrency and MaxConnsPerIP limits, ConnState hooks and Shutdown
// (which waits for served connections, within the caller's deadline) see the
// stream like any other request. The transport writes the response on the
// connection itself, announcing Connection: close, and when the stream is
// over the handler tells fasthttp, through the documented hijack API, to
// write nothing and close the connection: a stream never hands a
// connection back to fasthttp, and fasthttp never serves a connection that
// the stream also uses. See the fiberadapter package documentation for why.
package fasthttpsse

import (
	"context"
	"net"

	"github.com/valyala/fasthttp"

	"github.com/ssekit/ssekit/lifecycle"
)

// Server serves streams for one mounted handler. Its zero value is ready to
// use; it is safe for concurrent use. It holds nothing per request once a
// request is over.
type Server struct {
	shutdowns shutdowns
}

// Request is what a Fiber adapter knows of a request that fasthttp does
// not: the values its middleware attached, the route's parameters and the
// client's address as the app reports it.
type Request struct {
	// Context is the framework's request context (Fiber v2's UserContext,
	// v3's Context): its values, and its deadline if any, are the
	// session's. Its cancellation is ignored.
	Context context.Context
	// Params are the route's parameters, already copied (see Params).
	Params []lifecycle.Param
	// RemoteAddr is the session's address (see RemoteAddr).
	RemoteAddr string
}

// Handle serves ep on fctx from inside the request handler, and returns
// when the request is over: it reads the body (up to
// Options.MaxBodySize), builds the session's request from fctx and r, gives
// the session a context with r.Context's values and the request's user
// values (Fiber's Locals, copied), and runs Serve.
//
// It reports whether a stream was written on the connection (then the
// caller must not touch fctx's response), or an error before the session:
// ErrBodyTooLarge, or the failure to read the body; the caller answers it
// with the framework's error (413, 400).
func (s *Server) Handle(srv *fasthttp.Server, fctx *fasthttp.RequestCtx, ep *lifecycle.Endpoint, r Request) (streamed bool, err error) {
	body, err := ReadBody(fctx, ep.Options().MaxBodySize)
	if err != nil {
		return false, err
	}
	ctx, cancel := Values(fctx, r.Context)
	defer cancel()
	return s.Serve(srv, fctx, ep, ctx, newRequest(fctx, r.Params, r.RemoteAddr, body)), nil
}

// Serve runs one request for ep on fctx, from inside the request handler,
// and returns when it is over. ctx carries the values the session's context
// shows (and may carry a deadline, which ends the session with
// lifecycle.ErrDeadline); its cancellation is ignored. srv is the server
// fctx belongs to.
//
// It reports whether a stream was written on the connection. If so, the
// caller must not touch fctx's response: fasthttp will write nothing more
// and closes the connection. Otherwise fctx.Response holds an ordinary
// response (a refusal, or the headers for HEAD) for fasthttp to write.
func (s *Server) Serve(srv *fasthttp.Server, fctx *fasthttp.RequestCtx, ep *lifecycle.Endpoint, ctx context.Context, req *lifecycle.Request) (streamed bool) {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// fasthttp closes this channel when its Shutdown begins, and waits for
	// this handler to return.
	defer s.shutdowns.add(fctx.Done(), cancel)()

	var w watch
	t := newTransport(fctx, ep.Options().WriteTimeout, cancel, func() {
		if !hasPeer(fctx.Conn()) {
			return // Fiber's app.Test: no peer to leave; the handler ends the stream
		}
		w = startWatch(fctx.Conn(), cancel)
	})
	ep.Serve(sctx, t, req)
	if !t.stream {
		return false
	}
	// The session is over: end the response, then stop the watch, so that
	// the connection's close is never reported as the client leaving.
	t.finish()
	if w != nil && !w.stop() {
		abandon(srv, ep, w)
	}
	fctx.HijackSetNoResponse(true)
	fctx.Hijack(func(c net.Conn) {
		// fasthttp closes the connection when this returns, unless its
		// server keeps hijacked connections (KeepHijackedConns), in which
		// case this closes it; otherwise it does nothing. (The server here
		// is the one serving the request, which need not be the app's.)
		c.Close()
	})
	return true
}

// abandon handles a watch whose reader did not stop: the connection ignores
// read deadlines (a listener wrapper that does not forward them). The reader
// stays blocked in Read until fasthttp closes the connection, which it does
// once the stream is over, and then returns without touching it again. Only
// fasthttp's MaxConnsPerIP wrapper is recycled by fasthttp once closed, so
// with it the stream's end waits for the reader, that is for the client to
// close the connection.
func abandon(srv *fasthttp.Server, ep *lifecycle.Endpoint, w watch) {
	ep.Options().Logger.Warn("sse: the connection ignores read deadlines (a listener wrapper " +
		"that does not forward SetReadDeadline?); it is closed to end the stream")
	if srv != nil && srv.MaxConnsPerIP > 0 {
		w.wait()
	}
}

// hasPeer reports whether conn has a network peer: Fiber's app.Test serves
// an in-memory connection whose address is 0.0.0.0:0 and whose reads end at
// once, which is not a client leaving.
func hasPeer(conn net.Conn) bool {
	a, ok := conn.RemoteAddr().(*net.TCPAddr)
	return !ok || a.Port != 0 || !a.IP.IsUnspecified()
}
