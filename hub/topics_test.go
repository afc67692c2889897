package hub_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssekit/ssekit/hub"
	"github.com/ssekit/ssekit/lifecycle"
	"github.com/ssekit/ssekit/nethttpadapter"
)

type userKey struct{}

// authApp is a small real application: a middleware puts the user named
// by the X-User header in the request context (no header: 401 from the
// middleware itself); GET /events?topic=… streams the topics, where
// "user:<id>" is readable by that user only and "global" by everyone.
type authApp struct {
	h       *hub.Hub
	addr    string
	ran     atomic.Int64 // handler runs
	rejects atomic.Int64 // OnReject calls
	log     *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func authorize(ctx context.Context, r *lifecycle.Request, topic string) error {
	user, _ := ctx.Value(userKey{}).(string)
	switch {
	case topic == "global", topic == "user:"+user:
		return nil
	case topic == "needs-login":
		return &lifecycle.Refusal{Status: http.StatusUnauthorized, Header: http.Header{"WWW-Authenticate": {`Bearer`}}}
	case topic == "broken":
		return errors.New("the permission service did not answer")
	}
	return hub.ErrForbidden
}

func startAuthApp(t *testing.T, admit bool) *authApp {
	t.Helper()
	app := &authApp{log: &syncBuffer{}}
	logger := slog.New(slog.NewTextHandler(app.log, nil))
	app.h = hub.New(hub.NewMemory(hub.Retention{}), hub.Options{MaxTopics: 3, MaxTopicLen: 32, Authorize: authorize, Logger: logger})
	topics := func(r *lifecycle.Request) []string { return r.Query()["topic"] }
	opts := lifecycle.Options{
		Heartbeat: -1,
		Logger:    logger,
		OnReject:  func(*lifecycle.Request, error) { app.rejects.Add(1) },
	}
	if admit {
		opts.Admit = app.h.Admit(topics)
	}
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		app.ran.Add(1)
		return app.h.Serve(s, topics(s.Request())...)
	}, opts)
	auth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			user := r.Header.Get("X-User")
			if user == "" {
				http.Error(w, "log in first", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, user)))
		})
	}
	mux := http.NewServeMux()
	mux.Handle("GET /events", auth(nethttpadapter.Handler(ep)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ep.Shutdown(ctx)
		srv.Shutdown(ctx)
		app.h.Close()
	})
	app.addr = ln.Addr().String()
	return app
}

func (a *authApp) get(t *testing.T, user string, topics ...string) *http.Response {
	t.Helper()
	q := url.Values{"topic": topics}
	req, _ := http.NewRequest("GET", "http://"+a.addr+"/events?"+q.Encode(), nil)
	if user != "" {
		req.Header.Set("X-User", user)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// Hub.Admit refuses, before the stream and without running the handler,
// every subscription the hub would not serve: with 400 for bad topics, 403
// for forbidden ones, the Refusal that Authorize chose, and 403 (logged as
// an error) when Authorize cannot decide.
func TestAdmitRefusesBeforeTheStream(t *testing.T) {
	app := startAuthApp(t, true)
	for _, tc := range []struct {
		name   string
		topics []string
		status int
		body   string
	}{
		{"no topic", nil, 400, "empty topic"},
		{"empty topic", []string{""}, 400, "empty topic"},
		{"too long", []string{strings.Repeat("x", 33)}, 400, "invalid topic"},
		{"control character", []string{"user:ann\x01"}, 400, "control character"},
		{"newline", []string{"user:ann\nglobal"}, 400, "control character"},
		{"not UTF-8", []string{"user:\xff"}, 400, "not UTF-8"},
		{"too many", []string{"global", "user:ann", "a", "b"}, 400, "too many topics"},
		{"another user's topic", []string{"user:bob"}, 403, `topic "user:bob": hub: topic not allowed`},
		{"one forbidden among allowed", []string{"global", "user:ann", "user:bob"}, 403, "user:bob"},
		{"Authorize's own refusal", []string{"needs-login"}, 401, "Unauthorized"},
		{"Authorize cannot decide", []string{"broken"}, 403, "Forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ran, rejects := app.ran.Load(), app.rejects.Load()
			resp := app.get(t, "ann", tc.topics...)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.body) {
				t.Errorf("got %d %q, want %d with %q", resp.StatusCode, body, tc.status, tc.body)
			}
			if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/event-stream") {
				t.Errorf("a refusal with Content-Type %q", ct)
			}
			if tc.status == 401 && resp.Header.Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("Authorize's refusal header was lost: %v", resp.Header)
			}
			if app.ran.Load() != ran {
				t.Error("the handler ran for a refused subscription")
			}
			if app.rejects.Load() != rejects+1 {
				t.Error("OnReject did not see the refusal")
			}
		})
	}
	if !strings.Contains(app.log.String(), "the permission service did not answer") {
		t.Errorf("Authorize's failure to decide was not logged:\n%s", app.log.String())
	}
	if n := len(app.h.Stats().Subscribers); n != 0 {
		t.Errorf("refused requests left %d topics subscribed", n)
	}
}

