package fibertest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/internal/sessiontest"
	"github.com/ssekit/ssekit/lifecycle"
)

// Each test here turns on a fasthttp server setting that production apps
// use, and checks that streams neither break it nor are broken by it.

// routes mounts ep at /sse/:name and a plain route at /plain on a new app
// configured by cfg, serves it, and returns its address.
func routes(t *testing.T, f Framework, cfg Config, ep *lifecycle.Endpoint) string {
	t.Helper()
	return strings.TrimPrefix(startApp(t, f, f.New(cfg, Routes{SSE: ep})), "http://")
}

// exchange sends raw on a new connection to addr and returns the response
// (its body read in full, up to the server's close for a stream) and what
// followed it on the connection until the server closed it, if close.
func exchange(t testing.TB, addr, raw string, close bool) (resp *http.Response, body, after []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	method := strings.Fields(raw)[0]
	resp, err = http.ReadResponse(r, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%q: reading the response: %v", raw, err)
	}
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%q: reading the body: %v", raw, err)
	}
	if close {
		// A server refusing a connection (fasthttp's 503 and 429 over its
		// limits) may reset it, having not read the request.
		after, err = io.ReadAll(r)
		if err != nil && resp.StatusCode < 400 {
			t.Fatalf("%q: after the response: %v", raw, err)
		}
	}
	return resp, body, after
}

// settle waits up to 10 s for cond, failing t with what otherwise.
func settle(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("not within 10 s: %s\n%s", what, buf[:runtime.Stack(buf, true)])
		}
	}
}

