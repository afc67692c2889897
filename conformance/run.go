package conformance

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssekit/ssekit/lifecycle"
)

// route is where every case mounts its endpoint.
const route = "/sse/{name}"

// defaultCaseTimeout is how long the watchdog lets a case run.
const defaultCaseTimeout = 30 * time.Second

// testCase is one rule of the suite.
type testCase struct {
	name    string
	rule    string // the rule checked, with where it comes from
	needs   []Capability
	timeout time.Duration // the watchdog's limit; zero means defaultCaseTimeout
	run     func(c *caseT)
}

// Run runs the whole suite against the adapter h starts, one subtest per
// case. Each case gets a fresh server and a watchdog: a case that hangs fails
// with the rule it was checking, instead of hanging the run. A case that
// needs a capability the harness declares Missing is skipped with the
// declared reason.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Start == nil {
		t.Fatal("conformance: Harness.Start is nil")
	}
	for _, tc := range cases() {
		t.Run(tc.name, func(t *testing.T) {
			for _, need := range tc.needs {
				if why, ok := h.Missing[need]; ok {
					t.Skipf("adapter lacks %s: %s", need, why)
				}
			}
			runCase(t, h, tc)
		})
	}
}

// runCase runs tc on the test's goroutine under a watchdog.
func runCase(t *testing.T, h Harness, tc testCase) {
	limit := tc.timeout
	if limit == 0 {
		limit = defaultCaseTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	watchdog := time.AfterFunc(limit, func() {
		t.Errorf("case %s did not finish within %v: the adapter hung; unblocking it", tc.name, limit)
		cancel()
	})
	t.Cleanup(func() { watchdog.Stop() })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("rule: %s", tc.rule)
		}
	})
	tc.run(&caseT{T: t, h: h, ctx: ctx})
}

// caseT is a case's view of the test: the testing.T, the harness, and a context
// the watchdog cancels.
type caseT struct {
	*testing.T
	h   Harness
	ctx context.Context
}

// server is one started endpoint.
type server struct {
	c    *caseT
	ep   *lifecycle.Endpoint
	base string
	http *http.Client
}

// serve starts h with opts on a fresh server of the framework under test.
func (c *caseT) serve(h lifecycle.Handler, opts lifecycle.Options, cfg ServerConfig) *server {
	c.Helper()
	ep := lifecycle.NewEndpoint(h, opts)
	base := c.h.Start(c.T, ep, route, cfg)
	base = strings.TrimSuffix(base, "/")
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	c.Cleanup(tr.CloseIdleConnections)
	// Registered after Start, so it runs before the harness stops the
	// server: no case leaves a handler blocking the server's shutdown.
	c.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := ep.Shutdown(ctx); err != nil {
			c.Errorf("cleanup: Endpoint.Shutdown: %v (a handler did not return)", err)
		}
	})
	return &server{c: c, ep: ep, base: base, http: &http.Client{Transport: tr}}
}

// url returns the URL of the stream named name, with an optional query.
func (s *server) url(name, query string) string {
	u := s.base + "/sse/" + name
	if query != "" {
		u += "?" + query
	}
	return u
}

// connect opens the stream at url, failing the case on error.
func (s *server) connect(url string, header http.Header) *Stream {
	s.c.Helper()
	st, err := Connect(s.c.ctx, s.http, url, header)
	if err != nil {
		s.c.Fatalf("connect: %v", err)
	}
	s.c.Cleanup(func() { st.Close() })
	return st
}

