package listener_test

import (
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/ssekit/ssekit/listener"
)

// accepted returns the server side of one connection to ln.
func accepted(t *testing.T, ln net.Listener) net.Conn {
	t.Helper()
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, ok := c.(*net.TCPConn); !ok {
		t.Errorf("accepted a %T, want *net.TCPConn: frameworks and adapters look for it", c)
	}
	return c
}

func TestAcceptedConnectionsGetTheUserTimeout(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("TCP_USER_TIMEOUT is Linux-only")
	}
	for name, tc := range map[string]struct {
		opts listener.Options
		want time.Duration
	}{
		"default":  {listener.Options{}, listener.DefaultUserTimeout},
		"set":      {listener.Options{UserTimeout: 1500 * time.Millisecond}, 1500 * time.Millisecond},
		"negative": {listener.Options{UserTimeout: -1}, 0},
	} {
		t.Run(name, func(t *testing.T) {
			ln, err := listener.Listen("tcp", "127.0.0.1:0", tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := listener.UserTimeout(accepted(t, ln)); err != nil || got != tc.want {
				t.Errorf("Listen: accepted connection's user timeout = %v, %v; want %v", got, err, tc.want)
			}
			plain, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			if got, err := listener.UserTimeout(accepted(t, listener.Wrap(plain, tc.opts))); err != nil || got != tc.want {
				t.Errorf("Wrap: accepted connection's user timeout = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