// With MaxConnsPerIP, fasthttp wraps each connection in a pooled counter
// that it closes exactly once. HEAD requests, streams that end, and streams
// refused over a cap, each followed by the client closing, while other
// connections are being accepted, must not close it twice (a nil pointer
// crash in the old design) nor leave the IP's count behind (an unsolicited
// 429 later).
func testMaxConnsPerIPUnderChurn(t *testing.T, f Framework) {
	iterations := 2000
	if testing.Short() {
		iterations = 500
	}
	hold := make(chan struct{})
	defer close(hold)
	ep := lifecycle.NewEndpoint(holdOrSendOne(hold), lifecycle.Options{Heartbeat: -1, MaxSessions: 2})
	app := f.New(Config{}, Routes{SSE: ep})
	app.Server().MaxConnsPerIP = 8
	addr := strings.TrimPrefix(startApp(t, f, app), "http://")
	drainBeforeShutdown(t, app)

	held, _, _ := openHeld(t, addr) // one place of MaxSessions taken for good
	defer held.Close()

	stop := make(chan struct{})
	var churn sync.WaitGroup
	for range 2 { // connections accepted and closed all along
		churn.Add(1)
		go func() {
			defer churn.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if c, err := net.Dial("tcp", addr); err == nil {
					c.Close()
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	defer func() { close(stop); churn.Wait() }()

	requests := []struct{ raw, want string }{
		{"HEAD /sse/h HTTP/1.1\r\nHost: x\r\n\r\n", "200"},
		{"GET /sse/e HTTP/1.1\r\nHost: x\r\n\r\n", "200"},
		{"GET /sse/e HTTP/1.0\r\n\r\n", "200"},
	}
	for i := range iterations {
		rq := requests[i%len(requests)]
		// fasthttp releases an IP's place just after closing the
		// connection, and the churners hold places too: a 429 may come
		// and go. One that lasts a second is a count left behind.
		var resp *http.Response
		var body []byte
		for deadline := time.Now().Add(time.Second); ; time.Sleep(time.Millisecond) {
			resp, body, _ = exchange(t, addr, rq.raw, false)
			if resp.StatusCode != http.StatusTooManyRequests {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("iteration %d: 429 for a second: the IP's connection count was left behind", i)
			}
		}
		if rq.raw[0] == 'G' && resp.StatusCode == http.StatusOK && !strings.Contains(string(body), "data: one") {
			t.Fatalf("iteration %d: %q: body %q", i, rq.raw, body)
		}
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("iteration %d: %q: status %d", i, rq.raw, resp.StatusCode)
		}
	}
	// MaxSessions 2 with one held: two streams at once, one is refused.
	a, _, _ := openHeld(t, addr)
	resp, _, _ := exchange(t, addr, "GET /sse/x HTTP/1.1\r\nHost: x\r\n\r\n", false)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("over MaxSessions: %d, want 503", resp.StatusCode)
	}
	a.Close()
}

// drainBeforeShutdown makes t's cleanup wait, once the test has closed its
// connections and before startApp's shutdown of app (registered earlier, so
// run later), until app serves no connection; one still served after 10 s
// fails t.
//
// With MaxConnsPerIP, fasthttp v1.74.0's Shutdown closes a kept-alive
// connection that waits for its next request through the per-IP wrapper
// while the goroutine serving it reads through that wrapper: a data race in
// fasthttp (reported by -race on every such shutdown; fixed in v1.76.0,
// which needs go 1.26), which these tests met when a client's close had not
// yet been served (under load, after a HEAD or a refusal kept alive).
func drainBeforeShutdown(t *testing.T, app App) {
	t.Cleanup(func() {
		settle(t, "every connection served to its end before shutdown", func() bool {
			return app.Server().GetOpenConnectionsCount() == 0
		})
	})
}

// holdOrSendOne serves /sse/hold until hold is closed or the session ends,
// and any other stream with one event.
func holdOrSendOne(hold <-chan struct{}) lifecycle.Handler {
	return func(s *lifecycle.Session) error {
		if s.Request().Param("name") == "hold" {
			s.Send(lifecycle.Event{Data: []byte("held")})
			select {
			case <-hold:
			case <-s.Done():
			}
			return nil
		}
		return s.Send(lifecycle.Event{Data: []byte("one")})
	}
}

// openHeld opens /sse/hold on a raw connection and reads its first event.
//
// fasthttp releases a connection's place in its limits (Concurrency,
// MaxConnsPerIP) just after closing it, so a connection opened right after
// another closed may be refused for a moment: a 503 or 429 is retried for
// up to a second.
func openHeld(t testing.TB, addr string) (net.Conn, *http.Response, *bufio.Reader) {
	t.Helper()
	var conn net.Conn
	var r *bufio.Reader
	var resp *http.Response
	for deadline := time.Now().Add(time.Second); ; time.Sleep(time.Millisecond) {
		var err error
		conn, err = net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(conn, "GET /sse/hold HTTP/1.1\r\nHost: x\r\n\r\n")
		r = bufio.NewReader(conn)
		resp, err = http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		transient := resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests
		if !transient || time.Now().After(deadline) {
			break
		}
		conn.Close()
	}
	if _, err := conformance.NewParser(resp.Body).Next(); err != nil {
		t.Fatalf("held stream: %v", err)
	}
	conn.SetDeadline(time.Time{})
	return conn, resp, r
}

// With MaxConnsPerIP 1, a client whose stream ended can open the next one:
// the stream's connection is counted once and released once. (fasthttp
// releases the count just after closing, so a client that dials again at
// once may meet its own closing connection's place: a 429 is retried for up
// to a second, never more.)
func testMaxConnsPerIPOne(t *testing.T, f Framework) {
	ep := lifecycle.NewEndpoint(SendN(1), lifecycle.Options{Heartbeat: -1})
	app := f.New(Config{}, Routes{SSE: ep})
	app.Server().MaxConnsPerIP = 1
	addr := strings.TrimPrefix(startApp(t, f, app), "http://")
	drainBeforeShutdown(t, app)
	for i := range 50 {
		deadline := time.Now().Add(time.Second)
		for {
			resp, body, _ := exchange(t, addr, "GET /sse/one HTTP/1.1\r\nHost: x\r\n\r\n", false)
			if resp.StatusCode == http.StatusTooManyRequests && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
				continue
			}
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "data: one") {
				t.Fatalf("stream %d: %d %q", i, resp.StatusCode, body)
			}
			break
		}
	}
}

