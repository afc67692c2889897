package redisbackend_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ssekit/ssekit/hub/redisbackend"
)

// wiper is a Backend whose keys a test can delete, as a Redis flushed.
type wiper struct {
	*redisbackend.Backend
	rdb    *redis.Client
	prefix string
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
