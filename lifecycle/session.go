package lifecycle

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Handler serves one stream. It should send events until s.Done() is closed
// and then return; its return ends the session if nothing else has. A
// returned error is recorded in the close reason; it is never written to the
// client. The same Handler value runs unchanged on every adapter.
type Handler func(s *Session) error

// A Session is one open event stream: what a Handler holds. All its methods
// are safe for concurrent use by multiple goroutines. Writes are serialized:
// the bytes of two events never interleave, and each event is flushed before
// Send returns: it goes to the client at once, never waiting in a buffer for
// more data (an adapter may hand it to a writer goroutine of its own, which
// sends it immediately).
//
// A session ends exactly once, for the first of these reasons: the client
// goes away (ErrClientGone), the endpoint shuts down (ErrShutdown), the
// request's deadline passes (ErrDeadline), the session reaches
// Options.MaxLifetime (ErrLifetime), a write times out or fails
// (ErrWriteTimeout, ErrWriteFailed), the handler returns or panics
// (ErrHandlerReturned, ErrHandlerPanicked), or Close or CloseWithError is
// called (ErrClosed, or the error given). Once it has ended, Done is
// closed, Err reports the reason, and every write method returns an error
// at once.
type Session struct {
	ep     *Endpoint
	req    *Request
	lastID string
	opened time.Time

	ctx    context.Context // canceled with the reason when the session ends
	cancel context.CancelCauseFunc
	ended  atomic.Pointer[endState] // set once, before ctx is canceled

	// wmu serializes every use of the transport and guards the fields below.
	// It is held for the whole of a write, which the write deadline bounds.
	wmu       sync.Mutex
	t         Transport   // nil once released: nothing is written after that
	buf       []byte      // encoding buffer, reused across events
	heartbeat *time.Timer // fires for heartbeats and at expires; nil if neither applies
	lastWrite time.Time
	expires   time.Time // when Options.MaxLifetime ends the session; zero for never
	// deadlineSet: a write deadline has been set, at deadlineAt (see
	// setDeadlineLocked).
	deadlineSet bool
	deadlineAt  time.Time

	// What the session wrote: changed only with wmu held, atomic so that
	// Endpoint.Stats can read them without waiting for a write.
	events, bytes, heartbeats atomic.Int64
	folded                    bool // counted in the endpoint's totals; guarded by ep.counts.mu
}

// endState is what a session records when it ends.
type endState struct {
	reason  error // why the session ended
	sendErr error // what writes return from then on: ErrEnded and the reason
}

// maxKeptBuffer is the largest encoding buffer a session keeps between
// events; a larger one (from a rare big event) is dropped after use.
const maxKeptBuffer = 64 << 10

var heartbeatComment = []byte(":\n")

// Request returns the copied view of the request that opened the stream.
// The result is read-only and stays valid after the session ends.
func (s *Session) Request() *Request { return s.req }

// LastEventID returns the ID of the last event the client saw, from the
// Last-Event-ID header or the query fallback (see Options.LastEventIDParam),
// or "" if there is none or it could not be a valid ID.
func (s *Session) LastEventID() string { return s.lastID }

// Context returns a context that carries the request's values and is canceled
// when the session ends, with the reason as its cause (see context.Cause).
func (s *Session) Context() context.Context { return s.ctx }

// Done returns a channel that is closed exactly once, when the session ends.
func (s *Session) Done() <-chan struct{} { return s.ctx.Done() }

// Err returns nil while the session is open, and why it ended afterwards.
func (s *Session) Err() error {
	if st := s.ended.Load(); st != nil {
		return st.reason
	}
	return nil
}

// Close ends the session with ErrClosed if it is still open. It does not wait
// for the handler to return. Close is idempotent and always returns nil.
func (s *Session) Close() error {
	s.end(ErrClosed)
	return nil
}

// CloseWithError ends the session with reason (ErrClosed if reason is nil) if
// it is still open. The reason is reported as given by Err, the context's
// cause and CloseInfo.
func (s *Session) CloseWithError(reason error) {
	if reason == nil {
		reason = ErrClosed
	}
	s.end(reason)
}

