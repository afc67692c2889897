package conformance

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssekit/ssekit/lifecycle"
)

// loadCases run many sessions at once or one after another.
func loadCases() []testCase {
	return []testCase{
		{
			name:    "slow-client-isolated",
			timeout: 60 * time.Second,
			rule: "Options.WriteTimeout: a client that stops reading ends its session with " +
				"ErrWriteTimeout within the timeout once its buffers are full; the server holds a " +
				"bounded amount for it (heap before and after); other sessions keep receiving on time",
			run: func(c *caseT) {
				const writeTimeout = 500 * time.Millisecond
				rec := newRecorder()
				chunk := lifecycle.Event{Data: []byte(strings.Repeat("s", 64<<10))}
				srv := c.serve(func(s *lifecycle.Session) error {
					if s.Request().Param("name") == "slow" {
						for i := 0; i < 4096; i++ { // 256 MiB at most
							if err := s.Send(chunk); err != nil {
								return nil
							}
						}
						return nil
					}
					for i := 0; ; i++ {
						if s.Send(lifecycle.Event{Data: []byte("tick")}) != nil {
							return nil
						}
						time.Sleep(10 * time.Millisecond)
					}
				}, rec.hook(lifecycle.Options{Heartbeat: -1, WriteTimeout: writeTimeout}), ServerConfig{})
				by := srv.connect(srv.url("bystander", ""), nil)
				c.next(by, 5*time.Second)
				heapBefore := heapInUse()

				gaps := make(chan time.Duration, 1)
				stop := make(chan struct{})
				go func() {
					var worst time.Duration
					last := time.Now()
					for {
						select {
						case <-stop:
							gaps <- worst
							return
						default:
						}
						if _, err := by.Next(); err != nil {
							gaps <- time.Hour // the bystander's stream broke
							return
						}
						worst = max(worst, time.Since(last))
						last = time.Now()
					}
				}()
				rc := srv.dial()
				rc.SetReadBuffer(4096)
				rc.request(c, "GET", "/sse/slow", "HTTP/1.1", nil, "")
				start := time.Now()
				// Never read: the stream fills the socket buffers and blocks.
				info := rec.waitClose(c, 30*time.Second).Info
				took := time.Since(start)
				c.wantReason(info.Reason, lifecycle.ErrWriteTimeout)
				heapAfter := heapInUse()
				close(stop)
				worst := waitFor(c, gaps, 10*time.Second, "the bystander's reader")
				c.Logf("slow client: ended after %v (%d MiB written); heap in use before %.1f MiB, after %.1f MiB; "+
					"bystander's longest wait %v", took.Round(time.Millisecond), info.Bytes>>20,
					float64(heapBefore)/(1<<20), float64(heapAfter)/(1<<20), worst.Round(time.Millisecond))
				if took > 15*time.Second {
					c.Errorf("the slow client's session lasted %v; its buffers fill in well under a second, "+
						"then the %v write timeout should end it", took, writeTimeout)
				}
				if grown := int64(heapAfter) - int64(heapBefore); grown > 16<<20 {
					c.Errorf("heap grew by %d MiB for one stalled client: something buffers without bound", grown>>20)
				}
				if worst > 2*time.Second {
					c.Errorf("the bystander waited %v between events while the slow client stalled", worst)
				}
			},
		},
		{
			name:    "shutdown-under-load",
			timeout: 120 * time.Second,
			rule: "Endpoint.Shutdown with 1,000 open sessions: each gets the farewell and a clean " +
				"end, each handler returns, Shutdown returns before its deadline, no goroutine is left",
			run: func(c *caseT) {
				const n = 1000
				var returned, closed atomic.Int64
				var badReason atomic.Value
				farewell := &lifecycle.Event{Type: "bye", Data: []byte("restarting"), Retry: 2 * time.Second}
				warmUp := func(s *lifecycle.Session) bool { return s.Request().Param("name") == "warm-up" }
				srv := c.serve(func(s *lifecycle.Session) error {
					if !warmUp(s) {
						defer returned.Add(1)
					}
					if err := s.Send(msg("hello")); err != nil {
						return err
					}
					<-s.Done()
					return nil
				}, lifecycle.Options{Heartbeat: -1, Farewell: farewell,
					OnClose: func(s *lifecycle.Session, info lifecycle.CloseInfo) {
						if warmUp(s) {
							return
						}
						if !errors.Is(info.Reason, lifecycle.ErrShutdown) {
							badReason.Store(fmt.Sprint(info.Reason))
						}
						closed.Add(1)
					}}, ServerConfig{})
				// One session first, so the frameworks' once-per-process
				// goroutines (fasthttp's date updater) exist before the baseline.
				warm := srv.connect(srv.url("warm-up", ""), nil)
				c.next(warm, 10*time.Second)
				warm.Close()
				for deadline := time.Now().Add(10 * time.Second); srv.ep.Active() != 0; time.Sleep(5 * time.Millisecond) {
					if time.Now().After(deadline) {
						c.Fatal("the warm-up session did not end within 10 s of its client leaving")
					}
				}
				srv.http.CloseIdleConnections()
				baseline := goleak.IgnoreCurrent()
				addr := strings.TrimPrefix(srv.base, "http://")
				results := make(chan error, n)
				var ready sync.WaitGroup
				ready.Add(n)
				for i := range n {
					go func() { results <- farewellClient(c.ctx, addr, i, ready.Done) }()
				}
				ready.Wait()
				if got := srv.ep.Active(); got != n {
					c.Fatalf("%d sessions open, want %d", got, n)
				}
				ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
				defer cancel()
				start := time.Now()
				if err := srv.ep.Shutdown(ctx); err != nil {
					c.Fatalf("Shutdown with %d sessions: %v after %v", n, err, time.Since(start))
				}
				c.Logf("Shutdown of %d sessions took %v", n, time.Since(start).Round(time.Millisecond))
				var failed int
				for range n {
					if err := waitFor(c, results, 30*time.Second, "a client's end"); err != nil {
						if failed++; failed <= 3 {
							c.Errorf("client: %v", err)
						}
					}
				}
				if failed > 0 {
					c.Errorf("%d of %d clients did not get the farewell and a clean end", failed, n)
				}
				if r, c2 := returned.Load(), closed.Load(); r != n || c2 != n {
					c.Errorf("%d handlers returned and %d sessions closed, want %d each", r, c2, n)
				}
				if r := badReason.Load(); r != nil {
					c.Errorf("a session ended with %v, want ErrShutdown", r)
				}
				if err := goleak.Find(baseline); err != nil {
					c.Errorf("goroutines left after Shutdown: %v", err)
				}
			},
		},
		{
			name:    "churn-soak",
			timeout: 5 * time.Minute,
			rule: "ssekit: 20,000 connect/disconnect cycles (2,000 with -short) leave goroutines and " +
				"open file descriptors at their baseline and the heap near it",
			run: func(c *caseT) {
				cycles := 20000
				if testing.Short() {
					cycles = 2000
				}
				const workers = 8
				var ended atomic.Int64
				srv := c.serve(sendThenWait(msg("hi")), lifecycle.Options{
					Heartbeat: 50 * time.Millisecond,
					OnClose:   func(*lifecycle.Session, lifecycle.CloseInfo) { ended.Add(1) },
				}, ServerConfig{})
				addr := strings.TrimPrefix(srv.base, "http://")
				cycle := func(i int) error {
					conn, err := net.Dial("tcp", addr)
					if err != nil {
						return err
					}
					defer conn.Close()
					if i%2 == 1 { // half the clients reset instead of closing
						defer conn.(*net.TCPConn).SetLinger(0)
					}
					conn.SetDeadline(time.Now().Add(10 * time.Second))
					fmt.Fprintf(conn, "GET /sse/%d HTTP/1.1\r\nHost: soak\r\n\r\n", i)
					resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
					if err != nil {
						return err
					}
					if _, err := NewParser(resp.Body).Next(); err != nil {
						return fmt.Errorf("first event: %w", err)
					}
					return nil
				}
				settle := func(want int64) {
					c.Helper()
					deadline := time.Now().Add(10 * time.Second)
					for ended.Load() < want || srv.ep.Active() != 0 {
						if time.Now().After(deadline) {
							c.Fatalf("%d of %d sessions ended, %d open, 10 s after the clients left", ended.Load(), want, srv.ep.Active())
						}
						time.Sleep(5 * time.Millisecond)
					}
				}
				for i := range 50 { // warm up pools and steady-state goroutines
					if err := cycle(i); err != nil {
						c.Fatalf("warm-up: %v", err)
					}
				}
				settle(50)
				time.Sleep(200 * time.Millisecond) // idle workers of the warm-up expire
				goroutines, fds, heap := runtime.NumGoroutine(), openFiles(), heapInUse()

				start := time.Now()
				next := make(chan int)
				errs := make(chan error, workers)
				var wg sync.WaitGroup
				for range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range next {
							if err := cycle(i); err != nil {
								errs <- fmt.Errorf("cycle %d: %w", i, err)
								return
							}
						}
					}()
				}
				var firstErr error
			feed:
				for i := range cycles {
					select {
					case next <- 50 + i:
					case firstErr = <-errs:
						break feed
					case <-c.ctx.Done():
						break feed
					}
				}
				close(next)
				wg.Wait()
				if firstErr != nil {
					c.Fatal(firstErr)
				}
				settle(int64(50 + cycles))
				c.Logf("%d cycles in %v", cycles, time.Since(start).Round(time.Millisecond))

				c.settleResources(goroutines, fds, heap)
			},
		},
		{
			name:    "sequential-streams",
			timeout: 3 * time.Minute,
			rule: "ssekit: 1,000 streams one after another from one keep-alive client (200 with -short), " +
				"each ending with its handler, are each answered in full; connections are reused only " +
				"where the server keeps them open; goroutines, open files and heap return to their level " +
				"after one stream",
			run: func(c *caseT) {
				streams := 1000
				if testing.Short() {
					streams = 200
				}
				var ended atomic.Int64
				srv := c.serve(func(s *lifecycle.Session) error {
					return s.Send(msg("n=" + s.Request().Param("name")))
				}, lifecycle.Options{
					Heartbeat: -1,
					OnClose:   func(*lifecycle.Session, lifecycle.CloseInfo) { ended.Add(1) },
				}, ServerConfig{})
				var rc *rawConn
				conns := 0
				one := func(i int) {
					c.Helper()
					if rc == nil {
						rc = srv.dial()
						conns++
					}
					rc.request(c, "GET", fmt.Sprintf("/sse/%d", i), "HTTP/1.1", nil, "")
					resp := rc.response(c, "GET", 10*time.Second)
					rc.SetReadDeadline(time.Now().Add(10 * time.Second))
					body, err := io.ReadAll(resp.Body)
					if err != nil {
						c.Fatalf("stream %d: reading its body: %v", i, err)
					}
					if evs := parseAll(c, body); len(evs) != 1 || evs[0].Data != fmt.Sprint("n=", i) {
						c.Fatalf("stream %d: events %+v, want one with data n=%d", i, evs, i)
					}
					if resp.Close {
						if rest, err := io.ReadAll(rc.r); len(rest) > 0 || err != nil {
							c.Fatalf("stream %d: after Connection: close: %q, %v; want the close", i, rest, err)
						}
						rc.Close()
						rc = nil
					}
				}
				settle := func(want int64) {
					c.Helper()
					deadline := time.Now().Add(10 * time.Second)
					for ended.Load() < want || srv.ep.Active() != 0 {
						if time.Now().After(deadline) {
							c.Fatalf("%d of %d sessions ended, %d open", ended.Load(), want, srv.ep.Active())
						}
						time.Sleep(5 * time.Millisecond)
					}
				}
				one(0)
				settle(1)
				time.Sleep(200 * time.Millisecond) // the framework's idle workers expire
				goroutines, fds, heap := runtime.NumGoroutine(), openFiles(), heapInUse()
				for i := 1; i < streams; i++ {
					if c.ctx.Err() != nil {
						c.Fatal("watchdog")
					}
					one(i)
				}
				settle(int64(streams))
				c.Logf("%d streams over %d connections", streams, conns)
				c.settleResources(goroutines, fds, heap)
			},
		},
		{
			name: "oversized-header-and-query",
			rule: "ssekit: a request with a huge header or query is either refused with a 4xx before " +
				"any session opens (the framework's limit) or served with the whole value; the server " +
				"keeps serving",
			run: func(c *caseT) {
				rec := newRecorder()
				srv := c.serve(func(s *lifecycle.Session) error {
					r := s.Request()
					s.Send(msg(fmt.Sprintf("%d %d", len(r.Header.Get("X-Big")), len(r.Query().Get("q")))))
					return nil
				}, rec.hook(lifecycle.Options{Heartbeat: -1}), ServerConfig{})
				try := func(what, path string, header http.Header, wantHeader, wantQuery int) {
					c.Helper()
					rc := srv.dial()
					rc.SetDeadline(time.Now().Add(10 * time.Second))
					// The server may answer and close before it has read the
					// whole request: write from the side, ignoring the error.
					go func() {
						var b strings.Builder
						fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: big\r\n", path)
						for k, vs := range header {
							fmt.Fprintf(&b, "%s: %s\r\n", k, vs[0])
						}
						b.WriteString("\r\n")
						io.WriteString(rc, b.String())
					}()
					resp, err := http.ReadResponse(rc.r, nil)
					if err != nil {
						// Some servers close the connection on a request they
						// will not read; no session may have opened.
						if opens, _ := rec.counts(); opens != 0 {
							c.Errorf("%s: connection failed (%v) after a session opened", what, err)
						}
						return
					}
					defer resp.Body.Close()
					switch {
					case resp.StatusCode >= 400 && resp.StatusCode < 500:
						if opens, _ := rec.counts(); opens != 0 {
							c.Errorf("%s: refused with %d after a session opened", what, resp.StatusCode)
						}
					case resp.StatusCode == http.StatusOK:
						ev, err := NewParser(resp.Body).Next()
						if want := fmt.Sprintf("%d %d", wantHeader, wantQuery); err != nil || ev.Data != want {
							c.Errorf("%s: served %+v, %v; want the whole value (%s)", what, ev, err, want)
						}
						c.wantReason(rec.waitClose(c, 5*time.Second).Info.Reason, lifecycle.ErrHandlerReturned)
					default:
						c.Errorf("%s: status %d, want a 4xx refusal or 200", what, resp.StatusCode)
					}
				}
				big := strings.Repeat("h", 2<<20) // over every framework's default limit
				try("a 2 MiB header", "/sse/a", http.Header{"X-Big": {big}}, len(big), 0)
				try("a 64 KiB header", "/sse/a", http.Header{"X-Big": {big[:64<<10]}}, 64<<10, 0)
				q := strings.Repeat("q", 64<<10)
				try("a 64 KiB query", "/sse/a?q="+q, nil, 0, len(q))
				if ev := c.next(srv.connect(srv.url("after", ""), nil), 10*time.Second); ev.Data != "0 0" {
					c.Errorf("after the oversized requests: %s", show(ev))
				}
			},
		},
	}
}

