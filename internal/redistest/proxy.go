package redistest

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP connections to a Redis server, and can lose one reply:
// the reply to the next command that contains a given string is read from
// the server and never passed on, with the connection left open, as a
// network that drops a packet for good.
type Proxy struct {
	Addr string // host:port on 127.0.0.1
	to   string
	ln   net.Listener

	mu     sync.Mutex
	marker []byte // a command containing it loses its reply
	conns  []net.Conn
	wg     sync.WaitGroup
}

// NewProxy starts a proxy to addr, closed at cleanup.
func NewProxy(t testing.TB, addr string) *Proxy {
	t.Helper()
	return NewProxyAt(t, "127.0.0.1:0", addr)
}

// NewProxyAt is NewProxy listening on listen (from FreeAddr, say): a client
// configured with that address before finds nothing there until then.
func NewProxyAt(t testing.TB, listen, addr string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: ln.Addr().String(), to: addr, ln: ln}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// FreeAddr returns an address on 127.0.0.1 where nothing listens.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// DropReplyTo makes the proxy lose the reply to the next command whose
// bytes contain marker.
func (p *Proxy) DropReplyTo(marker string) {
	p.mu.Lock()
	p.marker = []byte(marker)
	p.mu.Unlock()
}

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.to)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		drop := make(chan struct{}, 1) // the next reply on this connection goes nowhere
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			defer s.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					p.mu.Lock()
					if p.marker != nil && bytes.Contains(buf[:n], p.marker) {
						p.marker = nil
						drop <- struct{}{}
					}
					p.mu.Unlock()
					if _, err := s.Write(buf[:n]); err != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
		go func() {
			defer p.wg.Done()
			defer c.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := s.Read(buf)
				if n > 0 {
					select {
					case <-drop:
						continue // lost
					default:
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
				if err != nil {
					io.Copy(io.Discard, s)
					return
				}
			}
		}()
	}
}
