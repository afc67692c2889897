package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ssekit/ssekit/lifecycle"
)

// echoLastID is a handler that sends its LastEventID as both data and ID, the
// way a careless resuming handler would.
func echoLastID(s *lifecycle.Session) error {
	id := s.LastEventID()
	if err := s.Send(lifecycle.Event{ID: id, Data: []byte("last=" + id)}); err != nil {
		return err
	}
	<-s.Done()
	return nil
}

// view is what a handler reports of its Request.
type view struct {
	Method, Path, Param, Remote, Proto, Body string
	Query                                    map[string][]string
	Header                                   string
}

func viewOf(s *lifecycle.Session) view {
	r := s.Request()
	return view{
		Method: r.Method, Path: r.Path, Param: r.Param("name"), Remote: r.RemoteAddr,
		Proto: r.Proto, Body: string(r.Body), Query: r.Query(), Header: r.Header.Get("X-Test"),
	}
}

// sendView is a handler that sends viewOf(s) as JSON.
func sendView(s *lifecycle.Session) error {
	b, err := json.Marshal(viewOf(s))
	if err != nil {
		return err
	}
	if err := s.Send(lifecycle.Event{Data: b}); err != nil {
		return err
	}
	<-s.Done()
	return nil
}

func decodeView(c *caseT, ev Event) view {
	c.Helper()
	var v view
	if err := json.Unmarshal([]byte(ev.Data), &v); err != nil {
		c.Fatalf("decoding the handler's view %q: %v", ev.Data, err)
	}
	return v
}

