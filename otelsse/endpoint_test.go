package otelsse_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/ssekit/ssekit/internal/sessiontest"
	"github.com/ssekit/ssekit/lifecycle"
	"github.com/ssekit/ssekit/nethttpadapter"
	"github.com/ssekit/ssekit/otelsse"
)

// closes records every session end of an endpoint, and passes it on to
// the metrics.
type closes struct {
	m     *otelsse.EndpointMetrics
	mu    sync.Mutex
	infos []lifecycle.CloseInfo
}

func (c *closes) onClose(s *lifecycle.Session, info lifecycle.CloseInfo) {
	c.m.OnClose(s, info)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.infos = append(c.infos, info)
}

func (c *closes) snapshot() []lifecycle.CloseInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]lifecycle.CloseInfo(nil), c.infos...)
}

// wait waits until n sessions have ended.
func (c *closes) wait(t *testing.T, n int) {
	t.Helper()
	eventually(t, "sessions ended", func() bool { return len(c.snapshot()) >= n })
}

// serve serves ep with net/http on 127.0.0.1 and returns its base URL.
// GET /deadline gets a request context that ends after 100 ms, as under a
// timeout middleware.
func serve(t *testing.T, ep *lifecycle.Endpoint) string {
	t.Helper()
	h := nethttpadapter.Handler(ep)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/deadline" {
			ctx, cancel := context.WithTimeout(r.Context(), 100*time.Millisecond)
			defer cancel()
			r = r.WithContext(ctx)
		}
		h.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ep.Shutdown(ctx)
		srv.Shutdown(ctx)
	})
	return "http://" + ln.Addr().String()
}

// readAll reads a stream to its end and returns its status.
func readAll(t *testing.T, url string) int {
	t.Helper()
	resp := sessiontest.Get(t, url, nil)
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return resp.StatusCode
}

var errMine = errors.New("the application's own reason")

