package main

import (
	"context"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssekit/ssekit/lifecycle"
)

// Allocations is scenario 5: heap allocations per Send and per heartbeat,
// measured in this process with testing.Benchmark over a transport that
// discards what it is given.
type Allocations struct {
	SendOneLine       float64 `json:"send_one_line_allocs_per_op"`
	SendOneLineNs     float64 `json:"send_one_line_ns_per_op"`
	SendMultiLine     float64 `json:"send_multi_line_allocs_per_op"`
	SendMultiLineNs   float64 `json:"send_multi_line_ns_per_op"`
	PerHeartbeat      float64 `json:"allocs_per_heartbeat"`
	HeartbeatsCounted int64   `json:"heartbeats_counted"`
}

// discard is a lifecycle.Transport that counts heartbeats and drops bytes.
type discard struct{ heartbeats atomic.Int64 }

func (d *discard) WriteHeader(int, http.Header) error { return nil }
func (d *discard) Write(p []byte) (int, error) {
	if len(p) > 0 && p[0] == ':' {
		d.heartbeats.Add(1)
	}
	return len(p), nil
}
func (d *discard) Flush() error                     { return nil }
func (d *discard) SetWriteDeadline(time.Time) error { return nil }

// session opens a session with opts on a discard transport.
func session(opts lifecycle.Options) (*lifecycle.Session, *discard) {
	ready := make(chan *lifecycle.Session)
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		ready <- s
		<-s.Done()
		return nil
	}, opts)
	t := &discard{}
	go ep.Serve(context.Background(), t, &lifecycle.Request{Method: "GET"})
	return <-ready, t
}

func allocations(heartbeatFor time.Duration) Allocations {
	var a Allocations
	s, _ := session(lifecycle.Options{Heartbeat: -1})
	bench := func(ev lifecycle.Event) (allocs, ns float64) {
		r := testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.Send(ev)
			}
		})
		return float64(r.MemAllocs) / float64(r.N), float64(r.T.Nanoseconds()) / float64(r.N)
	}
	a.SendOneLine, a.SendOneLineNs = bench(lifecycle.Event{ID: "12345", Data: []byte(payload)})
	a.SendMultiLine, a.SendMultiLineNs = bench(lifecycle.Event{ID: "12345", Type: "update",
		Data: []byte("line one\nline two\nline three\nline four")})
	s.Close()

	// Heartbeats: an idle session with a 1 ms heartbeat, its timer firing
	// on its own, and the process's allocation count meanwhile.
	hs, t := session(lifecycle.Options{Heartbeat: time.Millisecond})
	time.Sleep(100 * time.Millisecond) // warm up goroutine and timer pools
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n0 := t.heartbeats.Load()
	time.Sleep(heartbeatFor)
	n1 := t.heartbeats.Load()
	runtime.ReadMemStats(&after)
	hs.Close()
	a.HeartbeatsCounted = n1 - n0
	if a.HeartbeatsCounted > 0 {
		a.PerHeartbeat = float64(after.Mallocs-before.Mallocs) / float64(a.HeartbeatsCounted)
	}
	return a
}
