package fiberv3adapter

import (
	"errors"

	"github.com/gofiber/fiber/v3"

	"github.com/ssekit/ssekit/internal/fasthttpsse"
	"github.com/ssekit/ssekit/lifecycle"
)

// ErrStreamed is what the handler returns after a stream: the response was
// written on the connection, not by Fiber. Middleware that post-processes
// responses (cache, etag, compress) skips a request whose handler returned
// an error, so none of it stores or rewrites a stream's leftover empty
// response. Its status is 200, so Fiber's default error handler and logger
// report the stream as the success it was; a custom ErrorHandler can
// recognize it with errors.Is and do nothing.
var ErrStreamed = fiber.NewError(fiber.StatusOK, "sse stream ended")

// ErrBehindTimeout is what the handler returns, with no stream, for a
// request whose c.Context() has a deadline, which is how Fiber v3's timeout
// middleware runs a handler: on a goroutine of its own, while the request's
// goroutine waits for the deadline and then answers the request itself, on
// the connection a stream would be writing to. A stream is impossible
// there, so the request is refused with this error (status 500), and the
// refusal is logged through Options.Logger. Mount streams outside the
// timeout middleware (its Next can skip them); the client leaving,
// Options.WriteTimeout and Endpoint.Shutdown end streams instead.
var ErrBehindTimeout = fiber.NewError(fiber.StatusInternalServerError,
	"fiberv3adapter: an SSE stream cannot run behind a deadline on c.Context() (the timeout middleware?)")

// Handler returns a fiber.Handler that serves ep. Mount it with any route;
// its parameters become the session's route parameters. Middleware in front
// of it runs as usual; the response headers it sets before calling Next are
// sent with the stream (except Content-Length, Content-Encoding and
// Transfer-Encoding, which the stream controls), and what it puts in
// c.Locals (fiber.StoreInContext included) or in c.Context() is in
// Session.Context.
//
// The stream runs inside the handler until the session ends; the
// connection is then closed (the stream announces Connection: close). A
// request refused before its stream (over a cap, a body over
// Options.MaxBodySize, a deadline: see ErrBehindTimeout) and HEAD get an
// ordinary Fiber response. Fiber's app.Shutdown, ShutdownWithTimeout and
// ShutdownWithContext end every stream with lifecycle.ErrShutdown and
// return once their handlers have returned, or at the caller's deadline.
// The handler is safe for concurrent use.
func Handler(ep *lifecycle.Endpoint) fiber.Handler {
	if ep == nil {
		panic("fiberv3adapter: Handler with nil Endpoint")
	}
	h := &handler{ep: ep}
	return h.serve
}

type handler struct {
	ep     *lifecycle.Endpoint
	server fasthttpsse.Server
}

func (h *handler) serve(c fiber.Ctx) error {
	ctx, fctx := c.Context(), c.RequestCtx()
	if _, ok := ctx.Deadline(); ok {
		h.ep.Options().Logger.Error("sse: stream refused: its c.Context() has a deadline, and Fiber v3's timeout "+
			"middleware answers the request itself when it passes; mount the stream outside the timeout middleware",
			"path", string(fctx.Path()))
		return ErrBehindTimeout
	}
	var ip func() string
	if c.App().Config().ProxyHeader != "" {
		ip = c.IP // the header's address if the proxy is trusted, else the peer's
	}
	streamed, err := h.server.Handle(c.App().Server(), fctx, h.ep, fasthttpsse.Request{
		Context:    ctx,
		Params:     fasthttpsse.Params(c.Route().Params, func(name string) string { return c.Params(name) }),
		RemoteAddr: fasthttpsse.RemoteAddr(fctx, ip),
	})
	switch {
	case errors.Is(err, fasthttpsse.ErrBodyTooLarge):
		return fiber.NewError(fiber.StatusRequestEntityTooLarge, "request body too large")
	case err != nil:
		return fiber.NewError(fiber.StatusBadRequest, "reading the request body: "+err.Error())
	case streamed:
		return ErrStreamed
	}
	return nil
}
