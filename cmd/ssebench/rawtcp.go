package main

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
)

// raw-tcp: the smallest correct broadcast server, the baseline of the scale
// scenario and of the single-event fan-out. No framework: an accept loop
// and one goroutine per connection, which reads the request head, writes a
// pre-encoded response head (close-delimited body), then waits for each
// broadcast and writes its pre-encoded bytes in one write. A broadcast
// wakes every connection's goroutine with one channel close. It has no
// heartbeat and notices a client that left at its next write.

// rawBcast is one broadcast; wire and next are set before done is closed.
type rawBcast struct {
	wire []byte
	next *rawBcast
	done chan struct{}
}

var (
	rawMu    sync.Mutex // serializes publishers
	rawNext  atomic.Pointer[rawBcast]
	rawConns atomic.Int64 // connections waiting for broadcasts
	rawTCP   bool         // this server is raw-tcp
)

var rawHead = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n")

func serveRawTCP(ln net.Listener) {
	rawTCP = true
	rawNext.Store(&rawBcast{done: make(chan struct{})})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go rawConn(c)
		}
	}()
}

func rawConn(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 1024)
	n := 0
	for !bytes.Contains(buf[:n], []byte("\r\n\r\n")) {
		m, err := c.Read(buf[n:])
		n += m
		if err != nil || n == len(buf) {
			return
		}
	}
	next := rawNext.Load() // every broadcast from here on
	if _, err := c.Write(rawHead); err != nil {
		return
	}
	rawConns.Add(1)
	defer rawConns.Add(-1)
	for {
		<-next.done
		if _, err := c.Write(next.wire); err != nil {
			return
		}
		next = next.next
	}
}

// rawPublish broadcasts one event with data to every connection.
func rawPublish(data []byte) {
	rawMu.Lock()
	defer rawMu.Unlock()
	b := rawNext.Load()
	b.wire = append(append([]byte("data: "), data...), "\n\n"...)
	b.next = &rawBcast{done: make(chan struct{})}
	rawNext.Store(b.next)
	close(b.done)
}
