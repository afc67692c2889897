package chiadapter_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"go.uber.org/goleak"

	"github.com/ssekit/ssekit/chiadapter"
	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/internal/sessiontest"
	"github.com/ssekit/ssekit/lifecycle"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve starts srv's handler on 127.0.0.1 and shuts srv down at cleanup.
func serve(t *testing.T, srv *http.Server) string {
	t.Helper()
	return serveOn(t, srv, conformance.ServerConfig{}.Listen(t))
}

// serveOn is serve on ln.
func serveOn(t *testing.T, srv *http.Server, ln net.Listener) string {
	t.Helper()
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

func start(t *testing.T, ep *lifecycle.Endpoint, route string, cfg conformance.ServerConfig) string {
	r := chi.NewRouter()
	r.Use(func(next http.Handler) http.Handler { return sessiontest.WithValues(cfg.Values, next) })
	r.Get(route, chiadapter.Handler(ep))
	r.Head(route, chiadapter.Handler(ep))
	r.Post(route, chiadapter.Handler(ep))
	return serveOn(t, &http.Server{Handler: r, ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout}, cfg.Listen(t))
}

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{Start: start})
}

// hello sends one event naming the route parameter and the remote address,
// then waits for the end.
func hello(s *lifecycle.Session) error {
	r := s.Request()
	if err := s.Send(lifecycle.Event{Data: []byte("hello " + r.Param("name") + " from " + r.RemoteAddr)}); err != nil {
		return err
	}
	<-s.Done()
	return nil
}

// mount serves h behind mw at /sse/{name}.
func mount(t *testing.T, h lifecycle.Handler, opts lifecycle.Options, mw ...func(http.Handler) http.Handler) string {
	t.Helper()
	r := chi.NewRouter()
	r.Use(mw...)
	r.Get("/sse/{name}", chiadapter.Handler(lifecycle.NewEndpoint(h, opts)))
	return serve(t, &http.Server{Handler: r, ErrorLog: log.New(io.Discard, "", 0)})
}

// firstEvent opens url and returns the response and its first event's data.
func firstEvent(t *testing.T, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	resp := sessiontest.Get(t, url, header)
	return resp, sessiontest.FirstEvent(t, resp)
}

func TestCompressDefaultLeavesStreamsAlone(t *testing.T) {
	base := mount(t, hello, lifecycle.Options{}, middleware.Compress(5))
	resp, data := firstEvent(t, base+"/sse/a", http.Header{"Accept-Encoding": {"gzip, deflate"}})
	if ce := resp.Header.Get("Content-Encoding"); ce != "" {
		t.Errorf("Content-Encoding %q: text/event-stream is not in Compress's default types", ce)
	}
	if !strings.HasPrefix(data, "hello a") {
		t.Errorf("data %q", data)
	}
}

func TestCompressWithEventStreamFlushesThrough(t *testing.T) {
	base := mount(t, hello, lifecycle.Options{}, middleware.Compress(5, "text/event-stream"))
	resp, data := firstEvent(t, base+"/sse/a", http.Header{"Accept-Encoding": {"gzip"}})
	if ce := resp.Header.Get("Content-Encoding"); ce != "gzip" {
		t.Errorf("Content-Encoding %q, want gzip (compression allowed for streams)", ce)
	}
	if !strings.HasPrefix(data, "hello a") {
		t.Errorf("data %q", data)
	}
}

func TestTimeoutEndsWithDeadline(t *testing.T) {
	ended := sessiontest.NewEnds()
	base := mount(t, hello, ended.Hook(lifecycle.Options{Heartbeat: -1}), middleware.Timeout(300*time.Millisecond))
	firstEvent(t, base+"/sse/a", nil)
	if ci := ended.Next(t, 5*time.Second); !errors.Is(ci.Reason, lifecycle.ErrDeadline) || !errors.Is(ci.Reason, context.DeadlineExceeded) {
		t.Errorf("reason %v, want ErrDeadline wrapping context.DeadlineExceeded", ci.Reason)
	}
}

