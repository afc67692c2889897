//go:build linux

package main

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// bindNoPort lets the kernel pick the source port at connect time rather
// than at bind time (IP_BIND_ADDRESS_NO_PORT): a port is then unique per
// destination, not per source address, so successive runs on different
// server ports do not run out of ports while earlier connections sit in
// TIME_WAIT.
func bindNoPort(_, _ string, c syscall.RawConn) error {
	var err error
	cerr := c.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	if cerr != nil {
		return cerr
	}
	return err
}
