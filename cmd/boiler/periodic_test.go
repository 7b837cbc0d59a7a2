package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/storeurl"
)

// requireService skips t when a service is unreachable, or fails it when
// BOILER_TEST_REQUIRE_SERVICES=1.
func requireService(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("BOILER_TEST_REQUIRE_SERVICES") == "1" {
		t.Fatalf("%s is unreachable and BOILER_TEST_REQUIRE_SERVICES=1: %v", what, err)
	}
	t.Skipf("%s is unreachable: %v", what, err)
}

func randomHex(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// postgresStore returns the URL of a fresh schema on the test PostgreSQL
// (BOILER_TEST_POSTGRES_URL), dropped when t ends.
func postgresStore(t *testing.T) string {
	t.Helper()
	base := cmp.Or(os.Getenv("BOILER_TEST_POSTGRES_URL"), "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err == nil {
		err = conn.Ping(ctx)
		conn.Close(ctx)
	}
	requireService(t, "PostgreSQL", err)
	schema := "boiler_test_" + randomHex(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("boiler_schema", schema)
	u.RawQuery = q.Encode()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	return u.String()
}

// redisStore returns the URL of a fresh key prefix on the test Redis
// (BOILER_TEST_REDIS_URL), whose keys are deleted when t ends.
func redisStore(t *testing.T) string {
	t.Helper()
	base := cmp.Or(os.Getenv("BOILER_TEST_REDIS_URL"), "redis://127.0.0.1:6379/0")
	opts, err := goredis.ParseURL(base)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := goredis.NewClient(opts)
	requireService(t, "Redis", c.Ping(ctx).Err())
	c.Close()
	prefix := "boilertest:" + randomHex(t) + ":"
	t.Cleanup(func() {
		c := goredis.NewClient(opts)
		defer c.Close()
		ctx := context.Background()
		keys, err := c.Keys(ctx, prefix+"*").Result()
		if err == nil && len(keys) > 0 {
			err = c.Del(ctx, keys...).Err()
		}
		if err != nil {
			t.Errorf("deleting the keys of %s: %v", prefix, err)
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "boiler_prefix=" + url.QueryEscape(prefix)
}

func TestPeriodicLineErrors(t *testing.T) {
	t.Parallel()
	url := tempStore(t)
	for _, tc := range []struct{ line, want string }{
		{`@every 10m`, `--periodic "@every 10m": no job kind after the schedule "@every 10m"`},
		{`every 10m sleep`, `--periodic "every 10m sleep": schedule "every 10m sleep`},
		{`@every 10m sleep {"ms":`, `--periodic "@every 10m sleep {\"ms\":": the args of sleep are not valid JSON`},
		{`queue=a/b @daily noop`, `--periodic "queue=a/b @daily noop": Queue: queue name "a/b"`},
		{`when=now @daily noop`, `unknown option "when="`},
	} {
		_, _, err := runCmd(t, "", "work", "--store", url, "--periodic", `@hourly noop`, "--periodic", tc.line)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--periodic %q: error %v, want one containing %q", tc.line, err, tc.want)
		}
	}
	_, _, err := runCmd(t, "", "work", "--store", url, "--periodic", "@daily noop", "--periodic", "@hourly noop")
	if err == nil || !strings.Contains(err.Error(), `both named "noop"`) {
		t.Errorf("two lines with the same default name: %v", err)
	}
}

func TestPeriodicAddListDelete(t *testing.T) {
	t.Parallel()
	url := tempStore(t)
	out := mustRun(t, "periodic", "add", "--store", url, `@every 10m sleep {"ms": 5}`)
	if !strings.HasPrefix(out, `periodic job sleep-`) || !strings.Contains(out, `@every 10m sleep {"ms":5} (next tick `) {
		t.Fatalf("add: %q", out)
	}
	// Several words, the shell's way.
	mustRun(t, "periodic", "add", "--store", url, "name=nightly", "catchup=skip", "queue=low", "0", "3", "*", "*", "*", "noop")
	table := mustRun(t, "periodic", "list", "--store", url)
	for _, want := range []string{"NAME", "NEXT TICK", "nightly ", "0 3 * * *", "low", "skip", "cli", `{"ms":5}`} {
		if !strings.Contains(table, want) {
			t.Errorf("list lacks %q:\n%s", want, table)
		}
	}
	var listed struct{ Periodic []*store.PeriodicJob }
	if err := json.Unmarshal([]byte(mustRun(t, "periodic", "list", "--store", url, "--json")), &listed); err != nil {
		t.Fatal(err)
	}
	if len(listed.Periodic) != 2 || listed.Periodic[0].Name != "nightly" || listed.Periodic[0].CatchUp != store.CatchUpSkip {
		t.Fatalf("list --json: %+v", listed.Periodic)
	}
	if out := mustRun(t, "periodic", "delete", "--store", url, "nightly"); out != "deleted periodic job nightly\n" {
		t.Fatalf("delete: %q", out)
	}
	if _, _, err := runCmd(t, "", "periodic", "delete", "--store", url, "nightly"); err == nil || !strings.Contains(err.Error(), `no periodic job named "nightly"`) {
		t.Fatalf("deleting twice: %v", err)
	}
	if _, _, err := runCmd(t, "", "periodic", "add", "--store", url, "@every 1ms noop"); err == nil || !strings.Contains(err.Error(), "at least 1s") {
		t.Fatalf("bad line: %v", err)
	}
}

// periodicWorker is one `boiler work --periodic` process.
type periodicWorker struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done <-chan error
}

// TestPeriodicExactlyOnceAcrossProcesses runs three `boiler work
// --periodic '@every 1s noop {}'` on one store: each tick is enqueued
// exactly once; after a SIGKILL of the leader, another takes over once the
// lease expires and the ticks go on, each once, with no gap (late ticks
// within a minute count as on time).
func TestPeriodicExactlyOnceAcrossProcesses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", tempStore},
		{"postgres", postgresStore},
		{"redis", redisStore},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testPeriodicExactlyOnce(t, tc.url(t))
		})
	}
}

