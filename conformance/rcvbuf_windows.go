//go:build windows

package conformance

import "syscall"

// shrinkReceiveBuffer gives the socket fd the smallest receive buffer the
// system allows, before it connects.
func shrinkReceiveBuffer(fd uintptr) error {
	return syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1)
}
