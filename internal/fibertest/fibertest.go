// Package fibertest is the part of the Fiber adapters' tests that does not
// depend on Fiber's version: scenarios that turn on fasthttp server
// settings production apps use, shut apps down in every way Fiber offers,
// and play hostile or unusual clients, on real sockets. Each adapter's tests
// run them all with Run, given a Framework that builds an app of its Fiber
// version; what is specific to a version (its middleware, app.Test) stays
// in the adapter's own tests.
package fibertest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/lifecycle"
)

// App is a Fiber app of either version, as the scenarios use it: both
// versions' *fiber.App have these methods.
type App interface {
	// Server is the app's fasthttp server, to be configured before Listen.
	Server() *fasthttp.Server
	// Handler is the app's request handler, for a server of the test's own.
	Handler() fasthttp.RequestHandler
	Shutdown() error
	ShutdownWithTimeout(time.Duration) error
	ShutdownWithContext(context.Context) error
}

// Framework builds and serves apps of one Fiber version with its adapter.
type Framework struct {
	// New returns a new app configured by cfg, serving r.
	New func(cfg Config, r Routes) App
	// Listen serves app on ln until it shuts down, printing nothing
	// (app.Listener).
	Listen func(app App, ln net.Listener) error
}

// Config is the app settings the scenarios turn on, each as the Fiber
// setting of the same name (ReadTimeout, Concurrency...).
type Config struct {
	Concurrency                            int
	ReadTimeout, IdleTimeout, WriteTimeout time.Duration
	ReduceMemoryUsage, DisableKeepalive    bool
	StreamRequestBody                      bool
	BodyLimit                              int
	// ProxyHeader is the header the app takes client addresses from, a
	// proxy on the loopback interface being trusted to set it.
	ProxyHeader string
}

// Routes is what an app serves.
type Routes struct {
	// SSE is served by the adapter at GET (and so HEAD) and POST
	// /sse/:name.
	SSE *lifecycle.Endpoint
	// PerRequest builds the adapter's handler inside the route, once per
	// request, rather than once when mounting.
	PerRequest bool
	// /plain answers "plain", after calling Plain if it is not nil.
	Plain func()
	// HSTSMaxAge, if positive, puts middleware in front of every route
	// that sends Strict-Transport-Security with this max-age when Fiber
	// reports the request as HTTPS: helmet on Fiber v2 (v3.1.0's helmet
	// never sends it, see fiberv3adapter's tests).
	HSTSMaxAge int
	// Use is middleware in front of every route, after helmet, in order.
	Use []Middleware
}

// Middleware runs on a request in front of the routes; it returns true to
// go on to the next handler (c.Next), false having answered the request.
type Middleware func(c Ctx) bool

// Ctx is what a Middleware sees of the request.
type Ctx struct {
	Request *fasthttp.RequestCtx
	// Locals is c.Locals(key, value).
	Locals func(key string, value any)
}

type scenario struct {
	name string
	run  func(t *testing.T, f Framework)
}

// scenarios are run in order by Run; idleScenarios (Linux only) after.
var scenarios = []scenario{
	{"MaxConnsPerIPUnderChurn", testMaxConnsPerIPUnderChurn},
	{"MaxConnsPerIPOne", testMaxConnsPerIPOne},
	{"ConcurrencyCountsAStreamOnce", testConcurrencyCountsAStreamOnce},
	{"ConnStateGaugeEndsAtZero", testConnStateGaugeEndsAtZero},
	{"TLSStateSeenByMiddleware", testTLSStateSeenByMiddleware},
	{"ReadAndIdleTimeoutsLeaveStreamsAlone", testReadAndIdleTimeoutsLeaveStreamsAlone},
	{"WriteTimeoutLeavesStreamsAlone", testWriteTimeoutLeavesStreamsAlone},
	{"ReduceMemoryUsageAndDisableKeepalive", testReduceMemoryUsageAndDisableKeepalive},
	{"KeepHijackedConns", testKeepHijackedConns},
	{"StreamRequestBodyIsBounded", testStreamRequestBodyIsBounded},
	{"ProxyHeaderKeysSessionsByClient", testProxyHeaderKeysSessionsByClient},
	{"PipelinedHeads", testPipelinedHeads},
	{"OwnServerWithKeepHijackedConns", testOwnServerWithKeepHijackedConns},
	{"ProxyHeaderOnlyTakesAnAddress", testProxyHeaderOnlyTakesAnAddress},
	{"HeadMatchesGet", testHeadMatchesGet},
	{"ClientSendingTooMuchIsEnded", testClientSendingTooMuchIsEnded},
	{"ShutdownWithAStreamRequestInFlight", testShutdownWithAStreamRequestInFlight},
	{"ShutdownKeepsTheCallersDeadline", testShutdownKeepsTheCallersDeadline},
	{"HandlerBuiltPerRequest", testHandlerBuiltPerRequest},
	{"ListenerThatIgnoresReadDeadlines", testListenerThatIgnoresReadDeadlines},
	{"TLSListener", testTLSListener},
	{"ServerCloseAfterStreamIsNotClientGone", testServerCloseAfterStreamIsNotClientGone},
	{"StreamClosesItsConnection", testStreamClosesItsConnection},
	{"AppShutdownEndsSessions", testAppShutdownEndsSessions},
	{"PipelinedRequestAfterStream", testPipelinedRequestAfterStream},
}

