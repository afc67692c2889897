// Package hubtest verifies hub.Backend implementations, the way
// testing/fstest verifies file systems: hubtest.Run(t, factory) runs every
// case, each a subtest on a fresh backend, over the Backend interface and
// through a hub serving real HTTP clients on 127.0.0.1.
package hubtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/hub"
	"github.com/ssekit/ssekit/lifecycle"
	"github.com/ssekit/ssekit/nethttpadapter"
)

// Factory returns a new, empty backend keeping r, isolated from every other
// backend it returns. Run closes it.
type Factory func(t *testing.T, r hub.Retention) hub.Backend

// Run runs every case against backends from newBackend.
func Run(t *testing.T, newBackend Factory) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.runAll != nil {
				tc.runAll(t, newBackend)
				return
			}
			b := newBackend(t, tc.retention)
			t.Cleanup(func() { b.Close() })
			tc.run(t, b)
		})
	}
}

// A Wiper is a backend that can lose all its data while in use, as a Redis
// that is flushed or restarts empty. Run checks that such a backend
// notices: the cases that need it are skipped for backends that are not
// Wipers (the memory backend cannot lose its data while it runs).
type Wiper interface {
	hub.Backend
	// Wipe deletes everything the backend stored.
	Wipe(t *testing.T)
}

// A Rollbacker is a backend whose store can come back from a crash as of
// an earlier snapshot (Redis restarted from an RDB file, or failed over to
// a lagging replica), losing what was stored since. Run checks that such a
// backend never reuses a lost position: the case that needs it is skipped
// for backends that are not Rollbackers.
type Rollbacker interface {
	hub.Backend
	// Snapshot records the store's state.
	Snapshot(t *testing.T)
	// Rollback crashes the store and brings it back as of the snapshot.
	Rollback(t *testing.T)
}

type testCase struct {
	name      string
	retention hub.Retention
	run       func(t *testing.T, b hub.Backend)
	runAll    func(t *testing.T, newBackend Factory) // instead of run: makes its own backends
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustAppend(t *testing.T, b hub.Backend, topic, data string) hub.Entry {
	t.Helper()
	e, err := b.Append(ctx(t), topic, hub.Event{Type: "t-" + topic, Data: []byte(data)})
	if err != nil {
		t.Fatalf("Append(%s): %v", topic, err)
	}
	return e
}

func mustHead(t *testing.T, b hub.Backend) hub.Pos {
	t.Helper()
	p, err := b.Head(ctx(t))
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	if p.Epoch == 0 {
		t.Fatalf("Head %v has epoch 0", p)
	}
	return p
}

func datas(es []hub.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, string(e.Data))
	}
	return out
}

