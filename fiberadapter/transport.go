package fiberadapter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ssekit/ssekit/lifecycle"
)

// transport is a lifecycle.Transport writing an HTTP/1.x response directly
// on a hijacked connection: chunked for HTTP/1.1, close-delimited for
// HTTP/1.0, and no body at all for HEAD.
//
// Writes are behind: Flush queues the framed bytes for a writer goroutine,
// which exists only while there is something to write and sends everything
// queued in one call. An idle stream therefore costs no goroutine, and a
// busy one costs one syscall per burst instead of one per event: the same
// decoupling fasthttp's own stream writer gets from its pipe. The queue is
// bounded, so a client that stops reading blocks Flush, and the write
// deadline then ends the session.
type transport struct {
	fctx      *fasthttp.RequestCtx    // valid until the hijack handler returns
	conn      net.Conn                //
	fail      context.CancelCauseFunc // ends the session when a background write fails
	timeout   time.Duration           // bounds each write; <= 0 means none
	chunked   bool                    // HTTP/1.1: frame writes as chunks
	noBody    bool                    // HEAD: discard body writes
	keepAlive bool                    // the connection may serve more requests after the stream
	started   bool                    // the header has been written

	mu      sync.Mutex // guards the fields below
	drained sync.Cond  // signaled (on mu) when the writer makes room or stops
	queued  []byte     // framed bytes waiting for the writer
	spare   []byte     // the writer's last buffer, for reuse
	writing bool       // a writer goroutine is running
	err     error      // the writer's failure; nothing is written after it
}

const (
	// maxQueued is how many bytes may wait for the writer before Flush
	// blocks: the bound on what a slow client can make the server hold.
	maxQueued = 256 << 10
	// maxKeptBuffer is the largest buffer kept for reuse once written.
	maxKeptBuffer = 64 << 10
)

func newTransport(fctx *fasthttp.RequestCtx, conn net.Conn, writeTimeout time.Duration, fail context.CancelCauseFunc) *transport {
	t := &transport{
		fctx:    fctx,
		conn:    conn,
		fail:    fail,
		timeout: writeTimeout,
		chunked: fctx.Request.Header.IsHTTP11(),
		noBody:  fctx.IsHead(),
		// fasthttp sets Connection: close on the response before hijacking
		// when it would close the connection (the client asked, keep-alive
		// is off, the server is shutting down, ...).
		keepAlive: fctx.Request.Header.IsHTTP11() && !fctx.Response.Header.ConnectionClose(),
	}
	t.drained.L = &t.mu
	return t
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
	t.mu.Lock()
	t.queued = h.AppendBytes(t.queued)
	t.mu.Unlock()
	t.started = true
	return nil
}

// Write queues p, framed as one chunk on HTTP/1.1. It fails once a
// background write has failed.
func (t *transport) Write(p []byte) (int, error) {
	if t.noBody || len(p) == 0 {
		return len(p), nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.queued) >= maxQueued && t.writing && t.err == nil {
		t.drained.Wait()
	}
	if t.err != nil {
		return 0, t.err
	}
	if t.chunked {
		t.queued = strconv.AppendInt(t.queued, int64(len(p)), 16)
		t.queued = append(t.queued, "\r\n"...)
		t.queued = append(t.queued, p...)
		t.queued = append(t.queued, "\r\n"...)
	} else {
		t.queued = append(t.queued, p...)
	}
	return len(p), nil
}

// Flush starts the writer if it is not running, and reports a failure of an
// earlier background write.
func (t *transport) Flush() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return t.err
	}
	if len(t.queued) > 0 && !t.writing {
		t.writing = true
		go t.writeLoop()
	}
	return nil
}

// SetWriteDeadline is a no-op: the writer bounds each of its writes by the
// endpoint's write timeout itself.
func (t *transport) SetWriteDeadline(time.Time) error { return nil }

// writeLoop writes whatever is queued, in one call per batch, until the
// queue is empty or a write fails.
func (t *transport) writeLoop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.queued) > 0 {
		out := t.queued
		t.queued, t.spare = t.spare[:0], nil
		t.mu.Unlock()
		err := t.writeNow(out)
		t.mu.Lock()
		if cap(out) <= maxKeptBuffer {
			t.spare = out[:0]
		}
		t.drained.Broadcast()
		if err != nil {
			t.err = err
			t.queued = nil
			// End the session now, not at the next Flush, which an idle
			// handler might never make.
			r := lifecycle.ErrWriteFailed
			if errors.Is(err, os.ErrDeadlineExceeded) {
				r = lifecycle.ErrWriteTimeout
			}
			t.fail(fmt.Errorf("%w: %w", r, err))
			break
		}
	}
	t.writing = false
	t.drained.Broadcast()
}

func (t *transport) writeNow(p []byte) error {
	var deadline time.Time
	if t.timeout > 0 {
		deadline = time.Now().Add(t.timeout)
	}
	if err := t.conn.SetWriteDeadline(deadline); err != nil {
		return err
	}
	_, err := t.conn.Write(p)
	return err
}

// finish ends the response after the session is over: it waits for the
// writer to drain the queue, then writes the terminating chunk on HTTP/1.1
// (on HTTP/1.0, closing the connection ends the body). It reports whether
// the response is complete and the connection may serve another request.
func (t *transport) finish() bool {
	t.mu.Lock()
	for t.writing {
		t.drained.Wait()
	}
	failed := t.err != nil
	rest := t.queued
	t.queued = nil
	t.mu.Unlock()
	if !t.started || failed {
		return false
	}
	if t.chunked && !t.noBody {
		rest = append(rest, "0\r\n\r\n"...)
	}
	if len(rest) > 0 && t.writeNow(rest) != nil {
		return false
	}
	return t.keepAlive
}
