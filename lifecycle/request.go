package lifecycle

import (
	"context"
	"net/http"
	"net/url"
	"unicode/utf8"
)

// Request is a framework-neutral copy of the request that opened a stream.
// Adapters fill it before the stream opens and never touch it afterwards, so
// it stays valid after the framework recycles its own request objects. A
// Request is read-only once the session has it: it may be read from any
// goroutine, but must not be modified.
type Request struct {
	Method     string
	Path       string      // the URL path, unescaped
	RawQuery   string      // the query without '?', still encoded
	Header     http.Header // request headers, canonical keys
	Params     []Param     // route parameters, in route order
	RemoteAddr string      // the peer's "host:port"
	Proto      string      // such as "HTTP/1.1" or "HTTP/2.0"
	Body       []byte      // read up to Options.MaxBodySize; nil without a body

	ctx context.Context // values only; set by Endpoint.Serve
}

// Context returns a context with the values the request was served with:
// what the framework's middleware attached (the user, a request ID), as
// Session.Context has them. It is never canceled: for the session's end,
// use Session.Context. Options.SessionKey and OnReject can read identity
// from it.
func (r *Request) Context() context.Context {
	if r.ctx == nil {
		return context.Background()
	}
	return r.ctx
}

// Param is one route parameter, such as id in "/items/{id}".
type Param struct {
	Name, Value string
}

// Param returns the value of the route parameter name, or "" if the route has
// none by that name.
func (r *Request) Param(name string) string {
	for _, p := range r.Params {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// Query parses RawQuery. Like url.URL.Query, it parses anew on every call and
// silently drops malformed pairs.
func (r *Request) Query() url.Values {
	v, _ := url.ParseQuery(r.RawQuery)
	return v
}

// lastEventID returns the client's last event ID: the Last-Event-ID header
// or, when there is none, the query parameter param ("-" for none). A value
// that no stream could have sent as an ID (longer than MaxLastEventIDLen,
// containing CR, LF or NUL, or not valid UTF-8) is treated as absent, so a
// hostile value never reaches a handler that might echo it into the stream.
func (r *Request) lastEventID(param string) string {
	id, ok := "", false
	if vs, found := r.Header["Last-Event-Id"]; found && len(vs) > 0 {
		id, ok = vs[0], true
	}
	if !ok && param != "-" && r.RawQuery != "" {
		id = r.Query().Get(param)
	}
	if !validLastEventID(id) {
		return ""
	}
	return id
}

func validLastEventID(id string) bool {
	if len(id) > MaxLastEventIDLen || !utf8.ValidString(id) {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	return true
}
