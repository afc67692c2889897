package fiberv3adapter_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/gofiber/fiber/v3/middleware/cors"

	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/fiberv3adapter"
	"github.com/ssekit/ssekit/lifecycle"
)

// Mount an endpoint on Fiber v3. app.Shutdown ends the open streams with
// lifecycle.ErrShutdown and returns once their handlers have.
func Example() {
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		if err := s.Send(lifecycle.Event{Data: []byte("hello " + s.Request().Param("room"))}); err != nil {
			return err
		}
		<-s.Done() // until the client leaves or the app shuts down
		fmt.Println("ended:", s.Err())
		return nil
	}, lifecycle.Options{})

	app := fiber.New()
	app.Use(cors.New())
	app.Get("/rooms/:room/events", fiberv3adapter.Handler(ep))
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go app.Listener(ln, fiber.ListenConfig{DisableStartupMessage: true})

	st, err := conformance.Connect(context.Background(), http.DefaultClient, "http://"+ln.Addr().String()+"/rooms/lobby/events", nil)
	if err != nil {
		panic(err)
	}
	defer st.Close()
	ev, _ := st.Next()
	fmt.Println(ev.Data)
	app.ShutdownWithTimeout(10 * time.Second)
	// Output:
	// hello lobby
	// ended: lifecycle: server shutting down
}
