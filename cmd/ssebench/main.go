// Command ssebench measures ssekit's adapters against what users write today.
//
// It runs each server (the four adapters, and hand-written baselines for
// each framework) as a separate process on 127.0.0.1, and drives it from
// this process:
//
//  1. detection: clients close idle connections (heartbeats off for
//     ssekit); time from close to the server-side end.
//  2. memory: idle sessions held open; server RSS, heap and stack per
//     connection over the empty baseline, after GC; goroutines per
//     connection.
//  3. throughput: 64-byte events to one client as fast as it reads.
//  4. heartbeat: server CPU while idle sessions receive heartbeats.
//  5. allocations: per Send and per heartbeat (in this process).
//  6. fan-out through the hub (-scenarios fanout).
//  7. the hub against a hand-written channel-per-client server on the
//     same adapter, paired (-scenarios hubdirect; direct.go).
//  8. scale: up to 100,000 hub-subscribed streams on one server, opened
//     by load processes (`ssebench load`), against raw-tcp, the smallest
//     correct broadcast server (-scenarios scale; scale.go, rawtcp.go).
//
// Usage:
//
//	go run ./cmd/ssebench            # the full run (several minutes)
//	go run ./cmd/ssebench -quick     # small sizes, under a minute
//	go run ./cmd/ssebench -json      # machine-readable output
//
// Every load loop is bounded in count and time, and only 127.0.0.0/8 is
// used (servers on 127.0.0.1, load processes from 127.0.1.x).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// config is the size of a run.
type config struct {
	Rounds        int           // detection rounds (streams closed at once)
	DetectWait    time.Duration // how long a close may take to be noticed
	Sessions      int           // idle sessions for memory
	ThroughputFor time.Duration
	HBSessions    int
	HBFor         time.Duration
	HBInterval    time.Duration
	AllocHBFor    time.Duration
	BurstSubs     int // fan-out: subscribers and events per burst
	BurstEvents   int
	SingleSubs    int // fan-out: subscribers of single events, and how many
	SingleRounds  int
	PacedSubs     int // hub vs direct: paced fan-out subscribers, events per server, slices
	PacedEvents   int
	PacedSlices   int
	Scale         scaleConfig
}

var (
	full  = config{30, 60 * time.Second, 10000, 5 * time.Second, 10000, 30 * time.Second, 15 * time.Second, time.Second, 1000, 1000, 10000, 10, 1000, 300, 6, scaleFull}
	quick = config{10, 3 * time.Second, 500, 500 * time.Millisecond, 500, time.Second, 100 * time.Millisecond, 200 * time.Millisecond, 50, 100, 200, 3, 100, 20, 2, scaleQuick}
)

// Result is one target's figures in one run.
type Result struct {
	Detection  Detection    `json:"detection"`
	Memory     Memory       `json:"memory"`
	EventsPerS float64      `json:"throughput_events_per_s"`
	VsRaw      float64      `json:"throughput_vs_raw"` // paired with the raw loop on the same framework; 0 for raw targets
	Heartbeat  Heartbeat    `json:"heartbeat"`
	Fanout     []Fanout     `json:"fanout"`                  // bursts and single events, per hub backend
	HubDirect  *HubVsDirect `json:"hub_vs_direct,omitempty"` // adapters only
	Scale      *Scale       `json:"scale,omitempty"`         // adapters only
}

