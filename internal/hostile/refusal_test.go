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

func rawGet(t *testing.T, addr, path string, extra string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n", path, extra)
	raw, _ := io.ReadAll(c)
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(raw))), nil)
	if err != nil {
		t.Fatalf("%v: %q", err, raw)
	}
	return resp, string(raw)
}

// A Refusal's header values and keys come from the application, which may
// copy client input into them (a realm, a redirect hint, an error detail):
// CR or LF in them must never split the response into new header lines.
func TestRefusalHeaderInjection(t *testing.T) {
	for name, mount := range mounts {
		t.Run(name, func(t *testing.T) {
			ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error { return nil }, lifecycle.Options{
				Heartbeat: -1,
				Admit: func(ctx context.Context, r *lifecycle.Request) error {
					return &lifecycle.Refusal{Status: 401, Message: "no\r\nSet-Cookie: body=1",
						Header: http.Header{
							"WWW-Authenticate":          {`Bearer realm="` + r.Query().Get("realm") + `"`},
							"X-Evil\r\nSet-Cookie: k=1": {"v"},
						}}
				},
			})
			m := mount(t, ep)
			defer shutdown(t, m)
			resp, raw := rawGet(t, m.addr, "/events?realm=a%0D%0ASet-Cookie:%20pwned=1", "")
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Errorf("status %d, want 401: %q", resp.StatusCode, raw)
			}
			if c := resp.Header.Values("Set-Cookie"); len(c) != 0 {
				t.Errorf("response splitting: Set-Cookie %q injected through a Refusal header:\n%s", c, raw)
			}
		})
	}
}

// A careless Refusal.Header that names a framing header (Content-Length,
// Transfer-Encoding) must not desynchronize a kept-alive connection: the
// next response on it must still parse as the next response.
func TestRefusalFramingHeadersKeepAlive(t *testing.T) {
	for _, hdr := range []http.Header{
		{"Content-Length": {"0"}},
		{"Content-Length": {"100"}},
		{"Transfer-Encoding": {"chunked"}},
		{"Connection": {"keep-alive"}},
	} {
		for name, mount := range mounts {
			t.Run(fmt.Sprint(name, hdr), func(t *testing.T) {
				ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error { return nil }, lifecycle.Options{
					Heartbeat: -1,
					Admit: func(ctx context.Context, r *lifecycle.Request) error {
						return &lifecycle.Refusal{Status: 403, Message: "refused " + r.Query().Get("n"), Header: hdr}
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
				fmt.Fprintf(c, "GET /events?n=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /events?n=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
				br := bufio.NewReader(c)
				for i := 1; i <= 2; i++ {
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						t.Fatalf("response %d: %v", i, err)
					}
					body, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 403 || string(body) != fmt.Sprintf("refused %d\n", i) {
						t.Errorf("response %d: %d %q (%v), want 403 %q", i, resp.StatusCode, body, err, fmt.Sprintf("refused %d\n", i))
						return
					}
				}
			})
		}
	}
}
