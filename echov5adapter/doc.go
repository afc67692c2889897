// Package echov5adapter serves a lifecycle.Endpoint with Echo v5.
//
// Handler turns an Endpoint into an echo.HandlerFunc. Echo is net/http
// underneath, so everything nethttpadapter says holds: the request context
// is the disconnect signal, and writes and flushes go through
// http.ResponseController over the response as middleware wrapped it (so
// echo's status, size and hooks stay right, and Gzip flushes its encoder).
// Echo's Response panics on Flush when the writer under it cannot flush:
// the adapter checks that writer before anything is sent and refuses the
// stream instead. Route parameters are copied out of echo's pooled Context.
// Echo v4 is served by package echoadapter, in the same way.
//
// Middleware, decided one by one (tests in this package):
//
//   - CORS, RequestID, Recover, RequestLogger: streams pass through.
//   - Gzip: it compresses text/event-stream; each event is compressed and
//     flushed through at once, so events arrive promptly (the client must
//     accept gzip). A gzip writer costs memory per stream: with many
//     streams, skip them (GzipConfig.Skipper).
//   - BodyLimit: enforced before the stream opens (413).
//   - ContextTimeout: it sets a deadline on the request context; the
//     session ends with lifecycle.ErrDeadline when it passes.
//   - BodyDump: it copies the response into memory (up to 5 MB by default,
//     without bound with -1) and hands it over only when the response ends:
//     the client gets 500 and an error is logged. Skip it for stream routes
//     (BodyDumpConfig.Skipper).
//   - Echo v5 has no Timeout middleware; http.TimeoutHandler in front of
//     the Echo instance cannot flush: the client gets 500 and an error is
//     logged (echo's own Response.Flush would panic).
//
// Echo v5 makes its http.Server in echo.StartConfig. For graceful shutdown,
// register the endpoint there with lifecycle.EndOnShutdown, in
// StartConfig.BeforeServeFunc: when the start context is canceled, the
// graceful shutdown then ends every session with lifecycle.ErrShutdown
// before its timeout.
package echov5adapter
