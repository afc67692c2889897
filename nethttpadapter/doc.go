// Package nethttpadapter serves a lifecycle.Endpoint with net/http.
//
// Handler turns an Endpoint into an http.Handler. The client's departure is
// the request context: net/http watches an HTTP/1.1 connection in the
// background once the request body has been read (the adapter always reads
// it, into Request.Body, so a POST that opens a stream is watched too) and
// cancels the context on FIN or RST; HTTP/2 cancels it when the stream is
// reset. Writes go through http.ResponseController, which sees through
// wrappers that implement Unwrap, extends the write deadline before each
// write (so http.Server.WriteTimeout does not cut a long stream), and fails
// loudly when the writer cannot flush. Write errors end the session even when
// a wrapper's Flush swallows them.
//
// Route parameters are the wildcards of the ServeMux pattern that matched
// ("/items/{id}"), read with Request.PathValue.
//
// net/http's Server.Shutdown waits for streaming handlers but never cancels
// them (golang/go#17721): register Endpoint.Shutdown with
// Server.RegisterOnShutdown, as the examples show.
package nethttpadapter
