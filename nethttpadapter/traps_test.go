package nethttpadapter_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/internal/sessiontest"
	"github.com/ssekit/ssekit/lifecycle"
	"github.com/ssekit/ssekit/nethttpadapter"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func serveHTTP(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// swallowFlush is the kind of wrapper chi's WrapResponseWriter and echo's
// Response are: Flush() with no error to return, so a failed flush is lost.
type swallowFlush struct{ http.ResponseWriter }

func (w swallowFlush) Flush() { http.NewResponseController(w.ResponseWriter).Flush() }

// Write errors end the session even when a wrapper hides flush errors and
// the request context says nothing (the wrapper below detaches it), so the
// only sign of the dead client is a failing write.
func TestWriteErrorsEndSessionBehindFlushSwallowingWrapper(t *testing.T) {
	ended := sessiontest.NewEnds()
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error { <-s.Done(); return nil },
		ended.Hook(lifecycle.Options{Heartbeat: 20 * time.Millisecond}))
	h := nethttpadapter.Handler(ep)
	url := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(swallowFlush{w}, r.WithContext(context.WithoutCancel(r.Context())))
	}))
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("response: %v %v", resp, err)
	}
	conn.(*net.TCPConn).SetLinger(0)
	conn.Close()
	ci := ended.Next(t, 5*time.Second)
	if !errors.Is(ci.Reason, lifecycle.ErrWriteFailed) {
		t.Errorf("reason %v, want ErrWriteFailed", ci.Reason)
	}
}

// noFlusher hides the writer's Flush and Unwrap: streaming is impossible.
type noFlusher struct{ w http.ResponseWriter }

func (n noFlusher) Header() http.Header         { return n.w.Header() }
func (n noFlusher) Write(p []byte) (int, error) { return n.w.Write(p) }
func (n noFlusher) WriteHeader(code int)        { n.w.WriteHeader(code) }

// A writer that cannot flush fails loudly instead of buffering the stream:
// the client gets 500 before anything else is committed, the handler does not
// run, and an error is logged.
func TestWriterThatCannotFlushFailsLoudly(t *testing.T) {
	ended := sessiontest.NewEnds()
	ran := make(chan struct{}, 1)
	var logs sessiontest.ErrorLog
	opts := ended.Hook(lifecycle.Options{Logger: slog.New(&logs)})
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error { ran <- struct{}{}; <-s.Done(); return nil }, opts)
	h := nethttpadapter.Handler(ep)
	url := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(noFlusher{w}, r)
	}))
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body) // ends: the response is not left hanging
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", resp.StatusCode)
	}
	select {
	case <-ran:
		t.Error("the handler ran although the stream could not be flushed")
	case <-ended:
		t.Error("OnClose fired for a stream that never opened")
	default:
	}
	if got := logs.String(); !strings.Contains(got, "cannot flush") {
		t.Errorf("error logs %q, want one naming the unsupported flush", got)
	}
}

// http.Server.Shutdown waits for streaming handlers but never cancels them
// (golang/go#17721). Registering Endpoint.Shutdown with RegisterOnShutdown
// ends the sessions, so the server's Shutdown completes before its deadline.
func TestServerShutdownWithRegisterOnShutdown(t *testing.T) {
	ended := sessiontest.NewEnds()
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		s.Send(lifecycle.Event{Data: []byte("hello")})
		<-s.Done()
		return nil
	}, ended.Hook(lifecycle.Options{Farewell: &lifecycle.Event{Type: "bye", Retry: 3 * time.Second}}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: nethttpadapter.Handler(ep)}
	srv.RegisterOnShutdown(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ep.Shutdown(ctx)
	})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	var streams []*conformance.Stream
	for range 3 {
		st, err := conformance.Connect(context.Background(), client, "http://"+ln.Addr().String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, err := st.Next(); err != nil {
			t.Fatal(err)
		}
		streams = append(streams, st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("http.Server.Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
	for _, st := range streams {
		ev, err := st.Next()
		if err != nil || ev.Type != "bye" || st.Retry() != 3*time.Second {
			t.Errorf("farewell: %+v (retry %v), %v", ev, st.Retry(), err)
		}
		if _, err := st.Next(); err != io.EOF {
			t.Errorf("after the farewell: %v, want io.EOF", err)
		}
	}
	for range 3 {
		if ci := ended.Next(t, 5*time.Second); !errors.Is(ci.Reason, lifecycle.ErrShutdown) {
			t.Errorf("reason %v, want ErrShutdown", ci.Reason)
		}
	}
}

// HTTP/2 over TLS: events stream, no connection-specific headers, a client
// canceling its stream (RST_STREAM) ends the session, and the handler's
// return ends the stream cleanly.
func TestHTTP2(t *testing.T) {
	ended := sessiontest.NewEnds()
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		r := s.Request()
		s.Send(lifecycle.Event{ID: "1", Data: []byte(r.Proto + " " + r.Param("name"))})
		if r.Param("name") == "short" {
			return nil
		}
		<-s.Done()
		return nil
	}, ended.Hook(lifecycle.Options{Heartbeat: -1}))
	mux := http.NewServeMux()
	mux.Handle("/sse/{name}", nethttpadapter.Handler(ep))
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	client := srv.Client()
	defer client.CloseIdleConnections()

	ctx, cancel := context.WithCancel(context.Background())
	st, err := conformance.Connect(ctx, client, srv.URL+"/sse/long", nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Response.ProtoMajor != 2 {
		t.Fatalf("response protocol %s, want HTTP/2", st.Response.Proto)
	}
	for _, h := range []string{"Connection", "Transfer-Encoding", "Keep-Alive"} {
		if v := st.Response.Header.Get(h); v != "" {
			t.Errorf("HTTP/2 response has connection-specific header %s: %q", h, v)
		}
	}
	if ev, err := st.Next(); err != nil || ev.Data != "HTTP/2.0 long" {
		t.Fatalf("first event %+v, %v", ev, err)
	}
	cancel() // resets the stream; the connection stays open
	if ci := ended.Next(t, 2*time.Second); !errors.Is(ci.Reason, lifecycle.ErrClientGone) {
		t.Errorf("after RST_STREAM: reason %v, want ErrClientGone", ci.Reason)
	}

	st, err = conformance.Connect(context.Background(), client, srv.URL+"/sse/short", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if ev, err := st.Next(); err != nil || ev.Data != "HTTP/2.0 short" {
		t.Fatalf("event %+v, %v", ev, err)
	}
	if _, err := st.Next(); err != io.EOF {
		t.Errorf("after the handler returned: %v, want io.EOF", err)
	}
	if ci := ended.Next(t, 2*time.Second); !errors.Is(ci.Reason, lifecycle.ErrHandlerReturned) {
		t.Errorf("reason %v, want ErrHandlerReturned", ci.Reason)
	}
}