// farewellClient opens stream i on a raw connection, calls ready once its
// first event is in, then expects the farewell and a clean end.
func farewellClient(ctx context.Context, addr string, i int, ready func()) (err error) {
	readied := false
	defer func() {
		if !readied {
			ready()
		}
	}()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	fmt.Fprintf(conn, "GET /sse/%d HTTP/1.1\r\nHost: load\r\n\r\n", i)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return err
	}
	p := NewParser(resp.Body)
	if ev, err := p.Next(); err != nil || ev.Data != "hello" {
		return fmt.Errorf("stream %d: first event %+v, %v", i, ev, err)
	}
	readied = true
	ready()
	if ev, err := p.Next(); err != nil || ev.Type != "bye" {
		return fmt.Errorf("stream %d: got %+v, %v; want the farewell", i, ev, err)
	}
	if _, err := p.Next(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("stream %d: after the farewell: %v, want a clean end", i, err)
	}
	return nil
}

// settleResources waits, up to 10 s, for goroutines, open files and the heap
// in use to come back to the levels given (the heap within 8 MiB), and fails
// the case if they do not.
func (c *caseT) settleResources(goroutines, fds int, heap uint64) {
	c.Helper()
	// Let the frameworks' idle workers and closed sockets go.
	var g, f int
	var h uint64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		g, f, h = runtime.NumGoroutine(), openFiles(), heapInUse()
		if (g <= goroutines && f <= fds && h <= heap+8<<20) || time.Now().After(deadline) {
			break
		}
	}
	c.Logf("goroutines %d -> %d, open files %d -> %d, heap in use %.1f -> %.1f MiB",
		goroutines, g, fds, f, float64(heap)/(1<<20), float64(h)/(1<<20))
	if g > goroutines {
		c.Errorf("%d goroutines at the end, %d before", g, goroutines)
	}
	if f > fds {
		c.Errorf("%d open files at the end, %d before", f, fds)
	}
	if h > heap+8<<20 {
		c.Errorf("heap in use %d MiB at the end, %d MiB before", h>>20, heap>>20)
	}
}

// heapInUse returns the heap in use after a GC.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// openFiles counts this process's open file descriptors (Linux; elsewhere 0).
func openFiles() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(entries)
}
