package otelsse_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssekit/ssekit/hub"
	"github.com/ssekit/ssekit/hub/hubtest"
	"github.com/ssekit/ssekit/lifecycle"
	"github.com/ssekit/ssekit/otelsse"
)

// flaky is a memory backend whose Append honours its context and fails
// while fail is set.
type flaky struct {
	*hub.Memory
	fail atomic.Bool
}

var errDown = errors.New("backend down")

func (f *flaky) Append(ctx context.Context, topic string, ev hub.Event) (hub.Entry, error) {
	if err := ctx.Err(); err != nil {
		return hub.Entry{}, err
	}
	if f.fail.Load() {
		return hub.Entry{}, errDown
	}
	return f.Memory.Append(ctx, topic, ev)
}

// hubServer runs a hub on b, observed by fresh HubMetrics, behind an
// endpoint served over TCP (GET /events?topic=…); it returns the hub, the
// metrics' reader and the server's address.
func hubServer(t *testing.T, b hub.Backend, opts hub.Options, lopts lifecycle.Options) (*hub.Hub, reader, string) {
	t.Helper()
	r := newReader(t)
	m, err := otelsse.NewHubMetrics(r.mp, otelsse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts.OnPublish = m.OnPublish
	opts.Logger = slog.New(slog.DiscardHandler)
	h := hub.New(b, opts)
	if err := m.Observe(h); err != nil {
		t.Fatal(err)
	}
	if err := m.Observe(h); !errors.Is(err, otelsse.ErrObserved) {
		t.Errorf("a second Observe: %v, want ErrObserved", err)
	}
	t.Cleanup(func() { m.Close(); h.Close(); b.Close() }) // after the server's
	if lopts.Heartbeat == 0 {
		lopts.Heartbeat = -1
	}
	lopts.Logger = slog.New(slog.DiscardHandler)
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		return h.Serve(s, s.Request().Query()["topic"]...)
	}, lopts)
	return h, r, strings.TrimPrefix(serve(t, ep), "http://")
}

