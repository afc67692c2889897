package hub

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"
)

// Memory is the in-memory Backend: the default, for a single server
// instance. Its history is lost when the process exits; a client resuming
// with an ID from before then is told with a reset event. It is safe for
// concurrent use.
type Memory struct {
	ret Retention

	mu     sync.Mutex
	epoch  uint64
	seq    uint64
	topics map[string]*memTopic
	feed   []Entry       // the last feedLen entries of every topic, oldest first
	wake   chan struct{} // closed and replaced by every Append
	closed bool
}

type memTopic struct {
	entries []Entry // oldest first
	trimmed uint64  // the highest Seq dropped from entries
}

// feedLen bounds the memory backend's feed: a hub that falls further behind
// fills the gap from the topics' histories.
const feedLen = 4096

// NewMemory returns an in-memory backend keeping r of each topic.
func NewMemory(r Retention) *Memory {
	return &Memory{
		ret:    r.WithDefaults(),
		epoch:  newEpoch(),
		topics: make(map[string]*memTopic),
		wake:   make(chan struct{}),
	}
}

// newEpoch returns a random epoch, below 2^52 so that it survives any JSON
// or Lua number on its way.
func newEpoch() uint64 { return 1 + rand.Uint64N(1<<52-1) }

var errMemoryClosed = errors.New("hub: memory backend closed")

// Append implements Backend.
func (m *Memory) Append(_ context.Context, topic string, ev Event) (Entry, error) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Entry{}, errMemoryClosed
	}
	m.seq++
	p := Pos{Seq: m.seq, Epoch: m.epoch}
	e := Entry{Pos: p, ID: p.String(), Topic: topic, Type: ev.Type, Data: append([]byte(nil), ev.Data...), Time: now}
	t := m.topics[topic]
	if t == nil {
		t = &memTopic{}
		m.topics[topic] = t
	}
	t.entries = append(t.entries, e)
	m.trimLocked(t, now)
	if len(m.feed) >= feedLen {
		n := copy(m.feed, m.feed[len(m.feed)-feedLen/2:])
		clear(m.feed[n:])
		m.feed = m.feed[:n]
	}
	m.feed = append(m.feed, e)
	close(m.wake)
	m.wake = make(chan struct{})
	return e, nil
}

// trimLocked drops what t may no longer keep.
func (m *Memory) trimLocked(t *memTopic, now time.Time) {
	drop := max(len(t.entries)-m.ret.MaxLen, 0)
	if m.ret.MaxAge > 0 {
		for drop < len(t.entries) && now.Sub(t.entries[drop].Time) > m.ret.MaxAge {
			drop++
		}
	}
	if drop == 0 {
		return
	}
	t.trimmed = t.entries[drop-1].Pos.Seq
	n := copy(t.entries, t.entries[drop:])
	clear(t.entries[n:])
	t.entries = t.entries[:n]
}

// Range implements Backend.
func (m *Memory) Range(_ context.Context, topic string, after, upTo Pos) ([]Entry, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if after.Epoch != m.epoch {
		return nil, false, ErrEpoch
	}
	t := m.topics[topic]
	if t == nil {
		return nil, true, nil
	}
	m.trimLocked(t, time.Now())
	var out []Entry
	for _, e := range t.entries {
		if e.Pos.Seq > after.Seq && e.Pos.Seq <= upTo.Seq {
			out = append(out, e)
		}
	}
	return out, t.trimmed <= after.Seq, nil
}

// Follow implements Backend.
func (m *Memory) Follow(ctx context.Context, after Pos) ([]Entry, error) {
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return nil, errMemoryClosed
		}
		if after.Epoch != m.epoch {
			m.mu.Unlock()
			return nil, ErrEpoch
		}
		if n := len(m.feed); n > 0 && m.feed[n-1].Pos.Seq > after.Seq {
			i := 0
			if first := m.feed[0].Pos.Seq; after.Seq >= first {
				i = int(after.Seq - first + 1)
			}
			out := append([]Entry(nil), m.feed[i:]...)
			m.mu.Unlock()
			return out, nil
		}
		wake := m.wake
		m.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Head implements Backend.
func (m *Memory) Head(context.Context) (Pos, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Pos{Seq: m.seq, Epoch: m.epoch}, nil
}

// Close implements Backend: later calls fail.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		close(m.wake)
	}
	return nil
}
