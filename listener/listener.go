package listener

import (
	"context"
	"net"
	"syscall"
	"time"
)

// DefaultUserTimeout is Options.UserTimeout's default: long enough for a
// congested but live mobile link, short next to the kernel's 15 minutes.
const DefaultUserTimeout = 30 * time.Second

// Options configures a listener. The zero value means the defaults.
type Options struct {
	// UserTimeout is how long data sent on an accepted connection may stay
	// unacknowledged before the kernel aborts the connection
	// (TCP_USER_TIMEOUT). Zero means DefaultUserTimeout; negative leaves the
	// system's behavior. Linux only; ignored elsewhere.
	UserTimeout time.Duration
}

func (o Options) userTimeout() time.Duration {
	if o.UserTimeout == 0 {
		return DefaultUserTimeout
	}
	return o.UserTimeout
}

// Listen announces on the local address like net.Listen ("tcp", "tcp4" or
// "tcp6"), and sets TCP_USER_TIMEOUT on the listening socket, from which
// every accepted connection inherits it. The listener is a plain
// *net.TCPListener and its connections plain *net.TCPConn.
func Listen(network, address string, opts Options) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return control(c, opts.userTimeout())
	}}
	return lc.Listen(context.Background(), network, address)
}

// Wrap returns a listener that sets TCP_USER_TIMEOUT on each connection ln
// accepts, for a listener made elsewhere. Accepted connections keep their
// type (*net.TCPConn for a TCP listener). A connection the option cannot be
// set on is closed and Accept returns the error.
func Wrap(ln net.Listener, opts Options) net.Listener {
	return &wrapped{Listener: ln, timeout: opts.userTimeout()}
}

type wrapped struct {
	net.Listener
	timeout time.Duration
}

func (w *wrapped) Accept() (net.Conn, error) {
	c, err := w.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if sc, ok := c.(syscall.Conn); ok {
		rc, err := sc.SyscallConn()
		if err == nil {
			err = control(rc, w.timeout)
		}
		if err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// UserTimeout returns the TCP_USER_TIMEOUT set on conn (zero if none, or
// not on Linux).
func UserTimeout(conn net.Conn) (time.Duration, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return 0, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	return get(rc)
}
