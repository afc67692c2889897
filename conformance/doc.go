// Package conformance is the shared test suite every ssekit adapter passes,
// and a small spec-exact SSE test client.
//
// Run checks an adapter against every rule of ssekit's contract — headers,
// flushing, the WHATWG encoding rules, concurrency, heartbeats,
// Last-Event-ID, the copied request view, disconnect detection, timeouts,
// hooks, shutdown, goroutine leaks — over real TCP connections on 127.0.0.1,
// one subtest per rule with a fresh server and a watchdog. Adopting it takes
// a few lines in the adapter's tests:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, conformance.Harness{Start: func(t *testing.T,
//			ep *lifecycle.Endpoint, route string, cfg conformance.ServerConfig) string {
//			// serve ep at route with the framework on 127.0.0.1:0,
//			// stop it in t.Cleanup, return "http://" + addr
//		}})
//	}
//
// Parser reads an event stream exactly as a browser's EventSource does (it is
// tested against the web-platform-tests eventsource format vectors), and
// Connect and Stream wrap it as a client, for testing your own handlers.
package conformance
