package echoadapter_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.uber.org/goleak"

	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/echoadapter"
	"github.com/ssekit/ssekit/internal/sessiontest"
	"github.com/ssekit/ssekit/lifecycle"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startEcho serves e on 127.0.0.1 and shuts it down at cleanup.
func startEcho(t *testing.T, e *echo.Echo) string {
	t.Helper()
	return startEchoOn(t, e, conformance.ServerConfig{}.Listen(t))
}

// startEchoOn is startEcho on ln.
func startEchoOn(t *testing.T, e *echo.Echo, ln net.Listener) string {
	t.Helper()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(io.Discard)
	e.Listener = ln
	served := make(chan struct{})
	go func() { defer close(served); e.Start("") }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			t.Errorf("echo Shutdown: %v", err)
			e.Close()
		}
		<-served
	})
	return "http://" + ln.Addr().String()
}

func start(t *testing.T, ep *lifecycle.Endpoint, route string, cfg conformance.ServerConfig) string {
	e := echo.New()
	e.Server.ReadTimeout, e.Server.WriteTimeout = cfg.ReadTimeout, cfg.WriteTimeout
	if cfg.Values != nil {
		e.Use(withValues(cfg.Values))
	}
	h := echoadapter.Handler(ep)
	r := conformance.ColonRoute(route)
	e.GET(r, h)
	e.HEAD(r, h)
	e.POST(r, h)
	return startEchoOn(t, e, cfg.Listen(t))
}

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{Start: start})
}

func hello(s *lifecycle.Session) error {
	if err := s.Send(lifecycle.Event{Data: []byte("hello " + s.Request().Param("name"))}); err != nil {
		return err
	}
	<-s.Done()
	return nil
}

// mount serves h behind mw at /sse/:name.
func mount(t *testing.T, h lifecycle.Handler, opts lifecycle.Options, mw ...echo.MiddlewareFunc) (string, *echo.Echo) {
	t.Helper()
	e := echo.New()
	e.Use(mw...)
	e.GET("/sse/:name", echoadapter.Handler(lifecycle.NewEndpoint(h, opts)))
	return startEcho(t, e), e
}

func TestCORSRequestIDRecoverLogger(t *testing.T) {
	var logs sessiontest.Buffer
	base, _ := mount(t, hello, lifecycle.Options{},
		middleware.Recover(), middleware.RequestID(), middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
			LogURI: true, LogStatus: true,
			LogValuesFunc: func(_ echo.Context, v middleware.RequestLoggerValues) error {
				fmt.Fprintf(&logs, "%s %d\n", v.URI, v.Status)
				return nil
			},
		}),
		middleware.CORSWithConfig(middleware.CORSConfig{AllowOrigins: []string{"https://app.example"}}))
	resp := sessiontest.Get(t, base+"/sse/a", http.Header{"Origin": {"https://app.example"}})
	if data := sessiontest.FirstEvent(t, resp); data != "hello a" {
		t.Errorf("data %q", data)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" || resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("headers %v: want CORS and request ID", resp.Header)
	}
}

func TestRecoverAndHandlerPanic(t *testing.T) {
	ended := sessiontest.NewEnds()
	base, _ := mount(t, func(s *lifecycle.Session) error {
		if s.Request().Param("name") == "panic" {
			panic("handler bug")
		}
		return hello(s)
	}, ended.Hook(lifecycle.Options{}), middleware.Recover())
	resp := sessiontest.Get(t, base+"/sse/panic", nil)
	io.Copy(io.Discard, resp.Body)
	if ci := <-ended; !errors.Is(ci.Reason, lifecycle.ErrHandlerPanicked) {
		t.Errorf("reason %v, want ErrHandlerPanicked", ci.Reason)
	}
	if data := sessiontest.FirstEvent(t, sessiontest.Get(t, base+"/sse/after", nil)); data != "hello after" {
		t.Errorf("after the panic: %q", data)
	}
}

// Gzip compresses text/event-stream; each event is flushed through.
func TestGzipFlushesThrough(t *testing.T) {
	base, _ := mount(t, hello, lifecycle.Options{}, middleware.GzipWithConfig(middleware.GzipConfig{MinLength: 1024}))
	resp := sessiontest.Get(t, base+"/sse/a", http.Header{"Accept-Encoding": {"gzip"}})
	if ce := resp.Header.Get("Content-Encoding"); ce != "gzip" {
		t.Errorf("Content-Encoding %q, want gzip", ce)
	}
	if data := sessiontest.FirstEvent(t, resp); data != "hello a" {
		t.Errorf("data %q: a 7-byte event must not wait for Gzip's MinLength", data)
	}
}

