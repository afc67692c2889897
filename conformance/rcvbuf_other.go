//go:build !unix && !windows

package conformance

// shrinkReceiveBuffer does nothing where socket options are not available:
// the proxy's buffers are then the system's defaults.
func shrinkReceiveBuffer(uintptr) error { return nil }
