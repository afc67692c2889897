// Package tracker keeps the set of things that are live (sessions, streams)
// so that they can be ended together and waited for.
package tracker

import "sync"

// Set is a set of live values that can be closed: once closed it refuses new
// members and reports when the last one has left. The zero value is an empty
// open set. A Set is safe for concurrent use.
type Set[T comparable] struct {
	mu      sync.Mutex
	live    map[T]struct{}
	closing bool
	drained chan struct{} // made by Close; closed when live is empty
}

// Add adds v and reports true, or reports false if the set is closed.
func (s *Set[T]) Add(v T) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	if s.live == nil {
		s.live = make(map[T]struct{})
	}
	s.live[v] = struct{}{}
	return true
}

// Remove removes v, if present.
func (s *Set[T]) Remove(v T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.live[v]; !ok {
		return
	}
	delete(s.live, v)
	if s.closing && len(s.live) == 0 {
		close(s.drained)
	}
}

// Len returns the number of members.
func (s *Set[T]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live)
}

// Each calls f for every member, holding the set's lock: f must be quick
// and must not call the set's methods. Members added or removed meanwhile
// wait until it returns.
func (s *Set[T]) Each(f func(T)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for v := range s.live {
		f(v)
	}
}

// Closed reports whether Close has been called.
func (s *Set[T]) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Close closes the set, if it is not closed already, and returns its members
// and a channel that is closed once the set is empty. It may be called more
// than once.
func (s *Set[T]) Close() ([]T, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closing {
		s.closing = true
		s.drained = make(chan struct{})
		if len(s.live) == 0 {
			close(s.drained)
		}
	}
	members := make([]T, 0, len(s.live))
	for v := range s.live {
		members = append(members, v)
	}
	return members, s.drained
}
