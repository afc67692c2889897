package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
)

// ErrRefused is matched by every *Refusal: a stream that Options.Admit
// refused before it opened.
var ErrRefused = errors.New("lifecycle: stream refused")

// A Refusal refuses a stream from Options.Admit, before anything of it is
// sent, with an HTTP status and a short text body. An EventSource treats
// any status but 200 as final and does not reconnect, which is what a
// client that is not allowed, or asks for something that does not exist,
// should see.
type Refusal struct {
	Status  int         // 400 to 599; anything else is sent as 500
	Message string      // the text/plain body; empty means the status text
	Header  http.Header // extra response headers, such as WWW-Authenticate
}

// Refuse returns a *Refusal with status and message.
func Refuse(status int, message string) error {
	return &Refusal{Status: status, Message: message}
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("lifecycle: stream refused: %d %s", r.Status, r.message())
}

// Is reports whether target is ErrRefused.
func (r *Refusal) Is(target error) bool { return target == ErrRefused }

func (r *Refusal) message() string {
	if r.Message != "" {
		return r.Message
	}
	return http.StatusText(r.Status)
}

// admitted runs Options.Admit and returns its refusal, if any, as a
// *Refusal: an error of another kind refuses with 403 Forbidden (and is
// logged, as the application's own failure to decide would be, and
// wrapped), a panic with 500.
//
// Admit's ctx is also canceled when Shutdown begins (cause ErrShutdown), so
// that an Admit waiting on something slow lets the server's shutdown finish
// in time. An error from an Admit so interrupted (not a *Refusal) does not
// refuse: admitted returns no refusal and ErrShutdown, and the stream is
// opened and ended at once, like any stream arriving during a shutdown, so
// that its client reconnects elsewhere instead of giving up on a 403.
func (e *Endpoint) admitted(ctx context.Context, r *Request) (refusal *Refusal, why error) {
	if e.opts.Admit == nil {
		return nil, nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer context.AfterFunc(e.stopping, func() { cancel(ErrShutdown) })()
	defer func() {
		if v := recover(); v != nil {
			e.opts.Logger.Error("sse: Admit panicked", "path", r.Path, "panic", v, "stack", string(debug.Stack()))
			refusal = &Refusal{Status: http.StatusInternalServerError}
			why = fmt.Errorf("%w: Admit panicked: %v", ErrRefused, v)
		}
	}()
	err := e.opts.Admit(ctx, r)
	if err == nil {
		return nil, nil
	}
	var ref *Refusal
	if errors.As(err, &ref) {
		if ref.Status < 400 || ref.Status > 599 {
			e.opts.Logger.Error("sse: Admit refused with a status that is not an error; sent 500",
				"path", r.Path, "status", ref.Status)
			ref = &Refusal{Status: http.StatusInternalServerError, Message: ref.Message, Header: ref.Header}
		}
		return ref, err
	}
	if e.stopping.Err() != nil || errors.Is(context.Cause(ctx), ErrShutdown) {
		return nil, ErrShutdown // Endpoint.Shutdown, or the server's own (Fiber)
	}
	level := slog.LevelError
	if ctx.Err() != nil {
		// The client left or the server is shutting down while Admit
		// waited on ctx: nothing failed to decide, and a client that
		// connects and leaves must not be able to flood the error log.
		level = slog.LevelDebug
	}
	e.opts.Logger.Log(ctx, level, "sse: Admit failed to decide (an error that is not a *Refusal); refused with 403",
		"path", r.Path, "err", err)
	return &Refusal{Status: http.StatusForbidden}, fmt.Errorf("%w: %w", ErrRefused, err)
}

// refuse answers a refused stream before anything of it is sent.
func (e *Endpoint) refuse(ctx context.Context, t Transport, r *Request, ref *Refusal, why error) {
	h := http.Header{
		"Content-Type":  {"text/plain; charset=utf-8"},
		"Cache-Control": {"no-store"},
		// The message may echo what the client sent (Hub.Admit names
		// the topic): never let a browser sniff it as HTML.
		"X-Content-Type-Options": {"nosniff"},
	}
	for k, vs := range ref.Header {
		h[http.CanonicalHeaderKey(k)] = vs
	}
	body := ref.message()
	if !strings.HasSuffix(body, "\n") {
		body += "\n"
	}
	e.reply(ctx, t, r, ref.Status, h, body, why)
}
