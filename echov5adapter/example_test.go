package echov5adapter_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"

	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/echov5adapter"
	"github.com/ssekit/ssekit/lifecycle"
)

// Mount an endpoint on Echo v5, with graceful shutdown wired to the start
// context.
func Example() {
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		return s.Send(lifecycle.Event{Data: []byte("hello " + s.Request().Param("room"))})
	}, lifecycle.Options{})

	e := echo.New()
	e.Use(middleware.Recover(), middleware.RequestID())
	e.GET("/rooms/:room/events", echov5adapter.Handler(ep))

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, stop := context.WithCancel(context.Background())
	sc := echo.StartConfig{
		Listener: ln, HideBanner: true, HidePort: true, GracefulTimeout: 10 * time.Second,
		BeforeServeFunc: func(s *http.Server) error {
			lifecycle.EndOnShutdown(s, ep) // canceling ctx then ends open streams
			return nil
		},
	}
	served := make(chan error)
	go func() { served <- sc.Start(ctx, e) }()
	defer func() { stop(); <-served }()

	st, err := conformance.Connect(context.Background(), http.DefaultClient, "http://"+ln.Addr().String()+"/rooms/lobby/events", nil)
	if err != nil {
		panic(err)
	}
	defer st.Close()
	ev, _ := st.Next()
	fmt.Println(ev.Data)
	// Output: hello lobby
}
