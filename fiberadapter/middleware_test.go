package fiberadapter_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cache"
	"github.com/gofiber/fiber/v2/middleware/compress"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/gofiber/fiber/v2/middleware/etag"
	"github.com/gofiber/fiber/v2/middleware/helmet"
	"github.com/gofiber/fiber/v2/middleware/limiter"
	"github.com/gofiber/fiber/v2/middleware/logger"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/gofiber/fiber/v2/middleware/timeout"

	"github.com/ssekit/ssekit/fiberadapter"
	"github.com/ssekit/ssekit/internal/sessiontest"
	"github.com/ssekit/ssekit/lifecycle"
)

// mount serves handler behind mw at /sse/:name.
func mount(t *testing.T, cfg fiber.Config, h lifecycle.Handler, opts lifecycle.Options, mw ...fiber.Handler) (string, *lifecycle.Endpoint) {
	t.Helper()
	cfg.DisableStartupMessage = true
	app := fiber.New(cfg)
	for _, m := range mw {
		app.Use(m)
	}
	ep := lifecycle.NewEndpoint(h, opts)
	app.Get("/sse/:name", fiberadapter.Handler(ep))
	return startApp(t, app), ep
}

func TestMiddlewareCORS(t *testing.T) {
	base, _ := mount(t, fiber.Config{}, hello, lifecycle.Options{}, cors.New(cors.Config{AllowOrigins: "https://app.example"}))
	st := stream(t, base+"/sse/a", http.Header{"Origin": {"https://app.example"}})
	if got := st.Response.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Errorf("Access-Control-Allow-Origin = %q", got)
	}
	if got := st.Response.Header.Values("Vary"); !strings.Contains(strings.Join(got, ","), "Origin") {
		t.Errorf("Vary = %q, want Origin", got)
	}
}

// The logger logs a stream when it ends, as the request it is, with its
// status and duration.
func TestMiddlewareLogger(t *testing.T) {
	var out sessiontest.Buffer
	ended := sessiontest.NewEnds()
	base, _ := mount(t, fiber.Config{}, hello, ended.Hook(lifecycle.Options{}), logger.New(logger.Config{Output: &out}))
	stream(t, base+"/sse/logged", nil).Close()
	ended.Want(t, lifecycle.ErrClientGone)
	var got string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if got = out.String(); got != "" {
			break
		}
	}
	if !strings.Contains(got, " 200 ") || !strings.Contains(got, "/sse/logged") {
		t.Errorf("log = %q, want the stream's request with status 200", got)
	}
}

func TestMiddlewareRecover(t *testing.T) {
	ended := sessiontest.NewEnds()
	base, _ := mount(t, fiber.Config{}, func(s *lifecycle.Session) error {
		if s.Request().Param("name") == "panic" {
			s.Send(lifecycle.Event{Data: []byte("hello, then panic")})
			panic("handler bug")
		}
		return hello(s)
	}, lifecycle.Options{OnClose: func(_ *lifecycle.Session, ci lifecycle.CloseInfo) { ended <- ci }}, recover.New())
	st := stream(t, base+"/sse/panic", nil)
	if _, err := st.Next(); err == nil {
		t.Error("the stream went on after the handler panicked")
	}
	if ci := <-ended; !errors.Is(ci.Reason, lifecycle.ErrHandlerPanicked) {
		t.Errorf("reason %v, want ErrHandlerPanicked", ci.Reason)
	}
	stream(t, base+"/sse/after", nil) // the app keeps serving
}

