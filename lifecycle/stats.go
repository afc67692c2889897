package lifecycle

import (
	"errors"
	"sync/atomic"
)

// Stats is a snapshot of an endpoint's sessions, for monitoring.
type Stats struct {
	Active  int              // sessions open now
	Opened  int64            // sessions opened since NewEndpoint
	Refused int64            // streams refused before they opened (ErrOverloaded)
	Failed  int64            // streams whose headers could not be sent
	Closed  map[string]int64 // sessions ended, by ReasonName; every name is present
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
	opened, refused, failed atomic.Int64
	closed                  [len(reasons) + 1]atomic.Int64 // by reasonIndex
}

// Stats returns a snapshot of the endpoint's sessions. It is safe for
// concurrent use; the counts are each exact, read one after another.
func (e *Endpoint) Stats() Stats {
	st := Stats{
		Active:  e.Active(),
		Opened:  e.counts.opened.Load(),
		Refused: e.counts.refused.Load(),
		Failed:  e.counts.failed.Load(),
		Closed:  make(map[string]int64, len(reasons)+1),
	}
	for i := range e.counts.closed {
		name := ReasonOther
		if i < len(reasons) {
			name = reasons[i].name
		}
		st.Closed[name] = e.counts.closed[i].Load()
	}
	return st
}
