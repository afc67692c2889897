package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// serverFiles is how many descriptors a server needs besides its streams'.
const serverFiles = 200

// Scenario 8, scale: very many hub-subscribed streams on one server
// process, opened by a loader (this process) with a connect storm from
// several loopback source addresses. Per stream: RSS, heap, goroutines at
// each step (growth must be linear); streams accepted per second; server
// CPU per heartbeat round; and one event published to every stream, paired
// with the same broadcast on raw-tcp (rawtcp.go), the smallest correct
// server, in alternating rounds so that the figures read as ratios.

// Scale is scenario 8's result for one target.
type Scale struct {
	Streams []ScaleStep `json:"steps"`
	// Heartbeat round at the last step: server CPU over a window in
	// which every stream gets its heartbeat, per heartbeat received.
	HBInterval      string  `json:"heartbeat_interval"`
	Heartbeats      int64   `json:"heartbeats_in_window"`
	CPUPerHeartbeat float64 `json:"server_cpu_us_per_heartbeat"`
	CPUPerHBRound   float64 `json:"server_cpu_s_per_heartbeat_round"`
	RawOpenPerS     float64 `json:"raw_streams_opened_per_s"`
	// CappedByFileLimit, when not 0, is the open-file limit that capped
	// the number of streams below the one asked for.
	CappedByFileLimit uint64 `json:"capped_by_file_limit,omitempty"`
	Broadcast         Bcast  `json:"broadcast"`
}

// ScaleStep is the server's growth per stream over the empty server with n
// streams open.
type ScaleStep struct {
	Streams        int     `json:"streams"`
	OpenedPerS     float64 `json:"opened_per_s"` // this step's storm: streams subscribed per second
	RSSPerConn     float64 `json:"rss_bytes_per_conn"`
	HeapPerConn    float64 `json:"heap_bytes_per_conn"`
	StackPerConn   float64 `json:"stack_bytes_per_conn"`
	GoroutinesPerC float64 `json:"goroutines_per_conn"`
}

// Bcast is single events to every stream, on the target and on raw-tcp, in
// alternating rounds: latency from publish to receipt over all deliveries
// of all rounds, and server CPU per delivery.
type Bcast struct {
	Streams        int     `json:"streams"`
	Rounds         int     `json:"rounds"` // measured, per server, after one warm-up each
	P50ms          float64 `json:"p50_ms"`
	P99ms          float64 `json:"p99_ms"`
	MaxMs          float64 `json:"max_ms"`
	CPUPerDelivUs  float64 `json:"server_cpu_us_per_delivery"`
	RawP50ms       float64 `json:"raw_p50_ms"`
	RawP99ms       float64 `json:"raw_p99_ms"`
	RawMaxMs       float64 `json:"raw_max_ms"`
	RawCPUPerDelUs float64 `json:"raw_server_cpu_us_per_delivery"`
	P99Ratio       float64 `json:"p99_vs_raw"`
	CPURatio       float64 `json:"cpu_vs_raw"`
	Missing        int64   `json:"missing_deliveries"` // must be 0: every stream receives every event
	// Server CPU µs per delivery of each round, the warm-up first.
	RoundsCPUUs    []float64 `json:"rounds_cpu_us_per_delivery"`
	RawRoundsCPUUs []float64 `json:"raw_rounds_cpu_us_per_delivery"`
}

// streams holds streams open on one server and reads them, in a load
// process (`ssebench load`): it counts data events (with their latency, from
// the publish time at the start of the data) and heartbeat comments.
type streams struct {
	addr string
	path string
	src  net.IP // the source address; nil for the default

	mu    sync.Mutex
	conns []net.Conn
	lat   []int64 // by stream: the latency of its last data event, ns
	got   []atomic.Int32

	opened, delivered, heartbeats atomic.Int64
	readers                       sync.WaitGroup
}

func (l *streams) dial() (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if l.src != nil {
		d.LocalAddr = &net.TCPAddr{IP: l.src}
		d.Control = bindNoPort
	}
	return d.Dial("tcp", l.addr)
}

