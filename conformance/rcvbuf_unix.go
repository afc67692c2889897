//go:build unix

package conformance

import "syscall"

// shrinkReceiveBuffer gives the socket fd the smallest receive buffer the
// system allows, before it connects.
func shrinkReceiveBuffer(fd uintptr) error {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1)
}
