package hub_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssekit/ssekit/hub"
	"github.com/ssekit/ssekit/hub/hubtest"
	"github.com/ssekit/ssekit/lifecycle"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server is a hub behind a net/http server on 127.0.0.1: GET /events?topic=a&topic=b.
type server struct {
	h     *hub.Hub
	addr  string
	ended chan lifecycle.CloseInfo
}

func startHub(t *testing.T, b hub.Backend, opts hub.Options, lopts lifecycle.Options) *server {
	t.Helper()
	srv := &server{ended: make(chan lifecycle.CloseInfo, 1024)}
	lopts.OnClose = func(_ *lifecycle.Session, info lifecycle.CloseInfo) { srv.ended <- info }
	t.Cleanup(func() { b.Close() }) // after the hub's
	srv.h, srv.addr = hubtest.ServeWith(t, b, opts, lopts)
	return srv
}

func (s *server) connect(t *testing.T, lastID string, topics ...string) *hubtest.Client {
	t.Helper()
	return hubtest.Connect(t, s.addr, lastID, topics...)
}

func publish(t *testing.T, h *hub.Hub, topic, data string) hub.Pos {
	t.Helper()
	p, err := h.Publish(context.Background(), topic, hub.Event{Data: []byte(data)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitSubscribers waits until topic has n subscribers.
func waitSubscribers(t *testing.T, h *hub.Hub, topic string, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); h.Stats().Subscribers[topic] != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("topic %s: %d subscribers, want %d", topic, h.Stats().Subscribers[topic], n)
		}
	}
}

func TestTopicsAndMultipleSubscriptions(t *testing.T) {
	srv := startHub(t, hub.NewMemory(hub.Retention{}), hub.Options{}, lifecycle.Options{})
	a := srv.connect(t, "", "x")
	b := srv.connect(t, "", "x", "y", "x") // listed twice: still once
	c := srv.connect(t, "", "y")
	waitSubscribers(t, srv.h, "x", 2)
	waitSubscribers(t, srv.h, "y", 2)
	if st := srv.h.Stats(); st.Subscribed != 3 {
		t.Errorf("%d sessions subscribed, want 3", st.Subscribed)
	}
	var want []string
	for i := range 10 {
		topic := []string{"x", "y"}[i%2]
		publish(t, srv.h, topic, topic+strconv.Itoa(i))
		want = append(want, topic+strconv.Itoa(i))
	}
	read := func(c *hubtest.Client, n int) (got []string) {
		for range n {
			got = append(got, c.Next(t).Data)
		}
		return got
	}
	if got := read(b, 10); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("x+y subscriber got %v, want %v once each, in order", got, want)
	}
	if got := read(a, 5); strings.Join(got, ",") != "x0,x2,x4,x6,x8" {
		t.Errorf("x subscriber got %v", got)
	}
	if got := read(c, 5); strings.Join(got, ",") != "y1,y3,y5,y7,y9" {
		t.Errorf("y subscriber got %v", got)
	}
}

func TestResetWhenHistoryIsGone(t *testing.T) {
	srv := startHub(t, hub.NewMemory(hub.Retention{MaxLen: 5}), hub.Options{}, lifecycle.Options{})
	c := srv.connect(t, "", "t")
	watcher := srv.connect(t, "", "t") // stays, so we know when the hub has delivered everything
	waitSubscribers(t, srv.h, "t", 2)
	publish(t, srv.h, "t", "first")
	old := c.Next(t).LastEventID
	c.Close()
	var last hub.Pos
	for i := range 20 {
		last = publish(t, srv.h, "t", strconv.Itoa(i))
	}
	for watcher.Next(t).LastEventID != last.String() {
	}
	c = srv.connect(t, old, "t")
	ev := c.Next(t)
	if ev.Type != hub.ResetEventType || ev.Data != hub.ResetGap || ev.LastEventID != last.String() {
		t.Fatalf("resuming past the history: got %+v, want a %s event %q with ID %s", ev, hub.ResetEventType, hub.ResetGap, last)
	}
	publish(t, srv.h, "t", "live")
	if ev := c.Next(t); ev.Data != "live" {
		t.Errorf("after the reset: %+v, want the live event", ev)
	}
	// Within the history, the same hub replays exactly.
	c.Close()
	c = srv.connect(t, last.String(), "t")
	if ev := c.Next(t); ev.Data != "live" {
		t.Errorf("resuming within the history: %+v, want the missed event", ev)
	}
	if st := srv.h.Stats(); st.Gaps != 1 || st.Replays != 1 || st.ReplayedEvents != 1 ||
		st.Resets[hub.ResetGap] != 1 || st.Resets[hub.ResetUnknownID] != 0 {
		t.Errorf("stats %+v, want 1 gap (and no unknown-id reset), 1 replay of 1 event", st)
	}
}

