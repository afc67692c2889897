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
	// returns the stored entry. An error means nothing was stored.
	Append(ctx context.Context, topic string, ev Event) (Entry, error)

	// Range returns topic's entries after `after` (exclusive) up to upTo
	// (inclusive), oldest first. complete is false when some of topic's
	// entries after `after` are no longer retained. It returns ErrEpoch if
	// after is from another log.
	Range(ctx context.Context, topic string, after, upTo Pos) (entries []Entry, complete bool, err error)

	// Follow waits until there are entries after `after`, in any topic, and
	// returns some of them, oldest first, or returns ctx's error. The
	// entries are consecutive; if the first is not after.Seq+1, the ones
	// between are no longer on the feed (Range still has those retained).
	// It returns ErrEpoch if after is from another log.
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
}

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