var cases = []testCase{
	{name: "append-assigns-consecutive-positions", run: func(t *testing.T, b hub.Backend) {
		head := mustHead(t, b)
		before := time.Now().Add(-time.Second)
		for i := range 10 {
			topic := []string{"a", "b", "c"}[i%3]
			e := mustAppend(t, b, topic, strconv.Itoa(i))
			want := hub.Pos{Seq: head.Seq + uint64(i) + 1, Epoch: head.Epoch}
			if e.Pos != want || e.ID != want.String() {
				t.Fatalf("append %d: at %v (ID %q), want %v", i, e.Pos, e.ID, want)
			}
			if e.Topic != topic || e.Type != "t-"+topic || string(e.Data) != strconv.Itoa(i) {
				t.Errorf("append %d: stored %+v", i, e)
			}
			if e.Time.Before(before) || e.Time.After(time.Now().Add(time.Second)) {
				t.Errorf("append %d: time %v is not now", i, e.Time)
			}
		}
		if got := mustHead(t, b); got.Seq != head.Seq+10 {
			t.Errorf("Head after 10 appends: %v, want seq %d", got, head.Seq+10)
		}
	}},
	{name: "concurrent-appends-get-unique-positions", run: func(t *testing.T, b hub.Backend) {
		head := mustHead(t, b)
		const workers, each = 8, 50
		var mu sync.Mutex
		var seqs []uint64
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					e, err := b.Append(ctx(t), "t"+strconv.Itoa(w%3), hub.Event{Data: []byte(strconv.Itoa(i))})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					seqs = append(seqs, e.Pos.Seq)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		slices.Sort(seqs)
		for i, s := range seqs {
			if s != head.Seq+uint64(i)+1 {
				t.Fatalf("positions %v... are not %d consecutive, unique ones", seqs[:min(i+2, len(seqs))], workers*each)
			}
		}
	}},
	{name: "range-is-exclusive-inclusive-and-per-topic", run: func(t *testing.T, b hub.Backend) {
		var es []hub.Entry
		for i := range 9 {
			es = append(es, mustAppend(t, b, []string{"a", "b", "c"}[i%3], strconv.Itoa(i)))
		}
		got, complete, err := b.Range(ctx(t), "a", es[0].Pos, es[6].Pos)
		if err != nil || !complete {
			t.Fatalf("Range: %v, complete %v", err, complete)
		}
		if d := datas(got); strings.Join(d, ",") != "3,6" {
			t.Errorf("Range(a, after #0, up to #6) = %v, want [3 6]", d)
		}
		got, complete, err = b.Range(ctx(t), "never", es[0].Pos, es[8].Pos)
		if err != nil || !complete || len(got) != 0 {
			t.Errorf("Range of a topic never published: %v, %v, %v; want nothing, complete", got, complete, err)
		}
	}},
	{name: "history-bounded-by-count", retention: hub.Retention{MaxLen: 5}, run: func(t *testing.T, b hub.Backend) {
		var es []hub.Entry
		for i := range 8 {
			es = append(es, mustAppend(t, b, "a", strconv.Itoa(i)))
		}
		mustAppend(t, b, "b", "other topic")
		last := es[7].Pos
		if _, complete, err := b.Range(ctx(t), "a", es[0].Pos, last); err != nil || complete {
			t.Errorf("Range after an entry no longer kept: complete %v, %v; want incomplete", complete, err)
		}
		got, complete, err := b.Range(ctx(t), "a", es[2].Pos, last)
		if err != nil || !complete || strings.Join(datas(got), ",") != "3,4,5,6,7" {
			t.Errorf("Range of the last 5: %v, complete %v, %v", datas(got), complete, err)
		}
	}},
	{name: "history-bounded-by-age", retention: hub.Retention{MaxAge: 300 * time.Millisecond}, run: func(t *testing.T, b hub.Backend) {
		first := mustAppend(t, b, "a", "old")
		time.Sleep(500 * time.Millisecond)
		e := mustAppend(t, b, "a", "new")
		before := hub.Pos{Seq: first.Pos.Seq - 1, Epoch: first.Pos.Epoch}
		if got, complete, err := b.Range(ctx(t), "a", before, e.Pos); err != nil || complete {
			t.Errorf("Range over an expired entry: %v, complete %v, %v; want incomplete", datas(got), complete, err)
		}
		if got, complete, err := b.Range(ctx(t), "a", first.Pos, e.Pos); err != nil || !complete || len(got) != 1 {
			t.Errorf("Range after the expired entry: %v, complete %v, %v", datas(got), complete, err)
		}
	}},
	{name: "follow-waits-then-returns", run: func(t *testing.T, b hub.Backend) {
		head := mustHead(t, b)
		got := make(chan []hub.Entry, 1)
		go func() {
			es, err := b.Follow(ctx(t), head)
			if err != nil {
				t.Error(err)
			}
			got <- es
		}()
		select {
		case es := <-got:
			t.Fatalf("Follow returned %v before anything was appended", datas(es))
		case <-time.After(200 * time.Millisecond):
		}
		mustAppend(t, b, "a", "x")
		select {
		case es := <-got:
			if len(es) != 1 || string(es[0].Data) != "x" || es[0].Pos.Seq != head.Seq+1 || es[0].Topic != "a" {
				t.Errorf("Follow returned %+v", es)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Follow did not return within 5 s of an append")
		}
	}},
	{name: "follow-returns-the-backlog-in-order", run: func(t *testing.T, b hub.Backend) {
		head := mustHead(t, b)
		for i := range 20 {
			mustAppend(t, b, []string{"a", "b"}[i%2], strconv.Itoa(i))
		}
		var got []hub.Entry
		for after := head; len(got) < 20; {
			es, err := b.Follow(ctx(t), after)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, es...)
			after = es[len(es)-1].Pos
		}
		for i, e := range got {
			if e.Pos.Seq != head.Seq+uint64(i)+1 || string(e.Data) != strconv.Itoa(i) {
				t.Fatalf("Follow's entry %d: %+v", i, e)
			}
		}
	}},
	{name: "follow-returns-when-ctx-is-done", run: func(t *testing.T, b hub.Backend) {
		c, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		if _, err := b.Follow(c, mustHead(t, b)); err == nil {
			t.Error("Follow returned no error after its context ended")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Follow returned %v after its context ended", d)
		}
	}},
	{name: "positions-from-another-log-are-refused", run: func(t *testing.T, b hub.Backend) {
		e := mustAppend(t, b, "a", "x")
		other := hub.Pos{Seq: e.Pos.Seq, Epoch: e.Pos.Epoch + 1}
		if _, _, err := b.Range(ctx(t), "a", other, other); !errors.Is(err, hub.ErrEpoch) {
			t.Errorf("Range with another epoch: %v, want ErrEpoch", err)
		}
		if _, err := b.Follow(ctx(t), other); !errors.Is(err, hub.ErrEpoch) {
			t.Errorf("Follow with another epoch: %v, want ErrEpoch", err)
		}
	}},
	{name: "append-is-idempotent-by-token", run: func(t *testing.T, b hub.Backend) {
		head := mustHead(t, b)
		ev := hub.Event{Data: []byte("once"), Token: "token-" + strconv.FormatInt(time.Now().UnixNano(), 36)}
		e1, err := b.Append(ctx(t), "a", ev)
		if err != nil {
			t.Fatal(err)
		}
		e2, err := b.Append(ctx(t), "a", ev)
		if err != nil {
			t.Fatal(err)
		}
		if e1.Pos != e2.Pos {
			t.Fatalf("two Appends with one Token stored at %v and %v", e1.Pos, e2.Pos)
		}
		other := mustAppend(t, b, "a", "other") // no token: a new event
		if other.Pos.Seq != e1.Pos.Seq+1 {
			t.Errorf("the next Append is at %v, want right after %v", other.Pos, e1.Pos)
		}
		got, _, err := b.Range(ctx(t), "a", head, other.Pos)
		if err != nil || strings.Join(datas(got), ",") != "once,other" {
			t.Errorf("history %v (%v), want [once other]", datas(got), err)
		}
	}},
	{name: "append-cost-does-not-grow-with-history", runAll: appendCostIsFlat},
	{name: "idle-topic-is-freed-and-reported", retention: hub.Retention{IdleTTL: 200 * time.Millisecond}, run: idleTopicFreed},
	{name: "follow-and-range-refuse-a-wiped-log", run: wipedLog},
	{name: "a-rolled-back-log-is-a-new-log", run: rolledBackLog},
	{name: "hub-resumes-while-publishing", retention: hub.Retention{MaxLen: 100000}, run: resumeWhilePublishing},
	{name: "hub-reset-when-history-is-gone", retention: hub.Retention{MaxLen: 3}, run: resetWhenHistoryGone},
}

