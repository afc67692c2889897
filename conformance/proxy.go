package conformance

import (
	"net"
	"sync"
	"syscall"
)

// proxy is a TCP proxy on 127.0.0.1 whose cable can be pulled: after pull it
// forwards nothing in either direction and reads nothing, but keeps both
// connections open, so neither end sees a FIN or RST, as when a client's
// machine vanishes. Its connection to the server has the smallest receive
// buffer the system allows, so the server's writes soon stop being
// acknowledged with room to send more (a closed receive window): what the
// server sees of a dead peer, short of dropping packets, which needs
// privileges.
type proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	pulled chan struct{} // closed by pull
	done   bool
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newProxy(target string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, target: target, pulled: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			c.Control(func(fd uintptr) { serr = shrinkReceiveBuffer(fd) })
			return serr
		}}
		server, err := d.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		if !p.track(client, server) {
			return
		}
		p.wg.Add(2)
		go p.forward(server, client)
		go p.forward(client, server)
	}
}

// track records conns for close; false if the proxy is closed.
func (p *proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	p.conns = append(p.conns, conns...)
	return true
}

// forward copies src to dst until the cable is pulled, then reads no more.
func (p *proxy) forward(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 512)
	for {
		select {
		case <-p.pulled:
			return // read nothing more; the connections stay open
		default:
		}
		n, err := src.Read(buf)
		select {
		case <-p.pulled:
			return // these bytes are lost, as on a dead link
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if tc, ok := dst.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
			return
		}
	}
}

// pull stops all forwarding, in both directions, keeping the connections open.
func (p *proxy) pull() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.pulled:
	default:
		close(p.pulled)
	}
}

// close closes the listener and every connection.
func (p *proxy) close() {
	p.pull()
	p.mu.Lock()
	p.done = true
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
