package echov5adapter

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/ssekit/ssekit/internal/stdhttp"
	"github.com/ssekit/ssekit/lifecycle"
)

// Handler returns an echo.HandlerFunc that serves ep. Mount it with any
// route; the route's parameters become the session's route parameters.
// What middleware puts in the request's context, and what it stores with
// c.Set, are values of Session.Context and of the context Options.Admit
// gets; c.Set's only while the request lasts, since echo recycles its
// Context afterwards. The handler is safe for concurrent use.
func Handler(ep *lifecycle.Endpoint) echo.HandlerFunc {
	if ep == nil {
		panic("echov5adapter: Handler with nil Endpoint")
	}
	return func(c *echo.Context) error {
		w := c.Response()
		if stdhttp.Copying(ep, w, c.Request()) {
			return echo.NewHTTPError(http.StatusInternalServerError, stdhttp.Unstreamable)
		}
		// Write and flush through the response as middleware wrapped it
		// (Gzip's writer must flush its encoder). Echo's Response under
		// those wrappers panics on Flush when the writer under it cannot
		// flush; stdhttp.Serve checks that writer first and refuses.
		ctx, end := stdhttp.WithStore(c.Request().Context(), func(key any) any {
			if k, ok := key.(string); ok {
				return c.Get(k)
			}
			return nil
		})
		defer end() // echo recycles c when the handler returns
		return stdhttp.Serve(ep, w, w, c.Request().WithContext(ctx), params(c))
	}
}

// params copies the route parameters out of echo's Context, which echo
// pools and reuses when the handler returns.
func params(c *echo.Context) []lifecycle.Param {
	pvs := c.PathValues()
	if len(pvs) == 0 {
		return nil
	}
	ps := make([]lifecycle.Param, len(pvs))
	for i, pv := range pvs {
		ps[i] = lifecycle.Param{Name: strings.Clone(pv.Name), Value: strings.Clone(pv.Value)}
	}
	return ps
}
