package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/goleak"

	"github.com/ssekit/ssekit/lifecycle"
)

// detectWithin is how soon an idle disconnect must end the session.
const detectWithin = 2 * time.Second

func lifecycleCases() []testCase {
	return []testCase{
		{
			name: "heartbeat-interval",
			rule: "Options.Heartbeat: a silent stream gets a comment every interval, so proxies keep it " +
				"open and dead clients are found by a failing write",
			run: func(c *caseT) {
				const interval = 100 * time.Millisecond
				srv := c.serve(waitDone, lifecycle.Options{Heartbeat: interval}, ServerConfig{})
				start := time.Now()
				st := srv.connect(srv.url("a", ""), nil)
				go func() { st.Next() }() // consume the stream; it has no events
				deadline := time.Now().Add(10 * time.Second)
				for len(st.Comments()) < 5 && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				cms := st.Comments()
				if len(cms) < 5 {
					c.Fatalf("%d heartbeats in 10s at a %v interval, want at least 5", len(cms), interval)
				}
				prev := start
				for i, cm := range cms[:5] {
					// A heartbeat is never early; lateness is the scheduler's.
					if gap := cm.At.Sub(prev); gap < interval/2 {
						c.Errorf("heartbeat %d came %v after the previous one, want about %v", i, gap, interval)
					}
					prev = cm.At
				}
			},
		},
		{
			name: "heartbeat-only-when-silent",
			rule: "ssekit: a heartbeat is sent only after a whole interval without any write",
			run: func(c *caseT) {
				const interval = 600 * time.Millisecond
				srv := c.serve(func(s *lifecycle.Session) error {
					for i := range 60 {
						if err := s.Send(lifecycle.Event{ID: strconv.Itoa(i)}); err != nil {
							return err
						}
						time.Sleep(20 * time.Millisecond)
					}
					<-s.Done()
					return nil
				}, lifecycle.Options{Heartbeat: interval}, ServerConfig{})
				st := srv.connect(srv.url("a", ""), nil)
				for range 60 {
					c.next(st, 10*time.Second)
				}
				if n := len(st.Comments()); n != 0 {
					c.Errorf("%d heartbeats while events flowed every 20ms, want 0", n)
				}
			},
		},
		{
			name:  "client-close-while-idle",
			needs: []Capability{IdleDisconnect},
			rule: "ssekit: a client closing its connection (FIN) while nothing is written ends the " +
				"session with ErrClientGone within 2s, with heartbeats off",
			run: func(c *caseT) {
				idleDisconnect(c, func(rc *rawConn) error { return rc.Close() })
			},
		},
		{
			name:  "client-reset-while-idle",
			needs: []Capability{IdleDisconnect},
			rule: "ssekit: a client resetting its connection (RST, SO_LINGER 0) while nothing is written " +
				"ends the session with ErrClientGone within 2s, with heartbeats off",
			run: func(c *caseT) {
				idleDisconnect(c, func(rc *rawConn) error {
					if err := rc.SetLinger(0); err != nil {
						return err
					}
					return rc.Close()
				})
			},
		},
		{
			name:  "client-close-after-unread-post-body",
			needs: []Capability{IdleDisconnect},
			rule: "ssekit: a stream opened by a POST (300 KiB body, more than net/http discards by itself) " +
				"still notices the client closing",
			run: func(c *caseT) {
				rec := newRecorder()
				opts := rec.hook(lifecycle.Options{Heartbeat: -1, MaxBodySize: 1 << 20})
				srv := c.serve(waitDone, opts, ServerConfig{})
				rc := srv.dial()
				rc.request(c, "POST", "/sse/a", "HTTP/1.1", nil, strings.Repeat("b", 300<<10))
				resp := rc.response(c, "POST", 10*time.Second)
				if resp.StatusCode != http.StatusOK {
					c.Fatalf("status %d", resp.StatusCode)
				}
				rc.Close()
				rec2 := rec.waitClose(c, detectWithin)
				c.wantReason(rec2.Info.Reason, lifecycle.ErrClientGone)
			},
		},
		{
			name:  "server-read-timeout-no-false-end",
			needs: []Capability{ServerTimeouts},
			rule: "ssekit: a server read timeout shorter than the stream's silence does not end it: the " +
				"read deadline armed for the request must not pass for a client going away",
			run: func(c *caseT) {
				rec := newRecorder()
				send := make(chan struct{})
				srv := c.serve(func(s *lifecycle.Session) error {
					select {
					case <-send:
					case <-s.Done():
						return nil
					}
					if err := s.Send(msg("still here")); err != nil {
						return err
					}
					<-s.Done()
					return nil
				}, rec.hook(lifecycle.Options{Heartbeat: -1}), ServerConfig{ReadTimeout: 200 * time.Millisecond})
				// The server must apply the timeout, or this case proves
				// nothing: a connection that sends no request is closed
				// (after a 408, on some servers).
				idle := srv.dial()
				idle.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.ReadAll(idle.r); errors.Is(err, os.ErrDeadlineExceeded) {
					c.Fatalf("a connection silent for 5 s was not closed: the harness ignores ServerConfig.ReadTimeout")
				}
				st := srv.connect(srv.url("a", ""), nil)
				time.Sleep(1200 * time.Millisecond)
				if _, closes := rec.counts(); closes != 0 {
					c.Fatalf("the session ended during the silence: %v", rec.waitClose(c, time.Second).Info.Reason)
				}
				close(send)
				if ev := c.next(st, 10*time.Second); ev.Data != "still here" {
					c.Errorf("after the silence: %s", show(ev))
				}
			},
		},
		{
			name:  "server-write-timeout-no-cut",
			needs: []Capability{ServerTimeouts},
			rule: "ssekit: a server write timeout shorter than the stream does not cut it: the deadline " +
				"is extended before each write (Options.WriteTimeout bounds each write instead)",
			run: func(c *caseT) {
				srv := c.serve(func(s *lifecycle.Session) error {
					for i := range 12 {
						if err := s.Send(lifecycle.Event{ID: strconv.Itoa(i)}); err != nil {
							return err
						}
						time.Sleep(100 * time.Millisecond)
					}
					return nil
				}, lifecycle.Options{Heartbeat: -1}, ServerConfig{WriteTimeout: 300 * time.Millisecond})
				c.proveWriteTimeout()
				st := srv.connect(srv.url("a", ""), nil)
				for i := range 12 {
					if ev := c.next(st, 10*time.Second); ev.LastEventID != strconv.Itoa(i) {
						c.Fatalf("event %d: %s", i, show(ev))
					}
				}
				if _, err := c.nextErr(st, 10*time.Second); !errors.Is(err, io.EOF) {
					c.Errorf("after the last event: %v, want a clean end", err)
				}
			},
		},
		{
			name: "slow-client-write-timeout",
			rule: "Options.WriteTimeout: a client that stops reading ends the session with " +
				"ErrWriteTimeout once a write has been blocked that long; nothing buffers without bound",
			run: func(c *caseT) {
				rec := newRecorder()
				sendErr := make(chan error, 1)
				chunk := lifecycle.Event{Data: []byte(strings.Repeat("s", 64<<10))}
				srv := c.serve(func(s *lifecycle.Session) error {
					for i := 0; i < 4096; i++ { // 256 MiB at most: far beyond any socket buffer
						if err := s.Send(chunk); err != nil {
							sendErr <- err
							return nil
						}
					}
					sendErr <- nil
					return nil
				}, rec.hook(lifecycle.Options{Heartbeat: -1, WriteTimeout: 300 * time.Millisecond}), ServerConfig{})
				rc := srv.dial()
				rc.SetReadBuffer(4096)
				rc.request(c, "GET", "/sse/a", "HTTP/1.1", nil, "")
				// Never read: the stream fills the socket buffers and blocks.
				err := waitFor(c, sendErr, 20*time.Second, "Send's error to a client that stopped reading")
				if !errors.Is(err, lifecycle.ErrWriteTimeout) {
					c.Errorf("Send to a stalled client returned %v, want ErrWriteTimeout", err)
				}
				c.wantReason(rec.waitClose(c, 5*time.Second).Info.Reason, lifecycle.ErrWriteTimeout)
			},
		},
		{
			name: "handler-return-ends-cleanly",
			rule: "ssekit: the handler returning ends the response cleanly (the client reads to a proper " +
				"end of body, no half event) with ErrHandlerReturned, wrapping a returned error",
			run: func(c *caseT) {
				boom := errors.New("boom")
				rec := newRecorder()
				srv := c.serve(func(s *lifecycle.Session) error {
					for i := range 3 {
						s.Send(lifecycle.Event{ID: strconv.Itoa(i), Data: []byte(strings.Repeat("d", 5000))})
					}
					if s.Request().Param("name") == "fail" {
						return boom
					}
					return nil
				}, rec.hook(lifecycle.Options{Heartbeat: -1}), ServerConfig{})
				for _, name := range []string{"ok", "fail"} {
					st := srv.connect(srv.url(name, ""), nil)
					for range 3 {
						c.next(st, 10*time.Second)
					}
					if _, err := c.nextErr(st, 10*time.Second); err != io.EOF {
						c.Errorf("%s: after the last event: %v, want io.EOF (a clean end of body)", name, err)
					}
					r := rec.waitClose(c, 5*time.Second).Info.Reason
					c.wantReason(r, lifecycle.ErrHandlerReturned)
					if name == "fail" && !errors.Is(r, boom) {
						c.Errorf("reason %v does not wrap the handler's error", r)
					}
				}
			},
		},
		{
			name: "handler-panic-recovered",
			rule: "ssekit: a panicking handler is recovered: the session ends with ErrHandlerPanicked " +
				"carrying the value, the response ends, and the server keeps serving",
			run: func(c *caseT) {
				rec := newRecorder()
				srv := c.serve(func(s *lifecycle.Session) error {
					if s.Request().Param("name") == "panic" {
						s.Send(msg("before"))
						panic("kaboom")
					}
					return sendThenWait(msg("fine"))(s)
				}, rec.hook(lifecycle.Options{Heartbeat: -1}), ServerConfig{})
				st := srv.connect(srv.url("panic", ""), nil)
				c.next(st, 10*time.Second)
				if _, err := c.nextErr(st, 10*time.Second); err == nil {
					c.Errorf("the stream went on after the panic")
				}
				r := rec.waitClose(c, 5*time.Second).Info.Reason
				c.wantReason(r, lifecycle.ErrHandlerPanicked)
				if r != nil && !strings.Contains(r.Error(), "kaboom") {
					c.Errorf("reason %q does not carry the panic value", r)
				}
				if ev := c.next(srv.connect(srv.url("ok", ""), nil), 10*time.Second); ev.Data != "fine" {
					c.Errorf("after the panic: %s", show(ev))
				}
			},
		},
		{
			name: "send-after-end-errors-at-once",
			rule: "ssekit: once a session has ended, Send, Comment, SetRetry and ResetLastID return an " +
				"error matching ErrEnded and the reason at once; they never block or panic",
			run: func(c *caseT) {
				results := make(chan error, 1)
				srv := c.serve(func(s *lifecycle.Session) error {
					<-s.Done()
					start := time.Now()
					var errs []error
					errs = append(errs, s.Send(msg("late")), s.Comment("late"), s.SetRetry(time.Second), s.ResetLastID())
					took := time.Since(start)
					var err error
					for i, e := range errs {
						if !errors.Is(e, lifecycle.ErrEnded) || !errors.Is(e, lifecycle.ErrClientGone) {
							err = errors.Join(err, fmt.Errorf("write %d after the end returned %v", i, e))
						}
					}
					if took > time.Second {
						err = errors.Join(err, fmt.Errorf("writes after the end took %v", took))
					}
					results <- err
					return nil
				}, lifecycle.Options{Heartbeat: -1}, ServerConfig{})
				st := srv.connect(srv.url("a", ""), nil)
				st.Close()
				if err := waitFor(c, results, 10*time.Second, "the handler's writes after the end"); err != nil {
					c.Error(err)
				}
			},
		},
		{
			name: "close-idempotent",
			rule: "ssekit: Close ends the session once with ErrClosed; Close again and CloseWithError " +
				"afterwards change nothing; Done is closed and the context's cause is the reason",
			run: func(c *caseT) {
				rec := newRecorder()
				check := make(chan error, 1)
				srv := c.serve(func(s *lifecycle.Session) error {
					s.Close()
					s.Close()
					s.CloseWithError(errors.New("later"))
					var err error
					select {
					case <-s.Done():
					default:
						err = errors.New("after Close, Done is not closed")
					}
					if !errors.Is(s.Err(), lifecycle.ErrClosed) || context.Cause(s.Context()) != s.Err() {
						err = errors.Join(err, fmt.Errorf("Err() = %v, Cause = %v; want ErrClosed for both",
							s.Err(), context.Cause(s.Context())))
					}
					check <- err
					return nil
				}, rec.hook(lifecycle.Options{Heartbeat: -1}), ServerConfig{})
				st := srv.connect(srv.url("a", ""), nil)
				if err := waitFor(c, check, 10*time.Second, "the handler's check"); err != nil {
					c.Error(err)
				}
				c.wantReason(rec.waitClose(c, 5*time.Second).Info.Reason, lifecycle.ErrClosed)
				if _, err := c.nextErr(st, 10*time.Second); !errors.Is(err, io.EOF) {
					c.Errorf("after Close the stream ended with %v, want io.EOF", err)
				}
			},
		},
		{
			name: "hooks-fire-once",
			rule: "Options.OnOpen and OnClose fire exactly once per session; OnClose gets the reason, " +
				"duration, events sent and body bytes written",
			run: func(c *caseT) {
				rec := newRecorder()
				srv := c.serve(func(s *lifecycle.Session) error {
					time.Sleep(20 * time.Millisecond)
					for i := range 3 {
						s.Send(lifecycle.Event{ID: strconv.Itoa(i), Data: []byte("payload")})
					}
					s.Comment("not an event")
					return nil
				}, rec.hook(lifecycle.Options{Heartbeat: -1, Retry: time.Second}), ServerConfig{})
				st := srv.connect(srv.url("a", ""), nil)
				for range 3 {
					c.next(st, 10*time.Second)
				}
				if _, err := c.nextErr(st, 10*time.Second); !errors.Is(err, io.EOF) {
					c.Errorf("end of stream: %v", err)
				}
				info := rec.waitClose(c, 5*time.Second).Info
				time.Sleep(100 * time.Millisecond) // room for a wrong second call
				if opens, closes := rec.counts(); opens != 1 || closes != 1 {
					c.Errorf("OnOpen fired %d times, OnClose %d times; want 1 and 1", opens, closes)
				}
				c.wantReason(info.Reason, lifecycle.ErrHandlerReturned)
				if info.Events != 3 {
					c.Errorf("CloseInfo.Events = %d, want 3", info.Events)
				}
				if info.Bytes != st.BytesRead() {
					c.Errorf("CloseInfo.Bytes = %d, the client read %d body bytes", info.Bytes, st.BytesRead())
				}
				if info.Duration < 20*time.Millisecond {
					c.Errorf("CloseInfo.Duration = %v, want at least the handler's 20ms", info.Duration)
				}
			},
		},
		{
			name: "shutdown-ends-sessions",
			rule: "Endpoint.Shutdown ends every open session with ErrShutdown, sends the farewell, " +
				"waits for the handlers, and answers later streams with the farewell at once",
			run: func(c *caseT) {
				rec := newRecorder()
				farewell := &lifecycle.Event{Type: "bye", Data: []byte("restarting"), Retry: 2 * time.Second}
				srv := c.serve(sendThenWait(msg("hello")), rec.hook(lifecycle.Options{Heartbeat: -1, Farewell: farewell}), ServerConfig{})
				var streams []*Stream
				for i := range 3 {
					st := srv.connect(srv.url(strconv.Itoa(i), ""), nil)
					c.next(st, 10*time.Second)
					streams = append(streams, st)
				}
				ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
				defer cancel()
				if err := srv.ep.Shutdown(ctx); err != nil {
					c.Fatalf("Shutdown: %v", err)
				}
				if n := srv.ep.Active(); n != 0 {
					c.Errorf("%d sessions still open after Shutdown", n)
				}
				for i, st := range streams {
					checkFarewell(c, fmt.Sprint("stream ", i), st)
					c.wantReason(rec.waitClose(c, 5*time.Second).Info.Reason, lifecycle.ErrShutdown)
				}
				checkFarewell(c, "a stream opened after Shutdown", srv.connect(srv.url("late", ""), nil))
			},
		},
		{
			name:    "no-goroutine-leak",
			timeout: 90 * time.Second,
			rule: "ssekit: 200 sessions opened and closed by the client leave no goroutine behind " +
				"(go.uber.org/goleak)",
			run: func(c *caseT) {
				rec := newRecorder()
				srv := c.serve(sendThenWait(msg("hi")), rec.hook(lifecycle.Options{Heartbeat: 50 * time.Millisecond}), ServerConfig{})
				cycle := func(i int) {
					st := srv.connect(srv.url(strconv.Itoa(i), ""), nil)
					c.next(st, 10*time.Second)
					st.Close()
					rec.waitClose(c, 10*time.Second)
				}
				cycle(-1) // warm up the server's and client's steady-state goroutines
				srv.http.CloseIdleConnections()
				baseline := goleak.IgnoreCurrent()
				for i := range 200 {
					cycle(i)
				}
				srv.http.CloseIdleConnections()
				if n := srv.ep.Active(); n != 0 {
					c.Errorf("%d sessions open after all clients left", n)
				}
				if err := goleak.Find(baseline); err != nil {
					c.Errorf("goroutines left after 200 sessions: %v", err)
				}
			},
		},
	}
}

