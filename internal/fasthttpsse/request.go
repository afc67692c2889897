package fasthttpsse

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/ssekit/ssekit/lifecycle"
)

// ErrBodyTooLarge is returned by ReadBody for a body over the limit.
var ErrBodyTooLarge = errors.New("request body too large")

// ReadBody returns a copy of the request body, read up to limit bytes (none
// if limit is negative). A body over the limit is refused by its declared
// Content-Length before anything is read, or as soon as the limit is passed
// when the server streams request bodies (fasthttp's StreamRequestBody), so
// a large body is never held in memory; the connection is then marked to
// close, since the rest of the body was not read.
func ReadBody(fctx *fasthttp.RequestCtx, limit int64) ([]byte, error) {
	if limit < 0 {
		return nil, nil
	}
	if int64(fctx.Request.Header.ContentLength()) > limit {
		fctx.SetConnectionClose()
		return nil, ErrBodyTooLarge
	}
	var body []byte
	if fctx.Request.IsBodyStream() {
		b, err := io.ReadAll(io.LimitReader(fctx.RequestBodyStream(), limit+1))
		if err != nil {
			fctx.SetConnectionClose()
			return nil, err
		}
		body = b
	} else {
		body = fctx.Request.Body()
	}
	if int64(len(body)) > limit {
		fctx.SetConnectionClose()
		return nil, ErrBodyTooLarge
	}
	if len(body) == 0 {
		return nil, nil
	}
	return append([]byte(nil), body...), nil
}

// Header returns a copy of the request's headers, with canonical keys.
func Header(fctx *fasthttp.RequestCtx) http.Header {
	header := make(http.Header)
	for k, v := range fctx.Request.Header.All() {
		key := http.CanonicalHeaderKey(string(k))
		header[key] = append(header[key], string(v))
	}
	return header
}

// Values returns a context with parent's values and deadline, without its
// cancellation, in which the request's user values (Fiber's Locals) are
// found by their keys first. They are copied: the request's own are
// recycled when the request is over, while a session's context may be held
// longer. Call the returned function when the context is no longer needed.
func Values(fctx *fasthttp.RequestCtx, parent context.Context) (context.Context, context.CancelFunc) {
	var ctx context.Context = context.WithoutCancel(parent)
	var locals map[any]any
	fctx.VisitUserValuesAll(func(k, v any) {
		if locals == nil {
			locals = make(map[any]any)
		}
		locals[k] = v
	})
	if locals != nil {
		ctx = valuesContext{ctx, locals}
	}
	// A deadline (Fiber's timeout middleware puts one on the user context)
	// ends the session with lifecycle.ErrDeadline, as on net/http.
	if d, ok := parent.Deadline(); ok {
		return context.WithDeadline(ctx, d)
	}
	return ctx, func() {}
}

// valuesContext adds a fixed set of values to a context.
type valuesContext struct {
	context.Context
	values map[any]any
}

func (c valuesContext) Value(key any) any {
	if v, ok := c.values[key]; ok {
		return v
	}
	return c.Context.Value(key)
}

// Params returns the route's parameters, copied: names are the route's
// parameter names, in order, and value returns each one's value in the
// request (both Fiber versions' c.Params). A route without parameters has
// none.
func Params(names []string, value func(name string) string) []lifecycle.Param {
	if len(names) == 0 {
		return nil
	}
	params := make([]lifecycle.Param, len(names))
	for i, name := range names {
		params[i] = lifecycle.Param{Name: strings.Clone(name), Value: strings.Clone(value(name))}
	}
	return params
}

// RemoteAddr is the session's address for a request. ip, nil unless the
// app takes client addresses from a proxy header, returns the client's
// address as the framework reports it (Fiber's c.IP()). If that is one IP
// address other than the peer's, it is the session's address, as a bare
// host. Anything else (no
// header, a list, not an address, a proxy not trusted) leaves the
// connection's peer, "host:port", so that no header value a client makes up
// becomes a key of its choosing.
func RemoteAddr(fctx *fasthttp.RequestCtx, ip func() string) string {
	peer := fctx.RemoteAddr().String()
	if ip == nil {
		return peer
	}
	addr := net.ParseIP(strings.TrimSpace(ip()))
	if addr == nil {
		return peer
	}
	if host, _, err := net.SplitHostPort(peer); err == nil && net.ParseIP(host).Equal(addr) {
		return peer
	}
	return addr.String()
}

// newRequest copies everything a session reads out of fasthttp's recycled,
// zero-copy request objects.
func newRequest(fctx *fasthttp.RequestCtx, params []lifecycle.Param, remoteAddr string, body []byte) *lifecycle.Request {
	return &lifecycle.Request{
		Method:     string(fctx.Method()),
		Path:       string(fctx.Path()),
		RawQuery:   string(fctx.URI().QueryString()),
		Header:     Header(fctx),
		Params:     params,
		RemoteAddr: remoteAddr,
		Proto:      string(fctx.Request.Header.Protocol()),
		Body:       body,
	}
}
