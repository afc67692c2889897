package conformance

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ssekit/ssekit/lifecycle"
)

// waitDone is a handler that sends nothing and returns when the session ends.
func waitDone(s *lifecycle.Session) error {
	<-s.Done()
	return nil
}

// sendThenWait returns a handler that sends evs and waits for the end.
func sendThenWait(evs ...lifecycle.Event) lifecycle.Handler {
	return func(s *lifecycle.Session) error {
		for _, ev := range evs {
			if err := s.Send(ev); err != nil {
				return err
			}
		}
		<-s.Done()
		return nil
	}
}

func responseCases() []testCase {
	return []testCase{
		{
			name: "status-and-headers",
			rule: "WHATWG HTML §9.2 (server-sent events): a stream is served with status 200 and " +
				"Content-Type text/event-stream; ssekit adds Cache-Control: no-cache (no cache may hold " +
				"a stream) and X-Accel-Buffering: no (nginx must not buffer it), and never a Content-Length",
			run: func(c *caseT) {
				srv := c.serve(waitDone, lifecycle.Options{}, ServerConfig{})
				st := srv.connect(srv.url("a", ""), nil)
				h := st.Response.Header
				if got := h.Get("Content-Type"); got != "text/event-stream" {
					c.Errorf("Content-Type = %q, want text/event-stream", got)
				}
				if got := h.Get("Cache-Control"); got != "no-cache" {
					c.Errorf("Cache-Control = %q, want no-cache", got)
				}
				if got := h.Get("X-Accel-Buffering"); got != "no" {
					c.Errorf("X-Accel-Buffering = %q, want no", got)
				}
				if st.Response.ContentLength != -1 || h.Get("Content-Length") != "" {
					c.Errorf("the stream has a Content-Length (%d, %q)", st.Response.ContentLength, h.Get("Content-Length"))
				}
			},
		},
		{
			name: "extra-headers",
			rule: "Options.Header: extra response headers are sent with every stream and override the defaults",
			run: func(c *caseT) {
				opts := lifecycle.Options{Header: http.Header{
					"X-Stream":      {"one", "two"},
					"cache-control": {"no-store"},
				}}
				srv := c.serve(waitDone, opts, ServerConfig{})
				st := srv.connect(srv.url("a", ""), nil)
				if got := st.Response.Header.Values("X-Stream"); strings.Join(got, ",") != "one,two" {
					c.Errorf("X-Stream = %q, want [one two]", got)
				}
				if got := st.Response.Header.Values("Cache-Control"); strings.Join(got, ",") != "no-store" {
					c.Errorf("Cache-Control = %q, want the override no-store only", got)
				}
			},
		},
		{
			name: "headers-before-first-event",
			rule: "ssekit: the status and headers reach the client when the stream opens, before any " +
				"event, so a browser's EventSource fires open at once",
			run: func(c *caseT) {
				srv := c.serve(waitDone, lifecycle.Options{Heartbeat: -1}, ServerConfig{})
				done := make(chan error, 1)
				go func() {
					st, err := Connect(c.ctx, srv.http, srv.url("a", ""), nil)
					if err == nil {
						c.Cleanup(func() { st.Close() })
					}
					done <- err
				}()
				if err := waitFor(c, done, 5*time.Second, "response headers of a silent stream"); err != nil {
					c.Fatal(err)
				}
			},
		},
		{
			name: "events-flushed-promptly",
			rule: "ssekit: Session.Send flushes each event to the client before it returns; nothing " +
				"waits in a buffer for the next event or the end of the response",
			run: func(c *caseT) {
				ack := make(chan struct{})
				srv := c.serve(func(s *lifecycle.Session) error {
					for i := range 5 {
						if err := s.Send(lifecycle.Event{ID: strconv.Itoa(i), Data: []byte("tick")}); err != nil {
							return err
						}
						select {
						case <-ack:
						case <-s.Done():
							return nil
						}
					}
					<-s.Done()
					return nil
				}, lifecycle.Options{Heartbeat: -1}, ServerConfig{})
				st := srv.connect(srv.url("a", ""), nil)
				for i := range 5 {
					ev := c.next(st, 5*time.Second)
					if ev.LastEventID != strconv.Itoa(i) {
						c.Fatalf("event %d has id %q", i, ev.LastEventID)
					}
					ack <- struct{}{}
				}
			},
		},
		{
			name: "retry-hint-first",
			rule: "Options.Retry: the reconnection hint is the first thing in every stream " +
				"(WHATWG: retry field, integer milliseconds)",
			run: func(c *caseT) {
				srv := c.serve(sendThenWait(lifecycle.Event{Data: []byte("x")}),
					lifecycle.Options{Retry: 1500 * time.Millisecond}, ServerConfig{})
				st := srv.connect(srv.url("a", ""), nil)
				prefix := make([]byte, len("retry: 1500\n\n"))
				if _, err := io.ReadFull(st.Response.Body, prefix); err != nil {
					c.Fatalf("reading the stream's first bytes: %v", err)
				}
				if string(prefix) != "retry: 1500\n\n" {
					c.Errorf("stream starts with %q, want %q", prefix, "retry: 1500\n\n")
				}
			},
		},
		{
			name:  "head",
			needs: []Capability{Head},
			rule: "ssekit: HEAD gets the stream's status and headers and no body, and no handler is " +
				"left running (net/http drops body writes for HEAD, so a stream would never end)",
			run: func(c *caseT) {
				ran := make(chan struct{}, 1)
				srv := c.serve(func(s *lifecycle.Session) error {
					ran <- struct{}{}
					<-s.Done()
					return nil
				}, lifecycle.Options{}, ServerConfig{})
				resp, body := srv.do(http.MethodHead, srv.url("a", ""), nil, "")
				if resp.StatusCode != http.StatusOK {
					c.Errorf("HEAD status = %d, want 200", resp.StatusCode)
				}
				if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
					c.Errorf("HEAD Content-Type = %q, want text/event-stream", ct)
				}
				if len(body) != 0 {
					c.Errorf("HEAD response has a body: %q", body)
				}
				select {
				case <-ran:
					c.Errorf("the handler ran for a HEAD request")
				default:
				}
				if n := srv.ep.Active(); n != 0 {
					c.Errorf("%d sessions open after HEAD, want 0", n)
				}
			},
		},
		{
			name:  "http10-close-delimited",
			needs: []Capability{HTTP10},
			rule: "RFC 9112 §6.1, §6.3: an HTTP/1.0 client cannot decode chunked framing; its stream " +
				"is close-delimited, and it ends when the connection closes",
			run: func(c *caseT) {
				srv := c.serve(func(s *lifecycle.Session) error {
					s.Send(lifecycle.Event{ID: "1", Data: []byte("one")})
					s.Send(lifecycle.Event{ID: "2", Data: []byte("two\nlines")})
					return nil
				}, lifecycle.Options{Heartbeat: -1}, ServerConfig{})
				rc := srv.dial()
				rc.request(c, "GET", "/sse/a", "HTTP/1.0", nil, "")
				resp := rc.response(c, "GET", 5*time.Second)
				if te := resp.TransferEncoding; len(te) > 0 {
					c.Errorf("HTTP/1.0 response has Transfer-Encoding %q", te)
				}
				rc.SetReadDeadline(time.Now().Add(5 * time.Second))
				body, err := io.ReadAll(resp.Body)
				if err != nil {
					c.Fatalf("reading the HTTP/1.0 body to the connection's close: %v", err)
				}
				evs := parseAll(c, body)
				want := []Event{{"message", "one", "1"}, {"message", "two\nlines", "2"}}
				if !slices.Equal(evs, want) {
					c.Errorf("HTTP/1.0 events = %+v, want %+v", evs, want)
				}
			},
		},
		{
			name:  "pipelined-request-untouched",
			needs: []Capability{Pipelining},
			rule: "RFC 9112 §9.3.2, §9.6: a request pipelined behind the stream's request is never lost " +
				"silently nor mixed into the stream: it is answered after the stream ends, or, if the " +
				"stream announced Connection: close, left unanswered on that connection for the client " +
				"to send again on a new one",
			run: func(c *caseT) {
				srv := c.serve(func(s *lifecycle.Session) error {
					s.Send(lifecycle.Event{Data: []byte("for " + s.Request().Param("name"))})
					return nil
				}, lifecycle.Options{Heartbeat: -1}, ServerConfig{})
				rc := srv.dial()
				req := "GET /sse/first HTTP/1.1\r\nHost: x\r\n\r\nGET /sse/second HTTP/1.1\r\nHost: x\r\n\r\n"
				if _, err := rc.Write([]byte(req)); err != nil {
					c.Fatal(err)
				}
				for _, name := range []string{"first", "second"} {
					resp := rc.response(c, "GET", 5*time.Second)
					rc.SetReadDeadline(time.Now().Add(5 * time.Second))
					body, err := io.ReadAll(resp.Body)
					if err != nil {
						c.Fatalf("reading the response to %s: %v", name, err)
					}
					evs := parseAll(c, body)
					if want := []Event{{"message", "for " + name, ""}}; !slices.Equal(evs, want) {
						c.Errorf("response to %s: events %+v, want %+v", name, evs, want)
					}
					if !resp.Close {
						continue
					}
					// The server closes after this response: nothing more may
					// come on the connection, and the unanswered request
					// works on a new one.
					if rest, err := io.ReadAll(rc.r); len(rest) > 0 || err != nil {
						c.Fatalf("after a response announcing Connection: close: %q, %v; want the close", rest, err)
					}
					if name == "second" {
						break
					}
					rc = srv.dial()
					rc.request(c, "GET", "/sse/second", "HTTP/1.1", nil, "")
				}
			},
		},
		{
			name: "body-too-large",
			rule: "Options.MaxBodySize: a request body over the limit is answered 413 before any " +
				"stream opens, and the handler does not run",
			run: func(c *caseT) {
				ran := make(chan struct{}, 1)
				srv := c.serve(func(s *lifecycle.Session) error {
					ran <- struct{}{}
					return nil
				}, lifecycle.Options{MaxBodySize: 1024}, ServerConfig{})
				resp, _ := srv.do(http.MethodPost, srv.url("a", ""), nil, strings.Repeat("x", 4096))
				if resp.StatusCode != http.StatusRequestEntityTooLarge {
					c.Errorf("status = %d, want 413", resp.StatusCode)
				}
				select {
				case <-ran:
					c.Errorf("the handler ran for an oversized body")
				default:
				}
			},
		},
	}
}

// parseAll parses a whole stream body.
func parseAll(c *caseT, body []byte) []Event {
	c.Helper()
	p := NewParser(strings.NewReader(string(body)))
	var evs []Event
	for {
		ev, err := p.Next()
		if errors.Is(err, io.EOF) {
			return evs
		}
		if err != nil {
			c.Fatalf("parsing: %v", err)
		}
		evs = append(evs, ev)
	}
}
