package fiberadapter_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ssekit/ssekit/fiberadapter"
	"github.com/ssekit/ssekit/lifecycle"
)

// These benchmarks chose the adapter's mechanism and show what it changes
// for users. Run them with:
//
//	go test -run '^$' -bench . -benchtime 3x ./fiberadapter
//
// Three ways to stream on Fiber are compared:
//   - ssekit: the adapter (hijacked connection, read watcher).
//   - streamwriter: the alternative the adapter could have used,
//     SetBodyStreamWriter with ImmediateHeaderFlush and a read watcher on
//     ctx.Conn(), running the same lifecycle.Endpoint.
//   - recipe: SetBodyStreamWriter as users write it today, with a 15 s
//     heartbeat and no watcher: a dead client is noticed when a write fails.

// mechanism mounts a handler that sends one event ("ready") and then idles
// (or, with flood, sends the same 64-byte event as fast as it can).
type mechanism struct {
	name  string
	mount func(app *fiber.App, ended chan<- time.Time, flood bool, quit <-chan struct{})
}

var mechanisms = []mechanism{
	{"ssekit", mountSSEKit},
	{"streamwriter", mountStreamWriter},
	{"recipe", mountRecipe},
}

var payload = []byte(strings.Repeat("x", 64))

func endpointFor(ended chan<- time.Time, flood bool) *lifecycle.Endpoint {
	return lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		if err := s.Send(lifecycle.Event{Data: []byte("ready")}); err != nil {
			return err
		}
		for flood {
			if s.Send(lifecycle.Event{Data: payload}) != nil {
				return nil
			}
		}
		<-s.Done()
		return nil
	}, lifecycle.Options{
		Heartbeat: -1, // detection must not depend on writes
		OnClose:   func(*lifecycle.Session, lifecycle.CloseInfo) { ended <- time.Now() },
	})
}

func mountSSEKit(app *fiber.App, ended chan<- time.Time, flood bool, _ <-chan struct{}) {
	app.Get("/sse", fiberadapter.Handler(endpointFor(ended, flood)))
}

// bufioTransport runs a session over fasthttp's stream writer, which has
// already sent the status and headers.
type bufioTransport struct {
	w    *bufio.Writer
	conn net.Conn
}

func (t bufioTransport) WriteHeader(int, http.Header) error { return nil }
func (t bufioTransport) Write(p []byte) (int, error)        { return t.w.Write(p) }
func (t bufioTransport) Flush() error                       { return t.w.Flush() }
func (t bufioTransport) SetWriteDeadline(d time.Time) error { return t.conn.SetWriteDeadline(d) }
func mountStreamWriter(app *fiber.App, ended chan<- time.Time, flood bool, _ <-chan struct{}) {
	ep := endpointFor(ended, flood)
	app.Get("/sse", func(c *fiber.Ctx) error {
		fctx := c.Context()
		conn := fctx.Conn()
		fctx.Response.ImmediateHeaderFlush = true
		fctx.SetContentType("text/event-stream")
		fctx.Response.Header.Set("Cache-Control", "no-cache")
		req := &lifecycle.Request{Method: "GET", Path: "/sse"}
		fctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			ctx, cancel := context.WithCancelCause(context.Background())
			watched := make(chan struct{})
			go func() { // the read watcher (it would steal pipelined bytes)
				defer close(watched)
				var b [1]byte
				_, err := conn.Read(b[:])
				cancel(err)
			}()
			ep.Serve(ctx, bufioTransport{w, conn}, req)
			conn.SetReadDeadline(time.Unix(1, 0))
			<-watched
		})
		return nil
	})
}

// quit only lets the benchmark clean up the streams the recipe never notices
// have ended.
func mountRecipe(app *fiber.App, ended chan<- time.Time, flood bool, quit <-chan struct{}) {
	app.Get("/sse", func(c *fiber.Ctx) error {
		c.Set("Content-Type", "text/event-stream")
		c.Set("Cache-Control", "no-cache")
		c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
			defer func() { ended <- time.Now() }()
			fmt.Fprintf(w, "data: ready\n\n")
			if w.Flush() != nil {
				return
			}
			for flood {
				fmt.Fprintf(w, "data: %s\n\n", payload)
				if w.Flush() != nil {
					return
				}
			}
			heartbeat := time.NewTicker(15 * time.Second)
			defer heartbeat.Stop()
			for {
				select {
				case <-heartbeat.C:
				case <-quit:
					return
				}
				fmt.Fprintf(w, ": ping\n\n")
				if w.Flush() != nil {
					return
				}
			}
		})
		return nil
	})
}

// serveBench starts a Fiber app with mech on 127.0.0.1.
func serveBench(b *testing.B, mech mechanism, flood bool) (addr string, ended chan time.Time) {
	ended = make(chan time.Time, 1<<14)
	quit := make(chan struct{})
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Server().MaxIdleWorkerDuration = 50 * time.Millisecond
	mech.mount(app, ended, flood, quit)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); app.Listener(ln) }()
	b.Cleanup(func() {
		close(quit)
		app.ShutdownWithTimeout(5 * time.Second)
		<-served
	})
	return ln.Addr().String(), ended
}

