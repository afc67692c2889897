package portability

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/gofiber/fiber/v2"
	fiberv3 "github.com/gofiber/fiber/v3"
	"github.com/labstack/echo/v4"
	echov5 "github.com/labstack/echo/v5"

	"github.com/ssekit/ssekit/chiadapter"
	"github.com/ssekit/ssekit/conformance"
	"github.com/ssekit/ssekit/echoadapter"
	"github.com/ssekit/ssekit/echov5adapter"
	"github.com/ssekit/ssekit/fiberadapter"
	"github.com/ssekit/ssekit/fiberv3adapter"
	"github.com/ssekit/ssekit/ginadapter"
	"github.com/ssekit/ssekit/hub"
	"github.com/ssekit/ssekit/lifecycle"
	"github.com/ssekit/ssekit/nethttpadapter"
)

// The application below is written once. Each framework's mounting code
// (further down) is what changes between frameworks: its own router, its
// own auth-middleware idiom attaching the user, its own publish route, its
// own shutdown line.

type userKey struct{}

// userFromToken is the auth middleware's check: "Bearer <user>".
func userFromToken(authorization string) (string, bool) {
	user, ok := strings.CutPrefix(authorization, "Bearer ")
	return user, ok && user != ""
}

// realApp is a notification service: each user reads their own topic
// "user:<id>" and the "global" one; any signed-in user publishes.
type realApp struct {
	h  *hub.Hub
	ep *lifecycle.Endpoint
}

func userOf(ctx context.Context) string {
	user, _ := ctx.Value(userKey{}).(string)
	return user
}

func newRealApp() *realApp {
	a := &realApp{}
	a.h = hub.New(hub.NewMemory(hub.Retention{MaxLen: 100}), hub.Options{
		Authorize: func(ctx context.Context, r *lifecycle.Request, topic string) error {
			if topic == "global" || topic == "user:"+userOf(ctx) {
				return nil
			}
			return hub.ErrForbidden
		},
	})
	topics := func(r *lifecycle.Request) []string { return r.Query()["topic"] }
	hubAdmit := a.h.Admit(topics)
	a.ep = lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		if err := s.Send(lifecycle.Event{Type: "welcome", Data: []byte(userOf(s.Context()))}); err != nil {
			return err
		}
		return a.h.Serve(s, topics(s.Request())...)
	}, lifecycle.Options{
		Heartbeat: -1,
		Farewell:  &lifecycle.Event{Type: "farewell", Data: []byte("restarting")},
		Admit: func(ctx context.Context, r *lifecycle.Request) error {
			if userOf(ctx) == "" {
				return &lifecycle.Refusal{Status: http.StatusUnauthorized, Message: "sign in first",
					Header: http.Header{"WWW-Authenticate": {"Bearer"}}}
			}
			return hubAdmit(ctx, r)
		},
	})
	return a
}

// publish is the publish route's logic: POST /publish/{topic}, the body is
// the event's data.
func (a *realApp) publish(ctx context.Context, user, topic string, body []byte) (int, string) {
	if user == "" {
		return http.StatusUnauthorized, "sign in first"
	}
	_, err := a.h.Publish(ctx, topic, hub.Event{Type: "note", Data: append([]byte(user+": "), body...)})
	switch {
	case errors.Is(err, hub.ErrNoTopic), errors.Is(err, hub.ErrInvalidTopic):
		return http.StatusBadRequest, err.Error()
	case err != nil:
		return http.StatusServiceUnavailable, err.Error()
	}
	return http.StatusNoContent, ""
}

func (a *realApp) close() { a.h.Close() }

// mounted is one framework serving the app: its base URL and its own
// graceful shutdown.
type mounted struct {
	base     string
	shutdown func(context.Context) error
}