// idleDisconnect opens an idle stream on a raw connection, ends the
// connection with hangUp, and checks the session ends with ErrClientGone.
func idleDisconnect(c *caseT, hangUp func(*rawConn) error) {
	rec := newRecorder()
	returned := make(chan struct{})
	srv := c.serve(func(s *lifecycle.Session) error {
		<-s.Done()
		close(returned)
		return nil
	}, rec.hook(lifecycle.Options{Heartbeat: -1}), ServerConfig{})
	rc := srv.dial()
	rc.request(c, "GET", "/sse/a", "HTTP/1.1", nil, "")
	if resp := rc.response(c, "GET", 10*time.Second); resp.StatusCode != http.StatusOK {
		c.Fatalf("status %d", resp.StatusCode)
	}
	time.Sleep(50 * time.Millisecond) // let the stream settle into silence
	if err := hangUp(rc); err != nil {
		c.Fatal(err)
	}
	start := time.Now()
	r := rec.waitClose(c, detectWithin)
	c.wantReason(r.Info.Reason, lifecycle.ErrClientGone)
	waitFor(c, returned, time.Second, "the handler's return")
	c.Logf("disconnect detected after %v", time.Since(start))
}

// checkFarewell reads the farewell event and the clean end of st.
func checkFarewell(c *caseT, name string, st *Stream) {
	c.Helper()
	ev := c.next(st, 10*time.Second)
	if ev.Type != "bye" || ev.Data != "restarting" {
		c.Errorf("%s: got %s, want the farewell", name, show(ev))
	}
	if st.Retry() != 2*time.Second {
		c.Errorf("%s: retry = %v, want the farewell's 2s", name, st.Retry())
	}
	if _, err := c.nextErr(st, 10*time.Second); !errors.Is(err, io.EOF) {
		c.Errorf("%s: after the farewell: %v, want a clean end", name, err)
	}
}

