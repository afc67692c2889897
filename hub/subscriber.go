package hub

import (
	"context"
	"sync"

	"github.com/ssekit/ssekit/lifecycle"
)

// item is one queued thing to send: an entry, or a reset event at a
// position.
type item struct {
	entry Entry
	reset string // when not empty: a reset event with this data, at `at`
	at    Pos
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
	gap    item              // with reset set: what DropOldest dropped, to send before the queue
	evs    []lifecycle.Event // the writer's encoding of a batch; writer only
	skip   uint64            // entries up to this Seq are not sent (the client has them); writer only
}

func newSubscriber(h *Hub, s *lifecycle.Session, topics []string) *subscriber {
	return &subscriber{h: h, s: s, topics: topics, signal: make(chan struct{}, 1)}
}

// push queues it, applying the overflow policy. It never blocks.
func (sub *subscriber) push(it item) {
	sub.h.stats.queued.Add(1)
	if !sub.enqueue(it) {
		sub.h.stats.queued.Add(-1)
	}
}

// enqueue is push without counting it in Stats.Queued: the caller adds it
// before, once for many subscribers, and subtracts it if enqueue returns
// false (it was not queued). Counting before queueing keeps Queued from
// going below zero when the writer takes the item at once.
func (sub *subscriber) enqueue(it item) bool {
	sub.mu.Lock()
	if sub.overflowed {
		sub.mu.Unlock()
		return false
	}
	if len(sub.queue) >= sub.h.opts.QueueLen {
		if !sub.h.opts.DropOldest {
			sub.overflowed = true
			sub.mu.Unlock()
			sub.h.stats.slow.Add(1)
			sub.s.CloseWithError(ErrSlowSubscriber) // never blocks
			return false
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
		at := old.at
		if old.reset == "" {
			at = old.entry.Pos
		}
		sub.gap = item{reset: reason, at: at}
		sub.h.stats.dropped.Add(1)
		sub.h.stats.queued.Add(-1)
	}
	sub.queue = append(sub.queue, it)
	sub.mu.Unlock()
	sub.wake()
	return true
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
	stopS := context.AfterFunc(sub.s.Context(), sub.wake)
	defer stopS()
	stopH := context.AfterFunc(sub.h.ctx, sub.wake)
	defer stopH()
	var spare []item
	for {
		<-sub.signal
		// Not ctx.Err(): it takes the context's mutex, which every
		// subscriber of the hub would contend for on every wakeup.
		select {
		case <-sub.h.ctx.Done():
			return ErrClosed
		default:
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
		evs := sub.evs[:0]
		if gap.reset != "" && (gap.at.Seq > sub.skip || gap.reset == ResetUnknownID) {
			// What DropOldest dropped, unless the client already has it.
			sub.h.stats.reset(gap.reset)
			evs = append(evs, resetEvent(gap.at, gap.reset))
			if gap.reset == ResetUnknownID {
				sub.skip = 0
			}
		}
		for _, it := range batch {
			if it.reset != "" {
				evs = append(evs, resetEvent(it.at, it.reset))
				sub.skip = 0 // what follows is after the reset, in its log
				continue
			}
			if it.entry.Pos.Seq <= sub.skip {
				continue
			}
			evs = append(evs, eventOf(it.entry))
		}
		err := sub.s.SendBatch(evs)
		clear(evs)
		sub.evs = evs[:0]
		clear(batch)
		spare = batch
		if err != nil {
			return nil // the session ended
		}
	}
}

func resetEvent(at Pos, reason string) lifecycle.Event {
	return lifecycle.Event{ID: at.String(), Type: ResetEventType, Data: []byte(reason)}
}

// sendReset writes a reset event at p. A failure ends the session, after
// which run returns at once.
func (sub *subscriber) sendReset(p Pos, reason string) error {
	return sub.s.Send(resetEvent(p, reason))
}
