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

// ResetEventType is the type of the event a client gets in place of events
// it cannot have: its Last-Event-ID is older than the history kept, from
// another hub or log, or not an ID this hub wrote; events were dropped from
// its queue (Options.DropOldest); or the backend lost or rolled back its
// data. The data says which kind (ResetGap or ResetUnknownID); the event's
// ID is the position from which delivery goes on, so the client's next
// reconnect resumes from there. A client that gets it should reload its
// state from the source of truth (refetch the chat's recent messages, say)
// instead of assuming it saw every event.
const ResetEventType = "ssekit.reset"

// The data of a reset event.
const (
	ResetGap       = "gap"        // events the client did not get are no longer retained, or were dropped
	ResetUnknownID = "unknown-id" // the ID is not from the current log, or the log was replaced
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
	// ErrTooManyTopics is returned by Serve for more than
	// Options.MaxTopics topics.
	ErrTooManyTopics = errors.New("hub: too many topics")
)

// Options configures a Hub. The zero value means the defaults.
type Options struct {
	// QueueLen bounds each subscriber's queue of events not yet written.
	// Default 1024.
	QueueLen int
	// DropOldest makes a full queue drop its oldest event (counted in
	// Stats.Dropped) instead of ending the session with ErrSlowSubscriber.
	// The client then gets a reset event (data ResetGap) where events were
	// dropped. The default ends the session: its client resumes from its
	// Last-Event-ID and loses nothing.
	DropOldest bool
	// MaxTopics bounds how many topics one Serve call subscribes to: one
	// reconnect replays each of them. Default 64.
	MaxTopics int
	// MaxTopicLen bounds a topic name, in bytes. Default
	// DefaultMaxTopicLen (256).
	MaxTopicLen int
	// Authorize, when set, decides whether the request r may subscribe to
	// topic: nil allows it; ErrForbidden (or an error wrapping it) or a
	// *lifecycle.Refusal refuses it. Serve asks it for every topic before
	// subscribing, and Hub.Admit before the stream opens, which is where a
	// refusal can still be an HTTP status: use both. ctx carries the
	// request's values (what the framework's middleware attached, such as
	// the user's identity). It must be safe for concurrent use. Default:
	// every valid topic is allowed, so a client can read any topic it can
	// name; set it when topics are per user or otherwise private.
	Authorize func(ctx context.Context, r *lifecycle.Request, topic string) error
	// OnSubscribe, when set, is called by Serve once s is subscribed to
	// topics and its replay is written: every event published after it
	// returns reaches s. It runs on the session's goroutine and must not
	// block. Default: none.
	OnSubscribe func(s *lifecycle.Session, topics []string)
	// OnPublish, when set, is called by every Publish that reached the
	// backend, once the backend has answered or Publish's context is done,
	// with how long that took and Publish's error. It runs on Publish's
	// goroutine, concurrently for concurrent publishes, and must not
	// block. Default: none (and the publish is not timed).
	OnPublish func(topic string, took time.Duration, err error)
	// Logger receives warnings about the backend (unreachable, lost or
	// rolled back its data). Default slog.Default().
	Logger *slog.Logger
}

// DefaultQueueLen is Options.QueueLen's default.
const DefaultQueueLen = 1024

// DefaultMaxTopics is Options.MaxTopics's default.
const DefaultMaxTopics = 64

// A Hub delivers events published on topics to every session subscribed to
// them, replays what a reconnecting client missed, and isolates slow
// subscribers. Every hub instance on the same Backend (several servers on
// one Redis) delivers every event. A Hub is safe for concurrent use.
type Hub struct {
	b    Backend
	opts Options
	log  *slog.Logger

	ctx         context.Context // canceled by Close
	cancel      context.CancelFunc
	closed      atomic.Bool   // set by Close before ctx is canceled; what writers check on each wakeup
	ready       chan struct{} // closed once head is known
	startFailed atomic.Bool   // before ready, the backend failed or took over startSlow
	done        chan struct{} // closed when the dispatcher has returned

	mu            sync.Mutex
	head          Pos                                 // the last position delivered to subscribers
	topics        map[string]map[*subscriber]struct{} // subscribers by topic
	subscriptions int64                               // pairs of a subscriber and one of its topics, in topics

	wakes []*subscriber // the dispatcher's: subscribers to wake once h.mu is released

	stats counters
}

