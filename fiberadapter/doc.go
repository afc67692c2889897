// Package fiberadapter serves a lifecycle.Endpoint with Fiber v2 (fasthttp),
// and notices a client leaving at once, with no write and no heartbeat.
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
// Handler copies what the session reads out of Fiber's Ctx (params, query,
// headers, body, remote address: Fiber recycles the Ctx and its zero-copy
// strings when the handler returns), then hijacks the connection with
// HijackSetNoResponse(true). fasthttp runs the hijack handler after the
// whole middleware chain has returned, with its RequestCtx still valid, so
// the adapter writes the status line and every header middleware set,
// before or after it ran, serialized by fasthttp itself (cookies included),
// minus Content-Length, Content-Encoding and Transfer-Encoding, which the
// stream controls. The body is chunked on HTTP/1.1 and ends with a clean
// terminating chunk; on HTTP/1.0 it is close-delimited (fasthttp alone
// would chunk it, which HTTP/1.0 clients cannot read); HEAD gets headers
// only.
//
// The adapter then watches the connection for the client leaving. On
// Linux, an idle plain-TCP stream is watched by one epoll instance shared by
// the process (its goroutine parks in Go's network poller and exists only
// while something is watched), so an idle stream costs one goroutine: the
// hijacked connection's, which runs the handler. When the client's FIN or
// RST arrives, or any byte, the connection goes to a goroutine blocked in
// Read, which returns at once: the session ends with lifecycle.ErrClientGone
// within milliseconds, with the read error as cause. Elsewhere, and for
// connections without a descriptor of their own (TLS), that reader watches
// from the start. fasthttp clears its ReadTimeout deadline before hijacking,
// so no deadline passes for a disconnect; bytes the client pipelines after
// the stream's request (already in fasthttp's buffer, or arriving later) are
// kept, not lost. When the stream ends cleanly the connection goes back to
// fasthttp (Server.ServeConn), which answers those pipelined bytes and any
// later keep-alive request; a stream that ends because the client left, a
// write failed or the app is shutting down closes the connection instead.
//
// Writes go through a small write-behind queue: Flush hands the bytes to a
// writer goroutine that exists only while there is something to send and
// sends every queued event in one call. Idle streams cost no goroutine for
// it; busy ones cost one syscall per burst rather than per event. The queue
// is bounded (256 KiB), so a client that stops reading blocks the sender
// until the write timeout ends the session with lifecycle.ErrWriteTimeout.
//
// # Why hijacking, by measurement
//
// The alternative was SetBodyStreamWriter with ImmediateHeaderFlush and a
// read watcher on ctx.Conn(). Measured on a 2-core machine with the
// benchmarks in this package (go test -run '^$' -bench . ./fiberadapter):
//
//	                          hijack (this)   stream writer + watcher   recipe (no watcher)
//	idle memory per stream    19 KB           43-54 KB                  28 KB
//	goroutines per stream     1               3                         2
//	64-byte events/s          4.6 M           0.90 M                    1.22 M
//	disconnect noticed after  0.02 ms         (same watcher; not run)   45 s (15 s heartbeat)
//
// The stream writer runs the handler on a goroutine of its own behind an
// in-memory pipe, and its watcher, reading the raw connection beside
// fasthttp's buffered reader, would take the bytes of a pipelined request.
// Its body is read by middleware such as etag, which then waits forever.
// The hijack has none of these problems: middleware sees an empty body (etag,
// compress and Config.ETag leave the stream alone) and the adapter owns
// every byte on the wire.
//
// # Shutdown
//
// fasthttp stops tracking a connection once it is hijacked, so its Shutdown
// neither waits for nor ends a stream. The adapter registers an OnShutdown
// hook on each app it serves: app.Shutdown, ShutdownWithTimeout and
// ShutdownWithContext end every open session with lifecycle.ErrShutdown
// (sending Options.Farewell) and return once their handlers have returned,
// waiting at most ShutdownWait for handlers that ignore Session.Done.
// Calling Endpoint.Shutdown yourself works too, on any adapter.
package fiberadapter