func TestResetOnUnknownID(t *testing.T) {
	srv := startHub(t, hub.NewMemory(hub.Retention{}), hub.Options{}, lifecycle.Options{})
	other := hub.NewMemory(hub.Retention{})
	defer other.Close()
	foreign, _ := other.Append(context.Background(), "t", hub.Event{Data: []byte("elsewhere")})
	head := publish(t, srv.h, "t", "here")
	for _, id := range []string{"garbage", "12", foreign.ID, hub.Pos{Seq: head.Seq + 5, Epoch: head.Epoch}.String()} {
		c := srv.connect(t, id, "t")
		if ev := c.Next(t); ev.Type != hub.ResetEventType || ev.Data != hub.ResetUnknownID || ev.LastEventID != head.String() {
			t.Errorf("Last-Event-ID %q: got %+v, want a reset (%s) at %s", id, ev, hub.ResetUnknownID, head)
		}
		c.Close()
	}
	if st := srv.h.Stats(); st.Gaps != 4 || st.Resets[hub.ResetUnknownID] != 4 || st.Resets[hub.ResetGap] != 0 || st.Replays != 0 {
		t.Errorf("stats %+v, want 4 unknown-id resets and nothing else", st)
	}
}

// A subscriber that stops reading is ended with ErrSlowSubscriber once its
// queue overflows; the others get every event.
func TestSlowSubscriberIsEnded(t *testing.T) {
	srv := startHub(t, hub.NewMemory(hub.Retention{}), hub.Options{QueueLen: 64},
		lifecycle.Options{WriteTimeout: 500 * time.Millisecond})
	slow := srv.connect(t, "", "t")
	(slow.Conn().(*net.TCPConn)).SetReadBuffer(4096)
	fast := srv.connect(t, "", "t")
	waitSubscribers(t, srv.h, "t", 2)
	big := strings.Repeat("z", 16<<10)
	const n = 2000 // 32 MiB: far beyond the socket buffers and the queue
	done := make(chan []string)
	received := make(chan struct{}, n)
	go func() {
		var got []string
		for range n {
			ev, err := fast.NextErr()
			if err != nil {
				break
			}
			got = append(got, ev.LastEventID)
			received <- struct{}{}
		}
		done <- got
	}()
	for i := range n {
		if i >= 32 { // keep the fast reader's queue short: it is not the slow one
			select {
			case <-received:
			case <-time.After(10 * time.Second):
				t.Fatal("the fast subscriber stopped receiving")
			}
		}
		publish(t, srv.h, "t", big+strconv.Itoa(i))
	}
	if got := <-done; len(got) != n {
		t.Errorf("the fast subscriber got %d of %d events", len(got), n)
	}
	select {
	case info := <-srv.ended:
		if !errors.Is(info.Reason, hub.ErrSlowSubscriber) {
			t.Errorf("slow session ended with %v, want ErrSlowSubscriber", info.Reason)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the slow subscriber's session did not end")
	}
	if st := srv.h.Stats(); st.SlowDisconnects != 1 {
		t.Errorf("stats: %d slow disconnects, want 1", st.SlowDisconnects)
	}
}

func TestDropOldestKeepsTheSession(t *testing.T) {
	srv := startHub(t, hub.NewMemory(hub.Retention{}), hub.Options{QueueLen: 8, DropOldest: true},
		lifecycle.Options{WriteTimeout: 30 * time.Second})
	slow := srv.connect(t, "", "t") // reads nothing until all is published
	waitSubscribers(t, srv.h, "t", 1)
	big := strings.Repeat("z", 16<<10)
	for i := range 1000 {
		publish(t, srv.h, "t", big+strconv.Itoa(i))
	}
	for deadline := time.Now().Add(5 * time.Second); srv.h.Stats().Dropped == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("nothing dropped from a full queue")
		}
	}
	select {
	case info := <-srv.ended:
		t.Fatalf("session ended (%v); DropOldest keeps it", info.Reason)
	default:
	}
	// The client reads on and gets the newest event.
	var last string
	for !strings.HasSuffix(last, "999") {
		last = slow.Next(t).Data
	}
}

// Events queued while the subscriber's write is blocked go out together.
func TestQueuedEventsGoOutInOneWrite(t *testing.T) {
	h := hub.New(hub.NewMemory(hub.Retention{}), hub.Options{})
	defer h.Close()
	tr := &gatedTransport{gate: make(chan struct{})}
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error { return h.Serve(s, "t") }, lifecycle.Options{Heartbeat: -1})
	served := make(chan struct{})
	go func() {
		defer close(served)
		ep.Serve(context.Background(), tr, &lifecycle.Request{Method: "GET", Path: "/"})
	}()
	waitSubscribers(t, h, "t", 1)
	publish(t, h, "t", "first") // its write blocks on the gate
	for deadline := time.Now().Add(5 * time.Second); tr.blocked.Load() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first write never started")
		}
	}
	for i := range 100 {
		publish(t, h, "t", strconv.Itoa(i))
	}
	for deadline := time.Now().Add(5 * time.Second); h.Stats().Queued != 100; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d queued, want 100", h.Stats().Queued)
		}
	}
	close(tr.gate)
	for deadline := time.Now().Add(5 * time.Second); strings.Count(tr.String(), "data: ") < 101; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not all events written: %q", tr.String())
		}
	}
	if w := tr.writes.Load(); w != 2 { // the first event, then the 100 queued in one
		t.Errorf("%d writes for 101 events, want 2", w)
	}
	ep.Shutdown(context.Background())
	<-served
}

