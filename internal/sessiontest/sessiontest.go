// Package sessiontest holds the helpers the adapters' tests share: a
// recorder of how sessions end, and log capture safe for the goroutines
// servers log from.
package sessiontest

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/internal/syncbuf"
	"github.com/ssekit/ssekit/lifecycle"
)

// Ends receives the CloseInfo of every session ended on an endpoint whose
// options went through Hook. It is buffered, so len reports how many ended
// and have not been received yet.
type Ends chan lifecycle.CloseInfo

// NewEnds returns an empty Ends.
func NewEnds() Ends { return make(Ends, 1024) }

// Hook returns o with an OnClose that records into e.
func (e Ends) Hook(o lifecycle.Options) lifecycle.Options {
	o.OnClose = func(_ *lifecycle.Session, ci lifecycle.CloseInfo) { e <- ci }
	return o
}

// Next returns the next session end, failing t if none comes within d.
func (e Ends) Next(t testing.TB, d time.Duration) lifecycle.CloseInfo {
	t.Helper()
	select {
	case ci := <-e:
		return ci
	case <-time.After(d):
		t.Fatalf("no session ended within %v", d)
	}
	panic("unreachable")
}

// Want fails t unless the next session end, within 2 s, matches reason.
func (e Ends) Want(t testing.TB, reason error) {
	t.Helper()
	if ci := e.Next(t, 2*time.Second); !errors.Is(ci.Reason, reason) {
		t.Errorf("session ended with %v, want %v", ci.Reason, reason)
	}
}

// Buffer is a bytes.Buffer safe for concurrent use, for loggers.
type Buffer = syncbuf.Buffer

// ErrorLog is a slog.Handler that keeps error records, with their
// attributes, as text: give slog.New(&log) to Options.Logger.
type ErrorLog struct{ Buffer }

func (l *ErrorLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *ErrorLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *ErrorLog) WithGroup(string) slog.Handler            { return l }

func (l *ErrorLog) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelError {
		return nil
	}
	var line bytes.Buffer
	line.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&line, " %s=%v", a.Key, a.Value); return true })
	line.WriteByte('\n')
	l.Write(line.Bytes())
	return nil
}

// Get sends a GET for url with header, reading nothing yet. The response
// body is raw (no transparent decompression), the request is bounded by 5 s,
// and everything is closed at cleanup.
func Get(t testing.TB, url string, header http.Header) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	for k, vs := range header {
		req.Header[k] = vs
	}
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// FirstEvent returns the data of resp's first event, decoding a gzip or
// deflate body, and fails t if it does not arrive within Get's bound: a
// middleware buffering the stream would hold it back.
func FirstEvent(t testing.TB, resp *http.Response) string {
	t.Helper()
	var body io.Reader = resp.Body
	switch resp.Header.Get("Content-Encoding") {
	case "gzip":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatalf("gzip stream: %v", err)
		}
		body = zr
	case "deflate":
		body = flate.NewReader(resp.Body)
	}
	ev, err := conformance.NewParser(body).Next()
	if err != nil {
		t.Fatalf("first event: %v (a middleware held the stream back?)", err)
	}
	return ev.Data
}

// WithValues is net/http middleware that attaches values to every request's
// context, as an authentication middleware attaches the user: the idiom
// conformance.ServerConfig.Values asks a net/http or chi harness to use.
func WithValues(values map[string]any, next http.Handler) http.Handler {
	if values == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		for k, v := range values {
			//lint:ignore SA1029 the string key is what the suite asks for
			ctx = context.WithValue(ctx, k, v)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
