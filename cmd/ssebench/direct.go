package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssekit/ssekit/hub"
	"github.com/ssekit/ssekit/lifecycle"
)

// Scenario 7, the hub against the direct path: the same adapter, in two
// server processes, one delivering through the hub (memory backend) and one
// hand-written with a channel per client, paired in one run.
//
//   - single stream: one client; the server publishes 64-byte events as fast
//     as the client takes them (the hub: Publish while fewer than half a
//     queue is waiting; direct: a blocking send on the client's channel of
//     hub.DefaultQueueLen). Alternating slices, ratio hub/direct per pair.
//   - paced fan-out: many subscribers, one event every 20 ms published by
//     the server; latency publish → receipt (p99) and server CPU per
//     delivery, in alternating slices on the two servers.
//
// Server side: /sse?mode=hubflood and mode=chanflood stream the single
// stream; mode=chan subscribes to the direct broadcaster (mode=hub to the
// hub); /pace?n=&every= publishes the paced events, on the hub if the
// server has one, else to the direct channels.

// directSubs is the hand-written broadcaster: a channel per client.
var directSubs = struct {
	sync.Mutex
	m map[chan lifecycle.Event]struct{}
}{m: map[chan lifecycle.Event]struct{}{}}

// directHandler serves mode=chan: what a hand-written server does with a
// channel per client.
func directHandler(s *lifecycle.Session) error {
	ch := make(chan lifecycle.Event, hub.DefaultQueueLen)
	directSubs.Lock()
	directSubs.m[ch] = struct{}{}
	directSubs.Unlock()
	defer func() {
		directSubs.Lock()
		delete(directSubs.m, ch)
		directSubs.Unlock()
	}()
	for {
		select {
		case ev := <-ch:
			if s.Send(ev) != nil {
				return nil
			}
		case <-s.Done():
			return nil
		}
	}
}

// floodLimit bounds a single-stream flood's duration on the server.
const floodLimit = 60 * time.Second

// chanFlood serves mode=chanflood: a publisher goroutine sends 64-byte
// events on the client's channel as fast as the handler takes them.
func chanFlood(s *lifecycle.Session) error {
	ch := make(chan lifecycle.Event, hub.DefaultQueueLen)
	go func() {
		stop := time.After(floodLimit)
		ev := lifecycle.Event{Data: []byte(payload)}
		for {
			select {
			case ch <- ev:
			case <-s.Done():
				return
			case <-stop:
				return
			}
		}
	}()
	for {
		select {
		case ev := <-ch:
			if s.Send(ev) != nil {
				return nil
			}
		case <-s.Done():
			return nil
		}
	}
}

var floodTopics atomic.Int64

// followed is the memory backend, recording how far the hub's dispatcher
// has delivered: when it calls Follow after a position, every entry up to
// it is in the subscribers' queues.
type followed struct {
	hub.Backend
	after atomic.Uint64
}

func (f *followed) Follow(ctx context.Context, after hub.Pos) ([]hub.Entry, error) {
	f.after.Store(after.Seq)
	return f.Backend.Follow(ctx, after)
}

// benchFollow is the bench hub's backend, on the memory backend.
var benchFollow *followed

// hubFlood serves mode=hubflood: a publisher goroutine publishes 64-byte
// events on a topic of this stream's own as fast as the subscriber takes
// them: it waits while half a queue's worth is in flight, published and
// not yet taken by the subscriber's writer (the hub never blocks a
// publisher; this keeps the subscriber from being ended as slow).
func hubFlood(s *lifecycle.Session) error {
	if benchFollow == nil {
		return fmt.Errorf("mode=hubflood needs -hub memory")
	}
	topic := "flood-" + strconv.FormatInt(floodTopics.Add(1), 10)
	go func() {
		ctx := s.Context()
		deadline := time.Now().Add(floodLimit)
		ev := hub.Event{Data: []byte(payload)}
		var last uint64
		inFlight := func() int64 {
			// Published but not yet queued, over-counting the batch the
			// dispatcher holds; plus queued and not yet taken.
			return int64(last-min(last, benchFollow.after.Load())) + benchHub.Stats().Queued
		}
		for i := 0; ctx.Err() == nil; i++ {
			if i%32 == 0 {
				if time.Now().After(deadline) {
					return
				}
				// A yield, not a sleep: Go's timers round a sleep
				// under a millisecond up to one, which would
				// starve the stream.
				for inFlight() >= hub.DefaultQueueLen/2 && ctx.Err() == nil {
					runtime.Gosched()
				}
			}
			p, err := benchHub.Publish(ctx, topic, ev)
			if err != nil {
				return
			}
			last = p.Seq
		}
	}()
	return benchHub.Serve(s, topic)
}

