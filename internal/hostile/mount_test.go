package hostile

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/gofiber/fiber/v2"
	fiberv3 "github.com/gofiber/fiber/v3"
	"github.com/labstack/echo/v4"
	"go.uber.org/goleak"

	"github.com/ssekit/ssekit/chiadapter"
	"github.com/ssekit/ssekit/echoadapter"
	"github.com/ssekit/ssekit/fiberadapter"
	"github.com/ssekit/ssekit/fiberv3adapter"
	"github.com/ssekit/ssekit/lifecycle"
	"github.com/ssekit/ssekit/nethttpadapter"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"))
}

type userKey struct{}

type mounted struct {
	addr     string
	shutdown func(context.Context) error
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// mounts serve ep at GET /events on each framework, with an auth
// middleware attaching "Bearer <user>" as the framework's idiom does.
var mounts = map[string]func(t *testing.T, ep *lifecycle.Endpoint) mounted{
	"net/http": func(t *testing.T, ep *lifecycle.Endpoint) mounted {
		mux := http.NewServeMux()
		mux.Handle("/events", nethttpadapter.Handler(ep))
		return serveStd(t, stdAuth(mux), ep)
	},
	"chi": func(t *testing.T, ep *lifecycle.Endpoint) mounted {
		r := chi.NewRouter()
		r.Use(stdAuth)
		r.Get("/events", chiadapter.Handler(ep))
		r.Head("/events", chiadapter.Handler(ep))
		return serveStd(t, r, ep)
	},
	"echo": func(t *testing.T, ep *lifecycle.Endpoint) mounted {
		e := echo.New()
		e.HideBanner, e.HidePort = true, true
		e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				if user, ok := bearer(c.Request().Header.Get("Authorization")); ok {
					c.SetRequest(c.Request().WithContext(context.WithValue(c.Request().Context(), userKey{}, user)))
				}
				return next(c)
			}
		})
		e.GET("/events", echoadapter.Handler(ep))
		e.HEAD("/events", echoadapter.Handler(ep))
		lifecycle.EndOnShutdown(e.Server, ep)
		e.Listener = listen(t)
		go e.Start("")
		return mounted{e.Listener.Addr().String(), e.Shutdown}
	},
	"fiber": func(t *testing.T, ep *lifecycle.Endpoint) mounted {
		app := fiber.New(fiber.Config{DisableStartupMessage: true})
		app.Server().MaxIdleWorkerDuration = 50 * time.Millisecond
		app.Use(func(c *fiber.Ctx) error {
			if user, ok := bearer(c.Get("Authorization")); ok {
				c.Locals(userKey{}, user)
			}
			return c.Next()
		})
		app.Get("/events", fiberadapter.Handler(ep))
		ln := listen(t)
		go app.Listener(ln)
		return mounted{ln.Addr().String(), app.ShutdownWithContext}
	},
	"fiberv3": func(t *testing.T, ep *lifecycle.Endpoint) mounted {
		app := fiberv3.New()
		app.Server().MaxIdleWorkerDuration = 50 * time.Millisecond
		app.Use(func(c fiberv3.Ctx) error {
			if user, ok := bearer(c.Get("Authorization")); ok {
				c.Locals(userKey{}, user)
			}
			return c.Next()
		})
		app.Get("/events", fiberv3adapter.Handler(ep))
		ln := listen(t)
		go app.Listener(ln, fiberv3.ListenConfig{DisableStartupMessage: true})
		return mounted{ln.Addr().String(), app.ShutdownWithContext}
	},
}

func bearer(authorization string) (string, bool) {
	if len(authorization) > 7 && authorization[:7] == "Bearer " {
		return authorization[7:], true
	}
	return "", false
}

func stdAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, ok := bearer(r.Header.Get("Authorization")); ok {
			r = r.WithContext(context.WithValue(r.Context(), userKey{}, user))
		}
		next.ServeHTTP(w, r)
	})
}

func serveStd(t *testing.T, h http.Handler, ep *lifecycle.Endpoint) mounted {
	ln := listen(t)
	srv := &http.Server{Handler: h}
	lifecycle.EndOnShutdown(srv, ep)
	go srv.Serve(ln)
	return mounted{ln.Addr().String(), srv.Shutdown}
}

func shutdown(t *testing.T, m mounted) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}
