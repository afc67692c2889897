// Package hostile holds tests written to break refusal before the stream
// (Options.Admit, hub.Options.Authorize, Hub.Admit) as a hostile client and
// a careless application would: topic tricks, header injection through a
// Refusal, pipelined refusals on one connection, a slow or panicking
// Authorize during shutdown, revoked access on reconnect. They run against
// every adapter over real TCP. It is test-only.
package hostile