// appendCostIsFlat compares what one Append allocates on a full topic of 8
// entries and of 4,096: a backend that copies or rebuilds the history on
// every Append allocates in proportion to it. (Counted, not timed: the
// count does not depend on the machine's load. A backend that moves its
// history in place allocates nothing for it and passes; BenchmarkAppend
// shows that one.)
func appendCostIsFlat(t *testing.T, newBackend Factory) {
	perAppend := func(maxLen int) float64 {
		b := newBackend(t, hub.Retention{MaxLen: maxLen})
		defer b.Close()
		for i := range maxLen + 1 {
			mustAppend(t, b, "t", strconv.Itoa(i))
		}
		ev := hub.Event{Data: []byte("x")}
		const n = 200
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range n {
			if _, err := b.Append(ctx(t), "t", ev); err != nil {
				t.Fatal(err)
			}
		}
		runtime.ReadMemStats(&after)
		return float64(after.TotalAlloc-before.TotalAlloc) / n
	}
	small, large := perAppend(8), perAppend(4096)
	t.Logf("bytes allocated per Append: %.0f with 8 entries kept, %.0f with 4096", small, large)
	if large > 2*small+1024 {
		t.Errorf("an Append on a topic keeping 4096 entries allocates %.0f bytes, %.0f with 8: its cost grows with the history", large, small)
	}
}

