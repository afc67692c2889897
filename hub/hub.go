package hub

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssekit/ssekit/lifecycle"
)

// ResetEventType is the type of the event a client gets instead of a
// replay it cannot have: its Last-Event-ID is older than the history kept,
// from another hub, or not an ID this hub wrote. The data says which
// ("gap" or "unknown-id"); the event's ID is the hub's current position,
// so the client's next reconnect resumes from here. A client that gets it
// should reload its state from the source of truth (refetch the chat's
// recent messages, say) instead of assuming it saw every event.
const ResetEventType = "ssekit.reset"

// The data of a reset event.
const (
	ResetGap       = "gap"        // events after the client's ID are no longer retained
	ResetUnknownID = "unknown-id" // the ID is not from this hub's current log
)

// Errors.
var (
	// ErrSlowSubscriber ends a session whose queue overflowed (with the
	// default overflow policy): it fell too far behind the events. Its
	// client reconnects and resumes from its Last-Event-ID.
	ErrSlowSubscriber = errors.New("hub: subscriber too slow")
	// ErrClosed is returned by Publish and Serve once Close has been called.
	ErrClosed = errors.New("hub: closed")
	// ErrNoTopic is returned for an empty topic name.
	ErrNoTopic = errors.New("hub: empty topic")
)

// Options configures a Hub. The zero value means the defaults.
type Options struct {
	// QueueLen bounds each subscriber's queue of events not yet written.
	// Default 1024.
	QueueLen int
	// DropOldest makes a full queue drop its oldest event (counted in
	// Stats.Dropped) instead of ending the session with ErrSlowSubscriber.
	// The client then misses events without being told; the default, which
	// lets it resume from its Last-Event-ID, loses nothing.
	DropOldest bool
	// Logger receives warnings about the backend (unreachable, lost its
	// data). Default: nothing is logged.
	Logger *slog.Logger
}

// DefaultQueueLen is Options.QueueLen's default.
const DefaultQueueLen = 1024

// A Hub delivers events published on topics to every session subscribed to
// them, replays what a reconnecting client missed, and isolates slow
// subscribers. Every hub instance on the same Backend (several servers on
// one Redis) delivers every event. A Hub is safe for concurrent use.
type Hub struct {
	b    Backend
	opts Options
	log  *slog.Logger

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	ready  chan struct{} // closed once head is known
	done   chan struct{} // closed when the dispatcher has returned

	mu     sync.Mutex
	head   Pos                                 // the last position delivered to subscribers
	topics map[string]map[*subscriber]struct{} // subscribers by topic

	stats counters
}

