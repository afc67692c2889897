package lifecycle_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssekit/ssekit/lifecycle"
)

// memTransport records what a session writes, for tests of the core's own
// logic. Adapters are tested over real sockets by the conformance suite.
type memTransport struct {
	mu       sync.Mutex
	buf      bytes.Buffer
	status   int
	writeErr error // returned by Write when set
	released bool  // set by the test after Serve returns; any use then fails the test
	writes   int   // Write calls
	t        testing.TB
}

func (m *memTransport) use() {
	if m.released {
		m.t.Error("transport used after Serve returned")
	}
}

func (m *memTransport) WriteHeader(status int, _ http.Header) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.use()
	m.status = status
	return nil
}

func (m *memTransport) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.use()
	if m.writeErr != nil {
		return 0, m.writeErr
	}
	m.writes++
	return m.buf.Write(p)
}

func (m *memTransport) Flush() error                     { return nil }
func (m *memTransport) SetWriteDeadline(time.Time) error { return nil }

func (m *memTransport) setWriteErr(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.writeErr = err
}

func (m *memTransport) release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.released = true
}

// serve runs ep on a memTransport in the background; the returned channel
// is closed when Serve returns.
func serve(t testing.TB, ep *lifecycle.Endpoint) (*memTransport, <-chan struct{}) {
	m := &memTransport{t: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		ep.Serve(context.Background(), m, &lifecycle.Request{Method: "GET", Path: "/"})
		m.release()
	}()
	return m, done
}

// openSession serves an endpoint with opts whose handler idles until the
// session ends, and returns the open session.
func openSession(t testing.TB, opts lifecycle.Options) (*lifecycle.Session, *memTransport, <-chan struct{}) {
	ready := make(chan *lifecycle.Session)
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		ready <- s
		<-s.Done()
		return nil
	}, opts)
	m, done := serve(t, ep)
	return <-ready, m, done
}

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: not within 5s", what)
	}
}

func TestSendAllocatesNothing(t *testing.T) {
	s, m, done := openSession(t, lifecycle.Options{Heartbeat: -1})
	m.setWriteErr(nil)
	ev := lifecycle.Event{ID: "12345", Data: []byte(`{"price":101.5,"symbol":"ACME"}`)}
	allocs := testing.AllocsPerRun(1000, func() {
		if err := s.Send(ev); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Send of a one-line event allocates %v times, want 0", allocs)
	}
	allocs = testing.AllocsPerRun(1000, func() { s.Comment("") })
	if allocs != 0 {
		t.Errorf("Comment allocates %v times, want 0", allocs)
	}
	s.Close()
	wait(t, done, "Serve's return")
}

// SendBatch writes a burst in one write, or nothing if any event is invalid.
func TestSendBatch(t *testing.T) {
	s, m, done := openSession(t, lifecycle.Options{Heartbeat: -1})
	m.mu.Lock()
	writes, before := m.writes, m.buf.Len()
	m.mu.Unlock()
	evs := []lifecycle.Event{{ID: "1", Data: []byte("a")}, {Type: "t", Data: []byte("b\nc")}, {ID: "3"}}
	if err := s.SendBatch(evs); err != nil {
		t.Fatal(err)
	}
	var want []byte
	for _, e := range evs {
		want, _ = e.AppendTo(want)
	}
	m.mu.Lock()
	if got := m.buf.Bytes()[before:]; !bytes.Equal(got, want) || m.writes != writes+1 {
		t.Errorf("SendBatch wrote %q in %d writes, want %q in 1", got, m.writes-writes, want)
	}
	writes, before = m.writes, m.buf.Len()
	m.mu.Unlock()

	bad := []lifecycle.Event{{Data: []byte("ok")}, {ID: "x\ny"}}
	var fe *lifecycle.FieldError
	if err := s.SendBatch(bad); !errors.As(err, &fe) || fe.Field != "ID" {
		t.Errorf("SendBatch with an invalid ID: %v, want a FieldError for ID", err)
	}
	m.mu.Lock()
	if m.writes != writes || m.buf.Len() != before {
		t.Errorf("SendBatch with an invalid event wrote something")
	}
	m.mu.Unlock()
	s.Close()
	wait(t, done, "Serve's return")
	if err := s.SendBatch(evs); !errors.Is(err, lifecycle.ErrEnded) {
		t.Errorf("SendBatch after the end: %v, want ErrEnded", err)
	}
}

func TestWriteErrorsEndTheSession(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want error
	}{
		{os.ErrDeadlineExceeded, lifecycle.ErrWriteTimeout},
		{&net.OpError{Op: "write", Net: "tcp", Err: os.ErrDeadlineExceeded}, lifecycle.ErrWriteTimeout},
		{errors.New("broken pipe"), lifecycle.ErrWriteFailed},
		// The kernel gave up on the connection (TCP_USER_TIMEOUT, or
		// retransmissions unanswered): a dead peer, not the write deadline,
		// although the error's Timeout() is true.
		{&net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.ETIMEDOUT)}, lifecycle.ErrWriteFailed},
	} {
		var closed lifecycle.CloseInfo
		s, m, done := openSession(t, lifecycle.Options{Heartbeat: -1,
			OnClose: func(_ *lifecycle.Session, ci lifecycle.CloseInfo) { closed = ci }})
		m.setWriteErr(tc.err)
		err := s.Send(lifecycle.Event{Data: []byte("x")})
		if !errors.Is(err, tc.want) || !errors.Is(err, tc.err) {
			t.Errorf("Send with transport error %v returned %v, want it wrapped in %v", tc.err, err, tc.want)
		}
		wait(t, done, "Serve's return")
		if !errors.Is(closed.Reason, tc.want) {
			t.Errorf("close reason %v, want %v", closed.Reason, tc.want)
		}
		if err := s.Send(lifecycle.Event{}); !errors.Is(err, lifecycle.ErrEnded) || !errors.Is(err, tc.want) {
			t.Errorf("Send after the failure: %v, want ErrEnded and %v", err, tc.want)
		}
	}
}