// With Concurrency 2, a stream counts as one served connection while it
// runs, and nothing once over: 100 streams one after another never get
// fasthttp's 503, and two open streams do fill the server.
func testConcurrencyCountsAStreamOnce(t *testing.T, f Framework) {
	hold := make(chan struct{})
	defer close(hold)
	ep := lifecycle.NewEndpoint(holdOrSendOne(hold), lifecycle.Options{Heartbeat: -1})
	app := f.New(Config{Concurrency: 2}, Routes{SSE: ep})
	addr := strings.TrimPrefix(startApp(t, f, app), "http://")
	for i := range 100 {
		raw := "GET /sse/e HTTP/1.1\r\nHost: x\r\n\r\n"
		if i%4 == 3 {
			raw = "GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
		}
		// As in openHeld, the previous connection's place may still be
		// taken for a moment: a 503 that lasts a second is a leak.
		resp, _, after := exchange(t, addr, raw, true)
		for deadline := time.Now().Add(time.Second); resp.StatusCode == http.StatusServiceUnavailable && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
			resp, _, after = exchange(t, addr, raw, true)
		}
		if resp.StatusCode != http.StatusOK || len(after) != 0 {
			t.Fatalf("request %d (%q): %d, then %q", i, raw, resp.StatusCode, after)
		}
	}
	a, _, _ := openHeld(t, addr)
	defer a.Close()
	b, _, _ := openHeld(t, addr)
	defer b.Close()
	resp, _, _ := exchange(t, addr, "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n", false)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a third connection with two streams open under Concurrency 2: %d, want fasthttp's 503", resp.StatusCode)
	}
}

// A ConnState gauge (+1 on StateNew, -1 on StateClosed or StateHijacked)
// sees every connection arrive once and leave once, streams included.
func testConnStateGaugeEndsAtZero(t *testing.T, f Framework) {
	var gauge, news atomic.Int64
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		if s.Request().Param("name") == "wait" {
			return Hello(s)
		}
		return s.Send(lifecycle.Event{Data: []byte("hello")})
	}, lifecycle.Options{Heartbeat: -1})
	app := f.New(Config{}, Routes{SSE: ep})
	app.Server().ConnState = func(_ net.Conn, st fasthttp.ConnState) {
		switch st {
		case fasthttp.StateNew:
			gauge.Add(1)
			news.Add(1)
		case fasthttp.StateClosed, fasthttp.StateHijacked:
			gauge.Add(-1)
		}
	}
	addr := strings.TrimPrefix(startApp(t, f, app), "http://")
	client := RawClient(t)
	for i := range 30 {
		switch i % 5 {
		case 0: // a stream that ends, over keep-alive
			resp, err := client.Get("http://" + addr + "/sse/end")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		case 1: // a stream the client leaves
			st := Stream(t, "http://"+addr+"/sse/wait", nil)
			st.Close()
		case 2: // HEAD and a plain request on one connection
			exchange(t, addr, "HEAD /sse/h HTTP/1.1\r\nHost: x\r\n\r\n", false)
			exchange(t, addr, "GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", true)
		case 3:
			exchange(t, addr, "GET /sse/e HTTP/1.0\r\n\r\n", true)
		case 4:
			resp, err := client.Get("http://" + addr + "/plain")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	client.CloseIdleConnections()
	settle(t, "the ConnState gauge back to 0", func() bool { return gauge.Load() == 0 })
	if news.Load() == 0 {
		t.Error("no StateNew seen")
	}
}

// Over TLS the request stays a TLS request for the middleware in front of
// the stream, every time: HSTS is sent (see Routes.HSTSMaxAge), and the
// client certificate middleware reads (mTLS) reaches the session through
// Locals.
func testTLSStateSeenByMiddleware(t *testing.T, f Framework) {
	certSrv := httptest.NewUnstartedServer(nil) // for its certificate and trusting client
	certSrv.StartTLS()
	tlsConfig, client := certSrv.TLS.Clone(), certSrv.Client()
	certSrv.Close()
	defer client.CloseIdleConnections()
	tlsConfig.ClientAuth = tls.RequireAnyClientCert
	client.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{clientCert(t, "alice")}

	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		cn, _ := s.Context().Value("cn").(string)
		return s.Send(lifecycle.Event{Data: []byte("cn=" + cn)})
	}, lifecycle.Options{Heartbeat: -1})
	app := f.New(Config{}, Routes{SSE: ep, HSTSMaxAge: 3600, Use: []Middleware{func(c Ctx) bool {
		if st := c.Request.TLSConnectionState(); st != nil && len(st.PeerCertificates) > 0 {
			c.Locals("cn", st.PeerCertificates[0].Subject.CommonName)
		}
		return true
	}}})
	base := startTLSApp(t, f, app, tlsConfig)
	for i := range 3 {
		resp, err := client.Get(base + "/sse/a")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !strings.Contains(string(body), "data: cn=alice") {
			t.Errorf("stream %d: body %q, %v; want the client certificate's name", i, body, err)
		}
		if resp.Header.Get("Strict-Transport-Security") == "" {
			t.Errorf("stream %d: no HSTS header: the middleware did not see HTTPS", i)
		}
	}
}

