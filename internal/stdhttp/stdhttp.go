// Package stdhttp holds what the adapters for net/http-based frameworks
// (net/http, chi, Echo) share: the Transport over an http.ResponseWriter and
// the copy of an *http.Request into a lifecycle.Request.
package stdhttp

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/ssekit/ssekit/lifecycle"
)

// Serve runs ep for one request: it reads the body (answering 413 when it
// exceeds the endpoint's MaxBodySize), copies the request, and serves the
// stream. The request's context is the disconnect signal.
func Serve(ep *lifecycle.Endpoint, w http.ResponseWriter, r *http.Request, params []lifecycle.Param) {
	body, err := ReadBody(r, ep.Options().MaxBodySize)
	if errors.Is(err, errTooLarge) {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		return // the client went away or sent a broken body: nothing to stream to
	}
	// Once the body is consumed, net/http watches the connection in the
	// background (clearing the ReadTimeout deadline first) and cancels the
	// request context when the client goes: that is the disconnect signal.
	ep.Serve(r.Context(), NewTransport(w), NewRequest(r, params, body))
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

// NewRequest copies what a session needs out of r.
func NewRequest(r *http.Request, params []lifecycle.Param, body []byte) *lifecycle.Request {
	return &lifecycle.Request{
		Method:     r.Method,
		Path:       r.URL.Path,
		RawQuery:   r.URL.RawQuery,
		Header:     r.Header.Clone(),
		Params:     params,
		RemoteAddr: r.RemoteAddr,
		Proto:      r.Proto,
		Body:       body,
	}
}

// Transport is a lifecycle.Transport over an http.ResponseWriter. It writes
// through http.ResponseController, so wrappers that implement Unwrap are
// seen through, and a writer that cannot flush fails loudly instead of
// buffering.
type Transport struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// NewTransport returns a Transport writing to w.
func NewTransport(w http.ResponseWriter) *Transport {
	return &Transport{w: w, rc: http.NewResponseController(w)}
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
