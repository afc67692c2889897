package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/ssekit/ssekit/hub"
	"github.com/ssekit/ssekit/hub/redisbackend"
	"github.com/ssekit/ssekit/lifecycle"
	"github.com/ssekit/ssekit/otelsse"
)

//go:embed web
var webFS embed.FS

// demo is everything but the framework: the hub, the endpoint, the
// non-stream handlers and the session log.
type demo struct {
	framework string
	hub       *hub.Hub
	backend   hub.Backend
	rdb       *redis.Client
	ep        *lifecycle.Endpoint
	hubAdmit  func(context.Context, *lifecycle.Request) error // hub.Admit for ?topic=
	log       *sessionLog

	// The OpenTelemetry metrics, exported at GET /metrics for Prometheus.
	provider   *sdkmetric.MeterProvider
	registry   *prometheus.Registry
	epMetrics  *otelsse.EndpointMetrics
	hubMetrics *otelsse.HubMetrics
}

func newDemo(framework, redisURL string) (*demo, error) {
	if err := validFramework(framework); err != nil {
		return nil, err
	}
	d := &demo{framework: framework, log: newSessionLog()}
	if redisURL != "" {
		opt, err := redis.ParseURL(redisURL)
		if err != nil {
			return nil, fmt.Errorf("-redis: %w", err)
		}
		d.rdb = redis.NewClient(opt)
		d.backend = redisbackend.New(d.rdb, redisbackend.Options{Prefix: "ssedemo"})
	} else {
		d.backend = hub.NewMemory(hub.Retention{MaxLen: 500})
	}
	if err := d.newMetrics(); err != nil {
		return nil, err
	}
	d.hub = hub.New(d.backend, hub.Options{OnPublish: d.hubMetrics.OnPublish})
	d.ep = lifecycle.NewEndpoint(d.serveEvents, lifecycle.Options{
		Heartbeat: 15 * time.Second,
		Farewell:  &lifecycle.Event{Type: "farewell", Data: []byte("the demo is restarting"), Retry: 2 * time.Second},
		OnOpen:    d.log.opened,
		OnClose: func(s *lifecycle.Session, info lifecycle.CloseInfo) {
			d.log.closed(s, info)
			d.epMetrics.OnClose(s, info)
		},
		Admit: d.admit,
	})
	d.hubAdmit = d.hub.Admit(func(r *lifecycle.Request) []string { return []string{r.Query().Get("topic")} })
	if err := errors.Join(d.epMetrics.Observe(d.ep), d.hubMetrics.Observe(d.hub)); err != nil {
		return nil, err
	}
	return d, nil
}

// newMetrics sets up OpenTelemetry with the Prometheus exporter, on a
// registry of the demo's own (several demos run in one test binary).
func (d *demo) newMetrics() error {
	d.registry = prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(d.registry))
	if err != nil {
		return err
	}
	d.provider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	if d.epMetrics, err = otelsse.NewEndpointMetrics(d.provider, otelsse.Options{}); err != nil {
		return err
	}
	d.hubMetrics, err = otelsse.NewHubMetrics(d.provider, otelsse.Options{})
	return err
}

// admit refuses, before the stream opens, a request without a topic, or
// with one the hub would not serve (too long, control characters): a 400
// tells an EventSource not to retry, where a stream ending at once would
// have it reconnect forever. (The demo's topics are public; an app with
// private ones also sets hub.Options.Authorize.)
func (d *demo) admit(ctx context.Context, r *lifecycle.Request) error {
	switch r.Query().Get("topic") {
	case "":
		return lifecycle.Refuse(http.StatusBadRequest, "?topic= is required: clock, chat, or any name")
	case "clock":
		return nil
	}
	return d.hubAdmit(ctx, r)
}

// serveEvents is the stream: GET /events?topic=NAME&sid=... The topic
// "clock" is the server's clock; any other is a hub topic ("chat" is the
// page's chat room; POST /publish posts to it).
func (d *demo) serveEvents(s *lifecycle.Session) error {
	switch topic := s.Request().Query().Get("topic"); topic {
	case "clock":
		return clock(s)
	default: // Admit refused a request without a topic
		return d.hub.Serve(s, topic)
	}
}

// clock sends the server's time every second.
func clock(s *lifecycle.Session) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		now := time.Now()
		if err := s.Send(lifecycle.Event{Type: "tick", Data: []byte(now.Format(time.RFC3339Nano))}); err != nil {
			return nil
		}
		select {
		case <-t.C:
		case <-s.Done():
			return nil
		}
	}
}

// handler serves everything but the stream, with net/http; each framework
// mounts it beside the stream's adapter.
func (d *demo) handler() http.Handler {
	mux := http.NewServeMux()
	web, _ := fs.Sub(webFS, "web")
	mux.Handle("GET /", http.FileServerFS(web))
	mux.HandleFunc("GET /stats", d.stats)
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("POST /publish", d.publish)
	mux.HandleFunc("POST /bye", d.bye)
	return mux
}

// publish posts a chat message: a form or JSON with name and text.
func (d *demo) publish(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	var msg struct {
		Name string `json:"name"`
		Text string `json:"text"`
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
			http.Error(w, "bad JSON: "+err.Error(), http.StatusBadRequest)
			return
		}
	} else {
		msg.Name, msg.Text = r.FormValue("name"), r.FormValue("text")
	}
	msg.Name, msg.Text = strings.TrimSpace(msg.Name), strings.TrimSpace(msg.Text)
	if msg.Text == "" {
		http.Error(w, "empty message", http.StatusBadRequest)
		return
	}
	if msg.Name == "" {
		msg.Name = "anonymous"
	}
	data, _ := json.Marshal(struct {
		Name string `json:"name"`
		Text string `json:"text"`
		At   string `json:"at"`
	}{msg.Name, msg.Text, time.Now().Format(time.RFC3339)})
	pos, err := d.hub.Publish(r.Context(), "chat", hub.Event{Type: "chat", Data: data})
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"id": pos.String()})
}