// clientCert returns a self-signed client certificate named cn.
func clientCert(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// ReadTimeout and IdleTimeout bound waiting for a request, never a stream
// that outlives them; after a stream ends the connection closes, with no
// unsolicited 408.
func testReadAndIdleTimeoutsLeaveStreamsAlone(t *testing.T, f Framework) {
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		select {
		case <-time.After(800 * time.Millisecond):
		case <-s.Done():
			return nil
		}
		return s.Send(lifecycle.Event{Data: []byte("late")})
	}, lifecycle.Options{Heartbeat: -1})
	addr := routes(t, f, Config{ReadTimeout: 200 * time.Millisecond, IdleTimeout: 200 * time.Millisecond}, ep)
	for _, raw := range []string{"GET /sse/a HTTP/1.1\r\nHost: x\r\n\r\n", "GET /sse/a HTTP/1.0\r\n\r\n"} {
		resp, body, after := exchange(t, addr, raw, true)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "data: late") {
			t.Errorf("%q: %d %q: the stream was cut", raw, resp.StatusCode, body)
		}
		if len(after) != 0 {
			t.Errorf("%q: after the stream: %q, want nothing (no 408)", raw, after)
		}
	}
}

// WriteTimeout bounds fasthttp's own responses; the stream bounds each of
// its writes by Options.WriteTimeout instead, so it outlives the server's.
func testWriteTimeoutLeavesStreamsAlone(t *testing.T, f Framework) {
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		for i := range 3 {
			time.Sleep(300 * time.Millisecond)
			if err := s.Send(lifecycle.Event{Data: []byte(fmt.Sprint("tick ", i))}); err != nil {
				return err
			}
		}
		return nil
	}, lifecycle.Options{Heartbeat: -1})
	addr := routes(t, f, Config{WriteTimeout: 200 * time.Millisecond}, ep)
	_, body, _ := exchange(t, addr, "GET /sse/a HTTP/1.1\r\nHost: x\r\n\r\n", true)
	if !strings.Contains(string(body), "data: tick 2") {
		t.Errorf("body %q: the server's WriteTimeout cut the stream", body)
	}
}

