package fiberadapter

import (
	"context"
	"net"
	"slices"
	"time"
)

// maxPipelined bounds how many bytes of pipelined requests the watcher reads
// and keeps before it stops reading.
const maxPipelined = 64 << 10

// A watch notices the client leaving a hijacked connection and cancels the
// session's context with the read error (io.EOF, a reset) as cause. On
// Linux, an idle plain-TCP connection is watched by one epoll instance shared
// by the process, which costs no goroutine per connection; elsewhere, and
// once bytes arrive, a reader goroutine does it (see reader).
type watch interface {
	// stop ends the watch and returns the bytes read past the stream's
	// request, which belong to the client's next request. Call it only
	// after the session is over: stopping may cancel the context.
	stop() (pending []byte)
}

// reader is the goroutine watch: it blocks in Read on the hijacked
// connection, which returns at once on FIN or RST, with no polling and no
// write needed.
type reader struct {
	conn    net.Conn
	done    chan struct{} // closed when the goroutine has returned
	pending []byte        // bytes read past the request; owned by loop until done
	first   [1]byte       // the idle read's buffer (see loop)
}

// watchReading starts a reader on conn. pending holds bytes already read
// past the request.
func watchReading(conn net.Conn, cancel context.CancelCauseFunc, pending []byte) *reader {
	w := &reader{conn: conn, done: make(chan struct{}), pending: pending}
	go w.loop(cancel)
	return w
}

func (w *reader) loop(cancel context.CancelCauseFunc) {
	defer close(w.done)
	for len(w.pending) < maxPipelined {
		// An idle stream waits here for as long as it lasts, so the wait
		// reads into one byte of the reader itself rather than holding a
		// buffer per connection. Once bytes arrive, later reads go straight
		// into pending's spare room; fasthttp's buffered reader under conn
		// keeps one-byte reads cheap.
		var n int
		var err error
		if len(w.pending) == 0 {
			n, err = w.conn.Read(w.first[:])
			w.pending = append(w.pending, w.first[:n]...)
		} else {
			w.pending = slices.Grow(w.pending, 512)
			n, err = w.conn.Read(w.pending[len(w.pending):cap(w.pending)])
			w.pending = w.pending[:len(w.pending)+n]
		}
		// Bytes after the stream's request are a pipelined request: keep
		// them for fasthttp, which serves the connection again once the
		// stream ends. Reading on keeps watching for the close, up to a
		// bound; past it, a failing write is what finds a dead client.
		if err != nil {
			cancel(err) // lifecycle reports this as ErrClientGone with err as cause
			return
		}
	}
}

// stop unblocks the reader's Read and waits for the goroutine to return.
func (w *reader) stop() []byte {
	w.conn.SetReadDeadline(time.Unix(1, 0))
	<-w.done
	return w.pending
}

// clearReadDeadline clears the deadline fasthttp's ReadTimeout may have
// left: fasthttp clears it before it hijacks, but no deadline must ever pass
// for a disconnect.
func clearReadDeadline(conn net.Conn) { conn.SetReadDeadline(time.Time{}) }
