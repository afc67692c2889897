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

	"github.com/ssekit/ssekit/hub"
	"github.com/ssekit/ssekit/lifecycle"
)

// slowApp's Authorize waits on its ctx (as a database or HTTP lookup
// passed ctx would), for at most 8 s; entered reports each call.
func slowApp(entered chan<- struct{}, ended chan<- error) (*hub.Hub, *lifecycle.Endpoint) {
	h := hub.New(hub.NewMemory(hub.Retention{MaxLen: 10}), hub.Options{
		Authorize: func(ctx context.Context, r *lifecycle.Request, topic string) error {
			entered <- struct{}{}
			select {
			case <-ctx.Done():
				ended <- context.Cause(ctx)
				return ctx.Err()
			case <-time.After(8 * time.Second):
				ended <- nil
				return nil
			}
		},
	})
	topics := func(r *lifecycle.Request) []string { return r.Query()["topic"] }
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		return h.Serve(s, topics(s.Request())...)
	}, lifecycle.Options{Heartbeat: -1, Admit: h.Admit(topics)})
	return h, ep
}

// The framework's graceful shutdown, with a 2 s deadline, while a request
// waits in a slow Authorize that honours its ctx: the shutdown must finish
// within its deadline, which it can only do if Admit's ctx is canceled.
func TestShutdownDuringSlowAuthorize(t *testing.T) {
	for name, mount := range mounts {
		t.Run(name, func(t *testing.T) {
			entered, ended := make(chan struct{}, 4), make(chan error, 4)
			h, ep := slowApp(entered, ended)
			defer h.Close()
			m := mount(t, ep)
			c, err := net.Dial("tcp", m.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprintf(c, "GET /events?topic=a HTTP/1.1\r\nHost: x\r\n\r\n")
			select {
			case <-entered:
			case <-time.After(5 * time.Second):
				t.Fatal("Authorize never called")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			start := time.Now()
			err = m.shutdown(ctx)
			if err != nil {
				t.Errorf("the framework's shutdown with a 2 s deadline: %v after %v (Authorize's ctx was not canceled by the shutdown)", err, time.Since(start).Round(time.Millisecond))
			}
			select {
			case cause := <-ended:
				t.Logf("Authorize ended after %v, cause %v", time.Since(start).Round(time.Millisecond), cause)
			case <-time.After(10 * time.Second):
				t.Error("Authorize never returned")
			}
			// What the client got: Shutdown's doc promises that a stream
			// arriving during shutdown is opened and ended at once, so its
			// client reconnects elsewhere; a 4xx is final for an EventSource.
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode >= 400 && resp.StatusCode < 500 {
					t.Errorf("a client arriving during shutdown got %d %q: final for an EventSource, which never reconnects", resp.StatusCode, body)
				}
			}
			c.Close()
			time.Sleep(100 * time.Millisecond) // let the handler finish before goleak
		})
	}
}

// A client that leaves while Authorize is slow: Authorize's ctx should be
// canceled, so the lookup is not done for nobody. The Fiber adapters watch
// the connection only once the stream has opened (watching it earlier would
// read pipelined requests), a limit Options.Admit documents: they are not
// held to this.
func TestClientLeavesDuringSlowAuthorize(t *testing.T) {
	for name, mount := range mounts {
		if strings.HasPrefix(name, "fiber") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			entered, ended := make(chan struct{}, 4), make(chan error, 4)
			h, ep := slowApp(entered, ended)
			defer h.Close()
			m := mount(t, ep)
			defer func() {
				<-ended
				shutdown(t, m)
			}()
			c, err := net.Dial("tcp", m.addr)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(c, "GET /events?topic=a HTTP/1.1\r\nHost: x\r\n\r\n")
			select {
			case <-entered:
			case <-time.After(5 * time.Second):
				t.Fatal("Authorize never called")
			}
			c.Close()
			select {
			case cause := <-ended:
				if cause == nil {
					t.Error("Authorize ran its full 8 s for a client that left")
				}
				ended <- cause
			case <-time.After(3 * time.Second):
				t.Error("Authorize's ctx not canceled within 3 s of the client leaving")
			}
		})
	}
}
