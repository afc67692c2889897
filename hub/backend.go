package hub

import (
	"context"
	"errors"
	"time"
)

// A Backend stores a hub's events and feeds them to every hub instance that
// shares it. Backends are verified by the hubtest package. A Backend is
// safe for concurrent use.
type Backend interface {
	// Append stores ev in topic's history with the next position and
	// returns the stored entry. It stores an event at most once per
	// ev.Token: an Append with the Token of one made less than TokenTTL
	// ago returns that one's entry and stores nothing. An error means that
	// the event may or may not have been stored. It returns when ctx is
	// done.
	Append(ctx context.Context, topic string, ev Event) (Entry, error)

	// Range returns topic's entries after `after` (exclusive) up to upTo
	// (inclusive), oldest first. complete is false when some of topic's
	// entries after `after` are no longer retained, including those of a
	// topic freed while idle (Retention.IdleTTL): it may be false without
	// need, never true without cause. It returns ErrEpoch if after is from
	// another log.
	Range(ctx context.Context, topic string, after, upTo Pos) (entries []Entry, complete bool, err error)

	// Follow waits until there are entries after `after`, in any topic, and
	// returns some of them, oldest first, or returns ctx's error. The
	// entries are consecutive; if the first is not after.Seq+1, the ones
	// between are no longer on the feed (Range still has those retained).
	// It returns ErrEpoch if after is from another log, including a log
	// that rolled back below after (a store restored from an older
	// snapshot): never entries of another log. The returned slice and the
	// entries' Data are the caller's: the hub keeps pointers to them in
	// its queues, so the backend must not reuse or modify them.
	Follow(ctx context.Context, after Pos) ([]Entry, error)

	// Head returns the position of the last entry (Seq 0 if none) in the
	// current log.
	Head(ctx context.Context) (Pos, error)

	// Close releases the backend's resources.
	Close() error
}

// ErrEpoch is returned by Range and Follow for a position from another log.
var ErrEpoch = errors.New("hub: position from another log")

// Retention bounds each topic's history. The zero value means the defaults.
type Retention struct {
	// MaxLen is how many events each topic keeps. Default 1000.
	MaxLen int
	// MaxAge, when positive, also drops events older than this. Default:
	// no age limit.
	MaxAge time.Duration
	// IdleTTL is how long a topic that gets no event keeps its history
	// (or MaxAge, if shorter). Then the topic is freed; a client resuming
	// from before its end gets a reset event. Default 24 hours; negative:
	// never freed.
	IdleTTL time.Duration
}

// DefaultIdleTTL is Retention.IdleTTL's default.
const DefaultIdleTTL = 24 * time.Hour

// Idle returns how long a topic may stay idle before it is freed, 0 for
// never: IdleTTL or its default, or MaxAge if shorter.
func (r Retention) Idle() time.Duration {
	d := r.IdleTTL
	switch {
	case d < 0:
		return 0
	case d == 0:
		d = DefaultIdleTTL
	}
	if r.MaxAge > 0 && r.MaxAge < d {
		d = r.MaxAge
	}
	return d
}

// TokenTTL is how long a backend remembers an Append's Event.Token.
const TokenTTL = time.Minute

// DefaultMaxLen is Retention.MaxLen's default.
const DefaultMaxLen = 1000

func (r Retention) maxLen() int {
	if r.MaxLen <= 0 {
		return DefaultMaxLen
	}
	return r.MaxLen
}

// WithDefaults returns r with zero fields replaced by their defaults, for
// backend implementations.
func (r Retention) WithDefaults() Retention {
	r.MaxLen = r.maxLen()
	return r
}
