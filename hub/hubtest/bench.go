package hubtest

import (
	"context"
	"strconv"
	"testing"

	"github.com/ssekit/ssekit/hub"
)

// BenchFactory returns a new, empty backend keeping r, for a benchmark.
// BenchmarkAppend closes it.
type BenchFactory func(b *testing.B, r hub.Retention) hub.Backend

// BenchmarkAppend measures Append on a full topic (every Append also evicts
// the oldest entry) keeping 1,000, 10,000 and 100,000 entries, one
// sub-benchmark each: a backend whose Append is O(1) shows the same ns/op
// at every size. Run's case append-cost-does-not-grow-with-history checks
// the allocations only (it cannot time anything on a shared machine), so a
// backend that moves its whole history without allocating passes it; this
// benchmark is where that shows.
func BenchmarkAppend(b *testing.B, newBackend BenchFactory) {
	for _, maxLen := range []int{1000, 10000, 100000} {
		b.Run("MaxLen="+strconv.Itoa(maxLen), func(b *testing.B) {
			be := newBackend(b, hub.Retention{MaxLen: maxLen})
			defer be.Close()
			ctx := context.Background()
			ev := hub.Event{Data: make([]byte, 64)}
			for range maxLen {
				if _, err := be.Append(ctx, "t", ev); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := be.Append(ctx, "t", ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
