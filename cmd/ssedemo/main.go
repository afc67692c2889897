// Command ssedemo is ssekit's demo: a live web page fed by Server-Sent
// Events, served by the framework of your choice.
//
//	go run ./cmd/ssedemo                       # Fiber, on http://127.0.0.1:8080
//	go run ./cmd/ssedemo -framework chi        # nethttp, chi, echo, fiber, fiberv3, echov5 or gin
//	go run ./cmd/ssedemo -redis redis://127.0.0.1:6379   # the Redis hub
//
// The page shows a clock stream, a chat room (broadcast through the hub,
// resumed without loss after a reconnect), the number of open sessions and
// a log of sessions ending, with their reason and how long after the page
// closed the server noticed. GET /metrics serves the OpenTelemetry metrics
// of the endpoint and the hub (package otelsse) through the Prometheus
// exporter. Ctrl-C shuts down gracefully: open pages get a farewell event
// and reconnect once the demo is back.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	framework := flag.String("framework", "fiber", "nethttp, chi, echo, fiber, fiberv3, echov5 or gin")
	redisURL := flag.String("redis", "", "use the Redis hub at this URL (redis://host:port) instead of the embedded one")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	d, err := newDemo(*framework, *redisURL)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("ssedemo (%s) on http://%s — Ctrl-C to stop\n", *framework, ln.Addr())
	if err := d.run(ctx, ln); err != nil {
		log.Fatal(err)
	}
	fmt.Println("ssedemo: stopped")
}

// frameworks lists what -framework accepts.
var frameworks = []string{"nethttp", "chi", "echo", "fiber", "fiberv3", "echov5", "gin"}

func validFramework(f string) error {
	for _, x := range frameworks {
		if x == f {
			return nil
		}
	}
	return fmt.Errorf("unknown framework %q: want one of %s", f, strings.Join(frameworks, ", "))
}
