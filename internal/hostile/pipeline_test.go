package hostile

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssekit/ssekit/hub"
	"github.com/ssekit/ssekit/lifecycle"
)

// 1,000 refused requests pipelined on one kept-alive connection: every one
// gets its own refusal, in order; Stats().Refused and OnReject count each
// once; nothing leaks (goleak in TestMain) once the server is shut down.
func TestPipelinedRefusalsOneConnection(t *testing.T) {
	const n = 1000
	for name, mount := range mounts {
		t.Run(name, func(t *testing.T) {
			h := hub.New(hub.NewMemory(hub.Retention{MaxLen: 10}), hub.Options{
				MaxTopics: 2,
				Authorize: func(ctx context.Context, r *lifecycle.Request, topic string) error {
					if u, _ := ctx.Value(userKey{}).(string); topic == "user:"+u {
						return nil
					}
					return hub.ErrForbidden
				},
			})
			defer h.Close()
			topics := func(r *lifecycle.Request) []string { return r.Query()["topic"] }
			var rejected atomic.Int64
			ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
				return h.Serve(s, topics(s.Request())...)
			}, lifecycle.Options{Heartbeat: -1, Admit: h.Admit(topics),
				OnReject: func(r *lifecycle.Request, err error) { rejected.Add(1) }})
			m := mount(t, ep)
			defer shutdown(t, m)
			c, err := net.Dial("tcp", m.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			// Four kinds of refusal in turn: forbidden, empty, too many, invalid.
			paths := []string{
				"/events?topic=user:bob",
				"/events?topic=",
				"/events?topic=a&topic=b&topic=c",
				"/events?topic=%C3",
			}
			want := []int{403, 400, 400, 400}
			go func() {
				var buf bytes.Buffer
				for i := range n {
					fmt.Fprintf(&buf, "GET %s&i=%d HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ann\r\n\r\n", paths[i%4], i)
					if buf.Len() > 16<<10 {
						c.Write(buf.Bytes())
						buf.Reset()
					}
				}
				c.Write(buf.Bytes())
			}()
			br := bufio.NewReader(c)
			for i := range n {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("response %d: %v", i, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != want[i%4] {
					t.Fatalf("response %d: %d %q, want %d", i, resp.StatusCode, body, want[i%4])
				}
				if i%4 == 0 && !strings.Contains(string(body), "user:bob") {
					t.Fatalf("response %d: %q", i, body)
				}
			}
			if got := ep.Stats().Refused; got != n {
				t.Errorf("Stats().Refused = %d, want %d", got, n)
			}
			if got := rejected.Load(); got != n {
				t.Errorf("OnReject called %d times, want %d", got, n)
			}
			if ep.Active() != 0 {
				t.Errorf("Active %d after refusals only", ep.Active())
			}
		})
	}
}
