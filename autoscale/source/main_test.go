package source_test

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is the tests' clock.
var t0 = time.Date(2025, 3, 7, 9, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return t0 }

func redisURL() string {
	return cmp.Or(os.Getenv("BOILER_TEST_REDIS_URL"), "redis://127.0.0.1:6379/0")
}

func postgresURL() string {
	return cmp.Or(os.Getenv("BOILER_TEST_POSTGRES_URL"), "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
}

// unreachable skips t (or fails it when BOILER_TEST_REQUIRE_SERVICES=1)
// because the service what is down.
func unreachable(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("BOILER_TEST_REQUIRE_SERVICES") == "1" {
		t.Fatalf("%s is unreachable and BOILER_TEST_REQUIRE_SERVICES=1: %v", what, err)
	}
	t.Skipf("%s is unreachable (set its BOILER_TEST_*_URL; BOILER_TEST_REQUIRE_SERVICES=1 fails instead): %v", what, err)
}

// randomName returns prefix followed by random hex.
func randomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// pingCtx bounds a reachability check.
func pingCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	t.Cleanup(cancel)
	return ctx
}
