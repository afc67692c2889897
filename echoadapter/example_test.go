package echoadapter_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/echoadapter"
	"github.com/ssekit/ssekit/lifecycle"
)

// Mount an endpoint on Echo, with graceful shutdown wired to e.Shutdown.
func Example() {
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		return s.Send(lifecycle.Event{Data: []byte("hello " + s.Request().Param("room"))})
	}, lifecycle.Options{})

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(middleware.Recover(), middleware.RequestID())
	e.GET("/rooms/:room/events", echoadapter.Handler(ep))
	e.Server.RegisterOnShutdown(func() { // e.Shutdown then ends open streams
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ep.Shutdown(ctx)
	})
	e.Listener, _ = net.Listen("tcp", "127.0.0.1:0")
	go e.Start("")
	defer e.Shutdown(context.Background())

	st, err := conformance.Connect(context.Background(), http.DefaultClient, "http://"+e.Listener.Addr().String()+"/rooms/lobby/events", nil)
	if err != nil {
		panic(err)
	}
	defer st.Close()
	ev, _ := st.Next()
	fmt.Println(ev.Data)
	// Output: hello lobby
}