// open adds streams until n are open, with workers dialing at once, and
// returns once all their response heads have arrived.
func (l *streams) open(n, workers int) error {
	l.mu.Lock()
	from := len(l.conns)
	l.conns = append(l.conns, make([]net.Conn, max(0, n-from))...)
	l.mu.Unlock()
	var next atomic.Int64
	next.Store(int64(from))
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c, err := l.dial()
				if err != nil {
					errs <- fmt.Errorf("stream %d: %w", i, err)
					return
				}
				l.mu.Lock()
				l.conns[i] = c
				l.mu.Unlock()
				if _, err := io.WriteString(c, "GET "+l.path+" HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
					errs <- fmt.Errorf("stream %d: %w", i, err)
					return
				}
				l.readers.Add(1)
				go l.read(i, c)
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	for deadline := time.Now().Add(120 * time.Second); l.opened.Load() < int64(n); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d response heads within 120 s", l.opened.Load(), n)
		}
	}
	return nil
}

// read reads stream i: the response head, then lines. A small buffer: the
// loader holds as many streams as the server.
func (l *streams) read(i int, c net.Conn) {
	defer l.readers.Done()
	br := bufio.NewReaderSize(c, 256)
	line, err := br.ReadSlice('\n')
	if err != nil || !bytes.HasPrefix(line, []byte("HTTP/1.1 200")) {
		return
	}
	for {
		if line, err = br.ReadSlice('\n'); err != nil {
			return
		}
		if len(bytes.TrimSpace(line)) == 0 {
			break
		}
	}
	l.opened.Add(1)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
		switch {
		case bytes.HasPrefix(line, []byte("data: ")) && len(line) >= 6+19:
			sent, err := strconv.ParseInt(string(line[6:6+19]), 10, 64)
			if err != nil {
				continue
			}
			l.lat[i] = time.Now().UnixNano() - sent
			l.got[i].Add(1)
			l.delivered.Add(1) // publishes lat[i] to whoever reads delivered
		case len(line) > 0 && line[0] == ':':
			l.heartbeats.Add(1)
		}
	}
}

// close closes every stream and waits (bounded) for the readers.
func (l *streams) close() {
	l.mu.Lock()
	for _, c := range l.conns {
		if c != nil {
			c.Close()
		}
	}
	l.mu.Unlock()
	done := make(chan struct{})
	go func() { l.readers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
	}
}

// loadMain is the load process: `ssebench load -addr A -path P -max N
// [-src IP]`. It reads commands on stdin and answers each with one line:
//
//	open N     open streams until N are open: "ok" or "err MSG"
//	count      "OPENED DELIVERED HEARTBEATS"
//	lat R      "MISSING L1 L2 ...": the latency in ms of the last event of
//	           each stream that has R events; MISSING streams have fewer
//
// It closes every stream and exits when stdin closes.
func loadMain(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	addr := fs.String("addr", "", "server address")
	path := fs.String("path", "/", "request path")
	n := fs.Int("max", 0, "most streams this process opens")
	src := fs.String("src", "", "source address (default: the system's choice)")
	workers := fs.Int("workers", 64, "dials in flight")
	fs.Parse(args)
	raiseFileLimit()
	l := &streams{addr: *addr, path: *path, lat: make([]int64, *n), got: make([]atomic.Int32, *n)}
	if *src != "" {
		l.src = net.ParseIP(*src)
	}
	defer l.close()
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		k, _ := strconv.Atoi(arg)
		switch cmd {
		case "open":
			if err := l.open(min(k, *n), *workers); err != nil {
				fmt.Fprintf(out, "err %v\n", strings.ReplaceAll(err.Error(), "\n", " "))
			} else {
				fmt.Fprintln(out, "ok")
			}
		case "count":
			fmt.Fprintf(out, "%d %d %d\n", l.opened.Load(), l.delivered.Load(), l.heartbeats.Load())
		case "lat":
			l.mu.Lock()
			m := len(l.conns)
			l.mu.Unlock()
			missing := 0
			var b []byte
			for i := range m {
				if l.got[i].Load() < int32(k) {
					missing++
					continue
				}
				b = append(b, ' ')
				b = strconv.AppendFloat(b, float64(l.lat[i])/1e6, 'f', 3, 64)
			}
			fmt.Fprintf(out, "%d%s\n", missing, b)
		default:
			fmt.Fprintf(out, "err unknown command %q\n", cmd)
		}
		out.Flush()
	}
	return nil
}

