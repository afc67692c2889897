package redisbackend_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ssekit/ssekit/hub/redisbackend"
	"github.com/ssekit/ssekit/internal/redistest"
)

// wiper is a Backend whose keys a test can delete, as a Redis flushed,
// and whose Redis (with RDB persistence) can be rolled back to a snapshot:
// a hubtest.Wiper and hubtest.Rollbacker.
type wiper struct {
	*redisbackend.Backend
	srv    *redistest.Server
	rdb    *redis.Client
	prefix string
}

func (w wiper) Snapshot(t *testing.T) {
	if err := w.rdb.Save(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
}

func (w wiper) Rollback(t *testing.T) {
	w.srv.Kill()
	w.srv.Restart(t)
}

func (w wiper) Wipe(t *testing.T) {
	ctx := context.Background()
	keys, err := w.rdb.Keys(ctx, "{"+w.prefix+"}:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) > 0 {
		if err := w.rdb.Del(ctx, keys...).Err(); err != nil {
			t.Fatal(err)
		}
	}
}
