package hub_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssekit/ssekit/hub"
	"github.com/ssekit/ssekit/lifecycle"
)

// countingTransport counts flushes; it writes nowhere.
type countingTransport struct {
	flushes *atomic.Int64
	all     *sync.WaitGroup
}

func (t countingTransport) WriteHeader(int, http.Header) error { return nil }
func (t countingTransport) Write(p []byte) (int, error)        { return len(p), nil }
func (t countingTransport) SetWriteDeadline(time.Time) error   { return nil }
func (t countingTransport) Flush() error {
	t.flushes.Add(1)
	t.all.Done()
	return nil
}

// BenchmarkFanout is the hub's own cost of one event delivered to each of
// 10,000 subscribers (queueing, wakeup, the writer's batch, the session's
// encoding and flush), over a transport that writes nowhere: what the hub
// adds to a broadcast on top of the system calls. ns/op is per delivery.
func BenchmarkFanout(b *testing.B) {
	const n = 10_000
	h := hub.New(hub.NewMemory(hub.Retention{}), hub.Options{})
	defer h.Close()
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error { return h.Serve(s, "t") }, lifecycle.Options{Heartbeat: -1})
	var flushes atomic.Int64
	var all sync.WaitGroup
	all.Add(n) // the stream openings
	var served sync.WaitGroup
	for range n {
		served.Add(1)
		go func() {
			defer served.Done()
			ep.Serve(context.Background(), countingTransport{&flushes, &all}, &lifecycle.Request{Method: "GET", Path: "/"})
		}()
	}
	all.Wait()
	for h.Stats().Subscribers["t"] < n {
		time.Sleep(time.Millisecond)
	}
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
	ep.Shutdown(context.Background())
	served.Wait()
}

// BenchmarkFanoutFloor is the same broadcast done the cheapest way: one
// goroutine per connection, all woken by closing one channel, each making
// one call. BenchmarkFanout's ns/op over this one's is the hub's overhead.
func BenchmarkFanoutFloor(b *testing.B) {
	const n = 10_000
	type round struct {
		done chan struct{}
		next *round
	}
	var mu sync.Mutex
	cur := &round{done: make(chan struct{})}
	var all, started sync.WaitGroup
	var flushes atomic.Int64
	t := countingTransport{&flushes, &all}
	wire := []byte("data: 0123456789012345678901234567890123456789012345678901234567890123\n\n")
	stop := make(chan struct{})
	started.Add(n)
	for range n {
		go func() {
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
}
