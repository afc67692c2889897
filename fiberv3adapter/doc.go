// Package fiberv3adapter serves a lifecycle.Endpoint with Fiber v3
// (fasthttp), and notices a client leaving at once, with no write and no
// heartbeat. It is the Fiber v3 twin of package fiberadapter (Fiber v2):
// both run on one implementation of the fasthttp side, so a Fiber v3 app
// gets exactly what a Fiber v2 app does, and fiberadapter's documentation
// of how and why applies here word for word.
//
// # What you get
//
// The stream runs inside the Fiber handler, on fasthttp's goroutine for the
// request, for as long as it lasts; the adapter writes the status line, the
// headers middleware set before calling Next (cookies included) and the
// body on the connection itself, chunked on HTTP/1.1 and close-delimited on
// HTTP/1.0, and every stream announces Connection: close. When the session
// is over, the connection is closed through fasthttp's documented Hijack.
// fasthttp's limits (Concurrency, MaxConnsPerIP), ConnState hooks, TLS and
// graceful shutdown see a stream as they see any request.
//
// The client leaving ends the session with lifecycle.ErrClientGone within
// milliseconds, with no write: on Linux an idle stream is watched by one
// epoll instance shared by the process, so it costs one goroutine, the
// request's; elsewhere, and on connections whose socket a wrapper hides, a
// reader goroutine watches it. Writes go through a bounded write-behind
// queue, so a client that stops reading ends with lifecycle.ErrWriteTimeout.
//
// Fiber v3's app.Shutdown, ShutdownWithTimeout and ShutdownWithContext end
// every stream with lifecycle.ErrShutdown (sending Options.Farewell) and
// return once their handlers have, or at the caller's deadline; a stream
// request still in middleware when shutdown begins opens and ends at once.
// Nothing is registered with the app.
//
// # What is specific to Fiber v3
//
// Values middleware puts in c.Locals, with fiber.StoreInContext, or in
// c.Context() (c.SetContext) are in Session.Context, where
// fiber.ValueFromContext and the middleware's FromContext functions (such
// as requestid.FromContext) find them.
//
// Fiber v3's timeout middleware runs the handler on a goroutine of its own
// and, when its deadline passes, answers the request itself on the
// connection, which a stream would be writing to. A stream is impossible
// there: a request whose c.Context() has a deadline is refused with
// ErrBehindTimeout (a 500) and an error logged through Options.Logger.
// Mount streams outside the timeout middleware, or skip them with its Next.
//
// With Config.ProxyHeader (read by Fiber v3 only from a proxy trusted by
// Config.TrustProxy and TrustProxyConfig), the session's address is the
// client's, as c.IP() reports it, when that is one IP address; otherwise it
// is the connection's peer, so that no header value a client makes up
// becomes its MaxSessionsPerKey key.
//
// A request refused before its stream (over Options.MaxSessions, a body
// over Options.MaxBodySize, ErrBehindTimeout) and HEAD get an ordinary Fiber
// response, on a connection that stays alive. After a stream the handler
// returns ErrStreamed, so that middleware which post-processes responses
// (cache, etag, compress) leaves the stream's empty leftover response alone.
//
// Fiber v3.1.0 has no middleware/sse; its streaming recipe,
// c.SendStreamWriter, notices a dead client only when a write fails, as on
// Fiber v2 (BENCHMARKS.md compares them).
//
// # Limits
//
// Those of fiberadapter: headers set after Next cannot reach a stream, a
// client pipelining requests ahead of a stream request gets the stream
// first, a client may send up to 64 KiB on a stream's connection, a
// connection that ignores read deadlines delays a stream's end by up to a
// second, and under app.Test a stream ends when its handler returns.
// app.Shutdown with no deadline waits for every handler, as fasthttp waits
// for any request: use ShutdownWithTimeout or ShutdownWithContext.
package fiberv3adapter
