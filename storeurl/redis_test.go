package storeurl

import (
	"cmp"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/redis"
)

// TestOpenRedis opens the test Redis with a key prefix from the URL, and
// checks that a bad parameter is refused without showing the password.
func TestOpenRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, err := Open(ctx, "redis://:hunter2@127.0.0.1:6379/0?bogus=1")
	if err == nil || !strings.Contains(err.Error(), "bogus") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Open with an unknown parameter: %v; want an error naming it, without the password", err)
	}

	base := cmp.Or(os.Getenv("BOILER_TEST_REDIS_URL"), "redis://127.0.0.1:6379/0")
	prefix := "boilertest:storeurl:" + time.Now().Format("150405.000000") + ":"
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	s, err := Open(ctx, base+sep+"boiler_prefix="+prefix)
	if err != nil {
		if os.Getenv("BOILER_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("opening the test Redis: %v", err)
		}
		t.Skipf("redis unreachable (set BOILER_TEST_REDIS_URL): %v", err)
	}
	defer s.Close()
	rs, ok := s.(*redis.Store)
	if !ok {
		t.Fatalf("Open returned %T, want *redis.Store", s)
	}
	if rs.Prefix() != prefix {
		t.Errorf("prefix = %q, want %q from boiler_prefix", rs.Prefix(), prefix)
	}
	// An empty prefix has no keys: nothing to clean up.
	stats, err := s.QueueStats(ctx, &store.QueueStatsParams{Now: time.Now()})
	if err != nil || len(stats) != 0 {
		t.Errorf("QueueStats on a fresh prefix = %v, %v", stats, err)
	}
}
