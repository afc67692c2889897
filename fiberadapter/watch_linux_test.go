//go:build linux

package fiberadapter

import (
	"context"
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
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("client left; not noticed within 5 s")
			}
			if cause := context.Cause(ctx); name == "FIN" && !errors.Is(cause, io.EOF) {
				t.Errorf("cause %v, want io.EOF", cause)
			}
			if pending := w.stop(); len(pending) != 0 {
				t.Errorf("pending %q, want none", pending)
			}
			waitFor(t, "poller goroutine exits once nothing is watched", func() bool { return !pollerRunning() })
		})
	}
}

// Bytes arriving on an idle stream (a pipelined request) go to a reader,
// which keeps them for the next request and still notices the client leave.
func TestPollerHandsBytesToAReader(t *testing.T) {
	server, client := tcpPair(t)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	w := startWatch(server, cancel).(*polled)
	const next = "GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
	io.WriteString(client, next)
	waitFor(t, "handed over to a reader", func() bool { return handedOver(w) })
	if ctx.Err() != nil {
		t.Fatalf("bytes from the client ended the watch: %v", context.Cause(ctx))
	}
	client.Close()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("client left after sending bytes; not noticed within 5 s")
	}
	if got := string(w.stop()); got != next {
		t.Errorf("pending %q, want %q", got, next)
	}
}

// prefixed is a connection with bytes already read from it, like the
// hijacked connection fasthttp hands over with its buffer.
type prefixed struct {
	net.Conn
	prefix []byte
}

func (c *prefixed) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *prefixed) UnsafeConn() net.Conn { return c.Conn }

// Bytes fasthttp buffered past the request, which epoll cannot see, are
// taken at once and kept.
func TestWatchTakesBufferedBytes(t *testing.T) {
	server, _ := tcpPair(t)
	const next = "GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	w := startWatch(&prefixed{Conn: server, prefix: []byte(next)}, cancel)
	if _, ok := w.(*reader); !ok {
		t.Fatalf("watched by %T, want a reader: there are bytes to keep", w)
	}
	time.Sleep(20 * time.Millisecond)
	if ctx.Err() != nil {
		t.Fatalf("buffered bytes ended the watch: %v", context.Cause(ctx))
	}
	if got := string(w.stop()); got != next {
		t.Errorf("pending %q, want %q", got, next)
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
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("client left; not noticed within 5 s")
	}
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
