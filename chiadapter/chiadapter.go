package chiadapter

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/ssekit/ssekit/internal/stdhttp"
	"github.com/ssekit/ssekit/lifecycle"
)

// Handler returns an http.HandlerFunc that serves ep. Mount it on a chi
// router; the route's URL parameters become the session's route parameters.
// The handler is safe for concurrent use.
func Handler(ep *lifecycle.Endpoint) http.HandlerFunc {
	if ep == nil {
		panic("chiadapter: Handler with nil Endpoint")
	}
	return func(w http.ResponseWriter, r *http.Request) {
		stdhttp.Serve(ep, w, w, r, params(r)) // body errors: the client went away
	}
}

// params copies the URL parameters out of chi's route context, which chi
// returns to a pool when the handler returns.
func params(r *http.Request) []lifecycle.Param {
	rctx := chi.RouteContext(r.Context())
	if rctx == nil || len(rctx.URLParams.Keys) == 0 {
		return nil
	}
	keys, values := rctx.URLParams.Keys, rctx.URLParams.Values
	ps := make([]lifecycle.Param, 0, len(keys))
	for i, k := range keys {
		if i < len(values) {
			ps = append(ps, lifecycle.Param{Name: strings.Clone(k), Value: strings.Clone(values[i])})
		}
	}
	return ps
}