// New returns a hub on b. It starts one goroutine, which follows b until
// Close.
func New(b Backend, opts Options) *Hub {
	if opts.QueueLen <= 0 {
		opts.QueueLen = DefaultQueueLen
	}
	if opts.MaxTopics <= 0 {
		opts.MaxTopics = DefaultMaxTopics
	}
	if opts.MaxTopicLen <= 0 {
		opts.MaxTopicLen = DefaultMaxTopicLen
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
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
// not close the backend. Close waits for the hub's goroutine to return,
// which it does at once when the backend honours contexts (both here do,
// even while Redis does not answer).
func (h *Hub) Close() error {
	h.closed.Store(true)
	h.cancel()
	// Wake every writer, which then sees closed. A session that subscribes
	// after this sweep sees closed in Serve, under the same lock.
	h.mu.Lock()
	for _, subs := range h.topics {
		for sub := range subs {
			sub.wake()
		}
	}
	h.mu.Unlock()
	<-h.done
	return nil
}

// Publish stores ev on topic and returns its position, once the backend
// has it: every subscriber of topic then receives it, on every hub instance
// sharing the backend. ev.Type must not contain CR or LF. It returns when
// ctx is done, even while the backend does not answer.
//
// An error means the event may or may not have been stored, and was not
// stored twice: a reply can be lost after the backend stored it. To retry
// without risking a duplicate, give the event a Token and publish it again
// with the same Token within TokenTTL. A nil error means every subscriber
// will receive it, or a reset event in its place.
func (h *Hub) Publish(ctx context.Context, topic string, ev Event) (Pos, error) {
	if err := h.checkTopic(topic); err != nil {
		return Pos{}, err
	}
	le := lifecycle.Event{Type: ev.Type}
	if err := le.Validate(); err != nil {
		return Pos{}, err
	}
	if h.ctx.Err() != nil {
		return Pos{}, ErrClosed
	}
	var start time.Time
	if h.opts.OnPublish != nil {
		start = time.Now()
	}
	e, err := h.b.Append(ctx, topic, ev)
	if err != nil {
		h.stats.backendErrors.Add(1)
		err = fmt.Errorf("hub: publish to %q: %w", topic, err)
	}
	if h.opts.OnPublish != nil {
		h.opts.OnPublish(topic, time.Since(start), err)
	}
	if err != nil {
		return Pos{}, err
	}
	h.stats.published.Add(1)
	return e.Pos, nil
}

// Serve subscribes s to topics and writes their events to it until the
// session ends (it then returns nil) or the hub is closed (ErrClosed). Call
// it from a lifecycle.Handler; return what it returns. It is safe to call
// from many sessions at once.
//
// A client reconnecting with a Last-Event-ID first gets every event of its
// topics published after that ID, then the live events, with none missed
// and none twice at the seam. A long replay is read from the backend page
// by page before the session joins the live events, so a client that reads
// faster than events are published always catches up. If the hub no longer
// has all of them (or the ID is not one of its own), the client gets one
// event of ResetEventType instead, then the live events.
//
// Events queue per subscriber (Options.QueueLen) and go out in bursts: one
// write and one flush for everything queued. A subscriber whose queue
// overflows is ended with ErrSlowSubscriber (or loses its oldest events,
// with Options.DropOldest, and gets a reset event in their place); no
// subscriber ever waits for another.
//
// Before subscribing, Serve checks the topics as Admit does (ErrNoTopic,
// ErrInvalidTopic, ErrTooManyTopics, or Options.Authorize's refusal) and
// returns the error at once, logging a warning: by then the stream has
// opened with a 200, so put the same check in lifecycle.Options.Admit with
// Hub.Admit, where it can still refuse with an HTTP status.
func (h *Hub) Serve(s *lifecycle.Session, topics ...string) error {
	topics, err := h.subscription(s.Context(), s.Request(), topics)
	if err != nil && s.Err() != nil {
		// The session ended (client gone, shutdown) while Authorize ran
		// with its context: not a refusal to warn about.
		return nil
	}
	if err != nil {
		h.log.WarnContext(s.Context(), "hub: subscription refused after the stream opened; "+
			"use Hub.Admit in lifecycle.Options.Admit to refuse it with an HTTP status instead",
			"path", s.Request().Path, "err", err)
		return err
	}
	waited := false
	select {
	case <-h.ready:
	default:
		waited = true
		select {
		case <-h.ready:
		case <-s.Done():
			return nil
		case <-h.ctx.Done():
			return ErrClosed
		}
	}
	sub := newSubscriber(h, s, topics)
	r := replayer{h: h, sub: sub, page: replayPage}
	id := s.LastEventID()
	if id != "" {
		r.start(id)
		r.catchUp()
	}

	h.mu.Lock()
	if h.closed.Load() { // Close has woken the subscribers it saw: not this one
		h.mu.Unlock()
		return ErrClosed
	}
	for _, t := range topics {
		subs := h.topics[t]
		if subs == nil {
			subs = make(map[*subscriber]struct{})
			h.topics[t] = subs
		}
		if _, dup := subs[sub]; !dup {
			subs[sub] = struct{}{}
			h.subscriptions++
		}
	}
	h.stats.subscribed.Add(1)
	head := h.head // everything after head will be queued for sub
	h.mu.Unlock()
	defer h.unsubscribe(sub)

	switch {
	case id != "":
		r.finish(head)
	case waited && h.startFailed.Load():
		// The session opened while the hub could not reach the backend:
		// events may have been published between then and head.
		h.stats.gaps.Add(1)
		sub.sendReset(head, ResetGap)
	}
	if h.opts.OnSubscribe != nil && s.Err() == nil {
		h.opts.OnSubscribe(s, topics)
	}
	return sub.run()
}

func (h *Hub) unsubscribe(sub *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stats.subscribed.Add(-1)
	for _, t := range sub.topics {
		subs := h.topics[t]
		if _, ok := subs[sub]; !ok {
			continue // a topic named twice, already left
		}
		delete(subs, sub)
		h.subscriptions--
		if len(subs) == 0 {
			delete(h.topics, t)
		}
	}
	h.stats.queued.Add(-int64(sub.drain()))
}

func (h *Hub) headPos() Pos {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.head
}

func eventOf(e Entry) lifecycle.Event {
	return lifecycle.Event{ID: e.ID, Type: e.Type, Data: e.Data}
}

// dispatch follows the backend and queues every entry for the subscribers
// of its topic, until Close.
func (h *Hub) dispatch() {
	defer close(h.done)
	head, ok := h.backendHead("hub: backend unreachable; retrying")
	if !ok {
		return
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
			// The backend lost its data or rolled back (a Redis emptied,
			// replaced, or restored from an older snapshot): positions
			// start over in a new log, and every subscriber is told that
			// it may have missed events.
			p, ok := h.backendHead("hub: backend unreachable after its log changed; retrying")
			if !ok {
				return
			}
			h.log.Warn("hub: the backend's log was replaced; subscribers get a reset event", "old", head, "new", p)
			head = h.restart(p)
			continue
		case err != nil:
			h.stats.backendErrors.Add(1)
			h.log.Warn("hub: following the backend failed; retrying", "err", err)
			if !wait.sleep(h.ctx) {
				return
			}
			continue
		}
		wait.reset()
		head = h.deliver(head, entries)
	}
}

// startSlow is how long the hub's first call to the backend may take before
// the sessions that opened meanwhile get a reset event: the backend was not
// reachable when they opened.
const startSlow = time.Second

// backendHead asks the backend for its head until it answers, backing off
// and logging msg meanwhile. It returns false once the hub is closed.
func (h *Hub) backendHead(msg string) (Pos, bool) {
	for wait := newBackoff(); ; {
		start := time.Now()
		p, err := h.b.Head(h.ctx)
		if time.Since(start) > startSlow {
			h.startFailed.Store(true)
		}
		if err == nil {
			return p, true
		}
		if h.ctx.Err() != nil {
			return Pos{}, false
		}
		h.stats.backendErrors.Add(1)
		h.startFailed.Store(true)
		h.log.Warn(msg, "err", err)
		if !wait.sleep(h.ctx) {
			return Pos{}, false
		}
	}
}

// deliver queues entries, which follow head, for their subscribers and
// returns the new head. Entries the feed skipped are filled in first.
func (h *Hub) deliver(head Pos, entries []Entry) Pos {
	for len(entries) > 0 {
		if e := entries[0]; e.Pos.Seq > head.Seq+1 {
			head = h.fill(head, Pos{Seq: e.Pos.Seq - 1, Epoch: e.Pos.Epoch})
		}
		// One entry at a time, its subscribers woken as soon as it is
		// queued: a writer starts on the first entry of a batch while the
		// others are queued.
		for len(entries) > 0 && entries[0].Pos.Seq <= head.Seq+1 {
			e := &entries[0]
			entries = entries[1:]
			if e.Pos.Seq <= head.Seq {
				continue
			}
			head = h.deliverOne(e)
		}
	}
	return head
}

// deliverOne queues e, which follows h.head, for the subscribers of its
// topic, and wakes those that need it.
func (h *Hub) deliverOne(e *Entry) Pos {
	h.mu.Lock()
	wakes := h.wakes[:0]
	// Counted once for all its subscribers, not once each: a counter
	// shared by every subscriber's writer is costly to touch.
	if subs := h.topics[e.Topic]; len(subs) > 0 {
		h.stats.queued.Add(int64(len(subs)))
		it := itemFor(e, len(subs)) // encoded once for all of them
		var notQueued int64
		for sub := range subs {
			queued, wake := sub.enqueue(it)
			if !queued {
				notQueued++
			}
			if wake {
				wakes = append(wakes, sub)
			}
		}
		if notQueued > 0 {
			h.stats.queued.Add(-notQueued)
		}
	}
	h.head = e.Pos
	h.mu.Unlock()
	// The wakeups (a channel send each, which readies a goroutine) are
	// most of a fan-out's cost: outside the lock, so that sessions
	// subscribing and leaving do not wait for them.
	for i, sub := range wakes {
		sub.wake()
		wakes[i] = nil
	}
	h.wakes = wakes[:0]
	return e.Pos
}

// fill delivers what the feed skipped, after `from` up to upTo, from the
// histories of the topics that have subscribers. A subscriber with a topic
// whose history no longer has all of it (or that could not be read) gets a
// reset event at upTo instead of any of it. The backend is read without
// holding h.mu.
func (h *Hub) fill(from, upTo Pos) Pos {
	h.mu.Lock()
	topics := make([]string, 0, len(h.topics))
	for t := range h.topics {
		topics = append(topics, t)
	}
	h.mu.Unlock()

	type result struct {
		entries  []Entry
		complete bool
	}
	got := make(map[string]result, len(topics))
	for _, t := range topics {
		es, complete, err := h.b.Range(h.ctx, t, from, upTo)
		if err != nil {
			h.stats.backendErrors.Add(1)
			h.log.Warn("hub: reading a topic's history failed; its subscribers get a reset event", "topic", t, "err", err)
			complete = false
		}
		got[t] = result{es, complete}
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	reset := map[*subscriber]bool{}
	var all []Entry
	for t, subs := range h.topics {
		r, ok := got[t]
		if !ok || !r.complete {
			for sub := range subs {
				reset[sub] = true
			}
			continue
		}
		all = append(all, r.entries...)
	}
	for sub := range reset {
		h.stats.gaps.Add(1)
		sub.push(item{reset: ResetGap, at: upTo})
	}
	slices.SortFunc(all, func(a, b Entry) int { return cmp.Compare(a.Pos.Seq, b.Pos.Seq) })
	for i := range all {
		e := &all[i]
		it := itemFor(e, 2) // shared
		for sub := range h.topics[e.Topic] {
			if !reset[sub] {
				sub.push(it)
			}
		}
	}
	h.head = upTo
	return upTo
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
				h.stats.unknownIDs.Add(1)
				sub.push(item{reset: ResetUnknownID, at: p})
			}
		}
	}
	h.head = p
	return p
}

