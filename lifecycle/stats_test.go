package lifecycle_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
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

// Stats counts sessions opened, refused (over a cap, by Admit), and closed
// by the name of their reason, exactly.
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
	}, lifecycle.Options{Heartbeat: -1, MaxSessions: 2, Logger: slog.New(slog.DiscardHandler),
		Admit: func(_ context.Context, r *lifecycle.Request) error {
			if r.Path == "/denied" {
				return lifecycle.Refuse(404, "no such thing")
			}
			return nil
		}})
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
	wait(t, run(context.Background(), "/denied"), "Serve returns for a stream Admit refused")
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
	if st.Opened != 6 || st.Refused != 2 || st.Overloaded != 1 || st.Failed != 0 || st.Active != 0 {
		t.Errorf("Opened %d Refused %d Overloaded %d Failed %d Active %d, want 6 2 1 0 0",
			st.Opened, st.Refused, st.Overloaded, st.Failed, st.Active)
	}
	for _, name := range []string{"client-gone", "shutdown", "deadline", "lifetime", "write-timeout",
		"write-failed", "handler-panicked", "handler-returned", "closed", lifecycle.ReasonOther} {
		if got, ok := st.Closed[name]; !ok || got != want[name] {
			t.Errorf("Closed[%q] = %d (present: %v), want %d", name, got, ok, want[name])
		}
	}
	close(release)
}

// Stats counts the events, bytes and heartbeats that sessions wrote, the
// open ones included, exactly: the bytes the transport got.
func TestStatsWritten(t *testing.T) {
	sent, release := make(chan struct{}), make(chan struct{})
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		for i := range 3 {
			if err := s.Send(lifecycle.Event{ID: strconv.Itoa(i), Data: []byte("hello")}); err != nil {
				return err
			}
		}
		if err := s.SendBatch([]lifecycle.Event{{Data: []byte("a")}, {Data: []byte("b")}}); err != nil {
			return err
		}
		if err := s.Comment("not an event"); err != nil {
			return err
		}
		sent <- struct{}{}
		<-release
		return nil
	}, lifecycle.Options{Heartbeat: 5 * time.Millisecond, Retry: time.Second, Logger: slog.New(slog.DiscardHandler)})
	m, done := serve(t, ep)
	wait(t, sent, "events sent")
	if st := ep.Stats(); st.Events != 5 || st.Bytes < int64(len("retry: 1000\n\n")) {
		t.Errorf("while open: Events %d Bytes %d, want 5 and the bytes so far", st.Events, st.Bytes)
	}
	for deadline := time.Now().Add(5 * time.Second); ep.Stats().Heartbeats < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no two heartbeats within 5 s")
		}
	}
	close(release)
	wait(t, done, "Serve returns")
	m.release()
	m.mu.Lock()
	body := m.buf.String()
	m.mu.Unlock()
	st := ep.Stats()
	if st.Events != 5 || st.Bytes != int64(len(body)) || st.Heartbeats != int64(strings.Count(body, ":\n")) {
		t.Errorf("Events %d Bytes %d Heartbeats %d; want 5, %d, %d (the body: %q)",
			st.Events, st.Bytes, st.Heartbeats, len(body), strings.Count(body, ":\n"), body)
	}
}

// The running totals of what sessions wrote never go down, while sessions
// write, end and are counted in the endpoint's totals, and add up exactly
// at the end.
func TestStatsWrittenNeverDecrease(t *testing.T) {
	const sessions, events = 40, 50
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		for range events {
			if err := s.Send(lifecycle.Event{Data: []byte("x")}); err != nil {
				return err
			}
		}
		return nil
	}, lifecycle.Options{Heartbeat: -1, Logger: slog.New(slog.DiscardHandler)})
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		var last lifecycle.Stats
		for {
			st := ep.Stats()
			if st.Events < last.Events || st.Bytes < last.Bytes {
				t.Errorf("went down: Events %d -> %d, Bytes %d -> %d", last.Events, st.Events, last.Bytes, st.Bytes)
				return
			}
			last = st
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	var wg sync.WaitGroup
	for range sessions {
		wg.Go(func() {
			ep.Serve(context.Background(), &memTransport{t: t}, &lifecycle.Request{Method: "GET", Path: "/"})
		})
	}
	wg.Wait()
	close(stop)
	<-watched
	if st := ep.Stats(); st.Events != sessions*events || st.Bytes != sessions*events*int64(len("data: x\n\n")) {
		t.Errorf("Events %d Bytes %d, want %d and %d", st.Events, st.Bytes, sessions*events, sessions*events*len("data: x\n\n"))
	}
}
