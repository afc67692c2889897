package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/gofiber/fiber/v2"
	fiberv3 "github.com/gofiber/fiber/v3"
	"github.com/labstack/echo/v4"
	echov5 "github.com/labstack/echo/v5"

	"github.com/ssekit/ssekit/chiadapter"
	"github.com/ssekit/ssekit/echoadapter"
	"github.com/ssekit/ssekit/echov5adapter"
	"github.com/ssekit/ssekit/fiberadapter"
	"github.com/ssekit/ssekit/fiberv3adapter"
	"github.com/ssekit/ssekit/ginadapter"
	"github.com/ssekit/ssekit/lifecycle"
	"github.com/ssekit/ssekit/nethttpadapter"
)

// The server process: `ssebench serve -target T -heartbeat D`. It serves
// GET /sse with target T on 127.0.0.1 and prints "ADDR <stream addr>
// <control addr>" on stdout. /sse?mode=idle sends one "ready" event and
// idles; mode=flood sends 64-byte events as fast as the client reads.
//
// The control server (net/http, separate port) answers /stats (memory and
// goroutines after a GC, CPU time) and /ended (when each stream ended, by
// client address, in Unix nanoseconds).

// targets lists what the server can run: the adapters and the
// hand-written baselines ("raw-*", one per framework: the ceiling for
// throughput; raw-nethttp is also the net/http baseline users write today,
// raw-fiber the SetBodyStreamWriter recipe with a 15 s heartbeat,
// raw-fiberv3 Fiber v3's c.SendStreamWriter recipe, likewise).
var targets = []string{
	"nethttp", "chi", "echo", "fiber",
	"raw-nethttp", "raw-chi", "raw-echo", "raw-fiber",
	"fiberv3", "raw-fiberv3",
	"echov5", "gin", "raw-echov5", "raw-gin",
}

var payload = strings.Repeat("x", 64)

// ended records when streams end, keyed by the client's address.
type ended struct {
	mu sync.Mutex
	at map[string]int64
}

func (e *ended) record(remote string) {
	now := time.Now().UnixNano()
	e.mu.Lock()
	e.at[remote] = now
	e.mu.Unlock()
}

