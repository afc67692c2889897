package nethttpadapter

import (
	"net/http"
	"strings"
	"sync"

	"github.com/ssekit/ssekit/internal/stdhttp"
	"github.com/ssekit/ssekit/lifecycle"
)

// Handler returns an http.Handler that serves ep. Mount it with any
// http.ServeMux pattern; the pattern's wildcards become the session's route
// parameters. The handler is safe for concurrent use.
func Handler(ep *lifecycle.Endpoint) http.Handler {
	if ep == nil {
		panic("nethttpadapter: Handler with nil Endpoint")
	}
	return handler{ep}
}

type handler struct{ ep *lifecycle.Endpoint }

func (h handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	stdhttp.Serve(h.ep, w, w, r, params(r)) // body errors: the client went away
}

// params returns the values of the wildcards of the ServeMux pattern that
// matched r. ServeMux does not list them, so their names are parsed from
// r.Pattern (once per pattern).
func params(r *http.Request) []lifecycle.Param {
	if r.Pattern == "" {
		return nil
	}
	names := wildcardNames(r.Pattern)
	if len(names) == 0 {
		return nil
	}
	ps := make([]lifecycle.Param, len(names))
	for i, name := range names {
		ps[i] = lifecycle.Param{Name: name, Value: r.PathValue(name)}
	}
	return ps
}

var patternNames sync.Map // pattern string -> []string

// wildcardNames returns the names of the wildcards in a ServeMux pattern
// such as "GET example.com/items/{id}/{rest...}", in order.
func wildcardNames(pattern string) []string {
	if v, ok := patternNames.Load(pattern); ok {
		return v.([]string)
	}
	var names []string
	for rest := pattern; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			break
		}
		name := strings.TrimSuffix(rest[i+1:i+j], "...")
		if name != "$" && name != "" {
			names = append(names, name)
		}
		rest = rest[i+j+1:]
	}
	patternNames.Store(pattern, names)
	return names
}