// ReduceMemoryUsage and DisableKeepalive change how fasthttp holds its
// buffers and connections; streams still open, end and notice the client.
func testReduceMemoryUsageAndDisableKeepalive(t *testing.T, f Framework) {
	for name, cfg := range map[string]Config{
		"ReduceMemoryUsage": {ReduceMemoryUsage: true},
		"DisableKeepalive":  {DisableKeepalive: true},
	} {
		t.Run(name, func(t *testing.T) {
			ended := sessiontest.NewEnds()
			ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
				if s.Request().Param("name") == "wait" {
					return Hello(s)
				}
				return SendN(2)(s)
			}, ended.Hook(lifecycle.Options{Heartbeat: -1}))
			addr := routes(t, f, cfg, ep)
			for range 3 {
				_, body, after := exchange(t, addr, "GET /sse/a HTTP/1.1\r\nHost: x\r\n\r\n", true)
				if strings.Count(string(body), "data: a") != 2 || len(after) != 0 {
					t.Errorf("body %q, then %q; want two events and the close", body, after)
				}
				ended.Want(t, lifecycle.ErrHandlerReturned)
			}
			resp, body, _ := exchange(t, addr, "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n", false)
			if resp.StatusCode != http.StatusOK || string(body) != "plain" {
				t.Errorf("plain: %d %q", resp.StatusCode, body)
			}
			Stream(t, "http://"+addr+"/sse/wait", nil).Close()
			ended.Want(t, lifecycle.ErrClientGone)
		})
	}
}

// With KeepHijackedConns fasthttp leaves closing a hijacked connection to
// the hijack handler: the stream's connection is still closed when the
// stream ends (an HTTP/1.0 client sees the end), and when the client
// leaves, its socket is not left open.
func testKeepHijackedConns(t *testing.T, f Framework) {
	ended := sessiontest.NewEnds()
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		if s.Request().Param("name") == "wait" {
			return Hello(s)
		}
		return SendN(1)(s)
	}, ended.Hook(lifecycle.Options{Heartbeat: -1}))
	app := f.New(Config{}, Routes{SSE: ep})
	app.Server().KeepHijackedConns = true
	addr := strings.TrimPrefix(startApp(t, f, app), "http://")
	for _, raw := range []string{
		"GET /sse/a HTTP/1.0\r\n\r\n",
		"GET /sse/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"GET /sse/a HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		_, body, _ := exchange(t, addr, raw, true) // fails unless the server closes
		if !strings.Contains(string(body), "data: a") {
			t.Errorf("%q: body %q", raw, body)
		}
		ended.Want(t, lifecycle.ErrHandlerReturned)
	}
	fds := openFiles()
	for range 20 {
		st := Stream(t, "http://"+addr+"/sse/wait", nil)
		st.Close()
		ended.Want(t, lifecycle.ErrClientGone)
	}
	settle(t, "the streams' sockets closed", func() bool { return openFiles() <= fds })
}

// openFiles counts this process's open file descriptors.
func openFiles() int {
	entries, _ := os.ReadDir("/proc/self/fd")
	return len(entries)
}

// With StreamRequestBody, a body over Options.MaxBodySize is refused by its
// Content-Length before it is read, and a chunked one as soon as it passes
// the limit: neither is held in memory.
func testStreamRequestBodyIsBounded(t *testing.T, f Framework) {
	ran := make(chan struct{}, 4)
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		ran <- struct{}{}
		return nil
	}, lifecycle.Options{Heartbeat: -1, MaxBodySize: 64 << 10})
	app := f.New(Config{StreamRequestBody: true, BodyLimit: 256 << 20}, Routes{SSE: ep})
	addr := strings.TrimPrefix(startApp(t, f, app), "http://")

	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	chunk := strings.Repeat("x", 32<<10)
	for _, chunked := range []bool{false, true} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if chunked {
			io.WriteString(conn, "POST /sse/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
		} else {
			io.WriteString(conn, fmt.Sprintf("POST /sse/a HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 128<<20))
		}
		// Send up to 16 MiB, concurrently with reading the answer, which
		// must come long before the 128 MiB.
		go func() {
			for range 512 {
				var err error
				if chunked {
					_, err = fmt.Fprintf(conn, "%x\r\n%s\r\n", len(chunk), chunk)
				} else {
					_, err = io.WriteString(conn, chunk)
				}
				if err != nil {
					return
				}
			}
		}()
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		conn.Close()
		if err != nil {
			t.Fatalf("chunked=%v: %v", chunked, err)
		}
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("chunked=%v: status %d, want 413", chunked, resp.StatusCode)
		}
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Errorf("%d MiB allocated to refuse two bodies over a 64 KiB limit", grew>>20)
	}
	if len(ran) != 0 {
		t.Error("the handler ran for an oversized body")
	}
}