func serve(target string, heartbeat time.Duration, hubSpec string) error {
	raiseFileLimit()
	if os.Getenv("SSEBENCH_BLOCKPROFILE") != "" {
		// Where the server waits: go tool pprof http://<control>/debug/pprof/block
		runtime.SetBlockProfileRate(1)
		runtime.SetMutexProfileFraction(1)
	}
	if hubSpec != "" {
		h, err := newBenchHub(hubSpec)
		if err != nil {
			return err
		}
		benchHub = h
	}
	done := &ended{at: make(map[string]int64)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(ctl, controlHandler(done))

	if err := startTarget(target, heartbeat, ln, done); err != nil {
		return err
	}
	fmt.Printf("ADDR %s %s\n", ln.Addr(), ctl.Addr())
	// Run until the load generator closes our stdin.
	bufio.NewReader(os.Stdin).ReadString('\n')
	return nil
}

func startTarget(target string, heartbeat time.Duration, ln net.Listener, done *ended) error {
	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		switch mode := s.Request().Query().Get("mode"); {
		case benchHub != nil && mode == "hub":
			return benchHub.Serve(s, "bench")
		case benchHub != nil && mode == "hubflood":
			return hubFlood(s)
		case mode == "chan":
			return directHandler(s)
		case mode == "chanflood":
			return chanFlood(s)
		}
		if err := s.Send(lifecycle.Event{Data: []byte("ready")}); err != nil {
			return err
		}
		if s.Request().Query().Get("mode") == "flood" {
			ev := lifecycle.Event{Data: []byte(payload)}
			for s.Send(ev) == nil {
			}
			return nil
		}
		<-s.Done()
		return nil
	}, lifecycle.Options{
		Heartbeat:    heartbeat,
		WriteTimeout: 30 * time.Second,
		OnClose:      func(s *lifecycle.Session, _ lifecycle.CloseInfo) { done.record(s.Request().RemoteAddr) },
	})
	srv := func(h http.Handler) error { go (&http.Server{Handler: h}).Serve(ln); return nil }
	switch target {
	case "nethttp":
		return srv(nethttpadapter.Handler(ep))
	case "chi":
		r := chi.NewRouter()
		r.Get("/sse", chiadapter.Handler(ep))
		return srv(r)
	case "echo":
		e := echo.New()
		e.GET("/sse", echoadapter.Handler(ep))
		return srv(e)
	case "fiber":
		app := fiber.New(fiber.Config{DisableStartupMessage: true})
		app.Get("/sse", fiberadapter.Handler(ep))
		go app.Listener(ln)
		return nil
	case "raw-nethttp":
		return srv(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { rawLoop(w, r, done) }))
	case "raw-chi":
		r := chi.NewRouter()
		r.Get("/sse", func(w http.ResponseWriter, r *http.Request) { rawLoop(w, r, done) })
		return srv(r)
	case "raw-echo":
		e := echo.New()
		e.GET("/sse", func(c echo.Context) error {
			rawLoop(c.Response(), c.Request(), done)
			return nil
		})
		return srv(e)
	case "raw-fiber":
		app := fiber.New(fiber.Config{DisableStartupMessage: true})
		app.Get("/sse", rawFiberRecipe(done))
		go app.Listener(ln)
		return nil
	case "fiberv3":
		app := fiberv3.New()
		app.Get("/sse", fiberv3adapter.Handler(ep))
		go app.Listener(ln, fiberv3.ListenConfig{DisableStartupMessage: true})
		return nil
	case "raw-fiberv3":
		app := fiberv3.New()
		app.Get("/sse", rawFiberV3Recipe(done))
		go app.Listener(ln, fiberv3.ListenConfig{DisableStartupMessage: true})
		return nil
	case "echov5":
		e := echov5.New()
		e.GET("/sse", echov5adapter.Handler(ep))
		return srv(e)
	case "raw-echov5":
		e := echov5.New()
		e.GET("/sse", func(c *echov5.Context) error {
			rawLoop(c.Response(), c.Request(), done)
			return nil
		})
		return srv(e)
	case "gin":
		gin.SetMode(gin.ReleaseMode)
		r := gin.New()
		r.GET("/sse", ginadapter.Handler(ep))
		return srv(r)
	case "raw-gin":
		gin.SetMode(gin.ReleaseMode)
		r := gin.New()
		r.GET("/sse", func(c *gin.Context) { rawLoop(c.Writer, c.Request, done) })
		return srv(r)
	case "raw-tcp":
		serveRawTCP(ln)
		return nil
	}
	return fmt.Errorf("unknown target %q (have %s)", target, strings.Join(targets, ", "))
}

// rawLoop is the net/http handler users write today: an http.Flusher loop,
// with r.Context() for the disconnect.
func rawLoop(w http.ResponseWriter, r *http.Request, done *ended) {
	defer done.record(r.RemoteAddr)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	f := w.(http.Flusher)
	fmt.Fprint(w, "data: ready\n\n")
	f.Flush()
	if r.URL.Query().Get("mode") != "flood" {
		<-r.Context().Done()
		return
	}
	msg := []byte("data: " + payload + "\n\n")
	for r.Context().Err() == nil {
		if _, err := w.Write(msg); err != nil {
			return
		}
		f.Flush()
	}
}

// rawFiberRecipe is the Fiber recipe users write today: SetBodyStreamWriter
// with a 15 s heartbeat; a dead client is noticed when a write fails.
func rawFiberRecipe(done *ended) fiber.Handler {
	return func(c *fiber.Ctx) error {
		remote, flood := c.Context().RemoteAddr().String(), c.Query("mode") == "flood"
		c.Set("Content-Type", "text/event-stream")
		c.Set("Cache-Control", "no-cache")
		c.Context().SetBodyStreamWriter(func(w *bufio.Writer) { recipeStream(w, flood, done, remote) })
		return nil
	}
}

