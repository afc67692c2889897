package fiberadapter

import (
	"errors"
	"net"
	"strings"

	"github.com/gofiber/fiber/v2"

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

// Handler returns a fiber.Handler that serves ep. Mount it with any route;
// its parameters become the session's route parameters. Middleware in front
// of it runs as usual; the response headers it sets before calling Next are
// sent with the stream (except Content-Length, Content-Encoding and
// Transfer-Encoding, which the stream controls), and what it puts in
// c.Locals or c.UserContext is in Session.Context.
//
// The stream runs inside the handler until the session ends; the
// connection is then closed (the stream announces Connection: close). A
// request refused before its stream (over a cap, a body over
// Options.MaxBodySize) and HEAD get an ordinary Fiber response. Fiber's
// app.Shutdown, ShutdownWithTimeout and ShutdownWithContext end every
// stream with lifecycle.ErrShutdown and return once their handlers have
// returned, or at the caller's deadline. The handler is safe for
// concurrent use.
func Handler(ep *lifecycle.Endpoint) fiber.Handler {
	if ep == nil {
		panic("fiberadapter: Handler with nil Endpoint")
	}
	h := &handler{ep: ep}
	return h.serve
}

type handler struct {
	ep     *lifecycle.Endpoint
	server fasthttpsse.Server
}

func (h *handler) serve(c *fiber.Ctx) error {
	fctx := c.Context()
	body, err := fasthttpsse.ReadBody(fctx, h.ep.Options().MaxBodySize)
	if errors.Is(err, fasthttpsse.ErrBodyTooLarge) {
		return fiber.NewError(fiber.StatusRequestEntityTooLarge, "request body too large")
	}
	if err != nil {
		return fiber.NewError(fiber.StatusBadRequest, "reading the request body: "+err.Error())
	}
	ctx, cancel := fasthttpsse.Values(fctx, c.UserContext())
	defer cancel()
	if h.server.Serve(c.App().Server(), fctx, h.ep, ctx, newRequest(c, body)) {
		return ErrStreamed
	}
	return nil
}

// newRequest copies everything a session reads out of Fiber's recycled,
// zero-copy request objects.
func newRequest(c *fiber.Ctx, body []byte) *lifecycle.Request {
	fctx := c.Context()
	var params []lifecycle.Param
	if names := c.Route().Params; len(names) > 0 {
		params = make([]lifecycle.Param, len(names))
		for i, name := range names {
			params[i] = lifecycle.Param{Name: strings.Clone(name), Value: strings.Clone(c.Params(name))}
		}
	}
	return &lifecycle.Request{
		Method:     string(fctx.Method()),
		Path:       string(fctx.Path()),
		RawQuery:   string(fctx.URI().QueryString()),
		Header:     fasthttpsse.Header(fctx),
		Params:     params,
		RemoteAddr: remoteAddr(c),
		Proto:      string(fctx.Request.Header.Protocol()),
		Body:       body,
	}
}

// remoteAddr is the client's address as Fiber reports it. With
// Config.ProxyHeader, c.IP() is the header's value (when the trusted proxy
// check, if enabled, passes): if that is one IP address, it is the
// session's address, as a bare host. Anything else (no header, a list, not
// an address) leaves the connection's peer, "host:port", so that no header
// value a client makes up becomes a key of its choosing.
func remoteAddr(c *fiber.Ctx) string {
	peer := c.Context().RemoteAddr().String()
	if c.App().Config().ProxyHeader == "" {
		return peer
	}
	ip := net.ParseIP(strings.TrimSpace(c.IP()))
	if ip == nil {
		return peer
	}
	if host, _, err := net.SplitHostPort(peer); err == nil && net.ParseIP(host).Equal(ip) {
		return peer
	}
	return ip.String()
}