// Report is the whole output.
type Report struct {
	Machine     string                `json:"machine"`
	Quick       bool                  `json:"quick"`
	Config      config                `json:"config"`
	Runs        []map[string]Result   `json:"runs"`
	Allocations Allocations           `json:"allocations"`
	Summary     map[string]SummaryRow `json:"summary"`
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "load" {
		if err := loadMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "ssebench load:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		fs := flag.NewFlagSet("serve", flag.ExitOnError)
		target := fs.String("target", "nethttp", "what to serve: "+strings.Join(targets, ", "))
		heartbeat := fs.Duration("heartbeat", 15*time.Second, "ssekit heartbeat interval (negative: off)")
		hubSpec := fs.String("hub", "", `serve a hub at /sse?mode=hub: "memory" or "redis://host:port"`)
		fs.Parse(os.Args[2:])
		if err := serve(*target, *heartbeat, *hubSpec); err != nil {
			fmt.Fprintln(os.Stderr, "ssebench serve:", err)
			os.Exit(1)
		}
		return
	}
	quickFlag := flag.Bool("quick", false, "small sizes: finishes in under a minute")
	jsonFlag := flag.Bool("json", false, "print JSON instead of tables")
	only := flag.String("targets", strings.Join(targets, ","), "comma-separated targets to measure")
	hold := flag.Int("hold", 0, "instead of measuring, open this many idle sessions on the first target, print the server's control address, and wait (for pprof)")
	repeat := flag.Int("repeat", 1, "run everything this many times; tables show the median [min-max]")
	scenarios := flag.String("scenarios", "detection,memory,throughput,heartbeat,fanout,hubdirect,scale", "comma-separated scenarios to run (allocations always run)")
	fanoutProfile := flag.String("fanoutprofile", "", "instead of measuring, send single events to 10,000 hub subscribers on the first target and write the server's CPU profile to this file")
	hubDirectProfile := flag.String("hubdirectprofile", "", "instead of measuring, run scenario 7 on the first target and write the hub server's CPU profile of its single stream and paced fan-out to FILE.flood and FILE.paced")
	scaleN := flag.Int("scale", 0, "scenario 8: open this many streams (default 100,000; -quick 2,000), the steps scaled to match")
	flag.StringVar(&scaleProfile, "scaleprofile", "", "scenario 8: skip the heartbeat, and write CPU profiles of the target's server (FILE) and raw-tcp's (FILE.raw) during the broadcasts")
	flag.BoolVar(&directIDs, "directids", false, "scenario 7: the direct server's paced events carry an ID of the hub's form, as the hub's do (default: none, the plainest hand-written server)")
	flag.Parse()
	raiseFileLimit()
	if *fanoutProfile != "" {
		if err := profileFanout(strings.Split(*only, ",")[0], *fanoutProfile); err != nil {
			fmt.Fprintln(os.Stderr, "ssebench:", err)
			os.Exit(1)
		}
		return
	}

	if *hold > 0 {
		if err := holdOpen(strings.Split(*only, ",")[0], *hold); err != nil {
			fmt.Fprintln(os.Stderr, "ssebench:", err)
			os.Exit(1)
		}
		return
	}
	cfg := full
	if *quickFlag {
		cfg = quick
	}
	if *scaleN > 0 {
		last := cfg.Scale.Steps[len(cfg.Scale.Steps)-1]
		var steps []int
		for _, st := range cfg.Scale.Steps {
			steps = append(steps, max(1, st**scaleN/last))
		}
		cfg.Scale.Steps = steps
	}
	if *hubDirectProfile != "" {
		if err := profileHubDirect(strings.Split(*only, ",")[0], *hubDirectProfile, *quickFlag); err != nil {
			fmt.Fprintln(os.Stderr, "ssebench:", err)
			os.Exit(1)
		}
		return
	}
	if slices.Contains(strings.Split(*scenarios, ","), "fanout") {
		addr, stop, err := startRedis()
		if err != nil {
			fmt.Fprintln(os.Stderr, "ssebench: redis-server:", err)
			os.Exit(1)
		}
		defer stop()
		if addr == "" {
			fmt.Fprintln(os.Stderr, "ssebench: no redis-server installed: fan-out runs on the memory backend only")
		}
		redisAddr = addr
	}
	rep := Report{Machine: machine(), Quick: *quickFlag, Config: cfg}
	chosen := strings.Split(*only, ",")
	for i := range max(1, *repeat) {
		run := map[string]Result{}
		for _, target := range chosen {
			r, err := measure(target, cfg, strings.Split(*scenarios, ","))
			if err != nil {
				fmt.Fprintf(os.Stderr, "ssebench: %s: %v\n", target, err)
				os.Exit(1)
			}
			run[target] = r
			if !*jsonFlag {
				fmt.Fprintf(os.Stderr, "run %d: %s done\n", i+1, target)
			}
		}
		rep.Runs = append(rep.Runs, run)
	}
	rep.Allocations = allocations(cfg.AllocHBFor)
	rep.Summary = summarize(rep.Runs, chosen)

	if *jsonFlag {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
		return
	}
	printTables(rep, chosen)
}