type gatedTransport struct {
	gate    chan struct{}
	blocked atomic.Int64
	writes  atomic.Int64
	mu      sync.Mutex
	buf     strings.Builder
}

func (g *gatedTransport) WriteHeader(int, http.Header) error { return nil }
func (g *gatedTransport) Flush() error                       { return nil }
func (g *gatedTransport) SetWriteDeadline(time.Time) error   { return nil }
func (g *gatedTransport) String() string                     { g.mu.Lock(); defer g.mu.Unlock(); return g.buf.String() }
func (g *gatedTransport) Write(p []byte) (int, error) {
	if strings.Contains(string(p), "data: ") {
		g.blocked.Add(1)
		<-g.gate
		g.writes.Add(1)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.Write(p)
}

// failingAppend is a memory backend whose Append fails while fail is set.
type failingAppend struct {
	*hub.Memory
	fail atomic.Bool
}

func (f *failingAppend) Append(ctx context.Context, topic string, ev hub.Event) (hub.Entry, error) {
	if f.fail.Load() {
		return hub.Entry{}, errUnreachable
	}
	return f.Memory.Append(ctx, topic, ev)
}

// OnPublish sees every publish that reached the backend, with its error; a
// failed one counts as a backend error.
func TestOnPublish(t *testing.T) {
	type call struct {
		topic string
		took  time.Duration
		err   error
	}
	var mu sync.Mutex
	var calls []call
	b := &failingAppend{Memory: hub.NewMemory(hub.Retention{})}
	srv := startHub(t, b, hub.Options{OnPublish: func(topic string, took time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, call{topic, took, err})
	}}, lifecycle.Options{})
	publish(t, srv.h, "a", "one")
	b.fail.Store(true)
	if _, err := srv.h.Publish(context.Background(), "b", hub.Event{Data: []byte("two")}); !errors.Is(err, errUnreachable) {
		t.Fatalf("Publish on a failing backend: %v", err)
	}
	if _, err := srv.h.Publish(context.Background(), "", hub.Event{}); !errors.Is(err, hub.ErrNoTopic) {
		t.Fatalf("Publish without a topic: %v", err) // never reaches the backend: no call
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 || calls[0].topic != "a" || calls[0].err != nil || calls[0].took <= 0 ||
		calls[1].topic != "b" || !errors.Is(calls[1].err, errUnreachable) || calls[1].took <= 0 {
		t.Errorf("OnPublish calls %+v, want a success on a and a failure on b, each timed", calls)
	}
	if st := srv.h.Stats(); st.Published != 1 || st.BackendErrors != 1 {
		t.Errorf("Published %d BackendErrors %d, want 1 and 1", st.Published, st.BackendErrors)
	}
}

// Totals counts topics and subscriptions as Stats's map does, without the
// map, through sessions arriving (one naming a topic twice) and leaving.
func TestTotals(t *testing.T) {
	srv := startHub(t, hub.NewMemory(hub.Retention{}), hub.Options{}, lifecycle.Options{})
	check := func(topics int, subscriptions int64) {
		t.Helper()
		tot, st := srv.h.Totals(), srv.h.Stats()
		var sum int64
		for _, n := range st.Subscribers {
			sum += int64(n)
		}
		if tot.Subscribers != nil {
			t.Errorf("Totals has a Subscribers map: %v", tot.Subscribers)
		}
		if tot.Topics != topics || tot.Subscriptions != subscriptions {
			t.Errorf("Totals: %d topics, %d subscriptions; want %d and %d", tot.Topics, tot.Subscriptions, topics, subscriptions)
		}
		if st.Topics != len(st.Subscribers) || st.Subscriptions != sum {
			t.Errorf("Stats: %d topics, %d subscriptions, its map %v", st.Topics, st.Subscriptions, st.Subscribers)
		}
	}
	check(0, 0)
	a := srv.connect(t, "", "x")
	b := srv.connect(t, "", "x", "y", "x")
	c := srv.connect(t, "", "y")
	d := srv.connect(t, "", "z")
	waitSubscribers(t, srv.h, "x", 2)
	waitSubscribers(t, srv.h, "y", 2)
	waitSubscribers(t, srv.h, "z", 1)
	check(3, 5)
	b.Close()
	d.Close()
	waitSubscribers(t, srv.h, "z", 0)
	waitSubscribers(t, srv.h, "x", 1)
	check(2, 2)
	a.Close()
	c.Close()
	waitSubscribers(t, srv.h, "x", 0)
	waitSubscribers(t, srv.h, "y", 0)
	check(0, 0)
}
