package fiberadapter_test

import (
	"net"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/goleak"

	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/fiberadapter"
	"github.com/ssekit/ssekit/lifecycle"
)

func TestMain(m *testing.M) {
	// fasthttp starts one process-wide goroutine that refreshes the Date
	// header once a second, on purpose and forever.
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"))
}

// startApp serves app on a new 127.0.0.1 listener and shuts it down at cleanup.
func startApp(t *testing.T, app *fiber.App) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		app.Listener(ln)
	}()
	t.Cleanup(func() {
		if err := app.ShutdownWithTimeout(5 * time.Second); err != nil {
			t.Errorf("app.ShutdownWithTimeout: %v", err)
		}
		<-served
	})
	return "http://" + ln.Addr().String()
}

func newApp(cfg conformance.ServerConfig) *fiber.App {
	app := fiber.New(fiber.Config{
		DisableStartupMessage: true,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
	})
	// fasthttp keeps idle workers for 10 s by design; shorten that so the
	// suite's goroutine-leak check sees only what sessions leave behind.
	app.Server().MaxIdleWorkerDuration = 50 * time.Millisecond
	return app
}

func start(t *testing.T, ep *lifecycle.Endpoint, route string, cfg conformance.ServerConfig) string {
	app := newApp(cfg)
	h := fiberadapter.Handler(ep)
	app.Get(conformance.ColonRoute(route), h) // GET and HEAD
	app.Post(conformance.ColonRoute(route), h)
	return startApp(t, app)
}

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{Start: start})
}
