// Package otelsse reports the sessions of a lifecycle.Endpoint and the
// state of a hub.Hub as OpenTelemetry metrics, through the MeterProvider
// you bring (with its exporter: OTLP, Prometheus, …).
//
// Counts are read from Endpoint.Stats and Hub.Stats by observable
// instruments, when the metrics are collected: the endpoint and the hub
// keep them anyway, so nothing is added per event or per heartbeat. Two
// histograms need a call per occurrence, which you wire in when building
// the endpoint and the hub:
//
//	em, _ := otelsse.NewEndpointMetrics(provider, otelsse.Options{})
//	ep := lifecycle.NewEndpoint(handler, lifecycle.Options{OnClose: em.OnClose})
//	em.Observe(ep)
//
//	hm, _ := otelsse.NewHubMetrics(provider, otelsse.Options{})
//	h := hub.New(backend, hub.Options{OnPublish: hm.OnPublish})
//	hm.Observe(h)
//
// Call OnClose or OnPublish from your own hook if you have one.
//
// # Instruments
//
// Every attribute value comes from a small fixed set: no topic, user or
// path is ever recorded. Options.Attributes adds attributes of your choice
// to all of them (to tell several endpoints apart).
//
// Endpoint (EndpointMetrics):
//
//	sse.server.sessions.active   {session}    up-down counter  sessions open now
//	sse.server.sessions.opened   {session}    counter          sessions opened
//	sse.server.sessions.refused  {session}    counter          refused before opening; sse.refusal.reason: overloaded, admit
//	sse.server.sessions.failed   {session}    counter          headers could not be sent
//	sse.server.sessions.closed   {session}    counter          sessions ended; sse.close.reason: lifecycle.ReasonName
//	sse.server.session.duration  s            histogram        from the open to the end (OnClose)
//	sse.server.events.sent       {event}      counter          events written
//	sse.server.sent              By           counter          body bytes written, heartbeats included
//	sse.server.heartbeats.sent   {heartbeat}  counter          heartbeat comments written
//
// Hub (HubMetrics):
//
//	sse.hub.subscribers        {session}       up-down counter  sessions subscribed now
//	sse.hub.subscriptions      {subscription}  up-down counter  topic subscriptions now
//	sse.hub.topics             {topic}         up-down counter  topics with subscribers now
//	sse.hub.events.queued      {event}         up-down counter  events waiting in subscriber queues
//	sse.hub.events.published   {event}         counter          events published through this instance
//	sse.hub.events.dropped     {event}         counter          dropped from full queues (DropOldest)
//	sse.hub.events.replayed    {event}         counter          events sent by replays
//	sse.hub.replays            {replay}        counter          reconnects resumed from their Last-Event-ID
//	sse.hub.slow_disconnects   {session}       counter          sessions ended with ErrSlowSubscriber
//	sse.hub.resets             {event}         counter          reset events sent; sse.reset.kind: gap, unknown-id
//	sse.hub.backend.errors     {error}         counter          calls to the backend that failed
//	sse.hub.publish.duration   s               histogram        publish until stored (OnPublish); error.type on failure: canceled, timeout, backend
//
// The Prometheus exporter names them with underscores and unit suffixes:
// sse_server_sessions_active, sse_server_sessions_closed_total,
// sse_server_session_duration_seconds, sse_server_sent_bytes_total, …
//
// Hub counts are per hub instance: with several instances on one Redis,
// sum them (published counts the events published through each).
package otelsse