func TestRequestIDLoggerRecovererRealIP(t *testing.T) {
	var logs sessiontest.Buffer
	logger := middleware.RequestLogger(&middleware.DefaultLogFormatter{Logger: log.New(&logs, "", 0), NoColor: true})
	ended := sessiontest.NewEnds()
	base := mount(t, func(s *lifecycle.Session) error {
		// RequestID keeps the ID in the request context, whose values
		// reach the session's.
		// ClientIPFromXFF, which trusts X-Forwarded-For only from the
		// proxies named (here the test's own 127.0.0.1), keeps the client's
		// address there too.
		id := middleware.GetReqID(s.Context())
		return s.Send(lifecycle.Event{Data: []byte("id=" + id + " from " + middleware.GetClientIP(s.Context()))})
	}, ended.Hook(lifecycle.Options{}), middleware.RequestID, middleware.ClientIPFromXFF("127.0.0.1/32"), logger, middleware.Recoverer)
	_, data := firstEvent(t, base+"/sse/a", http.Header{"X-Forwarded-For": {"203.0.113.7"}, "X-Request-Id": {"req-42"}})
	if data != "id=req-42 from 203.0.113.7" {
		t.Errorf("data %q: want the request ID and the client IP from the context", data)
	}
	<-ended
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "/sse/a") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // the logger writes once the handler has returned
	}
	if got := logs.String(); !strings.Contains(got, "/sse/a") || !strings.Contains(got, "200") {
		t.Errorf("log %q, want the stream's request with 200", got)
	}
}

func TestRecovererAndHandlerPanic(t *testing.T) {
	ended := sessiontest.NewEnds()
	base := mount(t, func(s *lifecycle.Session) error {
		if s.Request().Param("name") == "panic" {
			panic("handler bug")
		}
		return hello(s)
	}, ended.Hook(lifecycle.Options{}), middleware.Recoverer)
	resp, err := http.Get(base + "/sse/panic")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if ci := <-ended; !errors.Is(ci.Reason, lifecycle.ErrHandlerPanicked) {
		t.Errorf("reason %v, want ErrHandlerPanicked", ci.Reason)
	}
	firstEvent(t, base+"/sse/after", nil)
}

// A middleware of the user's own, built on NewWrapResponseWriter, that
// counts bytes: the stream passes through and the count is right.
func TestCustomWrapResponseWriterMiddleware(t *testing.T) {
	counted := make(chan int, 1)
	counter := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			next.ServeHTTP(ww, r)
			counted <- ww.BytesWritten()
		})
	}
	base := mount(t, func(s *lifecycle.Session) error {
		return s.Send(lifecycle.Event{Data: []byte("hello counted")})
	}, lifecycle.Options{}, counter)
	resp, data := firstEvent(t, base+"/sse/a", nil)
	if data != "hello counted" || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("through the wrapper: %q %v", data, resp.Header)
	}
	if n := <-counted; n != len("data: hello counted\n\n") {
		t.Errorf("the wrapper counted %d bytes, want %d", n, len("data: hello counted\n\n"))
	}
}

// http.Server.Shutdown with Endpoint.Shutdown registered ends chi streams
// with ErrShutdown before its deadline.
func TestServerShutdown(t *testing.T) {
	ended := sessiontest.NewEnds()
	ep := lifecycle.NewEndpoint(hello, ended.Hook(lifecycle.Options{Farewell: &lifecycle.Event{Type: "bye"}}))
	r := chi.NewRouter()
	r.Get("/sse/{name}", chiadapter.Handler(ep))
	srv := &http.Server{Handler: r}
	srv.RegisterOnShutdown(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ep.Shutdown(ctx)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	st, err := conformance.Connect(context.Background(), http.DefaultClient, "http://"+ln.Addr().String()+"/sse/a", nil)
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
	if ci := <-ended; !errors.Is(ci.Reason, lifecycle.ErrShutdown) {
		t.Errorf("reason %v, want ErrShutdown", ci.Reason)
	}
	if ev, err := st.Next(); err != nil || ev.Type != "bye" {
		t.Errorf("farewell %+v, %v", ev, err)
	}
	http.DefaultClient.CloseIdleConnections()
}