// Send writes e and flushes it to the client. It returns a *FieldError
// (matching ErrInvalidEvent) without writing anything if e is invalid, an
// error matching ErrEnded at once if the session has ended, and otherwise the
// write error, which also ends the session.
func (s *Session) Send(e Event) error {
	if st := s.ended.Load(); st != nil {
		return st.sendErr
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	buf, err := e.AppendTo(s.buf[:0])
	if err != nil {
		return err
	}
	if err := s.writeLocked(buf); err != nil {
		return err
	}
	s.events.Add(1)
	if cap(buf) > maxKeptBuffer {
		buf = nil
	}
	s.buf = buf
	return nil
}

// SendBatch writes every event of evs, in order, with one write and one
// flush: a burst costs one system call instead of one per event. It
// validates all of them first: if any is invalid it returns that event's
// *FieldError (matching ErrInvalidEvent) and writes nothing. Otherwise it
// behaves as Send. An empty evs writes nothing.
func (s *Session) SendBatch(evs []Event) error {
	if st := s.ended.Load(); st != nil {
		return st.sendErr
	}
	for i := range evs {
		if err := evs[i].Validate(); err != nil {
			return err
		}
	}
	if len(evs) == 0 {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	buf := s.buf[:0]
	for i := range evs {
		buf = evs[i].appendValid(buf)
	}
	if err := s.writeLocked(buf); err != nil {
		return err
	}
	s.events.Add(int64(len(evs)))
	if cap(buf) > maxKeptBuffer {
		buf = nil
	}
	s.buf = buf
	return nil
}

// Comment writes text as comment lines, one per line of text, and flushes
// them. Clients ignore comments; they keep intermediaries from timing out.
func (s *Session) Comment(text string) error {
	return s.writeFrame(func(b []byte) []byte { return appendComment(b, text) })
}

// SetRetry tells the client to wait d before reconnecting. d is written in
// whole milliseconds; a negative d is rejected with a *FieldError.
func (s *Session) SetRetry(d time.Duration) error {
	if d < 0 {
		return &FieldError{Field: "Retry", Reason: "is negative"}
	}
	return s.writeFrame(func(b []byte) []byte { return append(appendRetry(b, d), '\n') })
}

// ResetLastID clears the client's last event ID, so that it reconnects
// without a Last-Event-ID. (An Event with an empty ID leaves it unchanged.)
func (s *Session) ResetLastID() error {
	return s.writeFrame(func(b []byte) []byte { return append(b, "id\n\n"...) })
}

// writeFrame encodes a non-event frame into the session buffer and writes it.
func (s *Session) writeFrame(encode func([]byte) []byte) error {
	if st := s.ended.Load(); st != nil {
		return st.sendErr
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.buf = encode(s.buf[:0])
	return s.writeLocked(s.buf)
}

// writeLocked writes p and flushes it. s.wmu must be held. A failure ends
// the session and is returned as its reason.
func (s *Session) writeLocked(p []byte) error {
	if st := s.ended.Load(); st != nil {
		return st.sendErr
	}
	now := time.Now()
	if err := s.setDeadlineLocked(now); err != nil {
		return err
	}
	if _, err := s.t.Write(p); err != nil {
		return s.fail(err)
	}
	if err := s.t.Flush(); err != nil {
		return s.fail(err)
	}
	s.lastWrite = now
	s.bytes.Add(int64(len(p)))
	return nil
}

func (s *Session) setDeadlineLocked(now time.Time) error {
	wt := s.ep.opts.WriteTimeout
	// Moving a deadline costs a call into the runtime's timers. Re-arm it
	// only once an eighth of the timeout has passed since it was last set:
	// each write then still gets between 7/8 and all of WriteTimeout, and a
	// stream of events pays for it once per few hundred milliseconds.
	if s.deadlineSet && (wt <= 0 || now.Sub(s.deadlineAt) < wt/8) {
		return nil
	}
	var deadline time.Time
	if wt > 0 {
		deadline = now.Add(wt)
	}
	if err := s.t.SetWriteDeadline(deadline); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return s.fail(err)
	}
	s.deadlineSet, s.deadlineAt = true, now
	return nil
}

// fail ends the session because the transport returned err, and returns the
// reason built from it.
func (s *Session) fail(err error) error {
	r := reason(ErrWriteFailed, err)
	if isTimeout(err) {
		r = reason(ErrWriteTimeout, err)
	}
	s.end(r)
	return r
}

// isTimeout reports whether err is a write deadline passing
// (Options.WriteTimeout, or a transport's own timeout).
func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	// ETIMEDOUT is the kernel giving up on the connection (TCP_USER_TIMEOUT
	// passed, or retransmissions went unanswered): a dead peer, a failed
	// write, although its Timeout() reports true.
	if errors.Is(err, syscall.ETIMEDOUT) {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// end records r as the reason and closes Done, unless the session has
// already ended. It never blocks on a write.
func (s *Session) end(r error) {
	st := &endState{reason: r, sendErr: endedError{r}}
	if s.ended.CompareAndSwap(nil, st) {
		s.cancel(r)
	}
}

// open sends the status line, the headers and the initial retry hint, and
// arms the heartbeat.
func (s *Session) open() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	now := time.Now()
	if err := s.setDeadlineLocked(now); err != nil {
		return err
	}
	if err := s.t.WriteHeader(http.StatusOK, s.ep.header); err != nil {
		return s.fail(err)
	}
	if len(s.ep.retry) > 0 {
		if _, err := s.t.Write(s.ep.retry); err != nil {
			return s.fail(err)
		}
		s.bytes.Add(int64(len(s.ep.retry)))
	}
	if err := s.t.Flush(); err != nil {
		return s.fail(err)
	}
	s.lastWrite = now
	if lt := s.ep.opts.MaxLifetime; lt > 0 {
		if j := s.ep.opts.LifetimeJitter; j > 0 {
			lt += rand.N(j)
		}
		s.expires = now.Add(lt)
	}
	if d, ok := s.nextTimerLocked(now); ok {
		s.heartbeat = time.AfterFunc(d, s.beat)
	}
	return nil
}

// nextTimerLocked returns how long from now the session's timer must fire:
// at the next moment it could have been silent for a heartbeat interval, or
// at its expiry, whichever is first; false if neither applies.
func (s *Session) nextTimerLocked(now time.Time) (time.Duration, bool) {
	var d time.Duration
	ok := false
	if hb := s.ep.opts.Heartbeat; hb > 0 {
		d, ok = hb-now.Sub(s.lastWrite), true
	}
	if !s.expires.IsZero() {
		if left := s.expires.Sub(now); !ok || left < d {
			d, ok = left, true
		}
	}
	return max(d, 0), ok
}

// beat runs on the session's timer. At the session's expiry it sends a
// retry hint and ends the session with ErrLifetime; otherwise it writes a
// heartbeat comment if the session has been silent for a whole interval.
// Either way it re-arms the timer for the next moment one of them is due.
func (s *Session) beat() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.t == nil || s.ended.Load() != nil {
		return
	}
	now := time.Now()
	if !s.expires.IsZero() && !now.Before(s.expires) {
		s.expireLocked()
		return
	}
	if hb := s.ep.opts.Heartbeat; hb > 0 && now.Sub(s.lastWrite) >= hb {
		if s.writeLocked(heartbeatComment) != nil {
			return
		}
		s.heartbeats.Add(1)
		now = s.lastWrite
	}
	if d, ok := s.nextTimerLocked(now); ok {
		s.heartbeat.Reset(d)
	}
}

// expireLocked ends a session that reached its lifetime: a retry hint first,
// so that the client reconnects after a short random delay (Options.Retry,
// or one second, plus up to as much again), then ErrLifetime.
func (s *Session) expireLocked() {
	base := s.ep.opts.Retry
	if base <= 0 {
		base = time.Second
	}
	hint := base + rand.N(base)
	s.buf = appendRetry(s.buf[:0], hint)
	s.buf = append(s.buf, '\n')
	_ = s.writeLocked(s.buf) // the session ends either way
	s.end(ErrLifetime)
}

// release writes the farewell if the session was ended by Shutdown, stops the
// heartbeat, detaches the transport (once release returns nothing is written
// to it again) and adds what the session wrote to the endpoint's totals.
func (s *Session) release() CloseInfo {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.heartbeat != nil {
		s.heartbeat.Stop()
	}
	r := s.Err()
	if f := s.ep.farewell; f != nil && s.t != nil && errors.Is(r, ErrShutdown) {
		// The session has ended, so bypass writeLocked's check; a failure
		// here changes nothing but the byte count.
		if s.setDeadlineLocked(time.Now()) == nil {
			if _, err := s.t.Write(f); err == nil && s.t.Flush() == nil {
				s.bytes.Add(int64(len(f)))
			}
		}
	}
	s.t = nil
	s.ep.fold(s)
	return CloseInfo{Reason: r, Duration: time.Since(s.opened), Events: s.events.Load(), Bytes: s.bytes.Load()}
}
