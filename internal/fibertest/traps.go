package fibertest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/internal/sessiontest"
	"github.com/ssekit/ssekit/lifecycle"
)

// TLS through app.Listener: the adapter works on the tls.Conn fasthttp
// hijacks, and still sees the client leave.
func testTLSListener(t *testing.T, f Framework) {
	certSrv := httptest.NewUnstartedServer(nil) // only for its certificate and trusting client
	certSrv.StartTLS()
	tlsConfig, client := certSrv.TLS.Clone(), certSrv.Client()
	certSrv.Close()
	defer client.CloseIdleConnections()

	ended := sessiontest.NewEnds()
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		if s.Request().Param("name") == "short" {
			return SendN(2)(s)
		}
		return Hello(s)
	}, ended.Hook(lifecycle.Options{Heartbeat: -1}))
	app := f.New(Config{}, Routes{SSE: ep})
	// The idle keep-alive connection left by the short stream must not
	// hold the shutdown to its deadline (startTLSApp checks it).
	base := startTLSApp(t, f, app, tlsConfig)

	st, err := conformance.Connect(context.Background(), client, base+"/sse/long", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := st.Next(); err != nil || ev.Data != "hello long" {
		t.Fatalf("first event over TLS: %+v %v", ev, err)
	}
	st.Close()
	ended.Want(t, lifecycle.ErrClientGone)

	st, err = conformance.Connect(context.Background(), client, base+"/sse/short", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for range 2 {
		if _, err := st.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Next(); err != io.EOF {
		t.Errorf("end of a TLS stream: %v, want io.EOF", err)
	}
	ended.Want(t, lifecycle.ErrHandlerReturned)
}

// When the server closes the connection after a stream (the client asked
// for Connection: close, or spoke HTTP/1.0), that close is not the client
// leaving: the reason stays the handler's return.
func testServerCloseAfterStreamIsNotClientGone(t *testing.T, f Framework) {
	ended := sessiontest.NewEnds()
	ep := lifecycle.NewEndpoint(SendN(1), ended.Hook(lifecycle.Options{Heartbeat: -1}))
	app := f.New(Config{}, Routes{SSE: ep})
	addr := strings.TrimPrefix(startApp(t, f, app), "http://")
	for _, req := range []string{
		"GET /sse/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"GET /sse/b HTTP/1.0\r\n\r\n",
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(conn, req)
		all, err := io.ReadAll(conn) // to the server's close
		conn.Close()
		if err != nil {
			t.Fatalf("%q: %v", req, err)
		}
		if !strings.Contains(string(all), "Connection: close") {
			t.Errorf("%q: response does not announce the close:\n%s", req, all)
		}
		ended.Want(t, lifecycle.ErrHandlerReturned)
	}
}

// A stream announces Connection: close and its connection closes when it
// ends; a client's next request goes on a new connection, and plain
// requests before a stream keep theirs alive as usual.
func testStreamClosesItsConnection(t *testing.T, f Framework) {
	ended := sessiontest.NewEnds()
	ep := lifecycle.NewEndpoint(SendN(2), ended.Hook(lifecycle.Options{Heartbeat: -1}))
	app := f.New(Config{}, Routes{SSE: ep})
	base := startApp(t, f, app)

	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var conns []string
	for _, path := range []string{"/plain", "/sse/one", "/sse/two", "/plain", "/plain"} {
		var local string
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) { local = info.Conn.LocalAddr().String() },
		})
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: reading: %v", path, err)
		}
		conns = append(conns, local)
		if path == "/plain" {
			if string(body) != "plain" || resp.Close {
				t.Errorf("/plain: body %q, close %v", body, resp.Close)
			}
			continue
		}
		if !resp.Close {
			t.Errorf("%s: the stream does not announce Connection: close", path)
		}
		if want := "data: " + strings.TrimPrefix(path, "/sse/"); strings.Count(string(body), want) != 2 {
			t.Errorf("%s: body %q, want two events", path, body)
		}
		ended.Want(t, lifecycle.ErrHandlerReturned)
	}
	// plain, then a stream on the same connection; each stream closes its
	// own; the two plain requests after share one.
	if conns[0] != conns[1] || conns[1] == conns[2] || conns[2] == conns[3] || conns[3] != conns[4] {
		t.Errorf("connections used: %v", conns)
	}
}

func testAppShutdownEndsSessions(t *testing.T, f Framework) {
	for name, shutdown := range map[string]func(App) error{
		"Shutdown":            App.Shutdown,
		"ShutdownWithTimeout": func(a App) error { return a.ShutdownWithTimeout(5 * time.Second) },
		"ShutdownWithContext": func(a App) error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return a.ShutdownWithContext(ctx)
		},
	} {
		t.Run(name, func(t *testing.T) {
			ended := sessiontest.NewEnds()
			ep := lifecycle.NewEndpoint(Hello, ended.Hook(lifecycle.Options{
				Heartbeat: -1,
				Farewell:  &lifecycle.Event{Type: "bye", Retry: 2 * time.Second},
			}))
			app := f.New(Config{}, Routes{SSE: ep})
			app.Server().MaxIdleWorkerDuration = 50 * time.Millisecond
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- f.Listen(app, ln) }()
			client := RawClient(t)
			var streams []*conformance.Stream
			for i := range 3 {
				st, err := conformance.Connect(context.Background(), client, fmt.Sprintf("http://%s/sse/%d", ln.Addr(), i), nil)
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				if _, err := st.Next(); err != nil {
					t.Fatal(err)
				}
				streams = append(streams, st)
			}
			if err := shutdown(app); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			// Every handler has returned by the time shutdown returns.
			if len(ended) != 3 {
				t.Errorf("%d of 3 sessions had ended when %s returned", len(ended), name)
			}
			for range 3 {
				ended.Want(t, lifecycle.ErrShutdown)
			}
			for i, st := range streams {
				ev, err := st.Next()
				if err != nil || ev.Type != "bye" || st.Retry() != 2*time.Second {
					t.Errorf("stream %d: farewell %+v retry %v, %v", i, ev, st.Retry(), err)
				}
				if _, err := st.Next(); err != io.EOF {
					t.Errorf("stream %d after the farewell: %v, want io.EOF", i, err)
				}
			}
			if err := <-served; err != nil {
				t.Errorf("Listen: %v", err)
			}
		})
	}
}

// A raw pipelined request behind a stream is never answered on the
// stream's connection, nor mixed into the stream: the stream announces the
// close, and the client sends the request again on a new connection.
func testPipelinedRequestAfterStream(t *testing.T, f Framework) {
	var plain atomic.Int64
	ep := lifecycle.NewEndpoint(SendN(3), lifecycle.Options{Heartbeat: -1})
	app := f.New(Config{}, Routes{SSE: ep, Plain: func() { plain.Add(1) }})
	addr := strings.TrimPrefix(startApp(t, f, app), "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "GET /sse/p HTTP/1.1\r\nHost: x\r\n\r\nGET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil || strings.Count(string(body), "data: p\n") != 3 || strings.Contains(string(body), "GET") {
		t.Fatalf("stream body %q, %v", body, err)
	}
	if !resp.Close {
		t.Error("the stream does not announce Connection: close")
	}
	if rest, err := io.ReadAll(r); len(rest) != 0 || err != nil {
		t.Errorf("after the stream: %q, %v; want the connection closed, nothing more", rest, err)
	}
	if n := plain.Load(); n != 0 {
		t.Errorf("the pipelined request was served %d times on the stream's connection", n)
	}
}
