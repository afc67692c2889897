//go:build !linux

package listener

import (
	"syscall"
	"time"
)

func control(syscall.RawConn, time.Duration) error { return nil }

func get(syscall.RawConn) (time.Duration, error) { return 0, nil }