var mounts = map[string]func(t *testing.T, a *realApp) mounted{
	"net/http": func(t *testing.T, a *realApp) mounted {
		auth := func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if user, ok := userFromToken(r.Header.Get("Authorization")); ok {
					r = r.WithContext(context.WithValue(r.Context(), userKey{}, user))
				}
				next.ServeHTTP(w, r)
			})
		}
		mux := http.NewServeMux()
		mux.Handle("GET /events", nethttpadapter.Handler(a.ep))
		mux.HandleFunc("POST /publish/{topic}", func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			status, msg := a.publish(r.Context(), userOf(r.Context()), r.PathValue("topic"), body)
			w.WriteHeader(status)
			io.WriteString(w, msg)
		})
		return serveStd(t, auth(mux), a)
	},
	"chi": func(t *testing.T, a *realApp) mounted {
		r := chi.NewRouter()
		r.Use(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if user, ok := userFromToken(r.Header.Get("Authorization")); ok {
					r = r.WithContext(context.WithValue(r.Context(), userKey{}, user))
				}
				next.ServeHTTP(w, r)
			})
		})
		r.Get("/events", chiadapter.Handler(a.ep))
		r.Post("/publish/{topic}", func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			status, msg := a.publish(r.Context(), userOf(r.Context()), chi.URLParam(r, "topic"), body)
			w.WriteHeader(status)
			io.WriteString(w, msg)
		})
		return serveStd(t, r, a)
	},
	"echo": func(t *testing.T, a *realApp) mounted {
		e := echo.New()
		e.HideBanner, e.HidePort = true, true
		e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				if user, ok := userFromToken(c.Request().Header.Get("Authorization")); ok {
					c.SetRequest(c.Request().WithContext(context.WithValue(c.Request().Context(), userKey{}, user)))
				}
				return next(c)
			}
		})
		e.GET("/events", echoadapter.Handler(a.ep))
		e.POST("/publish/:topic", func(c echo.Context) error {
			body, _ := io.ReadAll(c.Request().Body)
			status, msg := a.publish(c.Request().Context(), userOf(c.Request().Context()), c.Param("topic"), body)
			return c.String(status, msg)
		})
		lifecycle.EndOnShutdown(e.Server, a.ep) // the one shutdown line
		e.Listener = listen(t)
		go e.Start("")
		return mounted{"http://" + e.Listener.Addr().String(), e.Shutdown}
	},
	"echo v5": func(t *testing.T, a *realApp) mounted {
		e := echov5.New()
		e.Use(func(next echov5.HandlerFunc) echov5.HandlerFunc {
			return func(c *echov5.Context) error {
				if user, ok := userFromToken(c.Request().Header.Get("Authorization")); ok {
					c.SetRequest(c.Request().WithContext(context.WithValue(c.Request().Context(), userKey{}, user)))
				}
				return next(c)
			}
		})
		e.GET("/events", echov5adapter.Handler(a.ep))
		e.POST("/publish/:topic", func(c *echov5.Context) error {
			body, _ := io.ReadAll(c.Request().Body)
			status, msg := a.publish(c.Request().Context(), userOf(c.Request().Context()), c.Param("topic"), body)
			return c.String(status, msg)
		})
		return serveStd(t, e, a)
	},
	"gin": func(t *testing.T, a *realApp) mounted {
		gin.SetMode(gin.ReleaseMode)
		r := gin.New()
		r.Use(func(c *gin.Context) {
			if user, ok := userFromToken(c.GetHeader("Authorization")); ok {
				c.Set(userKey{}, user)
			}
		})
		r.GET("/events", ginadapter.Handler(a.ep))
		r.POST("/publish/:topic", func(c *gin.Context) {
			body, _ := io.ReadAll(c.Request.Body)
			v, _ := c.Get(userKey{})
			user, _ := v.(string)
			status, msg := a.publish(c.Request.Context(), user, c.Param("topic"), body)
			c.String(status, msg)
		})
		return serveStd(t, r, a)
	},
	"fiber": func(t *testing.T, a *realApp) mounted {
		app := fiber.New(fiber.Config{DisableStartupMessage: true})
		app.Server().MaxIdleWorkerDuration = 50 * time.Millisecond
		app.Use(func(c *fiber.Ctx) error {
			if user, ok := userFromToken(c.Get("Authorization")); ok {
				c.Locals(userKey{}, user)
			}
			return c.Next()
		})
		app.Get("/events", fiberadapter.Handler(a.ep))
		app.Post("/publish/:topic", func(c *fiber.Ctx) error {
			user, _ := c.Locals(userKey{}).(string)
			status, msg := a.publish(c.UserContext(), user, c.Params("topic"), c.Body())
			return c.Status(status).SendString(msg)
		})
		ln := listen(t)
		go app.Listener(ln)
		return mounted{"http://" + ln.Addr().String(), app.ShutdownWithContext}
	},
	"fiberv3": func(t *testing.T, a *realApp) mounted {
		app := fiberv3.New()
		app.Server().MaxIdleWorkerDuration = 50 * time.Millisecond
		app.Use(func(c fiberv3.Ctx) error {
			if user, ok := userFromToken(c.Get("Authorization")); ok {
				c.Locals(userKey{}, user)
			}
			return c.Next()
		})
		app.Get("/events", fiberv3adapter.Handler(a.ep))
		app.Post("/publish/:topic", func(c fiberv3.Ctx) error {
			user, _ := c.Locals(userKey{}).(string)
			status, msg := a.publish(c.Context(), user, c.Params("topic"), c.Body())
			return c.Status(status).SendString(msg)
		})
		ln := listen(t)
		go app.Listener(ln, fiberv3.ListenConfig{DisableStartupMessage: true})
		return mounted{"http://" + ln.Addr().String(), app.ShutdownWithContext}
	},
}

