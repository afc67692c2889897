package hostile

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssekit/ssekit/hub"
	"github.com/ssekit/ssekit/lifecycle"
)

// hub.Admit echoes the client's topic name into the text/plain body of a
// refusal; without X-Content-Type-Options: nosniff a browser that sniffs
// may render it as HTML.
func TestRefusalEchoesTopicWithoutNosniff(t *testing.T) {
	for name, mount := range mounts {
		t.Run(name, func(t *testing.T) {
			h := hub.New(hub.NewMemory(hub.Retention{MaxLen: 10}), hub.Options{
				Authorize: func(ctx context.Context, r *lifecycle.Request, topic string) error { return hub.ErrForbidden },
			})
			defer h.Close()
			topics := func(r *lifecycle.Request) []string { return r.Query()["topic"] }
			ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error { return nil },
				lifecycle.Options{Heartbeat: -1, Admit: h.Admit(topics)})
			m := mount(t, ep)
			defer shutdown(t, m)
			resp, raw := rawGet(t, m.addr, "/events?topic=%3Chtml%3E%3Cscript%3Ealert(1)%3C/script%3E", "")
			resp.Body.Close()
			if resp.StatusCode != 403 {
				t.Fatalf("%d: %q", resp.StatusCode, raw)
			}
			if strings.Contains(raw, "<script>") && resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("refusal body reflects the client's markup without nosniff:\n%s", raw)
			}
		})
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A client admitted by Hub.Admit that leaves while Serve re-asks Authorize
// (which honours its ctx): Serve logs a warning telling the user to use
// Hub.Admit, which they do; the session merely ended.
func TestServeWarnsWhenSessionEndedDuringReauthorize(t *testing.T) {
	for name, mount := range mounts {
		t.Run(name, func(t *testing.T) {
			var logs syncBuf
			var calls atomic.Int64
			inServe := make(chan struct{}, 1)
			h := hub.New(hub.NewMemory(hub.Retention{MaxLen: 10}), hub.Options{
				Logger: slog.New(slog.NewTextHandler(&logs, nil)),
				Authorize: func(ctx context.Context, r *lifecycle.Request, topic string) error {
					if calls.Add(1) == 1 {
						return nil // Admit
					}
					inServe <- struct{}{}
					select { // Serve's re-check: a slow lookup honouring ctx
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(5 * time.Second):
						return nil
					}
				},
			})
			defer h.Close()
			topics := func(r *lifecycle.Request) []string { return r.Query()["topic"] }
			served := make(chan error, 1)
			ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
				err := h.Serve(s, topics(s.Request())...)
				served <- err
				return err
			}, lifecycle.Options{Heartbeat: -1, Admit: h.Admit(topics)})
			m := mount(t, ep)
			defer shutdown(t, m)
			c, err := net.Dial("tcp", m.addr)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(c, "GET /events?topic=a HTTP/1.1\r\nHost: x\r\n\r\n")
			select {
			case <-inServe:
			case <-time.After(5 * time.Second):
				t.Fatal("Serve never re-asked Authorize")
			}
			c.Close()
			select {
			case err := <-served:
				t.Logf("Serve returned %v", err)
			case <-time.After(8 * time.Second):
				t.Fatal("Serve never returned")
			}
			if strings.Contains(logs.String(), "level=WARN") {
				t.Errorf("a client that left is logged as a misconfiguration:\n%s", logs.String())
			}
		})
	}
}

// A client that leaves while Admit's Authorize waits on its ctx: Admit
// returns ctx.Err(), which is not the application failing to decide; it
// must not be logged as an error (a hostile client could flood the error
// log by connecting and leaving).
func TestClientLeavingDuringAdmitIsNotAnError(t *testing.T) {
	for _, name := range []string{"net/http", "chi", "echo"} { // where the ctx is canceled when the client leaves
		t.Run(name, func(t *testing.T) {
			var logs syncBuf
			entered := make(chan struct{}, 1)
			returned := make(chan struct{})
			h := hub.New(hub.NewMemory(hub.Retention{MaxLen: 10}), hub.Options{
				Authorize: func(ctx context.Context, r *lifecycle.Request, topic string) error {
					entered <- struct{}{}
					defer close(returned)
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(5 * time.Second):
						return nil
					}
				},
			})
			defer h.Close()
			topics := func(r *lifecycle.Request) []string { return r.Query()["topic"] }
			ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error { return nil }, lifecycle.Options{
				Heartbeat: -1, Admit: h.Admit(topics),
				Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			})
			m := mounts[name](t, ep)
			defer shutdown(t, m)
			c, err := net.Dial("tcp", m.addr)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(c, "GET /events?topic=a HTTP/1.1\r\nHost: x\r\n\r\n")
			<-entered
			c.Close()
			<-returned
			for deadline := time.Now().Add(2 * time.Second); ep.Stats().Refused == 0 && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			if strings.Contains(logs.String(), "level=ERROR") {
				t.Errorf("a client leaving during Admit logged as an error:\n%s", logs.String())
			}
		})
	}
}
