package chiadapter_test

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/ssekit/ssekit/chiadapter"
	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/lifecycle"
)

// Mount an endpoint on a chi router, behind chi's middleware.
func Example() {
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		return s.Send(lifecycle.Event{Data: []byte("hello " + s.Request().Param("room"))})
	}, lifecycle.Options{})

	r := chi.NewRouter()
	r.Use(middleware.RequestID, middleware.Recoverer)
	r.Get("/rooms/{room}/events", chiadapter.Handler(ep))
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &http.Server{Handler: r}
	go srv.Serve(ln)
	defer srv.Close()

	st, err := conformance.Connect(context.Background(), http.DefaultClient, "http://"+ln.Addr().String()+"/rooms/lobby/events", nil)
	if err != nil {
		panic(err)
	}
	defer st.Close()
	ev, _ := st.Next()
	fmt.Println(ev.Data)
	// Output: hello lobby
}
