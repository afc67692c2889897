package ginadapter_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"

	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/internal/sessiontest"
	"github.com/ssekit/ssekit/lifecycle"
)

// gin-contrib/cors and gin.Logger pass the stream through: the CORS
// headers are sent with it, and the logger logs it (status 200) when it
// ends.
func TestCORSAndLogger(t *testing.T) {
	var logs sessiontest.Buffer
	base := mount(t, func(s *lifecycle.Session) error {
		return s.Send(lifecycle.Event{Data: []byte("hello " + s.Request().Param("name"))})
	}, lifecycle.Options{}, conformance.ServerConfig{},
		gin.LoggerWithWriter(&logs),
		cors.New(cors.Config{AllowOrigins: []string{"https://app.example"}, AllowMethods: []string{"GET"}}))
	resp := sessiontest.Get(t, base+"/sse/a", http.Header{"Origin": {"https://app.example"}})
	if data := sessiontest.FirstEvent(t, resp); data != "hello a" {
		t.Errorf("data %q", data)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Errorf("Access-Control-Allow-Origin %q", got)
	}
	io.Copy(io.Discard, resp.Body) // the handler returned: the stream ends
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "/sse/a") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if line := logs.String(); !strings.Contains(line, "200") || !strings.Contains(line, "/sse/a") {
		t.Errorf("gin.Logger wrote %q, want the stream's line with status 200", line)
	}
	// A disallowed origin gets no stream: cors answers 403 before it.
	resp = sessiontest.Get(t, base+"/sse/b", http.Header{"Origin": {"https://evil.example"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("disallowed origin: status %d, want 403", resp.StatusCode)
	}
}

// A panicking handler ends its session with ErrHandlerPanicked (ssekit
// recovers it, so gin.Recovery has nothing to do), and the server goes on
// serving.
func TestRecoveryAndHandlerPanic(t *testing.T) {
	ended := sessiontest.NewEnds()
	var logs sessiontest.Buffer
	base := mount(t, func(s *lifecycle.Session) error {
		if s.Request().Param("name") == "panic" {
			panic("handler bug")
		}
		return hello(s)
	}, ended.Hook(lifecycle.Options{}), conformance.ServerConfig{}, gin.RecoveryWithWriter(&logs))
	resp := sessiontest.Get(t, base+"/sse/panic", nil)
	io.Copy(io.Discard, resp.Body)
	if ci := ended.Next(t, 5*time.Second); !errors.Is(ci.Reason, lifecycle.ErrHandlerPanicked) {
		t.Errorf("reason %v, want ErrHandlerPanicked", ci.Reason)
	}
	if data := sessiontest.FirstEvent(t, sessiontest.Get(t, base+"/sse/after", nil)); data != "hello after" {
		t.Errorf("after the panic: %q", data)
	}
}