func requestCases() []testCase {
	lastID := func(name, rule string, opts lifecycle.Options, query string, header http.Header, want string) testCase {
		return testCase{name: name, rule: rule, run: func(c *caseT) {
			opts.Heartbeat = -1
			srv := c.serve(echoLastID, opts, ServerConfig{})
			st := srv.connect(srv.url("a", query), header)
			if ev := c.next(st, 10*time.Second); ev.Data != "last="+want {
				c.Errorf("handler saw %q, want LastEventID %q", ev.Data, want)
			}
		}}
	}
	return []testCase{
		lastID("last-event-id-header",
			"WHATWG §9.2.4: a reconnecting EventSource sends the last event ID in the Last-Event-ID header",
			lifecycle.Options{}, "", http.Header{"Last-Event-Id": {"17"}}, "17"),
		lastID("last-event-id-query",
			"ssekit: without the header, the ID is read from the lastEventId query parameter (an "+
				"EventSource cannot set headers on its first connection)",
			lifecycle.Options{}, "lastEventId=18", nil, "18"),
		lastID("last-event-id-query-custom",
			"Options.LastEventIDParam names the query parameter",
			lifecycle.Options{LastEventIDParam: "since"}, "since=19&lastEventId=0", nil, "19"),
		lastID("last-event-id-query-off",
			"Options.LastEventIDParam \"-\" turns the query fallback off",
			lifecycle.Options{LastEventIDParam: "-"}, "lastEventId=20", nil, ""),
		lastID("last-event-id-header-wins",
			"ssekit: the Last-Event-ID header, which the browser maintains, wins over the query parameter",
			lifecycle.Options{}, "lastEventId=21", http.Header{"Last-Event-Id": {"22"}}, "22"),
		{
			name: "admit-refuses-before-the-stream",
			rule: "Options.Admit: a refused stream gets the Refusal's status, headers and text body (403 for " +
				"any other error) before anything of a stream is sent; its handler does not run, OnReject " +
				"sees ErrRefused; an admitted stream opens as usual",
			run: func(c *caseT) {
				ran := make(chan string, 8)
				rejected := make(chan error, 8)
				srv := c.serve(func(s *lifecycle.Session) error {
					ran <- s.Request().Param("name")
					return s.Send(msg("welcome"))
				}, lifecycle.Options{
					Heartbeat: -1,
					Admit: func(_ context.Context, r *lifecycle.Request) error {
						switch r.Param("name") {
						case "anonymous":
							return &lifecycle.Refusal{Status: http.StatusUnauthorized, Message: "log in first",
								Header: http.Header{"Www-Authenticate": {"Bearer"}}}
						case "elsewhere":
							return lifecycle.Refuse(http.StatusNotFound, "no such room")
						case "broken":
							return errors.New("the permission service is down")
						}
						return nil
					},
					OnReject: func(_ *lifecycle.Request, why error) { rejected <- why },
				}, ServerConfig{})
				for _, want := range []struct {
					name, body, auth string
					status           int
				}{
					{"anonymous", "log in first\n", "Bearer", http.StatusUnauthorized},
					{"elsewhere", "no such room\n", "", http.StatusNotFound},
					{"broken", "Forbidden\n", "", http.StatusForbidden},
				} {
					resp, body := srv.do(http.MethodGet, srv.url(want.name, ""), nil, "")
					if resp.StatusCode != want.status || string(body) != want.body ||
						resp.Header.Get("Www-Authenticate") != want.auth ||
						strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
						c.Errorf("%s: %d %q %v, want %d %q WWW-Authenticate %q and no stream",
							want.name, resp.StatusCode, body, resp.Header, want.status, want.body, want.auth)
					}
					if why := waitFor(c, rejected, 10*time.Second, "OnReject"); !errors.Is(why, lifecycle.ErrRefused) {
						c.Errorf("%s: OnReject got %v, want ErrRefused", want.name, why)
					}
				}
				if head, _ := srv.do(http.MethodHead, srv.url("anonymous", ""), nil, ""); head.StatusCode != http.StatusUnauthorized {
					c.Errorf("HEAD of a refused stream: %d, want 401", head.StatusCode)
				}
				st := srv.connect(srv.url("member", ""), nil)
				if ev := c.next(st, 10*time.Second); ev.Data != "welcome" {
					c.Errorf("admitted stream: %s", show(ev))
				}
				if got := waitFor(c, ran, 10*time.Second, "the admitted handler"); got != "member" || len(ran) != 0 {
					c.Errorf("the handler ran for %q (and %d more), want only member", got, len(ran))
				}
			},
		},
		{
			name:  "middleware-values",
			needs: []Capability{MiddlewareValues},
			rule: "ssekit: what the framework's own middleware attaches to the request (Fiber's Locals, " +
				"Echo's c.Set, a request context value) is in Session.Context, in the handler and in OnClose, " +
				"in Options.Admit's context and in Request.Context for SessionKey",
			run: func(c *caseT) {
				values := map[string]any{"ssekit.test.user": "u-42", "ssekit.test.roles": "admin,ops"}
				lookup := func(ctx context.Context) map[string]any {
					seen := make(map[string]any)
					for k := range values {
						seen[k] = ctx.Value(k)
					}
					return seen
				}
				admitSaw, closeSaw := make(chan map[string]any, 1), make(chan map[string]any, 1)
				keySaw := make(chan map[string]any, 1)
				opts := lifecycle.Options{
					Heartbeat:         -1,
					MaxSessionsPerKey: 10,
					SessionKey: func(r *lifecycle.Request) string {
						keySaw <- lookup(r.Context())
						return "k"
					},
					Admit: func(ctx context.Context, _ *lifecycle.Request) error {
						admitSaw <- lookup(ctx)
						return nil
					},
					OnClose: func(s *lifecycle.Session, _ lifecycle.CloseInfo) { closeSaw <- lookup(s.Context()) },
				}
				srv := c.serve(func(s *lifecycle.Session) error {
					seen := make(map[string]any)
					for k := range values {
						seen[k] = s.Context().Value(k)
					}
					b, _ := json.Marshal(seen)
					return s.Send(lifecycle.Event{Data: b})
				}, opts, ServerConfig{Values: values})
				st := srv.connect(srv.url("a", ""), nil)
				for k, v := range waitFor(c, admitSaw, 10*time.Second, "Admit") {
					if v != values[k] {
						c.Errorf("Admit: ctx.Value(%q) = %v, want %v", k, v, values[k])
					}
				}
				for k, v := range waitFor(c, keySaw, 10*time.Second, "SessionKey") {
					if v != values[k] {
						c.Errorf("SessionKey: Request.Context().Value(%q) = %v, want %v", k, v, values[k])
					}
				}
				ev := c.next(st, 10*time.Second)
				var seen map[string]any
				if err := json.Unmarshal([]byte(ev.Data), &seen); err != nil {
					c.Fatalf("decoding %q: %v", ev.Data, err)
				}
				closed := waitFor(c, closeSaw, 10*time.Second, "OnClose")
				for k, want := range values {
					if seen[k] != want {
						c.Errorf("handler: Session.Context().Value(%q) = %v, want %v", k, seen[k], want)
					}
					if got := closed[k]; got != want {
						c.Errorf("OnClose: Session.Context().Value(%q) = %v, want %v", k, got, want)
					}
				}
			},
		},
		{
			name: "last-event-id-hostile",
			rule: "ssekit: a Last-Event-ID no stream could have sent (64 KiB, invalid UTF-8, NUL, CR or LF) " +
				"is treated as absent: no crash, and never echoed raw into the stream",
			run: func(c *caseT) {
				srv := c.serve(echoLastID, lifecycle.Options{Heartbeat: -1}, ServerConfig{})
				hostile := map[string]string{
					"64KiB":        strings.Repeat("A", 64<<10),
					"invalid-utf8": "\xff\xfe\xc3",
					"nul":          "1\x00evil",
					"crlf":         "1\r\nevent: evil\r\ndata: injected",
					"lf":           "1\n\ndata: injected",
				}
				for name, value := range hostile {
					srv.checkHostile(name, "lastEventId="+url.QueryEscape(value), nil, value)
					if validHeaderValue(value) {
						srv.checkHostile(name+"-header", "", http.Header{"Last-Event-Id": {value}}, value)
					}
				}
				// The server still serves an ordinary stream afterwards.
				st := srv.connect(srv.url("a", "lastEventId=ok"), nil)
				if ev := c.next(st, 10*time.Second); ev.Data != "last=ok" {
					c.Errorf("after hostile requests, handler saw %q, want last=ok", ev.Data)
				}
			},
		},
		{
			name:  "request-view",
			needs: []Capability{RouteParams},
			rule: "ssekit: the session's Request carries the method, path, query, headers, route " +
				"parameters, protocol and remote address of the request that opened it",
			run: func(c *caseT) {
				srv := c.serve(sendView, lifecycle.Options{Heartbeat: -1}, ServerConfig{})
				var local string
				ctx := httptrace.WithClientTrace(c.ctx, &httptrace.ClientTrace{
					GotConn: func(info httptrace.GotConnInfo) { local = info.Conn.LocalAddr().String() },
				})
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.url("alpha", "x=1&y=two+words&x=3"), nil)
				req.Header.Set("X-Test", "header value")
				resp, err := srv.http.Do(req)
				if err != nil {
					c.Fatal(err)
				}
				st := NewStream(resp)
				c.Cleanup(func() { st.Close() })
				v := decodeView(c, c.next(st, 10*time.Second))
				want := view{Method: "GET", Path: "/sse/alpha", Param: "alpha", Remote: local, Proto: "HTTP/1.1",
					Query: map[string][]string{"x": {"1", "3"}, "y": {"two words"}}, Header: "header value"}
				if fmt.Sprint(v) != fmt.Sprint(want) {
					c.Errorf("handler saw %+v\nwant %+v", v, want)
				}
			},
		},
		{
			name: "request-body",
			rule: "ssekit: the body of a POST that opens a stream is read (up to Options.MaxBodySize) " +
				"into Request.Body before the stream opens",
			run: func(c *caseT) {
				srv := c.serve(sendView, lifecycle.Options{Heartbeat: -1}, ServerConfig{})
				req, _ := http.NewRequestWithContext(c.ctx, http.MethodPost, srv.url("b", ""), strings.NewReader(`{"q":"hi"}`))
				resp, err := srv.http.Do(req)
				if err != nil {
					c.Fatal(err)
				}
				st := NewStream(resp)
				c.Cleanup(func() { st.Close() })
				v := decodeView(c, c.next(st, 10*time.Second))
				if v.Method != "POST" || v.Body != `{"q":"hi"}` {
					c.Errorf("handler saw method %q body %q, want POST with the body", v.Method, v.Body)
				}
			},
		},
		{
			name:    "request-view-concurrent",
			needs:   []Capability{RouteParams},
			timeout: 60 * time.Second,
			rule: "ssekit: the Request is a copy; route params, query and headers stay correct while " +
				"200 other streams are served at once (frameworks recycle their request objects)",
			run: func(c *caseT) {
				const n = 200
				var arrived sync.WaitGroup
				arrived.Add(n)
				all := make(chan struct{})
				go func() { arrived.Wait(); close(all) }()
				srv := c.serve(func(s *lifecycle.Session) error {
					arrived.Done()
					select { // read the view only once every request has been parsed
					case <-all:
					case <-s.Done():
						return nil
					}
					return sendView(s)
				}, lifecycle.Options{Heartbeat: -1}, ServerConfig{})
				errs := make(chan error, n)
				for i := range n {
					go func() { errs <- srv.checkConcurrentView(i) }()
				}
				for range n {
					if err := waitFor(c, errs, 45*time.Second, "a concurrent stream"); err != nil {
						c.Error(err)
					}
				}
			},
		},
	}
}

