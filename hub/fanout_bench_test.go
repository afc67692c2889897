package hub_test

import (
	"context"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ssekit/ssekit/hub"
	"github.com/ssekit/ssekit/lifecycle"
)

// countingTransport counts flushes down all; it writes nowhere.
type countingTransport struct{ all *sync.WaitGroup }

func (t countingTransport) WriteHeader(int, http.Header) error { return nil }
func (t countingTransport) Write(p []byte) (int, error)        { return len(p), nil }
func (t countingTransport) SetWriteDeadline(time.Time) error   { return nil }
func (t countingTransport) Flush() error {
	t.all.Done()
	return nil
}

// fanoutSizes are the subscriber counts of the fan-out benchmarks: the
// scale scenario's target of 100,000 streams cannot be opened over sockets
// on a machine whose open-file limit is lower, but the hub's part of it can
// be measured here.
var fanoutSizes = []int{10_000, 100_000}

// BenchmarkFanout is the hub's own cost of one event delivered to each of
// n subscribers (queueing, wakeup, the writer's batch, the session's
// encoding and flush), over a transport that writes nowhere: what the hub
// adds to a broadcast on top of the system calls. ns/op is per delivery;
// heap-B/sub and stack-B/sub are what an idle subscribed session costs
// (session, hub subscriber, and the goroutine of a handler with a shallow
// stack, without any framework or connection).
func BenchmarkFanout(b *testing.B) {
	for _, n := range fanoutSizes {
		b.Run("subscribers="+strconv.Itoa(n), func(b *testing.B) { benchFanout(b, n) })
	}
}

func benchFanout(b *testing.B, n int) {
	h := hub.New(hub.NewMemory(hub.Retention{}), hub.Options{})
	defer h.Close()
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error { return h.Serve(s, "t") }, lifecycle.Options{Heartbeat: -1})
	var all sync.WaitGroup
	before := memNow()
	all.Add(n) // the stream openings
	var served sync.WaitGroup
	for range n {
		served.Add(1)
		go func() {
			defer served.Done()
			ep.Serve(context.Background(), countingTransport{&all}, &lifecycle.Request{Method: "GET", Path: "/"})
		}()
	}
	all.Wait()
	for h.Stats().Subscribers["t"] < n {
		time.Sleep(time.Millisecond)
	}
	after := memNow()
	ev := hub.Event{Data: []byte("0123456789012345678901234567890123456789012345678901234567890123")}
	b.ResetTimer()
	for i := 0; i < b.N; i += n {
		all.Add(n)
		if _, err := h.Publish(context.Background(), "t", ev); err != nil {
			b.Fatal(err)
		}
		all.Wait()
	}
	b.StopTimer()
	// (After the timed part: ResetTimer drops metrics reported before it.)
	b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/float64(n), "heap-B/sub")
	b.ReportMetric(float64(after.StackInuse-before.StackInuse)/float64(n), "stack-B/sub")
	ep.Shutdown(context.Background())
	served.Wait()
}

func memNow() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}

// BenchmarkFanoutFloor is the same broadcast done the cheapest way: one
// goroutine per connection, all woken by closing one channel, each making
// one call. BenchmarkFanout's ns/op over this one's is the hub's overhead.
func BenchmarkFanoutFloor(b *testing.B) {
	for _, n := range fanoutSizes {
		b.Run("subscribers="+strconv.Itoa(n), func(b *testing.B) { benchFanoutFloor(b, n) })
	}
}

func benchFanoutFloor(b *testing.B, n int) {
	type round struct {
		done chan struct{}
		next *round
	}
	var mu sync.Mutex
	cur := &round{done: make(chan struct{})}
	var all, started sync.WaitGroup
	t := countingTransport{&all}
	wire := []byte("data: 0123456789012345678901234567890123456789012345678901234567890123\n\n")
	stop := make(chan struct{})
	var stopped sync.WaitGroup
	started.Add(n)
	stopped.Add(n)
	for range n {
		go func() {
			defer stopped.Done()
			mu.Lock()
			r := cur
			mu.Unlock()
			started.Done()
			for {
				select {
				case <-r.done:
				case <-stop:
					return
				}
				t.Write(wire)
				t.Flush()
				r = r.next
			}
		}()
	}
	started.Wait()
	b.ResetTimer()
	for i := 0; i < b.N; i += n {
		all.Add(n)
		mu.Lock()
		r := cur
		r.next = &round{done: make(chan struct{})}
		cur = r.next
		mu.Unlock()
		close(r.done)
		all.Wait()
	}
	b.StopTimer()
	close(stop)
	stopped.Wait()
}

// BenchmarkStats reads a hub's counts with 100,000 sessions each on a topic
// of its own (a topic per user): Stats copies the topics, Totals does not.
func BenchmarkStats(b *testing.B) {
	const n = 100_000
	h := hub.New(hub.NewMemory(hub.Retention{}), hub.Options{})
	defer h.Close()
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		return h.Serve(s, s.Request().Path)
	}, lifecycle.Options{Heartbeat: -1})
	var opened, served sync.WaitGroup
	opened.Add(n)
	for i := range n {
		served.Add(1)
		go func() {
			defer served.Done()
			ep.Serve(context.Background(), countingTransport{&opened}, &lifecycle.Request{Method: "GET", Path: "user:" + strconv.Itoa(i)})
		}()
	}
	opened.Wait()
	for h.Totals().Subscriptions < n {
		time.Sleep(time.Millisecond)
	}
	b.Run("Stats", func(b *testing.B) {
		for range b.N {
			h.Stats()
		}
	})
	b.Run("Totals", func(b *testing.B) {
		for range b.N {
			h.Totals()
		}
	})
	ep.Shutdown(context.Background())
	served.Wait()
}