// serveStd serves h on a net/http server whose shutdown ends the app's
// streams.
func serveStd(t *testing.T, h http.Handler, a *realApp) mounted {
	ln := listen(t)
	srv := &http.Server{Handler: h}
	lifecycle.EndOnShutdown(srv, a.ep) // the one shutdown line
	go srv.Serve(ln)
	return mounted{"http://" + ln.Addr().String(), srv.Shutdown}
}

// A realistic app runs unchanged on every framework: identity from the
// framework's auth middleware reaches Admit, the hub's Authorize and the
// handler; an anonymous client gets 401 and a forbidden topic 403 before
// any stream; a user gets their own and the global notifications, not
// another user's; and the framework's own graceful shutdown ends the
// stream with the farewell, within its deadline.
func TestRealAppOnEveryFramework(t *testing.T) {
	for name, mount := range mounts {
		t.Run(name, func(t *testing.T) {
			a := newRealApp()
			defer a.close()
			m := mount(t, a)
			shut := false
			defer func() {
				if !shut {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					m.shutdown(ctx)
				}
			}()
			client := &http.Client{Timeout: 10 * time.Second}
			do := func(method, path, user, body string) *http.Response {
				t.Helper()
				req, _ := http.NewRequest(method, m.base+path, strings.NewReader(body))
				if user != "" {
					req.Header.Set("Authorization", "Bearer "+user)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				return resp
			}
			expect := func(resp *http.Response, status int, inBody string) {
				t.Helper()
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != status || !strings.Contains(string(body), inBody) {
					t.Errorf("%s %s: %d %q, want %d with %q", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, body, status, inBody)
				}
				if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
					t.Errorf("a refusal sent as a stream: %v", resp.Header)
				}
			}

			resp := do("GET", "/events?topic=global", "", "")
			if resp.Header.Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("401 without WWW-Authenticate: %v", resp.Header)
			}
			expect(resp, http.StatusUnauthorized, "sign in first")
			expect(do("GET", "/events?topic=global&topic=user:bob", "ann", ""), http.StatusForbidden, `"user:bob"`)
			expect(do("GET", "/events?topic=user:ann%0A", "ann", ""), http.StatusBadRequest, "invalid topic")
			expect(do("POST", "/publish/global", "", "hi"), http.StatusUnauthorized, "sign in first")

			stream := do("GET", "/events?topic=global&topic=user:ann", "ann", "")
			defer stream.Body.Close()
			if stream.StatusCode != 200 || stream.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("ann's stream: %d %v", stream.StatusCode, stream.Header)
			}
			p := conformance.NewParser(bufio.NewReader(stream.Body))
			next := func() conformance.Event {
				t.Helper()
				ev, err := p.Next()
				if err != nil {
					t.Fatalf("ann's stream: %v", err)
				}
				return ev
			}
			if ev := next(); ev.Type != "welcome" || ev.Data != "ann" {
				t.Fatalf("first event %+v, want welcome ann: the identity did not reach the handler", ev)
			}
			for deadline := time.Now().Add(5 * time.Second); a.h.Stats().Subscribers["user:ann"] == 0; {
				if time.Now().After(deadline) {
					t.Fatal("ann's stream never subscribed")
				}
				time.Sleep(5 * time.Millisecond)
			}
			expect(do("POST", "/publish/user:bob", "carol", "for bob"), http.StatusNoContent, "")
			expect(do("POST", "/publish/user:ann", "bob", "for ann"), http.StatusNoContent, "")
			expect(do("POST", "/publish/global", "carol", "for all"), http.StatusNoContent, "")
			for _, want := range []string{"bob: for ann", "carol: for all"} {
				if ev := next(); ev.Type != "note" || ev.Data != want {
					t.Errorf("ann got %+v, want note %q (and never bob's)", ev, want)
				}
			}

			shut = true
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- m.shutdown(ctx) }()
			if ev := next(); ev.Type != "farewell" {
				t.Errorf("on shutdown ann got %+v, want the farewell", ev)
			}
			if _, err := p.Next(); !errors.Is(err, io.EOF) {
				t.Errorf("after the farewell: %v, want the end of the stream", err)
			}
			if err := <-done; err != nil {
				t.Errorf("the framework's shutdown: %v", err)
			}
		})
	}
}