// openStream sends the request on a raw connection and reads up to the
// first event, so the stream is open and idle.
func openStream(b *testing.B, addr string) net.Conn {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	io.WriteString(conn, "GET /sse HTTP/1.1\r\nHost: bench\r\n\r\n")
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReaderSize(conn, 256)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			b.Fatalf("waiting for the first event: %v", err)
		}
		if strings.Contains(line, "ready") {
			conn.SetReadDeadline(time.Time{})
			return conn
		}
	}
}

// BenchmarkDetection measures the time from a client closing its idle
// connection to the server-side stream ending. The recipe needs a failed
// write, so with its 15 s heartbeat this takes 15-45 s a round: run it with
// -benchtime 3x. Reported as ms/detect; "missed" counts rounds not detected
// within 60 s.
func BenchmarkDetection(b *testing.B) {
	for _, mech := range []mechanism{mechanisms[0], mechanisms[2]} {
		b.Run(mech.name, func(b *testing.B) {
			addr, ended := serveBench(b, mech, false)
			var total time.Duration
			missed := 0
			for b.Loop() {
				conn := openStream(b, addr)
				closed := time.Now()
				conn.Close()
				select {
				case at := <-ended:
					total += at.Sub(closed)
				case <-time.After(60 * time.Second):
					missed++
				}
			}
			if n := b.N - missed; n > 0 {
				b.ReportMetric(float64(total.Microseconds())/1000/float64(n), "ms/detect")
			}
			b.ReportMetric(float64(missed), "missed")
		})
	}
}

// BenchmarkIdleMemory opens 1,000 idle streams and reports the server's heap
// and stack growth per connection (after GC), and its goroutines per
// connection. Client and server share the process, so the cost of the
// client's raw connections is measured alone first and subtracted.
func BenchmarkIdleMemory(b *testing.B) {
	const n = 1000
	for _, mech := range mechanisms {
		b.Run(mech.name, func(b *testing.B) {
			addr, _ := serveBench(b, mech, false)
			openStream(b, addr).Close() // warm up pools
			for b.Loop() {
				clientCost, _ := memoryOf(func() []net.Conn { return holdRawConns(b, n) })
				total, goroutines := memoryOf(func() []net.Conn {
					conns := make([]net.Conn, n)
					for i := range conns {
						conns[i] = openStream(b, addr)
					}
					return conns
				})
				b.ReportMetric(float64(total-clientCost)/n, "B/conn")
				b.ReportMetric(float64(goroutines)/n, "goroutines/conn")
			}
		})
	}
}

// memoryOf reports how much heap and stack, and how many goroutines, the
// connections open returns hold, then closes them.
func memoryOf(open func() []net.Conn) (bytes int64, goroutines int) {
	before, g0 := inUse()
	conns := open()
	time.Sleep(200 * time.Millisecond) // let every server goroutine settle
	after, g1 := inUse()
	for _, c := range conns {
		c.Close()
	}
	time.Sleep(200 * time.Millisecond)
	return after - before, g1 - g0
}

func inUse() (int64, int) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse), runtime.NumGoroutine()
}

// holdRawConns opens n connections to a listener that only accepts them.
func holdRawConns(b *testing.B, n int) []net.Conn {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	accepted := make(chan net.Conn, n)
	go func() {
		for range n {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	conns := make([]net.Conn, 0, 2*n)
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c, <-accepted)
	}
	ln.Close()
	return conns
}

// BenchmarkThroughput streams 64-byte events to one client as fast as the
// server can; reported as events/s received by the client.
func BenchmarkThroughput(b *testing.B) {
	for _, mech := range mechanisms {
		b.Run(mech.name, func(b *testing.B) {
			addr, _ := serveBench(b, mech, true)
			conn := openStream(b, addr)
			defer conn.Close()
			r := bufio.NewReaderSize(conn, 64<<10)
			start := time.Now()
			events := 0
			for b.Loop() {
				// Count complete events by their terminating blank line
				// (a bare LF; the CRLF after each chunk is framing).
				line, err := r.ReadSlice('\n')
				for err == nil && len(line) != 1 {
					line, err = r.ReadSlice('\n')
				}
				if err != nil {
					b.Fatal(err)
				}
				events++
			}
			b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkReconnect measures one short stream from a client that reconnects
// at once, as an EventSource does after a stream ends (without its retry
// delay): request, one event, the stream's end, and, where the server closes
// the connection after the stream, a new TCP connection for the next one.
// Go's HTTP client reuses a connection the server keeps alive. Reported as
// µs/stream and new connections per stream.
func BenchmarkReconnect(b *testing.B) {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Server().MaxIdleWorkerDuration = 50 * time.Millisecond
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		return s.Send(lifecycle.Event{Data: payload})
	}, lifecycle.Options{Heartbeat: -1})
	app.Get("/sse", fiberadapter.Handler(ep))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); app.Listener(ln) }()
	b.Cleanup(func() { app.ShutdownWithTimeout(5 * time.Second); <-served })
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	url := "http://" + ln.Addr().String() + "/sse"
	var dials int
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials++
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	start := time.Now()
	for b.Loop() {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/stream")
	b.ReportMetric(float64(dials)/float64(b.N), "dials/stream")
}
