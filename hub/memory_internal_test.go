package hub

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// One-shot topics (per user, per document) are freed once idle: the
// backend keeps only the topics in use, and a fixed set of marks.
func TestMemoryFreesIdleTopics(t *testing.T) {
	m := NewMemory(Retention{IdleTTL: 100 * time.Millisecond})
	defer m.Close()
	ctx := context.Background()
	first, _ := m.Append(ctx, "user:0", Event{Data: []byte("x")})
	for i := 1; i < 10000; i++ {
		if _, err := m.Append(ctx, "user:"+strconv.Itoa(i), Event{Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	last, _ := m.Append(ctx, "busy", Event{Data: []byte("y")})
	m.mu.Lock()
	n := len(m.topics)
	m.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d topics kept after IdleTTL, want 1 (the one just published)", n)
	}
	before := Pos{Seq: first.Pos.Seq - 1, Epoch: first.Pos.Epoch}
	if es, complete, err := m.Range(ctx, "user:0", before, last.Pos); err != nil || complete || len(es) != 0 {
		t.Errorf("Range of a freed topic: %v, complete %v, %v; want nothing, incomplete", es, complete, err)
	}
}

// A full topic's Append replaces its oldest entry in place: the history's
// buffer neither grows nor moves, holds MaxLen entries, oldest first, and
// the newest is written over the slot of the one it evicts, not at the end
// of a history shifted down by one (which costs a copy of all of it).
func TestMemoryAppendOnAFullTopicIsInPlace(t *testing.T) {
	const maxLen = 1000
	m := NewMemory(Retention{MaxLen: maxLen})
	defer m.Close()
	ctx := context.Background()
	for i := range maxLen {
		m.Append(ctx, "t", Event{Data: []byte(strconv.Itoa(i))})
	}
	m.mu.Lock()
	buf := &m.topics["t"].entries.buf[0]
	m.mu.Unlock()
	const more = 3*maxLen + 7
	for i := range more {
		m.Append(ctx, "t", Event{Data: []byte(strconv.Itoa(i))})
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r := &m.topics["t"].entries
	if &r.buf[0] != buf || len(r.buf) != maxLen || r.len() != maxLen {
		t.Errorf("the history's buffer moved or grew: %d entries in %d", r.len(), len(r.buf))
	}
	if got := string(r.at(0).Data); got != strconv.Itoa(more-maxLen) {
		t.Errorf("oldest entry %q, want %d", got, more-maxLen)
	}
	// The first maxLen appends filled slots 0..maxLen-1; each later one
	// took the slot of the oldest, so the newest sits in slot 6.
	if got := string(r.buf[6].Data); got != strconv.Itoa(more-1) {
		t.Errorf("slot 6 holds %q, want the newest entry %d: entries were moved, not overwritten", got, more-1)
	}
}
