package ginadapter_test

// What goes wrong with Gin's own streaming (c.Stream, c.SSEvent), checked
// here not to go wrong with ginadapter: gin-gonic/gin issues #1589, #4460,
// #4586.

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	gingzip "github.com/gin-contrib/gzip"
	"github.com/gin-contrib/timeout"
	"github.com/gin-gonic/gin"

	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/ginadapter"
	"github.com/ssekit/ssekit/internal/sessiontest"
	"github.com/ssekit/ssekit/lifecycle"
)

// plainWriter hides every optional interface of the writer under it, as
// many wrappers do; it keeps Unwrap. Gin's c.Stream asks the writer for
// CloseNotify, which such a writer does not have (Gin's writer then
// panics, or with other wrappers gets a nil channel and never notices).
type plainWriter struct{ w http.ResponseWriter }

func (p plainWriter) Header() http.Header         { return p.w.Header() }
func (p plainWriter) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p plainWriter) WriteHeader(code int)        { p.w.WriteHeader(code) }
func (p plainWriter) Unwrap() http.ResponseWriter { return p.w }
func (p plainWriter) FlushError() error           { return http.NewResponseController(p.w).Flush() }

// The disconnect is seen through the request context, the moment the client
// leaves, while the handler is blocked with nothing to write (c.Stream
// checks only between steps), and even when the writer under Gin has no
// CloseNotify (#1589: c.Stream then never notices, or panics).
func TestDisconnectSeenWhileIdleWithoutCloseNotify(t *testing.T) {
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprintf("plain=%v", plain), func(t *testing.T) {
			ended := sessiontest.NewEnds()
			r := gin.New()
			r.GET("/sse/:name", ginadapter.Handler(lifecycle.NewEndpoint(hello, ended.Hook(lifecycle.Options{Heartbeat: -1}))))
			var h http.Handler = r
			if plain {
				h = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
					//lint:ignore SA1019 the test checks that the deprecated CloseNotify is missing, as Gin's c.Stream needs it
					if _, ok := any(plainWriter{w}).(http.CloseNotifier); ok {
						t.Error("plainWriter has CloseNotify")
					}
					r.ServeHTTP(plainWriter{w}, req)
				})
			}
			base := serveOn(t, h, conformance.ServerConfig{}.Listen(t), conformance.ServerConfig{})
			conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "GET /sse/a HTTP/1.1\r\nHost: x\r\n\r\n")
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("response %v, %v", resp, err)
			}
			if ev, err := conformance.NewParser(resp.Body).Next(); err != nil || ev.Data != "hello a" {
				t.Fatalf("first event %+v, %v", ev, err)
			}
			closed := time.Now()
			conn.Close() // the handler is blocked in <-s.Done(), heartbeats off: nothing is written
			ci := ended.Next(t, 2*time.Second)
			if !errors.Is(ci.Reason, lifecycle.ErrClientGone) {
				t.Errorf("reason %v, want ErrClientGone", ci.Reason)
			}
			t.Logf("noticed %v after the close", time.Since(closed))
		})
	}
}

// ackStream serves events one at a time: event i is sent only once the
// client has acknowledged event i-1, so an event held back by a buffer
// (c.SSEvent does not flush, #4460; a gzip writer) never arrives and the
// test fails at its bound instead of passing on a later flush.
func ackStream(acks chan struct{}) lifecycle.Handler {
	return func(s *lifecycle.Session) error {
		for i := range 5 {
			if err := s.Send(lifecycle.Event{ID: strconv.Itoa(i), Data: []byte("event " + strconv.Itoa(i))}); err != nil {
				return err
			}
			select {
			case <-acks:
			case <-s.Done():
				return nil
			}
		}
		<-s.Done()
		return nil
	}
}

// readAcked reads 5 events from body, acknowledging each, within ctx.
func readAcked(t *testing.T, body io.Reader, acks chan struct{}) {
	t.Helper()
	p := conformance.NewParser(body)
	for i := range 5 {
		ev, err := p.Next()
		if err != nil {
			t.Fatalf("event %d did not arrive on its own: %v (held back in a buffer?)", i, err)
		}
		if want := "event " + strconv.Itoa(i); ev.Data != want {
			t.Fatalf("event %d: data %q, want %q", i, ev.Data, want)
		}
		acks <- struct{}{}
	}
}

// Every event is flushed as it is sent (#4460: c.SSEvent does not flush).
func TestEveryEventFlushedAtOnce(t *testing.T) {
	acks := make(chan struct{})
	base := mount(t, ackStream(acks), lifecycle.Options{Heartbeat: -1}, conformance.ServerConfig{})
	resp := sessiontest.Get(t, base+"/sse/a", nil)
	readAcked(t, resp.Body, acks)
}

