package ginadapter_test

import (
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/goleak"

	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/ginadapter"
	"github.com/ssekit/ssekit/internal/sessiontest"
	"github.com/ssekit/ssekit/lifecycle"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode) // no debug route listing on stdout
	goleak.VerifyTestMain(m)
}

// serveOn serves h on ln with an http.Server configured by cfg, as Gin
// applications do (engine.Run is http.ListenAndServe), and shuts it down at
// cleanup.
func serveOn(t *testing.T, h http.Handler, ln net.Listener, cfg conformance.ServerConfig) string {
	t.Helper()
	srv := &http.Server{Handler: h, ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout}
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("http.Server.Shutdown: %v", err)
			srv.Close()
		}
		<-served
	})
	return "http://" + ln.Addr().String()
}

func start(t *testing.T, ep *lifecycle.Endpoint, route string, cfg conformance.ServerConfig) string {
	r := gin.New()
	if cfg.Values != nil {
		r.Use(withValues(cfg.Values))
	}
	h := ginadapter.Handler(ep)
	path := conformance.ColonRoute(route)
	r.GET(path, h)
	r.HEAD(path, h)
	r.POST(path, h)
	return serveOn(t, r, cfg.Listen(t), cfg)
}

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{Start: start})
}

// withValues attaches values with Gin's two idioms: half the keys (in
// sorted order) with c.Set, the rest in the request's context.
func withValues(values map[string]any) gin.HandlerFunc {
	keys := slices.Sorted(maps.Keys(values))
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		for i, k := range keys {
			if i%2 == 0 {
				c.Set(k, values[k])
			} else {
				//lint:ignore SA1029 the suite gives string keys, as c.Set takes them
				ctx = context.WithValue(ctx, k, values[k])
			}
		}
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}

func hello(s *lifecycle.Session) error {
	if err := s.Send(lifecycle.Event{Data: []byte("hello " + s.Request().Param("name"))}); err != nil {
		return err
	}
	<-s.Done()
	return nil
}

// mount serves h behind mw at /sse/:name with the server timeouts of cfg.
func mount(t *testing.T, h lifecycle.Handler, opts lifecycle.Options, cfg conformance.ServerConfig, mw ...gin.HandlerFunc) string {
	t.Helper()
	r := gin.New()
	r.Use(mw...)
	r.GET("/sse/:name", ginadapter.Handler(lifecycle.NewEndpoint(h, opts)))
	return serveOn(t, r, cfg.Listen(t), cfg)
}

// A value stored with c.Set under a key of the application's own type (Gin
// takes any key) is in Session.Context.
func TestSetWithTypedKey(t *testing.T) {
	type userKey struct{}
	got := make(chan any, 1)
	base := mount(t, func(s *lifecycle.Session) error {
		got <- s.Context().Value(userKey{})
		return nil
	}, lifecycle.Options{}, conformance.ServerConfig{}, func(c *gin.Context) { c.Set(userKey{}, "ann"); c.Next() })
	resp := sessiontest.Get(t, base+"/sse/a", nil)
	io.Copy(io.Discard, resp.Body)
	if v := <-got; v != "ann" {
		t.Errorf("Session.Context().Value(userKey{}) = %v, want ann", v)
	}
}

// Gin's graceful shutdown is http.Server's: with lifecycle.EndOnShutdown,
// srv.Shutdown ends streams with ErrShutdown and their farewell.
func TestServerShutdown(t *testing.T) {
	ended := sessiontest.NewEnds()
	ep := lifecycle.NewEndpoint(hello, ended.Hook(lifecycle.Options{Farewell: &lifecycle.Event{Type: "bye"}}))
	r := gin.New()
	r.GET("/sse/:name", ginadapter.Handler(ep))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: r}
	lifecycle.EndOnShutdown(srv, ep)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
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
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
	if ci := ended.Next(t, 5*time.Second); !errors.Is(ci.Reason, lifecycle.ErrShutdown) {
		t.Errorf("reason %v, want ErrShutdown", ci.Reason)
	}
	if ev, err := st.Next(); err != nil || ev.Type != "bye" {
		t.Errorf("farewell %+v, %v", ev, err)
	}
}

// checkRefused checks a refusal: status 500, the handler never ran, and an
// error log containing want.
func checkRefused(t *testing.T, resp *http.Response, ran chan struct{}, logs *sessiontest.ErrorLog, want string) {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "not possible") {
		t.Errorf("status %d, body %q: want 500 saying streaming is not possible", resp.StatusCode, body)
	}
	if len(ran) != 0 {
		t.Error("the handler ran although no stream was possible")
	}
	if !strings.Contains(logs.String(), want) {
		t.Errorf("error logs %q, want one containing %q", logs.String(), want)
	}
}
