//go:build linux

package fasthttpsse

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair returns both ends of a real 127.0.0.1 TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// handedOver reports whether the poller has given w to a reader.
func handedOver(w *polled) bool {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.reader != nil
}

// pollerRunning reports whether the poller's goroutine is running.
func pollerRunning() bool {
	p := sharedPoller()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running
}

// noticed fails t unless ctx is canceled (the watch saw the client leave)
// within 5 s; failure says what.
func noticed(t *testing.T, ctx context.Context, failure string) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal(failure)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5 s: %s", what)
		}
	}
}

func TestPollerReportsTheClientClosing(t *testing.T) {
	for name, leave := range map[string]func(*net.TCPConn){
		"FIN": func(c *net.TCPConn) { c.Close() },
		"RST": func(c *net.TCPConn) { c.SetLinger(0); c.Close() },
	} {
		t.Run(name, func(t *testing.T) {
			server, client := tcpPair(t)
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			w, ok := startWatch(server, cancel).(*polled)
			if !ok {
				t.Fatalf("a plain TCP connection is watched by %T, want the poller", startWatch(server, cancel))
			}
			if !pollerRunning() {
				t.Fatal("poller goroutine not running while a connection is watched")
			}
			time.Sleep(20 * time.Millisecond)
			if ctx.Err() != nil {
				t.Fatalf("cancelled while the client is still there: %v", context.Cause(ctx))
			}
			leave(client.(*net.TCPConn))
			noticed(t, ctx, "client left; not noticed within 5 s")
			if cause := context.Cause(ctx); name == "FIN" && !errors.Is(cause, io.EOF) {
				t.Errorf("cause %v, want io.EOF", cause)
			}
			if !w.stop() {
				t.Error("stop did not stop the watch")
			}
			waitFor(t, "poller goroutine exits once nothing is watched", func() bool { return !pollerRunning() })
		})
	}
}

// Bytes arriving on an idle stream (a pipelined request, never answered on
// this connection) go to a reader, which drops them and still notices the
// client leave.
func TestPollerHandsBytesToAReader(t *testing.T) {
	server, client := tcpPair(t)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	w := startWatch(server, cancel).(*polled)
	io.WriteString(client, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, "handed over to a reader", func() bool { return handedOver(w) })
	if ctx.Err() != nil {
		t.Fatalf("bytes from the client ended the watch: %v", context.Cause(ctx))
	}
	client.Close()
	noticed(t, ctx, "client left after sending bytes; not noticed within 5 s")
	if !w.stop() {
		t.Error("stop did not stop the reader")
	}
}

// TLS connections are watched by the poller through the socket under them.
func TestPollerWatchesUnderTLS(t *testing.T) {
	server, client := tcpPair(t)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	w := startWatch(tls.Server(server, &tls.Config{}), cancel)
	if _, ok := w.(*polled); !ok {
		t.Fatalf("a TLS connection is watched by %T, want the poller", w)
	}
	client.Close()
	noticed(t, ctx, "client left; not noticed within 5 s")
	w.stop()
}

// deaf is a connection wrapper whose SetReadDeadline does nothing, as some
// listener wrappers do.
type deaf struct{ net.Conn }

func (deaf) SetReadDeadline(time.Time) error { return nil }

// A reader on a connection that ignores read deadlines cannot be stopped;
// stop says so within its bound instead of hanging, and the reader ends when
// the connection is closed.
func TestReaderStopIsBounded(t *testing.T) {
	server, _ := tcpPair(t)
	_, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	w := startWatch(deaf{server}, cancel)
	start := time.Now()
	if w.stop() {
		t.Fatal("stop reported the reader stopped, but its Read ignores deadlines")
	}
	if d := time.Since(start); d > 10*stopWait {
		t.Errorf("stop took %v, bound %v", d, stopWait)
	}
	server.Close()
	done := make(chan struct{})
	go func() { w.wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("reader still running 5 s after its connection closed")
	}
}

// Connections without a descriptor of their own (TLS, wrappers) get a reader.
func TestWatchWithoutDescriptorUsesAReader(t *testing.T) {
	server, client := tcpPair(t)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	w := startWatch(struct{ net.Conn }{server}, cancel)
	if _, ok := w.(*reader); !ok {
		t.Fatalf("watched by %T, want a reader", w)
	}
	client.Close()
	noticed(t, ctx, "client left; not noticed within 5 s")
	w.stop()
}

// Many connections come and go concurrently; each is reported once and
// the poller ends when the last is gone.
func TestPollerChurn(t *testing.T) {
	const n = 200
	type conn struct {
		w      watch
		ctx    context.Context
		client net.Conn
	}
	conns := make([]conn, n)
	for i := range conns {
		server, client := tcpPair(t)
		ctx, cancel := context.WithCancelCause(context.Background())
		t.Cleanup(func() { cancel(nil) })
		conns[i] = conn{startWatch(server, cancel), ctx, client}
	}
	// Half the clients leave; the other half's streams end on the server.
	for i, c := range conns {
		if i%2 == 0 {
			go c.client.Close()
		} else {
			go c.w.stop()
		}
	}
	for i, c := range conns {
		if i%2 != 0 {
			continue
		}
		select {
		case <-c.ctx.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("connection %d: client left; not noticed within 5 s", i)
		}
		c.w.stop()
	}
	waitFor(t, "poller goroutine exits once nothing is watched", func() bool { return !pollerRunning() })
}
