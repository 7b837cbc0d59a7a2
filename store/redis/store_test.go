package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// t0 is the tests' clock: every store call takes its time from the caller.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

func job(queue string, prio int, runAt time.Time) *store.JobInsertParams {
	return &store.JobInsertParams{
		Kind: "noop", Queue: queue, Priority: prio, Args: json.RawMessage(`{}`),
		MaxAttempts: 3, RunAt: runAt,
	}
}

func insert(t *testing.T, s *Store, now time.Time, jobs ...*store.JobInsertParams) []*store.Job {
	t.Helper()
	res, err := s.JobInsertMany(context.Background(), &store.JobInsertManyParams{Jobs: jobs, Now: now})
	if err != nil {
		t.Fatalf("JobInsertMany: %v", err)
	}
	out := make([]*store.Job, len(res))
	for i, r := range res {
		out[i] = r.Job
	}
	return out
}

func fetch(t *testing.T, s *Store, now time.Time, limit int, queues ...string) []*store.Job {
	t.Helper()
	jobs, err := s.JobFetch(context.Background(), &store.JobFetchParams{
		Queues: queues, Limit: limit, Owner: "w1", Now: now, LeaseExpiresAt: now.Add(30 * time.Second),
	})
	if err != nil {
		t.Fatalf("JobFetch: %v", err)
	}
	return jobs
}

