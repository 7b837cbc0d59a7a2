package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/sqlite"
)

// runAutoscale runs `boiler autoscale args...` in this process with env as
// its whole environment, and returns its standard output and log.
func runAutoscale(ctx context.Context, env map[string]string, args ...string) (string, string, error) {
	var out, log bytes.Buffer
	cmd := newAutoscaleCmdEnv(func(k string) string { return env[k] })
	cmd.SetOut(&out)
	cmd.SetErr(&log)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	return out.String(), log.String(), err
}

func TestAutoscaleSimulate(t *testing.T) {
	t.Parallel()
	svg := filepath.Join(t.TempDir(), "burst.svg")
	out, _, err := runAutoscale(t.Context(), nil, "simulate", "--svg", svg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"email-burst: 12240 jobs", "worker-min", "fixed 1", "fixed 10", "100/worker, window 5m", "wrote " + svg} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	data, err := os.ReadFile(svg)
	if err != nil || !bytes.HasPrefix(data, []byte("<svg")) || bytes.Count(data, []byte("<polyline")) != 9 {
		t.Fatalf("svg: %v, %d bytes, %d polylines", err, len(data), bytes.Count(data, []byte("<polyline")))
	}

	csv := filepath.Join(t.TempDir(), "load.csv")
	if err := os.WriteFile(csv, []byte("seconds,count\n0,200\n600,50\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err = runAutoscale(t.Context(), nil, "simulate", "--csv", csv, "--min", "0", "--max", "3", "--boot", "0s")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, csv+": 250 jobs over 10m0s") || strings.Contains(out, "fixed 0") || !strings.Contains(out, "fixed 3") {
		t.Fatalf("csv output:\n%s", out)
	}
	if _, _, err := runAutoscale(t.Context(), nil, "simulate", "--scenario", "nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("unknown scenario: %v", err)
	}
}

// sqliteWithJobs makes a migrated SQLite store holding n available jobs
// per queue, and returns its URL.
func sqliteWithJobs(t *testing.T, jobs map[string]int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "boiler.db")
	st, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for q, n := range jobs {
		p := &store.JobInsertManyParams{Now: now}
		for range n {
			p.Jobs = append(p.Jobs, &store.JobInsertParams{Kind: "email", Queue: q, Args: json.RawMessage(`{}`), MaxAttempts: 3})
		}
		if _, err := st.JobInsertMany(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	return "sqlite://" + path
}

// TestAutoscaleOnceStoreToCommand: the store's named queues decide, the
// command sets the count.
func TestAutoscaleOnceStoreToCommand(t *testing.T) {
	t.Parallel()
	url := sqliteWithJobs(t, map[string]int{"high": 180, "default": 70, "low": 900})
	outFile := filepath.Join(t.TempDir(), "desired")
	args := []string{"--store", url, "--queues", "high,default", "--min", "1", "--max", "10",
		"--jobs-per-worker", "100", "--command", "echo $BOILER_CURRENT-$BOILER_DESIRED > " + outFile, "--once"}

	out, _, err := runAutoscale(t.Context(), nil, append(args, "--dry-run")...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "up 0 → 3 (dry run): backlog 250 at 100 per worker needs 3") {
		t.Fatalf("dry run output %q", out)
	}
	if _, err := os.Stat(outFile); !os.IsNotExist(err) {
		t.Fatalf("the dry run ran the command: %v", err)
	}

	out, log, err := runAutoscale(t.Context(), nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(outFile); string(got) != "0-3\n" {
		t.Fatalf("the command wrote %q, want 0-3 (output %q)", got, out)
	}
	for _, want := range []string{"autoscale decision", "action=up", "backlog=250", "desired=3", "process=worker"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q: %s", want, log)
		}
	}
}

// TestAutoscaleLoopRunsUntilCancelled runs the loop with a short interval
// until the command has run, then cancels it.
func TestAutoscaleLoopRunsUntilCancelled(t *testing.T) {
	t.Parallel()
	url := sqliteWithJobs(t, map[string]int{"default": 5})
	outFile := filepath.Join(t.TempDir(), "desired")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if data, _ := os.ReadFile(outFile); len(data) > 0 {
				cancel()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	_, log, err := runAutoscale(ctx, nil, "--store", url, "--max", "4", "--jobs-per-worker", "2",
		"--interval", "20ms", "--command", "echo $BOILER_DESIRED > "+outFile)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(outFile); string(got) != "3\n" {
		t.Fatalf("desired %q, want 3; log:\n%s", got, log)
	}
}

// TestAutoscaleOnceRedisToHeroku reads Redis lists (RQ keys) and sets the
// count on a fake of the Heroku API.
func TestAutoscaleOnceRedisToHeroku(t *testing.T) {
	t.Parallel()
	redisURL := cmp.Or(os.Getenv("BOILER_TEST_REDIS_URL"), "redis://127.0.0.1:6379/0")
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx := t.Context()
	if err := rdb.Ping(ctx).Err(); err != nil {
		if os.Getenv("BOILER_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("redis unreachable: %v", err)
		}
		t.Skipf("redis unreachable (set BOILER_TEST_REDIS_URL): %v", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	key := "boilertest:" + hex.EncodeToString(b) + ":rq:queue:default"
	defer rdb.Del(context.Background(), key)
	for i := range 35 {
		if err := rdb.RPush(ctx, key, fmt.Sprint(i)).Err(); err != nil {
			t.Fatal(err)
		}
	}

	var mu sync.Mutex
	var calls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		calls = append(calls, fmt.Sprintf("%s %s %s %s", r.Method, r.URL.Path, r.Header.Get("Authorization"), body))
		mu.Unlock()
		q := 2
		if r.Method == http.MethodPatch {
			var req struct{ Quantity int }
			_ = json.Unmarshal(body, &req)
			q = req.Quantity
		}
		fmt.Fprintf(w, `{"type":"worker","quantity":%d}`, q)
	}))
	defer srv.Close()

	env := map[string]string{"HEROKU_API_KEY": "secret-key", "REDIS_URL": redisURL}
	out, _, err := runAutoscale(ctx, env, "--redis-list", key, "--max", "5", "--jobs-per-worker", "10",
		"--heroku-app", "my-app", "--process", "worker", "--heroku-api-url", srv.URL, "--once")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "up 2 → 4") {
		t.Fatalf("output %q", out)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		"GET /apps/my-app/formation/worker Bearer secret-key ",
		`PATCH /apps/my-app/formation/worker Bearer secret-key {"quantity":4}`,
	}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Fatalf("API calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
}

// TestAutoscaleOnceSQLCount reads a delayed_job-like SQLite table.
func TestAutoscaleOnceSQLCount(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "app.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE delayed_jobs (id INTEGER PRIMARY KEY, locked_at TEXT)`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 42) INSERT INTO delayed_jobs (locked_at) SELECT NULL FROM n`,
		`INSERT INTO delayed_jobs (locked_at) VALUES ('2025-01-01')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	out, _, err := runAutoscale(t.Context(), map[string]string{"DATABASE_URL": "sqlite://" + path},
		"--sql", "SELECT count(*) FROM delayed_jobs WHERE locked_at IS NULL", "--max", "9",
		"--command", "true", "--count-command", "echo 1", "--once", "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "up 1 → 5 (dry run): backlog 42 at 10 per worker needs 5") {
		t.Fatalf("output %q", out)
	}
}

func TestAutoscaleFlagErrors(t *testing.T) {
	t.Parallel()
	url := sqliteWithJobs(t, nil)
	env := map[string]string{}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--store", url, "--command", "true"}, "--max is required"},
		{[]string{"--store", url, "--max", "2"}, "choose a target"},
		{[]string{"--store", url, "--max", "2", "--command", "true", "--heroku-app", "a"}, "choose one target"},
		{[]string{"--store", url, "--redis-list", "q", "--max", "2", "--command", "true"}, "choose one source"},
		{[]string{"--store", url, "--max", "2", "--heroku-app", "a"}, "HEROKU_API_KEY"},
		{[]string{"--sql", "SELECT 1", "--sql-url", "mysql://x", "--max", "2", "--command", "true"}, `scheme "mysql"`},
		{[]string{"--sql", "SELECT 1", "--max", "2", "--command", "true"}, "--sql-url or DATABASE_URL"},
		{[]string{"--redis-list", "q", "--queues", "high", "--max", "2", "--command", "true"}, "--queues applies to the store"},
		{[]string{"--store", url, "--max", "2", "--min", "3", "--command", "true"}, "Max (2) is below Min (3)"},
		{[]string{"--store", url, "--max", "2", "--window", "-1s", "--command", "true"}, "must not be negative"},
		{[]string{"--store", url, "--max", "2", "--jobs-per-worker", "0", "--command", "true"}, "--jobs-per-worker"},
	} {
		_, _, err := runAutoscale(t.Context(), env, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}
