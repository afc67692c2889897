package lifecycle_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/lifecycle"
	"github.com/ssekit/ssekit/nethttpadapter"
)

// One line makes http.Server.Shutdown end the streams of several endpoints
// and wait for their handlers, within its deadline.
func TestEndOnShutdown(t *testing.T) {
	ended := make(chan error, 8)
	newEP := func(name string) *lifecycle.Endpoint {
		return lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
			if err := s.Send(lifecycle.Event{Data: []byte(name)}); err != nil {
				return err
			}
			<-s.Done()
			return nil
		}, lifecycle.Options{
			Heartbeat: -1,
			Farewell:  &lifecycle.Event{Type: "bye"},
			OnClose:   func(_ *lifecycle.Session, ci lifecycle.CloseInfo) { ended <- ci.Reason },
		})
	}
	a, b := newEP("a"), newEP("b")
	mux := http.NewServeMux()
	mux.Handle("GET /a", nethttpadapter.Handler(a))
	mux.Handle("GET /b", nethttpadapter.Handler(b))
	srv := &http.Server{Handler: mux}
	lifecycle.EndOnShutdown(srv, a, b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	var streams []*conformance.Stream
	for _, p := range []string{"/a", "/b", "/a"} {
		st, err := conformance.Connect(context.Background(), http.DefaultClient, "http://"+ln.Addr().String()+p, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, err := st.Next(); err != nil {
			t.Fatal(err)
		}
		streams = append(streams, st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	if len(ended) != 3 {
		t.Errorf("%d of 3 sessions had ended when Shutdown returned", len(ended))
	}
	for range 3 {
		select {
		case r := <-ended:
			if !errors.Is(r, lifecycle.ErrShutdown) {
				t.Errorf("reason %v, want ErrShutdown", r)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a session did not end within 5 s of Shutdown")
		}
	}
	for i, st := range streams {
		if ev, err := st.Next(); err != nil || !strings.Contains(ev.Type, "bye") {
			t.Errorf("stream %d: %+v %v, want the farewell", i, ev, err)
		}
	}
}
