package ginadapter_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/ginadapter"
	"github.com/ssekit/ssekit/lifecycle"
)

// Mount an endpoint on Gin, with graceful shutdown wired to the server's
// Shutdown.
func Example() {
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		return s.Send(lifecycle.Event{Data: []byte("hello " + s.Request().Param("room"))})
	}, lifecycle.Options{})

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery())
	r.GET("/rooms/:room/events", ginadapter.Handler(ep))

	srv := &http.Server{Handler: r}
	lifecycle.EndOnShutdown(srv, ep) // srv.Shutdown then ends open streams
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()

	st, err := conformance.Connect(context.Background(), http.DefaultClient, "http://"+ln.Addr().String()+"/rooms/lobby/events", nil)
	if err != nil {
		panic(err)
	}
	defer st.Close()
	ev, _ := st.Next()
	fmt.Println(ev.Data)
	// Output: hello lobby
}
