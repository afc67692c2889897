// Package redisbackend stores a hub's log in Redis Streams, so that several
// server instances behind a load balancer deliver every event and a client
// can resume on any of them.
//
// Each topic is a stream holding its bounded history, with an index list of
// its entries' times and IDs for trimming; one more stream, the feed,
// carries every event for the instances to follow (XREAD BLOCK). An event's
// position, "seq-epoch", is its stream entry ID in both, and its SSE event
// ID. Publishing runs one Lua script (atomic: INCR for the position, XADD
// to the topic and the feed, trimming), so positions are gap-free across
// instances.
//
// # Delivery under faults
//
// Append is idempotent across retries: each call carries a token (the
// event's Token, or a random one), and the script answers a token it stored
// less than hub.TokenTTL ago with the stored ID. go-redis retries a script
// whose reply was lost (a timeout, a dropped connection); the retry finds
// the token and stores nothing twice. An Append that returns an error may
// or may not have stored the event, at most once.
//
// Every instance remembers the furthest position it has seen. A log whose
// sequence is found below it (Redis restarted from an older snapshot, or
// failed over to a lagging replica) gets a new epoch at once: every
// instance then sends its subscribers a reset event, and clients resuming
// from a lost position get one too. An instance notices within
// Options.Block, or at its next Append. A rollback that no running instance
// saw (every instance restarted with Redis) cannot be noticed: for
// "nothing acknowledged is ever lost", run Redis with appendonly yes and
// appendfsync always (and, with replicas, WAIT before acknowledging).
//
// Keys share one hash tag ({prefix}), so the backend works on Redis Cluster
// too. Redis 6.2 or newer.
package redisbackend

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssekit/ssekit/hub"
)

// Options configures a Backend. The zero value means the defaults.
type Options struct {
	// Prefix names the hub's keys; hubs with the same prefix on the same
	// Redis share one log. Default "ssekit:hub".
	Prefix string
	// Retention bounds each topic's history, and frees topics left idle.
	Retention hub.Retention
	// FeedLen is about how many entries the feed stream keeps; an instance
	// that falls further behind (after a long Redis outage) fills the gap
	// from the topics' histories. Default 10000.
	FeedLen int64
	// Block is how long one XREAD BLOCK waits before Follow checks the
	// log's epoch again. Default 2 s.
	Block time.Duration
}

// Backend is a hub.Backend on Redis Streams. It is safe for concurrent use.
// Every call returns when its context is done, even while Redis does not
// answer; the command may still run.
type Backend struct {
	rdb  redis.UniversalClient
	opts Options
	keys keys
	idle time.Duration // topics idle this long are freed; 0: never

	seenMu sync.Mutex
	seen   hub.Pos // the furthest position seen in the current log

	nextSweep atomic.Int64 // Unix ms
}

type keys struct{ epoch, seq, feed, trimmed, topics, tombs, tokens, topicPrefix, indexPrefix string }

// New returns a backend on rdb. It does not contact Redis; the first call
// that needs it does. Close does not close rdb.
func New(rdb redis.UniversalClient, opts Options) *Backend {
	if opts.Prefix == "" {
		opts.Prefix = "ssekit:hub"
	}
	opts.Retention = opts.Retention.WithDefaults()
	if opts.FeedLen <= 0 {
		opts.FeedLen = 10000
	}
	if opts.Block <= 0 {
		opts.Block = 2 * time.Second
	}
	tag := "{" + opts.Prefix + "}:"
	return &Backend{rdb: rdb, opts: opts, idle: opts.Retention.Idle(), keys: keys{
		epoch: tag + "epoch", seq: tag + "seq", feed: tag + "feed",
		trimmed: tag + "trimmed", topics: tag + "topics", tombs: tag + "tombs", tokens: tag + "tok:",
		topicPrefix: tag + "t:", indexPrefix: tag + "i:",
	}}
}

var (
	//go:embed append.lua
	appendLua string
	//go:embed state.lua
	stateLua string
	//go:embed sweep.lua
	sweepLua string

	appendScript = redis.NewScript(appendLua)
	stateScript  = redis.NewScript(stateLua)
	sweepScript  = redis.NewScript(sweepLua)
)

// newEpoch returns a random epoch below 2^52: exact as a Lua number.
func newEpoch() string { return strconv.FormatUint(1+mrand.Uint64N(1<<52-1), 10) }

// newToken returns a random idempotency token.
func newToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// bucket is the tomb bucket of a topic: the first 3 hex digits of its
// SHA-1, as sweep.lua computes it.
func bucket(topic string) string {
	sum := sha1.Sum([]byte(topic))
	return hex.EncodeToString(sum[:2])[:3]
}

// saw records p as seen, if it is further than what was.
func (b *Backend) saw(p hub.Pos) {
	b.seenMu.Lock()
	if p.Epoch != b.seen.Epoch || p.Seq > b.seen.Seq {
		b.seen = p
	}
	b.seenMu.Unlock()
}