// Behind gin-contrib/gzip, the stream is compressed and every event is
// flushed through the gzip writer at once (the client accepts gzip).
func TestGzipEventsUnbuffered(t *testing.T) {
	acks := make(chan struct{})
	base := mount(t, ackStream(acks), lifecycle.Options{Heartbeat: -1}, conformance.ServerConfig{}, gingzip.Gzip(gingzip.DefaultCompression))
	resp := sessiontest.Get(t, base+"/sse/a", http.Header{"Accept-Encoding": {"gzip"}})
	if ce := resp.Header.Get("Content-Encoding"); ce != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", ce)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatalf("gzip header did not arrive: %v", err)
	}
	readAcked(t, zr, acks)
}

// A server WriteTimeout shorter than the stream does not cut it, as on
// every net/http adapter: the deadline is moved before each write
// (Options.WriteTimeout bounds each write instead). Behind gin-contrib/gzip
// too, whose writer hides the server's writer from
// http.ResponseController.
func TestServerWriteTimeoutDoesNotCutStream(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", gz), func(t *testing.T) {
			var mw []gin.HandlerFunc
			header := http.Header{}
			if gz {
				mw = append(mw, gingzip.Gzip(gingzip.DefaultCompression))
				header.Set("Accept-Encoding", "gzip")
			}
			ended := sessiontest.NewEnds()
			base := mount(t, func(s *lifecycle.Session) error {
				for i := range 8 {
					if err := s.Send(lifecycle.Event{ID: strconv.Itoa(i), Data: []byte("tick")}); err != nil {
						return err
					}
					time.Sleep(150 * time.Millisecond) // 1.2 s in all, four times the server's WriteTimeout
				}
				return nil
			}, ended.Hook(lifecycle.Options{Heartbeat: -1}), conformance.ServerConfig{WriteTimeout: 300 * time.Millisecond}, mw...)
			resp := sessiontest.Get(t, base+"/sse/a", header)
			var body io.Reader = resp.Body
			if gz {
				if resp.Header.Get("Content-Encoding") != "gzip" {
					t.Fatalf("Content-Encoding %q, want gzip", resp.Header.Get("Content-Encoding"))
				}
				zr, err := gzip.NewReader(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				body = zr
			}
			p := conformance.NewParser(body)
			for i := range 8 {
				ev, err := p.Next()
				if err != nil || ev.LastEventID != strconv.Itoa(i) {
					t.Fatalf("event %d: %+v, %v (the server's WriteTimeout cut the stream?)", i, ev, err)
				}
			}
			if ci := ended.Next(t, 5*time.Second); !errors.Is(ci.Reason, lifecycle.ErrHandlerReturned) {
				t.Errorf("reason %v, want ErrHandlerReturned", ci.Reason)
			}
		})
	}
}

// Behind http.TimeoutHandler the writer cannot flush (Gin's Flush panicked
// there, #4586, and now does nothing): the stream is refused loudly, 500
// and an error log, before anything is sent, and nothing panics.
func TestTimeoutHandlerRefusedLoudly(t *testing.T) {
	var logs sessiontest.ErrorLog
	ran := make(chan struct{}, 1)
	r := gin.New()
	r.GET("/sse/:name", ginadapter.Handler(lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		ran <- struct{}{}
		return hello(s)
	}, lifecycle.Options{Logger: slog.New(&logs)})))
	base := serveOn(t, http.TimeoutHandler(r, 2*time.Second, "timeout"), conformance.ServerConfig{}.Listen(t), conformance.ServerConfig{})
	checkRefused(t, sessiontest.Get(t, base+"/sse/a", nil), ran, &logs, "cannot flush")
}

// gin-contrib/timeout runs the handler in a goroutine and holds everything
// it writes in a buffer until it returns: no stream can pass. It is refused
// loudly: 500 and an error log naming the writer.
func TestContribTimeoutRefusedLoudly(t *testing.T) {
	var logs sessiontest.ErrorLog
	ran := make(chan struct{}, 1)
	base := mount(t, func(s *lifecycle.Session) error {
		ran <- struct{}{}
		return hello(s)
	}, lifecycle.Options{Logger: slog.New(&logs)}, conformance.ServerConfig{}, timeout.New(timeout.WithTimeout(2*time.Second)))
	checkRefused(t, sessiontest.Get(t, base+"/sse/a", nil), ran, &logs, "*timeout.Writer")
}