// paceHandler publishes n events, one every `every`, each starting with its
// publish time in Unix nanoseconds: on the hub's "bench" topic if this
// server has a hub, else to every direct channel (non-blocking: a full
// channel drops the event, counted in the reply).
func paceHandler(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("n"))
	every, err := time.ParseDuration(r.URL.Query().Get("every"))
	if err != nil || n <= 0 || n > 100000 || every <= 0 {
		http.Error(w, "bad n or every", http.StatusBadRequest)
		return
	}
	dropped := 0
	t := time.NewTicker(every)
	defer t.Stop()
	for i := range n {
		if i > 0 {
			<-t.C
		}
		buf := make([]byte, 64)
		for j := range buf {
			buf[j] = 'x'
		}
		copy(buf, fmt.Sprintf("%019d ", time.Now().UnixNano()))
		if benchHub != nil {
			if _, err := benchHub.Publish(r.Context(), "bench", hub.Event{Data: buf}); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			continue
		}
		ev := lifecycle.Event{Data: buf}
		if r.URL.Query().Get("ids") != "" {
			// An ID of the hub's form ("seq-epoch"), formatted once
			// per event as a hand-written server that supports
			// resuming would.
			ev.ID = strconv.Itoa(i+1) + "-4503599627370495"
		}
		directSubs.Lock()
		for ch := range directSubs.m {
			select {
			case ch <- ev:
			default:
				dropped++
			}
		}
		directSubs.Unlock()
	}
	fmt.Fprint(w, dropped)
}

func directCount() int {
	directSubs.Lock()
	defer directSubs.Unlock()
	return len(directSubs.m)
}

// directIDs makes the direct server's paced events carry an ID, as the
// hub's do (-directids).
var directIDs bool

// HubVsDirect is scenario 7's result for one adapter.
type HubVsDirect struct {
	HubEventsPerS    float64 `json:"hub_events_per_s"`
	DirectEventsPerS float64 `json:"direct_events_per_s"`
	HubVsDirect      float64 `json:"hub_vs_direct"` // median of the slice pairs' ratios
	Paced            Paced   `json:"paced"`
}

// Paced is the paced fan-out half of scenario 7.
type Paced struct {
	Subscribers         int     `json:"subscribers"`
	Events              int     `json:"events"` // per server
	EveryMs             float64 `json:"every_ms"`
	HubP50ms            float64 `json:"hub_p50_ms"`
	HubP99ms            float64 `json:"hub_p99_ms"`
	DirectP50ms         float64 `json:"direct_p50_ms"`
	DirectP99ms         float64 `json:"direct_p99_ms"`
	HubCPUPerDelivUs    float64 `json:"hub_cpu_us_per_delivery"`
	DirectCPUPerDelivUs float64 `json:"direct_cpu_us_per_delivery"`
	P99Ratio            float64 `json:"p99_hub_over_direct"`
	CPURatio            float64 `json:"cpu_hub_over_direct"`
	Dropped             int     `json:"direct_dropped"`
}

// hubVsDirect runs scenario 7 on target (an adapter).
func hubVsDirect(target string, cfg config) (HubVsDirect, error) {
	var r HubVsDirect
	err := withServer(target, -1, func(hs *server) error {
		return withServer(target, -1, func(ds *server) error {
			var err error
			r.HubEventsPerS, r.DirectEventsPerS, r.HubVsDirect, err = pairedFlood(hs, ds, cfg.ThroughputFor)
			if err != nil {
				return err
			}
			r.Paced, err = pairedPaced(hs, ds, cfg.PacedSubs, cfg.PacedEvents, cfg.PacedSlices, 20*time.Millisecond)
			return err
		})
	}, "-hub", "memory")
	return r, err
}

