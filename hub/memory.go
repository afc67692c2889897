package hub

import (
	"context"
	"errors"
	"hash/maphash"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// Memory is the in-memory Backend: the default, for a single server
// instance. Its history is lost when the process exits; a client resuming
// with an ID from before then is told with a reset event. It is safe for
// concurrent use.
//
// Append, trimming and Follow cost O(1) per event, Range O(log n + k) for k
// entries out of n retained. Topics idle for Retention.Idle are freed.
//
// Every entry appended stays on the feed until each hub following it (each
// context passed to Follow) has taken it: a publisher that outruns the
// hubs waits in Append for the feed to drain. A follower that has not
// called Follow for a second stops counting, so a hub that is gone never
// holds up Append for longer than that.
type Memory struct {
	ret  Retention
	idle time.Duration

	mu        sync.Mutex
	epoch     uint64
	seq       uint64
	topics    map[string]*memTopic
	idleFirst *memTopic // topics by last append, least recent first
	idleLast  *memTopic
	feed      ring          // the last entries of every topic, oldest first
	wake      chan struct{} // closed and replaced by an Append once a follower waits on it
	progress  chan struct{} // closed and replaced when a follower asks for more, once a publisher waits on it
	// wakeWaited and progressWaited: a goroutine took the channel to wait on
	// it. Unless one did, there is no one to wake and the channel stays:
	// a busy feed costs no channel per event.
	wakeWaited, progressWaited bool
	followers                  map[context.Context]*follower
	flist                      []*follower // the followers, for a cheap scan on every Append
	tokens                     map[string]Entry
	tokenQ                     []tokenRec // tokens by age
	seed                       maphash.Seed
	tombs                      [tombBuckets]uint64 // by bucket: the last Seq of a freed topic
	closed                     bool
}

type memTopic struct {
	name       string
	entries    ring
	trimmed    uint64 // the highest Seq dropped from entries
	last       time.Time
	prev, next *memTopic // in the idle list
}

type follower struct {
	ctx   context.Context
	after uint64    // what it has taken
	seen  time.Time // when it last called Follow
	in    int       // calls in progress
}

type tokenRec struct {
	at    time.Time
	token string
}

// feedLen bounds the memory backend's feed.
const feedLen = 1 << 14

// followerTimeout is how long a follower that does not call Follow keeps
// holding up Append.
const followerTimeout = time.Second

// tombBuckets is how many marks of freed topics a backend keeps.
const tombBuckets = 4096

// NewMemory returns an in-memory backend keeping r of each topic.
func NewMemory(r Retention) *Memory {
	return &Memory{
		ret:       r.WithDefaults(),
		idle:      r.Idle(),
		epoch:     newEpoch(),
		topics:    make(map[string]*memTopic),
		wake:      make(chan struct{}),
		progress:  make(chan struct{}),
		followers: make(map[context.Context]*follower),
		seed:      maphash.MakeSeed(),
	}
}

// newEpoch returns a random epoch, below 2^52 so that it survives any JSON
// or Lua number on its way.
func newEpoch() uint64 { return 1 + rand.Uint64N(1<<52-1) }

var errMemoryClosed = errors.New("hub: memory backend closed")

func (m *Memory) bucket(topic string) int { return int(maphash.String(m.seed, topic) % tombBuckets) }

// Append implements Backend.
func (m *Memory) Append(ctx context.Context, topic string, ev Event) (Entry, error) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if ev.Token != "" {
		m.expireTokensLocked(now)
		if e, ok := m.tokens[ev.Token]; ok {
			return e, nil
		}
	}
	for {
		if m.closed {
			return Entry{}, errMemoryClosed
		}
		if m.feed.len() < feedLen || !m.behindLocked(now) {
			break
		}
		progress := m.progress
		m.progressWaited = true
		m.mu.Unlock()
		t := time.NewTimer(followerTimeout / 4)
		select {
		case <-progress:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		m.mu.Lock()
		if err := ctx.Err(); err != nil {
			return Entry{}, err
		}
		now = time.Now()
	}
	m.seq++
	p := Pos{Seq: m.seq, Epoch: m.epoch}
	// The backend keeps copies of the caller's strings, as of its Data:
	// they may alias a buffer the caller reuses (fasthttp's request, behind
	// Fiber's c.Params), which would rewrite the topic under the map's key
	// and the entries. A topic's name is copied once, a Type when it
	// changes.
	t := m.topics[topic]
	if t == nil {
		name := strings.Clone(topic)
		t = &memTopic{name: name, trimmed: m.tombs[m.bucket(name)]}
		m.topics[name] = t
	} else {
		m.unlinkLocked(t)
	}
	typ := ev.Type
	if n := t.entries.len(); n > 0 && t.entries.at(n-1).Type == typ {
		typ = t.entries.at(n - 1).Type
	} else {
		typ = strings.Clone(typ)
	}
	e := Entry{Pos: p, ID: p.String(), Topic: t.name, Type: typ, Data: append([]byte(nil), ev.Data...), Time: now}
	t.last = now
	m.linkLocked(t)
	if t.entries.len() == m.ret.MaxLen {
		t.trimmed = t.entries.pop().Pos.Seq
	}
	t.entries.push(e, m.ret.MaxLen)
	m.trimAgeLocked(t, now)
	m.sweepLocked(now)
	if m.feed.len() == feedLen {
		m.feed.pop()
	}
	m.feed.push(e, feedLen)
	if ev.Token != "" {
		if m.tokens == nil {
			m.tokens = make(map[string]Entry)
		}
		tok := strings.Clone(ev.Token)
		m.tokens[tok] = e
		m.tokenQ = append(m.tokenQ, tokenRec{now, tok})
	}
	if m.wakeWaited {
		close(m.wake)
		m.wake, m.wakeWaited = make(chan struct{}), false
	}
	return e, nil
}

// behindLocked reports whether a follower still needs the feed's oldest
// entry, forgetting followers that stopped calling Follow.
func (m *Memory) behindLocked(now time.Time) bool {
	oldest := m.feed.at(0).Pos.Seq
	for i := 0; i < len(m.flist); i++ {
		f := m.flist[i]
		if f.in == 0 && now.Sub(f.seen) > followerTimeout {
			m.removeFollowerLocked(f)
			i--
			continue
		}
		if f.after < oldest {
			return true
		}
	}
	return false
}

func (m *Memory) removeFollowerLocked(f *follower) {
	if m.followers[f.ctx] != f {
		return
	}
	delete(m.followers, f.ctx)
	if i := slices.Index(m.flist, f); i >= 0 {
		m.flist = slices.Delete(m.flist, i, i+1)
	}
}

func (m *Memory) expireTokensLocked(now time.Time) {
	n := 0
	for n < len(m.tokenQ) && now.Sub(m.tokenQ[n].at) >= TokenTTL {
		delete(m.tokens, m.tokenQ[n].token)
		n++
	}
	if n > 0 {
		m.tokenQ = append(m.tokenQ[:0], m.tokenQ[n:]...)
	}
}

// trimAgeLocked drops t's entries older than MaxAge.
func (m *Memory) trimAgeLocked(t *memTopic, now time.Time) {
	if m.ret.MaxAge <= 0 {
		return
	}
	for t.entries.len() > 0 && now.Sub(t.entries.at(0).Time) > m.ret.MaxAge {
		t.trimmed = t.entries.pop().Pos.Seq
	}
}

// sweepLocked frees topics idle for longer than m.idle, remembering their
// last position in their bucket.
func (m *Memory) sweepLocked(now time.Time) {
	if m.idle <= 0 {
		return
	}
	for t := m.idleFirst; t != nil && now.Sub(t.last) > m.idle; t = m.idleFirst {
		last := t.trimmed
		if n := t.entries.len(); n > 0 {
			last = t.entries.at(n - 1).Pos.Seq
		}
		b := m.bucket(t.name)
		m.tombs[b] = max(m.tombs[b], last)
		m.unlinkLocked(t)
		delete(m.topics, t.name)
	}
}

func (m *Memory) linkLocked(t *memTopic) {
	t.prev, t.next = m.idleLast, nil
	if m.idleLast != nil {
		m.idleLast.next = t
	} else {
		m.idleFirst = t
	}
	m.idleLast = t
}

func (m *Memory) unlinkLocked(t *memTopic) {
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		m.idleFirst = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	} else {
		m.idleLast = t.prev
	}
	t.prev, t.next = nil, nil
}

