// Package redisbackend stores a hub's log in Redis Streams, so that several
// server instances behind a load balancer deliver every event and a client
// can resume on any of them.
//
// Each topic is a stream holding its bounded history; one more stream, the
// feed, carries every event for the instances to follow (XREAD BLOCK). An
// event's position, "seq-epoch", is its stream entry ID in both, and its SSE
// event ID. Publishing runs one Lua script (atomic: INCR for the position,
// XADD to the topic and the feed, trimming), so no event is acknowledged
// that was not stored, and positions are gap-free across instances.
//
// Keys share one hash tag ({prefix}), so the backend works on Redis Cluster
// too. Redis 6.2 or newer.
package redisbackend

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssekit/ssekit/hub"
)

// Options configures a Backend. The zero value means the defaults.
type Options struct {
	// Prefix names the hub's keys; hubs with the same prefix on the same
	// Redis share one log. Default "ssekit:hub".
	Prefix string
	// Retention bounds each topic's history.
	Retention hub.Retention
	// FeedLen is about how many entries the feed stream keeps; an instance
	// that falls further behind (after a long Redis outage) fills the gap
	// from the topics' histories. Default 10000.
	FeedLen int64
	// Block is how long one XREAD BLOCK waits before Follow checks its
	// context and the log's epoch again. Default 2 s.
	Block time.Duration
}

// Backend is a hub.Backend on Redis Streams. It is safe for concurrent use.
type Backend struct {
	rdb  redis.UniversalClient
	opts Options
	keys keys
}

type keys struct{ epoch, seq, feed, trimmed, topicPrefix string }

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
	return &Backend{rdb: rdb, opts: opts, keys: keys{
		epoch: tag + "epoch", seq: tag + "seq", feed: tag + "feed",
		trimmed: tag + "trimmed", topicPrefix: tag + "t:",
	}}
}

//go:embed append.lua
var appendLua string

var (
	appendScript = redis.NewScript(appendLua)
	headScript   = redis.NewScript(`
redis.call('SETNX', KEYS[1], ARGV[1])
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]) or '0'}`)
)

// newEpoch returns a random epoch below 2^52: exact as a Lua number.
func newEpoch() string { return strconv.FormatUint(1+rand.Uint64N(1<<52-1), 10) }

// Append implements hub.Backend.
func (b *Backend) Append(ctx context.Context, topic string, ev hub.Event) (hub.Entry, error) {
	now := time.Now()
	var cutoff int64
	if b.opts.Retention.MaxAge > 0 {
		cutoff = now.Add(-b.opts.Retention.MaxAge).UnixMilli()
	}
	res, err := appendScript.Run(ctx, b.rdb,
		[]string{b.keys.epoch, b.keys.seq, b.keys.topicPrefix + topic, b.keys.feed, b.keys.trimmed},
		newEpoch(), topic, ev.Type, ev.Data, now.UnixMilli(), b.opts.Retention.MaxLen, cutoff, b.opts.FeedLen,
	).StringSlice()
	if err != nil {
		return hub.Entry{}, err
	}
	p, err := hub.ParsePos(res[0])
	if err != nil {
		return hub.Entry{}, fmt.Errorf("redisbackend: the script returned %q: %w", res[0], err)
	}
	return hub.Entry{Pos: p, ID: res[0], Topic: topic, Type: ev.Type, Data: ev.Data, Time: time.UnixMilli(now.UnixMilli())}, nil
}

// Head implements hub.Backend.
func (b *Backend) Head(ctx context.Context) (hub.Pos, error) {
	res, err := headScript.Run(ctx, b.rdb, []string{b.keys.epoch, b.keys.seq}, newEpoch()).StringSlice()
	if err != nil {
		return hub.Pos{}, err
	}
	epoch, err1 := strconv.ParseUint(res[0], 10, 64)
	seq, err2 := strconv.ParseUint(res[1], 10, 64)
	if err1 != nil || err2 != nil {
		return hub.Pos{}, fmt.Errorf("redisbackend: bad head %q", res)
	}
	return hub.Pos{Seq: seq, Epoch: epoch}, nil
}

// checkEpoch returns hub.ErrEpoch unless p is from the current log. It only
// reads: a missing epoch (Redis lost its data) is another log, which the
// next Append or Head creates.
func (b *Backend) checkEpoch(ctx context.Context, p hub.Pos) error {
	e, err := b.rdb.Get(ctx, b.keys.epoch).Result()
	if errors.Is(err, redis.Nil) {
		return hub.ErrEpoch
	}
	if err != nil {
		return err
	}
	if e != strconv.FormatUint(p.Epoch, 10) {
		return hub.ErrEpoch
	}
	return nil
}

// Range implements hub.Backend.
func (b *Backend) Range(ctx context.Context, topic string, after, upTo hub.Pos) ([]hub.Entry, bool, error) {
	if err := b.checkEpoch(ctx, after); err != nil {
		return nil, false, err
	}
	pipe := b.rdb.Pipeline()
	rng := pipe.XRange(ctx, b.keys.topicPrefix+topic, "("+after.String(), upTo.String())
	trimmed := pipe.HGet(ctx, b.keys.trimmed, topic)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, false, err
	}
	complete := true
	if t, err := trimmed.Result(); err == nil {
		if p, err := hub.ParsePos(t); err == nil && p.Epoch == after.Epoch && p.Seq > after.Seq {
			complete = false
		}
	}
	msgs, err := rng.Result()
	if err != nil {
		return nil, false, err
	}
	out := make([]hub.Entry, 0, len(msgs))
	var cutoff time.Time
	if b.opts.Retention.MaxAge > 0 {
		cutoff = time.Now().Add(-b.opts.Retention.MaxAge)
	}
	for _, m := range msgs {
		e, err := entry(m, topic)
		if err != nil {
			return nil, false, err
		}
		if !cutoff.IsZero() && e.Time.Before(cutoff) {
			complete = false // expired, not yet trimmed
			continue
		}
		out = append(out, e)
	}
	return out, complete, nil
}

// Follow implements hub.Backend.
func (b *Backend) Follow(ctx context.Context, after hub.Pos) ([]hub.Entry, error) {
	for {
		if err := b.checkEpoch(ctx, after); err != nil {
			return nil, err
		}
		res, err := b.rdb.XRead(ctx, &redis.XReadArgs{
			Streams: []string{b.keys.feed, after.String()},
			Count:   1000,
			Block:   b.opts.Block,
		}).Result()
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
				out = append(out, e)
			}
		}
		if len(out) > 0 {
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
