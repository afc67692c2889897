package redisbackend_test

import (
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssekit/ssekit/hub"
	"github.com/ssekit/ssekit/hub/redisbackend"
	"github.com/ssekit/ssekit/lifecycle"
)

// Every instance of the server runs this; they share one log in Redis, so a
// client may reconnect to any of them and resume where it left off.
func Example() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	h := hub.New(redisbackend.New(rdb, redisbackend.Options{
		Prefix:    "myapp:events",
		Retention: hub.Retention{MaxLen: 10000, MaxAge: time.Hour},
	}), hub.Options{})
	defer h.Close()

	ep := lifecycle.NewEndpoint(func(s *lifecycle.Session) error {
		return h.Serve(s, "notifications")
	}, lifecycle.Options{})
	_ = ep // mount with any adapter
}
