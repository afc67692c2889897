package conformance

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ssekit/ssekit/lifecycle"
	"github.com/ssekit/ssekit/listener"
)

// Harness is how the suite starts the framework under test. The zero value
// of Missing means the adapter claims full conformance.
type Harness struct {
	// Start serves ep with the framework under test on a new listener on
	// 127.0.0.1, mounted at route for the GET, POST and HEAD methods, with
	// the framework's server configured by cfg. It returns the base URL,
	// such as "http://127.0.0.1:41234", and stops the server with
	// t.Cleanup. Start is called once per case, so every case gets a fresh
	// server; it may call t.Fatal.
	//
	// route is written with {name} parameters, as net/http and chi write
	// them ("/sse/{name}"); ColonRoute converts it for frameworks that write
	// ":name".
	//
	// The server must serve on the listener cfg.Listen returns (or the
	// harness declares DeadPeer missing).
	Start func(t *testing.T, ep *lifecycle.Endpoint, route string, cfg ServerConfig) (baseURL string)

	// Missing lists the capabilities the adapter lacks, each with the reason.
	// Cases that need one are skipped with that reason.
	Missing map[Capability]string
}

// ServerConfig is the server-level configuration a case asks for.
type ServerConfig struct {
	// ReadTimeout and WriteTimeout are the framework's own server timeouts
	// (http.Server.ReadTimeout, fasthttp.Server.ReadTimeout, ...). Zero
	// means none.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration

	// UserTimeout, when positive, is the TCP_USER_TIMEOUT of the server's
	// connections (see package listener), which Listen sets up.
	UserTimeout time.Duration

	// Values, when not nil, are to be attached to every request by a
	// middleware in front of the endpoint, the way an authentication
	// middleware attaches the user, with the framework's own idiom: a
	// context.WithValue on the request for net/http and chi, c.Set or the
	// request's context for Echo, c.Locals or c.SetUserContext for Fiber.
	// Each key is the string given, as the idiom takes it.
	Values map[string]any
}

// Listen returns a new listener on 127.0.0.1 (a random port) configured as
// cfg asks, for Harness.Start to serve on. It fails t if it cannot listen.
func (cfg ServerConfig) Listen(t testing.TB) net.Listener {
	t.Helper()
	opts := listener.Options{UserTimeout: -1} // the system's default
	if cfg.UserTimeout > 0 {
		opts.UserTimeout = cfg.UserTimeout
	}
	ln, err := listener.Listen("tcp", "127.0.0.1:0", opts)
	if err != nil {
		t.Fatalf("conformance: listen: %v", err)
	}
	return ln
}

// Capability names something a case needs beyond the basics.
type Capability string

// Capabilities an adapter may declare Missing.
const (
	// IdleDisconnect: the adapter notices a client that closes or resets its
	// connection while nothing is being written.
	IdleDisconnect Capability = "idle-disconnect"
	// RouteParams: the adapter fills Request.Params from the router.
	RouteParams Capability = "route-params"
	// ServerTimeouts: the harness applies ServerConfig's timeouts.
	ServerTimeouts Capability = "server-timeouts"
	// Head: the adapter serves HEAD requests.
	Head Capability = "head"
	// HTTP10: the adapter serves HTTP/1.0 clients.
	HTTP10 Capability = "http10"
	// Pipelining: the adapter serves pipelined HTTP/1.1 requests.
	Pipelining Capability = "pipelining"
	// DeadPeer: the harness serves on ServerConfig.Listen's listener, so a
	// peer that vanishes without FIN or RST is found within heartbeat plus
	// TCP_USER_TIMEOUT (Linux only: the case is skipped elsewhere).
	DeadPeer Capability = "dead-peer"
	// MiddlewareValues: the harness attaches ServerConfig.Values with the
	// framework's middleware idiom, and the adapter passes them on to
	// Session.Context.
	MiddlewareValues Capability = "middleware-values"
)

// ColonRoute rewrites a route from "{name}" form to ":name" form, as Echo
// and Fiber write routes: "/sse/{name}" becomes "/sse/:name".
func ColonRoute(route string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(route, '{')
		j := strings.IndexByte(route, '}')
		if i < 0 || j < i {
			b.WriteString(route)
			return b.String()
		}
		b.WriteString(route[:i])
		b.WriteByte(':')
		b.WriteString(route[i+1 : j])
		route = route[j+1:]
	}
}