// loader is the streams on one server, held by load processes (each of
// which has its own open-file limit), perLoad streams each.
type loader struct {
	addr, path string
	procs      []*loadProc
	n          int // streams open
	rounds     int // broadcasts published to them
}

type loadProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
	max int
}

// perLoad is how many streams one load process holds: within a 20,000
// open-file limit, and within the ~28,000 ephemeral ports of its source
// address.
const perLoad = 15000

// loadSources counts the source addresses handed out (127.0.1.1, .2, ...),
// one per load process.
var loadSources atomic.Int32

func newLoader(addr, path string, max int) (*loader, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	l := &loader{addr: addr, path: path}
	for left := max; left > 0; left -= perLoad {
		p := &loadProc{max: min(left, perLoad)}
		args := []string{"load", "-addr", addr, "-path", path, "-max", strconv.Itoa(p.max), "-workers", "128"}
		// Any address of 127.0.0.0/8 is this host's on Linux; elsewhere
		// the system's choice, which bounds a process to its port range.
		if runtime.GOOS == "linux" {
			k := loadSources.Add(1)
			args = append(args, "-src", net.IPv4(127, 0, byte(1+k/250), byte(1+k%250)).String())
		}
		p.cmd = exec.Command(self, args...)
		p.cmd.Stderr = os.Stderr
		if p.in, err = p.cmd.StdinPipe(); err != nil {
			l.close()
			return nil, err
		}
		out, err := p.cmd.StdoutPipe()
		if err != nil {
			l.close()
			return nil, err
		}
		p.out = bufio.NewReaderSize(out, 1<<20)
		if err := p.cmd.Start(); err != nil {
			l.close()
			return nil, err
		}
		l.procs = append(l.procs, p)
	}
	return l, nil
}

func (p *loadProc) call(cmd string) (string, error) {
	if _, err := io.WriteString(p.in, cmd+"\n"); err != nil {
		return "", err
	}
	line, err := p.out.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("load process: %w", err)
	}
	line = strings.TrimSuffix(line, "\n")
	if msg, ok := strings.CutPrefix(line, "err "); ok {
		return "", errors.New(msg)
	}
	return line, nil
}

