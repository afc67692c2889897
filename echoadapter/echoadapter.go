package echoadapter

import (
	"net/http"
	"strings"

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
		if stdhttp.Copying(ep, res.Writer, c.Request()) {
			return echo.NewHTTPError(http.StatusInternalServerError, stdhttp.Unstreamable)
		}
		// Write through echo's Response, so its status, size and Before
		// hooks stay right; flush the writer under it, because
		// Response.Flush panics when that writer cannot flush and hides
		// flush errors.
		ctx, end := stdhttp.WithStore(c.Request().Context(), func(key any) any {
			if k, ok := key.(string); ok {
				return c.Get(k)
			}
			return nil
		})
		defer end() // echo recycles c when the handler returns
		return stdhttp.Serve(ep, res, res.Writer, c.Request().WithContext(ctx), params(c))
	}
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
