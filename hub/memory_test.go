package hub_test

import (
	"context"
	"testing"
	"unsafe"

	"github.com/ssekit/ssekit/hub"
	"github.com/ssekit/ssekit/hub/hubtest"
)

func TestMemoryBackend(t *testing.T) {
	hubtest.Run(t, func(t *testing.T, r hub.Retention) hub.Backend { return hub.NewMemory(r) })
}

// Fiber and fasthttp hand out strings that alias their request buffers
// (c.Params, c.Get: valid only during the handler), and an app passes them
// to Publish as they are. The memory backend keeps the topic (its map key,
// the entries' Topic), the Type and the Token: it must keep copies, as it
// keeps a copy of Data, or the next request rewrites them under it. (An
// event published this way on fiberv3 was lost under load: its topic had
// become the next request's by the time the hub delivered it.)
func TestMemoryKeepsCopiesOfTheCallersStrings(t *testing.T) {
	m := hub.NewMemory(hub.Retention{})
	defer m.Close()
	ctx := context.Background()
	buf := []byte("user:ann note tok-1")
	alias := func(from, to int) string { return unsafe.String(&buf[from], to-from) }
	e, err := m.Append(ctx, alias(0, 8), hub.Event{Type: alias(9, 13), Token: alias(14, 19), Data: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	copy(buf, "user:bob ping tok-2") // the framework reuses its buffer
	before := hub.Pos{Seq: e.Pos.Seq - 1, Epoch: e.Pos.Epoch}
	got, complete, err := m.Range(ctx, "user:ann", before, e.Pos)
	if err != nil || !complete || len(got) != 1 || got[0].Topic != "user:ann" || got[0].Type != "note" {
		t.Errorf("Range of user:ann after the caller's buffer changed: %+v, complete %v, %v", got, complete, err)
	}
	if got, _, _ := m.Range(ctx, "user:bob", before, e.Pos); len(got) != 0 {
		t.Errorf("Range of user:bob, never published to: %+v", got)
	}
	followed, err := m.Follow(ctx, before)
	if err != nil || len(followed) != 1 || followed[0].Topic != "user:ann" || followed[0].Type != "note" {
		t.Errorf("Follow after the caller's buffer changed: %+v, %v", followed, err)
	}
	again, err := m.Append(ctx, "user:ann", hub.Event{Type: "note", Token: "tok-1", Data: []byte("x")})
	if err != nil || again.Pos != e.Pos {
		t.Errorf("a retry with the first Append's token stored at %v (%v), want %v", again.Pos, err, e.Pos)
	}
}
