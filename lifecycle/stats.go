package lifecycle

import (
	"errors"
	"sync"
	"sync/atomic"
)

// Stats is a snapshot of an endpoint's sessions, for monitoring. Every
// count but Active is a running total since NewEndpoint, which never
// decreases from one snapshot to the next.
type Stats struct {
	Active     int              // sessions open now
	Opened     int64            // sessions opened
	Refused    int64            // streams refused before they opened: over a cap (ErrOverloaded) or by Options.Admit (ErrRefused)
	Overloaded int64            // the part of Refused that was over a cap (ErrOverloaded); the rest Admit refused
	Failed     int64            // streams whose headers could not be sent
	Closed     map[string]int64 // sessions ended, by ReasonName; every name is present

	// What sessions wrote, the open ones so far included: events (not
	// counting comments and heartbeats), body bytes (comments and
	// heartbeats included) and heartbeat comments.
	Events, Bytes, Heartbeats int64
}

// reasons are the close reasons with their stable names, in the order
// ReasonName tries them: the first match names the reason.
var reasons = [...]struct {
	err  error
	name string
}{
	{ErrClientGone, "client-gone"},
	{ErrShutdown, "shutdown"},
	{ErrDeadline, "deadline"},
	{ErrLifetime, "lifetime"},
	{ErrWriteTimeout, "write-timeout"},
	{ErrWriteFailed, "write-failed"},
	{ErrHandlerPanicked, "handler-panicked"},
	{ErrHandlerReturned, "handler-returned"},
	{ErrClosed, "closed"},
}

// ReasonOther is ReasonName's answer for an error that is none of the close
// reasons, such as the error given to Session.CloseWithError.
const ReasonOther = "other"

// ReasonName returns the stable, lower-case name of a close reason:
// "client-gone", "shutdown", "deadline", "lifetime", "write-timeout",
// "write-failed", "handler-panicked", "handler-returned", "closed", or
// ReasonOther. The names do not change between releases: use them as metric
// labels and in logs. It is safe for concurrent use.
func ReasonName(reason error) string {
	if i := reasonIndex(reason); i < len(reasons) {
		return reasons[i].name
	}
	return ReasonOther
}

// reasonIndex is reason's index in reasons, or len(reasons) for none.
func reasonIndex(reason error) int {
	for i, r := range reasons {
		if errors.Is(reason, r.err) {
			return i
		}
	}
	return len(reasons)
}

// counters are an endpoint's running totals. They are safe for concurrent
// use.
type counters struct {
	opened, overloaded, denied, failed atomic.Int64
	closed                             [len(reasons) + 1]atomic.Int64 // by reasonIndex

	// What released sessions wrote. A session's own counts move here when
	// it is released, under mu, which Stats holds while it adds up the
	// sessions not yet released: a total never counts a session twice, nor
	// loses one for a moment.
	mu                        sync.Mutex
	events, bytes, heartbeats int64
}

// fold adds what s wrote to the endpoint's totals. It is called once, when
// s is released.
func (e *Endpoint) fold(s *Session) {
	c := &e.counts
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events += s.events.Load()
	c.bytes += s.bytes.Load()
	c.heartbeats += s.heartbeats.Load()
	s.folded = true
}

// Stats returns a snapshot of the endpoint's sessions. It is safe for
// concurrent use; the counts are each exact, read one after another. It
// looks at every open session (without waiting for their writes), so its
// cost grows with their number: call it every few seconds, not per event.
func (e *Endpoint) Stats() Stats {
	c := &e.counts
	st := Stats{
		Active:     e.Active(),
		Opened:     c.opened.Load(),
		Overloaded: c.overloaded.Load(),
		Failed:     c.failed.Load(),
		Closed:     make(map[string]int64, len(reasons)+1),
	}
	st.Refused = st.Overloaded + c.denied.Load()
	for i := range c.closed {
		name := ReasonOther
		if i < len(reasons) {
			name = reasons[i].name
		}
		st.Closed[name] = c.closed[i].Load()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st.Events, st.Bytes, st.Heartbeats = c.events, c.bytes, c.heartbeats
	e.sessions.Each(func(s *Session) {
		if !s.folded {
			st.Events += s.events.Load()
			st.Bytes += s.bytes.Load()
			st.Heartbeats += s.heartbeats.Load()
		}
	})
	return st
}
