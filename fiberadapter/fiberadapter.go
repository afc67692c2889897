package fiberadapter

import (
	"context"
	"net"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/ssekit/ssekit/lifecycle"
)

// Handler returns a fiber.Handler that serves ep. Mount it with any route;
// its parameters become the session's route parameters. Middleware in front
// of it runs as usual, and every response header it sets, before or after
// this handler, is sent with the stream (except Content-Length,
// Content-Encoding and Transfer-Encoding, which the stream controls).
//
// The handler returns at once; the stream runs on the connection, which
// Fiber hands over, until the session ends. The connection is then closed.
// app.Shutdown, ShutdownWithTimeout and ShutdownWithContext end the open
// sessions with lifecycle.ErrShutdown and return once their handlers have
// (see the package documentation). The handler is safe for concurrent use.
func Handler(ep *lifecycle.Endpoint) fiber.Handler {
	if ep == nil {
		panic("fiberadapter: Handler with nil Endpoint")
	}
	h := &handler{ep: ep}
	return h.serve
}

type handler struct {
	ep   *lifecycle.Endpoint
	apps appRegistry
}

func (h *handler) serve(c *fiber.Ctx) error {
	fctx := c.Context()
	body := fctx.Request.Body()
	limit := h.ep.Options().MaxBodySize
	if limit >= 0 && int64(len(body)) > limit {
		return fiber.NewError(fiber.StatusRequestEntityTooLarge, "request body too large")
	}
	if limit < 0 {
		body = nil
	}
	req := newRequest(c, body)
	app := c.App()
	streams := h.apps.forApp(app, h.ep)
	// Read the server's shutdown channel here, while fasthttp counts this
	// connection as open: its Shutdown resets the field once nothing is
	// open, so reading it later, from the hijacked goroutine, would race.
	shuttingDown := fctx.Done()
	fctx.HijackSetNoResponse(true)
	fctx.Hijack(func(conn net.Conn) {
		// fctx stays valid until this function returns: fasthttp releases
		// it afterwards. Fiber's Ctx, which recycled when serve returned, is
		// not used here.
		streams.run(h.ep, app.Server(), fctx, conn, req, shuttingDown)
	})
	return nil
}

// newRequest copies everything a session reads out of Fiber's recycled,
// zero-copy request objects.
func newRequest(c *fiber.Ctx, body []byte) *lifecycle.Request {
	fctx := c.Context()
	header := make(http.Header)
	fctx.Request.Header.VisitAll(func(k, v []byte) {
		key := http.CanonicalHeaderKey(string(k))
		header[key] = append(header[key], string(v))
	})
	var params []lifecycle.Param
	if names := c.Route().Params; len(names) > 0 {
		params = make([]lifecycle.Param, len(names))
		for i, name := range names {
			params[i] = lifecycle.Param{Name: strings.Clone(name), Value: strings.Clone(c.Params(name))}
		}
	}
	var b []byte
	if len(body) > 0 {
		b = append([]byte(nil), body...)
	}
	return &lifecycle.Request{
		Method:     string(fctx.Method()),
		Path:       string(fctx.Path()),
		RawQuery:   string(fctx.URI().QueryString()),
		Header:     header,
		Params:     params,
		RemoteAddr: fctx.RemoteAddr().String(),
		Proto:      string(fctx.Request.Header.Protocol()),
		Body:       b,
	}
}

// stream is one hijacked connection serving a session.
type stream struct {
	cancel context.CancelCauseFunc // ends the session: client gone or shutdown
}

// run serves one stream on the hijacked connection and returns when it is
// over and nothing else uses conn or fctx.
func (a *appStreams) run(ep *lifecycle.Endpoint, srv *fasthttp.Server, fctx *fasthttp.RequestCtx, conn net.Conn, req *lifecycle.Request, shuttingDown <-chan struct{}) {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	st := &stream{cancel: cancel}
	if !a.Add(st) {
		cancel(lifecycle.ErrShutdown)
	}
	w := startWatch(conn, cancel)
	t := newTransport(fctx, conn, ep.Options().WriteTimeout, cancel)
	ep.Serve(ctx, t, req)
	// The session is over: end the response, then stop the watcher, so
	// that ending the connection is never reported as the client leaving.
	complete := t.finish()
	left := ctx.Err() != nil // the client left, or the app is shutting down
	pending := w.stop()      // may cancel ctx: read only left from here on
	a.Remove(st)
	// A connection whose stream ended cleanly goes back to fasthttp for the
	// client's next request, unless the client left or the app is closing.
	if complete && !left && !a.Closed() {
		serveRest(srv, conn, pending, shuttingDown)
	}
}
