package redis

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testURL is the Redis the tests use.
func testURL() string {
	return cmp.Or(os.Getenv("BOILER_TEST_REDIS_URL"), "redis://127.0.0.1:6379/0")
}

// reachable pings the test Redis once per test binary.
var reachable = sync.OnceValue(func() error {
	opts, err := goredis.ParseURL(testURL())
	if err != nil {
		return err
	}
	c := goredis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.Ping(ctx).Err()
})

// requireRedis skips the test when Redis is unreachable, or fails it when
// BOILER_TEST_REQUIRE_SERVICES=1.
func requireRedis(t testing.TB) {
	t.Helper()
	if err := reachable(); err != nil {
		if os.Getenv("BOILER_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("redis at %s is unreachable and BOILER_TEST_REQUIRE_SERVICES=1: %v", testURL(), err)
		}
		t.Skipf("redis at %s is unreachable (set BOILER_TEST_REDIS_URL): %v", testURL(), err)
	}
}

// testPrefix returns a fresh key prefix and deletes its keys when the test
// ends.
func testPrefix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "boilertest:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() { deleteKeys(t, prefix) })
	return prefix
}

// deleteKeys deletes every key that starts with prefix (SCAN + DEL).
func deleteKeys(t testing.TB, prefix string) {
	t.Helper()
	opts, err := goredis.ParseURL(testURL())
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	c := goredis.NewClient(opts)
	defer c.Close()
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 1000 {
			if err := c.Unlink(ctx, keys...).Err(); err != nil {
				t.Errorf("cleanup: %v", err)
			}
			keys = keys[:0]
		}
	}
	if err := iter.Err(); err != nil {
		t.Errorf("cleanup: scanning %s*: %v", prefix, err)
	}
	if len(keys) > 0 {
		if err := c.Unlink(ctx, keys...).Err(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
}

// openStore opens a Store on a fresh prefix, closed when the test ends.
func openStore(t testing.TB) *Store {
	t.Helper()
	requireRedis(t)
	return openStoreWithPrefix(t, testPrefix(t), "")
}

// openStoreWithPrefix opens a Store with its own connection on prefix;
// query is added to the URL.
func openStoreWithPrefix(t testing.TB, prefix, query string) *Store {
	t.Helper()
	s, err := Open(context.Background(), withQuery(testURL(), query), &Options{Prefix: prefix})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

// withQuery adds query parameters to a URL.
func withQuery(u, query string) string {
	switch {
	case query == "":
		return u
	case strings.Contains(u, "?"):
		return u + "&" + query
	default:
		return u + "?" + query
	}
}