// rawFiberV3Recipe is the Fiber v3 recipe users write today (v3.1.0 has no
// middleware/sse): c.SendStreamWriter with a 15 s heartbeat; a dead client
// is noticed when a write fails.
func rawFiberV3Recipe(done *ended) fiberv3.Handler {
	return func(c fiberv3.Ctx) error {
		remote, flood := c.RequestCtx().RemoteAddr().String(), c.Query("mode") == "flood"
		c.Set("Content-Type", "text/event-stream")
		c.Set("Cache-Control", "no-cache")
		return c.SendStreamWriter(func(w *bufio.Writer) { recipeStream(w, flood, done, remote) })
	}
}

// recipeStream is the body of both Fiber recipes: a first event, then
// events as fast as the client takes them (flood) or a comment every 15 s,
// until a flush fails.
func recipeStream(w *bufio.Writer, flood bool, done *ended, remote string) {
	defer done.record(remote)
	fmt.Fprint(w, "data: ready\n\n")
	if w.Flush() != nil {
		return
	}
	msg := []byte("data: " + payload + "\n\n")
	for flood {
		w.Write(msg)
		if w.Flush() != nil {
			return
		}
	}
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for range t.C {
		fmt.Fprint(w, ": ping\n\n")
		if w.Flush() != nil {
			return
		}
	}
}

// Stats is what the server reports of itself.
type Stats struct {
	RSS        int64   `json:"rss_bytes"`
	HeapInuse  int64   `json:"heap_inuse_bytes"`
	StackInuse int64   `json:"stack_inuse_bytes"`
	Goroutines int     `json:"goroutines"`
	CPUSeconds float64 `json:"cpu_seconds"`
}

func controlHandler(done *ended) http.Handler {
	mux := http.NewServeMux()
	// Profiles of the server under load: go tool pprof http://<control>/debug/pprof/heap
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") != "0" {
			runtime.GC()
			runtime.GC()
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		json.NewEncoder(w).Encode(Stats{
			RSS: rss(), HeapInuse: int64(m.HeapInuse), StackInuse: int64(m.StackInuse),
			Goroutines: runtime.NumGoroutine(), CPUSeconds: cpuSeconds(),
		})
	})
	mux.HandleFunc("/publish", publishHandler)
	mux.HandleFunc("/pace", paceHandler)
	mux.HandleFunc("/subscribers", func(w http.ResponseWriter, r *http.Request) {
		n := directCount()
		if rawTCP {
			n = int(rawConns.Load())
		}
		if r.URL.Query().Get("slow") != "" {
			if benchHub != nil {
				n = int(benchHub.Stats().SlowDisconnects)
			}
		} else if benchHub != nil {
			n = benchHub.Stats().Subscribers["bench"]
		}
		fmt.Fprint(w, n)
	})
	mux.HandleFunc("/ended", func(w http.ResponseWriter, r *http.Request) {
		done.mu.Lock()
		defer done.mu.Unlock()
		json.NewEncoder(w).Encode(done.at)
	})
	return mux
}

// rss returns the process's resident set size from /proc/self/statm.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return -1
	}
	var size, resident int64
	fmt.Sscan(string(b), &size, &resident)
	return resident * int64(os.Getpagesize())
}

// cpuSeconds returns the process's user and system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// raiseFileLimit lifts the open-file limit as far as the process may: to
// wantFiles if it is allowed to raise the hard limit (as root), else to the
// hard limit. 10,000 sessions need more descriptors than the usual default,
// the scale scenario's 100,000 (and as many on the loader's side) far more.
// It returns the limit in force.
func raiseFileLimit() uint64 {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) != nil {
		return 0
	}
	if l.Max < wantFiles {
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: wantFiles, Max: wantFiles}) == nil {
			return wantFiles
		}
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l) != nil {
			return 0
		}
	}
	return l.Cur
}

// wantFiles is the open-file limit raiseFileLimit asks for: two servers of
// 100,000 streams each, and the loader's 200,000 ends of them, in one run.
const wantFiles = 1 << 19
