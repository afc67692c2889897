package hostile

import (
	"net/url"
	"strings"
	"testing"

	"github.com/ssekit/ssekit/hub"
	"github.com/ssekit/ssekit/lifecycle"
)

// Topic tricks from a hostile client, on every framework: each gets the
// same status everywhere, and an admitted one a real stream.
func TestTopicTricks(t *testing.T) {
	long := strings.Repeat("a", hub.DefaultMaxTopicLen)
	many := make([]string, 10000)
	for i := range many {
		many[i] = "topic=t" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + "_" + string(rune('a'+i/26%26))
	}
	dups := strings.Repeat("topic=a&", 500) + "topic=b&topic=c&topic=d"
	cases := []struct {
		name, query string
		status      int
	}{
		{"exactly at the length limit", "topic=" + long, 200},
		{"one byte over", "topic=" + long + "b", 400},
		{"multibyte straddling the limit", "topic=" + long[:255] + "%C3%A9", 400},
		{"duplicates dedupe to MaxTopics", dups, 200},
		{"five distinct", "topic=a&topic=b&topic=c&topic=d&topic=e", 400},
		{"10,000 topics", strings.Join(many[:2000], "&"), 400},
		{"NUL", "topic=a%00b", 400},
		{"C1 NEL", "topic=a%C2%85b", 400},
		{"DEL", "topic=a%7Fb", 400},
		{"tab", "topic=a%09b", 400},
		{"lone lead byte", "topic=a%C3", 400},
		{"surrogate half", "topic=%ED%A0%80", 400},
		{"overlong slash", "topic=%C0%AF", 400},
		{"valid split encodings", "topic=%C3%A9", 200},
		{"plus is a space", "topic=a+b", 200},
		{"empty among valid", "topic=a&topic=", 400},
		{"no topic at all", "x=1", 400},
		{"bad escape skipped, rest valid", "topic=%zz&topic=a", 200},
	}
	for name, mount := range mounts {
		t.Run(name, func(t *testing.T) {
			h := hub.New(hub.NewMemory(hub.Retention{MaxLen: 10}), hub.Options{MaxTopics: 4})
			defer h.Close()
			topics := func(r *lifecycle.Request) []string { return r.Query()["topic"] }
			ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
				return nil // end at once after opening: admission is what is tested
			}, lifecycle.Options{Heartbeat: -1, Admit: h.Admit(topics)})
			m := mount(t, ep)
			defer shutdown(t, m)
			for _, c := range cases {
				resp, raw := rawGet(t, m.addr, "/events?"+c.query, "")
				resp.Body.Close()
				if resp.StatusCode == 431 || resp.StatusCode == 414 {
					t.Logf("%s: %d from the framework (request line too long)", c.name, resp.StatusCode)
					continue
				}
				if resp.StatusCode != c.status {
					if len(raw) > 300 {
						raw = raw[:300]
					}
					q, _ := url.ParseQuery(c.query)
					t.Errorf("%s (%d topics): %d, want %d: %q", c.name, len(q["topic"]), resp.StatusCode, c.status, raw)
				}
			}
		})
	}
}
