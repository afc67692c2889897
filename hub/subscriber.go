package hub

import (
	"context"
	"slices"
	"sync"

	"github.com/ssekit/ssekit/lifecycle"
)

// item is one queued thing to send: an event, or a reset event at a
// position.
type item struct {
	e     *Entry   // an event for one subscriber only, which encodes it
	ev    *encoded // an event for several, encoded once for all of them
	reset string   // when not empty: a reset event with this data, at `at`
	at    Pos
}

// encoded is an entry in its wire form, shared by every subscriber it is
// queued for: a fan-out encodes an event once, not once per subscriber, and
// queues a pointer.
type encoded struct {
	pos  Pos
	wire lifecycle.Encoded
}

// itemFor returns the item that queues e for n subscribers: e itself for
// one (its writer encodes it into its own buffer, which costs no
// allocation), else e's shared wire form, or a reset item at e's position
// if e cannot be encoded (a Type with a line break, from a backend that let
// one through): its subscribers are told they missed an event rather than
// missing it silently. e must not change while it is queued.
func itemFor(e *Entry, n int) item {
	if n == 1 {
		if (&lifecycle.Event{ID: e.ID, Type: e.Type}).Validate() != nil {
			return item{reset: ResetGap, at: e.Pos}
		}
		return item{e: e}
	}
	w, err := lifecycle.Encode(eventOf(*e))
	if err != nil {
		return item{reset: ResetGap, at: e.Pos}
	}
	return item{ev: &encoded{pos: e.Pos, wire: w}}
}

// pos returns the position of what it sends.
func (it *item) pos() Pos {
	switch {
	case it.e != nil:
		return it.e.Pos
	case it.ev != nil:
		return it.ev.pos
	}
	return it.at
}

// subscriber is one session's subscription. The dispatcher pushes; the
// session's own goroutine (in Serve) writes.
type subscriber struct {
	// What the dispatcher touches on every push, together: one cache line.
	h          *Hub
	signal     chan struct{} // has a value when the queue may be non-empty, or the session or hub ended
	mu         sync.Mutex
	overflowed bool
	queue      []item

	s      *lifecycle.Session
	topics []string
	gap    item                // with reset set: what DropOldest dropped, to send before the queue
	evs    []lifecycle.Event   // the writer's batch of events for it alone; writer only
	encs   []lifecycle.Encoded // the writer's batch with shared events; writer only
	skip   uint64              // entries up to this Seq are not sent (the client has them); writer only
}

func newSubscriber(h *Hub, s *lifecycle.Session, topics []string) *subscriber {
	return &subscriber{h: h, s: s, topics: topics, signal: make(chan struct{}, 1)}
}

// push queues it, applying the overflow policy, and wakes the writer. It
// never blocks.
func (sub *subscriber) push(it item) {
	sub.h.stats.queued.Add(1)
	queued, wake := sub.enqueue(it)
	if !queued {
		sub.h.stats.queued.Add(-1)
	}
	if wake {
		sub.wake()
	}
}

// enqueue is push without counting it in Stats.Queued and without waking
// the writer: the caller adds it to Queued before, once for many
// subscribers, and subtracts it if enqueue reports it was not queued
// (counting before queueing keeps Queued from going below zero when the
// writer takes the item at once); and it calls wake if enqueue asks for it,
// which it does when the queue was empty (otherwise a wakeup is pending
// already, or the writer has yet to take the queue).
func (sub *subscriber) enqueue(it item) (queued, wake bool) {
	sub.mu.Lock()
	if sub.overflowed {
		sub.mu.Unlock()
		return false, false
	}
	if len(sub.queue) >= sub.h.opts.QueueLen {
		if !sub.h.opts.DropOldest {
			sub.overflowed = true
			sub.mu.Unlock()
			sub.h.stats.slow.Add(1)
			sub.s.CloseWithError(ErrSlowSubscriber) // never blocks
			return false, false
		}
		// The oldest goes; a reset event at its position takes the place
		// of everything dropped before the rest of the queue is sent.
		old := sub.queue[0]
		n := copy(sub.queue, sub.queue[1:])
		sub.queue[n] = item{}
		sub.queue = sub.queue[:n]
		reason := ResetGap
		if old.reset == ResetUnknownID || sub.gap.reset == ResetUnknownID {
			reason = ResetUnknownID
		}
		sub.gap = item{reset: reason, at: old.pos()}
		sub.h.stats.dropped.Add(1)
		sub.h.stats.queued.Add(-1)
	}
	wake = len(sub.queue) == 0
	sub.queue = append(sub.queue, it)
	sub.mu.Unlock()
	return true, wake
}

