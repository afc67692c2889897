package fiberadapter

import (
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// reusedConn is a hijacked connection handed back to fasthttp after a
// stream ended cleanly, so the client can send more requests on it (keep-alive
// and pipelining work as without ssekit). It first replays the bytes the
// watcher read past the stream's request.
type reusedConn struct {
	net.Conn          // the hijacked connection: reads go through fasthttp's buffer
	real     net.Conn // the connection under it, which Close closes
	pending  []byte   // bytes of the next request(s) the watcher already read

	once   sync.Once
	closed chan struct{} // closed by Close: fasthttp is done with the connection
}

func (c *reusedConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// Close closes the real connection: fasthttp calls it when it is done with
// the connection, including when it closes idle connections on shutdown.
func (c *reusedConn) Close() error {
	err := c.real.Close()
	c.once.Do(func() { close(c.closed) })
	return err
}

// serveRest hands conn back to srv and returns when srv is done with it. If a
// later request on it is hijacked in turn (another stream), fasthttp closes
// the connection only when that stream ends, so serveRest waits for the
// close rather than for ServeConn: the hijack handler that called it must not
// return, which would make fasthttp close the connection under the new
// stream.
//
// shuttingDown is closed when srv begins to shut down. fasthttp counts a
// connection it is handed as new, idle only after 5 s, so its Shutdown would
// wait that long for this one; instead the wait for the next request is
// expired at once (a request in progress still gets its response, after
// which fasthttp, shutting down, closes the connection).
func serveRest(srv *fasthttp.Server, conn net.Conn, pending []byte, shuttingDown <-chan struct{}) {
	real := underlying(conn)
	rc := &reusedConn{Conn: conn, real: real, pending: pending, closed: make(chan struct{})}
	conn.SetDeadline(time.Time{})
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-shuttingDown:
			real.SetReadDeadline(time.Now()) // real, not conn: fasthttp may release conn
		case <-stop:
		}
	}()
	srv.ServeConn(rc)
	<-rc.closed
	close(stop)
	<-stopped
}

// underlying returns the network connection under fasthttp's hijack wrappers
// and this package's reusedConn, however deeply a kept-alive connection has
// been hijacked again. Unlike the wrappers, which fasthttp recycles, it stays
// a valid (if closed) value.
func underlying(conn net.Conn) net.Conn {
	for {
		switch c := conn.(type) {
		case *reusedConn:
			conn = c.real
		case interface{ UnsafeConn() net.Conn }:
			conn = c.UnsafeConn()
		default:
			return conn
		}
	}
}
