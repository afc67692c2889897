package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/lifecycle"
	"github.com/ssekit/ssekit/nethttpadapter"
)

// A handler sends until the session ends. Send is safe from any goroutine;
// here a ticker drives it, and the client's departure (or Shutdown) closes
// Done.
func ExampleSession_Send() {
	ticks := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		n := 0
		for {
			select {
			case <-s.Done():
				return nil
			case <-t.C:
				n++
				if err := s.Send(lifecycle.Event{ID: fmt.Sprint(n), Type: "tick", Data: []byte(fmt.Sprint("tick ", n))}); err != nil {
					return err // the session has ended; Err says why
				}
			}
		}
	}, lifecycle.Options{})

	srv := httptest.NewServer(nethttpadapter.Handler(ticks)) // any adapter works
	defer srv.Close()
	st, err := conformance.Connect(context.Background(), srv.Client(), srv.URL, nil)
	if err != nil {
		panic(err)
	}
	for range 2 {
		ev, _ := st.Next()
		fmt.Println(ev.Type, ev.Data, "id", ev.LastEventID)
	}
	st.Close()
	// Output:
	// tick tick 1 id 1
	// tick tick 2 id 2
}

// Why a session ended is a sentinel error, checked with errors.Is.
func ExampleSession_Err() {
	ended := make(chan error, 1)
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		<-s.Done()
		return nil
	}, lifecycle.Options{OnClose: func(_ *lifecycle.Session, info lifecycle.CloseInfo) { ended <- info.Reason }})
	srv := httptest.NewServer(nethttpadapter.Handler(ep))
	defer srv.Close()
	st, err := conformance.Connect(context.Background(), &http.Client{}, srv.URL, nil)
	if err != nil {
		panic(err)
	}
	st.Close() // the client goes away
	reason := <-ended
	fmt.Println(reason == nil, errors.Is(reason, lifecycle.ErrClientGone))
	// Output:
	// false true
}
