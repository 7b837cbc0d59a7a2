package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/doubleboiler/boiler/store/postgres"
)

// boilerBin is the boiler binary the multi-process tests run, built once
// by TestMain; boilerBuildErr says why it could not be built.
var boilerBin, boilerBuildErr = "", error(nil)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

// runTests builds the boiler binary, runs the tests and checks that no
// goroutine outlived them.
func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "boiler-postgres-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	boilerBin = filepath.Join(dir, "boiler")
	out, err := exec.Command("go", "build", "-o", boilerBin, "github.com/doubleboiler/boiler/cmd/boiler").CombinedOutput()
	if err != nil {
		boilerBuildErr = fmt.Errorf("go build ./cmd/boiler: %v\n%s", err, out)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	return code
}

// testURL is the server the tests use: BOILER_TEST_POSTGRES_URL, or the
// development machines' local PostgreSQL.
func testURL() string {
	if u := os.Getenv("BOILER_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// requirePostgres skips t when the server is unreachable, or fails it
// when BOILER_TEST_REQUIRE_SERVICES=1 (CI).
func requirePostgres(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testURL())
	if err == nil {
		err = conn.Ping(ctx)
		conn.Close(ctx)
	}
	if err == nil {
		return
	}
	if os.Getenv("BOILER_TEST_REQUIRE_SERVICES") == "1" {
		t.Fatalf("PostgreSQL at BOILER_TEST_POSTGRES_URL (or the default) is required: %v", err)
	}
	t.Skipf("PostgreSQL unreachable (set BOILER_TEST_POSTGRES_URL; BOILER_TEST_REQUIRE_SERVICES=1 fails instead): %v", err)
}

// testDB is one test's isolated database: a fresh schema, and an
// application_name shared by every connection of the test so the test can
// terminate them.
type testDB struct {
	Schema  string
	AppName string
	URL     string // the server URL with application_name and boiler_schema set
}

// newTestDB makes a schema name for t and drops the schema when t ends.
func newTestDB(t testing.TB) *testDB {
	t.Helper()
	requirePostgres(t)
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	db := &testDB{Schema: "boiler_test_" + hex.EncodeToString(b)}
	db.AppName = db.Schema
	u, err := url.Parse(testURL())
	if err != nil {
		t.Fatalf("parsing BOILER_TEST_POSTGRES_URL: %v", err)
	}
	q := u.Query()
	q.Set("application_name", db.AppName)
	q.Set(postgres.SchemaParam, db.Schema)
	u.RawQuery = q.Encode()
	db.URL = u.String()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, testURL())
		if err != nil {
			t.Errorf("dropping schema %s: %v", db.Schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{db.Schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", db.Schema, err)
		}
	})
	return db
}

// newTestStore opens a migrated store in a fresh schema, closed when t
// ends.
func newTestStore(t testing.TB) (*postgres.Store, *testDB) {
	t.Helper()
	db := newTestDB(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, db.URL, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s, db
}

// terminate ends every server connection of the test's application name,
// as a server restart would, and returns how many it ended.
func (db *testDB) terminate(t testing.TB) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`,
		db.AppName).Scan(&n)
	if err != nil {
		t.Fatalf("terminating connections: %v", err)
	}
	return n
}
