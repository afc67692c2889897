// Package chiadapter serves a lifecycle.Endpoint with chi v5.
//
// Handler turns an Endpoint into an http.HandlerFunc for a chi router. chi
// is net/http underneath, so everything nethttpadapter says holds: the
// request context is the disconnect signal, writes go through
// http.ResponseController (seeing through middleware.WrapResponseWriter and
// any wrapper with Unwrap), and write errors end the session even though
// chi's wrapper hides flush errors. Route parameters are copied out of chi's
// route context, which chi pools.
//
// Middleware, decided one by one (tests in this package):
//
//   - middleware.Compress: by default it does not compress
//     text/event-stream, and the stream passes through untouched. With
//     text/event-stream allowed, every event is compressed and flushed
//     through at once (the client must accept the encoding).
//   - middleware.Timeout: it sets a deadline on the request context; the
//     session ends with lifecycle.ErrDeadline when it passes. Mount streams
//     outside it, or give them a longer one.
//   - middleware.RequestID, Logger, Recoverer, RealIP, and your own
//     middleware built on middleware.NewWrapResponseWriter: streams pass
//     through; RealIP's address is the session's Request.RemoteAddr.
//
// Use the same graceful shutdown as net/http: register Endpoint.Shutdown
// with http.Server.RegisterOnShutdown.
package chiadapter
