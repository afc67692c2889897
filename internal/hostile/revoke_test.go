package hostile

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/hub"
	"github.com/ssekit/ssekit/lifecycle"
)

// A user reads a private topic, loses access, and reconnects with its
// Last-Event-ID (header, then the query fallback): the reconnect is refused
// with 403 and nothing published meanwhile is replayed to it.
func TestRevokedTopicNotReplayedOnReconnect(t *testing.T) {
	for name, mount := range mounts {
		t.Run(name, func(t *testing.T) {
			var revoked atomic.Bool
			h := hub.New(hub.NewMemory(hub.Retention{MaxLen: 100}), hub.Options{
				Authorize: func(ctx context.Context, r *lifecycle.Request, topic string) error {
					if revoked.Load() {
						return hub.ErrForbidden
					}
					return nil
				},
			})
			defer h.Close()
			topics := func(r *lifecycle.Request) []string { return r.Query()["topic"] }
			ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
				return h.Serve(s, topics(s.Request())...)
			}, lifecycle.Options{Heartbeat: -1, Admit: h.Admit(topics), LastEventIDParam: "lastEventId"})
			m := mount(t, ep)
			defer shutdown(t, m)
			c, err := net.Dial("tcp", m.addr)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, "GET /events?topic=secret HTTP/1.1\r\nHost: x\r\n\r\n")
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("first stream: %v %v", resp, err)
			}
			for deadline := time.Now().Add(5 * time.Second); h.Stats().Subscribers["secret"] == 0; {
				if time.Now().After(deadline) {
					t.Fatal("never subscribed")
				}
				time.Sleep(5 * time.Millisecond)
			}
			_, err = h.Publish(context.Background(), "secret", hub.Event{Data: []byte("one")})
			if err != nil {
				t.Fatal(err)
			}
			ev, err := conformance.NewParser(bufio.NewReader(resp.Body)).Next()
			if err != nil || ev.Data != "one" {
				t.Fatalf("first event %+v %v", ev, err)
			}
			c.Close()
			revoked.Store(true)
			h.Publish(context.Background(), "secret", hub.Event{Data: []byte("two, after the revocation")})
			for _, extra := range []string{"Last-Event-ID: " + ev.LastEventID + "\r\n", ""} {
				path := "/events?topic=secret"
				if extra == "" {
					path += "&lastEventId=" + ev.LastEventID
				}
				resp, raw := rawGet(t, m.addr, path, extra)
				resp.Body.Close()
				if resp.StatusCode != 403 || strings.Contains(raw, "two") {
					t.Errorf("reconnect after revocation: %d %q", resp.StatusCode, raw)
				}
			}
		})
	}
}