func TestBodyLimit(t *testing.T) {
	ran := make(chan struct{}, 1)
	base, _ := mount(t, func(s *lifecycle.Session) error {
		ran <- struct{}{}
		return hello(s)
	}, lifecycle.Options{}, middleware.BodyLimit("1K"))
	for _, chunked := range []bool{false, true} {
		var body io.Reader = strings.NewReader(strings.Repeat("x", 4096))
		if chunked {
			body = io.MultiReader(body) // no length known: the limit trips while reading
		}
		req, _ := http.NewRequest(http.MethodGet, base+"/sse/a", body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("chunked=%v: status %d, want 413", chunked, resp.StatusCode)
		}
	}
	if len(ran) != 0 {
		t.Error("the handler ran for an oversized body")
	}
	http.DefaultClient.CloseIdleConnections()
}

// Timeout runs the handler behind http.TimeoutHandler, whose writer cannot
// flush: the adapter refuses with 500 and logs, where echo would panic.
func TestTimeoutFailsLoudly(t *testing.T) {
	var logs sessiontest.ErrorLog
	ran := make(chan struct{}, 1)
	base, _ := mount(t, func(s *lifecycle.Session) error {
		ran <- struct{}{}
		return hello(s)
		//lint:ignore SA1019 Echo deprecates its Timeout middleware, but apps still mount it: it must be refused loudly
	}, lifecycle.Options{Logger: slog.New(&logs)}, middleware.TimeoutWithConfig(middleware.TimeoutConfig{Timeout: 2 * time.Second}))
	resp := sessiontest.Get(t, base+"/sse/a", nil)
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", resp.StatusCode)
	}
	if len(ran) != 0 {
		t.Error("the handler ran behind a writer that cannot flush")
	}
	if !strings.Contains(logs.String(), "cannot flush") {
		t.Errorf("logs %q, want an error saying the writer cannot flush", logs.String())
	}
}

func TestContextTimeoutEndsWithDeadline(t *testing.T) {
	ended := sessiontest.NewEnds()
	base, _ := mount(t, hello, ended.Hook(lifecycle.Options{Heartbeat: -1}),
		middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{Timeout: 300 * time.Millisecond}))
	resp := sessiontest.Get(t, base+"/sse/a", nil)
	sessiontest.FirstEvent(t, resp)
	if ci := ended.Next(t, 5*time.Second); !errors.Is(ci.Reason, lifecycle.ErrDeadline) || !errors.Is(ci.Reason, context.DeadlineExceeded) {
		t.Errorf("reason %v, want ErrDeadline wrapping context.DeadlineExceeded", ci.Reason)
	}
}

// BodyDump would copy every streamed byte into memory, without bound: the
// adapter refuses with 500 and logs.
func TestBodyDumpFailsLoudly(t *testing.T) {
	var logs sessiontest.ErrorLog
	dumped := make(chan int, 1)
	base, _ := mount(t, hello, lifecycle.Options{Logger: slog.New(&logs)},
		middleware.BodyDump(func(_ echo.Context, _, res []byte) { dumped <- len(res) }))
	resp := sessiontest.Get(t, base+"/sse/a", nil)
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", resp.StatusCode)
	}
	if !strings.Contains(logs.String(), "copies every byte") {
		t.Errorf("logs %q, want an error naming the copying middleware", logs.String())
	}
}

// e.Shutdown, with Endpoint.Shutdown registered on e.Server, ends streams
// with ErrShutdown before its deadline.
func TestEchoShutdown(t *testing.T) {
	ended := sessiontest.NewEnds()
	ep := lifecycle.NewEndpoint(hello, ended.Hook(lifecycle.Options{Farewell: &lifecycle.Event{Type: "bye"}}))
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/sse/:name", echoadapter.Handler(ep))
	e.Server.RegisterOnShutdown(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ep.Shutdown(ctx)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.Listener = ln
	served := make(chan struct{})
	go func() { defer close(served); e.Start("") }()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	st, err := conformance.Connect(context.Background(), client, "http://"+ln.Addr().String()+"/sse/a", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.Next()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.Shutdown(ctx); err != nil {
		t.Fatalf("e.Shutdown: %v", err)
	}
	<-served
	if ci := <-ended; !errors.Is(ci.Reason, lifecycle.ErrShutdown) {
		t.Errorf("reason %v, want ErrShutdown", ci.Reason)
	}
	if ev, err := st.Next(); err != nil || ev.Type != "bye" {
		t.Errorf("farewell %+v, %v", ev, err)
	}
}

// withValues attaches values with Echo's two idioms: half the keys (in
// sorted order) with c.Set, the rest in the request's context.
func withValues(values map[string]any) echo.MiddlewareFunc {
	keys := slices.Sorted(maps.Keys(values))
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ctx := c.Request().Context()
			for i, k := range keys {
				if i%2 == 0 {
					c.Set(k, values[k])
				} else {
					//lint:ignore SA1029 the suite gives string keys, as c.Set takes them
					ctx = context.WithValue(ctx, k, values[k])
				}
			}
			c.SetRequest(c.Request().WithContext(ctx))
			return next(c)
		}
	}
}
