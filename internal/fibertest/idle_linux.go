//go:build linux

package fibertest

import (
	"bufio"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ssekit/ssekit/internal/sessiontest"
	"github.com/ssekit/ssekit/lifecycle"
)

// idleScenarios are the scenarios that need Linux's shared disconnect
// watch.
var idleScenarios = []scenario{
	{"IdleStreamsCostOneGoroutineEach", testIdleStreamsCostOneGoroutineEach},
}

// On Linux an idle stream costs one goroutine (the hijacked connection's,
// which runs the handler): the disconnect watch is shared. The streams still
// end promptly when their clients leave.
func testIdleStreamsCostOneGoroutineEach(t *testing.T, f Framework) {
	const n = 100
	ended := sessiontest.NewEnds()
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		if err := s.Send(lifecycle.Event{Data: []byte("ready")}); err != nil {
			return err
		}
		<-s.Done()
		return nil
	}, ended.Hook(lifecycle.Options{Heartbeat: -1}))
	app := f.New(Config{}, Routes{SSE: ep})
	addr := strings.TrimPrefix(startApp(t, f, app), "http://")

	open := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET /sse/idle HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the stream: %v", err)
			}
			if strings.HasPrefix(line, "data: ready") {
				return c
			}
		}
	}
	open().Close() // warm up the server's worker pool and the poller
	ended.Next(t, 5*time.Second)
	time.Sleep(100 * time.Millisecond) // idle workers expire (MaxIdleWorkerDuration 50 ms)
	before := runtime.NumGoroutine()
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = open()
	}
	time.Sleep(100 * time.Millisecond)
	perStream := float64(runtime.NumGoroutine()-before) / n
	// A reader goroutine per stream would make this 2.
	if perStream > 1.2 {
		t.Errorf("%.2f goroutines per idle stream, want 1", perStream)
	}
	for _, c := range conns {
		c.Close()
	}
	for range conns {
		ended.Next(t, 5*time.Second)
	}
}