// New returns a hub on b. It starts one goroutine, which follows b until
// Close.
func New(b Backend, opts Options) *Hub {
	if opts.QueueLen <= 0 {
		opts.QueueLen = DefaultQueueLen
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{
		b: b, opts: opts, log: log,
		ctx: ctx, cancel: cancel,
		ready:  make(chan struct{}),
		done:   make(chan struct{}),
		topics: make(map[string]map[*subscriber]struct{}),
	}
	go h.dispatch()
	return h
}

// Close stops the hub: Serve returns ErrClosed to every subscriber (ending
// their sessions when their handlers return it), and Publish fails. It does
// not close the backend. Close waits for the hub's goroutine to return.
func (h *Hub) Close() error {
	h.cancel()
	<-h.done
	return nil
}

// Publish stores ev on topic and returns its position, once the backend
// has it: every subscriber of topic then receives it, on every hub instance
// sharing the backend. An error means it was not stored; nothing is
// acknowledged that was not stored. ev.Type must not contain CR or LF.
func (h *Hub) Publish(ctx context.Context, topic string, ev Event) (Pos, error) {
	if topic == "" {
		return Pos{}, ErrNoTopic
	}
	le := lifecycle.Event{Type: ev.Type}
	if err := le.Validate(); err != nil {
		return Pos{}, err
	}
	if h.ctx.Err() != nil {
		return Pos{}, ErrClosed
	}
	e, err := h.b.Append(ctx, topic, ev)
	if err != nil {
		return Pos{}, fmt.Errorf("hub: publish to %q: %w", topic, err)
	}
	h.stats.published.Add(1)
	return e.Pos, nil
}

// Serve subscribes s to topics and writes their events to it until the
// session ends (it then returns nil) or the hub is closed (ErrClosed). Call
// it from a lifecycle.Handler; return what it returns.
//
// A client reconnecting with a Last-Event-ID first gets every event of its
// topics published after that ID, then the live events, with none missed
// and none twice at the seam. If the hub no longer has all of them (or the
// ID is not one of its own), the client gets one event of ResetEventType
// instead, then the live events.
//
// Events queue per subscriber (Options.QueueLen) and go out in bursts: one
// write and one flush for everything queued. A subscriber whose queue
// overflows is ended with ErrSlowSubscriber (or loses its oldest events,
// with Options.DropOldest); no subscriber ever waits for another.
func (h *Hub) Serve(s *lifecycle.Session, topics ...string) error {
	topics = slices.Compact(slices.Sorted(slices.Values(topics)))
	if len(topics) == 0 || topics[0] == "" {
		return ErrNoTopic
	}
	select {
	case <-h.ready:
	case <-s.Done():
		return nil
	case <-h.ctx.Done():
		return ErrClosed
	}
	sub := newSubscriber(h, s, topics)
	h.mu.Lock()
	for _, t := range topics {
		subs := h.topics[t]
		if subs == nil {
			subs = make(map[*subscriber]struct{})
			h.topics[t] = subs
		}
		subs[sub] = struct{}{}
	}
	head := h.head // everything after head will be queued for sub
	h.mu.Unlock()
	defer h.unsubscribe(sub)

	if id := s.LastEventID(); id != "" {
		h.replay(sub, id, head)
	}
	return sub.run()
}

func (h *Hub) unsubscribe(sub *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range sub.topics {
		delete(h.topics[t], sub)
		if len(h.topics[t]) == 0 {
			delete(h.topics, t)
		}
	}
	h.stats.queued.Add(-int64(sub.drain()))
}

// replayBatch is how many replayed events go out in one write.
const replayBatch = 256

// replay sends sub's session what it missed after id, up to head, or a
// reset event.
func (h *Hub) replay(sub *subscriber, id string, head Pos) {
	s := sub.s
	p, err := ParsePos(id)
	if err != nil || p.Epoch != head.Epoch {
		h.stats.gaps.Add(1)
		sub.sendReset(head, ResetUnknownID)
		return
	}
	if p.Seq > head.Seq {
		// An ID from ahead of this instance: another instance on the same
		// backend delivered it, and this one has not followed that far
		// yet. What comes after it is on its way through the queue; skip
		// up to it. An ID ahead of the backend itself is made up.
		bh, err := h.b.Head(s.Context())
		if err != nil {
			s.CloseWithError(fmt.Errorf("hub: replay: %w", err))
			return
		}
		if bh.Epoch != p.Epoch || bh.Seq < p.Seq {
			h.stats.gaps.Add(1)
			sub.sendReset(head, ResetUnknownID)
			return
		}
		sub.skip = p.Seq
		h.stats.replays.Add(1)
		return
	}
	if p.Seq == head.Seq {
		h.stats.replays.Add(1)
		return
	}
	var all []Entry
	for _, t := range sub.topics {
		es, complete, err := h.b.Range(s.Context(), t, p, head)
		if errors.Is(err, ErrEpoch) {
			h.stats.gaps.Add(1)
			sub.sendReset(head, ResetUnknownID)
			return
		}
		if err != nil {
			// The client keeps its Last-Event-ID and tries again.
			s.CloseWithError(fmt.Errorf("hub: replay: %w", err))
			return
		}
		if !complete {
			h.stats.gaps.Add(1)
			sub.sendReset(head, ResetGap)
			return
		}
		all = append(all, es...)
	}
	slices.SortFunc(all, func(a, b Entry) int { return cmp.Compare(a.Pos.Seq, b.Pos.Seq) })
	h.stats.replays.Add(1)
	h.stats.replayed.Add(int64(len(all)))
	evs := make([]lifecycle.Event, 0, min(len(all), replayBatch))
	for len(all) > 0 {
		n := min(len(all), replayBatch)
		evs = evs[:0]
		for _, e := range all[:n] {
			evs = append(evs, eventOf(e))
		}
		if s.SendBatch(evs) != nil {
			return // the session ended
		}
		all = all[n:]
	}
	return
}

func eventOf(e Entry) lifecycle.Event {
	return lifecycle.Event{ID: e.ID, Type: e.Type, Data: e.Data}
}

// dispatch follows the backend and queues every entry for the subscribers
// of its topic, until Close.
func (h *Hub) dispatch() {
	defer close(h.done)
	var head Pos
	for wait := newBackoff(); ; {
		p, err := h.b.Head(h.ctx)
		if err == nil {
			head = p
			break
		}
		if h.ctx.Err() != nil {
			return
		}
		h.log.Warn("hub: backend unreachable; retrying", "err", err)
		if !wait.sleep(h.ctx) {
			return
		}
	}
	h.mu.Lock()
	h.head = head
	h.mu.Unlock()
	close(h.ready)

	wait := newBackoff()
	for {
		entries, err := h.b.Follow(h.ctx, head)
		if h.ctx.Err() != nil {
			return
		}
		switch {
		case errors.Is(err, ErrEpoch):
			// The backend lost its data (a Redis emptied or replaced):
			// positions start over in a new log, and every subscriber is
			// told that it may have missed events.
			p, herr := h.b.Head(h.ctx)
			if herr != nil {
				continue
			}
			h.log.Warn("hub: the backend's log was replaced; subscribers get a reset event", "old", head, "new", p)
			head = h.restart(p)
			continue
		case err != nil:
			h.log.Warn("hub: following the backend failed; retrying", "err", err)
			if !wait.sleep(h.ctx) {
				return
			}
			continue
		}
		wait.reset()
		head = h.deliver(entries)
	}
}

// deliver queues entries for their subscribers and returns the new head.
func (h *Hub) deliver(entries []Entry) Pos {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range entries {
		if e.Pos.Seq <= h.head.Seq {
			continue
		}
		if e.Pos.Seq > h.head.Seq+1 {
			h.fillLocked(Pos{Seq: e.Pos.Seq - 1, Epoch: e.Pos.Epoch})
		}
		for sub := range h.topics[e.Topic] {
			sub.push(item{entry: e})
		}
		h.head = e.Pos
	}
	return h.head
}

// fillLocked delivers what the feed skipped, up to upTo, from the histories
// of the topics that have subscribers; subscribers of a topic whose history
// no longer has it get a reset event. h.mu must be held.
func (h *Hub) fillLocked(upTo Pos) {
	var all []Entry
	for t, subs := range h.topics {
		es, complete, err := h.b.Range(h.ctx, t, h.head, upTo)
		if err != nil || !complete {
			for sub := range subs {
				h.stats.gaps.Add(1)
				sub.push(item{reset: ResetGap, at: upTo})
			}
			continue
		}
		all = append(all, es...)
	}
	slices.SortFunc(all, func(a, b Entry) int { return cmp.Compare(a.Pos.Seq, b.Pos.Seq) })
	for _, e := range all {
		for sub := range h.topics[e.Topic] {
			sub.push(item{entry: e})
		}
	}
	h.head = upTo
}

// restart moves the hub to a new log at p, telling every subscriber.
func (h *Hub) restart(p Pos) Pos {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[*subscriber]bool{}
	for _, subs := range h.topics {
		for sub := range subs {
			if !seen[sub] {
				seen[sub] = true
				h.stats.gaps.Add(1)
				sub.push(item{reset: ResetUnknownID, at: p})
			}
		}
	}
	h.head = p
	return p
}

// Stats is a snapshot of a hub's state and counters.
type Stats struct {
	Subscribers     map[string]int // subscribers per topic, on this instance
	Queued          int64          // events waiting in subscriber queues
	Published       int64          // events published through this instance
	Dropped         int64          // events dropped from full queues (Options.DropOldest)
	SlowDisconnects int64          // sessions ended with ErrSlowSubscriber
	Replays         int64          // reconnects resumed from their Last-Event-ID
	ReplayedEvents  int64          // events sent by those replays
	Gaps            int64          // reset events sent (history gone, unknown ID, log replaced)
}

type counters struct {
	queued, published, dropped, slow, replays, replayed, gaps atomic.Int64
}

// Stats returns the hub's current state and counters. It is cheap enough to
// scrape every few seconds.
func (h *Hub) Stats() Stats {
	st := Stats{
		Subscribers:     map[string]int{},
		Queued:          h.stats.queued.Load(),
		Published:       h.stats.published.Load(),
		Dropped:         h.stats.dropped.Load(),
		SlowDisconnects: h.stats.slow.Load(),
		Replays:         h.stats.replays.Load(),
		ReplayedEvents:  h.stats.replayed.Load(),
		Gaps:            h.stats.gaps.Load(),
	}
	h.mu.Lock()
	for t, subs := range h.topics {
		st.Subscribers[t] = len(subs)
	}
	h.mu.Unlock()
	return st
}

// backoff spaces out retries against an unreachable backend: 50 ms,
// doubling to 2 s.
type backoff struct{ d time.Duration }

func newBackoff() backoff { return backoff{50 * time.Millisecond} }
func (b *backoff) reset() { b.d = 50 * time.Millisecond }
func (b *backoff) sleep(ctx context.Context) bool {
	t := time.NewTimer(b.d)
	defer t.Stop()
	b.d = min(2*b.d, 2*time.Second)
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