// measure runs the chosen scenarios against one target, each on a fresh
// server.
func measure(target string, cfg config, scenarios []string) (Result, error) {
	var r Result
	steps := []struct {
		name      string
		heartbeat time.Duration
		run       func(*server) error
	}{
		{"detection", -1, func(s *server) (err error) { r.Detection, err = detection(s, cfg.Rounds, cfg.DetectWait); return }},
		{"memory", 15 * time.Second, func(s *server) (err error) { r.Memory, err = memory(s, cfg.Sessions); return }},
		{"throughput", -1, func(s *server) (err error) {
			raw := rawOf(target)
			if raw == "" {
				r.EventsPerS, err = throughput(s, cfg.ThroughputFor)
				return err
			}
			return withServer(raw, -1, func(rs *server) (err error) {
				r.EventsPerS, r.VsRaw, err = pairedThroughput(s, rs, cfg.ThroughputFor)
				return err
			})
		}},
		{"heartbeat", cfg.HBInterval, func(s *server) (err error) {
			r.Heartbeat, err = heartbeatCost(s, cfg.HBSessions, cfg.HBFor, cfg.HBInterval)
			return
		}},
	}
	if rawOf(target) != "" && slices.Contains(scenarios, "fanout") {
		backends := []string{"memory"}
		if redisAddr != "" {
			backends = append(backends, "redis://"+redisAddr)
		}
		for _, spec := range backends {
			name := strings.SplitN(spec, ":", 2)[0]
			err := withServer(target, -1, func(s *server) error {
				b, err := fanoutBurst(s, name, cfg.BurstSubs, cfg.BurstEvents)
				r.Fanout = append(r.Fanout, b)
				if err != nil {
					return err
				}
				one, err := fanoutSingle(s, name, cfg.SingleSubs, cfg.SingleRounds)
				r.Fanout = append(r.Fanout, one)
				return err
			}, "-hub", spec)
			if err != nil {
				return r, fmt.Errorf("fanout (%s): %w", name, err)
			}
		}
	}
	if rawOf(target) != "" && slices.Contains(scenarios, "scale") {
		sc, err := scale(target, cfg.Scale)
		if err != nil {
			return r, fmt.Errorf("scale: %w", err)
		}
		r.Scale = &sc
	}
	if rawOf(target) != "" && slices.Contains(scenarios, "hubdirect") {
		hd, err := hubVsDirect(target, cfg)
		if err != nil {
			return r, fmt.Errorf("hubdirect: %w", err)
		}
		r.HubDirect = &hd
	}
	for _, step := range steps {
		if !slices.Contains(scenarios, step.name) {
			continue
		}
		if err := withServer(target, step.heartbeat, step.run); err != nil {
			return r, fmt.Errorf("%s: %w", step.name, err)
		}
	}
	return r, nil
}

// redisAddr is the redis-server the fan-out scenario uses, if any.
var redisAddr string

func withServer(target string, heartbeat time.Duration, f func(*server) error, extra ...string) error {
	s, err := startServer(target, heartbeat, extra...)
	if err != nil {
		return err
	}
	defer s.stop()
	return f(s)
}

func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d cores, %s %s/%s", cpu, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// Spread is the median of repeated measurements with their range.
type Spread struct {
	Median, Min, Max float64
}

func spread(xs []float64) Spread {
	s := slices.Clone(xs)
	slices.Sort(s)
	return Spread{Median: s[len(s)/2], Min: s[0], Max: s[len(s)-1]}
}

func (s Spread) String() string {
	if s.Min == s.Max {
		return fmtNum(s.Median)
	}
	return fmt.Sprintf("%s [%s-%s]", fmtNum(s.Median), fmtNum(s.Min), fmtNum(s.Max))
}

// KiB formats a spread of byte counts in KiB, to the tenth.
func (s Spread) KiB() string {
	k := func(x float64) string { return fmt.Sprintf("%.1f", x/1024) }
	if k(s.Min) == k(s.Max) {
		return k(s.Median)
	}
	return fmt.Sprintf("%s [%s-%s]", k(s.Median), k(s.Min), k(s.Max))
}

