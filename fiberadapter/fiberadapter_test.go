package fiberadapter_test

import (
	"context"
	"crypto/tls"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/goleak"

	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/fiberadapter"
	"github.com/ssekit/ssekit/lifecycle"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp refreshes the Date header in one process-wide goroutine.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		// A stopped server's worker-pool cleaner sleeps out its
		// MaxIdleWorkerDuration (10 s unless set) before it exits; the
		// example, which keeps the default, leaves one sleeping.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		// Fiber's limiter storage and logger start goroutines that run for
		// the life of the process: they belong to the middleware, not to
		// sessions.
		goleak.IgnoreAnyFunction("github.com/gofiber/fiber/v2/internal/memory.(*Storage).gc"),
		goleak.IgnoreAnyFunction("github.com/gofiber/fiber/v2/internal/memory.New.StartTimeStampUpdater.func1.1"),
		goleak.IgnoreAnyFunction("github.com/gofiber/fiber/v2/middleware/logger.New.func1"),
		goleak.IgnoreAnyFunction("github.com/gofiber/fiber/v2/utils.StartTimeStampUpdater.func1.1"),
		goleak.IgnoreAnyFunction("github.com/gofiber/fiber/v2/middleware/cache.New.func2"),
	)
}

// startApp serves app on a new 127.0.0.1 listener and shuts it down at cleanup.
func startApp(t *testing.T, app *fiber.App) string {
	t.Helper()
	return startAppOn(t, app, conformance.ServerConfig{}.Listen(t))
}

// startAppOn is startApp on ln.
func startAppOn(t *testing.T, app *fiber.App, ln net.Listener) string {
	t.Helper()
	// fasthttp keeps idle workers, and its pool's cleaner sleeps, for
	// MaxIdleWorkerDuration (10 s by default); shorten it so that leak checks
	// see only what sessions leave behind.
	app.Server().MaxIdleWorkerDuration = 50 * time.Millisecond
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

// startTLSApp serves app over TLS with cfg on a new 127.0.0.1 listener,
// shuts it down at cleanup, and returns its https base URL.
func startTLSApp(t *testing.T, app *fiber.App, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Replace(startAppOn(t, app, tls.NewListener(ln, cfg)), "http://", "https://", 1)
}

func newApp(cfg conformance.ServerConfig) *fiber.App {
	return fiber.New(fiber.Config{
		DisableStartupMessage: true,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
	})
}

func start(t *testing.T, ep *lifecycle.Endpoint, route string, cfg conformance.ServerConfig) string {
	app := newApp(cfg)
	if cfg.Values != nil {
		app.Use(withValues(cfg.Values))
	}
	h := fiberadapter.Handler(ep)
	app.Get(conformance.ColonRoute(route), h) // GET and HEAD
	app.Post(conformance.ColonRoute(route), h)
	return startAppOn(t, app, cfg.Listen(t))
}

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{Start: start})
}

// withValues attaches values with Fiber's two idioms: half the keys (in
// sorted order) as Locals, the rest in the user context.
func withValues(values map[string]any) fiber.Handler {
	keys := slices.Sorted(maps.Keys(values))
	return func(c *fiber.Ctx) error {
		ctx := c.UserContext()
		for i, k := range keys {
			if i%2 == 0 {
				c.Locals(k, values[k])
			} else {
				//lint:ignore SA1029 the suite gives string keys, as Fiber's Locals take them
				ctx = context.WithValue(ctx, k, values[k])
			}
		}
		c.SetUserContext(ctx)
		return c.Next()
	}
}
