package ginadapter

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/ssekit/ssekit/internal/stdhttp"
	"github.com/ssekit/ssekit/lifecycle"
)

// Handler returns a gin.HandlerFunc that serves ep. Mount it with any
// route; the route's parameters become the session's route parameters.
// What middleware puts in the request's context, and what it stores with
// c.Set (under any key), are values of Session.Context and of the context
// Options.Admit gets; c.Set's only while the request lasts, since Gin
// recycles its Context afterwards. The handler is safe for concurrent use.
func Handler(ep *lifecycle.Endpoint) gin.HandlerFunc {
	if ep == nil {
		panic("ginadapter: Handler with nil Endpoint")
	}
	return func(c *gin.Context) {
		w := c.Writer
		if stdhttp.Copying(ep, w, c.Request) {
			c.String(http.StatusInternalServerError, stdhttp.Unstreamable)
			c.Abort()
			return
		}
		// Write and flush through c.Writer as middleware wrapped it (gzip's
		// writer must flush its encoder). Gin's own writer flushes the one
		// under it only if that one can, silently otherwise: stdhttp.Serve
		// checks the writer at the bottom first and refuses.
		ctx, end := stdhttp.WithStore(c.Request.Context(), func(key any) any {
			v, _ := c.Get(key)
			return v
		})
		defer end() // Gin recycles c when the handler returns
		if err := stdhttp.Serve(ep, w, w, c.Request.WithContext(ctx), params(c)); err != nil {
			c.Error(err) // reading the body failed: the client went away
			c.Abort()
		}
	}
}

// params copies the route parameters out of Gin's Context, which Gin pools
// and reuses when the handler returns.
func params(c *gin.Context) []lifecycle.Param {
	if len(c.Params) == 0 {
		return nil
	}
	ps := make([]lifecycle.Param, len(c.Params))
	for i, p := range c.Params {
		ps[i] = lifecycle.Param{Name: strings.Clone(p.Key), Value: strings.Clone(p.Value)}
	}
	return ps
}