// wake makes run look at the queue, the session and the hub.
func (sub *subscriber) wake() {
	select {
	case sub.signal <- struct{}{}:
	default:
	}
}

// take returns everything queued, leaving the queue empty (reusing spare,
// the writer's last batch, cleared), and the reset to send before it if
// events were dropped.
func (sub *subscriber) take(spare []item) (batch []item, gap item) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	batch, gap = sub.queue, sub.gap
	sub.queue, sub.gap = spare[:0], item{}
	return batch, gap
}

// drain empties the queue and returns how many items it held.
func (sub *subscriber) drain() int {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	n := len(sub.queue)
	clear(sub.queue)
	sub.queue = sub.queue[:0]
	return n
}

// run writes queued events to the session, everything queued in one
// write, until the session ends or the hub closes.
func (sub *subscriber) run() error {
	// One channel to wait on, not a select over three: the end of the
	// session and of the hub signal it too. A wakeup per event batch is the
	// hub's commonest path (each delivery of a fan-out is one).
	// Close wakes every subscriber itself: an AfterFunc on the hub's
	// context per subscriber would cost an allocation each and a lock that
	// every subscribe and unsubscribe of the hub contends for.
	stopS := context.AfterFunc(sub.s.Context(), sub.wake)
	defer stopS()
	var spare []item
	for {
		<-sub.signal
		// Not ctx.Err() nor a receive from Done: an atomic load is all
		// it takes, on the hub's commonest path.
		if sub.h.closed.Load() {
			return ErrClosed
		}
		if sub.s.Err() != nil { // an atomic load, set before s.Done is closed
			return nil
		}
		batch, gap := sub.take(spare)
		spare = nil
		if len(batch) == 0 && gap.reset == "" {
			spare = batch
			continue
		}
		sub.h.stats.queued.Add(-int64(len(batch)))
		if gap.reset != "" && (gap.at.Seq > sub.skip || gap.reset == ResetUnknownID) {
			// What DropOldest dropped, unless the client already has it.
			sub.h.stats.reset(gap.reset)
			if gap.reset == ResetUnknownID {
				sub.skip = 0
			}
		} else {
			gap = item{}
		}
		err := sub.send(gap, batch)
		clear(batch)
		spare = batch
		if err != nil {
			return nil // the session ended
		}
	}
}

// send writes gap (if it is a reset) and batch in one write: as events if
// none is shared with other subscribers, else in their wire forms.
func (sub *subscriber) send(gap item, batch []item) error {
	shared := slices.ContainsFunc(batch, func(it item) bool { return it.ev != nil })
	if !shared {
		evs := sub.evs[:0]
		if gap.reset != "" {
			evs = append(evs, resetEvent(gap.at, gap.reset))
		}
		for i := range batch {
			switch it := &batch[i]; {
			case it.reset != "":
				evs = append(evs, resetEvent(it.at, it.reset))
				sub.skip = 0 // what follows is after the reset, in its log
			case it.e.Pos.Seq > sub.skip:
				evs = append(evs, eventOf(*it.e))
			}
		}
		err := sub.s.SendBatch(evs)
		clear(evs)
		sub.evs = evs[:0]
		return err
	}
	encs := sub.encs[:0]
	if gap.reset != "" {
		encs = append(encs, resetEncoded(gap.at, gap.reset))
	}
	for i := range batch {
		switch it := &batch[i]; {
		case it.reset != "":
			encs = append(encs, resetEncoded(it.at, it.reset))
			sub.skip = 0
		case it.pos().Seq <= sub.skip:
		case it.ev != nil:
			encs = append(encs, it.ev.wire)
		default: // one of its own among shared ones: rare
			if x := itemFor(it.e, 2); x.ev != nil {
				encs = append(encs, x.ev.wire)
			} else {
				encs = append(encs, resetEncoded(x.at, x.reset))
			}
		}
	}
	err := sub.s.SendEncoded(encs)
	clear(encs)
	sub.encs = encs[:0]
	return err
}

func resetEvent(at Pos, reason string) lifecycle.Event {
	return lifecycle.Event{ID: at.String(), Type: ResetEventType, Data: []byte(reason)}
}

func resetEncoded(at Pos, reason string) lifecycle.Encoded {
	w, _ := lifecycle.Encode(resetEvent(at, reason)) // valid: a Pos, a constant type
	return w
}

// sendReset writes a reset event at p. A failure ends the session, after
// which run returns at once.
func (sub *subscriber) sendReset(p Pos, reason string) error {
	return sub.s.Send(resetEvent(p, reason))
}
