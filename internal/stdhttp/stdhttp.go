// Package stdhttp holds what the adapters for net/http-based frameworks
// (net/http, chi, Echo v4 and v5, Gin) share: the Transport over an
// http.ResponseWriter, the copy of an *http.Request into a
// lifecycle.Request, the checks of the writers middleware wrapped the
// response in, and the context that also finds a framework's per-request
// values.
package stdhttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sync"
	"time"

	"github.com/ssekit/ssekit/lifecycle"
)

// Serve runs ep for one request, writing the response to w and flushing it
// through flushVia (usually w itself; see NewTransport). It refuses with 500
// a response that cannot be flushed, reads the body (answering 413 above the
// endpoint's MaxBodySize), copies the request, and serves the stream, with
// the request's context as the disconnect signal. It returns the error of
// reading the body, which it has not answered, so that a framework can (for
// example, echo's BodyLimit middleware fails the read with its own 413).
func Serve(ep *lifecycle.Endpoint, w, flushVia http.ResponseWriter, r *http.Request, params []lifecycle.Param) error {
	t, req, err := prepare(ep, w, flushVia, r, params)
	if t == nil {
		return err
	}
	// Once the body is consumed, net/http watches the connection in the
	// background (clearing the ReadTimeout deadline first) and cancels the
	// request context when the client goes: that is the disconnect signal.
	ep.Serve(r.Context(), t, req)
	return nil
}

