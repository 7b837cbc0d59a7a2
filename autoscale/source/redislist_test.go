package source_test

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/doubleboiler/boiler/autoscale/source"
)

// redisClient connects to the test Redis and returns a random key prefix
// whose keys are deleted when the test ends.
func redisClient(t *testing.T) (*redis.Client, string) {
	t.Helper()
	opts, err := redis.ParseURL(redisURL())
	if err != nil {
		t.Fatalf("BOILER_TEST_REDIS_URL: %v", err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Ping(pingCtx(t)).Err(); err != nil {
		unreachable(t, "Redis at "+redisURL(), err)
	}
	prefix := randomName("boilertest:autoscale:") + ":"
	t.Cleanup(func() { // before the Close above: cleanups run last first
		ctx := context.Background()
		if keys, _ := rdb.Keys(ctx, prefix+"*").Result(); len(keys) > 0 {
			_ = rdb.Del(ctx, keys...).Err()
		}
	})
	return rdb, prefix
}

func TestRedisListSumsLengths(t *testing.T) {
	t.Parallel()
	rdb, p := redisClient(t)
	ctx := t.Context()
	// RQ pushes job ids on the right of rq:queue:<name>; Celery on the left
	// of a list named after the queue.
	if err := rdb.RPush(ctx, p+"rq:queue:high", "a", "b", "c").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.LPush(ctx, p+"celery", "1", "2", "3", "4", "5").Err(); err != nil {
		t.Fatal(err)
	}
	src, err := source.NewRedisList(rdb, source.RedisListOptions{
		Keys: []string{p + "rq:queue:high", p + "celery", p + "rq:queue:absent"}, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	m, err := src.Backlog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Backlog != 8 || m.OldestAge != 0 || !m.ReadAt.Equal(t0) {
		t.Fatalf("metric %+v, want backlog 8, no age, read at t0", m)
	}
	// A worker pops: the next reading follows.
	if err := rdb.LPop(ctx, p+"rq:queue:high").Err(); err != nil {
		t.Fatal(err)
	}
	if m, _ = src.Backlog(ctx); m.Backlog != 7 {
		t.Fatalf("after a pop: backlog %d, want 7", m.Backlog)
	}
}

func TestRedisListErrors(t *testing.T) {
	t.Parallel()
	rdb, p := redisClient(t)
	if _, err := source.NewRedisList(rdb, source.RedisListOptions{}); err == nil || !strings.Contains(err.Error(), "Keys") {
		t.Fatalf("no keys: %v", err)
	}
	if _, err := source.NewRedisList(rdb, source.RedisListOptions{Keys: []string{"a", ""}}); err == nil || !strings.Contains(err.Error(), "key 2") {
		t.Fatalf("empty key: %v", err)
	}
	if _, err := source.NewRedisList(nil, source.RedisListOptions{Keys: []string{"a"}}); err == nil {
		t.Fatal("nil client: no error")
	}
	// A key of another type (a Sidekiq set, a mistake) names the key.
	if err := rdb.Set(t.Context(), p+"string", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	src, _ := source.NewRedisList(rdb, source.RedisListOptions{Keys: []string{p + "list", p + "string"}})
	if _, err := src.Backlog(t.Context()); err == nil || !strings.Contains(err.Error(), p+"string") || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("wrong type: %v", err)
	}
	// An unreachable server is an error, never a backlog of 0.
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer down.Close()
	src, _ = source.NewRedisList(down, source.RedisListOptions{Keys: []string{"q"}})
	if _, err := src.Backlog(t.Context()); err == nil {
		t.Fatal("unreachable redis: no error")
	}
}
