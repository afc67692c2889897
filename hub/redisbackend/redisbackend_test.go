package redisbackend_test

import (
	"context"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"go.uber.org/goleak"

	"github.com/ssekit/ssekit/hub"
	"github.com/ssekit/ssekit/hub/hubtest"
	"github.com/ssekit/ssekit/hub/redisbackend"
	"github.com/ssekit/ssekit/internal/redistest"
)

// Each case has its own redis-server, with RDB persistence, so that the
// rollback case can crash it and bring it back from a snapshot.
func TestBackend(t *testing.T) {
	hubtest.Run(t, func(t *testing.T, r hub.Retention) hub.Backend {
		srv := redistest.StartWith(t, redistest.RDB)
		rdb, prefix := srv.Client(t), redistest.Unique(t)
		b := redisbackend.New(rdb, redisbackend.Options{Prefix: prefix, Retention: r, Block: 200 * time.Millisecond})
		return wiper{b, srv, rdb, prefix}
	})
}

// Two instances on one Redis, each behind its own HTTP server: a client on
// A leaves and resumes on B, receiving every event exactly once, in order,
// while both instances publish.
func TestResumeOnAnotherInstance(t *testing.T) {
	_, a, addrA, b, addrB := twoInstances(t)
	const total = 600
	c := hubtest.Connect(t, addrA, "", "news")
	hubtest.WaitSubscribers(t, a, "news", 1)
	published := make(chan error, 1)
	go func() {
		for i := range total {
			h := []*hub.Hub{a, b}[i%2] // both instances publish
			if _, err := h.Publish(context.Background(), "news", hub.Event{Data: []byte(strconv.Itoa(i))}); err != nil {
				published <- err
				return
			}
			if i%20 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		published <- nil
	}()
	var got []int
	addrs := []string{addrA, addrB}
	for hop := 0; len(got) < total; hop++ {
		if hop > 0 {
			c.Close()
			c = hubtest.Connect(t, addrs[hop%2], c.LastID, "news") // A, then B, then A...
		}
		for range 1 + hop%37 {
			if len(got) == total {
				break
			}
			n, err := strconv.Atoi(c.Next(t).Data)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, n)
		}
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	for i, n := range got {
		if n != i {
			t.Fatalf("event %d is %d: a gap or a duplicate across instances", i, n)
		}
	}
}

// Redis stops and comes back: Publish fails meanwhile (nothing is
// acknowledged that was not stored); open sessions stay open and receive,
// once Redis is back, everything stored since, including what another
// instance published before this one reconnected.
func TestRedisRestart(t *testing.T) {
	srv, a, addrA, b, _ := twoInstances(t)
	c := hubtest.Connect(t, addrA, "", "t")
	hubtest.WaitSubscribers(t, a, "t", 1)
	if _, err := b.Publish(context.Background(), "t", hub.Event{Data: []byte("before")}); err != nil {
		t.Fatal(err)
	}
	if ev := c.Next(t); ev.Data != "before" {
		t.Fatalf("got %+v", ev)
	}

	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	_, err := a.Publish(ctx, "t", hub.Event{Data: []byte("lost")})
	cancel()
	if err == nil {
		t.Fatal("Publish succeeded while Redis was down")
	}
	time.Sleep(300 * time.Millisecond) // the instances' followers fail and retry meanwhile

	srv.Restart(t)
	for i := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := b.Publish(ctx, "t", hub.Event{Data: []byte("after" + strconv.Itoa(i))})
		cancel()
		if err != nil {
			t.Fatalf("Publish after the restart: %v", err)
		}
	}
	for i := range 3 {
		if ev := c.Next(t); ev.Data != "after"+strconv.Itoa(i) {
			t.Fatalf("after the restart, got %+v, want after%d", ev, i)
		}
	}
}

// twoInstances starts a redis-server and two hubs sharing one log on it,
// each behind its own HTTP server.
func twoInstances(t *testing.T) (srv *redistest.Server, a *hub.Hub, addrA string, b *hub.Hub, addrB string) {
	srv = redistest.Start(t)
	prefix := redistest.Unique(t)
	backend := func() hub.Backend {
		return redisbackend.New(srv.Client(t), redisbackend.Options{Prefix: prefix, Block: 200 * time.Millisecond})
	}
	a, addrA = hubtest.Serve(t, backend())
	b, addrB = hubtest.Serve(t, backend())
	return srv, a, addrA, b, addrB
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Append keeps nothing of the caller's: a topic and data aliasing a buffer
// the caller rewrites once Append has returned (as Fiber's c.Params and
// c.Body alias fasthttp's request buffer) leave the stored event and the
// returned Entry as they were given.
func TestAppendKeepsNothingOfTheCallers(t *testing.T) {
	srv := redistest.Start(t)
	b := redisbackend.New(srv.Client(t), redisbackend.Options{Prefix: redistest.Unique(t)})
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	head, err := b.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	buf := []byte("topic-a|data-a|type-a")
	str := unsafe.String(unsafe.SliceData(buf), len(buf)) // as fasthttp's b2s
	e, err := b.Append(ctx, str[:7], hub.Event{Type: str[15:], Data: buf[8:14]})
	if err != nil {
		t.Fatal(err)
	}
	copy(buf, "topic-b|data-b|type-b")
	if e.Topic != "topic-a" || string(e.Data) != "data-a" || e.Type != "type-a" {
		t.Errorf("the returned entry changed with the caller's buffer: %q %q %q", e.Topic, e.Data, e.Type)
	}
	es, _, err := b.Range(ctx, "topic-a", head, e.Pos)
	if err != nil || len(es) != 1 || string(es[0].Data) != "data-a" || es[0].Type != "type-a" {
		t.Errorf("stored under topic-a: %+v, %v; want the one event as given", es, err)
	}
}
