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
// # Delivery contract: every event exactly once, or a reset
//
// Every event published on a hub gets the next position in one log shared
// by all topics, written "seq-epoch" as its SSE event ID. A client that
// reconnects sends the last one back (EventSource does it by itself), and
// Serve replays every event of its topics after it before going live.
//
// A subscriber receives the events of its topics in order, each at most
// once, and never silently misses one: where it cannot have an event, it
// gets one event of type ResetEventType ("ssekit.reset") in its place,
// whose ID is the position from which delivery goes on. A client that gets
// one should reload its state from the source of truth instead of assuming
// it saw every event. The reset's data says why:
//
//   - ResetGap ("gap"): the client resumed from before the history the
//     backend keeps (Retention: count, age, a topic freed while idle), or
//     events were dropped from its queue (Options.DropOldest), or the
//     session opened before the hub first reached the backend.
//   - ResetUnknownID ("unknown-id"): the client's ID is not from the
//     backend's current log (another hub, a made-up value), or the log was
//     replaced under the hub: a Redis emptied (FLUSHALL, a restart without
//     persistence) or rolled back (restarted from an older snapshot, failed
//     over to a lagging replica).
//
// Without those causes, a client gets every event exactly once: through
// reconnects to any instance on the same backend, bursts, long replays
// (which catch up from the backend before joining the live events, so that
// a client reading faster than events are published always converges), a
// backend that stalls or drops replies (Publish is idempotent across the
// Redis client's retries), and a hub that falls behind the backend.
//
// # What a Publish error means
//
// A nil error means the backend stored the event: every subscriber of its
// topic, on every instance, receives it or a reset in its place. An error
// means the event may or may not have been stored (a reply can be lost
// after the store), and never twice. To retry without risking a duplicate,
// give the event a Token and publish it again with the same Token within
// TokenTTL: the backend answers with the first one's position. Publish
// returns when its context is done, even while the backend does not answer.
//
// # Durability
//
// The memory backend loses everything when the process exits (clients then
// get an unknown-id reset). On Redis, "an acknowledged event is never lost"
// needs appendonly yes with appendfsync always (and, with replicas, a
// failover that loses no acknowledged write). With weaker settings (RDB
// snapshots, appendfsync everysec) a crash can lose acknowledged events:
// the hub then gives the log a new epoch and sends resets, as long as one
// of its instances saw a position past what Redis came back with. A
// rollback that no running instance saw cannot be detected.
//
// # Slow subscribers
//
// Each subscriber has its own bounded queue (Options.QueueLen) and is
// written to by its own session's goroutine; the goroutine that follows the
// backend never waits for a subscriber. Everything queued goes out in one
// write and one flush (Session.SendBatch). An event for several
// subscribers is encoded once and its bytes shared by all of them
// (lifecycle.Encode, Session.SendEncoded). A subscriber whose queue
// overflows is ended with ErrSlowSubscriber: its client reconnects and
// resumes from its Last-Event-ID, losing nothing. Options.DropOldest drops
// the oldest queued events instead, with a reset in their place.
//
// # Backends
//
// NewMemory is the default: nothing to set up, one server instance, O(1)
// per event. The redisbackend package stores the log in Redis Streams, so
// that several instances behind a load balancer deliver every event, and a
// client can resume on any of them. Both pass the same suite, hubtest.Run,
// which a third-party Backend should pass too; hubtest.BenchmarkAppend shows
// whether its Append stays O(1) as the history grows.
//
// Stats reports subscribers per topic, queue depth, drops, slow-subscriber
// disconnects, replays, resets by kind and backend errors (Totals the same
// but per topic, at a cost that does not grow with the topics);
// Options.OnSubscribe tells when a session is subscribed, and
// Options.OnPublish how long each publish took.
package hub