// An allowed subscription streams, and Authorize saw the identity the
// framework's middleware attached.
func TestAdmitAllowsOwnAndGlobalTopics(t *testing.T) {
	app := startAuthApp(t, true)
	resp := app.get(t, "ann", "user:ann", "global", "global")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	waitSubscribers(t, app.h, "user:ann", 1)
	publish(t, app.h, "user:bob", "not for ann")
	publish(t, app.h, "user:ann", "for ann")
	publish(t, app.h, "global", "for all")
	r := bufio.NewReader(resp.Body)
	var got []string
	for len(got) < 2 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			got = append(got, strings.TrimSpace(d))
		}
	}
	if got[0] != "for ann" || got[1] != "for all" {
		t.Errorf("ann received %q, want her own event, then the global one", got)
	}
	if resp := app.get(t, ""); resp.StatusCode != 401 {
		t.Errorf("no user: %d, want the middleware's 401", resp.StatusCode)
	}
}

// Without Admit, Serve still refuses what Authorize refuses (the stream has
// opened by then, so it can only end it) and says loudly how to do better.
func TestServeChecksTopicsWithoutAdmit(t *testing.T) {
	app := startAuthApp(t, false)
	resp := app.get(t, "ann", "user:bob")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: without Admit the stream opens", resp.StatusCode)
	}
	if body, _ := io.ReadAll(resp.Body); len(body) != 0 {
		t.Errorf("ann got %q from bob's topic", body)
	}
	if log := app.log.String(); !strings.Contains(log, "use Hub.Admit") || !strings.Contains(log, "topic not allowed") {
		t.Errorf("the refusal after the stream opened was not logged with advice:\n%s", log)
	}
	if n := len(app.h.Stats().Subscribers); n != 0 {
		t.Errorf("a refused subscription left %d topics subscribed", n)
	}
}

func TestPublishChecksTheTopic(t *testing.T) {
	h := hub.New(hub.NewMemory(hub.Retention{}), hub.Options{})
	defer h.Close()
	for topic, want := range map[string]error{
		"":                       hub.ErrNoTopic,
		"a\nb":                   hub.ErrInvalidTopic,
		strings.Repeat("x", 257): hub.ErrInvalidTopic,
	} {
		if _, err := h.Publish(context.Background(), topic, hub.Event{Data: []byte("x")}); !errors.Is(err, want) {
			t.Errorf("Publish to %q: %v, want %v", topic, err, want)
		}
	}
	if _, err := h.Publish(context.Background(), strings.Repeat("x", 256), hub.Event{Data: []byte("x")}); err != nil {
		t.Errorf("Publish to a 256-byte topic: %v", err)
	}
}