// each calls f on every load process at once.
func (l *loader) each(f func(i int, p *loadProc) error) error {
	errs := make([]error, len(l.procs))
	var wg sync.WaitGroup
	for i, p := range l.procs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = f(i, p) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// open adds streams until n are open, filling the load processes in order,
// and returns when the server counts all of them (srv's /subscribers): the
// rate is streams per second over the whole storm.
func (l *loader) open(srv *server, n int) (float64, error) {
	start, from := time.Now(), l.n
	err := l.each(func(i int, p *loadProc) error {
		k := min(max(0, n-i*perLoad), p.max)
		if k == 0 {
			return nil
		}
		_, err := p.call("open " + strconv.Itoa(k))
		return err
	})
	if err != nil {
		return 0, err
	}
	l.n = n
	for deadline := time.Now().Add(120 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		got, err := srv.subscribers()
		if err == nil && got == n {
			return float64(n-from) / time.Since(start).Seconds(), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the server counts %d streams (%v), want %d, within 120 s", got, err, n)
		}
	}
}

// counts returns the streams' deliveries and heartbeats so far.
func (l *loader) counts() (delivered, heartbeats int64, err error) {
	var mu sync.Mutex
	err = l.each(func(_ int, p *loadProc) error {
		line, err := p.call("count")
		if err != nil {
			return err
		}
		var o, d, h int64
		if _, err := fmt.Sscan(line, &o, &d, &h); err != nil {
			return err
		}
		mu.Lock()
		delivered, heartbeats = delivered+d, heartbeats+h
		mu.Unlock()
		return nil
	})
	return delivered, heartbeats, err
}

// latencies returns the latency of the last event of every stream that
// has round events, and how many have fewer.
func (l *loader) latencies(round int) (lat []float64, missing int64, err error) {
	var mu sync.Mutex
	err = l.each(func(_ int, p *loadProc) error {
		line, err := p.call("lat " + strconv.Itoa(round))
		if err != nil {
			return err
		}
		fields := strings.Fields(line)
		m, _ := strconv.ParseInt(fields[0], 10, 64)
		xs := make([]float64, 0, len(fields)-1)
		for _, f := range fields[1:] {
			x, _ := strconv.ParseFloat(f, 64)
			xs = append(xs, x)
		}
		mu.Lock()
		lat, missing = append(lat, xs...), missing+m
		mu.Unlock()
		return nil
	})
	return lat, missing, err
}

// close ends the load processes, which close their streams.
func (l *loader) close() {
	for _, p := range l.procs {
		p.in.Close()
	}
	for _, p := range l.procs {
		done := make(chan struct{})
		go func() { p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			p.cmd.Process.Kill()
			<-done
		}
	}
}

func (s *server) subscribers() (int, error) {
	resp, err := http.Get("http://" + s.control + "/subscribers")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strconv.Atoi(string(b))
}

// broadcastOnce publishes one event on srv and waits until each of the
// loader's streams has it: its latencies (ms) and the server's CPU seconds
// from before the publish to the last receipt.
func broadcastOnce(srv *server, l *loader) (lat []float64, cpu float64, missing int64, err error) {
	l.rounds++
	d0, _, err := l.counts()
	if err != nil {
		return nil, 0, 0, err
	}
	before, err := srv.stats(false)
	if err != nil {
		return nil, 0, 0, err
	}
	if err := publishOn(srv, 1, 64); err != nil {
		return nil, 0, 0, err
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		d, _, err := l.counts()
		if err != nil {
			return nil, 0, 0, err
		}
		if d >= d0+int64(l.n) {
			break
		}
	}
	after, err := srv.stats(false)
	if err != nil {
		return nil, 0, 0, err
	}
	lat, missing, err = l.latencies(l.rounds)
	return lat, after.CPUSeconds - before.CPUSeconds, missing, err
}

// pairedBroadcast publishes single events on a (the target) and raw, one
// warm-up each, then rounds each in alternating order, a gap apart.
func pairedBroadcast(a, raw *server, la, lraw *loader, rounds int, gap time.Duration) (Bcast, error) {
	b := Bcast{Streams: la.n, Rounds: rounds}
	var lat [2][]float64
	var cpu [2]float64
	srvs, ls := [2]*server{a, raw}, [2]*loader{la, lraw}
	for i := range rounds + 1 {
		for k := range 2 {
			j := k
			if i%2 == 1 {
				j = 1 - k
			}
			l, c, missing, err := broadcastOnce(srvs[j], ls[j])
			if err != nil {
				return b, err
			}
			if j == 0 {
				b.Missing += missing
			} else if missing > 0 {
				return b, fmt.Errorf("raw-tcp: %d streams missed a broadcast", missing)
			}
			if j == 0 {
				b.RoundsCPUUs = append(b.RoundsCPUUs, c/float64(b.Streams)*1e6)
			} else {
				b.RawRoundsCPUUs = append(b.RawRoundsCPUUs, c/float64(b.Streams)*1e6)
			}
			if i > 0 { // the first round warms up
				lat[j] = append(lat[j], l...)
				cpu[j] += c
			}
			time.Sleep(gap)
		}
	}
	st := func(xs []float64) (p50, p99, mx float64) {
		if len(xs) == 0 {
			return 0, 0, 0
		}
		slices.Sort(xs)
		return pct(xs, 50), pct(xs, 99), xs[len(xs)-1]
	}
	b.P50ms, b.P99ms, b.MaxMs = st(lat[0])
	b.RawP50ms, b.RawP99ms, b.RawMaxMs = st(lat[1])
	deliv := float64(rounds) * float64(b.Streams)
	b.CPUPerDelivUs, b.RawCPUPerDelUs = cpu[0]/deliv*1e6, cpu[1]/deliv*1e6
	if b.RawP99ms > 0 {
		b.P99Ratio = b.P99ms / b.RawP99ms
	}
	if b.RawCPUPerDelUs > 0 {
		b.CPURatio = b.CPUPerDelivUs / b.RawCPUPerDelUs
	}
	if b.Missing > 0 {
		return b, fmt.Errorf("%d deliveries missing", b.Missing)
	}
	return b, nil
}

// scaleConfig is the size of scenario 8.
type scaleConfig struct {
	Steps     []int         // streams open at each measurement; the last is the broadcast's
	Heartbeat time.Duration // the server's heartbeat (ssekit's default in the full run)
	HBWindow  time.Duration // the heartbeat measurement window
	Rounds    int           // broadcast rounds per server
}

var (
	scaleFull  = scaleConfig{[]int{10000, 50000, 100000}, 15 * time.Second, 15 * time.Second, 4}
	scaleQuick = scaleConfig{[]int{500, 1000, 2000}, time.Second, 2 * time.Second, 2}
)

// scale runs scenario 8 on target (an adapter) with its hub, against a
// raw-tcp server.
func scale(target string, sc scaleConfig) (Scale, error) {
	r := Scale{HBInterval: sc.Heartbeat.String()}
	n := sc.Steps[len(sc.Steps)-1]
	// The server holds every stream: it needs a descriptor each, and some.
	if lim := raiseFileLimit(); lim < uint64(n+serverFiles) {
		capped := int(lim) - serverFiles
		if capped < 1 {
			return r, fmt.Errorf("the open-file limit is %d", lim)
		}
		fmt.Fprintf(os.Stderr, "ssebench: scale: the open-file limit is %d and this process may not raise it: %d streams instead of %d\n", lim, capped, n)
		var steps []int
		for _, st := range sc.Steps {
			steps = append(steps, max(1, st*capped/n))
		}
		sc.Steps, n = steps, capped
		r.CappedByFileLimit = lim
	}
	err := withServer(target, sc.Heartbeat, func(s *server) error {
		return withServer("raw-tcp", -1, func(raw *server) error {
			empty, err := s.stats(true)
			if err != nil {
				return err
			}
			l, err := newLoader(s.addr, "/sse?mode=hub", n)
			if err != nil {
				return err
			}
			defer l.close()
			var lastOpen time.Time
			for _, step := range sc.Steps {
				rate, err := l.open(s, step)
				if err != nil {
					return fmt.Errorf("opening %d streams: %w", step, err)
				}
				lastOpen = time.Now()
				st, err := s.stats(true)
				if err != nil {
					return err
				}
				f := float64(step)
				r.Streams = append(r.Streams, ScaleStep{
					Streams: step, OpenedPerS: rate,
					RSSPerConn:     float64(st.RSS-empty.RSS) / f,
					HeapPerConn:    float64(st.HeapInuse-empty.HeapInuse) / f,
					StackPerConn:   float64(st.StackInuse-empty.StackInuse) / f,
					GoroutinesPerC: float64(st.Goroutines-empty.Goroutines) / f,
				})
			}
			if scaleProfile != "" {
				return profileBroadcast(s, raw, l, n, sc)
			}
			// Once every stream has been open for a heartbeat interval,
			// a window of one interval holds one heartbeat per stream.
			time.Sleep(time.Until(lastOpen.Add(sc.Heartbeat)))
			before, err := s.stats(false)
			if err != nil {
				return err
			}
			_, hb, err := l.counts()
			if err != nil {
				return err
			}
			time.Sleep(sc.HBWindow)
			after, err := s.stats(false)
			if err != nil {
				return err
			}
			_, hb1, err := l.counts()
			if err != nil {
				return err
			}
			r.Heartbeats = hb1 - hb
			if r.Heartbeats > 0 {
				per := (after.CPUSeconds - before.CPUSeconds) / float64(r.Heartbeats)
				r.CPUPerHeartbeat, r.CPUPerHBRound = per*1e6, per*float64(n)
			}

			lraw, err := newLoader(raw.addr, "/", n)
			if err != nil {
				return err
			}
			defer lraw.close()
			if r.RawOpenPerS, err = lraw.open(raw, n); err != nil {
				return fmt.Errorf("raw-tcp: opening %d streams: %w", n, err)
			}
			r.Broadcast, err = pairedBroadcast(s, raw, l, lraw, sc.Rounds, 500*time.Millisecond)
			return err
		})
	}, "-hub", "memory")
	return r, err
}

func printScale(rep Report, chosen []string) {
	var rows []string
	for _, t := range chosen {
		for ri, run := range rep.Runs {
			sc := run[t].Scale
			if sc == nil {
				continue
			}
			for _, st := range sc.Streams {
				rows = append(rows, fmt.Sprintf("%-8s %3d %8d %12s %10.1f %10.1f %10.1f %8.2f\n", t, ri+1, st.Streams, fmtNum(st.OpenedPerS),
					st.RSSPerConn/1024, st.HeapPerConn/1024, st.StackPerConn/1024, st.GoroutinesPerC))
			}
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Printf("\n8. Scale: hub-subscribed streams on one server, opened in storms from several loopback addresses; growth per stream over the empty server, after GC (KiB)\n")
	fmt.Printf("%-8s %3s %8s %12s %10s %10s %10s %8s\n", "target", "run", "streams", "opened/s", "RSS", "heap", "stack", "gorout.")
	for _, r := range rows {
		fmt.Print(r)
	}
	fmt.Printf("\n   heartbeat round and one event to every stream, vs raw-tcp (alternating rounds after a warm-up; latency publish -> receipt over all deliveries)\n")
	fmt.Printf("%-8s %3s %8s %12s %14s %22s %22s %14s %22s %8s\n", "target", "run", "streams", "hb CPU µs", "hb round CPU s", "p50/p99/max ms", "raw p50/p99/max ms", "p99 vs raw", "CPU µs/deliv (raw)", "missing")
	for _, t := range chosen {
		for ri, run := range rep.Runs {
			sc := run[t].Scale
			if sc == nil {
				continue
			}
			b := sc.Broadcast
			fmt.Printf("%-8s %3d %8d %12.1f %14.2f %22s %22s %14.2f %22s %8d\n", t, ri+1, b.Streams, sc.CPUPerHeartbeat, sc.CPUPerHBRound,
				fmt.Sprintf("%.0f/%.0f/%.0f", b.P50ms, b.P99ms, b.MaxMs), fmt.Sprintf("%.0f/%.0f/%.0f", b.RawP50ms, b.RawP99ms, b.RawMaxMs),
				b.P99Ratio, fmt.Sprintf("%.1f (%.1f) %.2fx", b.CPUPerDelivUs, b.RawCPUPerDelUs, b.CPURatio), b.Missing)
		}
	}
}

// scaleProfile, when set (-scaleprofile), makes scenario 8 skip the
// heartbeat and record the CPU profiles of both servers during the
// broadcasts instead: FILE (the target) and FILE.raw.
var scaleProfile string

func profileBroadcast(s, raw *server, l *loader, n int, sc scaleConfig) error {
	lraw, err := newLoader(raw.addr, "/", n)
	if err != nil {
		return err
	}
	defer lraw.close()
	if _, err := lraw.open(raw, n); err != nil {
		return err
	}
	for _, x := range []struct {
		s *server
		l *loader
	}{{s, l}, {raw, lraw}} { // the first broadcast faults pages in
		if _, _, _, err := broadcastOnce(x.s, x.l); err != nil {
			return err
		}
	}
	secs := 2*(sc.Rounds+1) + 6
	rawProf := make(chan error, 1)
	go func() { rawProf <- profileDuring(raw, scaleProfile+".raw", secs, func() error { return nil }) }()
	err = profileDuring(s, scaleProfile, secs, func() error {
		b, err := pairedBroadcast(s, raw, l, lraw, sc.Rounds, 500*time.Millisecond)
		fmt.Printf("%+v\n", b)
		return err
	})
	return errors.Join(err, <-rawProf)
}
