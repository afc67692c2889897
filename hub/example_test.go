package hub_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ssekit/ssekit/hub"
	"github.com/ssekit/ssekit/lifecycle"
	"github.com/ssekit/ssekit/nethttpadapter"
)

// A chat room: every page subscribed to "chat" gets every message; a page
// that reconnects gets what it missed.
func Example() {
	h := hub.New(hub.NewMemory(hub.Retention{MaxLen: 1000}), hub.Options{})
	defer h.Close()
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		return h.Serve(s, s.Request().Query()["topic"]...)
	}, lifecycle.Options{Heartbeat: -1})
	mux := http.NewServeMux()
	mux.Handle("GET /events", nethttpadapter.Handler(ep))
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	defer ep.Shutdown(context.Background())

	// A page subscribes...
	resp, err := http.Get("http://" + ln.Addr().String() + "/events?topic=chat")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	for deadline := time.Now().Add(5 * time.Second); h.Stats().Subscribers["chat"] == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	// ...and a message is published.
	h.Publish(context.Background(), "chat", hub.Event{Type: "message", Data: []byte("hello")})

	r := bufio.NewReader(resp.Body)
	for range 3 {
		line, _ := r.ReadString('\n')
		if strings.HasPrefix(line, "id: ") {
			line = "id: <seq-epoch>\n" // the position in the hub's log
		}
		fmt.Print(line)
	}
	// Output:
	// id: <seq-epoch>
	// event: message
	// data: hello
}
