package listener

import (
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// control sets TCP_USER_TIMEOUT on c; d <= 0 leaves it alone.
func control(c syscall.RawConn, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	var err error
	if cerr := c.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(d.Milliseconds()))
	}); cerr != nil {
		return cerr
	}
	return err
}

func get(c syscall.RawConn) (time.Duration, error) {
	var ms int
	var err error
	if cerr := c.Control(func(fd uintptr) {
		ms, err = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
	}); cerr != nil {
		return 0, cerr
	}
	return time.Duration(ms) * time.Millisecond, err
}