// idleTopicFreed: a topic with no event for IdleTTL is freed, and a replay
// from before its end is reported incomplete, by Range and by a reset.
func idleTopicFreed(t *testing.T, b hub.Backend) {
	h, url := Serve(t, b)
	first, err := h.Publish(ctx(t), "idle", hub.Event{Data: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	before := hub.Pos{Seq: first.Seq - 1, Epoch: first.Epoch}
	time.Sleep(400 * time.Millisecond)
	var complete bool
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		mustAppend(t, b, "busy", "y") // a backend may sweep on Append
		var got []hub.Entry
		got, complete, err = b.Range(ctx(t), "idle", before, mustHead(t, b))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 && !complete {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("5 s after IdleTTL, Range of the idle topic: %v, complete %v; want it freed, incomplete", datas(got), complete)
		}
	}
	c := Connect(t, url, before.String(), "idle")
	if ev := c.Next(t); ev.Type != hub.ResetEventType || ev.Data != hub.ResetGap {
		t.Fatalf("resuming a freed topic: %+v, want a %s event %q", ev, hub.ResetEventType, hub.ResetGap)
	}
}

// wipedLog: a backend that loses its data answers Follow and Range for
// positions of the lost log with ErrEpoch, never with the new log's entries.
func wipedLog(t *testing.T, b hub.Backend) {
	w, ok := b.(Wiper)
	if !ok {
		t.Skip("the backend cannot lose its data while it runs (not a hubtest.Wiper)")
	}
	var old hub.Entry
	for i := range 3 {
		old = mustAppend(t, b, "a", strconv.Itoa(i))
	}
	following := make(chan error, 1)
	go func() {
		es, err := b.Follow(ctx(t), old.Pos)
		if err == nil {
			err = fmt.Errorf("following the lost log returned %d entries of the new one", len(es))
		}
		following <- err
	}()
	time.Sleep(100 * time.Millisecond) // Follow waits
	w.Wipe(t)
	for i := range 6 { // past the old position
		mustAppend(t, b, "a", "new"+strconv.Itoa(i))
	}
	select {
	case err := <-following:
		if !errors.Is(err, hub.ErrEpoch) {
			t.Errorf("Follow across the wipe: %v, want ErrEpoch", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("Follow across the wipe did not return within 10 s")
	}
	if _, _, err := b.Range(ctx(t), "a", old.Pos, hub.Pos{Seq: old.Pos.Seq + 10, Epoch: old.Pos.Epoch}); !errors.Is(err, hub.ErrEpoch) {
		t.Errorf("Range from the lost log: %v, want ErrEpoch", err)
	}
	if _, err := b.Follow(ctx(t), old.Pos); !errors.Is(err, hub.ErrEpoch) {
		t.Errorf("Follow from the lost log: %v, want ErrEpoch", err)
	}
}

// rolledBackLog: positions acknowledged after the snapshot are lost in a
// rollback; the backend must not give them to other events, nor let a
// replay skip over the loss: what it appends next is in another log (a new
// epoch), and Follow and Range refuse the lost positions.
func rolledBackLog(t *testing.T, b hub.Backend) {
	r, ok := b.(Rollbacker)
	if !ok {
		t.Skip("the backend cannot roll back (not a hubtest.Rollbacker)")
	}
	for i := range 3 {
		mustAppend(t, b, "a", strconv.Itoa(i))
	}
	r.Snapshot(t)
	var lost hub.Entry
	for i := range 3 {
		lost = mustAppend(t, b, "a", "lost"+strconv.Itoa(i))
	}
	r.Rollback(t)
	var e hub.Entry
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var err error
		if e, err = b.Append(ctx(t), "a", hub.Event{Data: []byte("after")}); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Append after the rollback: %v", err)
		}
	}
	if e.Pos.Epoch == lost.Pos.Epoch {
		t.Fatalf("after the rollback, Append stored at %v, in the log that lost %v: the events lost are never reported", e.Pos, lost.Pos)
	}
	if _, _, err := b.Range(ctx(t), "a", lost.Pos, lost.Pos); !errors.Is(err, hub.ErrEpoch) {
		t.Errorf("Range from a lost position: %v, want ErrEpoch", err)
	}
	if _, err := b.Follow(ctx(t), lost.Pos); !errors.Is(err, hub.ErrEpoch) {
		t.Errorf("Follow from a lost position: %v, want ErrEpoch", err)
	}
}

// resumeWhilePublishing: a client reconnecting again and again while events
// are published on its topics and another receives each exactly once, in
// order.
func resumeWhilePublishing(t *testing.T, b hub.Backend) {
	h, url := Serve(t, b)
	const total = 1500
	want := total * 2 / 3
	c := Connect(t, url, "", "a", "b")
	WaitSubscribers(t, h, "a", 1)
	published := make(chan error, 1)
	go func() {
		for i := range total {
			if _, err := h.Publish(context.Background(), []string{"a", "b", "c"}[i%3], hub.Event{Data: []byte(strconv.Itoa(i))}); err != nil {
				published <- err
				return
			}
			if i%10 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		published <- nil
	}()
	defer func() {
		if err := <-published; err != nil {
			t.Errorf("publish: %v", err)
		}
	}()
	var got []int
	for reconnects := 0; len(got) < want; reconnects++ {
		if reconnects > 0 {
			c.Close()
			c = Connect(t, url, c.LastID, "a", "b")
		}
		for range 1 + reconnects%53 {
			if len(got) == want {
				break
			}
			ev := c.Next(t)
			n, err := strconv.Atoi(ev.Data)
			if err != nil {
				t.Fatalf("unexpected event %+v", ev)
			}
			got = append(got, n)
		}
	}
	next := 0
	for _, n := range got {
		if next%3 == 2 {
			next++
		}
		if n != next {
			t.Fatalf("got event %d where %d was due (a gap or a duplicate at a seam)", n, next)
		}
		next++
	}
}

func resetWhenHistoryGone(t *testing.T, b hub.Backend) {
	h, url := Serve(t, b)
	first, err := h.Publish(ctx(t), "t", hub.Event{Data: []byte("first")})
	if err != nil {
		t.Fatal(err)
	}
	var last hub.Pos
	for i := range 10 {
		if last, err = h.Publish(ctx(t), "t", hub.Event{Data: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	c := Connect(t, url, first.String(), "t")
	ev := c.Next(t)
	at, err := hub.ParsePos(ev.LastEventID)
	if ev.Type != hub.ResetEventType || ev.Data != hub.ResetGap || err != nil || at.Seq > last.Seq {
		t.Fatalf("resuming past the history: %+v, want a %s event %q at the hub's position", ev, hub.ResetEventType, hub.ResetGap)
	}
	// The hub may not have followed the last events yet when the client
	// came: those after the reset's position follow live, in order.
	for at != last {
		ev := c.Next(t)
		p, err := hub.ParsePos(ev.LastEventID)
		if err != nil || p.Seq != at.Seq+1 {
			t.Fatalf("after the reset at %v: %+v", at, ev)
		}
		at = p
	}
	c.Close()
	c = Connect(t, url, "not-an-id", "t")
	if ev := c.Next(t); ev.Type != hub.ResetEventType || ev.Data != hub.ResetUnknownID {
		t.Fatalf("resuming from a made-up ID: %+v, want a %s event %q", ev, hub.ResetEventType, hub.ResetUnknownID)
	}
}

// Serve runs a hub on b behind a net/http server on 127.0.0.1 serving
// GET /events?topic=a&topic=b, all stopped at cleanup. It returns the hub
// and the server's address.
func Serve(t *testing.T, b hub.Backend) (*hub.Hub, string) {
	t.Helper()
	return ServeWith(t, b, hub.Options{}, lifecycle.Options{})
}

// ServeWith is Serve with the hub's and the endpoint's options (heartbeats
// off unless set).
func ServeWith(t *testing.T, b hub.Backend, opts hub.Options, lopts lifecycle.Options) (*hub.Hub, string) {
	t.Helper()
	h := hub.New(b, opts)
	if lopts.Heartbeat == 0 {
		lopts.Heartbeat = -1
	}
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		return h.Serve(s, s.Request().Query()["topic"]...)
	}, lopts)
	mux := http.NewServeMux()
	mux.Handle("GET /events", nethttpadapter.Handler(ep))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ep.Shutdown(c)
		srv.Shutdown(c)
		h.Close()
	})
	return h, ln.Addr().String()
}

// Client is a raw SSE client connection, like an EventSource.
type Client struct {
	conn   net.Conn
	p      *conformance.Parser
	LastID string // the last event ID seen, sent back by the next Connect
}

// Connect opens /events for topics on the server at addr, sending lastID as
// Last-Event-ID if it is not empty. The connection closes at cleanup.
func Connect(t *testing.T, addr, lastID string, topics ...string) *Client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var q []string
	for _, tp := range topics {
		q = append(q, "topic="+tp)
	}
	req := fmt.Sprintf("GET /events?%s HTTP/1.1\r\nHost: hub\r\n", strings.Join(q, "&"))
	if lastID != "" {
		req += "Last-Event-ID: " + lastID + "\r\n"
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write([]byte(req + "\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("connect: %v, %v", resp, err)
	}
	return &Client{conn: conn, p: conformance.NewParser(resp.Body), LastID: lastID}
}

// Next returns the next event, failing t after the connection's 30 s
// deadline; it records the event's ID in LastID.
func (c *Client) Next(t *testing.T) conformance.Event {
	t.Helper()
	ev, err := c.p.Next()
	if err != nil {
		t.Fatalf("next event: %v", err)
	}
	c.LastID = ev.LastEventID
	return ev
}

// NextErr is Next returning the error, for use off the test's goroutine.
func (c *Client) NextErr() (conformance.Event, error) {
	ev, err := c.p.Next()
	if err == nil {
		c.LastID = ev.LastEventID
	}
	return ev, err
}

// Conn returns the client's TCP connection.
func (c *Client) Conn() net.Conn { return c.conn }

// Close closes the connection, as a client leaving.
func (c *Client) Close() error { return c.conn.Close() }

// WaitSubscribers waits up to 5 s until topic has n subscribers on h.
func WaitSubscribers(t *testing.T, h *hub.Hub, topic string, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); h.Stats().Subscribers[topic] != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("topic %s: %d subscribers, want %d", topic, h.Stats().Subscribers[topic], n)
		}
	}
}
