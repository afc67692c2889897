package fiberadapter

import (
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// transport is a lifecycle.Transport writing an HTTP/1.x response directly
// on a hijacked connection: chunked for HTTP/1.1, close-delimited for
// HTTP/1.0, and no body at all for HEAD. The Session never calls it
// concurrently.
type transport struct {
	fctx    *fasthttp.RequestCtx // valid until the hijack handler returns
	conn    net.Conn
	chunked bool // HTTP/1.1: frame writes as chunks
	// keepAlive: the connection may serve more requests after the stream
	// (HTTP/1.1, and fasthttp did not decide to close it).
	keepAlive bool
	noBody    bool          // HEAD: discard body writes
	buf       []byte        // written but not yet flushed, already framed
	failed    bool          // a write failed: finish writes nothing more
	started   bool          // the header has been written
	timeout   time.Duration // bounds finish's write; <= 0 means none
}

// maxKeptBuffer is the largest write buffer kept between flushes.
const maxKeptBuffer = 64 << 10

func newTransport(fctx *fasthttp.RequestCtx, conn net.Conn, writeTimeout time.Duration) *transport {
	return &transport{
		fctx:    fctx,
		conn:    conn,
		timeout: writeTimeout,
		chunked: fctx.Request.Header.IsHTTP11(),
		// fasthttp sets Connection: close on the response before hijacking
		// when it would close the connection (the client asked, keep-alive
		// is off, the server is shutting down, ...).
		keepAlive: fctx.Request.Header.IsHTTP11() && !fctx.Response.Header.ConnectionClose(),
		noBody:    fctx.IsHead(),
	}
}

// WriteHeader serializes the status line and the response headers: those
// middleware set on fasthttp's response (before or after the route handler),
// merged with header. The stream controls its own framing, so
// Content-Length, Content-Encoding and Transfer-Encoding set by middleware
// are dropped.
func (t *transport) WriteHeader(status int, header http.Header) error {
	h := &t.fctx.Response.Header
	h.SetStatusCode(status)
	h.Del(fasthttp.HeaderContentLength)
	h.Del(fasthttp.HeaderContentEncoding)
	h.Del(fasthttp.HeaderTransferEncoding)
	for k, vs := range header {
		h.Del(k)
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	h.Del(fasthttp.HeaderConnection) // fasthttp adds keep-alive for HTTP/1.0
	if t.chunked {
		h.SetContentLength(-1) // Transfer-Encoding: chunked
	} else {
		h.SetContentLength(-2) // close-delimited
	}
	if !t.keepAlive {
		h.SetConnectionClose()
	}
	t.buf = h.AppendBytes(t.buf)
	t.started = true
	return nil
}

// Write frames p (as one chunk on HTTP/1.1) into the buffer.
func (t *transport) Write(p []byte) (int, error) {
	if t.noBody || len(p) == 0 {
		return len(p), nil
	}
	if t.chunked {
		t.buf = strconv.AppendInt(t.buf, int64(len(p)), 16)
		t.buf = append(t.buf, "\r\n"...)
		t.buf = append(t.buf, p...)
		t.buf = append(t.buf, "\r\n"...)
	} else {
		t.buf = append(t.buf, p...)
	}
	return len(p), nil
}

// Flush writes the buffer to the connection in one call.
func (t *transport) Flush() error {
	if len(t.buf) == 0 {
		return nil
	}
	_, err := t.conn.Write(t.buf)
	if err != nil {
		t.failed = true
	}
	if cap(t.buf) > maxKeptBuffer {
		t.buf = nil
	} else {
		t.buf = t.buf[:0]
	}
	return err
}

// SetWriteDeadline bounds the following writes.
func (t *transport) SetWriteDeadline(d time.Time) error { return t.conn.SetWriteDeadline(d) }

// finish ends the response after the session is over: the terminating
// chunk on HTTP/1.1, nothing on HTTP/1.0 (closing the connection ends the
// body). A header that was never written means nothing to end.
// It reports whether the response is complete and the connection may serve
// another request.
func (t *transport) finish() bool {
	if !t.started || t.failed {
		return false
	}
	if t.chunked && !t.noBody {
		t.buf = append(t.buf, "0\r\n\r\n"...)
	}
	var deadline time.Time
	if t.timeout > 0 {
		deadline = time.Now().Add(t.timeout)
	}
	t.conn.SetWriteDeadline(deadline)
	return t.Flush() == nil && t.keepAlive
}
