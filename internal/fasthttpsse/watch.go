package fasthttpsse

import (
	"context"
	"errors"
	"net"
	"time"
)

// maxIgnored bounds how many bytes the client may send on a stream's
// connection (pipelined requests, which are never answered: the connection
// closes after the stream). A client that sends more is ended with
// errTooMuchInput: reading on would cost the server without end, and
// stopping would leave nothing to notice the client leave.
const maxIgnored = 64 << 10

// errTooMuchInput is the cause of a session ended by maxIgnored.
var errTooMuchInput = errors.New("the client sent over 64 KiB on a stream's connection, which answers no request")

// stopWait bounds how long stopping a reader waits for its Read to return
// after the read deadline is moved to the past. A connection that ignores
// read deadlines (a listener wrapper that does not forward them) never
// returns; see reader.stop.
const stopWait = time.Second

// A watch notices the client leaving a stream's connection and cancels the
// session's context with the read error (io.EOF, a reset) as cause. On
// Linux, an idle plain-TCP connection is watched by one epoll instance shared
// by the process, which costs no goroutine per connection; elsewhere, and
// once bytes arrive, a reader goroutine does it (see reader).
type watch interface {
	// stop ends the watch. It returns once nothing of the watch will touch
	// the connection again, or reports false if that cannot be had (see
	// reader.stop). Call it only after the session is over: stopping may
	// cancel the context.
	stop() (stopped bool)
	// wait returns once nothing of the watch touches the connection,
	// however long that takes.
	wait()
}

// reader is the goroutine watch: it blocks in Read on the connection, which
// returns at once on FIN or RST, with no polling and no write needed.
type reader struct {
	conn net.Conn
	done chan struct{} // closed when the goroutine has returned
	idle [1]byte       // the idle read's buffer (see loop)
}

// watchReading starts a reader on conn.
func watchReading(conn net.Conn, cancel context.CancelCauseFunc) *reader {
	w := &reader{conn: conn, done: make(chan struct{})}
	go w.loop(cancel)
	return w
}

func (w *reader) loop(cancel context.CancelCauseFunc) {
	defer close(w.done)
	// An idle stream waits here for as long as it lasts, so the wait reads
	// into one byte of the reader itself rather than a buffer per
	// connection. Bytes the client sends are requests that will not be
	// answered on this connection; they are dropped, up to a bound.
	var rest []byte
	for ignored := 0; ignored <= maxIgnored; {
		buf := w.idle[:]
		if ignored > 0 {
			if rest == nil {
				rest = make([]byte, 4<<10)
			}
			buf = rest
		}
		n, err := w.conn.Read(buf)
		ignored += n
		if err != nil {
			cancel(err) // lifecycle reports this as ErrClientGone with err as cause
			return
		}
	}
	cancel(errTooMuchInput)
}

// stop unblocks the reader's Read with a past read deadline and waits for
// the goroutine to return, for at most stopWait. A connection that ignores
// the deadline keeps the reader blocked until the connection is closed;
// stop then reports false, and the caller must not let the connection be
// reused by anyone while the reader may still call Read on it.
func (w *reader) stop() bool {
	w.conn.SetReadDeadline(time.Unix(1, 0))
	t := time.NewTimer(stopWait)
	defer t.Stop()
	select {
	case <-w.done:
		return true
	case <-t.C:
		return false
	}
}

func (w *reader) wait() { <-w.done }

// clearReadDeadline clears the deadline fasthttp's ReadTimeout left on the
// connection while it read the request: no deadline must ever pass for a
// disconnect.
func clearReadDeadline(conn net.Conn) { conn.SetReadDeadline(time.Time{}) }
