package listener_test

import (
	"log"
	"net/http"
	"time"

	"github.com/ssekit/ssekit/lifecycle"
	"github.com/ssekit/ssekit/listener"
	"github.com/ssekit/ssekit/nethttpadapter"
)

// A server whose dead clients are found within 15 s (heartbeat) + 30 s
// (user timeout), even when their machine vanished without a FIN or RST.
func Example() {
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		<-s.Done()
		return nil
	}, lifecycle.Options{Heartbeat: 15 * time.Second})
	ln, err := listener.Listen("tcp", "127.0.0.1:8080", listener.Options{UserTimeout: 30 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /events", nethttpadapter.Handler(ep))
	log.Fatal(http.Serve(ln, mux))
}