// bye records when a page went away (navigator.sendBeacon on pagehide), so
// the log can show how long the server took to notice.
func (d *demo) bye(w http.ResponseWriter, r *http.Request) {
	sid := r.FormValue("sid")
	if sid == "" || len(sid) > 64 {
		http.Error(w, "sid required", http.StatusBadRequest)
		return
	}
	d.log.bye(sid, time.Now())
	w.WriteHeader(http.StatusNoContent)
}

func (d *demo) stats(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(d.log.snapshot(d.framework))
}

// run serves on ln until ctx is done, then shuts down gracefully: every
// open session gets the farewell and its handler returns.
func (d *demo) run(ctx context.Context, ln net.Listener) error {
	srv, err := mount(d.framework, d.ep, d.handler(), ln)
	if err != nil {
		return err
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.serve() }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = errors.Join(d.ep.Shutdown(sctx), srv.shutdown(sctx))
	d.hub.Close()
	err = errors.Join(err, d.provider.Shutdown(sctx))
	d.backend.Close()
	if d.rdb != nil {
		d.rdb.Close()
	}
	if e := <-serveErr; e != nil && !errors.Is(e, http.ErrServerClosed) && !errors.Is(e, net.ErrClosed) {
		err = errors.Join(err, e)
	}
	return err
}

// sessionLog keeps counters and the most recent ended sessions.
type sessionLog struct {
	mu      sync.Mutex
	nOpened int64
	nClosed int64
	reasons map[string]int64
	recent  []recentSession // newest first, at most maxRecent
	open    map[*lifecycle.Session]time.Time
	byes    map[string]time.Time // page id -> when it said bye
}

const maxRecent = 50

type recentSession struct {
	Topic    string   `json:"topic"`
	OpenedAt string   `json:"opened_at"`
	ClosedAt string   `json:"closed_at"`
	Reason   string   `json:"reason"`
	Events   int64    `json:"events"`
	Bytes    int64    `json:"bytes"`
	DetectMs *float64 `json:"detect_ms,omitempty"` // from the page's goodbye to the server noticing

	sid    string    // the page's id
	closed time.Time // ClosedAt
}

func newSessionLog() *sessionLog {
	return &sessionLog{reasons: map[string]int64{}, open: map[*lifecycle.Session]time.Time{}, byes: map[string]time.Time{}}
}

func (l *sessionLog) opened(s *lifecycle.Session) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.nOpened++
	l.open[s] = time.Now()
}

func (l *sessionLog) bye(sid string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// The goodbye may arrive after the server has already noticed the
	// close: then the server was faster than the page's last request.
	for i := range l.recent {
		if r := &l.recent[i]; r.sid == sid && r.Reason == "client-gone" && r.DetectMs == nil && at.Sub(r.closed) < 5*time.Second {
			r.DetectMs = detectMs(r.closed.Sub(at))
		}
	}
	l.byes[sid] = at
	for k, t := range l.byes { // forget goodbyes nobody matched
		if at.Sub(t) > time.Minute {
			delete(l.byes, k)
		}
	}
}

// reasonName is the short name of a close reason, as /stats reports it:
// lifecycle's stable name, or "slow-subscriber" for a hub subscriber that
// fell behind (its handler returned hub.ErrSlowSubscriber).
func reasonName(err error) string {
	if errors.Is(err, hub.ErrSlowSubscriber) {
		return "slow-subscriber"
	}
	return lifecycle.ReasonName(err)
}

func (l *sessionLog) closed(s *lifecycle.Session, info lifecycle.CloseInfo) {
	now := time.Now()
	q := s.Request().Query()
	l.mu.Lock()
	defer l.mu.Unlock()
	openedAt := l.open[s]
	delete(l.open, s)
	l.nClosed++
	name := reasonName(info.Reason)
	l.reasons[name]++
	rs := recentSession{
		Topic:    q.Get("topic"),
		OpenedAt: openedAt.Format(time.RFC3339Nano),
		ClosedAt: now.Format(time.RFC3339Nano),
		Reason:   name,
		Events:   info.Events,
		Bytes:    info.Bytes,
		sid:      q.Get("sid"),
		closed:   now,
	}
	if at, ok := l.byes[rs.sid]; ok && name == "client-gone" {
		rs.DetectMs = detectMs(now.Sub(at))
	}
	l.recent = append([]recentSession{rs}, l.recent...)
	if len(l.recent) > maxRecent {
		l.recent = l.recent[:maxRecent]
	}
}

// detectMs is d in milliseconds, at least 0: a negative d means the server
// noticed the close before the page's goodbye reached it.
func detectMs(d time.Duration) *float64 {
	ms := max(float64(d.Microseconds())/1000, 0)
	return &ms
}

// Stats is /stats's answer.
type Stats struct {
	Framework string           `json:"framework"`
	Active    int64            `json:"active"`
	Opened    int64            `json:"opened"`
	Closed    int64            `json:"closed"`
	Reasons   map[string]int64 `json:"reasons"`
	Recent    []recentSession  `json:"recent"`
}

func (l *sessionLog) snapshot(framework string) Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	reasons := make(map[string]int64, len(l.reasons))
	for k, v := range l.reasons {
		reasons[k] = v
	}
	return Stats{
		Framework: framework,
		Active:    int64(len(l.open)),
		Opened:    l.nOpened,
		Closed:    l.nClosed,
		Reasons:   reasons,
		Recent:    append([]recentSession{}, l.recent...),
	}
}
