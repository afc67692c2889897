package fiberadapter

import (
	"fmt"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ssekit/ssekit/internal/tracker"
	"github.com/ssekit/ssekit/lifecycle"
)

// ShutdownWait bounds how long app.Shutdown waits for the handlers of the
// sessions it ends; a handler that ignores Session.Done could otherwise hold
// the shutdown forever.
const ShutdownWait = 30 * time.Second

// appRegistry tracks the streams of each Fiber app a handler serves, so that
// the app's shutdown can end them: fasthttp stops tracking a connection once
// it is hijacked, so its Shutdown neither waits for nor ends a stream.
type appRegistry struct {
	mu   sync.Mutex
	apps map[*fiber.App]*appStreams
}

// forApp returns the streams of app, registering an OnShutdown hook the
// first time. Fiber runs OnShutdown hooks inside app.Shutdown* after the
// server has stopped accepting, before returning.
func (r *appRegistry) forApp(app *fiber.App, ep *lifecycle.Endpoint) *appStreams {
	r.mu.Lock()
	if a, ok := r.apps[app]; ok {
		r.mu.Unlock()
		return a
	}
	if r.apps == nil {
		r.apps = make(map[*fiber.App]*appStreams)
	}
	a := &appStreams{}
	r.apps[app] = a
	r.mu.Unlock()

	app.Hooks().OnShutdown(func() error {
		r.mu.Lock()
		delete(r.apps, app) // an app that listens again starts afresh
		r.mu.Unlock()
		return a.shutdown(ep)
	})
	return a
}

// appStreams is the set of one app's open streams.
type appStreams struct {
	tracker.Set[*stream]
}

// shutdown ends every open stream with lifecycle.ErrShutdown and waits, up
// to ShutdownWait, for their handlers to return.
func (a *appStreams) shutdown(ep *lifecycle.Endpoint) error {
	open, drained := a.Close()
	for _, st := range open {
		st.cancel(lifecycle.ErrShutdown)
	}
	timer := time.NewTimer(ShutdownWait)
	defer timer.Stop()
	select {
	case <-drained:
		return nil
	case <-timer.C:
		err := fmt.Errorf("fiberadapter: SSE handlers still running %v after shutdown ended their sessions", ShutdownWait)
		ep.Options().Logger.Error(err.Error())
		return err
	}
}
