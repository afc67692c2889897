package hub_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssekit/ssekit/hub"
	"github.com/ssekit/ssekit/hub/hubtest"
	"github.com/ssekit/ssekit/lifecycle"
)

// gatedSession serves one session of h on topics over a gatedTransport.
func gatedSession(t *testing.T, h *hub.Hub, topics ...string) (*gatedTransport, *lifecycle.Endpoint, <-chan struct{}) {
	t.Helper()
	tr := &gatedTransport{gate: make(chan struct{})}
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error { return h.Serve(s, topics...) }, lifecycle.Options{Heartbeat: -1})
	served := make(chan struct{})
	go func() {
		defer close(served)
		ep.Serve(context.Background(), tr, &lifecycle.Request{Method: "GET", Path: "/"})
	}()
	return tr, ep, served
}

func waitBlocked(t *testing.T, trs ...*gatedTransport) {
	t.Helper()
	for _, tr := range trs {
		for deadline := time.Now().Add(5 * time.Second); tr.blocked.Load() == 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the first write never started")
			}
		}
	}
}

// An event published to several subscribers is encoded once and shared;
// a subscriber whose queue holds shared events and events of a topic of
// its own (which it encodes itself) still gets all of them, in order, in
// one write, byte for byte as Send would write them.
func TestSharedAndOwnEventsGoOutInOneWrite(t *testing.T) {
	h := hub.New(hub.NewMemory(hub.Retention{}), hub.Options{})
	defer h.Close()
	a, epA, servedA := gatedSession(t, h, "t", "solo")
	b, epB, servedB := gatedSession(t, h, "t")
	waitSubscribers(t, h, "t", 2)
	waitSubscribers(t, h, "solo", 1)
	first := publish(t, h, "t", "first") // both writes block on their gates
	waitBlocked(t, a, b)
	want := map[*gatedTransport][]byte{}
	for _, tr := range []*gatedTransport{a, b} {
		want[tr], _ = (&lifecycle.Event{ID: first.String(), Data: []byte("first")}).AppendTo(nil)
	}
	for i := range 100 {
		topic := "t"
		if i%3 == 0 {
			topic = "solo"
		}
		data := strconv.Itoa(i) + "\nline two"
		p := publish(t, h, topic, data)
		e := lifecycle.Event{ID: p.String(), Data: []byte(data)}
		want[a], _ = e.AppendTo(want[a])
		if topic == "t" {
			want[b], _ = e.AppendTo(want[b])
		}
	}
	for deadline := time.Now().Add(5 * time.Second); h.Stats().Queued != 100+66; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d queued, want %d", h.Stats().Queued, 100+66)
		}
	}
	close(a.gate)
	close(b.gate)
	for _, tr := range []*gatedTransport{a, b} {
		for deadline := time.Now().Add(5 * time.Second); tr.String() != string(want[tr]); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("got %q, want %q", tr.String(), want[tr])
			}
		}
		if w := tr.writes.Load(); w != 2 { // the first event, then everything queued in one
			t.Errorf("%d writes, want 2", w)
		}
	}
	epA.Shutdown(context.Background())
	epB.Shutdown(context.Background())
	<-servedA
	<-servedB
}

// badType is a backend that lets an event with a line break in its type
// through to the hub.
type badType struct{ *hub.Memory }

func (b badType) Follow(ctx context.Context, after hub.Pos) ([]hub.Entry, error) {
	es, err := b.Memory.Follow(ctx, after)
	for i := range es {
		if string(es[i].Data) == "bad" {
			es[i].Type = "x\ny"
		}
	}
	return es, err
}

// An event that cannot be encoded does not go missing silently, whether it
// goes to one subscriber or to several: each gets a reset event in its
// place, then the events after it.
func TestUnencodableEventIsAReset(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			srv := startHub(t, badType{hub.NewMemory(hub.Retention{})}, hub.Options{}, lifecycle.Options{})
			clients := make([]*hubtest.Client, n)
			for i := range clients {
				clients[i] = srv.connect(t, "", "t")
			}
			waitSubscribers(t, srv.h, "t", n)
			bad := publish(t, srv.h, "t", "bad")
			good := publish(t, srv.h, "t", "good")
			for _, c := range clients {
				ev := c.Next(t)
				if ev.Type != hub.ResetEventType || ev.Data != hub.ResetGap || ev.LastEventID != bad.String() {
					t.Errorf("got %+v, want a reset (gap) at %v", ev, bad)
				}
				if ev := c.Next(t); ev.Data != "good" || ev.LastEventID != good.String() {
					t.Errorf("got %+v, want the next event at %v", ev, good)
				}
			}
		})
	}
}

// Close ends every subscriber's Serve with ErrClosed (it wakes each of
// them), and Serve called afterwards returns ErrClosed at once.
func TestCloseEndsSubscribers(t *testing.T) {
	h := hub.New(hub.NewMemory(hub.Retention{}), hub.Options{})
	var (
		mu   sync.Mutex
		errs []error
		n    atomic.Int64
	)
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		err := h.Serve(s, "t", "u"+strconv.FormatInt(n.Add(1)%3, 10))
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
		return err
	}, lifecycle.Options{Heartbeat: -1})
	const sessions = 50
	var served sync.WaitGroup
	for range sessions {
		served.Add(1)
		go func() {
			defer served.Done()
			ep.Serve(context.Background(), discard{}, &lifecycle.Request{Method: "GET", Path: "/"})
		}()
	}
	waitSubscribers(t, h, "t", sessions)
	h.Close()
	done := make(chan struct{})
	go func() { served.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("sessions still served 5 s after Close")
	}
	for _, err := range errs {
		if !errors.Is(err, hub.ErrClosed) {
			t.Errorf("Serve returned %v after Close, want ErrClosed", err)
		}
	}
	ep.Serve(context.Background(), discard{}, &lifecycle.Request{Method: "GET", Path: "/"})
	if last := errs[len(errs)-1]; len(errs) != sessions+1 || !errors.Is(last, hub.ErrClosed) {
		t.Errorf("Serve after Close: %v, want ErrClosed", last)
	}
	if s := h.Stats().Subscribers; len(s) != 0 {
		t.Errorf("subscribers after Close: %v", s)
	}
}

type discard struct{}

func (discard) WriteHeader(int, http.Header) error { return nil }
func (discard) Write(p []byte) (int, error)        { return len(p), nil }
func (discard) Flush() error                       { return nil }
func (discard) SetWriteDeadline(time.Time) error   { return nil }