func (b *Backend) seenPos() hub.Pos {
	b.seenMu.Lock()
	defer b.seenMu.Unlock()
	return b.seen
}

// await runs f, returning early with ctx's error when ctx is done first:
// go-redis does not stop a command blocked on an unresponsive server when
// its context ends. f keeps running until the client's own timeouts end
// it.
func await[T any](ctx context.Context, f func() (T, error)) (T, error) {
	if ctx.Done() == nil {
		return f()
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// Append implements hub.Backend. It is idempotent across retries: see the
// package documentation.
func (b *Backend) Append(ctx context.Context, topic string, ev hub.Event) (hub.Entry, error) {
	// Copies first: the call may go on after Append has returned (when
	// ctx ends first), and the caller's strings and bytes may alias a
	// buffer it reuses (fasthttp's request, behind Fiber's c.Params and
	// c.Body). One copy per publish, against a round trip to Redis.
	topic, ev.Type, ev.Token = strings.Clone(topic), strings.Clone(ev.Type), strings.Clone(ev.Token)
	ev.Data = bytes.Clone(ev.Data)
	now := time.Now()
	ms := now.UnixMilli()
	var cutoff int64
	if b.opts.Retention.MaxAge > 0 {
		cutoff = now.Add(-b.opts.Retention.MaxAge).UnixMilli()
	}
	tok := ev.Token
	if tok == "" {
		tok = newToken()
	}
	ttl := hub.TokenTTL.Milliseconds()
	window := ms / ttl
	seen := b.seenPos()
	res, err := await(ctx, func() ([]string, error) {
		return appendScript.Run(ctx, b.rdb,
			[]string{
				b.keys.epoch, b.keys.seq, b.keys.topicPrefix + topic, b.keys.feed, b.keys.trimmed,
				b.keys.indexPrefix + topic,
				b.keys.tokens + strconv.FormatInt(window, 10), b.keys.tokens + strconv.FormatInt(window-1, 10),
				b.keys.topics, b.keys.tombs,
			},
			newEpoch(), topic, ev.Type, ev.Data, ms, b.opts.Retention.MaxLen, cutoff, b.opts.FeedLen,
			tok, 2*ttl, seen.Seq, seen.Epoch, bucket(topic),
		).StringSlice()
	})
	if err != nil {
		return hub.Entry{}, err
	}
	p, err := hub.ParsePos(res[0])
	if err != nil {
		return hub.Entry{}, fmt.Errorf("redisbackend: the script returned %q: %w", res[0], err)
	}
	b.saw(p)
	b.maybeSweep(ctx, now)
	return hub.Entry{Pos: p, ID: res[0], Topic: topic, Type: ev.Type, Data: ev.Data, Time: time.UnixMilli(ms)}, nil
}

// sweepBatch is how many idle topics one sweep frees at most.
const sweepBatch = 1000

// maybeSweep frees idle topics, at most once every tenth of the idle time
// (and at least every minute), from whichever Append comes then.
func (b *Backend) maybeSweep(ctx context.Context, now time.Time) {
	if b.idle <= 0 {
		return
	}
	next := b.nextSweep.Load()
	if now.UnixMilli() < next {
		return
	}
	every := min(b.idle/10, time.Minute)
	if !b.nextSweep.CompareAndSwap(next, now.Add(every).UnixMilli()) {
		return
	}
	n, err := await(ctx, func() (int64, error) {
		return sweepScript.Run(ctx, b.rdb, []string{b.keys.topics, b.keys.trimmed, b.keys.tombs},
			now.Add(-b.idle).UnixMilli(), b.keys.topicPrefix, b.keys.indexPrefix, sweepBatch).Int64()
	})
	if err == nil && n == sweepBatch {
		b.nextSweep.Store(0) // more to free: again at the next Append
	}
}

// state returns the log's current head, creating a log if there is none
// and create is set (a missing log has Epoch 0). It gives the log a new
// epoch if it rolled back below what this backend has seen.
func (b *Backend) state(ctx context.Context, create bool) (hub.Pos, error) {
	seen := b.seenPos()
	c := "0"
	if create {
		c = "1"
	}
	res, err := await(ctx, func() ([]string, error) {
		return stateScript.Run(ctx, b.rdb, []string{b.keys.epoch, b.keys.seq}, newEpoch(), seen.Seq, seen.Epoch, c).StringSlice()
	})
	if err != nil {
		return hub.Pos{}, err
	}
	var p hub.Pos
	var err1 error
	if res[0] != "" {
		p.Epoch, err1 = strconv.ParseUint(res[0], 10, 64)
	}
	seq, err2 := strconv.ParseUint(res[1], 10, 64)
	if err1 != nil || err2 != nil {
		return hub.Pos{}, fmt.Errorf("redisbackend: bad head %q", res)
	}
	p.Seq = seq
	return p, nil
}

// Head implements hub.Backend.
func (b *Backend) Head(ctx context.Context) (hub.Pos, error) {
	p, err := b.state(ctx, true)
	if err != nil {
		return hub.Pos{}, err
	}
	b.saw(p)
	return p, nil
}

// checkEpoch returns hub.ErrEpoch unless p is from the current log. A
// missing epoch (Redis lost its data) is another log, which the next Append
// or Head creates.
func (b *Backend) checkEpoch(ctx context.Context, p hub.Pos) error {
	cur, err := b.state(ctx, false)
	if err != nil {
		return err
	}
	if cur.Epoch != p.Epoch {
		return hub.ErrEpoch
	}
	return nil
}

// Range implements hub.Backend.
func (b *Backend) Range(ctx context.Context, topic string, after, upTo hub.Pos) ([]hub.Entry, bool, error) {
	if err := b.checkEpoch(ctx, after); err != nil {
		return nil, false, err
	}
	type result struct {
		msgs    []redis.XMessage
		trimmed string
		exists  bool
		tomb    string
	}
	r, err := await(ctx, func() (result, error) {
		pipe := b.rdb.Pipeline()
		rng := pipe.XRange(ctx, b.keys.topicPrefix+topic, "("+after.String(), upTo.String())
		trimmed := pipe.HGet(ctx, b.keys.trimmed, topic)
		exists := pipe.Exists(ctx, b.keys.indexPrefix+topic)
		tomb := pipe.HGet(ctx, b.keys.tombs, bucket(topic))
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return result{}, err
		}
		msgs, err := rng.Result()
		if err != nil {
			return result{}, err
		}
		return result{msgs: msgs, trimmed: trimmed.Val(), exists: exists.Val() > 0, tomb: tomb.Val()}, nil
	})
	if err != nil {
		return nil, false, err
	}
	// What is no longer kept: up to the last entry trimmed, or, for a topic
	// freed while idle, up to its bucket's mark.
	mark := r.trimmed
	if mark == "" && !r.exists {
		mark = r.tomb
	}
	complete := true
	if p, err := hub.ParsePos(mark); err == nil && p.Seq > after.Seq {
		complete = false
	}
	out := make([]hub.Entry, 0, len(r.msgs))
	var cutoff time.Time
	if b.opts.Retention.MaxAge > 0 {
		cutoff = time.Now().Add(-b.opts.Retention.MaxAge)
	}
	for _, m := range r.msgs {
		e, err := entry(m, topic)
		if err != nil {
			return nil, false, err
		}
		if e.Pos.Epoch != after.Epoch {
			continue // an older log's, at the same sequence number as after
		}
		if !cutoff.IsZero() && e.Time.Before(cutoff) {
			complete = false // expired, not yet trimmed
			continue
		}
		out = append(out, e)
	}
	return out, complete, nil
}

// Follow implements hub.Backend. It checks the log's epoch before every
// read, and refuses entries of another log.
func (b *Backend) Follow(ctx context.Context, after hub.Pos) ([]hub.Entry, error) {
	for {
		if err := b.checkEpoch(ctx, after); err != nil {
			return nil, err
		}
		res, err := await(ctx, func() ([]redis.XStream, error) {
			return b.rdb.XRead(ctx, &redis.XReadArgs{
				Streams: []string{b.keys.feed, after.String()},
				Count:   1000,
				Block:   b.opts.Block,
			}).Result()
		})
		if errors.Is(err, redis.Nil) {
			continue // nothing within Block: check the epoch and ctx again
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		var out []hub.Entry
		for _, s := range res {
			for _, m := range s.Messages {
				e, err := entry(m, "")
				if err != nil {
					return nil, err
				}
				if e.Pos.Epoch != after.Epoch {
					return nil, hub.ErrEpoch // the log was replaced meanwhile
				}
				out = append(out, e)
			}
		}
		if len(out) > 0 {
			b.saw(out[len(out)-1].Pos)
			return out, nil
		}
	}
}

// entry decodes a stream message; topic is used when the message has none.
func entry(m redis.XMessage, topic string) (hub.Entry, error) {
	p, err := hub.ParsePos(m.ID)
	if err != nil {
		return hub.Entry{}, fmt.Errorf("redisbackend: entry %q: %w", m.ID, err)
	}
	str := func(k string) string { s, _ := m.Values[k].(string); return s }
	if t := str("topic"); t != "" {
		topic = t
	}
	ms, _ := strconv.ParseInt(str("t"), 10, 64)
	return hub.Entry{Pos: p, ID: m.ID, Topic: topic, Type: str("type"), Data: []byte(str("data")), Time: time.UnixMilli(ms)}, nil
}

// Close implements hub.Backend. It does not close the Redis client.
func (b *Backend) Close() error { return nil }
