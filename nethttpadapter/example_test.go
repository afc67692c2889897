package nethttpadapter_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/lifecycle"
	"github.com/ssekit/ssekit/nethttpadapter"
)

// Mount an endpoint on a ServeMux; the pattern's wildcards are the session's
// route parameters.
func Example() {
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		room := s.Request().Param("room")
		for i := 1; i <= 3; i++ {
			err := s.Send(lifecycle.Event{ID: fmt.Sprint(i), Data: []byte(fmt.Sprintf("%s #%d", room, i))})
			if err != nil {
				return err
			}
		}
		return nil // ends the stream
	}, lifecycle.Options{})

	mux := http.NewServeMux()
	mux.Handle("GET /rooms/{room}/events", nethttpadapter.Handler(ep))
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()

	st, err := conformance.Connect(context.Background(), http.DefaultClient, "http://"+ln.Addr().String()+"/rooms/lobby/events", nil)
	if err != nil {
		panic(err)
	}
	defer st.Close()
	for {
		ev, err := st.Next()
		if err != nil {
			break
		}
		fmt.Printf("id=%s data=%q\n", ev.LastEventID, ev.Data)
	}
	// Output:
	// id=1 data="lobby #1"
	// id=2 data="lobby #2"
	// id=3 data="lobby #3"
}

// Graceful shutdown: http.Server.Shutdown waits for streaming handlers but
// never ends them, so register Endpoint.Shutdown to run first. Every open
// client gets the farewell, with a retry hint, before its stream ends.
func Example_gracefulShutdown() {
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		<-s.Done() // a real handler would also be sending events
		return nil
	}, lifecycle.Options{
		Farewell: &lifecycle.Event{Type: "restart", Data: []byte("back soon"), Retry: 5 * time.Second},
	})
	srv := &http.Server{Handler: nethttpadapter.Handler(ep)}
	srv.RegisterOnShutdown(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ep.Shutdown(ctx)
	})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)

	st, err := conformance.Connect(context.Background(), http.DefaultClient, "http://"+ln.Addr().String(), nil)
	if err != nil {
		panic(err)
	}
	defer st.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Println("shutdown:", srv.Shutdown(ctx))
	ev, _ := st.Next()
	fmt.Printf("%s: %s (retry %v)\n", ev.Type, ev.Data, st.Retry())
	// Output:
	// shutdown: <nil>
	// restart: back soon (retry 5s)
}
