//go:build !linux

package fasthttpsse

import (
	"context"
	"net"
)

// startWatch watches conn with a reader goroutine.
func startWatch(conn net.Conn, cancel context.CancelCauseFunc) watch {
	clearReadDeadline(conn)
	return watchReading(conn, cancel)
}
