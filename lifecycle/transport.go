package lifecycle

import (
	"net/http"
	"time"
)

// Transport is the one interface an adapter implements: the raw response of
// one stream. Everything else (encoding, heartbeats, serializing writers,
// deadlines per write, the close reason, shutdown) belongs to the Session.
//
// The Session never calls a Transport's methods concurrently, and never calls
// any of them after Endpoint.Serve has returned: the adapter may recycle
// everything behind the Transport from then on.
type Transport interface {
	// WriteHeader sends the status line and the given headers, merged over
	// any headers that middleware has already set on the response. It is
	// called exactly once, before any Write. Headers may be buffered until
	// the next Flush.
	WriteHeader(status int, header http.Header) error

	// Write writes body bytes; they may be buffered until the next Flush.
	// An error ends the session (ErrWriteTimeout if it is a deadline error,
	// ErrWriteFailed otherwise). Write must not retain p.
	Write(p []byte) (int, error)

	// Flush sends everything written so far to the client, or hands it to
	// a writer of the adapter's own that sends it at once (and reports a
	// later failure by canceling Serve's context, see Endpoint.Serve). An
	// adapter that cannot flush must return an error rather than buffer
	// silently: that error ends the session with ErrWriteFailed.
	Flush() error

	// SetWriteDeadline sets the deadline for the following Write and Flush
	// calls; the zero time means none. It replaces any deadline the server
	// set for the whole response. An adapter that cannot set deadlines
	// returns an error wrapping http.ErrNotSupported, which the Session
	// ignores (the write timeout is then not enforced).
	SetWriteDeadline(t time.Time) error
}
