// Package stdhttp holds what the adapters for net/http-based frameworks
// (net/http, chi, Echo) share: the Transport over an http.ResponseWriter and
// the copy of an *http.Request into a lifecycle.Request.
package stdhttp

import (
	"errors"
	"fmt"
	"io"
	"net/http"
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
	if !CanFlush(flushVia) {
		// A middleware wrapped the response in a writer that buffers it
		// (http.TimeoutHandler is one): a stream would never arrive. Say so
		// before anything is committed, instead of a silent empty 200.
		ep.Options().Logger.Error("sse: the response writer cannot flush, so events cannot stream; "+
			"a middleware in front of this route buffers the response", "path", r.URL.Path, "writer", fmt.Sprintf("%T", flushVia))
		http.Error(w, "event streaming is not possible through this server's middleware", http.StatusInternalServerError)
		return nil
	}
	body, err := ReadBody(r, ep.Options().MaxBodySize)
	if errors.Is(err, errTooLarge) {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return nil
	}
	if err != nil {
		return err
	}
	// Once the body is consumed, net/http watches the connection in the
	// background (clearing the ReadTimeout deadline first) and cancels the
	// request context when the client goes: that is the disconnect signal.
	ep.Serve(r.Context(), NewTransport(w, flushVia), NewRequest(r, params, body))
	return nil
}

// CanFlush reports whether w, or a writer it wraps (through Unwrap), can
// flush. It calls nothing, so it commits nothing.
func CanFlush(w http.ResponseWriter) bool {
	for {
		switch w.(type) {
		case http.Flusher, interface{ FlushError() error }:
			return true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
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
	w  http.ResponseWriter
	rc *http.ResponseController
}

// NewTransport returns a Transport writing to w and flushing through
// flushVia, which is w itself except where w's own Flush misbehaves (echo's
// Response panics when the writer under it cannot flush, and hides errors:
// the echo adapter flushes the writer under it instead).
func NewTransport(w, flushVia http.ResponseWriter) *Transport {
	return &Transport{w: w, rc: http.NewResponseController(flushVia)}
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

// Flush implements lifecycle.Transport.
func (t *Transport) Flush() error { return t.rc.Flush() }

// SetWriteDeadline implements lifecycle.Transport.
func (t *Transport) SetWriteDeadline(d time.Time) error { return t.rc.SetWriteDeadline(d) }