func testPeriodicExactlyOnce(t *testing.T, url string) {
	ctx := context.Background()
	s, err := storeurl.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	workers := make(map[int]*periodicWorker) // by pid
	for range 3 {
		cmd, out, done := startWorker(t, "--store", url, "--periodic", "@every 1s noop {}", "--leader-lease", "2s", "--concurrency", "4")
		workers[cmd.Process.Pid] = &periodicWorker{cmd, out, done}
	}
	logs := func() string {
		var b strings.Builder
		for pid, w := range workers {
			fmt.Fprintf(&b, "--- worker pid %d:\n%s", pid, w.out.String())
		}
		return b.String()
	}
	// leader waits for the registry to show exactly one leader among the
	// live processes, and returns its pid.
	leader := func(what string, live func(pid int) bool) int {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			list, err := s.WorkerList(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var leaders []int
			n := 0
			for _, w := range list {
				if live(w.PID) {
					n++
					if w.Leader {
						leaders = append(leaders, w.PID)
					}
				}
			}
			if len(leaders) == 1 && n >= 2 {
				return leaders[0]
			}
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s: registry %+v\n%s", what, list, logs())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	alive := map[int]bool{}
	for pid := range workers {
		alive[pid] = true
	}
	first := leader("a leader among three workers", func(pid int) bool { return alive[pid] })

	// ticks reads the enqueued ticks, sorted, and fails on a duplicate.
	ticks := func() []time.Time {
		t.Helper()
		jobs, err := s.JobList(ctx, &store.JobListParams{Kind: "noop", Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var out []time.Time
		seen := map[string]bool{}
		for _, j := range jobs {
			raw, ok := strings.CutPrefix(j.UniqueKey, "periodic:noop:")
			if !ok {
				t.Fatalf("job %d has the unique key %q", j.ID, j.UniqueKey)
			}
			if seen[raw] {
				t.Fatalf("tick %s enqueued twice\n%s", raw, logs())
			}
			seen[raw] = true
			tick, err := time.Parse(time.RFC3339Nano, raw)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, tick)
		}
		slices.SortFunc(out, time.Time.Compare)
		return out
	}
	// waitTicks waits until n ticks after since were enqueued.
	waitTicks := func(since time.Time, n int) []time.Time {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			all := ticks()
			after := 0
			for _, tick := range all {
				if tick.After(since) {
					after++
				}
			}
			if after >= n {
				return all
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d ticks after %s within 30 s, want %d: %v\n%s", after, since.Format(time.RFC3339Nano), n, all, logs())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	contiguous := func(all []time.Time) {
		t.Helper()
		for i := 1; i < len(all); i++ {
			if d := all[i].Sub(all[i-1]); d != time.Second {
				t.Fatalf("ticks %s and %s are %s apart, want each tick once: %v\n%s",
					all[i-1].Format(time.RFC3339), all[i].Format(time.RFC3339), d, all, logs())
			}
		}
	}

	contiguous(waitTicks(time.Now(), 5))

	// Kill the leader without warning: no resignation, its lease must
	// expire (2 s).
	killedAt := time.Now()
	if err := workers[first].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-workers[first].done
	alive[first] = false
	second := leader("a new leader after the SIGKILL", func(pid int) bool { return alive[pid] })
	if second == first {
		t.Fatal("the killed worker is still the leader")
	}
	t.Logf("leader %d killed; %d leads %s later", first, second, time.Since(killedAt).Round(time.Millisecond))
	all := waitTicks(time.Now(), 4)
	contiguous(all)
	t.Logf("%d ticks, each once, from %s to %s", len(all), all[0].Format(time.TimeOnly), all[len(all)-1].Format(time.TimeOnly))
	if !all[len(all)-1].After(killedAt.Add(3 * time.Second)) {
		t.Fatalf("no tick after the failover: %v", all)
	}

	// The others stop cleanly and leave the registry; the killed one's
	// entry stays until it is stale.
	for pid, w := range workers {
		if alive[pid] {
			if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		}
	}
	for pid, w := range workers {
		if alive[pid] {
			waitExit(t, w.done, w.out, 30*time.Second)
		}
	}
	list, err := s.WorkerList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].PID != first {
		var entries []string
		for _, w := range list {
			entries = append(entries, fmt.Sprintf("%+v", *w))
		}
		t.Fatalf("registry after the clean stops: %v, want only the killed worker %d\n%s", entries, first, logs())
	}
	if out := logs(); strings.Contains(out, "two schedulers fired the same tick") {
		t.Fatalf("a unique key caught a second firing (the store's LastTick guard failed):\n%s", out)
	}
}
