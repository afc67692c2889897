package hub

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/ssekit/ssekit/lifecycle"
)

// replayBatch is how many replayed events go out in one write.
const replayBatch = 256

// replayPage is how far (in positions, over all topics) the first step of
// a replay reads; later steps read further while pages come back sparse.
const replayPage = 1024

// replayer writes a resuming session what it missed, from the backend, in
// steps. Before the session is subscribed, catchUp replays up to the hub's
// head again and again, as long as the session is far behind: a client
// that reads faster than events are published gets closer with every
// step, and only the last short stretch is replayed while live events
// queue. It is used by one Serve call.
type replayer struct {
	h     *Hub
	sub   *subscriber
	from  Pos    // the last position the client has
	page  uint64 // how far the next step reads
	on    bool   // replaying: the session is open and from is valid
	reset bool   // a reset event was sent
}

// start parses the client's Last-Event-ID, sending a reset event if it is
// not from this hub's log.
func (r *replayer) start(id string) {
	p, err := ParsePos(id)
	head := r.h.headPos()
	r.on = true
	if err != nil || p.Epoch != head.Epoch {
		r.sendReset(head, ResetUnknownID)
		return
	}
	r.from = p
}

// sendReset sends a reset event at `at`, from where the replay goes on:
// the client's next event follows it, with nothing lost in between.
func (r *replayer) sendReset(at Pos, reason string) {
	r.h.stats.reset(reason)
	r.reset = true
	if r.sub.sendReset(at, reason) != nil {
		r.on = false
	}
	r.from = at
}

// catchUp replays while the client is more than half a queue behind the
// hub's head.
func (r *replayer) catchUp() {
	slack := uint64(r.h.opts.QueueLen / 2)
	for r.on && r.sub.s.Err() == nil {
		head := r.h.headPos()
		if head.Epoch != r.from.Epoch {
			r.sendReset(head, ResetUnknownID) // the log changed meanwhile
			continue
		}
		if r.from.Seq >= head.Seq || head.Seq-r.from.Seq <= slack {
			return
		}
		r.step(head, false)
	}
}

// finish replays up to head, where the session's live events begin, and
// counts the replay.
func (r *replayer) finish(head Pos) {
	if !r.on {
		return
	}
	if head.Epoch != r.from.Epoch {
		r.sendReset(head, ResetUnknownID)
		return
	}
	if r.from.Seq > head.Seq {
		// An ID from ahead of this instance: another instance on the same
		// backend delivered it, and this one has not followed that far
		// yet. What comes after it is on its way through the queue; skip
		// up to it. An ID ahead of the backend itself is made up.
		bh, err := r.h.b.Head(r.sub.s.Context())
		if err != nil {
			if r.sub.s.Err() == nil {
				r.h.stats.backendErrors.Add(1)
			}
			r.sub.s.CloseWithError(fmt.Errorf("hub: replay: %w", err))
			return
		}
		if bh.Epoch != r.from.Epoch || bh.Seq < r.from.Seq {
			r.sendReset(head, ResetUnknownID)
			return
		}
		r.sub.skip = r.from.Seq
		r.counted()
		return
	}
	if r.from.Seq == head.Seq {
		r.counted()
	}
	for r.on && r.from.Seq < head.Seq && r.sub.s.Err() == nil {
		r.step(head, true)
	}
}

// counted counts a replay that completed without a reset, before its last
// events are written.
func (r *replayer) counted() {
	if !r.reset {
		r.h.stats.replays.Add(1)
	}
}

// step replays one page, from r.from towards head, and moves r.from past
// it. A history that no longer has all of it gets a reset event at head
// instead.
func (r *replayer) step(head Pos, final bool) {
	s := r.sub.s
	upTo := head
	if head.Seq-r.from.Seq > r.page {
		upTo.Seq = r.from.Seq + r.page
	}
	var all []Entry
	for _, t := range r.sub.topics {
		es, complete, err := r.h.b.Range(s.Context(), t, r.from, upTo)
		if errors.Is(err, ErrEpoch) {
			r.sendReset(head, ResetUnknownID)
			return
		}
		if err != nil {
			if s.Err() == nil {
				r.h.stats.backendErrors.Add(1)
			}
			// The client keeps its Last-Event-ID and tries again.
			s.CloseWithError(fmt.Errorf("hub: replay: %w", err))
			r.on = false
			return
		}
		if !complete {
			r.sendReset(head, ResetGap)
			return
		}
		all = append(all, es...)
	}
	slices.SortFunc(all, func(a, b Entry) int { return cmp.Compare(a.Pos.Seq, b.Pos.Seq) })
	r.h.stats.replayed.Add(int64(len(all)))
	if final && upTo == head {
		r.counted()
	}
	evs := make([]lifecycle.Event, 0, min(len(all), replayBatch))
	for rest := all; len(rest) > 0; {
		n := min(len(rest), replayBatch)
		evs = evs[:0]
		for _, e := range rest[:n] {
			evs = append(evs, eventOf(e))
		}
		if s.SendBatch(evs) != nil {
			r.on = false
			return // the session ended
		}
		rest = rest[n:]
	}
	r.from = upTo
	// Read further while pages are sparse (quiet topics in a busy log),
	// less far when they are dense.
	switch {
	case len(all) < replayBatch && r.page < 1<<40:
		r.page *= 4
	case len(all) > 4*replayBatch && r.page > replayPage:
		r.page /= 2
	}
}