func publish(t *testing.T, h *hub.Hub, topic, data string) hub.Pos {
	t.Helper()
	p, err := h.Publish(context.Background(), topic, hub.Event{Data: []byte(data)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The hub's instruments report subscribers, publishes (timed, failures by
// error type), replays, resets of both kinds and backend errors exactly.
func TestHubMetrics(t *testing.T) {
	b := &flaky{Memory: hub.NewMemory(hub.Retention{MaxLen: 5})}
	h, r, addr := hubServer(t, b, hub.Options{}, lifecycle.Options{})
	a := hubtest.Connect(t, addr, "", "a")
	ab := hubtest.Connect(t, addr, "", "a", "b")
	hubtest.WaitSubscribers(t, h, "a", 2)
	hubtest.WaitSubscribers(t, h, "b", 1)
	c := r.collect(t)
	for name, want := range map[string]int64{"sse.hub.subscribers": 2, "sse.hub.subscriptions": 3, "sse.hub.topics": 2} {
		if got := c.sum(t, name, false); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}

	first := publish(t, h, "a", "1")
	publish(t, h, "a", "2")
	publish(t, h, "a", "3")
	for _, cl := range []*hubtest.Client{a, ab} {
		for range 3 {
			cl.Next(t)
		}
	}
	if got := r.collect(t).sum(t, "sse.hub.events.queued", false); got != 0 {
		t.Errorf("events.queued = %d once everything was read, want 0", got)
	}
	// A reconnect from the first event replays the two after it.
	a.Close()
	a = hubtest.Connect(t, addr, first.String(), "a")
	if ev := a.Next(t); ev.Data != "2" {
		t.Fatalf("replay: %+v", ev)
	}
	a.Next(t)
	// A made-up ID gets an unknown-id reset.
	if ev := hubtest.Connect(t, addr, "garbage", "a").Next(t); ev.Data != hub.ResetUnknownID {
		t.Fatalf("made-up ID: %+v", ev)
	}
	// That reset is written before the session subscribes, at the head it
	// names: an event published before it has subscribed is replayed to it
	// (counted in events.replayed), and past the history kept, it gets a
	// gap reset of its own. Publish once it has subscribed (a, ab and it;
	// a's first connection gone).
	hubtest.WaitSubscribers(t, h, "a", 3)
	// Past the history kept (5 events), a gap reset. Each event is
	// delivered before the next is published: a hub that fell more than
	// the history behind would send its subscribers resets of its own.
	for i := range 10 {
		publish(t, h, "a", strconv.Itoa(4+i))
		ab.Next(t)
	}
	if ev := hubtest.Connect(t, addr, first.String(), "a").Next(t); ev.Data != hub.ResetGap {
		t.Fatalf("resuming past the history: %+v", ev)
	}
	// Failed publishes: the backend, a canceled context, a passed deadline.
	b.fail.Store(true)
	if _, err := h.Publish(context.Background(), "a", hub.Event{Data: []byte("x")}); !errors.Is(err, errDown) {
		t.Fatalf("publish on a failing backend: %v", err)
	}
	b.fail.Store(false)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Publish(canceled, "a", hub.Event{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("publish with a canceled context: %v", err)
	}
	late, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := h.Publish(late, "a", hub.Event{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("publish past its deadline: %v", err)
	}

	c = r.collect(t)
	for name, want := range map[string]int64{
		"sse.hub.events.published": 13,
		"sse.hub.replays":          1,
		"sse.hub.events.replayed":  2,
		"sse.hub.events.dropped":   0,
		"sse.hub.slow_disconnects": 0,
		"sse.hub.backend.errors":   3,
	} {
		if got := c.sum(t, name, true); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	for kind, want := range map[string]int64{hub.ResetGap: 1, hub.ResetUnknownID: 1} {
		if got := c.sum(t, "sse.hub.resets", true, otelsse.ResetKindKey.String(kind)); got != want {
			t.Errorf("resets{%s} = %d, want %d", kind, got, want)
		}
	}
	if n, _ := c.hist(t, "sse.hub.publish.duration"); n != 13 {
		t.Errorf("publish.duration: %d successful publishes, want 13", n)
	}
	for _, typ := range []string{otelsse.ErrorBackend, otelsse.ErrorCanceled, otelsse.ErrorTimeout} {
		if n, _ := c.hist(t, "sse.hub.publish.duration", otelsse.ErrorTypeKey.String(typ)); n != 1 {
			t.Errorf("publish.duration{error.type=%s}: %d, want 1", typ, n)
		}
	}
}

// slowClient connects to topic t with a small receive buffer and reads
// nothing yet.
func slowClient(t *testing.T, addr string) *hubtest.Client {
	c := hubtest.Connect(t, addr, "", "t")
	c.Conn().(*net.TCPConn).SetReadBuffer(4096)
	return c
}

// With DropOldest, a client that stops reading loses events from its full
// queue: the events it reads later and the dropped ones add up to all.
func TestHubMetricsDropped(t *testing.T) {
	h, r, addr := hubServer(t, hub.NewMemory(hub.Retention{}), hub.Options{QueueLen: 8, DropOldest: true},
		lifecycle.Options{WriteTimeout: 30 * time.Second})
	slow := hubtest.Connect(t, addr, "", "t") // reads nothing until all is published
	hubtest.WaitSubscribers(t, h, "t", 1)
	big := strings.Repeat("z", 16<<10)
	const n = 1008
	for i := range n - 8 {
		publish(t, h, "t", big+strconv.Itoa(i))
	}
	// 16 MB, far beyond the socket buffers: the queue overflowed.
	for i := n - 8; i < n; i++ {
		publish(t, h, "t", strconv.Itoa(i))
	}
	// The hub counts an event as queued just before it queues it (and
	// drops the oldest): 8, and for a moment one more.
	if got := r.collect(t).sum(t, "sse.hub.events.queued", false); got < 0 || got > 9 {
		t.Errorf("events.queued = %d, over the queue's length (8) and the one being queued", got)
	}
	var got, resets int64
	for {
		ev, err := slow.NextErr()
		if err != nil {
			t.Fatalf("after %d events and %d resets (stats %+v): %v", got, resets, h.Stats(), err)
		}
		if ev.Type == hub.ResetEventType {
			resets++
			continue
		}
		got++
		if strings.HasSuffix(ev.Data, strconv.Itoa(n-1)) {
			break
		}
	}
	c := r.collect(t)
	if dropped := c.sum(t, "sse.hub.events.dropped", true); dropped == 0 || got+dropped != n {
		t.Errorf("events.dropped = %d and %d events read, want them to add up to %d", dropped, got, n)
	}
	if gaps := c.sum(t, "sse.hub.resets", true, otelsse.ResetKindKey.String(hub.ResetGap)); gaps != resets || resets == 0 {
		t.Errorf("resets{gap} = %d, the client read %d", gaps, resets)
	}
	if got := c.sum(t, "sse.hub.events.queued", false); got != 0 {
		t.Errorf("events.queued = %d once all was read, want 0", got)
	}
}

// Without DropOldest, the client that stops reading is disconnected.
func TestHubMetricsSlowDisconnect(t *testing.T) {
	h, r, addr := hubServer(t, hub.NewMemory(hub.Retention{}), hub.Options{QueueLen: 8},
		lifecycle.Options{WriteTimeout: 30 * time.Second})
	slowClient(t, addr)
	hubtest.WaitSubscribers(t, h, "t", 1)
	big := strings.Repeat("z", 16<<10)
	for i := 0; h.Stats().Subscribers["t"] == 1; i++ {
		if i == 10000 {
			t.Fatal("10000 events and the slow subscriber is still there")
		}
		publish(t, h, "t", big)
	}
	hubtest.WaitSubscribers(t, h, "t", 0)
	c := r.collect(t)
	if got := c.sum(t, "sse.hub.slow_disconnects", true); got != 1 {
		t.Errorf("slow_disconnects = %d, want 1", got)
	}
	for _, name := range []string{"sse.hub.subscribers", "sse.hub.subscriptions", "sse.hub.topics", "sse.hub.events.queued"} {
		if got := c.sum(t, name, false); got != 0 {
			t.Errorf("%s = %d after the session ended, want 0", name, got)
		}
	}
}