func fmtNum(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%.2fM", x/1e6)
	case x >= 1e4:
		return fmt.Sprintf("%.0fk", x/1e3)
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	case x >= 1:
		return fmt.Sprintf("%.2f", x)
	default:
		return fmt.Sprintf("%.3f", x)
	}
}

// SummaryRow is one target's medians over the runs.
type SummaryRow struct {
	DetectP50, DetectP99, DetectMax Spread
	Undetected                      Spread
	RSSPerConn, HeapPerConn         Spread
	StackPerConn, GoroutinesPerConn Spread
	EventsPerS                      Spread
	ThroughputVsRaw                 Spread // this target's events/s over its framework's raw loop
	HeartbeatCPU                    Spread
}

func summarize(runs []map[string]Result, chosen []string) map[string]SummaryRow {
	col := func(target string, f func(Result) float64) Spread {
		var xs []float64
		for _, run := range runs {
			xs = append(xs, f(run[target]))
		}
		return spread(xs)
	}
	out := map[string]SummaryRow{}
	for _, t := range chosen {
		row := SummaryRow{
			DetectP50:         col(t, func(r Result) float64 { return r.Detection.P50ms }),
			DetectP99:         col(t, func(r Result) float64 { return r.Detection.P99ms }),
			DetectMax:         col(t, func(r Result) float64 { return r.Detection.MaxMs }),
			Undetected:        col(t, func(r Result) float64 { return float64(r.Detection.Undetected) }),
			RSSPerConn:        col(t, func(r Result) float64 { return r.Memory.RSSPerConn }),
			HeapPerConn:       col(t, func(r Result) float64 { return r.Memory.HeapPerConn }),
			StackPerConn:      col(t, func(r Result) float64 { return r.Memory.StackPerConn }),
			GoroutinesPerConn: col(t, func(r Result) float64 { return r.Memory.GoroutinesPerC }),
			EventsPerS:        col(t, func(r Result) float64 { return r.EventsPerS }),
			HeartbeatCPU:      col(t, func(r Result) float64 { return r.Heartbeat.CPUSeconds }),
		}
		if rawOf(t) != "" {
			row.ThroughputVsRaw = col(t, func(r Result) float64 { return r.VsRaw })
		}
		out[t] = row
	}
	return out
}

func printTables(rep Report, chosen []string) {
	c := rep.Config
	fmt.Printf("ssebench on %s; %d run(s)%s; medians [min-max]\n\n", rep.Machine, len(rep.Runs), map[bool]string{true: ", -quick"}[rep.Quick])
	fmt.Printf("1. Disconnect detection: %d idle streams closed by the client, heartbeats off (ms; undetected within %v)\n", c.Rounds, c.DetectWait)
	fmt.Printf("%-12s %18s %18s %18s %12s\n", "target", "p50", "p99", "max", "undetected")
	for _, t := range chosen {
		r := rep.Summary[t]
		if r.Undetected.Min == float64(c.Rounds) { // nothing detected in any run: no latency to show
			fmt.Printf("%-12s %18s %18s %18s %12s\n", t, "-", "-", "-", r.Undetected)
			continue
		}
		fmt.Printf("%-12s %18s %18s %18s %12s\n", t, r.DetectP50, r.DetectP99, r.DetectMax, r.Undetected)
	}
	fmt.Printf("\n2. Idle memory: %d open sessions, growth per connection over the empty server, after GC\n", c.Sessions)
	fmt.Printf("%-12s %18s %18s %18s %12s\n", "target", "RSS KiB", "heap KiB", "stack KiB", "goroutines")
	for _, t := range chosen {
		r := rep.Summary[t]
		fmt.Printf("%-12s %18s %18s %18s %12s\n", t, r.RSSPerConn.KiB(), r.HeapPerConn.KiB(), r.StackPerConn.KiB(), r.GoroutinesPerConn)
	}
	fmt.Printf("\n3. Single-stream throughput: 64-byte events to one client for %v (adapters: in alternating slices with the raw loop on their framework; the ratio is the median of the slice pairs')\n", c.ThroughputFor)
	fmt.Printf("%-12s %18s %22s\n", "target", "events/s", "vs raw loop")
	for _, t := range chosen {
		r := rep.Summary[t]
		ratio := "-"
		if r.ThroughputVsRaw.Max > 0 {
			ratio = r.ThroughputVsRaw.String()
		}
		fmt.Printf("%-12s %18s %22s\n", t, r.EventsPerS, ratio)
	}
	fmt.Printf("\n4. Heartbeat cost: server CPU seconds over %v with %d idle sessions, heartbeat %v (raw-fiber, raw-fiberv3: their own 15 s ticker; raw-nethttp/chi/echo: none)\n", c.HBFor, c.HBSessions, c.HBInterval)
	fmt.Printf("%-12s %18s\n", "target", "CPU s")
	for _, t := range chosen {
		fmt.Printf("%-12s %18s\n", t, rep.Summary[t].HeartbeatCPU)
	}
	a := rep.Allocations
	defer printScale(rep, chosen)
	defer printHubDirect(rep, chosen)
	defer printFanout(rep, chosen)
	fmt.Printf("\n5. Allocations (lifecycle, in process)\n")
	fmt.Printf("Send, one-line event:   %.0f allocs/op, %.0f ns/op\n", a.SendOneLine, a.SendOneLineNs)
	fmt.Printf("Send, multi-line event: %.0f allocs/op, %.0f ns/op\n", a.SendMultiLine, a.SendMultiLineNs)
	fmt.Printf("Heartbeat:              %.2f allocs per heartbeat (%d heartbeats counted)\n", a.PerHeartbeat, a.HeartbeatsCounted)
}

