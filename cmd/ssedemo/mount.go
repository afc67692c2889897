package main

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	fiberv3 "github.com/gofiber/fiber/v3"
	adaptorv3 "github.com/gofiber/fiber/v3/middleware/adaptor"
	"github.com/labstack/echo/v4"
	echov5 "github.com/labstack/echo/v5"

	"github.com/ssekit/ssekit/chiadapter"
	"github.com/ssekit/ssekit/echoadapter"
	"github.com/ssekit/ssekit/echov5adapter"
	"github.com/ssekit/ssekit/fiberadapter"
	"github.com/ssekit/ssekit/fiberv3adapter"
	"github.com/ssekit/ssekit/ginadapter"
	"github.com/ssekit/ssekit/lifecycle"
	"github.com/ssekit/ssekit/listener"
	"github.com/ssekit/ssekit/nethttpadapter"
)

// server is the chosen framework's server, serving on its listener.
type server struct {
	serve    func() error
	shutdown func(context.Context) error
}

// mount serves ep at GET /events and rest at every other path, with
// framework, on ln. The listener notices dead peers (TCP_USER_TIMEOUT).
func mount(framework string, ep *lifecycle.Endpoint, rest http.Handler, ln net.Listener) (*server, error) {
	ln = listener.Wrap(ln, listener.Options{})
	std := func(h http.Handler) *server {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		srv.RegisterOnShutdown(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ep.Shutdown(ctx)
		})
		return &server{serve: func() error { return srv.Serve(ln) }, shutdown: srv.Shutdown}
	}
	switch framework {
	case "nethttp":
		mux := http.NewServeMux()
		mux.Handle("GET /events", nethttpadapter.Handler(ep))
		mux.Handle("/", rest)
		return std(mux), nil
	case "chi":
		r := chi.NewRouter()
		r.Get("/events", chiadapter.Handler(ep))
		r.Handle("/*", rest)
		return std(r), nil
	case "echo":
		e := echo.New()
		e.HideBanner, e.HidePort = true, true
		e.GET("/events", echoadapter.Handler(ep))
		e.Any("/*", echo.WrapHandler(rest))
		e.Listener = ln
		e.Server.RegisterOnShutdown(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ep.Shutdown(ctx)
		})
		return &server{serve: func() error { return e.Start("") }, shutdown: e.Shutdown}, nil
	case "fiber":
		app := fiber.New(fiber.Config{DisableStartupMessage: true})
		app.Get("/events", fiberadapter.Handler(ep)) // its shutdown hook ends the sessions
		app.Use(adaptor.HTTPHandler(rest))
		return &server{serve: func() error { return app.Listener(ln) }, shutdown: app.ShutdownWithContext}, nil
	case "fiberv3":
		app := fiberv3.New()
		app.Get("/events", fiberv3adapter.Handler(ep)) // app.ShutdownWithContext ends the sessions
		app.Use(adaptorv3.HTTPHandler(rest))
		serve := func() error { return app.Listener(ln, fiberv3.ListenConfig{DisableStartupMessage: true}) }
		return &server{serve: serve, shutdown: app.ShutdownWithContext}, nil
	case "echov5":
		e := echov5.New()
		e.GET("/events", echov5adapter.Handler(ep))
		e.Any("/*", echov5.WrapHandler(rest))
		return std(e), nil // echo.StartConfig makes the same http.Server
	case "gin":
		gin.SetMode(gin.ReleaseMode)
		r := gin.New()
		r.GET("/events", ginadapter.Handler(ep))
		r.NoRoute(func(c *gin.Context) {
			c.Status(http.StatusOK) // Gin presets 404 for NoRoute; rest sets its own
			rest.ServeHTTP(c.Writer, c.Request)
		})
		return std(r), nil
	}
	return nil, validFramework(framework)
}
