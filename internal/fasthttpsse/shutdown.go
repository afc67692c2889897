package fasthttpsse

import (
	"context"
	"sync"

	"github.com/ssekit/ssekit/lifecycle"
)

// shutdowns ends streams when their fasthttp server begins to shut down.
// fasthttp's RequestCtx.Done is the server's channel, closed when Shutdown
// begins; Shutdown then waits, within its caller's deadline, for the
// handlers still running, which is where streams run. Rather than a
// goroutine per stream waiting on that channel, one goroutine per server
// waits for it and ends that server's streams; it exists only while the
// server has streams. No hook is registered with the server or the
// framework: nothing needs to be torn down.
type shutdowns struct {
	mu     sync.Mutex
	groups map[<-chan struct{}]*group // by the server's channel
}

// group is the streams of one server.
type group struct {
	streams map[*context.CancelCauseFunc]struct{}
	down    bool          // the channel is closed: end newcomers at once
	idle    chan struct{} // closed when the group empties before shutdown
}

// add ends the stream with lifecycle.ErrShutdown when done is closed (at
// once if it is already), until the returned function is called. A nil done
// (a server not started by Serve, such as Fiber's app.Test) never closes.
func (s *shutdowns) add(done <-chan struct{}, cancel context.CancelCauseFunc) (remove func()) {
	if done == nil {
		return func() {}
	}
	key := &cancel
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[done]
	if g == nil {
		if s.groups == nil {
			s.groups = make(map[<-chan struct{}]*group)
		}
		g = &group{streams: make(map[*context.CancelCauseFunc]struct{}), idle: make(chan struct{})}
		s.groups[done] = g
		go s.wait(done, g)
	}
	if g.down {
		cancel(lifecycle.ErrShutdown)
	}
	g.streams[key] = struct{}{}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(g.streams, key)
		if len(g.streams) == 0 {
			delete(s.groups, done)
			if !g.down {
				close(g.idle)
			}
		}
	}
}

// wait ends g's streams when done is closed, or returns when g empties.
func (s *shutdowns) wait(done <-chan struct{}, g *group) {
	select {
	case <-g.idle:
	case <-done:
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(g.streams) == 0 { // emptied as done closed; idle is closed
			return
		}
		g.down = true
		for cancel := range g.streams {
			(*cancel)(lifecycle.ErrShutdown)
		}
	}
}
