package lifecycle

import (
	"context"
	"strconv"
	"sync"
	"testing"
)

// BenchmarkStats measures a snapshot with n sessions open: it adds up what
// each has written, so its cost grows with them.
func BenchmarkStats(b *testing.B) {
	for _, n := range []int{0, 1000, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			release := make(chan struct{})
			var opened sync.WaitGroup
			opened.Add(n)
			ep := NewEndpoint(func(s *Session) error {
				opened.Done()
				<-release
				return nil
			}, Options{Heartbeat: -1})
			var done sync.WaitGroup
			for range n {
				done.Go(func() { ep.Serve(context.Background(), nopTransport{}, &Request{Method: "GET"}) })
			}
			opened.Wait()
			b.ReportAllocs()
			for b.Loop() {
				if ep.Stats().Active != n {
					b.Fatal("sessions missing")
				}
			}
			b.StopTimer()
			close(release)
			done.Wait()
		})
	}
}