func ids(jobs []*store.Job) []int64 {
	out := make([]int64, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

// The available set's score and member encode the whole order of the
// contract: queues in order, priority descending, RunAt, ID; and due
// scheduled jobs are eligible at once.
func TestFetchOrder(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	a := insert(t, s, t0,
		job("q1", 0, t0),                     // 0
		job("q1", 5, t0),                     // 1
		job("q1", 5, t0),                     // 2: same priority and RunAt as 1: by ID
		job("q1", 0, t0.Add(time.Minute)),    // 3: scheduled, due at fetch time, priority 0
		job("q1", 5, t0.Add(30*time.Second)), // 4: scheduled, due, priority 5: after 1 and 2 (later RunAt)
		job("q2", 9, t0),                     // 5: other queue, high priority: after all of q1
		job("q1", 9, t0.Add(time.Hour)),      // 6: not due
		job("q1", -3, t0),                    // 7: negative priority: last of q1
	)
	got := ids(fetch(t, s, t0.Add(2*time.Minute), 100, "q1", "q2"))
	want := []int64{a[1].ID, a[2].ID, a[4].ID, a[0].ID, a[3].ID, a[7].ID, a[5].ID}
	if !slices.Equal(got, want) {
		t.Fatalf("fetch order = %v, want %v", got, want)
	}
}

// Scheduled and retryable jobs keep their state until fetched, even once
// the fetch script has moved them to the available set.
func TestPromotedJobKeepsItsStateUntilFetched(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	jobs := insert(t, s, t0, job("q", 0, t0), job("q", 0, t0.Add(time.Second)))
	later := t0.Add(time.Minute)
	if got := fetch(t, s, later, 1, "q"); len(got) != 1 || got[0].ID != jobs[0].ID {
		t.Fatalf("fetched %v, want job %d", ids(got), jobs[0].ID)
	}
	j, err := s.JobGet(ctx, jobs[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != store.StateScheduled {
		t.Errorf("due, promoted job state = %s, want scheduled", j.State)
	}
	stats, err := s.QueueStats(ctx, &store.QueueStatsParams{Now: later})
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 1 || stats[0].Counts[store.StateAvailable] != 1 || stats[0].Counts[store.StateScheduled] != 0 {
		t.Errorf("stats = %+v, want 1 available, 0 scheduled", stats[0])
	}
	if want := t0.Add(time.Second); !stats[0].OldestAvailableAt.Equal(want) {
		t.Errorf("OldestAvailableAt = %v, want %v", stats[0].OldestAvailableAt, want)
	}
	listed, err := s.JobList(ctx, &store.JobListParams{States: []store.State{store.StateScheduled}, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0].ID != jobs[1].ID {
		t.Errorf("scheduled jobs = %v, want [%d]", ids(listed), jobs[1].ID)
	}
	// Cancelling it removes it from the available set too.
	if _, err := s.JobCancel(ctx, &store.JobCancelParams{ID: jobs[1].ID, Now: later}); err != nil {
		t.Fatal(err)
	}
	if got := fetch(t, s, later, 10, "q"); len(got) != 0 {
		t.Errorf("fetched cancelled job %v", ids(got))
	}
}

// A fetch of more than fetchInline jobs returns ids and reads the jobs in
// a pipeline; both paths must show the same, new state.
func TestFetchBothReplyShapesShowTheNewState(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	for _, n := range []int{fetchInline, fetchInline + 1, 50} {
		params := make([]*store.JobInsertParams, n)
		for i := range params {
			params[i] = job("q", 0, t0)
			params[i].Args = json.RawMessage(fmt.Sprintf(`{"n":%d,"i":%d}`, n, i))
			params[i].Timeout = time.Duration(i) * time.Second
		}
		inserted := insert(t, s, t0, params...)
		now := t0.Add(time.Second)
		got, err := s.JobFetch(ctx, &store.JobFetchParams{
			Queues: []string{"q"}, Limit: n, Owner: "w9", Now: now, LeaseExpiresAt: now.Add(time.Minute),
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n {
			t.Fatalf("fetch of %d returned %d jobs", n, len(got))
		}
		for i, j := range got {
			want := *inserted[i]
			want.State, want.Attempt, want.AttemptedAt = store.StateRunning, 1, now
			want.LeaseOwner, want.LeaseExpiresAt = "w9", now.Add(time.Minute)
			if !reflect.DeepEqual(j, &want) {
				t.Fatalf("fetch of %d, job %d:\n got %+v\nwant %+v", n, i, j, &want)
			}
			stored, err := s.JobGet(ctx, j.ID)
			if err != nil || !reflect.DeepEqual(stored, j) {
				t.Fatalf("JobGet(%d) = %+v, %v; want what the fetch returned", j.ID, stored, err)
			}
		}
	}
}

// Every fetch is one script, so concurrent fetchers never share a job.
func TestConcurrentFetchersNeverShareAJob(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	const n, fetchers = 3000, 8
	params := make([]*store.JobInsertParams, n)
	for i := range params {
		params[i] = job("q", i%7, t0.Add(time.Duration(i%5)*time.Second))
	}
	insert(t, s, t0, params...)
	var mu sync.Mutex
	seen := make(map[int64]int)
	var wg sync.WaitGroup
	for w := range fetchers {
		wg.Go(func() {
			for {
				// Odd fetchers take small batches (returned whole), even
				// ones big batches (ids, read in a pipeline).
				jobs, err := s.JobFetch(context.Background(), &store.JobFetchParams{
					Queues: []string{"q"}, Limit: 7 + 40*(w%2), Owner: fmt.Sprintf("w%d", w),
					Now: t0.Add(time.Minute), LeaseExpiresAt: t0.Add(2 * time.Minute),
				})
				if err != nil {
					t.Errorf("JobFetch: %v", err)
					return
				}
				if len(jobs) == 0 {
					return
				}
				mu.Lock()
				for _, j := range jobs {
					seen[j.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("fetched %d distinct jobs, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("job %d fetched %d times", id, c)
		}
	}
}

// Two stores on one Redis with different prefixes see nothing of each
// other.
func TestPrefixIsolation(t *testing.T) {
	t.Parallel()
	requireRedis(t)
	a := openStoreWithPrefix(t, testPrefix(t), "")
	b := openStoreWithPrefix(t, testPrefix(t), "")
	ctx := context.Background()
	insert(t, a, t0, job("default", 0, t0))
	if err := a.QueuePause(ctx, "paused"); err != nil {
		t.Fatal(err)
	}
	if got := fetch(t, b, t0, 10, "default"); len(got) != 0 {
		t.Errorf("store b fetched %v from store a", ids(got))
	}
	stats, err := b.QueueStats(ctx, &store.QueueStatsParams{Now: t0})
	if err != nil || len(stats) != 0 {
		t.Errorf("store b stats = %v, %v; want none", stats, err)
	}
	list, err := b.JobList(ctx, &store.JobListParams{Limit: 10})
	if err != nil || len(list) != 0 {
		t.Errorf("store b lists %v, %v; want none", ids(list), err)
	}
	if got := fetch(t, a, t0, 10, "default"); len(got) != 1 {
		t.Errorf("store a fetched %d jobs, want 1", len(got))
	}
}

// An insert through one connection wakes a listener of another store on
// the same prefix, and only there.
func TestListenInsertsAcrossStores(t *testing.T) {
	t.Parallel()
	requireRedis(t)
	prefix := testPrefix(t)
	listener := openStoreWithPrefix(t, prefix, "")
	inserter := openStoreWithPrefix(t, prefix, "")
	other := openStoreWithPrefix(t, testPrefix(t), "")
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := listener.ListenInserts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ch2, err := listener.ListenInserts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	insert(t, other, t0, job("elsewhere", 0, t0))
	insert(t, inserter, t0, job("mail", 0, t0), job("mail", 0, t0))
	for _, c := range []<-chan string{ch, ch2} {
		select {
		case q := <-c:
			if q != "mail" {
				t.Errorf("woke for queue %q, want mail (the other prefix's insert leaked)", q)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no wake-up within 5s")
		}
	}
	// A scheduled job wakes nobody: it is not fetchable yet.
	insert(t, inserter, t0, job("later", 0, t0.Add(time.Hour)))
	insert(t, inserter, t0, job("now", 0, t0))
	if q := <-ch; q != "now" {
		t.Errorf("woke for queue %q, want now", q)
	}
	cancel()
	for _, c := range []<-chan string{ch, ch2} {
		for range c { // drained, then closed
		}
	}
}

// Closing the store closes its listeners' channels.
func TestCloseEndsListeners(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ch, err := s.ListenInserts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("received a wake-up, want the channel closed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel still open 5s after Close")
	}
	if _, err := s.ListenInserts(context.Background()); err == nil {
		t.Fatal("ListenInserts after Close succeeded")
	}
}

// After Redis drops the store's connections (CLIENT KILL of this test's
// own connections only), calls succeed again and the subscription comes
// back by itself.
func TestReconnectAfterClientKill(t *testing.T) {
	t.Parallel()
	requireRedis(t)
	name := "boilertest-" + strings.TrimSuffix(strings.TrimPrefix(testPrefix(t), "boilertest:"), ":")
	prefix := testPrefix(t)
	s := openStoreWithPrefix(t, prefix, "client_name="+name)
	inserter := openStoreWithPrefix(t, prefix, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := s.ListenInserts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	insert(t, s, t0, job("q", 0, t0))

	killed := killClients(t, inserter, name)
	if killed < 2 {
		t.Fatalf("killed %d connections named %s, want the pool's and the subscription's", killed, name)
	}
	// The pool's connection is dead: the next call reconnects.
	if got := fetch(t, s, t0, 10, "q"); len(got) != 1 {
		t.Fatalf("fetched %d jobs after the kill, want 1", len(got))
	}
	// The subscription reconnects; publishes sent while it is down are
	// lost, so insert until one arrives.
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case q := <-ch:
			if q != "q" {
				t.Fatalf("woke for %q, want q", q)
			}
			return
		case <-tick.C:
			insert(t, inserter, t0, job("q", 0, t0))
		case <-deadline:
			t.Fatal("no wake-up within 10s of the connection kill")
		}
	}
}

// killClients kills every connection whose client name is name, through a
// connection of s (which must not have that name), and returns how many.
func killClients(t *testing.T, s *Store, name string) int {
	t.Helper()
	ctx := context.Background()
	list, err := s.client.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	var victims []string
	for line := range strings.Lines(list) {
		var id, cname string
		for f := range strings.FieldsSeq(line) {
			if v, ok := strings.CutPrefix(f, "id="); ok {
				id = v
			}
			if v, ok := strings.CutPrefix(f, "name="); ok {
				cname = v
			}
		}
		if cname == name {
			victims = append(victims, id)
		}
	}
	n := 0
	for _, id := range victims {
		k, err := s.client.Do(ctx, "CLIENT", "KILL", "ID", id).Int()
		if err != nil {
			t.Fatalf("CLIENT KILL ID %s: %v", id, err)
		}
		n += k
	}
	return n
}

// A worker whose lease was rescued cannot complete the job any more.
func TestLateCompletionAfterRescueIsRefused(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	insert(t, s, t0, job("q", 0, t0))
	j := fetch(t, s, t0, 1, "q")[0]
	n, err := s.JobRescue(ctx, &store.JobRescueParams{Now: t0.Add(time.Minute), Limit: 10})
	if err != nil || n != 1 {
		t.Fatalf("JobRescue = %d, %v; want 1", n, err)
	}
	ok, err := s.JobSetStateIfRunningMany(ctx, []*store.JobSetStateParams{{
		ID: j.ID, Owner: "w1", Attempt: j.Attempt, State: store.StateCompleted, Now: t0.Add(time.Minute),
	}})
	if err != nil || ok[0] {
		t.Fatalf("late completion = %v, %v; want refused", ok, err)
	}
	got, err := s.JobGet(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != store.StateAvailable || len(got.Errors) != 1 || !strings.Contains(got.Errors[0].Error, "w1") {
		t.Fatalf("rescued job = %s with errors %+v, want available with the lease error", got.State, got.Errors)
	}
	if !got.RunAt.Equal(t0.Add(time.Minute)) || got.LeaseOwner != "" || !got.LeaseExpiresAt.IsZero() {
		t.Fatalf("rescued job RunAt %v owner %q lease %v", got.RunAt, got.LeaseOwner, got.LeaseExpiresAt)
	}
}

// Times keep their microseconds through Lua, whose tostring would round
// them to 14 digits, and come back in UTC.
func TestTimesKeepMicroseconds(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	local := time.FixedZone("X", 3600)
	now := time.Date(2031, 7, 8, 9, 10, 11, 987654321, local)
	until := now.Add(time.Hour + time.Microsecond)
	p := job("q", 0, now.Add(time.Second+3*time.Microsecond))
	p.UniqueKey, p.UniqueUntil, p.Timeout = "k", until, 1500*time.Millisecond
	inserted := insert(t, s, now, p)[0]
	got, err := s.JobGet(ctx, inserted.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantRun := now.Add(time.Second + 3*time.Microsecond).Truncate(time.Microsecond).UTC()
	if got.RunAt != wantRun || got.EnqueuedAt != now.Truncate(time.Microsecond).UTC() ||
		got.UniqueUntil != until.Truncate(time.Microsecond).UTC() || got.Timeout != p.Timeout {
		t.Fatalf("JobGet = run %v enq %v until %v timeout %v", got.RunAt, got.EnqueuedAt, got.UniqueUntil, got.Timeout)
	}
	if got.RunAt != inserted.RunAt || got.EnqueuedAt != inserted.EnqueuedAt {
		t.Fatalf("insert returned run %v enq %v, JobGet %v %v", inserted.RunAt, inserted.EnqueuedAt, got.RunAt, got.EnqueuedAt)
	}
	f := fetch(t, s, now.Add(2*time.Second), 1, "q")
	if len(f) != 1 || f[0].AttemptedAt != now.Add(2*time.Second).Truncate(time.Microsecond).UTC() {
		t.Fatalf("fetched %+v", f)
	}
	if _, err := s.JobInsertMany(ctx, &store.JobInsertManyParams{Jobs: []*store.JobInsertParams{job("q", 0, time.Time{})}, Now: time.Time{}}); err == nil ||
		!strings.Contains(err.Error(), "Now") {
		t.Fatalf("insert at the zero time: err = %v, want one naming Now", err)
	}
}

// JobList reads at most listBudget ids per script call and continues
// from where it stopped, across several state sets.
func TestJobListAcrossBudget(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	params := make([]*store.JobInsertParams, 2*listBudget+10)
	for i := range params {
		params[i] = job("q", 0, t0)
		if i%1000 == 0 {
			params[i].Kind = "rare"
		}
		if i%2 == 0 {
			params[i].RunAt = t0.Add(time.Hour) // scheduled
		}
	}
	jobs := insert(t, s, t0, params...)
	var want []int64
	for i := len(jobs) - 1; i >= 0; i-- {
		if jobs[i].Kind == "rare" {
			want = append(want, jobs[i].ID)
		}
	}
	got, err := s.JobList(ctx, &store.JobListParams{
		Kind: "rare", States: []store.State{store.StateAvailable, store.StateScheduled}, Limit: 100,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(got), want) {
		t.Fatalf("JobList(kind=rare) = %v, want %v", ids(got), want)
	}
	page, err := s.JobList(ctx, &store.JobListParams{BeforeID: want[1], Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if w := []int64{want[1] - 1, want[1] - 2, want[1] - 3}; !slices.Equal(ids(page), w) {
		t.Fatalf("JobList(before %d) = %v, want %v", want[1], ids(page), w)
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if err := s.client.Set(ctx, s.prefix+"schema", SchemaVersion+1, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Migrate on a newer schema: %v, want an error saying newer", err)
	}
}

func TestErrorsMapToStoreErrors(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	if _, err := s.JobGet(ctx, 42); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("JobGet(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.JobCancel(ctx, &store.JobCancelParams{ID: 42, Now: t0}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("JobCancel(missing) = %v, want ErrNotFound", err)
	}
	insert(t, s, t0, job("q", 0, t0))
	j := fetch(t, s, t0, 1, "q")[0]
	if _, err := s.JobDelete(ctx, j.ID); !errors.Is(err, store.ErrJobRunning) {
		t.Errorf("JobDelete(running) = %v, want ErrJobRunning", err)
	}
	if _, err := s.JobRetry(ctx, &store.JobRetryParams{ID: j.ID, Now: t0}); !errors.Is(err, store.ErrJobRunning) {
		t.Errorf("JobRetry(running) = %v, want ErrJobRunning", err)
	}
}

func TestOpenURL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		url, cleaned, prefix, err string
	}{
		{"redis://h:1/0", "redis://h:1/0", "", ""},
		{"redis://h:1/0?boiler_prefix=app:", "redis://h:1/0", "app:", ""},
		{"rediss://:pw@h:1?skip_verify=true&boiler_prefix=x", "rediss://:pw@h:1?skip_verify=true", "x", ""},
		{"redis://:secret@h:1?boiler_prefix=", "", "", "boiler_prefix is empty"},
	}
	for _, c := range cases {
		cleaned, prefix, err := splitPrefixParam(c.url)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || strings.Contains(err.Error(), "secret") {
				t.Errorf("splitPrefixParam(%q) error = %v, want %q without the password", c.url, err, c.err)
			}
			continue
		}
		if err != nil || cleaned != c.cleaned || prefix != c.prefix {
			t.Errorf("splitPrefixParam(%q) = %q, %q, %v; want %q, %q", c.url, cleaned, prefix, err, c.cleaned, c.prefix)
		}
	}
	ctx := context.Background()
	if _, err := Open(ctx, "redis://127.0.0.1:1", &Options{InsecureSkipVerify: true}); err == nil ||
		!strings.Contains(err.Error(), "InsecureSkipVerify") {
		t.Errorf("InsecureSkipVerify on redis://: err = %v", err)
	}
	if _, err := Open(ctx, "redis://127.0.0.1:6379?bogus=1", nil); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("unknown URL parameter: err = %v, want one naming it", err)
	}
	requireRedis(t)
	prefix := testPrefix(t)
	s, err := Open(ctx, withQuery(testURL(), "boiler_prefix="+prefix), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Prefix() != prefix {
		t.Errorf("Prefix() = %q, want %q from the URL", s.Prefix(), prefix)
	}
}
