package redisbackend_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/hub"
	"github.com/ssekit/ssekit/hub/hubtest"
	"github.com/ssekit/ssekit/hub/redisbackend"
	"github.com/ssekit/ssekit/internal/redistest"
)

// These tests put Redis through what production does (a lost reply, a
// stall, a crash with a snapshot behind, a flush, a restart without
// persistence) with the client the README recommends: redis.NewClient with
// its defaults, which retries a command whose reply did not come.

func newHub(t *testing.T, rdb redis.UniversalClient, prefix string, r hub.Retention) (*hub.Hub, string) {
	t.Helper()
	return hubtest.Serve(t, redisbackend.New(rdb, redisbackend.Options{Prefix: prefix, Retention: r, Block: 200 * time.Millisecond}))
}

func publishWithin(t *testing.T, h *hub.Hub, d time.Duration, topic, data string) hub.Pos {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	p, err := h.Publish(ctx, topic, hub.Event{Data: []byte(data)})
	if err != nil {
		t.Fatalf("Publish(%s): %v", data, err)
	}
	return p
}

// publishUntil publishes until Redis takes it (after a restart, say).
func publishUntil(t *testing.T, h *hub.Hub, topic, data string) hub.Pos {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		p, err := h.Publish(ctx, topic, hub.Event{Data: []byte(data)})
		cancel()
		if err == nil {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("Publish(%s) still fails: %v", data, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A reply lost on the way back: go-redis retries the script, which must
// not store the event twice.
func TestLostReplyStoresOnce(t *testing.T) {
	srv := redistest.Start(t)
	proxy := redistest.NewProxy(t, srv.Addr)
	prefix := redistest.Unique(t)
	a, _ := newHub(t, redistest.ClientAt(t, proxy.Addr), prefix, hub.Retention{})
	b, addrB := newHub(t, srv.Client(t), prefix, hub.Retention{})
	c := hubtest.Connect(t, addrB, "", "t")
	hubtest.WaitSubscribers(t, b, "t", 1)
	// Once first, so that Redis has the script: the lost reply is then the
	// one to the script that stores the event, not a NOSCRIPT error.
	publishWithin(t, a, 10*time.Second, "t", "warm-up")
	if ev := c.Next(t); ev.Data != "warm-up" {
		t.Fatalf("got %+v", ev)
	}

	proxy.DropReplyTo("lost-reply")
	p := publishWithin(t, a, 30*time.Second, "t", "lost-reply")
	q := publishWithin(t, a, 10*time.Second, "t", "after")
	if q.Seq != p.Seq+1 {
		t.Errorf("the next Publish got %v after %v: something was stored in between", q, p)
	}
	if ev := c.Next(t); ev.Data != "lost-reply" || ev.LastEventID != p.String() {
		t.Fatalf("got %+v, want lost-reply at %v", ev, p)
	}
	if ev := c.Next(t); ev.Data != "after" {
		t.Fatalf("got %+v after the event whose reply was lost, want the next event: it was stored twice", ev)
	}
}

// Redis stalls (SIGSTOP) for 5 s: a Publish meanwhile is stored once, or
// not at all; Publish honours its context; Close returns at once.
func TestStalledRedis(t *testing.T) {
	srv := redistest.Start(t)
	prefix := redistest.Unique(t)
	a, _ := newHub(t, srv.Client(t), prefix, hub.Retention{})
	b, addrB := newHub(t, srv.Client(t), prefix, hub.Retention{})
	spare := hub.New(redisbackend.New(srv.Client(t), redisbackend.Options{Prefix: prefix}), hub.Options{})
	c := hubtest.Connect(t, addrB, "", "t")
	hubtest.WaitSubscribers(t, b, "t", 1)
	publishWithin(t, a, 10*time.Second, "t", "before")
	if ev := c.Next(t); ev.Data != "before" {
		t.Fatalf("got %+v", ev)
	}

	srv.Pause()
	resumed := false
	defer func() {
		if !resumed {
			srv.Resume()
		}
	}()
	var wg sync.WaitGroup
	wg.Add(1)
	var stalledErr error
	go func() {
		defer wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, stalledErr = a.Publish(ctx, "t", hub.Event{Data: []byte("stalled")})
	}()

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	_, err := a.Publish(ctx, "t", hub.Event{Data: []byte("maybe")})
	cancel()
	if err == nil {
		t.Error("Publish succeeded while Redis was stopped")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Publish with a 500 ms context returned after %v", d)
	}
	start = time.Now()
	spare.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v while Redis was stopped", d)
	}

	time.Sleep(5*time.Second - time.Since(start))
	srv.Resume()
	resumed = true
	wg.Wait()
	publishUntil(t, a, "t", "after")

	// Each event at most once ("maybe" may or may not be stored), and
	// "stalled" once if its Publish succeeded.
	seen := map[string]int{}
	for {
		ev := c.Next(t)
		if ev.Type == hub.ResetEventType {
			t.Fatalf("got a reset event %+v: nothing was lost", ev)
		}
		seen[ev.Data]++
		if ev.Data == "after" {
			break
		}
	}
	for data, n := range seen {
		if n > 1 {
			t.Errorf("%q delivered %d times", data, n)
		}
	}
	if stalledErr == nil && seen["stalled"] != 1 {
		t.Errorf("the Publish during the stall succeeded but its event was delivered %d times", seen["stalled"])
	}
}

// Redis crashes and restarts from an older snapshot: positions after it
// were acknowledged and delivered. Both instances' subscribers get a reset
// event, later events have another epoch, and a client resuming from a
// lost position gets a reset too: no position is reused for another event.
func TestRollbackFromSnapshot(t *testing.T) {
	srv := redistest.StartWith(t, redistest.RDB)
	prefix := redistest.Unique(t)
	a, addrA := newHub(t, srv.Client(t), prefix, hub.Retention{})
	b, addrB := newHub(t, srv.Client(t), prefix, hub.Retention{})
	ca := hubtest.Connect(t, addrA, "", "t")
	cb := hubtest.Connect(t, addrB, "", "t")
	hubtest.WaitSubscribers(t, a, "t", 1)
	hubtest.WaitSubscribers(t, b, "t", 1)
	rdb := srv.Client(t)
	var last hub.Pos
	for i := range 10 {
		if i == 5 {
			if err := rdb.Save(context.Background()).Err(); err != nil {
				t.Fatal(err)
			}
		}
		last = publishWithin(t, a, 10*time.Second, "t", "old"+strconv.Itoa(i))
	}
	for _, c := range []*hubtest.Client{ca, cb} {
		for c.LastID != last.String() {
			c.Next(t)
		}
	}

	srv.Kill()
	srv.Restart(t)
	p := publishUntil(t, a, "t", "new")
	if p.Epoch == last.Epoch {
		t.Fatalf("after the rollback, Publish got %v in the old log (last acknowledged %v)", p, last)
	}
	// The reset is at the hub's position in the new log, which may be past
	// "new"; what follows it comes from the new log only.
	clients := map[string]*hubtest.Client{"A": ca, "B": cb}
	for name, c := range clients {
		if ev := c.Next(t); ev.Type != hub.ResetEventType {
			t.Fatalf("instance %s: after the rollback got %+v, want a reset event", name, ev)
		}
	}
	publishWithin(t, a, 10*time.Second, "t", "newer")
	for name, c := range clients {
		for ev := (conformance.Event{}); ev.Data != "newer"; {
			ev = c.Next(t)
			if at, err := hub.ParsePos(ev.LastEventID); err != nil || at.Epoch == last.Epoch {
				t.Fatalf("instance %s: after the reset got %+v from the old log", name, ev)
			}
		}
	}
	c := hubtest.Connect(t, addrB, last.String(), "t")
	if ev := c.Next(t); ev.Type != hub.ResetEventType || ev.Data != hub.ResetUnknownID {
		t.Fatalf("resuming from %v, lost in the rollback: got %+v, want a reset", last, ev)
	}
}

// FLUSHALL while an instance waits in XREAD, then another publishes: the
// waiting instance's XREAD returns the new log's entries, whose positions
// are past the old one. Its subscribers get a reset, never those entries as
// if they followed the old ones.
func TestFlushedWhileFollowing(t *testing.T) {
	srv := redistest.Start(t)
	prefix := redistest.Unique(t)
	a, addrA := newHub(t, srv.Client(t), prefix, hub.Retention{})
	b, _ := newHub(t, srv.Client(t), prefix, hub.Retention{})
	c := hubtest.Connect(t, addrA, "", "t")
	hubtest.WaitSubscribers(t, a, "t", 1)
	head, err := redisbackend.New(srv.Client(t), redisbackend.Options{Prefix: prefix}).Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Client(t).FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		publishWithin(t, b, 10*time.Second, "t", "new"+strconv.Itoa(i))
	}
	ev := c.Next(t)
	if ev.Type != hub.ResetEventType || ev.Data != hub.ResetUnknownID {
		t.Fatalf("after FLUSHALL got %+v, want a reset event", ev)
	}
	if at, _ := hub.ParsePos(ev.LastEventID); at.Epoch == head.Epoch {
		t.Fatalf("the reset is at %v, in the old log", at)
	}
}

// Redis without persistence restarts empty while instances run.
func TestRestartWithoutPersistence(t *testing.T) {
	srv := redistest.StartWith(t, redistest.None)
	prefix := redistest.Unique(t)
	a, addrA := newHub(t, srv.Client(t), prefix, hub.Retention{})
	b, _ := newHub(t, srv.Client(t), prefix, hub.Retention{})
	c := hubtest.Connect(t, addrA, "", "t")
	hubtest.WaitSubscribers(t, a, "t", 1)
	for i := range 3 {
		publishWithin(t, b, 10*time.Second, "t", "old"+strconv.Itoa(i))
	}
	for range 3 {
		c.Next(t)
	}
	srv.Kill()
	srv.Restart(t)
	for i := range 6 {
		publishUntil(t, b, "t", "new"+strconv.Itoa(i))
	}
	if ev := c.Next(t); ev.Type != hub.ResetEventType {
		t.Fatalf("after Redis restarted empty got %+v, want a reset event", ev)
	}
}

// Positions past 2^53/100 keep their digits: no "1e+14".
func TestLargeSequence(t *testing.T) {
	srv := redistest.Start(t)
	prefix := redistest.Unique(t)
	h, addr := newHub(t, srv.Client(t), prefix, hub.Retention{})
	publishWithin(t, h, 10*time.Second, "t", "first")
	if err := srv.Client(t).Set(context.Background(), "{"+prefix+"}:seq", "99999999999999", 0).Err(); err != nil {
		t.Fatal(err)
	}
	c := hubtest.Connect(t, addr, "", "t")
	hubtest.WaitSubscribers(t, h, "t", 1)
	p := publishWithin(t, h, 10*time.Second, "t", "big")
	if p.Seq != 100000000000000 {
		t.Fatalf("Publish at %v, want seq 100000000000000", p)
	}
	if ev := c.Next(t); ev.Data != "big" || ev.LastEventID != p.String() {
		t.Fatalf("got %+v", ev)
	}
}

// A session opened while Redis was unreachable for its instance (the
// stream had started) gets a reset when the hub becomes ready: another
// instance may have published meanwhile.
func TestSessionOpenedWhileRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	prefix := redistest.Unique(t)
	unreachable := redistest.FreeAddr(t)
	a, addrA := newHub(t, redistest.ClientAt(t, unreachable), prefix, hub.Retention{})
	c := hubtest.Connect(t, addrA, "", "t")
	b, _ := newHub(t, srv.Client(t), prefix, hub.Retention{})
	publishUntil(t, b, "t", "early")
	time.Sleep(2 * time.Second)                    // A's first attempts fail
	redistest.NewProxyAt(t, unreachable, srv.Addr) // Redis is back for A
	ev := c.Next(t)
	if ev.Type != hub.ResetEventType && ev.Data != "early" {
		t.Fatalf("got %+v, want the event published before the hub could reach Redis, or a reset", ev)
	}
	hubtest.WaitSubscribers(t, a, "t", 1)
	publishWithin(t, b, 10*time.Second, "t", "later")
	for ev.Data != "later" {
		ev = c.Next(t)
	}
}

