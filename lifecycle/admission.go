package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// admission enforces Options.MaxSessions and MaxSessionsPerKey. It is safe
// for concurrent use.
type admission struct {
	max, perKey int
	key         func(*Request) string

	mu    sync.Mutex
	open  int            // sessions admitted and not yet left
	byKey map[string]int // the same, per key; entries at zero are deleted
}

func newAdmission(o Options) *admission {
	a := &admission{max: o.MaxSessions, perKey: o.MaxSessionsPerKey, key: o.SessionKey}
	if a.key == nil {
		a.key = ClientIP
	}
	if a.perKey > 0 {
		a.byKey = make(map[string]int)
	}
	return a
}

// enter admits r or returns why not (an error matching ErrOverloaded). A
// nil error obliges the caller to call leave with the returned key.
func (a *admission) enter(r *Request) (key string, err error) {
	if a.max <= 0 && a.perKey <= 0 {
		return "", nil
	}
	if a.perKey > 0 {
		key = a.key(r) // outside the lock: it is the user's code
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.max > 0 && a.open >= a.max {
		return "", reason(ErrOverloaded, fmt.Errorf("%d sessions open, the endpoint's cap", a.open))
	}
	if a.perKey > 0 && a.byKey[key] >= a.perKey {
		return "", reason(ErrOverloaded, fmt.Errorf("%d sessions open for key %q, its cap", a.byKey[key], key))
	}
	a.open++
	if a.perKey > 0 {
		a.byKey[key]++
	}
	return key, nil
}

func (a *admission) leave(key string) {
	if a.max <= 0 && a.perKey <= 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.open--
	if a.perKey > 0 {
		if a.byKey[key]--; a.byKey[key] <= 0 {
			delete(a.byKey, key)
		}
	}
}

// ClientIP returns the host part of r.RemoteAddr: the default key of
// Options.MaxSessionsPerKey. Behind a reverse proxy RemoteAddr is the
// proxy's address. Derive the key instead from what your proxy sets, and
// trust it only from the proxy's addresses: a client can send any
// X-Forwarded-For it likes (which is why chi deprecates its RealIP; use
// its ClientIPFromXFF with your proxies' ranges). Fiber's adapter uses
// c.IP(), which honours Config.ProxyHeader and TrustedProxies.
func ClientIP(r *Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// reject answers a stream refused by admission: 503 with Retry-After, before
// anything of a stream is sent.
func (e *Endpoint) reject(ctx context.Context, t Transport, r *Request, why error) {
	secs := int64((e.opts.OverloadRetryAfter + time.Second - 1) / time.Second)
	h := http.Header{
		"Content-Type":  {"text/plain; charset=utf-8"},
		"Cache-Control": {"no-store"},
		"Retry-After":   {strconv.FormatInt(max(secs, 1), 10)},
	}
	e.reply(ctx, t, r, http.StatusServiceUnavailable, h, "too many open event streams; retry later\n", why)
}

// reply sends a response that is not a stream (a refusal), then counts,
// logs and reports it to OnReject.
func (e *Endpoint) reply(ctx context.Context, t Transport, r *Request, status int, h http.Header, body string, why error) {
	if wt := e.opts.WriteTimeout; wt > 0 {
		_ = t.SetWriteDeadline(time.Now().Add(wt))
	}
	if t.WriteHeader(status, h) == nil {
		if r.Method != http.MethodHead {
			_, _ = t.Write([]byte(body))
		}
		_ = t.Flush()
	}
	if errors.Is(why, ErrOverloaded) {
		e.counts.overloaded.Add(1)
	} else {
		e.counts.denied.Add(1)
	}
	e.opts.Logger.DebugContext(ctx, "sse: stream refused", "path", r.Path, "reason", why)
	if e.opts.OnReject != nil {
		e.hook("OnReject", r.Path, func() { e.opts.OnReject(r, why) })
	}
}
