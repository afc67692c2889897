package hub_test

import (
	"testing"

	"github.com/ssekit/ssekit/hub"
	"github.com/ssekit/ssekit/hub/hubtest"
)

func TestMemoryBackend(t *testing.T) {
	hubtest.Run(t, func(t *testing.T, r hub.Retention) hub.Backend { return hub.NewMemory(r) })
}
