package conformance

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ssekit/ssekit/internal/syncbuf"
	"github.com/ssekit/ssekit/lifecycle"
)

func reliabilityCases() []testCase {
	return []testCase{
		{
			name: "overload-cap",
			rule: "Options.MaxSessions and MaxSessionsPerKey: a stream over a cap gets 503 with " +
				"Retry-After before anything of a stream is sent, its handler never runs, OnReject " +
				"sees ErrOverloaded; a session that ends frees its place",
			run: func(c *caseT) {
				rec := newRecorder()
				var mu sync.Mutex
				var rejected []error
				opts := rec.hook(lifecycle.Options{
					Heartbeat:          -1,
					MaxSessions:        3,
					MaxSessionsPerKey:  1,
					SessionKey:         func(r *lifecycle.Request) string { return r.Header.Get("X-User") },
					OverloadRetryAfter: 6500 * time.Millisecond,
					OnReject: func(_ *lifecycle.Request, err error) {
						mu.Lock()
						rejected = append(rejected, err)
						mu.Unlock()
					},
				})
				ran := make(chan string, 16)
				srv := c.serve(func(s *lifecycle.Session) error {
					ran <- s.Request().Header.Get("X-User")
					return waitDone(s)
				}, opts, ServerConfig{})
				user := func(u string) http.Header { return http.Header{"X-User": {u}} }
				open := func(u string) *Stream {
					st := srv.connect(srv.url("a", ""), user(u))
					waitFor(c, ran, 5*time.Second, "the handler of an admitted stream")
					return st
				}
				refused := func(u, why string) {
					c.Helper()
					resp, body := srv.do("GET", srv.url("a", ""), user(u), "")
					if resp.StatusCode != http.StatusServiceUnavailable {
						c.Fatalf("%s: status %d, want 503", why, resp.StatusCode)
					}
					if got := resp.Header.Get("Retry-After"); got != "7" {
						c.Errorf("%s: Retry-After %q, want \"7\" (6.5 s rounded up)", why, got)
					}
					if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/event-stream") {
						c.Errorf("%s: Content-Type %q on a refusal", why, ct)
					}
					if len(body) == 0 {
						c.Errorf("%s: empty body; want a short explanation", why)
					}
				}
				a := open("u1")
				refused("u1", "a second stream for the same key")
				open("u2")
				open("u3")
				refused("u4", "a fourth stream over MaxSessions 3")
				select {
				case u := <-ran:
					c.Fatalf("the handler ran for refused user %q", u)
				default:
				}
				if opens, _ := rec.counts(); opens != 3 {
					c.Errorf("OnOpen called %d times, want 3 (refusals open nothing)", opens)
				}
				mu.Lock()
				if len(rejected) != 2 {
					c.Errorf("OnReject called %d times, want 2", len(rejected))
				}
				for _, err := range rejected {
					if !errors.Is(err, lifecycle.ErrOverloaded) {
						c.Errorf("OnReject reason %v, want ErrOverloaded", err)
					}
				}
				mu.Unlock()
				a.Close()
				rec.waitClose(c, 5*time.Second)
				open("u4") // u1's place is free again
				refused("u1", "MaxSessions reached again")
			},
		},
		{
			name: "max-lifetime",
			rule: "Options.MaxLifetime and LifetimeJitter: a session ends after its lifetime plus a " +
				"random part of the jitter, with ErrLifetime, after a retry hint of 1-2 s; the " +
				"response ends cleanly; sessions opened together end at different times",
			run: func(c *caseT) {
				const lifetime, jitter, n = 400 * time.Millisecond, 300 * time.Millisecond, 8
				rec := newRecorder()
				srv := c.serve(waitDone, rec.hook(lifecycle.Options{
					Heartbeat: 50 * time.Millisecond, MaxLifetime: lifetime, LifetimeJitter: jitter,
				}), ServerConfig{})
				type result struct {
					retry time.Duration
					err   error
				}
				results := make(chan result, n)
				for range n {
					st := srv.connect(srv.url("a", ""), nil)
					go func() {
						_, err := st.Next() // no events: returns at the end of the stream
						results <- result{st.Retry(), err}
					}()
				}
				var durations []time.Duration
				for range n {
					info := rec.waitClose(c, 10*time.Second).Info
					c.wantReason(info.Reason, lifecycle.ErrLifetime)
					// The timer fires no earlier than the lifetime; lateness
					// is the scheduler's, bounded generously.
					if info.Duration < lifetime || info.Duration > lifetime+jitter+2*time.Second {
						c.Errorf("session lasted %v, want %v plus up to %v (and scheduling)", info.Duration, lifetime, jitter)
					}
					durations = append(durations, info.Duration)
				}
				for range n {
					r := waitFor(c, results, 10*time.Second, "the end of a stream")
					if !errors.Is(r.err, io.EOF) {
						c.Errorf("stream ended with %v, want a clean end (io.EOF)", r.err)
					}
					if r.retry < time.Second || r.retry >= 2*time.Second {
						c.Errorf("retry hint %v before the end, want 1 s to 2 s", r.retry)
					}
				}
				slices.Sort(durations)
				if spread := durations[n-1] - durations[0]; spread < 50*time.Millisecond {
					c.Errorf("%d sessions opened together ended within %v of each other: no jitter", n, spread)
				}
			},
		},
		{
			name:    "dead-peer",
			needs:   []Capability{DeadPeer},
			timeout: 60 * time.Second,
			rule: "ssekit + package listener: a client that vanishes with no FIN or RST (a proxy " +
				"stops forwarding both ways and keeps both connections open) is found by heartbeats " +
				"with TCP_USER_TIMEOUT: the session ends with ErrClientGone (or a failed write)",
			run: func(c *caseT) {
				if runtime.GOOS != "linux" {
					c.Skip("TCP_USER_TIMEOUT is Linux-only")
				}
				// On a real dead link the next heartbeat goes unacknowledged
				// and the session ends within Heartbeat + UserTimeout. The
				// proxy cannot drop packets without privileges: its kernel
				// acknowledges the heartbeats until its (smallest possible)
				// receive buffer is full, a few hundred of them, and
				// TCP_USER_TIMEOUT then bounds the window probes that go
				// unanswered with room. Hence the short heartbeat and the
				// generous bound.
				const heartbeat, userTimeout, bound = 20 * time.Millisecond, time.Second, 30 * time.Second
				rec := newRecorder()
				srv := c.serve(func(s *lifecycle.Session) error {
					s.Send(lifecycle.Event{Data: []byte("ready")})
					<-s.Done()
					return nil
				}, rec.hook(lifecycle.Options{Heartbeat: heartbeat}), ServerConfig{UserTimeout: userTimeout})
				p, err := newProxy(strings.TrimPrefix(srv.base, "http://"))
				if err != nil {
					c.Fatal(err)
				}
				c.Cleanup(p.close)
				st := srv.connect("http://"+p.addr()+"/sse/a", nil)
				c.next(st, 5*time.Second)
				p.pull()
				pulled := time.Now()
				info := rec.waitClose(c, bound).Info
				if !errors.Is(info.Reason, lifecycle.ErrClientGone) && !errors.Is(info.Reason, lifecycle.ErrWriteFailed) {
					c.Errorf("close reason = %v, want ErrClientGone or ErrWriteFailed", info.Reason)
				}
				c.Logf("dead peer found %v after the link went dead", time.Since(pulled).Round(time.Millisecond))
			},
		},
		{
			name: "panics-isolated",
			rule: "ssekit: a panic in a handler, OnOpen or OnClose is recovered and logged with its " +
				"value; the panicking handler's session ends with ErrHandlerPanicked; a panicking " +
				"hook changes nothing else; other sessions keep receiving on time",
			run: func(c *caseT) {
				var log syncbuf.Buffer
				rec := newRecorder()
				logger := slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelError}))
				opts := rec.hook(lifecycle.Options{Heartbeat: -1, Logger: logger})
				onOpen, onClose := opts.OnOpen, opts.OnClose
				opts.OnOpen = func(s *lifecycle.Session) {
					onOpen(s)
					if s.Request().Param("name") == "open-panics" {
						panic("open-boom")
					}
				}
				opts.OnClose = func(s *lifecycle.Session, info lifecycle.CloseInfo) {
					onClose(s, info)
					if s.Request().Param("name") == "close-panics" {
						panic("close-boom")
					}
				}
				srv := c.serve(func(s *lifecycle.Session) error {
					switch s.Request().Param("name") {
					case "bystander":
						for i := 0; ; i++ {
							if err := s.Send(lifecycle.Event{ID: strconv.Itoa(i)}); err != nil {
								return nil
							}
							time.Sleep(10 * time.Millisecond)
						}
					case "handler-panics":
						s.Send(msg("before"))
						panic("handler-boom")
					}
					s.Send(msg("fine"))
					return nil
				}, opts, ServerConfig{})

				by := srv.connect(srv.url("bystander", ""), nil)
				gaps := make(chan time.Duration, 1)
				go func() {
					var worst time.Duration
					last := time.Now()
					for i := 0; i < 150; i++ { // about 1.5 s of events
						if _, err := by.Next(); err != nil {
							break
						}
						worst = max(worst, time.Since(last))
						last = time.Now()
					}
					gaps <- worst
				}()
				for _, name := range []string{"handler-panics", "open-panics", "close-panics"} {
					st := srv.connect(srv.url(name, ""), nil)
					ev := c.next(st, 10*time.Second)
					info := rec.waitClose(c, 5*time.Second).Info
					if name == "handler-panics" {
						c.wantReason(info.Reason, lifecycle.ErrHandlerPanicked)
						if !strings.Contains(fmt.Sprint(info.Reason), "handler-boom") {
							c.Errorf("reason %v does not carry the panic value", info.Reason)
						}
						continue
					}
					if ev.Data != "fine" {
						c.Errorf("%s: the handler's event %s, want fine: a hook's panic changed the session", name, show(ev))
					}
					c.wantReason(info.Reason, lifecycle.ErrHandlerReturned)
				}
				if worst := waitFor(c, gaps, 20*time.Second, "the bystander's events"); worst > 2*time.Second {
					c.Errorf("the bystander session waited %v between two events while others panicked", worst)
				}
				logged := log.String()
				for _, v := range []string{"handler-boom", "open-boom", "close-boom"} {
					if !strings.Contains(logged, v) {
						c.Errorf("panic %q not logged; error log:\n%s", v, logged)
					}
				}
				if ev := c.next(srv.connect(srv.url("after", ""), nil), 10*time.Second); ev.Data != "fine" {
					c.Errorf("after the panics: %s", show(ev))
				}
			},
		},
	}
}
