package fasthttpsse

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

// transport is the lifecycle.Transport of one request, in one of two modes
// chosen by WriteHeader:
//
//   - A stream (200 to GET or POST) is written by the transport itself on
//     the connection, from inside the request handler: the status line and
//     headers, then the body, chunked on HTTP/1.1 and close-delimited on
//     HTTP/1.0, always with Connection: close. fasthttp writes nothing for
//     the request (see Serve).
//   - Anything else (a refusal such as 503 or 413, or HEAD) is an ordinary
//     fasthttp response: the transport only fills fctx.Response, which
//     fasthttp writes once the handler returns, keeping the connection
//     alive as usual.
//
// A stream's writes are behind: Flush queues the framed bytes for a writer
// goroutine, which exists only while there is something to write and sends
// everything queued in one call. An idle stream therefore costs no goroutine
// for writing, and a busy one costs one syscall per burst instead of one per
// event. The queue is bounded, so a client that stops reading blocks Flush,
// and the write deadline then ends the session.
type transport struct {
	fctx    *fasthttp.RequestCtx    // valid until the request handler returns
	conn    net.Conn                // fctx.Conn()
	fail    context.CancelCauseFunc // ends the session: a background write failed
	onOpen  func()                  // called when a stream starts (the watch begins)
	timeout time.Duration           // bounds each write; <= 0 means none
	chunked bool                    // HTTP/1.1: frame writes as chunks
	head    bool                    // HEAD: headers only, as a fasthttp response
	stream  bool                    // WriteHeader started a stream

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

func newTransport(fctx *fasthttp.RequestCtx, writeTimeout time.Duration, fail context.CancelCauseFunc, onOpen func()) *transport {
	t := &transport{
		fctx:    fctx,
		conn:    fctx.Conn(),
		fail:    fail,
		onOpen:  onOpen,
		timeout: writeTimeout,
		chunked: fctx.Request.Header.IsHTTP11(),
		head:    fctx.IsHead(),
	}
	t.drained.L = &t.mu
	return t
}

// WriteHeader sets the status and headers on fasthttp's response, merged
// over those middleware set before the handler ran. For a stream it then
// serializes them (fasthttp's own serializer, cookies included) for the
// writer, minus Content-Length, Content-Encoding and Transfer-Encoding,
// which the stream controls, and starts watching the connection.
func (t *transport) WriteHeader(status int, header http.Header) error {
	h := &t.fctx.Response.Header
	h.SetStatusCode(status)
	for k, vs := range header {
		h.Del(k)
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	if status != http.StatusOK || t.head {
		if t.head && t.chunked {
			// What a GET would get, as RFC 9110 asks of HEAD (on HTTP/1.0
			// a GET's stream is close-delimited: no framing header at
			// all); fasthttp sends no body for HEAD.
			h.SetContentLength(-1)
		}
		return nil
	}
	t.stream = true
	h.Del(fasthttp.HeaderContentLength)
	h.Del(fasthttp.HeaderContentEncoding)
	h.Del(fasthttp.HeaderTransferEncoding)
	h.Del(fasthttp.HeaderConnection)
	if t.chunked {
		h.SetContentLength(-1) // Transfer-Encoding: chunked
	} else {
		h.SetContentLength(-2) // close-delimited
	}
	h.SetConnectionClose()
	t.mu.Lock()
	t.queued = h.AppendBytes(t.queued)
	t.mu.Unlock()
	t.onOpen()
	return nil
}

// Write queues p, framed as one chunk on HTTP/1.1, or appends it to
// fasthttp's response body outside a stream. It fails once a background
// write has failed.
func (t *transport) Write(p []byte) (int, error) {
	if !t.stream {
		if !t.head {
			t.fctx.Response.AppendBody(p)
		}
		return len(p), nil
	}
	if len(p) == 0 {
		return 0, nil
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
// earlier background write. Outside a stream fasthttp writes the response.
func (t *transport) Flush() error {
	if !t.stream {
		return nil
	}
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
// endpoint's write timeout itself, and fasthttp applies its own
// WriteTimeout to the responses it writes.
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

// finish ends a stream after the session is over: it waits for the writer
// to drain the queue, then writes the terminating chunk on HTTP/1.1 (on
// HTTP/1.0, closing the connection ends the body). Nothing of the
// transport writes to the connection once it has returned.
func (t *transport) finish() {
	t.mu.Lock()
	for t.writing {
		t.drained.Wait()
	}
	failed := t.err != nil
	rest := t.queued
	t.queued = nil
	t.mu.Unlock()
	if failed {
		return
	}
	if t.chunked {
		rest = append(rest, "0\r\n\r\n"...)
	}
	if len(rest) > 0 {
		_ = t.writeNow(rest)
	}
}
