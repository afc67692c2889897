package lifecycle_test

import (
	"errors"
	"io"
	"testing"

	"github.com/ssekit/ssekit/lifecycle"
)

// A write after the end returns an error matching ErrEnded and the reason
// with its cause, whose message names the package once.
func TestEndedErrorReadsOnce(t *testing.T) {
	s, _, done := openSession(t, lifecycle.Options{Heartbeat: -1})
	s.CloseWithError(io.EOF)
	wait(t, done, "Serve returns after CloseWithError")
	err := s.Send(lifecycle.Event{Data: []byte("late")})
	if !errors.Is(err, lifecycle.ErrEnded) || !errors.Is(err, io.EOF) {
		t.Fatalf("Send after the end: %v, want ErrEnded wrapping the reason", err)
	}
	if got, want := err.Error(), "lifecycle: session ended: EOF"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	s2, _, done2 := openSession(t, lifecycle.Options{Heartbeat: -1})
	s2.Close()
	wait(t, done2, "Serve returns after Close")
	err = s2.Send(lifecycle.Event{Data: []byte("late")})
	if got, want := err.Error(), "lifecycle: session ended: session closed"; got != want || !errors.Is(err, lifecycle.ErrClosed) {
		t.Errorf("message %q (matches ErrClosed: %v), want %q", got, errors.Is(err, lifecycle.ErrClosed), want)
	}
}
