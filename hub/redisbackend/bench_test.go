package redisbackend_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssekit/ssekit/hub"
	"github.com/ssekit/ssekit/hub/redisbackend"
	"github.com/ssekit/ssekit/internal/redistest"
)

// BenchmarkAppend publishes on a full topic and reports the Redis server's
// CPU per publish (from INFO commandstats: the script's usec per call), with
// and without MaxAge, for 1 KiB and 64 KiB events (BENCHMARKS.md).
// Redis runs without persistence: an fsync per write would swamp the
// script's cost.
func BenchmarkAppend(b *testing.B) {
	srv := redistest.StartWith(b, redistest.None)
	rdb := srv.Client(b)
	ctx := context.Background()
	for _, size := range []int{1 << 10, 64 << 10} {
		for _, maxAge := range []time.Duration{0, time.Hour} {
			name := "size=" + strconv.Itoa(size) + "/MaxAge=" + maxAge.String()
			b.Run(name, func(b *testing.B) {
				be := redisbackend.New(rdb, redisbackend.Options{Prefix: redistest.Unique(b),
					Retention: hub.Retention{MaxLen: 1000, MaxAge: maxAge}})
				ev := hub.Event{Data: []byte(strings.Repeat("x", size))}
				for range 1000 {
					if _, err := be.Append(ctx, "t", ev); err != nil {
						b.Fatal(err)
					}
				}
				rdb.ConfigResetStat(ctx)
				b.ResetTimer()
				for range b.N {
					if _, err := be.Append(ctx, "t", ev); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(scriptUsecPerCall(b, rdb.Info(ctx, "commandstats").Val()), "redis-µs/op")
			})
		}
	}
}

// scriptUsecPerCall reads usec_per_call of EVALSHA from INFO commandstats.
func scriptUsecPerCall(b *testing.B, info string) float64 {
	i := strings.Index(info, "cmdstat_evalsha:")
	if i < 0 {
		b.Fatal("no EVALSHA in commandstats")
	}
	line, _, _ := strings.Cut(info[i:], "\n")
	_, v, _ := strings.Cut(line, "usec_per_call=")
	v, _, _ = strings.Cut(v, ",")
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		b.Fatal(err)
	}
	return f
}