// Stats is a snapshot of a hub's state and counters. The counts are
// running totals since New, but Subscribers, Topics, Subscriptions,
// Subscribed and Queued, which are current.
type Stats struct {
	Subscribers     map[string]int   // subscribers per topic, on this instance (nil from Totals)
	Topics          int              // topics with a subscriber, on this instance
	Subscriptions   int64            // subscriptions (a session to one of its topics), on this instance
	Subscribed      int64            // sessions subscribed now (in Serve), on this instance
	Queued          int64            // events waiting in subscriber queues
	Published       int64            // events published through this instance
	Dropped         int64            // events dropped from full queues (Options.DropOldest)
	SlowDisconnects int64            // sessions ended with ErrSlowSubscriber
	Replays         int64            // reconnects resumed from their Last-Event-ID
	ReplayedEvents  int64            // events sent by those replays
	Gaps            int64            // reset events sent (history gone, unknown ID, log replaced)
	Resets          map[string]int64 // Gaps by kind: ResetGap and ResetUnknownID, both present
	BackendErrors   int64            // calls to the backend that failed (a Publish's whose context ended too)
}

type counters struct {
	queued, published, dropped, slow, replays, replayed atomic.Int64
	subscribed, backendErrors                           atomic.Int64
	gaps, unknownIDs                                    atomic.Int64 // reset events sent, by kind: ResetGap, ResetUnknownID
}

