// Package hub broadcasts events to sessions: topics, resumption from
// Last-Event-ID with explicit gap signalling, slow-subscriber isolation, and
// backends shared by several server instances.
//
// A Hub works with any adapter: call Serve from a lifecycle.Handler.
//
//	h := hub.New(hub.NewMemory(hub.Retention{}), hub.Options{})
//	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
//		return h.Serve(s, s.Request().Query()["topic"]...)
//	}, lifecycle.Options{})
//	// elsewhere: h.Publish(ctx, "chat", hub.Event{Data: msg})
//
// # Event IDs and resumption
//
// Every event published on a hub gets the next position in one log shared
// by all topics, written "seq-epoch" as its SSE event ID. A client that
// reconnects sends the last one back (EventSource does it by itself), and
// Serve replays every event of its topics after it before going live, with
// no event missed or repeated at the seam, even while events are being
// published. Each topic keeps a bounded history (Retention: by count and
// age). When the client's ID is older than that history, or is not from
// this hub (another hub, a backend that lost its data, a made-up value), the
// client gets one event of type ResetEventType ("ssekit.reset") instead of
// a partial replay, with data ResetGap or ResetUnknownID: it should reload
// its state rather than assume it saw everything.
//
// # Slow subscribers
//
// Each subscriber has its own bounded queue (Options.QueueLen) and is
// written to by its own session's goroutine; the goroutine that follows the
// backend never waits for a subscriber. Everything queued goes out in one
// write and one flush (Session.SendBatch). A subscriber whose queue
// overflows is ended with ErrSlowSubscriber: its client reconnects and
// resumes from its Last-Event-ID, losing nothing. Options.DropOldest drops
// the oldest queued events instead.
//
// # Backends
//
// NewMemory is the default: nothing to set up, one server instance. The
// redisbackend package stores the log in Redis Streams, so that several
// instances behind a load balancer deliver every event, and a client can
// resume on any of them. Both pass the same suite, hubtest.Run.
//
// Stats reports subscribers per topic, queue depth, drops, slow-subscriber
// disconnects, replays and gaps.
package hub