// do sends a plain request and returns the response with its body read.
func (s *server) do(method, url string, header http.Header, body string) (*http.Response, []byte) {
	s.c.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(s.c.ctx, method, url, rd)
	if err != nil {
		s.c.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := s.http.Do(req)
	if err != nil {
		s.c.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.c.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp, b
}

// next returns the next event of st, failing the case if none arrives within d.
func (c *caseT) next(st *Stream, d time.Duration) Event {
	c.Helper()
	ev, err := c.nextErr(st, d)
	if err != nil {
		c.Fatalf("waiting for an event: %v", err)
	}
	return ev
}

// nextErr is next, returning the error (io.EOF at a clean end).
func (c *caseT) nextErr(st *Stream, d time.Duration) (Event, error) {
	type result struct {
		ev  Event
		err error
	}
	ch := make(chan result, 1)
	go func() {
		ev, err := st.Next()
		ch <- result{ev, err}
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case r := <-ch:
		return r.ev, r.err
	case <-timer.C:
	case <-c.ctx.Done():
	}
	st.Close() // unblocks the reader; the stream is unusable from here
	<-ch
	return Event{}, fmt.Errorf("no event within %v", d)
}

// rawConn is a raw TCP connection to a server, for cases that need control
// of the bytes or of how the connection ends.
type rawConn struct {
	*net.TCPConn
	r *bufio.Reader
}

// dial opens a raw connection to s, closed by the watchdog or at cleanup.
func (s *server) dial() *rawConn {
	s.c.Helper()
	host := strings.TrimPrefix(s.base, "http://")
	var d net.Dialer
	conn, err := d.DialContext(s.c.ctx, "tcp", host)
	if err != nil {
		s.c.Fatalf("dial: %v", err)
	}
	stop := context.AfterFunc(s.c.ctx, func() { conn.Close() })
	s.c.Cleanup(func() { stop(); conn.Close() })
	return &rawConn{TCPConn: conn.(*net.TCPConn), r: bufio.NewReader(conn)}
}

// request writes a raw HTTP request for path on rc.
func (rc *rawConn) request(c *caseT, method, path, proto string, header http.Header, body string) {
	c.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\r\nHost: %s\r\n", method, path, proto, rc.RemoteAddr())
	for k, vs := range header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	if _, err := rc.Write([]byte(b.String())); err != nil {
		c.Fatalf("writing request: %v", err)
	}
}

// response reads a response head from rc, failing within d.
func (rc *rawConn) response(c *caseT, method string, d time.Duration) *http.Response {
	c.Helper()
	rc.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(rc.r, &http.Request{Method: method})
	if err != nil {
		c.Fatalf("reading response head: %v", err)
	}
	rc.SetReadDeadline(time.Time{})
	return resp
}

// recorder collects what the endpoint's hooks see.
type recorder struct {
	mu     sync.Mutex
	opens  int
	closes []closeRecord
	closed chan closeRecord // receives every close, buffered
}

// closeRecord is what OnClose received.
type closeRecord struct {
	Info    lifecycle.CloseInfo
	Request *lifecycle.Request
	Ctx     context.Context
}

func newRecorder() *recorder { return &recorder{closed: make(chan closeRecord, 1024)} }

// hook installs the recorder's hooks into opts.
func (r *recorder) hook(opts lifecycle.Options) lifecycle.Options {
	opts.OnOpen = func(*lifecycle.Session) {
		r.mu.Lock()
		r.opens++
		r.mu.Unlock()
	}
	opts.OnClose = func(s *lifecycle.Session, info lifecycle.CloseInfo) {
		rec := closeRecord{Info: info, Request: s.Request(), Ctx: s.Context()}
		r.mu.Lock()
		r.closes = append(r.closes, rec)
		r.mu.Unlock()
		r.closed <- rec
	}
	return opts
}

// waitClose returns the next session end, failing the case after d.
func (r *recorder) waitClose(c *caseT, d time.Duration) closeRecord {
	c.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case rec := <-r.closed:
		return rec
	case <-timer.C:
		c.Fatalf("no session ended within %v", d)
	case <-c.ctx.Done():
		c.Fatalf("no session ended before the watchdog fired")
	}
	panic("unreachable")
}

// counts returns how often the hooks have fired.
func (r *recorder) counts() (opens, closes int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.opens, len(r.closes)
}

// wantReason fails the case unless err matches want.
func (c *caseT) wantReason(err, want error) {
	c.Helper()
	if !errors.Is(err, want) {
		c.Errorf("close reason = %v, want one matching %v", err, want)
	}
}

// waitFor receives from ch, failing the case after d.
func waitFor[T any](c *caseT, ch <-chan T, d time.Duration, what string) T {
	c.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		c.Fatalf("%s: nothing within %v", what, d)
	case <-c.ctx.Done():
		c.Fatalf("%s: the watchdog fired", what)
	}
	panic("unreachable")
}