// concurrencyCases checks writers racing each other.
func concurrencyCases() []testCase {
	return []testCase{{
		name: "concurrent-senders",
		rule: "ssekit: Send is safe for concurrent use; 50 goroutines sending at once produce only " +
			"whole events, none lost, each goroutine's in order",
		run: func(c *caseT) {
			const senders, each = 50, 40
			srv := c.serve(func(s *lifecycle.Session) error {
				var wg sync.WaitGroup
				for g := range senders {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range each {
							// Multi-line and of varying length, so torn writes show.
							data := fmt.Sprintf("g=%d\ni=%d\n%s", g, i, strings.Repeat("x", (g*7+i)%300))
							s.Send(lifecycle.Event{ID: fmt.Sprintf("%d-%d", g, i), Type: "t" + strconv.Itoa(g), Data: []byte(data)})
						}
					}()
				}
				wg.Wait()
				<-s.Done()
				return nil
			}, lifecycle.Options{Heartbeat: -1}, ServerConfig{})
			st := srv.connect(srv.url("a", ""), nil)
			next := make([]int, senders)
			for range senders * each {
				ev := c.next(st, 10*time.Second)
				var g, i int
				if _, err := fmt.Sscanf(ev.LastEventID, "%d-%d", &g, &i); err != nil || g < 0 || g >= senders {
					c.Fatalf("torn event: %s", show(ev))
				}
				want := fmt.Sprintf("g=%d\ni=%d\n%s", g, i, strings.Repeat("x", (g*7+i)%300))
				if ev.Data != want || ev.Type != "t"+strconv.Itoa(g) {
					c.Fatalf("torn event: %s", show(ev))
				}
				if i != next[g] {
					c.Fatalf("sender %d: event %d arrived when %d was due", g, i, next[g])
				}
				next[g]++
			}
		},
	}}
}

