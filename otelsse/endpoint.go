package otelsse

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/metric"

	"github.com/ssekit/ssekit/lifecycle"
)

// sessionBuckets are the advised bucket boundaries of
// sse.server.session.duration, in seconds: a second to a day.
var sessionBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400}

// EndpointMetrics reports a lifecycle.Endpoint's sessions as OpenTelemetry
// metrics. Observe reads Endpoint.Stats when the metrics are collected,
// which costs the endpoint nothing in between; OnClose records each
// session's duration. EndpointMetrics is safe for concurrent use.
type EndpointMetrics struct {
	meter    metric.Meter
	base     metric.MeasurementOption
	opts     Options
	duration metric.Float64Histogram

	active                          metric.Int64ObservableUpDownCounter
	opened, refused, failed, closed metric.Int64ObservableCounter
	events, bytes, heartbeats       metric.Int64ObservableCounter
	overloadedAttrs, admitAttrs     metric.MeasurementOption
	reasonAttrs                     sync.Map // ReasonName to metric.MeasurementOption
	mu                              sync.Mutex
	reg                             metric.Registration // nil until Observe
}

// NewEndpointMetrics creates the endpoint instruments on a meter of mp (see
// the package documentation for the list). It fails only if mp does.
func NewEndpointMetrics(mp metric.MeterProvider, opts Options) (*EndpointMetrics, error) {
	m := &EndpointMetrics{meter: mp.Meter(ScopeName), opts: opts, base: attrs(opts.Attributes)}
	m.overloadedAttrs = attrs(opts.Attributes, RefusalReasonKey.String(RefusalOverloaded))
	m.admitAttrs = attrs(opts.Attributes, RefusalReasonKey.String(RefusalAdmit))
	in := instruments{meter: m.meter}
	m.duration = in.histogram("sse.server.session.duration", "How long sessions lasted, from the open to the end.", sessionBuckets)
	m.active = in.gauge("sse.server.sessions.active", "{session}", "Sessions open now.")
	m.opened = in.counter("sse.server.sessions.opened", "{session}", "Sessions opened.")
	m.refused = in.counter("sse.server.sessions.refused", "{session}", "Streams refused before they opened, by reason.")
	m.failed = in.counter("sse.server.sessions.failed", "{session}", "Streams whose headers could not be sent.")
	m.closed = in.counter("sse.server.sessions.closed", "{session}", "Sessions ended, by reason.")
	m.events = in.counter("sse.server.events.sent", "{event}", "Events written, comments and heartbeats aside.")
	m.bytes = in.counter("sse.server.sent", "By", "Body bytes written, comments and heartbeats included.")
	m.heartbeats = in.counter("sse.server.heartbeats.sent", "{heartbeat}", "Heartbeat comments written.")
	if err := in.err(); err != nil {
		return nil, err
	}
	return m, nil
}

// OnClose records the session's duration. Set it as (or call it from) the
// endpoint's lifecycle.Options.OnClose; without it
// sse.server.session.duration stays empty. It is safe for concurrent use.
func (m *EndpointMetrics) OnClose(_ *lifecycle.Session, info lifecycle.CloseInfo) {
	m.duration.Record(context.Background(), info.Duration.Seconds(), m.base)
}

// Observe reports ep's counts (lifecycle.Endpoint.Stats) each time the
// metrics are collected, until Close. It returns ErrObserved if the metrics
// already observe an endpoint.
func (m *EndpointMetrics) Observe(ep *lifecycle.Endpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reg != nil {
		return ErrObserved
	}
	reg, err := m.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := ep.Stats()
		o.ObserveInt64(m.active, int64(st.Active), m.base)
		o.ObserveInt64(m.opened, st.Opened, m.base)
		o.ObserveInt64(m.refused, st.Overloaded, m.overloadedAttrs)
		o.ObserveInt64(m.refused, st.Refused-st.Overloaded, m.admitAttrs)
		o.ObserveInt64(m.failed, st.Failed, m.base)
		for name, n := range st.Closed {
			o.ObserveInt64(m.closed, n, m.reasonOption(name))
		}
		o.ObserveInt64(m.events, st.Events, m.base)
		o.ObserveInt64(m.bytes, st.Bytes, m.base)
		o.ObserveInt64(m.heartbeats, st.Heartbeats, m.base)
		return nil
	}, m.active, m.opened, m.refused, m.failed, m.closed, m.events, m.bytes, m.heartbeats)
	if err != nil {
		return err
	}
	m.reg = reg
	return nil
}

// reasonOption returns the attributes of sse.server.sessions.closed for a
// reason name, made once per name.
func (m *EndpointMetrics) reasonOption(name string) metric.MeasurementOption {
	if o, ok := m.reasonAttrs.Load(name); ok {
		return o.(metric.MeasurementOption)
	}
	o, _ := m.reasonAttrs.LoadOrStore(name, attrs(m.opts.Attributes, CloseReasonKey.String(name)))
	return o.(metric.MeasurementOption)
}

// Close stops observing the endpoint: its counts are no longer reported.
// OnClose still records. Close is idempotent.
func (m *EndpointMetrics) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reg == nil {
		return nil
	}
	err := m.reg.Unregister()
	m.reg = nil
	return err
}