func TestShutdownRespectsItsDeadline(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		close(started)
		<-release // ignores Done: a badly written handler
		return nil
	}, lifecycle.Options{Heartbeat: -1})
	_, done := serve(t, ep)
	wait(t, started, "handler start")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := ep.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown with a stuck handler = %v, want context.DeadlineExceeded", err)
	}
	close(release)
	wait(t, done, "Serve's return")
	if err := ep.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown after the handler returned = %v, want nil", err)
	}
}

func TestNothingWrittenAfterServeReturns(t *testing.T) {
	// Heartbeats and writers from other goroutines race the handler's
	// return; none may touch the transport once Serve has returned.
	var s *lifecycle.Session
	got := make(chan struct{})
	ep := lifecycle.NewEndpoint(func(sess *lifecycle.Session) error {
		s = sess
		close(got)
		time.Sleep(30 * time.Millisecond)
		return nil
	}, lifecycle.Options{Heartbeat: time.Millisecond})
	_, done := serve(t, ep)
	wait(t, got, "handler start")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					s.Send(lifecycle.Event{Data: []byte("x")})
				}
			}
		}()
	}
	wait(t, done, "Serve's return")
	time.Sleep(20 * time.Millisecond) // heartbeats would fire here
	close(stop)
	wg.Wait()
}

func TestNewEndpointPanicsOnMisuse(t *testing.T) {
	for name, f := range map[string]func(){
		"nil handler": func() { lifecycle.NewEndpoint(nil, lifecycle.Options{}) },
		"invalid farewell": func() {
			lifecycle.NewEndpoint(func(*lifecycle.Session) error { return nil }, lifecycle.Options{Farewell: &lifecycle.Event{ID: "\n"}})
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: NewEndpoint did not panic", name)
				}
			}()
			f()
		}()
	}
}

func BenchmarkSend(b *testing.B) {
	s, m, done := openSession(b, lifecycle.Options{Heartbeat: -1})
	for _, bc := range []struct {
		name string
		ev   lifecycle.Event
	}{
		{"one-line", lifecycle.Event{ID: "12345", Data: bytes.Repeat([]byte("x"), 64)}},
		{"multi-line", lifecycle.Event{ID: "12345", Type: "update", Data: []byte("line one\nline two\nline three\nline four")}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.mu.Lock()
				m.buf.Reset()
				m.mu.Unlock()
				s.Send(bc.ev)
			}
		})
	}
	b.Run("comment", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.mu.Lock()
			m.buf.Reset()
			m.mu.Unlock()
			s.Comment("")
		}
	})
	s.Close()
	<-done
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