// Headers and cookies middleware sets before calling Next go out with the
// stream. One set after Next cannot: the stream has been sent by then (as
// on net/http).
func TestMiddlewareRequestIDAndHeaders(t *testing.T) {
	after := func(c *fiber.Ctx) error {
		c.Cookie(&fiber.Cookie{Name: "session", Value: "abc"})
		c.Set("X-Set-Before", "yes")
		err := c.Next()
		c.Set("X-Set-After", "too late")
		return err
	}
	base, _ := mount(t, fiber.Config{}, hello, lifecycle.Options{}, requestid.New(), helmet.New(), after)
	st := stream(t, base+"/sse/a", nil)
	h := st.Response.Header
	for name, want := range map[string]string{
		"X-Request-Id":           "", // any non-empty value
		"X-Content-Type-Options": "nosniff",
		"X-Set-Before":           "yes",
		"Content-Type":           "text/event-stream",
	} {
		got := h.Get(name)
		if got == "" || (want != "" && got != want) {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if c := st.Response.Cookies(); len(c) != 1 || c[0].Name != "session" || c[0].Value != "abc" {
		t.Errorf("cookies = %v, want session=abc", c)
	}
}

func TestMiddlewareLimiter(t *testing.T) {
	ran := make(chan struct{}, 8)
	base, _ := mount(t, fiber.Config{}, func(s *lifecycle.Session) error {
		ran <- struct{}{}
		return hello(s)
	}, lifecycle.Options{}, limiter.New(limiter.Config{Max: 2, Expiration: time.Minute}))
	stream(t, base+"/sse/a", nil)
	stream(t, base+"/sse/b", nil)
	resp, err := rawClient(t).Get(base + "/sse/c")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != fiber.StatusTooManyRequests {
		t.Errorf("third stream: status %d, want 429 before any stream starts", resp.StatusCode)
	}
	if len(ran) != 2 {
		t.Errorf("the handler ran %d times, want 2", len(ran))
	}
}

func TestMiddlewareCompressNeverBuffersTheStream(t *testing.T) {
	base, _ := mount(t, fiber.Config{}, hello, lifecycle.Options{}, compress.New(compress.Config{Level: compress.LevelBestSpeed}))
	st := stream(t, base+"/sse/a", http.Header{"Accept-Encoding": {"gzip, br"}})
	if ce := st.Response.Header.Get("Content-Encoding"); ce != "" {
		t.Errorf("stream sent with Content-Encoding %q", ce)
	}
}

func TestMiddlewareETagAndETagSettingAreImmune(t *testing.T) {
	base, _ := mount(t, fiber.Config{ETag: true}, hello, lifecycle.Options{}, etag.New())
	st := stream(t, base+"/sse/a", http.Header{"If-None-Match": {`W/"0-0"`, `"0-0"`}})
	if st.Response.StatusCode != http.StatusOK || st.Response.Header.Get("ETag") != "" {
		t.Errorf("status %d ETag %q: a stream has no entity tag", st.Response.StatusCode, st.Response.Header.Get("ETag"))
	}
}

func TestAuthMiddlewareAnswersBeforeTheStream(t *testing.T) {
	ran := make(chan struct{}, 2)
	auth := func(c *fiber.Ctx) error {
		if c.Get("Authorization") != "Bearer good" {
			return c.Status(fiber.StatusUnauthorized).SendString("who are you?")
		}
		return c.Next()
	}
	base, _ := mount(t, fiber.Config{}, func(s *lifecycle.Session) error {
		ran <- struct{}{}
		return hello(s)
	}, lifecycle.Options{}, auth)
	resp, err := rawClient(t).Get(base + "/sse/a")
	if err != nil {
		t.Fatal(err)
	}
	body := new(bytes.Buffer)
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || body.String() != "who are you?" {
		t.Errorf("unauthenticated: %d %q, want 401 from the middleware", resp.StatusCode, body)
	}
	if len(ran) != 0 {
		t.Error("the handler ran for an unauthenticated request")
	}
	stream(t, base+"/sse/a", http.Header{"Authorization": {"Bearer good"}})
}

// A typical production stack in front of one stream.
func TestMiddlewareStack(t *testing.T) {
	var out sessiontest.Buffer
	base, _ := mount(t, fiber.Config{ETag: true}, hello, lifecycle.Options{},
		recover.New(), requestid.New(), logger.New(logger.Config{Output: &out}), helmet.New(),
		cors.New(), limiter.New(limiter.Config{Max: 100}), compress.New(), etag.New())
	st := stream(t, base+"/sse/stack", http.Header{"Accept-Encoding": {"gzip"}, "Origin": {"https://x.example"}})
	if st.Response.Header.Get("X-Request-Id") == "" || st.Response.Header.Get("Access-Control-Allow-Origin") != "*" ||
		st.Response.Header.Get("Content-Encoding") != "" {
		t.Errorf("headers through the stack: %v", st.Response.Header)
	}
}

// Fiber's cache middleware stores whatever a handler leaves in the
// response; after a stream that is an empty 200, which it would serve to the
// next client in place of a stream. The handler's ErrStreamed keeps it from
// storing anything: every client gets a live stream.
func TestMiddlewareCacheNeverServesAStoredStream(t *testing.T) {
	ran := make(chan struct{}, 8)
	base, _ := mount(t, fiber.Config{}, func(s *lifecycle.Session) error {
		ran <- struct{}{}
		return s.Send(lifecycle.Event{Data: []byte("live")})
	}, lifecycle.Options{Heartbeat: -1}, cache.New(cache.Config{Expiration: time.Minute}))
	for i := range 3 {
		resp := sessiontest.Get(t, base+"/sse/a", nil) // no Cache-Control, as curl sends
		body, err := io.ReadAll(resp.Body)
		if err != nil || !strings.Contains(string(body), "data: live") {
			t.Errorf("request %d: %d %q, %v; want a live stream", i, resp.StatusCode, body, err)
		}
	}
	if len(ran) != 3 {
		t.Errorf("the handler ran %d times for 3 requests", len(ran))
	}
}

// Fiber's timeout.NewWithContext puts a deadline on the user context; as on
// chi and Echo, it ends the session with ErrDeadline.
func TestMiddlewareTimeoutEndsTheSession(t *testing.T) {
	ended := sessiontest.NewEnds()
	ep := lifecycle.NewEndpoint(hello, ended.Hook(lifecycle.Options{Heartbeat: -1}))
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/sse/:name", timeout.NewWithContext(fiberadapter.Handler(ep), 300*time.Millisecond))
	base := startApp(t, app)
	st := stream(t, base+"/sse/a", nil)
	if ci := ended.Next(t, 5*time.Second); !errors.Is(ci.Reason, lifecycle.ErrDeadline) {
		t.Errorf("reason %v, want ErrDeadline", ci.Reason)
	}
	if _, err := st.Next(); err != io.EOF {
		t.Errorf("after the deadline: %v, want the stream's clean end", err)
	}
}

// app.Test, the first thing Fiber users try, serves a stream that ends: the
// whole response, read after the handler returned.
func TestAppTest(t *testing.T) {
	ended := sessiontest.NewEnds()
	ep := lifecycle.NewEndpoint(sendN(3), ended.Hook(lifecycle.Options{Heartbeat: -1}))
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/sse/:name", fiberadapter.Handler(ep))
	for i := range 20 {
		resp, err := app.Test(httptest.NewRequest(http.MethodGet, "/sse/t", nil), 5000)
		if err != nil {
			t.Fatalf("app.Test %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("app.Test %d: reading: %v", i, err)
		}
		if resp.StatusCode != http.StatusOK || strings.Count(string(body), "data: t\n") != 3 {
			t.Fatalf("app.Test %d: %d %q", i, resp.StatusCode, body)
		}
		ended.Want(t, lifecycle.ErrHandlerReturned)
	}
}