// With ProxyHeader, the session's address is the client's as Fiber reports
// it (c.IP()), so MaxSessionsPerKey counts clients, not the proxy.
func testProxyHeaderKeysSessionsByClient(t *testing.T, f Framework) {
	addrs := make(chan string, 4)
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		addrs <- s.Request().RemoteAddr
		return Hello(s)
	}, lifecycle.Options{Heartbeat: -1, MaxSessionsPerKey: 1})
	addr := routes(t, f, Config{ProxyHeader: "X-Forwarded-For"}, ep)
	base := "http://" + addr
	Stream(t, base+"/sse/a", http.Header{"X-Forwarded-For": {"203.0.113.1"}})
	if got := <-addrs; got != "203.0.113.1" {
		t.Errorf("RemoteAddr %q, want the forwarded client", got)
	}
	Stream(t, base+"/sse/b", http.Header{"X-Forwarded-For": {"203.0.113.2"}}) // another client: admitted
	<-addrs
	resp := sessiontest.Get(t, base+"/sse/c", http.Header{"X-Forwarded-For": {"203.0.113.1"}})
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("second stream of one client behind the proxy: %d, want 503", resp.StatusCode)
	}
}

// Thousands of HEADs pipelined on one connection are answered in order, on
// that connection, with nothing left behind.
func testPipelinedHeads(t *testing.T, f Framework) {
	n := 5000
	if testing.Short() {
		n = 1000
	}
	ep := lifecycle.NewEndpoint(Hello, lifecycle.Options{Heartbeat: -1})
	addr := routes(t, f, Config{}, ep)
	base := runtime.NumGoroutine()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	go io.WriteString(conn, strings.Repeat("HEAD /sse/h HTTP/1.1\r\nHost: x\r\n\r\n", n))
	r := bufio.NewReader(conn)
	for i := range n {
		resp, err := http.ReadResponse(r, &http.Request{Method: http.MethodHead})
		if err != nil {
			t.Fatalf("HEAD %d: %v", i, err)
		}
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" || resp.Close {
			t.Fatalf("HEAD %d: %d %v close=%v", i, resp.StatusCode, resp.Header, resp.Close)
		}
	}
	// With the connection still open: one goroutine serves it, nothing
	// per HEAD (the old design left one goroutine per request, and more).
	// fasthttp's worker pool and the writer above come and go.
	settle(t, fmt.Sprintf("goroutines back to their level (%d) after the HEADs", base),
		func() bool { return runtime.NumGoroutine() <= base+3 })
}

// Fiber's handler served by a fasthttp.Server of the user's own that keeps
// hijacked connections: the stream's connection is still closed when the
// stream ends, by the server that actually serves it.
func testOwnServerWithKeepHijackedConns(t *testing.T, f Framework) {
	ep := lifecycle.NewEndpoint(SendN(2), lifecycle.Options{Heartbeat: -1})
	app := f.New(Config{}, Routes{SSE: ep})
	srv := &fasthttp.Server{Handler: app.Handler(), KeepHijackedConns: true, MaxIdleWorkerDuration: 50 * time.Millisecond}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(ln) }()
	defer func() { srv.Shutdown(); <-served }()
	fds := openFiles()
	for range 20 {
		_, body, _ := exchange(t, ln.Addr().String(), "GET /sse/k HTTP/1.1\r\nHost: x\r\n\r\n", true) // fails unless the server closes
		if strings.Count(string(body), "data: k") != 2 {
			t.Fatalf("body %q", body)
		}
	}
	settle(t, "the streams' sockets closed", func() bool { return openFiles() <= fds+1 })
}

