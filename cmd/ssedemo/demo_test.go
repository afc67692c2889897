package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/internal/redistest"
)

// Stopping the demo (Ctrl-C) sends every open page the farewell, with a
// retry hint after which EventSource reconnects, and ends the stream
// cleanly; run returns without error.
func TestShutdownSendsFarewell(t *testing.T) {
	for _, fw := range frameworks {
		t.Run(fw, func(t *testing.T) {
			r := startDemo(t, fw, "")
			chat := openStream(t, r.addr, "chat", "")
			waitSubscribed(t, r.d, 1)
			resp, err := http.Post("http://"+r.addr+"/publish", "application/json",
				strings.NewReader(`{"name":"t","text":"before the restart"}`))
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("publish: %v %v", resp, err)
			}
			resp.Body.Close()
			if ev, err := chat.Next(); err != nil || ev.Type != "chat" || !strings.Contains(ev.Data, "before the restart") {
				t.Fatalf("chat event %+v, %v", ev, err)
			}
			if err := r.stop(); err != nil {
				t.Errorf("run: %v", err)
			}
			ev, err := chat.Next()
			if err != nil || ev.Type != "farewell" || chat.Retry() != 2*time.Second {
				t.Fatalf("on shutdown: %+v (retry %v), %v; want the farewell with a 2 s retry", ev, chat.Retry(), err)
			}
			if _, err := chat.Next(); !errors.Is(err, io.EOF) {
				t.Errorf("after the farewell: %v, want a clean end", err)
			}
		})
	}
}

func TestStatsAndPublishValidation(t *testing.T) {
	r := startDemo(t, "nethttp", "")
	base := "http://" + r.addr
	for _, body := range []string{`{"text":"  "}`, `not json`} {
		resp, err := http.Post(base+"/publish", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("publish %q: %d, want 400", body, resp.StatusCode)
		}
	}
	// A stream without a topic is refused before it opens, so a browser
	// does not reconnect to it forever.
	for _, fw := range frameworks {
		rf := r
		if fw != "nethttp" {
			rf = startDemo(t, fw, "")
		}
		for _, path := range []string{"/events", "/events?topic=a%0Ab", "/events?topic=" + strings.Repeat("x", 300)} {
			resp, err := http.Get("http://" + rf.addr + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				t.Errorf("%s: %.40s: %d %q, want 400 and no stream", fw, path, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
		}
	}
	c := openStream(t, r.addr, "clock", "")
	if ev, err := c.Next(); err != nil || ev.Type != "tick" {
		t.Fatalf("clock: %+v, %v", ev, err)
	}
	s := stats(t, base)
	if s.Framework != "nethttp" || s.Active != 1 || s.Opened != 1 {
		t.Errorf("stats %+v, want nethttp with 1 open session", s)
	}
	if _, err := newDemo("martini", ""); err == nil {
		t.Error("newDemo accepted an unknown framework")
	}
}

// openStream opens /events?topic=topic on a raw connection.
func openStream(t *testing.T, addr, topic, lastID string) *conformance.Parser {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	req := fmt.Sprintf("GET /events?topic=%s&sid=test HTTP/1.1\r\nHost: demo\r\n", topic)
	if lastID != "" {
		req += "Last-Event-ID: " + lastID + "\r\n"
	}
	io.WriteString(conn, req+"\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("open %s: %v %v", topic, resp, err)
	}
	return conformance.NewParser(resp.Body)
}

// With -redis, the chat goes through Redis: a page that reconnects to a
// restarted demo resumes from its Last-Event-ID without loss.
func TestRedisHubResumesAcrossRestarts(t *testing.T) {
	srv := redistest.Start(t)
	post := func(addr, text string) {
		resp, err := http.Post("http://"+addr+"/publish", "application/json", strings.NewReader(`{"name":"t","text":"`+text+`"}`))
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("publish: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	r := startDemo(t, "fiber", "redis://"+srv.Addr)
	chat := openStream(t, r.addr, "chat", "")
	waitSubscribed(t, r.d, 1)
	post(r.addr, "one")
	ev, err := chat.Next()
	if err != nil || !strings.Contains(ev.Data, "one") {
		t.Fatalf("first message: %+v, %v", ev, err)
	}
	if err := r.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	r = startDemo(t, "fiber", "redis://"+srv.Addr) // "the demo is back"
	post(r.addr, "two")                            // published while the page was away
	chat = openStream(t, r.addr, "chat", ev.LastEventID)
	post(r.addr, "three")
	for _, want := range []string{"two", "three"} {
		if ev, err := chat.Next(); err != nil || !strings.Contains(ev.Data, want) {
			t.Fatalf("after reconnecting: %+v, %v; want %q", ev, err, want)
		}
	}
}

// waitSubscribed waits until the demo's chat topic has n subscribers: a
// message published before a page subscribed is not its to receive.
func waitSubscribed(t *testing.T, d *demo, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); d.hub.Stats().Subscribers["chat"] != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("chat has %d subscribers, want %d", d.hub.Stats().Subscribers["chat"], n)
		}
	}
}

// running is a demo serving on 127.0.0.1.
type running struct {
	d    *demo
	addr string
	stop func() error // shuts the demo down (once) and returns run's error
}

// startDemo runs a demo; it is stopped at cleanup if the test did not.
func startDemo(t *testing.T, framework, redisURL string) *running {
	t.Helper()
	d, err := newDemo(framework, redisURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- d.run(ctx, ln) }()
	var once sync.Once
	var result error
	r := &running{d: d, addr: ln.Addr().String(), stop: func() error {
		once.Do(func() {
			cancel()
			select {
			case result = <-ran:
			case <-time.After(15 * time.Second):
				result = errors.New("run did not return within 15 s of the shutdown")
			}
		})
		return result
	}}
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("demo: %v", err)
		}
	})
	return r
}
