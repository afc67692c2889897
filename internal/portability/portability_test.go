package portability

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/gofiber/fiber/v2"
	fiberv3 "github.com/gofiber/fiber/v3"
	"github.com/labstack/echo/v4"
	echov5 "github.com/labstack/echo/v5"
	"go.uber.org/goleak"

	"github.com/ssekit/ssekit/chiadapter"
	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/echoadapter"
	"github.com/ssekit/ssekit/echov5adapter"
	"github.com/ssekit/ssekit/fiberadapter"
	"github.com/ssekit/ssekit/fiberv3adapter"
	"github.com/ssekit/ssekit/ginadapter"
	"github.com/ssekit/ssekit/lifecycle"
	"github.com/ssekit/ssekit/nethttpadapter"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"))
}

// handler exercises every encoding rule; it is the one value mounted on
// every framework below.
func handler(s *lifecycle.Session) error {
	r := s.Request()
	evs := []lifecycle.Event{
		{ID: "1", Type: "greeting", Data: []byte("hello " + r.Param("room") + " " + r.Query().Get("who"))},
		{Data: []byte("multi\nline\r\nwith CRLF\rand CR")},
		{Data: []byte(" leading space, unicode ✓ 世界")},
		{Data: nil},
		{ID: "2", Retry: 2500 * time.Millisecond, Comment: "a comment\nin two lines", Data: []byte("x")},
	}
	for _, ev := range evs {
		if err := s.Send(ev); err != nil {
			return err
		}
	}
	s.Comment("between")
	s.ResetLastID()
	s.SetRetry(time.Second)
	return s.Send(lifecycle.Event{Type: "bye", Data: []byte("last=" + s.LastEventID())})
}

func listen(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func serveHTTP(t *testing.T, h http.Handler) string {
	ln := listen(t)
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func TestSameBytesOnEveryFramework(t *testing.T) {
	ep := lifecycle.NewEndpoint(handler, lifecycle.Options{Heartbeat: -1, Retry: 3 * time.Second})

	mux := http.NewServeMux()
	mux.Handle("GET /rooms/{room}/events", nethttpadapter.Handler(ep))

	router := chi.NewRouter()
	router.Get("/rooms/{room}/events", chiadapter.Handler(ep))

	e := echo.New()
	e.GET("/rooms/:room/events", echoadapter.Handler(ep))

	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/rooms/:room/events", fiberadapter.Handler(ep))
	app.Server().MaxIdleWorkerDuration = 50 * time.Millisecond // its pool's cleaner sleeps that long
	ln := listen(t)
	served := make(chan struct{})
	go func() { defer close(served); app.Listener(ln) }()
	t.Cleanup(func() { app.ShutdownWithTimeout(5 * time.Second); <-served })

	app3 := fiberv3.New()
	app3.Get("/rooms/:room/events", fiberv3adapter.Handler(ep))
	app3.Server().MaxIdleWorkerDuration = 50 * time.Millisecond
	ln3 := listen(t)
	served3 := make(chan struct{})
	go func() {
		defer close(served3)
		app3.Listener(ln3, fiberv3.ListenConfig{DisableStartupMessage: true})
	}()
	t.Cleanup(func() { app3.ShutdownWithTimeout(5 * time.Second); <-served3 })

	e5 := echov5.New()
	e5.GET("/rooms/:room/events", echov5adapter.Handler(ep))

	gin.SetMode(gin.ReleaseMode)
	g := gin.New()
	g.GET("/rooms/:room/events", ginadapter.Handler(ep))

	bases := map[string]string{
		"net/http": serveHTTP(t, mux),
		"chi":      serveHTTP(t, router),
		"echo":     serveHTTP(t, e),
		"fiber":    "http://" + ln.Addr().String(),
		"fiberv3":  "http://" + ln3.Addr().String(),
		"echo v5":  serveHTTP(t, e5),
		"gin":      serveHTTP(t, g),
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer client.CloseIdleConnections()

	bodies := map[string][]byte{}
	for name, base := range bases {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/rooms/lobby/events?who=ann", nil)
		req.Header.Set("Last-Event-ID", "41")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		if err != nil {
			t.Fatalf("%s: reading to the end of the stream: %v", name, err)
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Errorf("%s: status %d, Content-Type %q", name, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		bodies[name] = body
	}

	want := bodies["net/http"]
	for name, body := range bodies {
		if !bytes.Equal(body, want) {
			t.Errorf("%s sent different bytes:\n%q\nnet/http sent:\n%q", name, body, want)
		}
	}
	// And the bytes are what a browser parses into the intended events.
	p := conformance.NewParser(bytes.NewReader(want))
	var got []conformance.Event
	for {
		ev, err := p.Next()
		if err != nil {
			break
		}
		got = append(got, ev)
	}
	wantEvents := []conformance.Event{
		{Type: "greeting", Data: "hello lobby ann", LastEventID: "1"},
		{Type: "message", Data: "multi\nline\nwith CRLF\nand CR", LastEventID: "1"},
		{Type: "message", Data: " leading space, unicode ✓ 世界", LastEventID: "1"},
		{Type: "message", Data: "", LastEventID: "1"},
		{Type: "message", Data: "x", LastEventID: "2"},
		{Type: "bye", Data: "last=41", LastEventID: ""},
	}
	if len(got) != len(wantEvents) {
		t.Fatalf("parsed %d events, want %d: %q", len(got), len(wantEvents), got)
	}
	for i := range got {
		if got[i] != wantEvents[i] {
			t.Errorf("event %d = %+v, want %+v", i, got[i], wantEvents[i])
		}
	}
	if p.Retry() != time.Second {
		t.Errorf("final retry %v, want 1s", p.Retry())
	}
}