// checkHostile opens a stream with a hostile last event ID and checks that
// it is answered, either refused with a 4xx or served without the value.
func (s *server) checkHostile(name, query string, header http.Header, value string) {
	c := s.c
	c.Helper()
	req, _ := http.NewRequestWithContext(c.ctx, http.MethodGet, s.url("a", query), nil)
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := s.http.Do(req)
	if err != nil {
		if len(header) > 0 || len(query) > 8<<10 {
			// A server may refuse a malformed header or an oversized
			// request line by answering and closing the connection while
			// the client is still sending (the unread bytes turn the
			// close into a reset, so the client may never see the
			// answer); the case checks afterwards that it still serves.
			c.Logf("%s: refused by closing the connection: %v", name, err)
			return
		}
		c.Errorf("%s: request failed: %v", name, err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 && resp.StatusCode < 500 {
		return // refused by the framework before any handler: handled
	}
	if resp.StatusCode != http.StatusOK {
		c.Errorf("%s: status %d", name, resp.StatusCode)
		return
	}
	// Read the first event's bytes (the handler sends one, then waits).
	var raw bytes.Buffer
	p := NewParser(io.TeeReader(resp.Body, &raw))
	done := make(chan error, 1)
	var ev Event
	go func() { var err error; ev, err = p.Next(); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			c.Errorf("%s: reading the event: %v", name, err)
			return
		}
	case <-time.After(10 * time.Second):
		resp.Body.Close()
		<-done
		c.Errorf("%s: no event within 10s", name)
		return
	}
	if ev.Data != "last=" || ev.LastEventID != "" {
		c.Errorf("%s: handler saw LastEventID %q, want it treated as absent", name, ev.Data)
	}
	if bytes.Contains(raw.Bytes(), []byte(value)) {
		c.Errorf("%s: the hostile value was echoed into the stream", name)
	}
}

// checkConcurrentView opens stream i with values unique to it and checks
// the handler saw exactly those.
func (s *server) checkConcurrentView(i int) error {
	name := fmt.Sprintf("n%03d", i)
	u := s.url(name, fmt.Sprintf("i=%d&pad=%s", i, strings.Repeat(name, i%7)))
	req, _ := http.NewRequestWithContext(s.c.ctx, http.MethodGet, u, nil)
	req.Header.Set("X-Test", "h-"+name)
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("stream %d: %v", i, err)
	}
	defer resp.Body.Close()
	ev, err := NewParser(resp.Body).Next()
	if err != nil {
		return fmt.Errorf("stream %d: %v", i, err)
	}
	var v view
	if err := json.Unmarshal([]byte(ev.Data), &v); err != nil {
		return fmt.Errorf("stream %d: %v", i, err)
	}
	wantQ := fmt.Sprint(map[string][]string{"i": {fmt.Sprint(i)}, "pad": {strings.Repeat(name, i%7)}})
	if v.Param != name || v.Path != "/sse/"+name || v.Header != "h-"+name || fmt.Sprint(v.Query) != wantQ {
		return fmt.Errorf("stream %d: handler saw param %q path %q header %q query %v; want its own values",
			i, v.Param, v.Path, v.Header, v.Query)
	}
	return nil
}

// validHeaderValue reports whether v can be sent as a header value at all.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
