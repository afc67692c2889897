package hostile

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ssekit/ssekit/hub"
	"github.com/ssekit/ssekit/lifecycle"
)

// Authorize that panics (in Admit: 500; only in Serve's re-check: the
// session ends, the server lives), Refusals with statuses that are not
// errors (sent as 500, never as a stream or a redirect), on every framework.
func TestAuthorizePanicsAndOddStatuses(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for name, mount := range mounts {
		t.Run(name, func(t *testing.T) {
			var calls atomic.Int64
			h := hub.New(hub.NewMemory(hub.Retention{MaxLen: 10}), hub.Options{
				Logger: quiet,
				Authorize: func(ctx context.Context, r *lifecycle.Request, topic string) error {
					switch topic {
					case "boom":
						panic("authorize exploded")
					case "later":
						if calls.Add(1)%2 == 0 {
							panic("authorize exploded in Serve")
						}
					case "s200":
						return &lifecycle.Refusal{Status: 200, Message: "ok?"}
					case "s302":
						return &lifecycle.Refusal{Status: 302, Header: http.Header{"Location": {"http://evil.example/"}}}
					case "s999":
						return &lifecycle.Refusal{Status: 999}
					case "s0":
						return lifecycle.Refuse(0, "")
					}
					return nil
				},
			})
			defer h.Close()
			topics := func(r *lifecycle.Request) []string { return r.Query()["topic"] }
			ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
				return h.Serve(s, topics(s.Request())...)
			}, lifecycle.Options{Heartbeat: -1, Admit: h.Admit(topics), Logger: quiet})
			m := mount(t, ep)
			defer shutdown(t, m)
			for topic, want := range map[string]int{"boom": 500, "s200": 500, "s302": 500, "s999": 500, "s0": 500, "later": 200} {
				resp, raw := rawGet(t, m.addr, "/events?topic="+topic, "")
				resp.Body.Close()
				if resp.StatusCode != want {
					t.Errorf("%s: %d, want %d: %q", topic, resp.StatusCode, want, raw)
				}
				if want == 500 && strings.Contains(raw, "text/event-stream") {
					t.Errorf("%s: a stream: %q", topic, raw)
				}
			}
			// The server still answers after the panics.
			resp, _ := rawGet(t, m.addr, "/events?topic=boom", "")
			resp.Body.Close()
			if resp.StatusCode != 500 {
				t.Errorf("after panics: %d", resp.StatusCode)
			}
			if ep.Active() != 0 {
				t.Errorf("Active %d", ep.Active())
			}
		})
	}
}
