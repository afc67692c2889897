package fiberv3adapter_test

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"testing"

	"github.com/gofiber/fiber/v3"
	"go.uber.org/goleak"

	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/fiberv3adapter"
	"github.com/ssekit/ssekit/internal/fibertest"
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
		// Fiber's limiter storage, cache and logger start goroutines that
		// run for the life of the process: they belong to the middleware,
		// not to sessions.
		goleak.IgnoreAnyFunction("github.com/gofiber/fiber/v3/internal/memory.(*Storage).gc"),
		goleak.IgnoreAnyFunction("github.com/gofiber/fiber/v3/internal/memory.New.StartTimeStampUpdater.func1.1"),
		goleak.IgnoreAnyFunction("github.com/gofiber/fiber/v3/middleware/logger.New.func1"),
		goleak.IgnoreAnyFunction("github.com/gofiber/fiber/v3/middleware/cache.New.func4"),
	)
}

// Helpers shared with fiberadapter's tests.
var (
	hello     = fibertest.Hello
	sendN     = fibertest.SendN
	rawClient = fibertest.RawClient
	stream    = fibertest.Stream
)

// listen serves app on ln as the tests do: no startup message.
func listen(app *fiber.App, ln net.Listener) error {
	return app.Listener(ln, fiber.ListenConfig{DisableStartupMessage: true})
}

// startApp serves app on a new 127.0.0.1 listener and shuts it down at
// cleanup.
func startApp(t *testing.T, app *fiber.App) string {
	t.Helper()
	return fibertest.StartOn(t, framework, app, conformance.ServerConfig{}.Listen(t))
}

// framework builds Fiber v3 apps for the scenarios both Fiber adapters
// share: fasthttp settings, shutdown and hostile clients.
var framework = fibertest.Framework{
	New: func(cfg fibertest.Config, r fibertest.Routes) fibertest.App {
		fcfg := fiber.Config{
			Concurrency:       cfg.Concurrency,
			ReadTimeout:       cfg.ReadTimeout,
			IdleTimeout:       cfg.IdleTimeout,
			WriteTimeout:      cfg.WriteTimeout,
			ReduceMemoryUsage: cfg.ReduceMemoryUsage,
			DisableKeepalive:  cfg.DisableKeepalive,
			StreamRequestBody: cfg.StreamRequestBody,
			BodyLimit:         cfg.BodyLimit,
		}
		if cfg.ProxyHeader != "" {
			// Fiber v3 reads the header only from a trusted proxy.
			fcfg.ProxyHeader = cfg.ProxyHeader
			fcfg.TrustProxy = true
			fcfg.TrustProxyConfig = fiber.TrustProxyConfig{Loopback: true}
		}
		app := fiber.New(fcfg)
		if r.HSTSMaxAge > 0 {
			// Fiber v3.1.0's helmet sends HSTS only when c.Protocol() (the
			// HTTP version) is "https", that is never; this sends it as
			// helmet means to, when c.Scheme() says the request is HTTPS.
			app.Use(func(c fiber.Ctx) error {
				if c.Scheme() == "https" {
					c.Set(fiber.HeaderStrictTransportSecurity, fmt.Sprintf("max-age=%d", r.HSTSMaxAge))
				}
				return c.Next()
			})
		}
		for _, mw := range r.Use {
			app.Use(func(c fiber.Ctx) error {
				if !mw(fibertest.Ctx{Request: c.RequestCtx(), Locals: func(k string, v any) { c.Locals(k, v) }}) {
					return nil
				}
				return c.Next()
			})
		}
		h := fiberv3adapter.Handler(r.SSE)
		if r.PerRequest {
			h = func(c fiber.Ctx) error { return fiberv3adapter.Handler(r.SSE)(c) }
		}
		app.Get("/sse/:name", h) // GET and HEAD
		app.Post("/sse/:name", h)
		app.Get("/plain", func(c fiber.Ctx) error {
			if r.Plain != nil {
				r.Plain()
			}
			return c.SendString("plain")
		})
		return app
	},
	Listen: func(app fibertest.App, ln net.Listener) error { return listen(app.(*fiber.App), ln) },
}

// TestFasthttp runs the scenarios shared with Fiber v2.
func TestFasthttp(t *testing.T) {
	fibertest.Run(t, framework)
}

func newApp(cfg conformance.ServerConfig) *fiber.App {
	return fiber.New(fiber.Config{
		ReadTimeout:  cfg.ReadTimeout,
		WriteTimeout: cfg.WriteTimeout,
	})
}

func start(t *testing.T, ep *lifecycle.Endpoint, route string, cfg conformance.ServerConfig) string {
	app := newApp(cfg)
	if cfg.Values != nil {
		app.Use(withValues(cfg.Values))
	}
	h := fiberv3adapter.Handler(ep)
	app.Get(conformance.ColonRoute(route), h) // GET and HEAD
	app.Post(conformance.ColonRoute(route), h)
	return fibertest.StartOn(t, framework, app, cfg.Listen(t))
}

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{Start: start})
}

// withValues attaches values with Fiber v3's two idioms: half the keys (in
// sorted order) as Locals, the rest in c.Context().
func withValues(values map[string]any) fiber.Handler {
	keys := slices.Sorted(maps.Keys(values))
	return func(c fiber.Ctx) error {
		ctx := c.Context()
		for i, k := range keys {
			if i%2 == 0 {
				c.Locals(k, values[k])
			} else {
				//lint:ignore SA1029 the suite gives string keys, as Fiber's Locals take them
				ctx = context.WithValue(ctx, k, values[k])
			}
		}
		c.SetContext(ctx)
		return c.Next()
	}
}
