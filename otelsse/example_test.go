package otelsse_test

import (
	"context"
	"fmt"
	"net/http"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/ssekit/ssekit/hub"
	"github.com/ssekit/ssekit/lifecycle"
	"github.com/ssekit/ssekit/nethttpadapter"
	"github.com/ssekit/ssekit/otelsse"
)

// An endpoint and a hub report to a MeterProvider: here the SDK's with a
// ManualReader; in a server, one with an OTLP or a Prometheus exporter.
func Example() {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())

	hm, err := otelsse.NewHubMetrics(provider, otelsse.Options{})
	if err != nil {
		panic(err)
	}
	defer hm.Close()
	h := hub.New(hub.NewMemory(hub.Retention{}), hub.Options{OnPublish: hm.OnPublish})
	defer h.Close()
	if err := hm.Observe(h); err != nil {
		panic(err)
	}

	em, err := otelsse.NewEndpointMetrics(provider, otelsse.Options{})
	if err != nil {
		panic(err)
	}
	defer em.Close()
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		return h.Serve(s, "news")
	}, lifecycle.Options{OnClose: em.OnClose})
	if err := em.Observe(ep); err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /news", nethttpadapter.Handler(ep)) // served by your http.Server

	if _, err := h.Publish(context.Background(), "news", hub.Event{Data: []byte("hello")}); err != nil {
		panic(err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		panic(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "sse.hub.events.published" {
			fmt.Println(m.Name, sum.DataPoints[0].Value)
		}
	}
	// Output: sse.hub.events.published 1
}
