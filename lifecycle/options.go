package lifecycle

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// Defaults used where an Options field is zero.
const (
	DefaultHeartbeat        = 15 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultLastEventIDParam = "lastEventId"
	DefaultMaxBodySize      = 64 << 10

	// DefaultOverloadRetryAfter is the Retry-After sent with a 503 when a
	// stream is refused over a cap.
	DefaultOverloadRetryAfter = 10 * time.Second

	// MaxLastEventIDLen is the longest Last-Event-ID accepted; a longer one
	// is treated as absent.
	MaxLastEventIDLen = 1024
)

// Options configures an Endpoint. The zero value means the defaults; each
// field says its default and how to turn it off. Options is read once by
// NewEndpoint and must not be changed afterwards.
type Options struct {
	// Heartbeat is how long a session may stay silent before a comment line
	// is sent to keep proxies from timing the connection out and to find
	// dead clients by a failing write. Default DefaultHeartbeat (15 s);
	// negative turns heartbeats off.
	Heartbeat time.Duration

	// WriteTimeout bounds each write to the client (an event, a heartbeat,
	// the headers). A write that takes longer ends the session with
	// ErrWriteTimeout: this is what bounds a slow or stuck client. The
	// deadline is extended as the stream goes on (at most every eighth of
	// the timeout, so a write may be cut after 7/8 of it), so it never cuts
	// a long stream, and it replaces any whole-response deadline the server
	// set (such as http.Server.WriteTimeout). Default DefaultWriteTimeout
	// (10 s); negative means no deadline.
	WriteTimeout time.Duration

	// Retry, when positive, is sent as the first thing in every stream: the
	// client waits this long before reconnecting. Default none.
	Retry time.Duration

	// Header holds extra response headers, added to every stream after the
	// SSE headers (and so able to override them). Default none.
	Header http.Header

	// LastEventIDParam names the query parameter read for the last event ID
	// when the request has no Last-Event-ID header (an EventSource cannot set
	// headers, so a page resuming by hand puts the ID in the URL). Default
	// DefaultLastEventIDParam ("lastEventId"); "-" turns the fallback off.
	LastEventIDParam string

	// MaxBodySize bounds the request body that adapters read into
	// Request.Body before the stream opens; a larger body is answered with
	// 413 and no stream. Default DefaultMaxBodySize (64 KiB); negative means
	// the body is neither read nor kept.
	MaxBodySize int64

	// Farewell, when not nil, is sent to every session that Shutdown ends,
	// after its handler returns and before the response ends. Set its Retry
	// to spread reconnects out. Default none.
	Farewell *Event

	// OnOpen, when not nil, is called once per session after the headers
	// have been sent and before the handler runs (a stream whose headers
	// could not be written never opens: neither hook sees it). It runs on
	// the request's goroutine: keep it short. A panic in it is recovered
	// and logged.
	OnOpen func(*Session)

	// OnClose, when not nil, is called exactly once for every session that
	// OnOpen was called for, after the handler has returned and the session
	// has released its transport, with why and how it ended. A panic in it
	// is recovered and logged.
	OnClose func(*Session, CloseInfo)

	// MaxLifetime, when positive, ends every session after about this long
	// with ErrLifetime, after a retry hint that makes the client reconnect a
	// second or two later (Options.Retry and up to as much again, if set).
	// Long-lived streams then move to new instances during a rolling deploy
	// and rebalance behind a load balancer, without every client
	// reconnecting at the same moment. Default 0: no limit.
	MaxLifetime time.Duration

	// LifetimeJitter adds a random extra of up to this much to each
	// session's MaxLifetime, so that sessions opened together (after a
	// deploy) do not end together. Default MaxLifetime/10; negative means
	// none.
	LifetimeJitter time.Duration

	// MaxSessions caps the sessions open at once on the endpoint. A stream
	// over the cap is refused before anything of it is sent: the client gets
	// 503 Service Unavailable with a Retry-After header, the handler does not
	// run, OnOpen and OnClose are not called (OnReject is). An EventSource
	// treats any status but 200 as fatal and stops reconnecting; see the
	// package documentation, "Overload", for what the page should do.
	// Default 0: no cap.
	MaxSessions int

	// MaxSessionsPerKey caps the sessions open at once per key: the value
	// SessionKey returns for the request (a user, a client IP). Over it, the
	// stream is refused as for MaxSessions. Default 0: no cap.
	MaxSessionsPerKey int

	// SessionKey returns the key MaxSessionsPerKey counts by. It is called
	// once per stream, concurrently, before the stream opens; the user that
	// middleware identified is in the Request's Context. Default ClientIP.
	SessionKey func(*Request) string

	// OverloadRetryAfter is the Retry-After sent with a refusal, rounded up
	// to whole seconds. Default DefaultOverloadRetryAfter (10 s).
	OverloadRetryAfter time.Duration

	// Admit, when not nil, decides whether a stream may open, before
	// anything of it is sent: who the user is (ctx carries what the
	// framework's middleware attached, as Session.Context will), whether the
	// topic or resource exists, whether the parameters make sense. A nil
	// error admits the stream. A *Refusal (see Refuse) refuses it with its
	// status, headers and message; any other error (a failure to decide)
	// with 403 Forbidden, logged as an error; a panic with 500. A refused
	// stream's handler does not run, OnOpen and OnClose are not called,
	// OnReject is. HEAD requests are decided too.
	// Admit runs on the request's goroutine, concurrently for many
	// requests, before the caps of MaxSessions and MaxSessionsPerKey. Its
	// ctx is canceled when Endpoint.Shutdown begins (an Admit that then
	// returns an error does not refuse: the stream opens and ends at once,
	// without its handler, like one arriving during a shutdown) and, on
	// net/http, chi, Echo and Gin, when the client leaves; the Fiber
	// adapters notice a client leaving only once its stream has opened.
	// Default none: every stream is admitted.
	Admit func(ctx context.Context, r *Request) error

	// OnReject, when not nil, is called for every stream refused, after the
	// response is sent, with the reason: an error matching ErrOverloaded
	// (over a cap) or ErrRefused (Admit). It runs on the request's
	// goroutine. A panic in it is recovered and logged.
	OnReject func(*Request, error)

	// Logger receives a debug record per session end, and warnings and
	// errors for what needs a person's attention: recovered panics, a
	// response that cannot be streamed, a connection the adapter cannot
	// watch. Default: the slog default logger (slog.Default), looked up at
	// each record, so that slog.SetDefault after NewEndpoint applies. To
	// log nothing, set slog.New(slog.DiscardHandler).
	Logger *slog.Logger
}

// CloseInfo describes how a session ended. It is passed to Options.OnClose.
type CloseInfo struct {
	Reason   error         // why it ended; see ErrClientGone and the other reasons
	Duration time.Duration // from the open to the release of the transport
	Events   int64         // events written, not counting comments and heartbeats
	Bytes    int64         // body bytes written, including comments and heartbeats
}

// withDefaults returns o with zero fields replaced by their defaults.
func (o Options) withDefaults() Options {
	if o.Heartbeat == 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.LastEventIDParam == "" {
		o.LastEventIDParam = DefaultLastEventIDParam
	}
	if o.MaxBodySize == 0 {
		o.MaxBodySize = DefaultMaxBodySize
	}
	if o.LifetimeJitter == 0 {
		o.LifetimeJitter = o.MaxLifetime / 10
	}
	if o.OverloadRetryAfter <= 0 {
		o.OverloadRetryAfter = DefaultOverloadRetryAfter
	}
	if o.Logger == nil {
		o.Logger = slog.New(defaultHandler{})
	}
	return o
}