// prepare does Serve's checks and reads the body; a nil Transport means the
// request is answered (or its body could not be read: err). It is not
// inlined so that its locals (about 1 KiB of frame) are not on the stack of
// every idle stream: under a deep framework (Gin) they pushed the
// goroutine's stack past 8 KiB, doubling it for as long as the stream lasts.
//
//go:noinline
func prepare(ep *lifecycle.Endpoint, w, flushVia http.ResponseWriter, r *http.Request, params []lifecycle.Param) (*Transport, *lifecycle.Request, error) {
	if !CanFlush(flushVia) {
		// A middleware wrapped the response in a writer that buffers it
		// (http.TimeoutHandler is one): a stream would never arrive. Say so
		// before anything is committed, instead of a silent empty 200.
		ep.Options().Logger.Error("sse: the response writer cannot flush, so events cannot stream; "+
			"a middleware in front of this route buffers the response", "path", r.URL.Path, "writer", fmt.Sprintf("%T", flushVia))
		http.Error(w, Unstreamable, http.StatusInternalServerError)
		return nil, nil, nil
	}
	body, err := ReadBody(r, ep.Options().MaxBodySize)
	if errors.Is(err, errTooLarge) {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return NewTransport(w, flushVia), NewRequest(r, params, body), nil
}

// CanFlush reports whether w, or a writer it wraps (through Unwrap), can
// flush, and whether the writer at the bottom of w's chain of wrappers (see
// Under), the server's own, can too: a framework's writer that flushes the
// one under it when it can does nothing when it cannot (Gin's), or panics
// (Echo's), and http.TimeoutHandler's writer under it cannot. It calls
// nothing, so it commits nothing.
func CanFlush(w http.ResponseWriter) bool {
	return flusherOnPath(w) && flusher(bottom(w))
}

func flusherOnPath(w http.ResponseWriter) bool {
	for {
		if flusher(w) {
			return true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
}

func flusher(w http.ResponseWriter) bool {
	switch w.(type) {
	case http.Flusher, interface{ FlushError() error }:
		return true
	}
	return false
}

// Under returns the writer w wraps: what its Unwrap method returns or,
// for a wrapper without one, the http.ResponseWriter it embeds (as an
// exported embedded field, the usual way to write a wrapper: Gin's
// middleware do so). It returns nil when w wraps nothing it can see.
func Under(w http.ResponseWriter) http.ResponseWriter {
	if u, ok := w.(interface{ Unwrap() http.ResponseWriter }); ok {
		return u.Unwrap()
	}
	v := reflect.ValueOf(w)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if !f.Anonymous || !f.IsExported() || f.Type.Kind() != reflect.Interface {
			continue
		}
		if inner, ok := v.Field(i).Interface().(http.ResponseWriter); ok && inner != nil {
			return inner
		}
	}
	return nil
}

// bottom returns the last writer of w's chain of wrappers (see Under).
func bottom(w http.ResponseWriter) http.ResponseWriter {
	for range 100 { // a chain this long is a cycle
		u := Under(w)
		if u == nil {
			return w
		}
		w = u
	}
	return w
}

// copyingWriters names the writers of middleware that copy every byte of
// the response into memory for as long as the response lasts: harmless for
// a page, unbounded for a stream, which also never reaches the client when
// the copy is all that is sent (Gin's timeout middleware).
var copyingWriters = map[string]bool{
	"*middleware.bodyDumpResponseWriter": true, // Echo v4 and v5, BodyDump
	"*timeout.Writer":                    true, // github.com/gin-contrib/timeout
}

// Unstreamable is the body of the 500 an adapter answers when middleware
// makes a stream impossible.
const Unstreamable = "event streaming is not possible through this server's middleware"

// Copying reports whether w, or a writer it wraps (see Under), is one of a
// middleware that copies every byte of the response into memory, and logs
// an error naming it if so. The adapter then answers 500 (Unstreamable) in
// its framework's way, before anything is committed.
func Copying(ep *lifecycle.Endpoint, w http.ResponseWriter, r *http.Request) bool {
	for range 100 {
		if w == nil {
			return false
		}
		if name := fmt.Sprintf("%T", w); copyingWriters[name] {
			ep.Options().Logger.Error("sse: a middleware copies every byte of the response into memory; "+
				"a stream would grow it without bound: skip that middleware for this route",
				"path", r.URL.Path, "writer", name)
			return true
		}
		w = Under(w)
	}
	return false
}

var errTooLarge = errors.New("request body too large")

// ReadBody reads r's body up to limit bytes; a negative limit reads and
// discards it. Reading the whole body matters for more than the handler:
// net/http only starts watching the connection for a disconnect once the
// body has been consumed.
func ReadBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if limit < 0 {
		_, err := io.Copy(io.Discard, r.Body)
		return nil, err
	}
	if r.ContentLength > limit {
		return nil, errTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errTooLarge
	}
	if len(b) == 0 {
		return nil, nil
	}
	return b, nil
}

// NewRequest copies what a session needs out of r. The header map is
// shared, not cloned: net/http reads a fresh map for every request and never
// reuses it (nor do Echo and chi, which recycle only their own contexts), and
// a session's Request is read-only. Not cloning saves about half a KiB per
// stream.
func NewRequest(r *http.Request, params []lifecycle.Param, body []byte) *lifecycle.Request {
	return &lifecycle.Request{
		Method:     r.Method,
		Path:       r.URL.Path,
		RawQuery:   r.URL.RawQuery,
		Header:     r.Header,
		Params:     params,
		RemoteAddr: r.RemoteAddr,
		Proto:      r.Proto,
		Body:       body,
	}
}

// Transport is a lifecycle.Transport over an http.ResponseWriter. It flushes
// and sets deadlines through http.ResponseController, which sees through
// wrappers that implement Unwrap, prefers FlushError (which reports errors)
// and fails with http.ErrNotSupported where flushing is impossible.
type Transport struct {
	w      http.ResponseWriter
	via    http.ResponseWriter
	rc     *http.ResponseController
	bottom *http.ResponseController // the server's writer under via's wrappers; nil if via is it
}

// NewTransport returns a Transport writing to w and flushing through
// flushVia, which is w itself except where w's own Flush misbehaves (echo's
// Response panics when the writer under it cannot flush, and hides errors:
// the echo adapter flushes the writer under it instead).
func NewTransport(w, flushVia http.ResponseWriter) *Transport {
	t := &Transport{w: w, via: flushVia, rc: http.NewResponseController(flushVia)}
	if b := bottom(flushVia); b != flushVia {
		t.bottom = http.NewResponseController(b)
	}
	return t
}

// WriteHeader implements lifecycle.Transport.
func (t *Transport) WriteHeader(status int, header http.Header) error {
	dst := t.w.Header()
	for k, vs := range header {
		dst[k] = vs[:len(vs):len(vs)] // an append by middleware copies
	}
	dst.Del("Content-Length")
	t.w.WriteHeader(status)
	return nil
}

// Write implements lifecycle.Transport.
func (t *Transport) Write(p []byte) (int, error) { return t.w.Write(p) }

// Flush implements lifecycle.Transport. It flushes through the wrappers
// (a compressing one must flush its encoder), then the server's writer at
// the bottom of the chain: a wrapper's Flush may return no error, or skip
// the writer under it when that one has only FlushError (Gin's does), so
// the bytes go out, and a failure is reported, only by flushing the
// server's writer itself. With nothing left buffered, that second flush
// costs no system call.
func (t *Transport) Flush() error {
	if err := t.rc.Flush(); err != nil {
		return err
	}
	if t.bottom != nil {
		return t.bottom.Flush()
	}
	return nil
}

// SetWriteDeadline implements lifecycle.Transport. Where a wrapper hides
// the writers under it from http.ResponseController (no Unwrap method: Gin's
// gzip middleware), it sets the deadline on the first writer under it that
// can (see Under): without that, a server's WriteTimeout would cut the
// stream, and Options.WriteTimeout would not be enforced.
func (t *Transport) SetWriteDeadline(d time.Time) error {
	err := t.rc.SetWriteDeadline(d)
	if !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	for w := Under(t.via); w != nil; w = Under(w) {
		if dw, ok := w.(interface{ SetWriteDeadline(time.Time) error }); ok {
			return dw.SetWriteDeadline(d)
		}
	}
	return err
}

// WithStore returns a context that is ctx, except that Value first looks
// the key up with get (a framework's per-request store: Echo's and Gin's
// c.Get), until end is called. A framework recycles its store once the
// handler returns, so the handler calls end before it returns. The context
// is safe for concurrent use.
func WithStore(ctx context.Context, get func(key any) any) (_ context.Context, end func()) {
	v := &storeValues{Context: ctx, get: get}
	return v, v.end
}

type storeValues struct {
	context.Context
	mu  sync.RWMutex
	get func(key any) any // nil after end
}

func (v *storeValues) Value(key any) any {
	v.mu.RLock()
	var val any
	if v.get != nil {
		val = v.get(key)
	}
	v.mu.RUnlock()
	if val != nil {
		return val
	}
	return v.Context.Value(key)
}

func (v *storeValues) end() {
	v.mu.Lock()
	v.get = nil
	v.mu.Unlock()
}