// Topics left idle are freed, keys and all; a client resuming from before
// the freed history gets a reset.
func TestIdleTopicsAreFreed(t *testing.T) {
	srv := redistest.Start(t)
	prefix := redistest.Unique(t)
	h, addr := newHub(t, srv.Client(t), prefix, hub.Retention{IdleTTL: 300 * time.Millisecond})
	rdb := srv.Client(t)
	var first hub.Pos
	for i := range 50 {
		p := publishWithin(t, h, 10*time.Second, "user:"+strconv.Itoa(i), "x")
		if i == 0 {
			first = p
		}
	}
	time.Sleep(600 * time.Millisecond)
	publishWithin(t, h, 10*time.Second, "other", "y") // sweeps
	var keys []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var err error
		keys, err = rdb.Keys(context.Background(), "{"+prefix+"}:*user:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		n, _ := rdb.HLen(context.Background(), "{"+prefix+"}:trimmed").Result()
		z, _ := rdb.ZCard(context.Background(), "{"+prefix+"}:topics").Result()
		if len(keys) == 0 && n == 0 && z == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("idle topics not freed: keys %v, %d trimmed marks, %d topics indexed", keys, n, z)
		}
		publishWithin(t, h, 10*time.Second, "other", "y")
	}
	before := hub.Pos{Seq: first.Seq - 1, Epoch: first.Epoch}
	c := hubtest.Connect(t, addr, before.String(), "user:0")
	if ev := c.Next(t); ev.Type != hub.ResetEventType || ev.Data != hub.ResetGap {
		t.Fatalf("resuming a freed topic: got %+v, want a reset", ev)
	}
}

