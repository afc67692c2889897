package otelsse

import (
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// ScopeName is the instrumentation scope of every instrument: the name the
// meters are asked for.
const ScopeName = "github.com/ssekit/ssekit/otelsse"

// Attribute keys. Every value of each is one of a small fixed set.
const (
	// CloseReasonKey is the attribute of sse.server.sessions.closed: a
	// lifecycle.ReasonName ("client-gone", "shutdown", …, "other").
	CloseReasonKey = attribute.Key("sse.close.reason")
	// RefusalReasonKey is the attribute of sse.server.sessions.refused:
	// RefusalOverloaded or RefusalAdmit.
	RefusalReasonKey = attribute.Key("sse.refusal.reason")
	// ResetKindKey is the attribute of sse.hub.resets: hub.ResetGap or
	// hub.ResetUnknownID.
	ResetKindKey = attribute.Key("sse.reset.kind")
	// ErrorTypeKey is set on sse.hub.publish.duration for a failed publish
	// (OpenTelemetry's error.type): ErrorCanceled, ErrorTimeout or
	// ErrorBackend.
	ErrorTypeKey = attribute.Key("error.type")
)

// Values of RefusalReasonKey.
const (
	RefusalOverloaded = "overloaded" // over Options.MaxSessions or MaxSessionsPerKey (lifecycle.ErrOverloaded)
	RefusalAdmit      = "admit"      // refused by Options.Admit (lifecycle.ErrRefused)
)

// Values of ErrorTypeKey.
const (
	ErrorCanceled = "canceled" // Publish's context was canceled
	ErrorTimeout  = "timeout"  // Publish's context reached its deadline
	ErrorBackend  = "backend"  // the backend failed
)

// ErrObserved is returned by Observe when the metrics already observe an
// endpoint or a hub: each observes one, so that two never report the same
// series.
var ErrObserved = errors.New("otelsse: already observing")

// Options configures EndpointMetrics and HubMetrics. The zero value means
// the defaults.
type Options struct {
	// Attributes are added to every measurement. Use them to tell apart
	// several endpoints or hubs reporting to one MeterProvider, such as
	// attribute.String("sse.endpoint", "chat"); each must have a value from
	// a small fixed set, never a topic or a user. Default none.
	Attributes []attribute.KeyValue
}

// attrs returns the measurement option of base plus extra.
func attrs(base []attribute.KeyValue, extra ...attribute.KeyValue) metric.MeasurementOption {
	all := make([]attribute.KeyValue, 0, len(base)+len(extra))
	all = append(all, base...)
	all = append(all, extra...)
	return metric.WithAttributeSet(attribute.NewSet(all...))
}
