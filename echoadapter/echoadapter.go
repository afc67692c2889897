package echoadapter

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/ssekit/ssekit/internal/stdhttp"
	"github.com/ssekit/ssekit/lifecycle"
)

// Handler returns an echo.HandlerFunc that serves ep. Mount it with any
// route; the route's parameters become the session's route parameters.
// What middleware puts in the request's context, and what it stores with
// c.Set (under a string key), are values of Session.Context and of the
// context Options.Admit gets; c.Set's only while the request lasts, since
// echo recycles its Context afterwards. The handler is safe for concurrent
// use.
func Handler(ep *lifecycle.Endpoint) echo.HandlerFunc {
	if ep == nil {
		panic("echoadapter: Handler with nil Endpoint")
	}
	return func(c echo.Context) error {
		res := c.Response()
		if w, ok := copyingWriter(res.Writer); ok {
			ep.Options().Logger.Error("sse: a middleware copies every byte of the response into memory; "+
				"a stream would grow it without bound: skip that middleware for this route",
				"path", c.Request().URL.Path, "writer", fmt.Sprintf("%T", w))
			return echo.NewHTTPError(http.StatusInternalServerError, "event streaming is not possible through this server's middleware")
		}
		// Write through echo's Response, so its status, size and Before
		// hooks stay right; flush the writer under it, because
		// Response.Flush panics when that writer cannot flush and hides
		// flush errors.
		vals := &echoValues{Context: c.Request().Context(), c: c}
		defer vals.end()
		return stdhttp.Serve(ep, res, res.Writer, c.Request().WithContext(vals), params(c))
	}
}

// echoValues is a request's context that also finds what middleware stored
// in echo's Context with c.Set, until end. It is safe for concurrent use.
type echoValues struct {
	context.Context
	mu sync.RWMutex
	c  echo.Context // nil after end: echo recycles it
}

func (v *echoValues) Value(key any) any {
	if k, ok := key.(string); ok {
		v.mu.RLock()
		var val any
		if v.c != nil {
			val = v.c.Get(k)
		}
		v.mu.RUnlock()
		if val != nil {
			return val
		}
	}
	return v.Context.Value(key)
}

// end stops consulting echo's Context, before the handler returns it.
func (v *echoValues) end() {
	v.mu.Lock()
	v.c = nil
	v.mu.Unlock()
}

// params copies the route parameters out of echo's Context, which echo
// pools and reuses when the handler returns.
func params(c echo.Context) []lifecycle.Param {
	names, values := c.ParamNames(), c.ParamValues()
	if len(names) == 0 {
		return nil
	}
	ps := make([]lifecycle.Param, 0, len(names))
	for i, name := range names {
		if i < len(values) {
			ps = append(ps, lifecycle.Param{Name: strings.Clone(name), Value: strings.Clone(values[i])})
		}
	}
	return ps
}

// copyingWriter finds, in w's chain of wrappers, echo's BodyDump writer,
// which tees every byte written into a buffer that lives as long as the
// response: harmless for a page, unbounded for a stream.
func copyingWriter(w http.ResponseWriter) (http.ResponseWriter, bool) {
	for {
		if fmt.Sprintf("%T", w) == "*middleware.bodyDumpResponseWriter" {
			return w, true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil, false
		}
		w = u.Unwrap()
	}
}
