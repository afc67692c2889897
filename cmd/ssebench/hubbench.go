package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssekit/ssekit/hub"
	"github.com/ssekit/ssekit/hub/redisbackend"
)

// Scenario 6, fan-out through the hub: bursts (many events to many
// subscribers: deliveries per second and latency) and single events to very
// many subscribers (latency), on the memory backend and on Redis.

// benchHub is the server process's hub, when it serves one (-hub).
var benchHub *hub.Hub

func newBenchHub(spec string) (*hub.Hub, error) {
	switch {
	case spec == "memory":
		benchFollow = &followed{Backend: hub.NewMemory(hub.Retention{})}
		return hub.New(benchFollow, hub.Options{}), nil
	case strings.HasPrefix(spec, "redis://"):
		rdb := redis.NewClient(&redis.Options{Addr: strings.TrimPrefix(spec, "redis://"), PoolSize: 64})
		prefix := "ssebench:" + strconv.FormatInt(time.Now().UnixNano(), 36)
		return hub.New(redisbackend.New(rdb, redisbackend.Options{Prefix: prefix}), hub.Options{}), nil
	}
	return nil, fmt.Errorf("unknown -hub %q", spec)
}

// publishHandler publishes n events of size bytes on the bench topic, as
// fast as the backend takes them. Each event's data starts with its publish
// time in Unix nanoseconds, for the subscribers' latency.
func publishHandler(w http.ResponseWriter, r *http.Request) {
	if benchHub == nil && !rawTCP {
		http.Error(w, "no hub", http.StatusNotFound)
		return
	}
	n, _ := strconv.Atoi(r.URL.Query().Get("n"))
	size, _ := strconv.Atoi(r.URL.Query().Get("size"))
	buf := make([]byte, max(size, 20))
	for i := range buf {
		buf[i] = 'x'
	}
	for range n {
		copy(buf, fmt.Sprintf("%019d ", time.Now().UnixNano()))
		if rawTCP {
			rawPublish(buf)
			continue
		}
		if _, err := benchHub.Publish(r.Context(), "bench", hub.Event{Data: buf}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
}

// Fanout is scenario 6's result for one target and backend.
type Fanout struct {
	Backend        string  `json:"backend"`
	Subscribers    int     `json:"subscribers"`
	Events         int     `json:"events"`
	Delivered      int64   `json:"delivered"`
	DeliveriesPerS float64 `json:"deliveries_per_s,omitempty"` // bursts only
	P50ms          float64 `json:"p50_ms"`
	P99ms          float64 `json:"p99_ms"`
	// Single events only: the same broadcast on raw-tcp, the smallest
	// correct server, in alternating rounds with the hub's.
	Vs *Bcast `json:"vs_raw,omitempty"`
}

// subscriber is one client connection counting events and their latencies.
type benchSub struct {
	conn      net.Conn
	got       atomic.Int64
	lastAt    atomic.Int64 // Unix ns of the last delivery
	mu        sync.Mutex
	latencies []float64 // ms
}

func subscribe(addr, mode string) (*benchSub, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	io.WriteString(conn, "GET /sse?mode="+mode+" HTTP/1.1\r\nHost: bench\r\n\r\n")
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	// Small buffers: 10,000 subscribers with 64 KiB each would cost the
	// client process more than a GiB and time the server's figures.
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 4<<10), nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetReadDeadline(time.Time{})
	s := &benchSub{conn: conn}
	go s.read(resp.Body)
	return s, nil
}

// read counts "data: <ns> ..." lines, timing each read once.
func (s *benchSub) read(body io.Reader) {
	br := bufio.NewReaderSize(body, 4<<10)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
		if !strings.HasPrefix(string(line), "data: ") || len(line) < 6+19 {
			continue
		}
		now := time.Now().UnixNano()
		sent, err := strconv.ParseInt(string(line[6:6+19]), 10, 64)
		if err != nil {
			continue
		}
		s.mu.Lock()
		s.latencies = append(s.latencies, float64(now-sent)/1e6)
		s.mu.Unlock()
		s.lastAt.Store(now)
		s.got.Add(1)
	}
}

// subscribeMany opens n subscribers, 64 at a time, and waits until the
// server's hub counts them all.
func subscribeMany(srv *server, n int, mode string) ([]*benchSub, error) {
	subs, err := openConcurrently(n, func() (*benchSub, error) { return subscribe(srv.addr, mode) })
	if err != nil {
		closeSubs(subs)
		return nil, err
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get("http://" + srv.control + "/subscribers")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if got, _ := strconv.Atoi(string(b)); got == n {
				return subs, nil
			}
		}
		if time.Now().After(deadline) {
			closeSubs(subs)
			return nil, fmt.Errorf("the hub did not count %d subscribers within 60 s", n)
		}
	}
}

func closeSubs(subs []*benchSub) {
	for _, s := range subs {
		if s != nil {
			s.conn.Close()
		}
	}
}

