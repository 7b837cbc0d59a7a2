package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/sqlite"
)

// A write that finds the file locked by another writer (another Store:
// another connection, as another process has) waits for it, then
// succeeds.
func TestWriteWaitsForAnotherWriter(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "boiler.db")
	holder := openMigrated(t, path, nil)
	waiter := open(t, path, nil)

	tx, err := holder.DB().BeginTx(t.Context(), nil) // BEGIN IMMEDIATE: takes the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	held := insertTx(t, holder, tx, "held")

	done := make(chan error, 1)
	go func() {
		_, err := waiter.JobInsertMany(context.Background(), &store.JobInsertManyParams{
			Now:  t0,
			Jobs: []*store.JobInsertParams{{Kind: "waiter", Queue: "default", Args: json.RawMessage(`{}`), MaxAttempts: 1}},
		})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("insert finished (%v) while another Store held the write lock", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("insert waiting for the write lock: %v", err)
	}
	jobs, err := waiter.JobList(t.Context(), &store.JobListParams{Limit: 10})
	if err != nil || len(jobs) != 2 || jobs[1].ID != held.ID {
		t.Fatalf("after both writes: %d jobs (%v), want the held job then the waiter's", len(jobs), err)
	}
}

// A write gives up with SQLITE_BUSY after BusyTimeout, and works again
// once the lock is released.
func TestBusyTimeoutExpires(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "boiler.db")
	holder := openMigrated(t, path, nil)
	impatient := open(t, path, &sqlite.Options{BusyTimeout: 50 * time.Millisecond})

	tx, err := holder.DB().BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := impatient.JobFetch(t.Context(), &store.JobFetchParams{
		Queues: []string{"default"}, Limit: 1, Owner: "w", Now: t0, LeaseExpiresAt: t0.Add(time.Minute),
	}); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("fetch while another Store holds the write lock past BusyTimeout: %v, want SQLITE_BUSY (database is locked)", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	insertOne(t, impatient, "default", t0)
}

// Two processes share one file: a child process enqueues jobs one at a
// time (as `boiler enqueue` from a shell would) while this one fetches and
// completes them (as `boiler work`). Nothing is lost, nothing fails with
// SQLITE_BUSY, and the counts add up.
func TestTwoProcessesShareOneFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "boiler.db")
	s := openMigrated(t, path, nil)
	const childJobs, ownJobs = 150, 150

	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()
	child := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperEnqueueProcess$", "-test.count=1")
	child.Env = append(os.Environ(), "BOILER_SQLITE_TEST_ENQUEUE="+path, "BOILER_SQLITE_TEST_JOBS="+strconv.Itoa(childJobs))
	out := &strings.Builder{}
	child.Stdout, child.Stderr = out, out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	childDone := make(chan error, 1)
	go func() { childDone <- child.Wait() }()

	completed, inserted := 0, 0
	var childErr error
	childRunning := true
	for completed < childJobs+ownJobs {
		if ctx.Err() != nil {
			t.Fatalf("completed %d of %d jobs before the deadline (child: %s)", completed, childJobs+ownJobs, out)
		}
		if inserted < ownJobs {
			insertOne(t, s, "default", t0)
			inserted++
		}
		jobs, err := s.JobFetch(ctx, &store.JobFetchParams{
			Queues: []string{"default"}, Limit: 20, Owner: "parent", Now: t0, LeaseExpiresAt: t0.Add(time.Minute),
		})
		if err != nil {
			t.Fatalf("fetch while another process enqueues: %v", err)
		}
		params := make([]*store.JobSetStateParams, len(jobs))
		for i, j := range jobs {
			params[i] = &store.JobSetStateParams{ID: j.ID, Owner: "parent", Attempt: j.Attempt, State: store.StateCompleted, Now: t0}
		}
		applied, err := s.JobSetStateIfRunningMany(ctx, params)
		if err != nil {
			t.Fatalf("completing while another process enqueues: %v", err)
		}
		for i, ok := range applied {
			if !ok {
				t.Fatalf("completion of job %d refused", jobs[i].ID)
			}
		}
		completed += len(jobs)
		if childRunning {
			select {
			case childErr = <-childDone:
				childRunning = false
				if childErr != nil {
					t.Fatalf("enqueueing process: %v\n%s", childErr, out)
				}
			default:
			}
		}
		if len(jobs) == 0 {
			time.Sleep(5 * time.Millisecond) // the worker's poll
		}
	}
	if childRunning {
		if err := <-childDone; err != nil {
			t.Fatalf("enqueueing process: %v\n%s", err, out)
		}
	}
	stats, err := s.QueueStats(t.Context(), &store.QueueStatsParams{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 1 || stats[0].Counts[store.StateCompleted] != childJobs+ownJobs {
		t.Fatalf("QueueStats after both processes: %+v, want %d completed jobs in default", stats[0], childJobs+ownJobs)
	}
	checkCounts(t, s)
}

// TestHelperEnqueueProcess is the child process of
// TestTwoProcessesShareOneFile; it does nothing in a normal run.
func TestHelperEnqueueProcess(t *testing.T) {
	path := os.Getenv("BOILER_SQLITE_TEST_ENQUEUE")
	if path == "" {
		t.Skip("the enqueueing process of TestTwoProcessesShareOneFile")
	}
	n, err := strconv.Atoi(os.Getenv("BOILER_SQLITE_TEST_JOBS"))
	if err != nil {
		t.Fatal(err)
	}
	s := open(t, path, nil)
	for i := range n {
		_, err := s.JobInsertMany(t.Context(), &store.JobInsertManyParams{
			Now: t0,
			Jobs: []*store.JobInsertParams{{
				Kind: "child", Queue: "default", Args: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), MaxAttempts: 1,
			}},
		})
		if err != nil {
			t.Fatalf("child insert %d: %v", i, err)
		}
	}
}
