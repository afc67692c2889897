package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/ssekit/ssekit/internal/tracker"
)

// An Endpoint runs a Handler for every stream an adapter hands it and tracks
// the open sessions so that Shutdown can end them together. It is the
// framework-neutral thing a user builds once and mounts with any adapter
// (even several at once). An Endpoint is safe for concurrent use.
type Endpoint struct {
	handler  Handler
	opts     Options     // with defaults applied
	header   http.Header // the response headers, never modified after NewEndpoint
	retry    []byte      // the encoded Options.Retry hint, or nil
	farewell []byte      // the encoded Options.Farewell, or nil

	sessions tracker.Set[*Session] // the open sessions; closed by Shutdown
	stopping context.Context       // canceled when Shutdown begins
	stop     context.CancelFunc
	admit    *admission // the caps on open sessions
	counts   counters   // for Stats
}

// NewEndpoint returns an Endpoint that serves h with opts. It panics if h is
// nil or opts.Farewell is not a valid event: both are programming errors.
func NewEndpoint(h Handler, opts Options) *Endpoint {
	if h == nil {
		panic("lifecycle: NewEndpoint with nil Handler")
	}
	e := &Endpoint{
		handler: h,
		opts:    opts.withDefaults(),
		admit:   newAdmission(opts),
	}
	e.stopping, e.stop = context.WithCancel(context.Background())
	e.header = http.Header{
		"Content-Type":      {"text/event-stream"},
		"Cache-Control":     {"no-cache"},
		"X-Accel-Buffering": {"no"},
	}
	for k, vs := range opts.Header {
		e.header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	if opts.Retry > 0 {
		e.retry = append(appendRetry(nil, opts.Retry), '\n')
	}
	if opts.Farewell != nil {
		b, err := opts.Farewell.AppendTo(nil)
		if err != nil {
			panic(fmt.Sprintf("lifecycle: NewEndpoint: Options.Farewell: %v", err))
		}
		e.farewell = b
	}
	return e
}

// Options returns the endpoint's options with defaults applied. Adapters
// read MaxBodySize from it.
func (e *Endpoint) Options() Options { return e.opts }

// Active returns the number of sessions open now.
func (e *Endpoint) Active() int { return e.sessions.Len() }

// Serve runs one stream and returns when it is over: the handler has
// returned and nothing will touch t again. Adapters call it on the request's
// own goroutine.
//
// ctx must be canceled when the client has gone (its cause is recorded in
// the close reason, wrapped in ErrClientGone). An adapter may also end the
// session for a reason of its own by canceling ctx with a cause matching
// ErrShutdown (its server is shutting down: the session ends gracefully,
// with the farewell), or ErrWriteTimeout or ErrWriteFailed (a write it made
// in the background failed); the cause is then the close reason (see
// context.WithCancelCause). A ctx that reaches its deadline (a timeout
// middleware) ends the session with ErrDeadline. The values of ctx are
// passed on to Session.Context. t is the
// response and r the copied request. A HEAD request gets the status and
// headers only, and the handler does not run.
//
// Serve never panics: a panicking handler or hook is recovered, logged and
// recorded as the close reason.
func (e *Endpoint) Serve(ctx context.Context, t Transport, r *Request) {
	r.ctx = context.WithoutCancel(ctx)
	ref, why := e.admitted(ctx, r)
	if ref != nil {
		e.refuse(ctx, t, r, ref, why)
		return
	}
	interrupted := why != nil // Shutdown interrupted Admit: open, end, no handler
	if r.Method == http.MethodHead {
		e.serveHead(t)
		return
	}
	key, err := e.admit.enter(r)
	if err != nil {
		e.reject(ctx, t, r, err)
		return
	}
	// The place is freed as soon as the session has released the transport,
	// before OnClose: a client told of the end may reconnect at once.
	sctx, cancel := context.WithCancelCause(r.ctx) // ctx's values, not its cancellation
	s := &Session{
		ep:     e,
		req:    r,
		lastID: r.lastEventID(e.opts.LastEventIDParam),
		opened: time.Now(),
		ctx:    sctx,
		cancel: cancel,
		t:      t,
	}
	if !e.sessions.Add(s) {
		s.end(ErrShutdown)
	}
	defer e.sessions.Remove(s)
	stop := context.AfterFunc(ctx, func() {
		// A transport may cancel ctx from inside a failing write (net/http
		// does, on any connection write error). Waiting for the write lock
		// lets that write record its own reason, such as ErrWriteTimeout,
		// first; when no write is in flight this does not wait.
		s.wmu.Lock()
		defer s.wmu.Unlock()
		s.end(adapterReason(context.Cause(ctx)))
	})
	defer stop()

	if err := s.open(); err != nil {
		e.failedOpen(ctx, s, key)
		return
	}
	e.counts.opened.Add(1)
	e.hook("OnOpen", r.Path, func() {
		if e.opts.OnOpen != nil {
			e.opts.OnOpen(s)
		}
	})
	// The handler runs even if the session has already ended (the client
	// left during OnOpen, or Shutdown began): it sees Done closed and
	// returns, and every opened session runs its handler exactly once,
	// except one whose Admit Shutdown interrupted: it was never admitted,
	// so nothing of the application runs for it.
	if interrupted {
		s.end(ErrShutdown)
	} else {
		s.end(e.run(s))
	}
	e.closed(s, key)
}

// failedOpen releases a session whose status line and headers could not be
// sent, and logs why. Like closed, it is a function of its own (not
// inlined) so that its locals are not part of Serve's frame, which stays
// on the stack of every idle stream: a smaller frame keeps a stream's
// goroutine stack at 8 KiB under deep frameworks (Gin, Echo v5).
//
//go:noinline
func (e *Endpoint) failedOpen(ctx context.Context, s *Session, key string) {
	info := s.release()
	e.admit.leave(key)
	e.counts.failed.Add(1)
	// A response that cannot flush is a misconfiguration (a middleware
	// that buffers), not a client leaving: say so loudly.
	level := slog.LevelDebug
	if errors.Is(info.Reason, http.ErrNotSupported) {
		level = slog.LevelError
	}
	e.opts.Logger.Log(ctx, level, "sse: stream failed to open", "path", s.req.Path, "reason", info.Reason)
}

// closed releases an opened session whose handler has returned, counts and
// logs its end, and runs OnClose (see failedOpen for why it is apart).
//
//go:noinline
func (e *Endpoint) closed(s *Session, key string) {
	info := s.release()
	e.admit.leave(key)
	// No longer open: Active does not count it once OnClose runs (Serve's
	// deferred Remove alone would leave it counted while OnClose runs, and
	// a caller told of the end by OnClose would still see it).
	e.sessions.Remove(s)
	e.counts.closed[reasonIndex(info.Reason)].Add(1)
	e.opts.Logger.Debug("sse: session ended", "path", s.req.Path, "reason", info.Reason,
		"duration", info.Duration, "events", info.Events, "bytes", info.Bytes)
	e.hook("OnClose", s.req.Path, func() {
		if e.opts.OnClose != nil {
			e.opts.OnClose(s, info)
		}
	})
}

// adapterReason is the close reason for a Serve context canceled with cause:
// the cause itself if it is one of the reasons an adapter may report
// (ErrShutdown, ErrWriteTimeout, ErrWriteFailed), ErrDeadline if the
// context's deadline passed, else ErrClientGone wrapping the cause.
func adapterReason(cause error) error {
	switch {
	case errors.Is(cause, ErrShutdown), errors.Is(cause, ErrWriteTimeout), errors.Is(cause, ErrWriteFailed):
		return cause
	case errors.Is(cause, context.DeadlineExceeded):
		return reason(ErrDeadline, cause)
	default:
		return reason(ErrClientGone, cause)
	}
}

// run calls the handler and returns the reason its return gives.
func (e *Endpoint) run(s *Session) (r error) {
	defer func() {
		if v := recover(); v != nil {
			r = reason(ErrHandlerPanicked, panicError{v})
			e.opts.Logger.Error("sse: handler panicked", "path", s.req.Path,
				"panic", v, "stack", string(debug.Stack()))
		}
	}()
	return reason(ErrHandlerReturned, e.handler(s))
}

// hook calls f, recovering and logging a panic.
func (e *Endpoint) hook(name, path string, f func()) {
	defer func() {
		if v := recover(); v != nil {
			e.opts.Logger.Error("sse: hook panicked", "hook", name, "path", path,
				"panic", v, "stack", string(debug.Stack()))
		}
	}()
	f()
}

// serveHead answers a HEAD request with the stream's status and headers.
func (e *Endpoint) serveHead(t Transport) {
	deadline := time.Time{}
	if wt := e.opts.WriteTimeout; wt > 0 {
		deadline = time.Now().Add(wt)
	}
	_ = t.SetWriteDeadline(deadline)
	if t.WriteHeader(http.StatusOK, e.header) == nil {
		_ = t.Flush()
	}
}

// Shutdown ends every open session with ErrShutdown, sends Options.Farewell
// to each, and waits until all their handlers have returned or ctx is done,
// returning ctx's error in that case. Streams that arrive afterwards are
// opened and ended at once the same way, so their clients reconnect
// elsewhere; so are those whose Options.Admit was still deciding (its ctx
// is canceled). Shutdown may be called more than once and concurrently.
//
// Server-level shutdown does not do this by itself: net/http's
// Server.Shutdown waits for streaming handlers but never cancels them. Call
// Shutdown from http.Server.RegisterOnShutdown or before the framework's own
// shutdown (see the adapters' examples).
func (e *Endpoint) Shutdown(ctx context.Context) error {
	e.stop()
	open, drained := e.sessions.Close()
	for _, s := range open {
		s.end(ErrShutdown)
	}
	select {
	case <-drained:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