// Trimming, by count and by age, never reads the entries (their data may be
// large): no XRANGE runs on Publish, and the streams stay within bounds.
//
// Count and age are checked on two backends: with both on one, the 30
// publishes had to take less than MaxAge for the count to be MaxLen
// exactly, which a loaded machine missed (7 entries kept, all 10 of the
// last ones not being within 300 ms).
func TestTrimmingReadsNoEntries(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	prefix := redistest.Unique(t)
	byCount, byAge := prefix+":count", prefix+":age"
	hc, _ := newHub(t, rdb, byCount, hub.Retention{MaxLen: 10})
	ha, _ := newHub(t, rdb, byAge, hub.Retention{MaxLen: 10, MaxAge: 300 * time.Millisecond})
	data := strings.Repeat("x", 64<<10)
	publishWithin(t, hc, 10*time.Second, "t", "warm-up")
	publishWithin(t, ha, 10*time.Second, "t", "warm-up")
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for range 30 {
		publishWithin(t, hc, 10*time.Second, "t", data)
		publishWithin(t, ha, 10*time.Second, "t", data)
	}
	if n := rdb.XLen(ctx, "{"+byCount+"}:t:t").Val(); n != 10 {
		t.Errorf("the topic's stream holds %d entries, want MaxLen 10", n)
	}
	if n := rdb.XLen(ctx, "{"+byAge+"}:t:t").Val(); n > 10 {
		t.Errorf("with MaxAge too, the topic's stream holds %d entries, over MaxLen 10", n)
	}
	time.Sleep(500 * time.Millisecond)
	publishWithin(t, ha, 10*time.Second, "t", "fresh")
	if n := rdb.XLen(ctx, "{"+byAge+"}:t:t").Val(); n != 1 {
		t.Errorf("after MaxAge the topic's stream holds %d entries, want 1", n)
	}
	stats, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"cmdstat_xrange:", "cmdstat_xrevrange:"} {
		if i := strings.Index(stats, cmd); i >= 0 {
			line, _, _ := strings.Cut(stats[i:], "\n")
			t.Errorf("Publish read entries to trim: %s", line)
		}
	}
}
