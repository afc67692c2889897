// Package listener makes TCP listeners that notice dead peers: clients whose
// machine vanished (cable pulled, laptop lid closed, NAT state dropped) with
// no FIN or RST ever arriving.
//
// Such a client is invisible to every disconnect check that waits for the
// peer to say something. A small write, such as a heartbeat, fits in the
// socket buffer and succeeds, so write deadlines never fire; the kernel
// retransmits it for up to about 15 minutes (tcp_retries2) before it gives
// up, and TCP keepalive does not probe while data is unacknowledged.
// TCP_USER_TIMEOUT (Linux) bounds how long sent data may stay
// unacknowledged: past it, the kernel aborts the connection, which every
// ssekit adapter reports as lifecycle.ErrClientGone.
//
// With a listener from this package and heartbeats on (lifecycle.Options),
// a dead peer's session ends within Heartbeat + UserTimeout (plus the
// retransmission timer's granularity, well under a second on a LAN): the
// next heartbeat after the peer vanished is the data that goes
// unacknowledged. With heartbeats off, TCP keepalive (on by default for
// accepted connections in Go, 15 s idle) does the probing, and the bound is
// the keepalive idle time plus UserTimeout.
//
// Use it with any framework:
//
//	ln, err := listener.Listen("tcp", ":8080", listener.Options{})
//	http.Serve(ln, mux)   // net/http, chi
//	e.Listener = ln       // Echo, then e.Start("")
//	app.Listener(ln)      // Fiber
//
// On systems other than Linux, UserTimeout is not applied (they lack the
// option); keepalive still is.
package listener