// flood reads a mode's single stream for d and returns events per second
// (counted by their blank lines, the first "ready" event excluded for the
// direct stream; the hub's stream has none).
func flood(s *server, mode string, d time.Duration) (float64, error) {
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	io.WriteString(conn, "GET /sse?mode="+mode+" HTTP/1.1\r\nHost: bench\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 64<<10), nil)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 64<<10)
	var events int64
	prevNL := false
	start := time.Now()
	conn.SetReadDeadline(start.Add(d))
	for {
		n, err := resp.Body.Read(buf)
		b := buf[:n]
		if n > 0 {
			if prevNL && b[0] == '\n' {
				events++
			}
			events += int64(bytes.Count(b, []byte("\n\n")))
			prevNL = b[n-1] == '\n'
		}
		if err != nil {
			break
		}
	}
	return float64(events) / time.Since(start).Seconds(), nil
}

func pairedFlood(hs, ds *server, d time.Duration) (hubRate, directRate, ratio float64, err error) {
	const pairs = 10
	slice := max(d/pairs, 50*time.Millisecond)
	var hr, dr, ratios []float64
	for i := range pairs {
		var h, di float64
		if i%2 == 0 {
			if h, err = flood(hs, "hubflood", slice); err == nil {
				di, err = flood(ds, "chanflood", slice)
			}
		} else {
			if di, err = flood(ds, "chanflood", slice); err == nil {
				h, err = flood(hs, "hubflood", slice)
			}
		}
		if err != nil {
			return 0, 0, 0, err
		}
		hr, dr = append(hr, h), append(dr, di)
		if di > 0 {
			ratios = append(ratios, h/di)
		}
	}
	if len(ratios) == 0 {
		return 0, 0, 0, fmt.Errorf("the direct stream received no events")
	}
	if resp, err := http.Get("http://" + hs.control + "/subscribers?slow=1"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "0" {
			return 0, 0, 0, fmt.Errorf("the hub ended %s stream(s) as slow: the publisher outran it", b)
		}
	}
	return spread(hr).Median, spread(dr).Median, spread(ratios).Median, nil
}

// pairedPaced subscribes nsubs clients to each server, then publishes
// events on them in alternating slices.
func pairedPaced(hs, ds *server, nsubs, events, slices int, every time.Duration) (Paced, error) {
	p := Paced{Subscribers: nsubs, Events: events, EveryMs: float64(every) / 1e6}
	hsubs, err := subscribeMany(hs, nsubs, "hub")
	if err != nil {
		return p, err
	}
	defer closeSubs(hsubs)
	dsubs, err := subscribeMany(ds, nsubs, "chan")
	if err != nil {
		return p, err
	}
	defer closeSubs(dsubs)
	per := max(1, events/slices)
	var cpu, deliv [2]float64
	var lat [2][]float64
	srvs := [2]*server{hs, ds}
	subs := [2][]*benchSub{hsubs, dsubs}
	sent := [2]int64{}
	for i := range slices {
		for k := range 2 {
			j := k
			if i%2 == 1 {
				j = 1 - k
			}
			before, err := srvs[j].stats(false)
			if err != nil {
				return p, err
			}
			dropped, err := pace(srvs[j], per, every)
			if err != nil {
				return p, err
			}
			p.Dropped += dropped
			sent[j] += int64(per)
			got := waitDelivered(subs[j], sent[j], 10*time.Second)
			after, err := srvs[j].stats(false)
			if err != nil {
				return p, err
			}
			cpu[j] += after.CPUSeconds - before.CPUSeconds
			deliv[j] = float64(got)
			lat[j] = append(lat[j], drainLatencies(subs[j])...)
		}
	}
	for j := range 2 {
		if want := float64(sent[j]) * float64(nsubs); deliv[j] < want {
			return p, fmt.Errorf("paced on %s: %.0f of %.0f deliveries", srvs[j].target, deliv[j], want)
		}
	}
	p.HubP50ms, p.HubP99ms = percentiles(lat[0])
	p.DirectP50ms, p.DirectP99ms = percentiles(lat[1])
	p.HubCPUPerDelivUs = cpu[0] / deliv[0] * 1e6
	p.DirectCPUPerDelivUs = cpu[1] / deliv[1] * 1e6
	if p.DirectP99ms > 0 {
		p.P99Ratio = p.HubP99ms / p.DirectP99ms
	}
	if p.DirectCPUPerDelivUs > 0 {
		p.CPURatio = p.HubCPUPerDelivUs / p.DirectCPUPerDelivUs
	}
	return p, nil
}

func pace(s *server, n int, every time.Duration) (dropped int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(n)*every+30*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://%s/pace?n=%d&every=%s", s.control, n, every)
	if directIDs {
		url += "&ids=1"
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("pace: %s", b)
	}
	return strconv.Atoi(string(b))
}

func printHubDirect(rep Report, chosen []string) {
	c := rep.Config
	var rows []string
	for _, t := range chosen {
		var rate, drate, ratio, hp99, dp99, p99r, hcpu, dcpu, cpur []float64
		for _, run := range rep.Runs {
			hd := run[t].HubDirect
			if hd == nil {
				continue
			}
			rate, drate, ratio = append(rate, hd.HubEventsPerS), append(drate, hd.DirectEventsPerS), append(ratio, hd.HubVsDirect)
			hp99, dp99, p99r = append(hp99, hd.Paced.HubP99ms), append(dp99, hd.Paced.DirectP99ms), append(p99r, hd.Paced.P99Ratio)
			hcpu, dcpu, cpur = append(hcpu, hd.Paced.HubCPUPerDelivUs), append(dcpu, hd.Paced.DirectCPUPerDelivUs), append(cpur, hd.Paced.CPURatio)
		}
		if len(rate) == 0 {
			continue
		}
		rows = append(rows,
			fmt.Sprintf("%-12s %-15s %14s %14s %14s\n", t, "stream ev/s", spread(rate), spread(drate), spread(ratio)),
			fmt.Sprintf("%-12s %-15s %14s %14s %14s\n", t, "paced p99 ms", spread(hp99), spread(dp99), spread(p99r)),
			fmt.Sprintf("%-12s %-15s %14s %14s %14s\n", t, "paced CPU µs", spread(hcpu), spread(dcpu), spread(cpur)))
	}
	if len(rows) == 0 {
		return
	}
	fmt.Printf("\n7. Hub vs direct (a channel per client), same adapter, paired: one stream of 64-byte events as fast as the client reads (%v in alternating slices); paced fan-out to %d subscribers, %d events every 20 ms per server in %d alternating slices (CPU: server CPU per delivery)\n",
		c.ThroughputFor, c.PacedSubs, c.PacedEvents, c.PacedSlices)
	fmt.Printf("%-12s %-15s %14s %14s %14s\n", "target", "figure", "hub", "direct", "hub/direct")
	for _, r := range rows {
		fmt.Print(r)
	}
}

// profileHubDirect runs scenario 7 on target while the hub server records
// CPU profiles: of the single stream (FILE.flood) and of the paced fan-out
// (FILE.paced).
func profileHubDirect(target, file string, quickRun bool) error {
	cfg := full
	if quickRun {
		cfg = quick
	}
	return withServer(target, -1, func(hs *server) error {
		return withServer(target, -1, func(ds *server) error {
			secs := int(max(1, cfg.ThroughputFor/time.Second))
			got := profileDuring(hs, file+".flood", secs, func() error {
				r, err := flood(hs, "hubflood", time.Duration(secs)*time.Second)
				fmt.Printf("hub stream: %.0f events/s\n", r)
				return err
			})
			if got == nil && os.Getenv("SSEBENCH_BLOCKPROFILE") != "" {
				for _, p := range []string{"block", "mutex"} {
					if got = fetchTo("http://"+hs.control+"/debug/pprof/"+p, file+"."+p); got != nil {
						break
					}
				}
			}
			if got != nil {
				return got
			}
			// Both servers, each for the whole paced run (the hub's slice,
			// then the direct one's).
			secs = 2*int(time.Duration(cfg.PacedEvents)*20*time.Millisecond/time.Second) + 4
			direct := make(chan error, 1)
			go func() { direct <- profileDuring(ds, file+".paced.direct", secs, func() error { return nil }) }()
			err := profileDuring(hs, file+".paced", secs, func() error {
				p, err := pairedPaced(hs, ds, cfg.PacedSubs, cfg.PacedEvents, 1, 20*time.Millisecond)
				fmt.Printf("paced: %+v\n", p)
				return err
			})
			return errors.Join(err, <-direct)
		})
	}, "-hub", "memory")
}

// profileDuring records s's CPU profile for secs seconds, written to file,
// while f runs.
func profileDuring(s *server, file string, secs int, f func() error) error {
	prof := make(chan error, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", s.control, secs))
		if err != nil {
			prof <- err
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil {
			err = os.WriteFile(file, b, 0o644)
		}
		prof <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := f(); err != nil {
		return err
	}
	return <-prof
}

func fetchTo(url, file string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(file, b, 0o644)
}
