package hub_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/ssekit/ssekit/hub"
)

// BenchmarkMemoryAppend publishes on a full topic keeping MaxLen entries:
// the cost per Append does not grow with MaxLen (BENCHMARKS.md).
func BenchmarkMemoryAppend(b *testing.B) {
	for _, maxLen := range []int{1000, 10000, 100000} {
		b.Run("MaxLen="+strconv.Itoa(maxLen), func(b *testing.B) {
			m := hub.NewMemory(hub.Retention{MaxLen: maxLen})
			defer m.Close()
			ctx := context.Background()
			ev := hub.Event{Data: make([]byte, 64)}
			for range maxLen {
				m.Append(ctx, "t", ev)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := m.Append(ctx, "t", ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
