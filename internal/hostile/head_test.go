package hostile

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssekit/ssekit/lifecycle"
)

// HEAD refused, then GET refused, then HEAD admitted, then GET refused, on
// one kept-alive connection: no body after a HEAD, every response parses,
// in order.
func TestHeadRefusedKeepAlive(t *testing.T) {
	for name, mount := range mounts {
		t.Run(name, func(t *testing.T) {
			ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error { return nil }, lifecycle.Options{
				Heartbeat: -1,
				Admit: func(ctx context.Context, r *lifecycle.Request) error {
					if r.Query().Get("ok") != "" {
						return nil
					}
					return &lifecycle.Refusal{Status: 403, Message: strings.Repeat("x", 100000)}
				},
			})
			m := mount(t, ep)
			defer shutdown(t, m)
			c, err := net.Dial("tcp", m.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			reqs := []struct {
				method, q string
				status    int
			}{{"HEAD", "a", 403}, {"GET", "b", 403}, {"HEAD", "ok=1", 200}, {"GET", "c", 403}}
			for _, r := range reqs {
				fmt.Fprintf(c, "%s /events?%s HTTP/1.1\r\nHost: x\r\n\r\n", r.method, r.q)
			}
			br := bufio.NewReader(c)
			for i, r := range reqs {
				resp, err := http.ReadResponse(br, &http.Request{Method: r.method})
				if err != nil {
					t.Fatalf("response %d (%s %s): %v", i, r.method, r.q, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != r.status {
					t.Fatalf("response %d (%s %s): %d, want %d", i, r.method, r.q, resp.StatusCode, r.status)
				}
				if r.method == "GET" && len(body) != 100001 {
					t.Errorf("response %d: body %d bytes", i, len(body))
				}
				if r.status == 200 && resp.Header.Get("Content-Type") != "text/event-stream" {
					t.Errorf("HEAD admitted: %v", resp.Header)
				}
			}
			if got := ep.Stats().Refused; got != 3 {
				t.Errorf("Refused %d, want 3", got)
			}
		})
	}
}
