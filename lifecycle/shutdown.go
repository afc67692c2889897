package lifecycle

import (
	"context"
	"net/http"
)

// EndOnShutdown makes srv's graceful shutdown end streams: when
// srv.Shutdown begins, every session of every endpoint in eps ends with
// ErrShutdown (sending Options.Farewell), all at once, and srv.Shutdown then
// waits for their handlers as it waits for any request, within its
// context's deadline. Streams that arrive during the shutdown are ended the
// same way. Without it, http.Server.Shutdown waits for streams that never
// end. It is one line for net/http, chi and Echo (e.Server); Fiber's
// adapter does this by itself. EndOnShutdown must be called before
// srv.Shutdown.
func EndOnShutdown(srv *http.Server, eps ...*Endpoint) {
	srv.RegisterOnShutdown(func() {
		ended, end := context.WithCancel(context.Background())
		end() // Shutdown with a done context ends the sessions without waiting
		for _, ep := range eps {
			_ = ep.Shutdown(ended)
		}
	})
}
