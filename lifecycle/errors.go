package lifecycle

import (
	"errors"
	"fmt"
	"strings"
)

// Reasons a session ends. Session.Err, Context's cause and CloseInfo.Reason
// match exactly one of them with errors.Is (or are the error given to
// Session.CloseWithError). Where there is an underlying cause (the transport's
// error, the handler's error, the panic value), the reason wraps it too, so
// errors.Is and errors.As find both.
var (
	// ErrClientGone: the client closed the connection or reset the stream.
	ErrClientGone = errors.New("lifecycle: client went away")

	// ErrShutdown: Endpoint.Shutdown (or the server's shutdown, through
	// the adapter) ended the session.
	ErrShutdown = errors.New("lifecycle: server shutting down")

	// ErrDeadline: the request's context reached its deadline, as set by a
	// timeout middleware (echo's ContextTimeout, chi's Timeout). The reason
	// wraps context.DeadlineExceeded.
	ErrDeadline = errors.New("lifecycle: request deadline exceeded")

	// ErrWriteTimeout: a write did not finish within Options.WriteTimeout;
	// the client is too slow or dead.
	ErrWriteTimeout = errors.New("lifecycle: write timed out")

	// ErrWriteFailed: writing or flushing to the client failed.
	ErrWriteFailed = errors.New("lifecycle: write failed")

	// ErrHandlerReturned: the handler returned while the session was open.
	// If it returned an error, the reason wraps that error too.
	ErrHandlerReturned = errors.New("lifecycle: handler returned")

	// ErrHandlerPanicked: the handler panicked; the reason's message carries
	// the panic value and, if the value is an error, wraps it.
	ErrHandlerPanicked = errors.New("lifecycle: handler panicked")

	// ErrLifetime: the session reached Options.MaxLifetime (after a retry
	// hint was sent).
	ErrLifetime = errors.New("lifecycle: session reached its maximum lifetime")

	// ErrClosed: Session.Close ended the session.
	ErrClosed = errors.New("lifecycle: session closed")
)

// Errors returned by Session methods.
var (
	// ErrEnded is returned by Send and the other write methods once the
	// session has ended; the returned error also wraps the reason it ended.
	ErrEnded = errors.New("lifecycle: session ended")

	// ErrOverloaded is the reason a stream was refused over
	// Options.MaxSessions or MaxSessionsPerKey, as given to Options.OnReject.
	// No session existed: the client got 503 Service Unavailable.
	ErrOverloaded = errors.New("lifecycle: too many sessions")

	// ErrInvalidEvent is matched by every *FieldError.
	ErrInvalidEvent = errors.New("lifecycle: invalid event")
)

// FieldError reports an event field that cannot be encoded. Nothing of the
// event is written when it is returned. It matches ErrInvalidEvent.
type FieldError struct {
	Field  string // the Event field, such as "ID"
	Reason string // what is wrong with it, such as "contains LF"
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("lifecycle: invalid event: field %s %s", e.Field, e.Reason)
}

// Is reports whether target is ErrInvalidEvent.
func (e *FieldError) Is(target error) bool { return target == ErrInvalidEvent }

// reason joins a sentinel with its cause, so errors.Is matches both and the
// message reads "sentinel: cause". A nil cause yields the sentinel itself.
func reason(sentinel, cause error) error {
	if cause == nil {
		return sentinel
	}
	return fmt.Errorf("%w: %w", sentinel, cause)
}

// endedError is what writes return once a session has ended: it matches
// ErrEnded and wraps the reason. Its message names the package once:
// "lifecycle: session ended: client went away: EOF".
type endedError struct{ reason error }

func (e endedError) Error() string {
	return ErrEnded.Error() + ": " + strings.TrimPrefix(e.reason.Error(), "lifecycle: ")
}

func (e endedError) Is(target error) bool { return target == ErrEnded }
func (e endedError) Unwrap() error        { return e.reason }

// panicError is the cause recorded when a handler or hook panics.
type panicError struct{ value any }

func (p panicError) Error() string { return fmt.Sprint(p.value) }

// Unwrap returns the panic value if it is an error.
func (p panicError) Unwrap() error {
	err, _ := p.value.(error)
	return err
}