func publishOn(srv *server, n, size int) error {
	resp, err := http.Get(fmt.Sprintf("http://%s/publish?n=%d&size=%d", srv.control, n, size))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("publish: %s", b)
	}
	return nil
}

// waitDelivered waits until every subscriber has want events, or d passes.
func waitDelivered(subs []*benchSub, want int64, d time.Duration) int64 {
	deadline := time.Now().Add(d)
	for {
		var total int64
		done := true
		for _, s := range subs {
			g := s.got.Load()
			total += g
			if g < want {
				done = false
			}
		}
		if done || time.Now().After(deadline) {
			return total
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func latencyPercentiles(subs []*benchSub) (p50, p99 float64) {
	return percentiles(drainLatencies(subs))
}

// drainLatencies returns the latencies the subscribers recorded, forgetting
// them.
func drainLatencies(subs []*benchSub) []float64 {
	var all []float64
	for _, s := range subs {
		s.mu.Lock()
		all = append(all, s.latencies...)
		s.latencies = s.latencies[:0]
		s.mu.Unlock()
	}
	return all
}

func percentiles(all []float64) (p50, p99 float64) {
	if len(all) == 0 {
		return 0, 0
	}
	slices.Sort(all)
	return pct(all, 50), pct(all, 99)
}

// fanoutBurst: nsubs subscribers, then nevents 64-byte events published as
// fast as the backend takes them; deliveries per second from the first
// publish to the last delivery.
func fanoutBurst(srv *server, backend string, nsubs, nevents int) (Fanout, error) {
	subs, err := subscribeMany(srv, nsubs, "hub")
	if err != nil {
		return Fanout{}, err
	}
	defer closeSubs(subs)
	start := time.Now()
	if err := publishOn(srv, nevents, 64); err != nil {
		return Fanout{}, err
	}
	delivered := waitDelivered(subs, int64(nevents), 120*time.Second)
	var last int64
	for _, s := range subs {
		last = max(last, s.lastAt.Load())
	}
	f := Fanout{Backend: backend, Subscribers: nsubs, Events: nevents, Delivered: delivered}
	if el := time.Duration(last - start.UnixNano()); el > 0 {
		f.DeliveriesPerS = float64(delivered) / el.Seconds()
	}
	f.P50ms, f.P99ms = latencyPercentiles(subs)
	if delivered < int64(nsubs*nevents) {
		return f, fmt.Errorf("burst: %d of %d deliveries within 120 s", delivered, nsubs*nevents)
	}
	return f, nil
}

// fanoutSingle: nsubs subscribers; rounds single events, 300 ms apart,
// alternating with the same on raw-tcp (after a warm-up each); latency
// from publish to each subscriber's receipt, and server CPU per delivery,
// as ratios to raw-tcp's.
func fanoutSingle(srv *server, backend string, nsubs, rounds int) (Fanout, error) {
	f := Fanout{Backend: backend, Subscribers: nsubs, Events: rounds}
	err := withServer("raw-tcp", -1, func(raw *server) error {
		l, err := newLoader(srv.addr, "/sse?mode=hub", nsubs)
		if err != nil {
			return err
		}
		defer l.close()
		if _, err := l.open(srv, nsubs); err != nil {
			return err
		}
		lraw, err := newLoader(raw.addr, "/", nsubs)
		if err != nil {
			return err
		}
		defer lraw.close()
		if _, err := lraw.open(raw, nsubs); err != nil {
			return fmt.Errorf("raw-tcp: %w", err)
		}
		b, err := pairedBroadcast(srv, raw, l, lraw, rounds, 300*time.Millisecond)
		f.Vs = &b
		f.Delivered = int64(rounds)*int64(nsubs) - b.Missing
		f.P50ms, f.P99ms = b.P50ms, b.P99ms
		return err
	})
	return f, err
}

// startRedis runs a redis-server on a free 127.0.0.1 port for the run, or
// returns "" if none is installed.
func startRedis() (addr string, stop func(), err error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return "", func() {}, nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr = ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	dir, err := os.MkdirTemp("", "ssebench-redis")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() { cmd.Process.Kill(); cmd.Wait(); os.RemoveAll(dir) }
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); c.Ping(context.Background()).Err() != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("redis-server did not start")
		}
	}
	return addr, stop, nil
}

// profileFanout sends 20 single events to 10,000 subscribers of target's
// memory hub while the server records a CPU profile, written to file.
func profileFanout(target, file string) error {
	return withServer(target, -1, func(s *server) error {
		subs, err := subscribeMany(s, 10000, "hub")
		if err != nil {
			return err
		}
		defer closeSubs(subs)
		return profileDuring(s, file, 5, func() error {
			for i := range 20 {
				if err := publishOn(s, 1, 64); err != nil {
					return err
				}
				waitDelivered(subs, int64(i+1), 10*time.Second)
				time.Sleep(100 * time.Millisecond)
			}
			p50, p99 := latencyPercentiles(subs)
			fmt.Printf("p50 %.1f ms, p99 %.1f ms\n", p50, p99)
			return nil
		})
	}, "-hub", "memory")
}
