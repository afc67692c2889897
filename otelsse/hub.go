package otelsse

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/ssekit/ssekit/hub"
)

// publishBuckets are the advised bucket boundaries of
// sse.hub.publish.duration, in seconds: 100 µs (memory) to 10 s (a backend
// in trouble).
var publishBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// HubMetrics reports a hub.Hub's subscribers, queues and counts as
// OpenTelemetry metrics. Observe reads Hub.Stats when the metrics are
// collected; OnPublish records each publish's duration. HubMetrics is safe
// for concurrent use.
type HubMetrics struct {
	meter   metric.Meter
	base    metric.MeasurementOption
	publish metric.Float64Histogram
	failed  map[string]metric.MeasurementOption // by error type

	subscribers, subscriptions, topics, queued          metric.Int64ObservableUpDownCounter
	published, dropped, replayed, replays, slow, resets metric.Int64ObservableCounter
	backendErrors                                       metric.Int64ObservableCounter
	gapAttrs, unknownIDAttrs                            metric.MeasurementOption

	mu  sync.Mutex
	reg metric.Registration // nil until Observe
}

// NewHubMetrics creates the hub instruments on a meter of mp (see the
// package documentation for the list). It fails only if mp does.
func NewHubMetrics(mp metric.MeterProvider, opts Options) (*HubMetrics, error) {
	m := &HubMetrics{meter: mp.Meter(ScopeName), base: attrs(opts.Attributes)}
	m.gapAttrs = attrs(opts.Attributes, ResetKindKey.String(hub.ResetGap))
	m.unknownIDAttrs = attrs(opts.Attributes, ResetKindKey.String(hub.ResetUnknownID))
	m.failed = map[string]metric.MeasurementOption{}
	for _, v := range []string{ErrorCanceled, ErrorTimeout, ErrorBackend} {
		m.failed[v] = attrs(opts.Attributes, ErrorTypeKey.String(v))
	}
	in := instruments{meter: m.meter}
	m.publish = in.histogram("sse.hub.publish.duration",
		"How long publishes took, until the backend stored the event; error.type is set on failures.", publishBuckets)
	gauge, counter := in.gauge, in.counter
	m.subscribers = gauge("sse.hub.subscribers", "{session}", "Sessions subscribed now, on this instance.")
	m.subscriptions = gauge("sse.hub.subscriptions", "{subscription}", "Topic subscriptions now, over all sessions, on this instance.")
	m.topics = gauge("sse.hub.topics", "{topic}", "Topics with subscribers now, on this instance.")
	m.queued = gauge("sse.hub.events.queued", "{event}", "Events waiting in subscriber queues.")
	m.published = counter("sse.hub.events.published", "{event}", "Events published through this instance.")
	m.dropped = counter("sse.hub.events.dropped", "{event}", "Events dropped from full queues (DropOldest).")
	m.replayed = counter("sse.hub.events.replayed", "{event}", "Events sent by replays.")
	m.replays = counter("sse.hub.replays", "{replay}", "Reconnects resumed from their Last-Event-ID.")
	m.slow = counter("sse.hub.slow_disconnects", "{session}", "Sessions ended because their queue overflowed.")
	m.resets = counter("sse.hub.resets", "{event}", "Reset events sent, by kind.")
	m.backendErrors = counter("sse.hub.backend.errors", "{error}", "Calls to the backend that failed.")
	if err := in.err(); err != nil {
		return nil, err
	}
	return m, nil
}

// OnPublish records a publish's duration. Set it as (or call it from) the
// hub's hub.Options.OnPublish; without it sse.hub.publish.duration stays
// empty. The topic is not recorded. It is safe for concurrent use.
func (m *HubMetrics) OnPublish(_ string, took time.Duration, err error) {
	o := m.base
	switch {
	case err == nil:
	case errors.Is(err, context.Canceled):
		o = m.failed[ErrorCanceled]
	case errors.Is(err, context.DeadlineExceeded):
		o = m.failed[ErrorTimeout]
	default:
		o = m.failed[ErrorBackend]
	}
	m.publish.Record(context.Background(), took.Seconds(), o)
}

// Observe reports h's state and counts (hub.Hub.Totals) each time the
// metrics are collected, until Close. It returns ErrObserved if the metrics
// already observe a hub.
func (m *HubMetrics) Observe(h *hub.Hub) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reg != nil {
		return ErrObserved
	}
	reg, err := m.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := h.Totals() // not Stats: its cost grows with the topics
		o.ObserveInt64(m.subscribers, st.Subscribed, m.base)
		o.ObserveInt64(m.subscriptions, st.Subscriptions, m.base)
		o.ObserveInt64(m.topics, int64(st.Topics), m.base)
		o.ObserveInt64(m.queued, st.Queued, m.base)
		o.ObserveInt64(m.published, st.Published, m.base)
		o.ObserveInt64(m.dropped, st.Dropped, m.base)
		o.ObserveInt64(m.replayed, st.ReplayedEvents, m.base)
		o.ObserveInt64(m.replays, st.Replays, m.base)
		o.ObserveInt64(m.slow, st.SlowDisconnects, m.base)
		o.ObserveInt64(m.resets, st.Resets[hub.ResetGap], m.gapAttrs)
		o.ObserveInt64(m.resets, st.Resets[hub.ResetUnknownID], m.unknownIDAttrs)
		o.ObserveInt64(m.backendErrors, st.BackendErrors, m.base)
		return nil
	}, m.subscribers, m.subscriptions, m.topics, m.queued, m.published, m.dropped, m.replayed,
		m.replays, m.slow, m.resets, m.backendErrors)
	if err != nil {
		return err
	}
	m.reg = reg
	return nil
}

// Close stops observing the hub: its counts are no longer reported.
// OnPublish still records. Close is idempotent.
func (m *HubMetrics) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reg == nil {
		return nil
	}
	err := m.reg.Unregister()
	m.reg = nil
	return err
}