// holdOpen opens n idle sessions on target and keeps them until stdin
// closes, so the server can be profiled: go tool pprof http://<control>/debug/pprof/heap.
func holdOpen(target string, n int) error {
	return withServer(target, 15*time.Second, func(s *server) error {
		conns, err := openMany(s.addr, n)
		if err != nil {
			return err
		}
		defer closeAll(conns)
		fmt.Printf("%d sessions open on %s; control (pprof) at http://%s/debug/pprof/ ; close stdin to stop\n", n, target, s.control)
		io.Copy(io.Discard, os.Stdin)
		return nil
	})
}

func printFanout(rep Report, chosen []string) {
	ran := false
	for _, run := range rep.Runs {
		for _, t := range chosen {
			ran = ran || len(run[t].Fanout) > 0
		}
	}
	if !ran {
		return // the scenario was not chosen
	}
	c := rep.Config
	fmt.Printf("\n6. Hub fan-out: bursts of %d 64-byte events to %d subscribers, and %d single events to %d subscribers, alternating with the same on raw-tcp (medians [min-max])\n",
		c.BurstEvents, c.BurstSubs, c.SingleRounds, c.SingleSubs)
	fmt.Printf("%-12s %-8s %20s %14s %14s %14s %14s %16s\n", "target", "backend", "burst deliveries/s", "burst p99 ms", "single p99 ms", "raw p99 ms", "p99 vs raw", "CPU/deliv vs raw")
	for _, t := range chosen {
		for _, backend := range []string{"memory", "redis"} {
			var rate, bp99, sp99, rp99, p99r, cpur []float64
			for _, run := range rep.Runs {
				for _, f := range run[t].Fanout {
					if f.Backend != backend {
						continue
					}
					if f.DeliveriesPerS > 0 {
						rate, bp99 = append(rate, f.DeliveriesPerS), append(bp99, f.P99ms)
					} else if f.Vs != nil {
						sp99, rp99 = append(sp99, f.P99ms), append(rp99, f.Vs.RawP99ms)
						p99r, cpur = append(p99r, f.Vs.P99Ratio), append(cpur, f.Vs.CPURatio)
					}
				}
			}
			if len(rate) == 0 {
				continue
			}
			show := func(xs []float64) string {
				if len(xs) == 0 {
					return "-"
				}
				return spread(xs).String()
			}
			fmt.Printf("%-12s %-8s %20s %14s %14s %14s %14s %16s\n", t, backend, show(rate), show(bp99), show(sp99), show(rp99), show(p99r), show(cpur))
		}
	}
}
