package otelsse_test

import (
	"context"
	"math"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// reader is an SDK MeterProvider with a ManualReader, shut down at cleanup.
type reader struct {
	*sdkmetric.ManualReader
	mp *sdkmetric.MeterProvider
}

func newReader(t *testing.T) reader {
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	return reader{r, mp}
}

// collected is one collection's metrics, by name.
type collected map[string]metricdata.Metrics

func (r reader) collect(t *testing.T) collected {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	c := collected{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != "github.com/ssekit/ssekit/otelsse" {
			t.Errorf("scope %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			c[m.Name] = m
		}
	}
	return c
}

// int64Sum returns the value of the sum name for exactly the attributes
// kvs, failing t if it is missing, not a sum of the right monotonicity, or
// has a point with a value set other than those seen (every point's
// attributes are checked against allowed, when given).
func (c collected) sum(t *testing.T, name string, monotonic bool, kvs ...attribute.KeyValue) int64 {
	t.Helper()
	m, ok := c[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	s, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s is a %T, want an int64 sum", name, m.Data)
	}
	if s.IsMonotonic != monotonic || s.Temporality != metricdata.CumulativeTemporality {
		t.Errorf("%s: monotonic %v temporality %v", name, s.IsMonotonic, s.Temporality)
	}
	want := attribute.NewSet(kvs...)
	for _, p := range s.DataPoints {
		if p.Attributes.Equals(&want) {
			return p.Value
		}
	}
	t.Fatalf("%s has no point with attributes %v; it has %v", name, want.ToSlice(), s.DataPoints)
	return 0
}

// points returns how many points the sum name has.
func (c collected) points(t *testing.T, name string) int {
	t.Helper()
	s, ok := c[name].Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s is a %T, want an int64 sum", name, c[name].Data)
	}
	return len(s.DataPoints)
}

// hist returns the count and sum of the histogram name for exactly the
// attributes kvs, or zeros if it has no such point.
func (c collected) hist(t *testing.T, name string, kvs ...attribute.KeyValue) (uint64, float64) {
	t.Helper()
	m, ok := c[name]
	if !ok {
		return 0, 0
	}
	h, ok := m.Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s is a %T, want a float64 histogram", name, m.Data)
	}
	want := attribute.NewSet(kvs...)
	for _, p := range h.DataPoints {
		if p.Attributes.Equals(&want) {
			return p.Count, p.Sum
		}
	}
	return 0, 0
}

// near reports whether a and b agree to a microsecond.
func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
	}
}
