// Package ginadapter serves a lifecycle.Endpoint with Gin.
//
// Handler turns an Endpoint into a gin.HandlerFunc. Gin is net/http
// underneath, so everything nethttpadapter says holds, and none of the traps
// of Gin's own c.Stream and c.SSEvent:
//
//   - The disconnect signal is the request context, canceled the moment the
//     client leaves, while the handler waits with nothing to write, and
//     whatever the writer (c.Stream asks for the deprecated CloseNotify,
//     which some writers lack, and checks it only between steps).
//   - Every event is flushed before Send returns (c.SSEvent does not
//     flush). Flushes go through c.Writer as middleware wrapped it, then
//     through the server's own writer, through http.ResponseController:
//     Gin's writer skips a writer under it that cannot flush, silently.
//   - A response that cannot flush (http.TimeoutHandler in front of Gin,
//     where Gin's Flush used to panic) is refused before anything is sent:
//     500 and an error log.
//   - A server WriteTimeout does not cut the stream: the write deadline is
//     moved before each write, and Options.WriteTimeout bounds each write
//     instead. This holds behind gin-contrib/gzip too, whose writer hides
//     the server's writer from http.ResponseController.
//
// Route parameters are copied out of Gin's pooled Context; what middleware
// stores with c.Set, under any key, is in Session.Context while the request
// lasts.
//
// Middleware, decided one by one (tests in this package):
//
//   - gin-contrib/cors, gin.Logger, gin.Recovery: streams pass through
//     (Logger logs the stream when it ends; a panicking handler is
//     recovered by ssekit and ends with lifecycle.ErrHandlerPanicked).
//   - gin-contrib/gzip: each event is compressed and flushed through at
//     once, so events arrive promptly (the client must accept gzip). A gzip
//     writer costs memory per stream: with many streams, exclude their
//     paths (gzip.WithExcludedPaths).
//   - gin-contrib/timeout: it runs the handler in a goroutine and holds
//     everything written in a buffer until it returns, so no stream can
//     pass: the client gets 500 and an error is logged. Mount streams
//     outside it; for a deadline, put one on the request context.
//
// Use the same graceful shutdown as net/http: register the endpoint with
// lifecycle.EndOnShutdown on the http.Server that serves the engine.
package ginadapter
