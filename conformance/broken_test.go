package conformance_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/internal/stdhttp"
	"github.com/ssekit/ssekit/lifecycle"
)

// A suite that was never seen failing proves nothing (testing/fstest runs its
// checks against broken file systems for the same reason). Each broken
// adapter below gets one thing wrong; the suite must fail it, on the case
// that checks that thing, while a correct adapter passes the same cases.

const brokenEnv = "SSEKIT_CONFORMANCE_BROKEN"

var brokenAdapters = []struct {
	kind   string
	caught []string // cases that must fail
}{
	{"no-flush", []string{"events-flushed-promptly", "headers-before-first-event"}},
	{"no-disconnect", []string{"client-close-while-idle", "client-reset-while-idle"}},
	{"late-headers", []string{"headers-before-first-event"}},
	{"interleaved-writes", []string{"concurrent-senders"}},
	{"no-server-timeouts", []string{"server-read-timeout-no-false-end"}},
	{"no-write-timeout", []string{"server-write-timeout-no-cut"}},
}

func TestSuiteCatchesBrokenAdapters(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the suite in child processes; not in -short")
	}
	for _, b := range brokenAdapters {
		for _, name := range b.caught {
			t.Run(b.kind+"/"+name, func(t *testing.T) {
				t.Parallel()
				out, err := runChild(t, b.kind, name)
				if err == nil {
					t.Fatalf("the suite passed the %s adapter on %s; it must fail it:\n%s", b.kind, name, out)
				}
				if !strings.Contains(out, "--- FAIL: TestBrokenAdapterChild/"+name) || !strings.Contains(out, "rule: ") {
					t.Fatalf("the %s adapter failed, but not on %s with its rule:\n%s", b.kind, name, out)
				}
			})
			t.Run("correct/"+name, func(t *testing.T) {
				t.Parallel()
				if out, err := runChild(t, "correct", name); err != nil {
					t.Fatalf("the correct adapter failed %s, so the broken one's failure proves nothing: %v\n%s", name, err, out)
				}
			})
		}
	}
}

// runChild runs TestBrokenAdapterChild for one case in a new process.
func runChild(t *testing.T, kind, name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestBrokenAdapterChild$/^"+name+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), brokenEnv+"="+kind)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestBrokenAdapterChild runs the suite against the adapter named by the
// environment. It is the child process of TestSuiteCatchesBrokenAdapters.
func TestBrokenAdapterChild(t *testing.T) {
	kind := os.Getenv(brokenEnv)
	if kind == "" {
		t.Skip("helper process of TestSuiteCatchesBrokenAdapters")
	}
	conformance.Run(t, conformance.Harness{Start: func(t *testing.T, ep *lifecycle.Endpoint, route string, cfg conformance.ServerConfig) string {
		return startBroken(t, ep, route, kind, cfg)
	}})
}

// startBroken serves ep on net/http through a transport broken as kind says.
func startBroken(t *testing.T, ep *lifecycle.Endpoint, route, kind string, cfg conformance.ServerConfig) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(route, func(w http.ResponseWriter, r *http.Request) {
		body, err := stdhttp.ReadBody(r, ep.Options().MaxBodySize)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ctx := r.Context()
		var tr lifecycle.Transport = stdhttp.NewTransport(w, w)
		var pending *sync.WaitGroup
		switch kind {
		case "no-flush":
			tr = noFlush{tr}
		case "no-disconnect":
			ctx = context.WithoutCancel(ctx)
		case "late-headers":
			tr = &lateHeaders{Transport: tr}
		case "interleaved-writes":
			iw := &interleaved{Transport: tr}
			pending, tr = &iw.pending, iw
		}
		params := []lifecycle.Param{{Name: "name", Value: r.PathValue("name")}}
		ep.Serve(ctx, tr, stdhttp.NewRequest(r, params, body))
		if pending != nil {
			pending.Wait() // no write may outlive the handler
		}
	})
	srv := &http.Server{Handler: mux, ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout}
	if kind == "no-server-timeouts" { // a harness that ignores ServerConfig's timeouts
		srv.ReadTimeout, srv.WriteTimeout = 0, 0
	}
	if kind == "no-write-timeout" { // one that ignores only the write timeout
		srv.WriteTimeout = 0
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// noFlush claims to flush but leaves bytes in net/http's buffer.
type noFlush struct{ lifecycle.Transport }

func (noFlush) Flush() error { return nil }

// lateHeaders holds the status and headers back until the first body write.
type lateHeaders struct {
	lifecycle.Transport
	status int
	header http.Header
}

func (l *lateHeaders) WriteHeader(status int, h http.Header) error {
	l.status, l.header = status, h
	return nil
}

func (l *lateHeaders) Write(p []byte) (int, error) {
	if l.header != nil {
		if err := l.Transport.WriteHeader(l.status, l.header); err != nil {
			return 0, err
		}
		l.header = nil
	}
	return l.Transport.Write(p)
}

func (l *lateHeaders) Flush() error {
	if l.header != nil {
		return nil // nothing written yet, so "nothing to flush"
	}
	return l.Transport.Flush()
}

// interleaved writes each buffer asynchronously in pieces, so the pieces of
// successive writes mix on the wire. It is free of data races (every use of
// the underlying transport holds mu); only the byte order is wrong.
type interleaved struct {
	lifecycle.Transport
	mu      sync.Mutex
	pending sync.WaitGroup
}

func (iw *interleaved) Write(p []byte) (int, error) {
	buf := append([]byte(nil), p...)
	iw.pending.Add(1)
	go func() {
		defer iw.pending.Done()
		for len(buf) > 0 {
			n := min(len(buf), 7)
			iw.mu.Lock()
			iw.Transport.Write(buf[:n])
			iw.mu.Unlock()
			buf = buf[n:]
			runtime.Gosched()
		}
	}()
	return len(p), nil
}

func (iw *interleaved) Flush() error {
	iw.mu.Lock()
	defer iw.mu.Unlock()
	return iw.Transport.Flush()
}

func (iw *interleaved) WriteHeader(status int, h http.Header) error {
	iw.mu.Lock()
	defer iw.mu.Unlock()
	return iw.Transport.WriteHeader(status, h)
}

func (iw *interleaved) SetWriteDeadline(d time.Time) error {
	iw.mu.Lock()
	defer iw.mu.Unlock()
	return iw.Transport.SetWriteDeadline(d)
}
