package lifecycle

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// nopTransport accepts everything.
type nopTransport struct{}

func (nopTransport) WriteHeader(int, http.Header) error { return nil }
func (nopTransport) Write(p []byte) (int, error)        { return len(p), nil }
func (nopTransport) Flush() error                       { return nil }
func (nopTransport) SetWriteDeadline(time.Time) error   { return nil }

// idleSession returns an open session whose own heartbeat timer will not
// fire during a test, so that beat can be driven by hand.
func idleSession(t testing.TB) *Session {
	ready := make(chan *Session)
	ep := NewEndpoint(func(s *Session) error {
		ready <- s
		<-s.Done()
		return nil
	}, Options{Heartbeat: time.Hour})
	done := make(chan struct{})
	go func() { defer close(done); ep.Serve(context.Background(), nopTransport{}, &Request{Method: "GET"}) }()
	s := <-ready
	t.Cleanup(func() { s.Close(); <-done })
	return s
}

// heartbeatDue makes the session look silent for longer than its interval
// and runs the heartbeat, which must then write a comment.
func heartbeatDue(s *Session) {
	s.wmu.Lock()
	s.lastWrite = time.Time{}
	s.wmu.Unlock()
	s.beat()
}

func TestHeartbeatAllocatesNothing(t *testing.T) {
	s := idleSession(t)
	before := s.bytes.Load()
	if allocs := testing.AllocsPerRun(1000, func() { heartbeatDue(s) }); allocs != 0 {
		t.Errorf("a heartbeat allocates %v times, want 0", allocs)
	}
	if s.bytes.Load() == before {
		t.Error("no heartbeat was written")
	}
}

func BenchmarkHeartbeat(b *testing.B) {
	s := idleSession(b)
	b.ReportAllocs()
	for b.Loop() {
		heartbeatDue(s)
	}
}
