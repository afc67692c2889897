package fiberadapter

import (
	"context"
	"net"
	"time"
)

// maxPipelined bounds how many bytes of pipelined requests the watcher reads
// and keeps before it stops reading.
const maxPipelined = 64 << 10

// watcher is the goroutine that notices the client leaving: it blocks in
// Read on the hijacked connection, which returns at once on FIN or RST, with
// no polling and no write needed.
type watcher struct {
	conn    net.Conn
	done    chan struct{} // closed when the goroutine has returned
	pending []byte        // bytes read past the request; owned by loop until done
}

// watch starts watching conn; cancel is called with the read error as cause
// when the client goes.
func watch(conn net.Conn, cancel context.CancelCauseFunc) *watcher {
	w := &watcher{conn: conn, done: make(chan struct{})}
	// fasthttp clears its ReadTimeout deadline before it hijacks; clear it
	// again so no deadline the server left can pass for a disconnect.
	conn.SetReadDeadline(time.Time{})
	go w.loop(cancel)
	return w
}

func (w *watcher) loop(cancel context.CancelCauseFunc) {
	defer close(w.done)
	var buf [512]byte
	for {
		n, err := w.conn.Read(buf[:])
		// Bytes after the stream's request are a pipelined request: keep
		// them for fasthttp, which serves the connection again once the
		// stream ends. Reading on keeps watching for the close, up to a
		// bound; past it, a failing write is what finds a dead client.
		w.pending = append(w.pending, buf[:n]...)
		if err != nil {
			cancel(err) // lifecycle reports this as ErrClientGone with err as cause
			return
		}
		if len(w.pending) >= maxPipelined {
			return
		}
	}
}

// stop unblocks the watcher's Read and waits for the goroutine to return.
// Call it only after the session is over: the read error it causes then
// cancels nothing that matters.
func (w *watcher) stop() {
	w.conn.SetReadDeadline(time.Unix(1, 0))
	<-w.done
}