// With ProxyHeader, only a header value that is one IP address becomes the
// session's address; a missing header, a list or garbage leaves the peer's,
// so no client chooses its own MaxSessionsPerKey key with made-up text.
func testProxyHeaderOnlyTakesAnAddress(t *testing.T, f Framework) {
	got := make(chan string, 1)
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		got <- s.Request().RemoteAddr
		return nil
	}, lifecycle.Options{Heartbeat: -1})
	addr := routes(t, f, Config{ProxyHeader: "X-Forwarded-For"}, ep)
	for xff, want := range map[string]string{
		"":                 "127.0.0.1:",
		"1.1.1.1, 9.9.9.9": "127.0.0.1:",
		"not-an-ip":        "127.0.0.1:",
		" 2001:db8::1 ":    "2001:db8::1",
		"198.51.100.7":     "198.51.100.7",
	} {
		raw := "GET /sse/a HTTP/1.1\r\nHost: x\r\n"
		if xff != "" {
			raw += "X-Forwarded-For: " + xff + "\r\n"
		}
		exchange(t, addr, raw+"\r\n", true)
		if a := <-got; !strings.HasPrefix(a, want) || (want == "127.0.0.1:" && len(a) == len(want)) {
			t.Errorf("X-Forwarded-For %q: RemoteAddr %q, want %q", xff, a, want)
		}
	}
}

// HEAD gets the headers a GET would, on HTTP/1.0 too, where a stream is
// close-delimited: no Transfer-Encoding toward an HTTP/1.0 client.
func testHeadMatchesGet(t *testing.T, f Framework) {
	ep := lifecycle.NewEndpoint(SendN(1), lifecycle.Options{Heartbeat: -1})
	addr := routes(t, f, Config{}, ep)
	for _, proto := range []string{"HTTP/1.0", "HTTP/1.1"} {
		get, _, _ := exchange(t, addr, "GET /sse/a "+proto+"\r\nHost: x\r\n\r\n", false)
		head, _, _ := exchange(t, addr, "HEAD /sse/a "+proto+"\r\nHost: x\r\n\r\n", false)
		if g, h := get.TransferEncoding, head.TransferEncoding; fmt.Sprint(g) != fmt.Sprint(h) {
			t.Errorf("%s: Transfer-Encoding GET %v, HEAD %v", proto, g, h)
		}
		if head.StatusCode != http.StatusOK || head.Header.Get("Content-Type") != "text/event-stream" {
			t.Errorf("%s HEAD: %d %v", proto, head.StatusCode, head.Header)
		}
	}
}

// A client that sends more than the watcher will read and drop (64 KiB of
// requests a stream's connection never answers) is ended, rather than
// left unwatched: leaving afterwards is still noticed at once.
func testClientSendingTooMuchIsEnded(t *testing.T, f Framework) {
	ended := sessiontest.NewEnds()
	ep := lifecycle.NewEndpoint(Hello, ended.Hook(lifecycle.Options{Heartbeat: -1}))
	addr := routes(t, f, Config{}, ep)
	for _, n := range []int{1 << 10, 70 << 10} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(conn, "GET /sse/z HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conformance.NewParser(resp.Body).Next(); err != nil {
			t.Fatal(err)
		}
		go conn.Write(make([]byte, n))
		if n > 64<<10 {
			if ci := ended.Next(t, 5*time.Second); !errors.Is(ci.Reason, lifecycle.ErrClientGone) {
				t.Errorf("%d bytes: reason %v, want ErrClientGone", n, ci.Reason)
			}
			conn.Close()
			continue
		}
		time.Sleep(100 * time.Millisecond)
		if len(ended) != 0 {
			t.Fatalf("%d bytes from the client ended the session: %v", n, (<-ended).Reason)
		}
		conn.Close()
		ended.Want(t, lifecycle.ErrClientGone)
	}
}
