package lifecycle

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

func TestAdmissionCaps(t *testing.T) {
	a := newAdmission(Options{MaxSessions: 4, MaxSessionsPerKey: 2,
		SessionKey: func(r *Request) string { return r.Path }})
	enter := func(key string, want bool) {
		t.Helper()
		_, err := a.enter(&Request{Path: key})
		if want && err != nil || !want && !errors.Is(err, ErrOverloaded) {
			t.Fatalf("enter(%s) = %v, want admitted %v", key, err, want)
		}
	}
	enter("a", true)
	enter("a", true)
	enter("a", false) // per key
	enter("b", true)
	enter("c", true)
	enter("d", false) // global
	a.leave("a")
	enter("d", true)
	enter("a", false) // global again
	for _, k := range []string{"a", "b", "c", "d"} {
		a.leave(k)
	}
	if a.open != 0 || len(a.byKey) != 0 {
		t.Errorf("after all left: open %d, keys %v; want none", a.open, a.byKey)
	}
	// No caps: nothing is counted.
	none := newAdmission(Options{})
	if _, err := none.enter(&Request{}); err != nil || none.byKey != nil {
		t.Errorf("without caps: %v, %v", err, none.byKey)
	}
}

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
	if admitted.Load() == 0 {
		t.Error("nothing admitted")
	}
	t.Logf("admitted %d, refused %d", admitted.Load(), refused.Load())
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
