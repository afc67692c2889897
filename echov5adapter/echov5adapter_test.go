package echov5adapter_test

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

	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"
	"go.uber.org/goleak"

	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/echov5adapter"
	"github.com/ssekit/ssekit/internal/sessiontest"
	"github.com/ssekit/ssekit/lifecycle"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serveOn serves h on ln the way Echo v5 applications start, with
// echo.StartConfig (and the server timeouts of cfg), and stops it at
// cleanup through the start context, which shuts the server down
// gracefully.
func serveOn(t *testing.T, h http.Handler, ln net.Listener, cfg conformance.ServerConfig) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	var srv *http.Server
	sc := echo.StartConfig{
		Listener: ln, HideBanner: true, HidePort: true, GracefulTimeout: 5 * time.Second,
		BeforeServeFunc: func(s *http.Server) error {
			srv = s
			s.ReadTimeout, s.WriteTimeout = cfg.ReadTimeout, cfg.WriteTimeout // StartConfig's default ReadTimeout is 30 s
			return nil
		},
		OnShutdownError: func(err error) {
			t.Errorf("graceful shutdown: %v", err)
			srv.Close()
		},
	}
	go func() { served <- sc.Start(ctx, h) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("StartConfig.Start: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func newEcho() *echo.Echo {
	e := echo.New()
	e.Logger = slog.New(slog.DiscardHandler)
	return e
}

func start(t *testing.T, ep *lifecycle.Endpoint, route string, cfg conformance.ServerConfig) string {
	e := newEcho()
	if cfg.Values != nil {
		e.Use(withValues(cfg.Values))
	}
	h := echov5adapter.Handler(ep)
	r := conformance.ColonRoute(route)
	e.GET(r, h)
	e.HEAD(r, h)
	e.POST(r, h)
	return serveOn(t, e, cfg.Listen(t), cfg)
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
func mount(t *testing.T, h lifecycle.Handler, opts lifecycle.Options, mw ...echo.MiddlewareFunc) string {
	t.Helper()
	e := newEcho()
	e.Use(mw...)
	e.GET("/sse/:name", echov5adapter.Handler(lifecycle.NewEndpoint(h, opts)))
	return serveOn(t, e, conformance.ServerConfig{}.Listen(t), conformance.ServerConfig{})
}

func TestCORSRequestIDRecoverRequestLogger(t *testing.T) {
	var logs sessiontest.Buffer
	base := mount(t, hello, lifecycle.Options{},
		middleware.Recover(), middleware.RequestID(), middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
			LogURI: true, LogStatus: true,
			LogValuesFunc: func(_ *echo.Context, v middleware.RequestLoggerValues) error {
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
	resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "/sse/a 200") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "/sse/a 200") {
		t.Errorf("request log %q, want the stream logged when it ends", logs.String())
	}
}

func TestRecoverAndHandlerPanic(t *testing.T) {
	ended := sessiontest.NewEnds()
	base := mount(t, func(s *lifecycle.Session) error {
		if s.Request().Param("name") == "panic" {
			panic("handler bug")
		}
		return hello(s)
	}, ended.Hook(lifecycle.Options{}), middleware.Recover())
	resp := sessiontest.Get(t, base+"/sse/panic", nil)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if ci := ended.Next(t, 5*time.Second); !errors.Is(ci.Reason, lifecycle.ErrHandlerPanicked) {
		t.Errorf("reason %v, want ErrHandlerPanicked", ci.Reason)
	}
	if data := sessiontest.FirstEvent(t, sessiontest.Get(t, base+"/sse/after", nil)); data != "hello after" {
		t.Errorf("after the panic: %q", data)
	}
}

// Gzip compresses text/event-stream; each event is flushed through.
func TestGzipFlushesThrough(t *testing.T) {
	base := mount(t, hello, lifecycle.Options{}, middleware.GzipWithConfig(middleware.GzipConfig{MinLength: 1024}))
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
	base := mount(t, func(s *lifecycle.Session) error {
		ran <- struct{}{}
		return hello(s)
	}, lifecycle.Options{}, middleware.BodyLimit(1024))
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

func TestContextTimeoutEndsWithDeadline(t *testing.T) {
	ended := sessiontest.NewEnds()
	base := mount(t, hello, ended.Hook(lifecycle.Options{Heartbeat: -1}),
		middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{Timeout: 300 * time.Millisecond}))
	resp := sessiontest.Get(t, base+"/sse/a", nil)
	sessiontest.FirstEvent(t, resp)
	if ci := ended.Next(t, 5*time.Second); !errors.Is(ci.Reason, lifecycle.ErrDeadline) || !errors.Is(ci.Reason, context.DeadlineExceeded) {
		t.Errorf("reason %v, want ErrDeadline wrapping context.DeadlineExceeded", ci.Reason)
	}
}

// BodyDump would copy the stream into memory: the adapter refuses with 500
// and logs.
func TestBodyDumpFailsLoudly(t *testing.T) {
	var logs sessiontest.ErrorLog
	ran := make(chan struct{}, 1)
	base := mount(t, func(s *lifecycle.Session) error {
		ran <- struct{}{}
		return hello(s)
	}, lifecycle.Options{Logger: slog.New(&logs)},
		middleware.BodyDump(func(*echo.Context, []byte, []byte, error) {}))
	resp := sessiontest.Get(t, base+"/sse/a", nil)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", resp.StatusCode)
	}
	if len(ran) != 0 {
		t.Error("the handler ran behind BodyDump")
	}
	if !strings.Contains(logs.String(), "copies every byte") {
		t.Errorf("logs %q, want an error naming the copying middleware", logs.String())
	}
}

// http.TimeoutHandler in front of Echo (v5 has no Timeout middleware of its
// own) gives a writer that cannot flush, under echo's Response, whose Flush
// would panic: the adapter refuses with 500 and logs.
func TestTimeoutHandlerFailsLoudly(t *testing.T) {
	var logs sessiontest.ErrorLog
	ran := make(chan struct{}, 1)
	e := newEcho()
	e.GET("/sse/:name", echov5adapter.Handler(lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		ran <- struct{}{}
		return hello(s)
	}, lifecycle.Options{Logger: slog.New(&logs)})))
	base := serveOn(t, http.TimeoutHandler(e, 2*time.Second, "timeout"), conformance.ServerConfig{}.Listen(t), conformance.ServerConfig{})
	resp := sessiontest.Get(t, base+"/sse/a", nil)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
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

// Canceling StartConfig.Start's context, with the endpoint registered by
// lifecycle.EndOnShutdown in BeforeServeFunc, ends streams with
// ErrShutdown and their farewell, well before the graceful timeout.
func TestStartConfigShutdown(t *testing.T) {
	ended := sessiontest.NewEnds()
	ep := lifecycle.NewEndpoint(hello, ended.Hook(lifecycle.Options{Farewell: &lifecycle.Event{Type: "bye"}}))
	e := newEcho()
	e.GET("/sse/:name", echov5adapter.Handler(ep))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	sc := echo.StartConfig{Listener: ln, HideBanner: true, HidePort: true, GracefulTimeout: 30 * time.Second,
		BeforeServeFunc: func(s *http.Server) error { lifecycle.EndOnShutdown(s, ep); return nil }}
	go func() { served <- sc.Start(ctx, e) }()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	st, err := conformance.Connect(context.Background(), client, "http://"+ln.Addr().String()+"/sse/a", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.Next()
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Start: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the graceful shutdown waited for the stream")
	}
	if ci := ended.Next(t, 5*time.Second); !errors.Is(ci.Reason, lifecycle.ErrShutdown) {
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
		return func(c *echo.Context) error {
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