// Every instrument of an endpoint reports exactly what happened to real
// sessions over TCP: opened, refused over a cap and by Admit, closed for
// each reason a test can bring about, their durations, and what they wrote.
func TestEndpointMetrics(t *testing.T) {
	r := newReader(t)
	m, err := otelsse.NewEndpointMetrics(r.mp, otelsse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ends := &closes{m: m}
	big := lifecycle.Event{Data: []byte(strings.Repeat("z", 64<<10))}
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		switch s.Request().Path {
		case "/return":
			if err := s.Send(lifecycle.Event{Data: []byte("one")}); err != nil {
				return err
			}
			return s.Send(lifecycle.Event{Data: []byte("two")})
		case "/panic":
			panic("a bug")
		case "/close":
			s.Close()
		case "/error":
			s.CloseWithError(errMine)
		case "/flood":
			for s.Send(big) == nil {
			}
		}
		<-s.Done()
		return nil
	}, lifecycle.Options{
		Heartbeat:         20 * time.Millisecond,
		WriteTimeout:      300 * time.Millisecond,
		MaxSessionsPerKey: 1,
		SessionKey:        func(r *lifecycle.Request) string { return r.Path },
		Admit: func(_ context.Context, r *lifecycle.Request) error {
			if r.Path == "/forbidden" {
				return lifecycle.Refuse(http.StatusForbidden, "no")
			}
			return nil
		},
		OnClose: ends.onClose,
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err := m.Observe(ep); err != nil {
		t.Fatal(err)
	}
	if err := m.Observe(ep); !errors.Is(err, otelsse.ErrObserved) {
		t.Errorf("a second Observe: %v, want ErrObserved", err)
	}
	url := serve(t, ep)

	for _, p := range []string{"/return", "/panic", "/close", "/error", "/deadline"} {
		if status := readAll(t, url+p); status != http.StatusOK {
			t.Fatalf("%s: status %d", p, status)
		}
	}
	ends.wait(t, 5)

	// A session that stays open sees heartbeats; a second one on its key
	// is over the cap; Admit refuses another.
	waiting := sessiontest.Get(t, url+"/wait", nil)
	br := bufio.NewReader(waiting.Body)
	for beats := 0; beats < 2; {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading heartbeats: %v", err)
		}
		if line == ":\n" {
			beats++
		}
	}
	if status := readAll(t, url+"/wait"); status != http.StatusServiceUnavailable {
		t.Errorf("over the cap: status %d, want 503", status)
	}
	if status := readAll(t, url+"/forbidden"); status != http.StatusForbidden {
		t.Errorf("refused by Admit: status %d, want 403", status)
	}
	// A session leaves the count just after OnClose: the ended ones may
	// take a moment.
	eventually(t, "sessions.active = 1 while one is open", func() bool {
		return r.collect(t).sum(t, "sse.server.sessions.active", false) == 1
	})
	waiting.Body.Close() // the client goes away
	ends.wait(t, 6)

	// A client that reads nothing makes a write time out.
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	if _, err := conn.Write([]byte("GET /flood HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	ends.wait(t, 7)

	// Shutdown ends the last one.
	staying := sessiontest.Get(t, url+"/stay", nil)
	eventually(t, "the last session open", func() bool { return ep.Active() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ep.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, staying.Body)
	ends.wait(t, 8)

	eventually(t, "sessions.active = 0 at the end", func() bool {
		return r.collect(t).sum(t, "sse.server.sessions.active", false) == 0
	})
	infos := ends.snapshot()
	var events, bytes int64
	var seconds float64
	for _, info := range infos {
		events += info.Events
		bytes += info.Bytes
		seconds += info.Duration.Seconds()
	}
	c := r.collect(t)
	for name, want := range map[string]int64{
		"sse.server.sessions.opened": 8,
		"sse.server.sessions.failed": 0,
		"sse.server.events.sent":     events,
		"sse.server.sent":            bytes,
		"sse.server.heartbeats.sent": ep.Stats().Heartbeats,
	} {
		if got := c.sum(t, name, true); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	if events < 3 || bytes < (events-2)*int64(len(big.Data)) {
		t.Errorf("%d events and %d bytes written: the flood wrote nothing?", events, bytes)
	}
	if hb := c.sum(t, "sse.server.heartbeats.sent", true); hb < 2 {
		t.Errorf("%d heartbeats, the client read 2", hb)
	}
	for reason, want := range map[string]int64{otelsse.RefusalOverloaded: 1, otelsse.RefusalAdmit: 1} {
		if got := c.sum(t, "sse.server.sessions.refused", true, otelsse.RefusalReasonKey.String(reason)); got != want {
			t.Errorf("refused{%s} = %d, want %d", reason, got, want)
		}
	}
	wantClosed := map[string]int64{"handler-returned": 1, "handler-panicked": 1, "closed": 1, lifecycle.ReasonOther: 1,
		"deadline": 1, "client-gone": 1, "write-timeout": 1, "shutdown": 1}
	for _, name := range []string{"client-gone", "shutdown", "deadline", "lifetime", "write-timeout",
		"write-failed", "handler-panicked", "handler-returned", "closed", lifecycle.ReasonOther} {
		if got := c.sum(t, "sse.server.sessions.closed", true, otelsse.CloseReasonKey.String(name)); got != wantClosed[name] {
			t.Errorf("closed{%s} = %d, want %d", name, got, wantClosed[name])
		}
	}
	if n := c.points(t, "sse.server.sessions.closed"); n != 10 {
		t.Errorf("sessions.closed has %d series, want one per reason name (10)", n)
	}
	if n, sum := c.hist(t, "sse.server.session.duration"); n != 8 || !near(sum, seconds) {
		t.Errorf("session.duration: %d sessions, %v s; want 8, %v s", n, sum, seconds)
	}
	if u := c["sse.server.session.duration"].Unit; u != "s" {
		t.Errorf("session.duration unit %q", u)
	}
}

// Sessions that reach their lifetime are counted, with the attributes of
// Options, apart from another endpoint's; Close stops the reports.
func TestEndpointMetricsLifetimeAndAttributes(t *testing.T) {
	r := newReader(t)
	short := attribute.String("sse.endpoint", "short")
	m, err := otelsse.NewEndpointMetrics(r.mp, otelsse.Options{Attributes: []attribute.KeyValue{short}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := otelsse.NewEndpointMetrics(r.mp, otelsse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ends := &closes{m: m}
	handler := func(s *lifecycle.Session) error { <-s.Done(); return nil }
	ep := lifecycle.NewEndpoint(handler, lifecycle.Options{MaxLifetime: 100 * time.Millisecond, LifetimeJitter: -1,
		OnClose: ends.onClose, Logger: slog.New(slog.DiscardHandler)})
	idle := lifecycle.NewEndpoint(handler, lifecycle.Options{})
	if err := m.Observe(ep); err != nil {
		t.Fatal(err)
	}
	if err := other.Observe(idle); err != nil {
		t.Fatal(err)
	}
	readAll(t, serve(t, ep)+"/")
	ends.wait(t, 1)
	c := r.collect(t)
	if got := c.sum(t, "sse.server.sessions.closed", true, short, otelsse.CloseReasonKey.String("lifetime")); got != 1 {
		t.Errorf("closed{lifetime} = %d, want 1", got)
	}
	if got := c.sum(t, "sse.server.sessions.opened", true, short); got != 1 {
		t.Errorf("opened = %d, want 1", got)
	}
	if got := c.sum(t, "sse.server.sessions.opened", true); got != 0 {
		t.Errorf("the other endpoint: opened = %d, want 0", got)
	}
	if n, _ := c.hist(t, "sse.server.session.duration", short); n != 1 {
		t.Errorf("session.duration count %d, want 1", n)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	c = r.collect(t)
	if m, ok := c["sse.server.sessions.opened"]; ok {
		t.Errorf("after Close: still reported: %+v", m.Data)
	}
}