// Range implements Backend.
func (m *Memory) Range(_ context.Context, topic string, after, upTo Pos) ([]Entry, bool, error) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if after.Epoch != m.epoch {
		return nil, false, ErrEpoch
	}
	m.sweepLocked(now)
	t := m.topics[topic]
	if t == nil {
		return nil, m.tombs[m.bucket(topic)] <= after.Seq, nil
	}
	m.trimAgeLocked(t, now)
	var out []Entry
	for i := t.entries.after(after.Seq); i < t.entries.len(); i++ {
		e := t.entries.at(i)
		if e.Pos.Seq > upTo.Seq {
			break
		}
		out = append(out, *e)
	}
	return out, t.trimmed <= after.Seq, nil
}

// followBatch bounds what one Follow returns.
const followBatch = 4096

// Follow implements Backend.
func (m *Memory) Follow(ctx context.Context, after Pos) ([]Entry, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, errMemoryClosed
	}
	f := m.followers[ctx]
	if f == nil {
		f = &follower{ctx: ctx}
		m.followers[ctx] = f
		m.flist = append(m.flist, f)
		context.AfterFunc(ctx, func() {
			m.mu.Lock()
			m.removeFollowerLocked(f)
			m.mu.Unlock()
		})
	}
	f.in++
	defer func() {
		m.mu.Lock()
		f.in--
		f.seen = time.Now()
		m.mu.Unlock()
	}()
	f.after, f.seen = after.Seq, time.Now()
	if m.progressWaited {
		close(m.progress)
		m.progress, m.progressWaited = make(chan struct{}), false
	}
	for {
		if m.closed {
			m.mu.Unlock()
			return nil, errMemoryClosed
		}
		if after.Epoch != m.epoch {
			m.mu.Unlock()
			return nil, ErrEpoch
		}
		if n := m.feed.len(); n > 0 && m.feed.at(n-1).Pos.Seq > after.Seq {
			i := 0
			if first := m.feed.at(0).Pos.Seq; after.Seq >= first {
				i = int(after.Seq - first + 1)
			}
			out := make([]Entry, 0, min(n-i, followBatch))
			for ; i < n && len(out) < followBatch; i++ {
				out = append(out, *m.feed.at(i))
			}
			m.mu.Unlock()
			return out, nil
		}
		wake := m.wake
		m.wakeWaited = true
		m.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		m.mu.Lock()
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
		close(m.progress)
	}
	return nil
}