// Run runs every scenario against f, one after another (several count
// goroutines or file descriptors), each as a subtest named for it.
func Run(t *testing.T, f Framework) {
	for _, sc := range append(scenarios, idleScenarios...) {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, f) })
	}
}

// startApp serves app on a new 127.0.0.1 listener and shuts it down at
// cleanup.
func startApp(t *testing.T, f Framework, app App) string {
	t.Helper()
	return StartOn(t, f, app, conformance.ServerConfig{}.Listen(t))
}

// StartOn serves app with f on ln, shuts it down at cleanup (failing t if
// that takes over 5 s), and returns its http base URL.
func StartOn(t *testing.T, f Framework, app App, ln net.Listener) string {
	t.Helper()
	// fasthttp keeps idle workers, and its pool's cleaner sleeps, for
	// MaxIdleWorkerDuration (10 s by default); shorten it so that leak checks
	// see only what sessions leave behind.
	app.Server().MaxIdleWorkerDuration = 50 * time.Millisecond
	served := make(chan struct{})
	go func() {
		defer close(served)
		f.Listen(app, ln)
	}()
	t.Cleanup(func() {
		if err := app.ShutdownWithTimeout(5 * time.Second); err != nil {
			t.Errorf("app.ShutdownWithTimeout: %v", err)
		}
		<-served
	})
	return "http://" + ln.Addr().String()
}

// startTLSApp serves app over TLS with cfg on a new 127.0.0.1 listener,
// shuts it down at cleanup, and returns its https base URL.
func startTLSApp(t *testing.T, f Framework, app App, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Replace(StartOn(t, f, app, tls.NewListener(ln, cfg)), "http://", "https://", 1)
}

// Hello sends one event, "hello " and the name route parameter, and waits
// for the end.
func Hello(s *lifecycle.Session) error {
	if err := s.Send(lifecycle.Event{ID: "1", Data: []byte("hello " + s.Request().Param("name"))}); err != nil {
		return err
	}
	<-s.Done()
	return nil
}

// SendN sends n events (the name's route parameter) and returns.
func SendN(n int) lifecycle.Handler {
	return func(s *lifecycle.Session) error {
		for i := range n {
			if err := s.Send(lifecycle.Event{ID: fmt.Sprint(i), Data: []byte(s.Request().Param("name"))}); err != nil {
				return err
			}
		}
		return nil
	}
}

// RawClient does not ask for compression, so a compressed body would show.
func RawClient(t *testing.T) *http.Client {
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// Stream opens url with header and reads the first event (from Hello)
// within 5 s: a stream buffered by a middleware would not deliver it. The
// stream is closed at cleanup.
func Stream(t *testing.T, url string, header http.Header) *conformance.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	st, err := conformance.Connect(ctx, RawClient(t), url, header)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ev, err := st.Next()
	if err != nil {
		t.Fatalf("first event: %v (a middleware held the stream back?)", err)
	}
	if !strings.HasPrefix(ev.Data, "hello") {
		t.Fatalf("first event %+v", ev)
	}
	return st
}
