package fibertest

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/internal/sessiontest"
	"github.com/ssekit/ssekit/lifecycle"
)

// listen serves app on a new 127.0.0.1 listener and returns its address and
// a channel that receives f.Listen's result; the test shuts app down.
func listen(t *testing.T, f Framework, app App) (string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app.Server().MaxIdleWorkerDuration = 50 * time.Millisecond
	served := make(chan error, 1)
	go func() { served <- f.Listen(app, ln) }()
	return ln.Addr().String(), served
}

// A stream request still in its middleware when shutdown begins (the first
// request to the route, even) is served as a stream that ends at once with
// the farewell, and the shutdown returns: no hook is registered from a
// request, so nothing waits on Fiber's lock.
func testShutdownWithAStreamRequestInFlight(t *testing.T, f Framework) {
	for name, shutdown := range map[string]func(App) error{
		"Shutdown":            App.Shutdown,
		"ShutdownWithTimeout": func(a App) error { return a.ShutdownWithTimeout(5 * time.Second) },
	} {
		t.Run(name, func(t *testing.T) {
			ended := sessiontest.NewEnds()
			ep := lifecycle.NewEndpoint(Hello, ended.Hook(lifecycle.Options{
				Heartbeat: -1,
				Farewell:  &lifecycle.Event{Type: "bye"},
			}))
			inMiddleware, release := make(chan struct{}), make(chan struct{})
			app := f.New(Config{}, Routes{SSE: ep, Use: []Middleware{func(Ctx) bool {
				close(inMiddleware)
				<-release
				return true
			}}})
			addr, served := listen(t, f, app)

			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(conn, "GET /sse/late HTTP/1.1\r\nHost: x\r\n\r\n")
			<-inMiddleware
			done := make(chan error, 1)
			go func() { done <- shutdown(app) }()
			time.Sleep(50 * time.Millisecond) // shutdown has begun and waits for the request
			close(release)
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s: %v", name, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s did not return within 10 s with a stream request in flight", name)
			}
			ended.Want(t, lifecycle.ErrShutdown)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if !strings.Contains(string(body), "event: bye") {
				t.Errorf("the late stream's body %q, want the farewell", body)
			}
			if err := <-served; err != nil {
				t.Errorf("Listen: %v", err)
			}
		})
	}
}

// ShutdownWithTimeout and ShutdownWithContext keep the caller's deadline
// even when a handler ignores Session.Done: they return its error then.
func testShutdownKeepsTheCallersDeadline(t *testing.T, f Framework) {
	for name, shutdown := range map[string]func(App) error{
		"ShutdownWithTimeout": func(a App) error { return a.ShutdownWithTimeout(500 * time.Millisecond) },
		"ShutdownWithContext": func(a App) error {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			return a.ShutdownWithContext(ctx)
		},
	} {
		t.Run(name, func(t *testing.T) {
			stubborn := make(chan struct{})
			ended := sessiontest.NewEnds()
			ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
				s.Send(lifecycle.Event{Data: []byte("hello")})
				<-stubborn // ignores Done
				return nil
			}, ended.Hook(lifecycle.Options{Heartbeat: -1}))
			app := f.New(Config{}, Routes{SSE: ep})
			addr, served := listen(t, f, app)
			st, err := conformance.Connect(context.Background(), RawClient(t), "http://"+addr+"/sse/a", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := st.Next(); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = shutdown(app)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("%s(500ms) returned after %v", name, d)
			}
			if err == nil {
				t.Errorf("%s returned nil while a handler was still running", name)
			}
			close(stubborn)
			ended.Want(t, lifecycle.ErrShutdown)
			<-served
		})
	}
}

// Building the handler inside a route, once per request, costs nothing that
// outlives the request: no hook, no goroutine.
func testHandlerBuiltPerRequest(t *testing.T, f Framework) {
	ep := lifecycle.NewEndpoint(SendN(1), lifecycle.Options{Heartbeat: -1})
	app := f.New(Config{}, Routes{SSE: ep, PerRequest: true})
	addr, served := listen(t, f, app)
	exchange(t, addr, "GET /sse/a HTTP/1.1\r\nHost: x\r\n\r\n", true)
	settle(t, "idle workers gone", func() bool { return ep.Active() == 0 })
	time.Sleep(100 * time.Millisecond)
	base := runtime.NumGoroutine()
	for range 1000 {
		exchange(t, addr, "GET /sse/a HTTP/1.1\r\nHost: x\r\n\r\n", true)
	}
	settle(t, "goroutines back to their level", func() bool { return runtime.NumGoroutine() <= base })
	start := time.Now()
	if err := app.ShutdownWithTimeout(5 * time.Second); err != nil {
		t.Error(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v after 1,000 requests", d)
	}
	<-served
}

// A listener whose connections ignore read deadlines (and hide their
// socket) cannot have its watcher stopped by a deadline: the stream still
// ends for its client, HTTP/1.0 included, and shutdown is not held up.
func testListenerThatIgnoresReadDeadlines(t *testing.T, f Framework) {
	ended := sessiontest.NewEnds()
	ep := lifecycle.NewEndpoint(SendN(1), ended.Hook(lifecycle.Options{Heartbeat: -1}))
	app := f.New(Config{}, Routes{SSE: ep})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app.Server().MaxIdleWorkerDuration = 50 * time.Millisecond
	served := make(chan struct{})
	go func() { defer close(served); f.Listen(app, deafListener{ln}) }()
	addr := ln.Addr().String()
	for _, raw := range []string{"GET /sse/a HTTP/1.0\r\n\r\n", "GET /sse/a HTTP/1.1\r\nHost: x\r\n\r\n"} {
		start := time.Now()
		_, body, _ := exchange(t, addr, raw, true) // fails unless the server closes within 10 s
		if !strings.Contains(string(body), "data: a") {
			t.Errorf("%q: body %q", raw, body)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%q: the stream took %v to end", raw, d)
		}
		ended.Want(t, lifecycle.ErrHandlerReturned)
	}
	start := time.Now()
	if err := app.ShutdownWithTimeout(10 * time.Second); err != nil {
		t.Error(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	<-served
}

type deafListener struct{ net.Listener }

func (l deafListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return deafConn{c}, nil
}

// deafConn ignores read deadlines and hides its socket.
type deafConn struct{ net.Conn }

func (deafConn) SetReadDeadline(time.Time) error { return nil }
func (c deafConn) SetDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(t) }
