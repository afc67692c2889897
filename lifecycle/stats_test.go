package lifecycle_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ssekit/ssekit/lifecycle"
)

func TestReasonNames(t *testing.T) {
	for err, want := range map[error]string{
		lifecycle.ErrClientGone:                           "client-gone",
		lifecycle.ErrShutdown:                             "shutdown",
		lifecycle.ErrDeadline:                             "deadline",
		lifecycle.ErrLifetime:                             "lifetime",
		lifecycle.ErrWriteTimeout:                         "write-timeout",
		lifecycle.ErrWriteFailed:                          "write-failed",
		lifecycle.ErrHandlerPanicked:                      "handler-panicked",
		lifecycle.ErrHandlerReturned:                      "handler-returned",
		lifecycle.ErrClosed:                               "closed",
		io.EOF:                                            lifecycle.ReasonOther,
		errors.Join(lifecycle.ErrClientGone, io.EOF):      "client-gone",
		errors.Join(io.EOF, lifecycle.ErrHandlerPanicked): "handler-panicked",
	} {
		if got := lifecycle.ReasonName(err); got != want {
			t.Errorf("ReasonName(%v) = %q, want %q", err, got, want)
		}
	}
}

// Stats counts sessions opened, refused, and closed by the name of their
// reason, exactly.
func TestStats(t *testing.T) {
	release := make(chan struct{})
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		switch s.Request().Path {
		case "/return":
			return nil
		case "/panic":
			panic("bug")
		case "/close":
			s.Close()
		}
		select {
		case <-s.Done():
		case <-release:
		}
		return nil
	}, lifecycle.Options{Heartbeat: -1, MaxSessions: 2, Logger: slog.New(slog.DiscardHandler)})
	run := func(ctx context.Context, path string) <-chan struct{} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			ep.Serve(ctx, &memTransport{t: t}, &lifecycle.Request{Method: "GET", Path: path})
		}()
		return done
	}
	for _, p := range []string{"/return", "/panic", "/close", "/return"} {
		wait(t, run(context.Background(), p), "Serve returns for "+p)
	}
	gone, leave := context.WithCancelCause(context.Background())
	leaving := run(gone, "/wait")
	staying := run(context.Background(), "/wait")
	for deadline := time.Now().Add(5 * time.Second); ep.Active() != 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("two sessions not open within 5 s")
		}
	}
	wait(t, run(context.Background(), "/refused"), "Serve returns for a refused stream")
	leave(io.EOF)
	wait(t, leaving, "Serve returns after the client left")
	if st := ep.Stats(); st.Active != 1 {
		t.Errorf("Active = %d, want 1", st.Active)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ep.Shutdown(ctx) // ends the last one
	wait(t, staying, "Serve returns after Shutdown")

	st := ep.Stats()
	want := map[string]int64{"handler-returned": 2, "handler-panicked": 1, "closed": 1, "client-gone": 1, "shutdown": 1}
	if st.Opened != 6 || st.Refused != 1 || st.Failed != 0 || st.Active != 0 {
		t.Errorf("Opened %d Refused %d Failed %d Active %d, want 6 1 0 0", st.Opened, st.Refused, st.Failed, st.Active)
	}
	for _, name := range []string{"client-gone", "shutdown", "deadline", "lifetime", "write-timeout",
		"write-failed", "handler-panicked", "handler-returned", "closed", lifecycle.ReasonOther} {
		if got, ok := st.Closed[name]; !ok || got != want[name] {
			t.Errorf("Closed[%q] = %d (present: %v), want %d", name, got, ok, want[name])
		}
	}
	close(release)
}