// reset counts a reset event of kind sent.
func (c *counters) reset(kind string) {
	if kind == ResetUnknownID {
		c.unknownIDs.Add(1)
	} else {
		c.gaps.Add(1)
	}
}

// Stats returns the hub's current state and counters, with subscribers per
// topic. Its cost grows with the number of topics (it copies them, holding
// the lock the dispatcher takes for every event): for metrics collected
// often on a hub with a topic per user, use Totals. Safe for concurrent use.
func (h *Hub) Stats() Stats {
	st := h.Totals()
	h.mu.Lock()
	defer h.mu.Unlock()
	// Read again with the map, so that they agree.
	st.Topics, st.Subscriptions = len(h.topics), h.subscriptions
	st.Subscribers = make(map[string]int, st.Topics)
	for t, subs := range h.topics {
		st.Subscribers[t] = len(subs)
	}
	return st
}

// Totals returns what Stats does but Subscribers, which is nil: a cost that
// does not grow with the number of topics or subscribers. Safe for
// concurrent use.
func (h *Hub) Totals() Stats {
	st := Stats{
		Queued:          h.stats.queued.Load(),
		Published:       h.stats.published.Load(),
		Dropped:         h.stats.dropped.Load(),
		SlowDisconnects: h.stats.slow.Load(),
		Replays:         h.stats.replays.Load(),
		ReplayedEvents:  h.stats.replayed.Load(),
		Subscribed:      h.stats.subscribed.Load(),
		BackendErrors:   h.stats.backendErrors.Load(),
		Resets: map[string]int64{
			ResetGap:       h.stats.gaps.Load(),
			ResetUnknownID: h.stats.unknownIDs.Load(),
		},
	}
	st.Gaps = st.Resets[ResetGap] + st.Resets[ResetUnknownID]
	h.mu.Lock()
	st.Topics, st.Subscriptions = len(h.topics), h.subscriptions
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
