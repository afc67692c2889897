package hub

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Pos is a position in a hub's log. Every event published on a hub, in any
// topic, gets the next Seq, so positions order all events and a client's
// Last-Event-ID resumes every topic it follows. Epoch identifies the log: a
// new log (a fresh memory backend, an emptied Redis database) has another,
// so an ID from elsewhere is recognized as such.
//
// Its string form, "seq-epoch", is the SSE event ID, and on Redis also the
// stream entry ID.
type Pos struct {
	Seq   uint64 // 1 for the first event; 0 before any
	Epoch uint64 // never 0 for a real log
}

// String returns "seq-epoch".
func (p Pos) String() string {
	b := make([]byte, 0, 40)
	b = strconv.AppendUint(b, p.Seq, 10)
	b = append(b, '-')
	return string(strconv.AppendUint(b, p.Epoch, 10))
}

// ErrBadPos is returned by ParsePos for a string that is not a position.
var ErrBadPos = errors.New("hub: not an event position")

// ParsePos parses the "seq-epoch" form of a position.
func ParsePos(s string) (Pos, error) {
	seq, epoch, ok := strings.Cut(s, "-")
	if !ok {
		return Pos{}, ErrBadPos
	}
	var p Pos
	var err error
	if p.Seq, err = strconv.ParseUint(seq, 10, 64); err != nil {
		return Pos{}, ErrBadPos
	}
	if p.Epoch, err = strconv.ParseUint(epoch, 10, 64); err != nil || p.Epoch == 0 {
		return Pos{}, ErrBadPos
	}
	return p, nil
}

// Event is what Publish takes: the hub assigns the ID.
type Event struct {
	Type string // the SSE event type; empty means "message"
	Data []byte
	// Token, when not empty, makes Publish idempotent: a Publish with the
	// Token of one made less than TokenTTL ago stores nothing and returns
	// that one's position. Set it (to a random value, say) to retry a
	// Publish that failed without risking a duplicate. The Redis backend
	// uses a random token when it is empty, for its own retries.
	Token string
}

// Entry is a stored event.
type Entry struct {
	Pos   Pos
	ID    string // Pos.String(), computed once
	Topic string
	Type  string
	Data  []byte
	Time  time.Time // when it was stored
}
