package lifecycle_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/ssekit/ssekit/lifecycle"
)

// lockedBuffer is a bytes.Buffer safe for the goroutines that log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// With no Options.Logger, a panicking handler is reported through the slog
// default logger, even one set after NewEndpoint: defaults are loud.
func TestDefaultLoggerIsSlogDefault(t *testing.T) {
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		var m map[string]int
		//lint:ignore SA5000 the bug under test: a nil map write, as real bugs do
		m["boom"]++
		return nil
	}, lifecycle.Options{Heartbeat: -1})

	var out lockedBuffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&out, nil)))
	defer slog.SetDefault(old)

	m, done := serve(t, ep)
	wait(t, done, "Serve returns after the panic")
	_ = m
	if got := out.String(); !strings.Contains(got, "level=ERROR") || !strings.Contains(got, "handler panicked") {
		t.Errorf("default logger got %q, want the panic as an error", got)
	}

	// Silence is an explicit choice.
	out.mu.Lock()
	out.b.Reset()
	out.mu.Unlock()
	quiet := lifecycle.NewEndpoint(func(*lifecycle.Session) error { panic(errors.New("quiet")) },
		lifecycle.Options{Heartbeat: -1, Logger: slog.New(slog.DiscardHandler)})
	_, done = serve(t, quiet)
	wait(t, done, "Serve returns after the panic")
	if got := out.String(); got != "" {
		t.Errorf("a discarding Logger still logged %q", got)
	}
}