// cases returns the whole suite in order.
func cases() []testCase {
	var all []testCase
	for _, group := range [][]testCase{responseCases(), encodingCases(), requestCases(), concurrencyCases(), lifecycleCases(), reliabilityCases(), loadCases()} {
		all = append(all, group...)
	}
	return all
}

// proveWriteTimeout fails the case unless the harness applies
// ServerConfig.WriteTimeout: without it, the case that checks a stream
// outlives that timeout proves nothing. The probe is an ordinary response,
// which the server's timeout bounds on every framework: a refusal whose body
// (64 MiB) is far larger than the socket buffers, to a client that stops
// reading for 1.5 s once the response has begun. With the timeout applied
// the server gives up and closes the connection before the body is
// through; without it the body arrives whole once the client reads again.
func (c *caseT) proveWriteTimeout() {
	c.Helper()
	const size = 64 << 20
	body := strings.Repeat("w", size-1) // the refusal adds a newline
	srv := c.serve(func(s *lifecycle.Session) error { return nil }, lifecycle.Options{
		Heartbeat:    -1,
		WriteTimeout: -1, // no deadline of ssekit's own on the refusal
		Admit: func(context.Context, *lifecycle.Request) error {
			return lifecycle.Refuse(http.StatusForbidden, body)
		},
	}, ServerConfig{WriteTimeout: 300 * time.Millisecond})
	conn := srv.dial()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: probe\r\n\r\n", strings.TrimPrefix(srv.url("probe", ""), srv.base))
	// Building a 64 MiB response takes a while on a busy machine: the
	// pause starts when its first byte is here, so the server is writing.
	// (net/http's timeout runs from the request: it may pass before then,
	// and the connection closes with nothing sent, which proves it too.)
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := conn.r.ReadByte(); errors.Is(err, os.ErrDeadlineExceeded) {
		c.Fatalf("no response to the probe within 20 s")
	} else if err != nil {
		return // closed before the response began: the timeout applies
	}
	time.Sleep(1500 * time.Millisecond)
	n, _ := io.Copy(io.Discard, io.LimitReader(conn.r, size-1))
	if n >= size-1 {
		c.Fatalf("a %d MiB response to a client that stopped reading for 1.5 s went through whole: "+
			"the harness ignores ServerConfig.WriteTimeout (300 ms)", size>>20)
	}
}
