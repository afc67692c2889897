//go:build linux

package fasthttpsse

import (
	"context"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// startWatch watches conn through the shared epoll instance when its
// socket can be found (a plain TCP connection, or TLS over one), and with a
// reader goroutine otherwise (wrappers that hide the socket, such as
// fasthttp's MaxConnsPerIP counter).
func startWatch(conn net.Conn, cancel context.CancelCauseFunc) watch {
	clearReadDeadline(conn)
	p := sharedPoller()
	sc, ok := socketOf(conn)
	if p == nil || !ok {
		return watchReading(conn, cancel)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return watchReading(conn, cancel)
	}
	if w := p.add(conn, rc, cancel); w != nil {
		return w
	}
	return watchReading(conn, cancel)
}

// socketOf returns the socket under conn: conn itself, or the connection
// under TLS. epoll only watches it for readiness; reading is always done
// through conn.
func socketOf(conn net.Conn) (syscall.Conn, bool) {
	if tc, ok := conn.(interface{ NetConn() net.Conn }); ok {
		conn = tc.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	return sc, ok
}

// poller watches idle hijacked sockets for the client closing them (or
// sending anything) with one epoll instance for the whole process. Its
// goroutine exists only while something is watched, and parks in Go's
// network poller, not in a system call. When a socket becomes readable
// (FIN, RST, an error, or bytes of a pipelined request), the poller hands
// the connection to a reader goroutine, which reads exactly as it would have
// from the start: the close is then reported with its real error, and bytes
// are kept for the next request. Idle streams thus cost no goroutine each.
type poller struct {
	epfd int             // the epoll instance; never closed
	file *os.File        // epfd, registered with Go's network poller
	rc   syscall.RawConn // file's, to wait for events

	mu      sync.Mutex
	watched map[uint32]*polled // by token
	next    uint32             // the last token handed out
	running bool               // the wait goroutine is running
	broken  bool               // epoll failed; watch with readers from now on
}

// polled is one connection watched by the poller.
type polled struct {
	p      *poller
	token  uint32 // the key in p.watched and in the epoll event
	conn   net.Conn
	rc     syscall.RawConn // conn's descriptor
	cancel context.CancelCauseFunc
	reader *reader // set under p.mu when the poller handed the connection over
}

// sharedPoller returns the process's poller, or nil if epoll is unusable.
var sharedPoller = sync.OnceValue(func() *poller {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	// Non-blocking, os.NewFile registers the descriptor with Go's network
	// poller: waiting for events parks a goroutine, not a thread.
	if unix.SetNonblock(epfd, true) != nil {
		unix.Close(epfd)
		return nil
	}
	f := os.NewFile(uintptr(epfd), "ssekit-epoll")
	rc, err := f.SyscallConn()
	if err != nil || f.SetReadDeadline(time.Time{}) != nil { // not pollable
		f.Close()
		return nil
	}
	return &poller{epfd: epfd, file: f, rc: rc, watched: make(map[uint32]*polled)}
})

// add watches conn, or returns nil if it cannot.
func (p *poller) add(conn net.Conn, rc syscall.RawConn, cancel context.CancelCauseFunc) *polled {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.broken {
		return nil
	}
	p.next++
	for p.watched[p.next] != nil { // after 2^32 connections
		p.next++
	}
	w := &polled{p: p, token: p.next, conn: conn, rc: rc, cancel: cancel}
	// Level-triggered: a close or bytes that came before this call are
	// reported at once. One-shot: reported once; the poller then hands the
	// connection over.
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(w.token)}
	var err error
	// Control holds the descriptor open, so it cannot be closed and its
	// number reused under the call.
	if cerr := rc.Control(func(fd uintptr) { err = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev) }); cerr != nil || err != nil {
		return nil
	}
	p.watched[w.token] = w
	if !p.running {
		p.running = true
		p.file.SetReadDeadline(time.Time{})
		go p.wait()
	}
	return w
}

// wait hands over every connection epoll reports until none is watched.
func (p *poller) wait() {
	var events [64]unix.EpollEvent
	for {
		var n int
		var werr error
		err := p.rc.Read(func(fd uintptr) bool {
			n, werr = unix.EpollWait(int(fd), events[:], 0)
			if werr == unix.EINTR {
				n, werr = 0, nil
			}
			return n > 0 || werr != nil // false: park until epfd is readable
		})
		p.mu.Lock()
		if werr != nil { // cannot happen on a valid epoll descriptor; do not spin
			p.broken = true
			n = 0
			for _, w := range p.watched {
				p.handOver(w)
			}
		}
		for _, ev := range events[:max(n, 0)] {
			// A connection removed since epoll reported it is gone from the
			// map; a token reused since then at worst gets a reader early.
			if w := p.watched[uint32(ev.Fd)]; w != nil {
				p.handOver(w)
			}
		}
		if len(p.watched) == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		if err != nil {
			// The deadline stop set to wake this goroutine, but a connection
			// was added since: wait again.
			p.file.SetReadDeadline(time.Time{})
		}
		p.mu.Unlock()
	}
}

// handOver stops polling w and starts a reader on it. p.mu must be held.
func (p *poller) handOver(w *polled) {
	p.forget(w)
	w.reader = watchReading(w.conn, w.cancel)
}

// forget removes w from epoll and from p.watched. p.mu must be held.
func (p *poller) forget(w *polled) {
	delete(p.watched, w.token)
	w.rc.Control(func(fd uintptr) { unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
}

func (w *polled) wait() {
	w.p.mu.Lock()
	r := w.reader
	w.p.mu.Unlock()
	if r != nil {
		r.wait()
	}
}

func (w *polled) stop() bool {
	p := w.p
	p.mu.Lock()
	if r := w.reader; r != nil {
		p.mu.Unlock()
		return r.stop()
	}
	p.forget(w)
	if len(p.watched) == 0 && p.running {
		p.file.SetReadDeadline(time.Unix(1, 0)) // wake the goroutine to end it
	}
	p.mu.Unlock()
	return true
}
