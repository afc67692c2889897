package otelsse

import (
	"errors"

	"go.opentelemetry.io/otel/metric"
)

// instruments creates instruments on one meter and keeps their errors for
// err, so that a constructor reads as the list of what it creates.
type instruments struct {
	meter metric.Meter
	errs  []error
}

func (in *instruments) counter(name, unit, desc string) metric.Int64ObservableCounter {
	c, err := in.meter.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	in.errs = append(in.errs, err)
	return c
}

func (in *instruments) gauge(name, unit, desc string) metric.Int64ObservableUpDownCounter {
	g, err := in.meter.Int64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	in.errs = append(in.errs, err)
	return g
}

// histogram is a duration histogram, in seconds.
func (in *instruments) histogram(name, desc string, bounds []float64) metric.Float64Histogram {
	h, err := in.meter.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
		metric.WithExplicitBucketBoundaries(bounds...))
	in.errs = append(in.errs, err)
	return h
}

func (in *instruments) err() error { return errors.Join(in.errs...) }
