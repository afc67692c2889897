package hub_test

import (
	"testing"

	"github.com/ssekit/ssekit/hub"
	"github.com/ssekit/ssekit/hub/hubtest"
)

// BenchmarkMemoryAppend publishes on a full topic keeping MaxLen entries:
// the cost per Append does not grow with MaxLen (BENCHMARKS.md).
func BenchmarkMemoryAppend(b *testing.B) {
	hubtest.BenchmarkAppend(b, func(b *testing.B, r hub.Retention) hub.Backend { return hub.NewMemory(r) })
}
