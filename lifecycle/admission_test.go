package lifecycle

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// Under concurrent arrivals, neither cap is ever exceeded and every place
// taken is given back.
func TestAdmissionCapsUnderConcurrency(t *testing.T) {
	a := newAdmission(Options{MaxSessions: 10, MaxSessionsPerKey: 3,
		SessionKey: func(r *Request) string { return r.Path }})
	var open atomic.Int64
	var perKey [5]atomic.Int64
	var admitted, refused atomic.Int64
	var wg sync.WaitGroup
	for g := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := g % len(perKey)
			r := &Request{Path: string(rune('a' + k))}
			for range 500 {
				key, err := a.enter(r)
				if err != nil {
					if !errors.Is(err, ErrOverloaded) {
						t.Errorf("refusal %v, want ErrOverloaded", err)
					}
					refused.Add(1)
					continue
				}
				admitted.Add(1)
				if n := open.Add(1); n > 10 {
					t.Errorf("%d admitted at once, cap 10", n)
				}
				if n := perKey[k].Add(1); n > 3 {
					t.Errorf("%d admitted at once for key %s, cap 3", n, key)
				}
				perKey[k].Add(-1)
				open.Add(-1)
				a.leave(key)
			}
		}()
	}
	wg.Wait()
	if admitted.Load() == 0 || refused.Load() == 0 {
		t.Errorf("admitted %d, refused %d: the run did not exercise both", admitted.Load(), refused.Load())
	}
	if a.open != 0 || len(a.byKey) != 0 {
		t.Errorf("after all left: open %d, keys %v; want none", a.open, a.byKey)
	}
}

func TestClientIP(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.1:5000":  "192.0.2.1",
		"[2001:db8::1]:1": "2001:db8::1",
		"no-port":         "no-port",
	} {
		if got := ClientIP(&Request{RemoteAddr: addr}); got != want {
			t.Errorf("ClientIP(%q) = %q, want %q", addr, got, want)
		}
	}
}
