package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"
)

// server is a running server process.
type server struct {
	target  string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	addr    string // streams
	control string // /stats, /ended
}

// startServer runs `ssebench serve` for target as a separate process.
func startServer(target string, heartbeat time.Duration, extra ...string) (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, append([]string{"serve", "-target", target, "-heartbeat", heartbeat.String()}, extra...)...)
	cmd.Stderr = io.Discard
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		return nil, fmt.Errorf("server %s did not start: %v", target, err)
	}
	var s server
	if _, err := fmt.Sscanf(line, "ADDR %s %s", &s.addr, &s.control); err != nil {
		cmd.Process.Kill()
		return nil, fmt.Errorf("server %s: %q: %v", target, line, err)
	}
	s.target, s.cmd, s.stdin = target, cmd, stdin
	return &s, nil
}

func (s *server) stop() {
	s.stdin.Close()
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

func (s *server) stats(gc bool) (Stats, error) {
	var st Stats
	u := "http://" + s.control + "/stats"
	if !gc {
		u += "?gc=0"
	}
	resp, err := http.Get(u)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

func (s *server) ended() (map[string]int64, error) {
	resp, err := http.Get("http://" + s.control + "/ended")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var m map[string]int64
	return m, json.NewDecoder(resp.Body).Decode(&m)
}

// openIdle opens a stream in idle mode on a raw connection and reads up to
// its "ready" event.
func openIdle(addr string) (net.Conn, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	io.WriteString(conn, "GET /sse?mode=idle HTTP/1.1\r\nHost: bench\r\n\r\n")
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReaderSize(conn, 512)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("waiting for the first event: %v", err)
		}
		if strings.Contains(line, "data: ready") {
			conn.SetReadDeadline(time.Time{})
			return conn, nil
		}
	}
}

// openMany opens n idle streams, 64 at a time.
func openMany(addr string, n int) ([]net.Conn, error) {
	conns, err := openConcurrently(n, func() (net.Conn, error) { return openIdle(addr) })
	if err != nil {
		closeAll(conns)
		return nil, err
	}
	return conns, nil
}

// openConcurrently calls open n times, 64 at a time, and returns the results
// in order; on error, the results that did open are returned with it.
func openConcurrently[T any](n int, open func() (T, error)) ([]T, error) {
	out := make([]T, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			v, err := open()
			if err != nil {
				errs <- err
				return
			}
			out[i] = v
		}()
	}
	wg.Wait()
	close(errs)
	return out, <-errs
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

// Detection is scenario 1's result for one target.
type Detection struct {
	Rounds     int     `json:"rounds"`
	P50ms      float64 `json:"p50_ms"`
	P90ms      float64 `json:"p90_ms"`
	P99ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	Undetected int     `json:"undetected_within_60s"`
}

