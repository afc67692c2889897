package nethttpadapter_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/internal/sessiontest"
	"github.com/ssekit/ssekit/lifecycle"
	"github.com/ssekit/ssekit/nethttpadapter"
)

// start serves ep on a new http.Server on 127.0.0.1, mounted at route on a
// ServeMux.
func start(t *testing.T, ep *lifecycle.Endpoint, route string, cfg conformance.ServerConfig) string {
	ln := cfg.Listen(t)
	mux := http.NewServeMux()
	mux.Handle(route, nethttpadapter.Handler(ep))
	srv := &http.Server{Handler: sessiontest.WithValues(cfg.Values, mux), ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("http.Server.Shutdown: %v", err)
			srv.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{Start: start})
}
