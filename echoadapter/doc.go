// Package echoadapter serves a lifecycle.Endpoint with Echo v4.
//
// Handler turns an Endpoint into an echo.HandlerFunc. Echo is net/http
// underneath: the request context is the disconnect signal, and writes go
// through echo's Response (so its status, size and hooks stay right) while
// flushes go through http.ResponseController on the writer under it: never
// through Response.Flush, which panics when flushing is unsupported and
// discards flush errors. Route parameters are copied out of echo's pooled
// Context.
//
// Middleware, decided one by one (tests in this package):
//
//   - CORS, RequestID, Recover, Logger: streams pass through.
//   - Gzip: it compresses text/event-stream; each event is compressed and
//     flushed through at once, so events arrive promptly (the client must
//     accept gzip). A gzip writer costs memory per stream: with many
//     streams, skip them (GzipConfig.Skipper).
//   - BodyLimit: enforced before the stream opens (413).
//   - Timeout: it runs the handler behind http.TimeoutHandler, whose writer
//     cannot flush, so no stream is possible: the client gets 500 and an
//     error is logged (echo's own Response.Flush would panic here).
//   - ContextTimeout: it sets a deadline on the request context; the
//     session ends with lifecycle.ErrDeadline when it passes.
//   - BodyDump: it copies every byte of the response into memory, without
//     bound for a stream: the client gets 500 and an error is logged. Skip
//     it for stream routes (BodyDumpConfig.Skipper).
//
// For graceful shutdown, register Endpoint.Shutdown with
// e.Server.RegisterOnShutdown: e.Shutdown then ends every session with
// lifecycle.ErrShutdown before its deadline.
package echoadapter