// detection opens rounds idle streams, closes them all at once while
// nothing is written, and measures, for each, the time from the client's
// close to the server-side end (both clocks are this host's).
func detection(s *server, rounds int, wait time.Duration) (Detection, error) {
	conns, err := openMany(s.addr, rounds)
	if err != nil {
		return Detection{}, err
	}
	time.Sleep(200 * time.Millisecond) // let the streams go quiet
	closedAt := make(map[string]int64, len(conns))
	for _, c := range conns {
		closedAt[c.LocalAddr().String()] = time.Now().UnixNano()
		c.Close()
	}
	var lat []float64
	deadline := time.Now().Add(wait)
	for {
		ended, err := s.ended()
		if err != nil {
			return Detection{}, err
		}
		lat = lat[:0]
		for addr, at := range closedAt {
			if end, ok := ended[addr]; ok {
				lat = append(lat, float64(end-at)/1e6)
			}
		}
		if len(lat) == len(closedAt) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	d := Detection{Rounds: rounds, Undetected: len(closedAt) - len(lat)}
	if len(lat) > 0 {
		sort.Float64s(lat)
		d.P50ms, d.P90ms, d.P99ms, d.MaxMs = pct(lat, 50), pct(lat, 90), pct(lat, 99), lat[len(lat)-1]
	}
	return d, nil
}

func pct(sorted []float64, p float64) float64 {
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}

// Memory is scenario 2's result for one target: the growth per idle stream
// over the server's empty baseline, after a GC.
type Memory struct {
	Sessions       int     `json:"sessions"`
	RSSPerConn     float64 `json:"rss_bytes_per_conn"`
	HeapPerConn    float64 `json:"heap_bytes_per_conn"`
	StackPerConn   float64 `json:"stack_bytes_per_conn"`
	GoroutinesPerC float64 `json:"goroutines_per_conn"`
}

func memory(s *server, n int) (Memory, error) {
	before, err := s.stats(true)
	if err != nil {
		return Memory{}, err
	}
	conns, err := openMany(s.addr, n)
	if err != nil {
		return Memory{}, err
	}
	defer closeAll(conns)
	time.Sleep(time.Second)
	after, err := s.stats(true)
	if err != nil {
		return Memory{}, err
	}
	f := float64(n)
	return Memory{
		Sessions:       n,
		RSSPerConn:     float64(after.RSS-before.RSS) / f,
		HeapPerConn:    float64(after.HeapInuse-before.HeapInuse) / f,
		StackPerConn:   float64(after.StackInuse-before.StackInuse) / f,
		GoroutinesPerC: float64(after.Goroutines-before.Goroutines) / f,
	}, nil
}

// throughput reads 64-byte events from one flooding stream for d and
// returns events per second received.
func throughput(s *server, d time.Duration) (float64, error) {
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	io.WriteString(conn, "GET /sse?mode=flood HTTP/1.1\r\nHost: bench\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 64<<10), nil)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 64<<10)
	var newlines int64
	start := time.Now()
	conn.SetReadDeadline(start.Add(d))
	for {
		n, err := resp.Body.Read(buf)
		newlines += int64(bytes.Count(buf[:n], []byte{'\n'}))
		if err != nil {
			break
		}
	}
	// Each event is "data: <64 bytes>\n\n"; the first is "data: ready\n\n".
	return float64(newlines/2) / time.Since(start).Seconds(), nil
}

// rawOf returns the hand-written loop on target's framework, or "" if
// target is one.
func rawOf(target string) string {
	if strings.HasPrefix(target, "raw-") {
		return ""
	}
	return "raw-" + target
}

// pairedThroughput measures s against raw, the hand-written loop on the same
// framework, in short alternating slices (ABBA order) so that both see the
// same machine: on a shared box the load drifts between two runs further
// than the difference being measured. It returns s's median events/s over
// its slices and the median of the slice-by-slice ratios.
func pairedThroughput(s, raw *server, d time.Duration) (eventsPerS, vsRaw float64, err error) {
	const pairs = 10
	slice := max(d/pairs, 50*time.Millisecond)
	var mine, ratios []float64
	for i := range pairs {
		order := []*server{s, raw}
		if i%2 == 1 {
			order = []*server{raw, s}
		}
		got := map[*server]float64{}
		for _, srv := range order {
			if got[srv], err = throughput(srv, slice); err != nil {
				return 0, 0, err
			}
		}
		mine = append(mine, got[s])
		if got[raw] > 0 {
			ratios = append(ratios, got[s]/got[raw])
		}
	}
	if len(ratios) == 0 {
		return 0, 0, fmt.Errorf("%s received no events", raw.target)
	}
	return spread(mine).Median, spread(ratios).Median, nil
}

// Heartbeat is scenario 4's result for one target.
type Heartbeat struct {
	Sessions   int     `json:"sessions"`
	Seconds    float64 `json:"seconds"`
	Interval   string  `json:"interval"`
	CPUSeconds float64 `json:"server_cpu_seconds"`
	CPUPercent float64 `json:"server_cpu_percent_of_one_core"`
}

// heartbeatCost holds n idle sessions open for d and measures the server's
// CPU time meanwhile.
func heartbeatCost(s *server, n int, d time.Duration, interval time.Duration) (Heartbeat, error) {
	conns, err := openMany(s.addr, n)
	if err != nil {
		return Heartbeat{}, err
	}
	defer closeAll(conns)
	// Drain what the heartbeats send, so no socket buffer fills; the
	// readers return when the connections close.
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
			}
		}()
	}
	before, err := s.stats(false)
	if err != nil {
		return Heartbeat{}, err
	}
	time.Sleep(d)
	after, err := s.stats(false)
	closeAll(conns)
	wg.Wait()
	if err != nil {
		return Heartbeat{}, err
	}
	cpu := after.CPUSeconds - before.CPUSeconds
	return Heartbeat{Sessions: n, Seconds: d.Seconds(), Interval: interval.String(),
		CPUSeconds: cpu, CPUPercent: 100 * cpu / d.Seconds()}, nil
}
