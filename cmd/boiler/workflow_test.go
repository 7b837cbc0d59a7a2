package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/doubleboiler/boiler"
	"github.com/doubleboiler/boiler/internal/builtin"
	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/storeurl"
)

// TestChordAcrossProcesses enqueues a chord of 1,000 double jobs and a sum
// callback, works it with three `boiler work` processes, and checks, on
// each store, that the callback ran exactly once (one attempt, completed)
// after every member and saw all 1,000 results.
func TestChordAcrossProcesses(t *testing.T) {
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
			chordAcrossProcesses(t, tc.url(t))
		})
	}
}

func chordAcrossProcesses(t *testing.T, storeURL string) {
	const members = 1000
	ctx := context.Background()
	s, err := storeurl.Open(ctx, storeURL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	client, err := boiler.NewClient(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The workers start first, so the three race for the members from
	// the moment they are inserted.
	type proc struct {
		cmd  interface{ Signal(os.Signal) error }
		out  *lockedBuffer
		done <-chan error
	}
	var procs []proc
	for range 3 {
		cmd, out, done := startWorker(t, "--store", storeURL, "--queues", "chord", "--concurrency", "16")
		procs = append(procs, proc{cmd.Process, out, done})
	}
	logs := func() string {
		var all string
		for i, p := range procs {
			all += fmt.Sprintf("--- worker %d:\n%s", i+1, p.out)
		}
		return all
	}
	for _, p := range procs {
		waitFor(t, "a worker to start", func() bool { return strings.Contains(p.out.String(), "worker started") }, logs)
	}

	// Each member sleeps 5 ms: 1,000 of them keep the 48 slots of the
	// three workers busy, so completions from the three interleave.
	steps := make([]*boiler.Step, members)
	want := builtin.SumResult{Count: members}
	for i := range steps {
		steps[i] = boiler.Task(builtin.DoubleArgs{N: int64(i + 1), MS: 5}, &boiler.EnqueueOptions{Queue: "chord"})
		want.Sum += 2 * int64(i+1)
	}
	wf, err := client.EnqueueWorkflow(ctx, boiler.Chord(boiler.Group(steps...), boiler.Task(builtin.SumArgs{}, &boiler.EnqueueOptions{Queue: "chord"})))
	if err != nil {
		t.Fatal(err)
	}
	callback := wf.Jobs[members]
	if callback.State != store.StateWaiting || callback.DepsLeft != members {
		t.Fatalf("callback after insert: %s, %d deps left", callback.State, callback.DepsLeft)
	}

	deadline := time.Now().Add(90 * time.Second)
	var job *boiler.JobRow
	for {
		if job, err = client.JobGet(ctx, callback.ID); err != nil {
			t.Fatal(err)
		}
		if job.State.Finalized() {
			break
		}
		if time.Now().After(deadline) {
			st, _ := client.WorkflowGet(ctx, wf.ID)
			t.Fatalf("callback still %s (%d deps left) after 90s; workflow counts %v\n%s", job.State, job.DepsLeft, st.Counts, logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Give a second run, if the store wrongly made the callback available
	// twice, the time to happen.
	time.Sleep(500 * time.Millisecond)
	for _, p := range procs {
		if err := p.cmd.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range procs {
		waitExit(t, p.done, p.out, 30*time.Second)
	}

	if job, err = client.JobGet(ctx, callback.ID); err != nil {
		t.Fatal(err)
	}
	if job.State != store.StateCompleted || job.Attempt != 1 || len(job.Errors) != 0 {
		t.Fatalf("callback %s at attempt %d, errors %+v: want completed at its first and only attempt\n%s", job.State, job.Attempt, job.Errors, logs())
	}
	var got builtin.SumResult
	if err := json.Unmarshal(job.Result, &got); err != nil {
		t.Fatalf("callback result %s: %v", job.Result, err)
	}
	if got != want {
		t.Fatalf("callback result %+v, want %+v (every member's result, once)", got, want)
	}
	st, err := client.WorkflowGet(ctx, wf.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != boiler.WorkflowCompleted || st.Total != members+1 || st.Counts[store.StateCompleted] != members+1 {
		t.Fatalf("workflow %s, %d jobs, counts %v", st.State, st.Total, st.Counts)
	}
	for _, j := range st.Jobs[:members] {
		if j.FinalizedAt.IsZero() || j.FinalizedAt.After(job.AttemptedAt) {
			t.Fatalf("member %d finalized at %s, after the callback started at %s", j.ID, j.FinalizedAt, job.AttemptedAt)
		}
	}
}

// waitFor polls cond for up to 30 s; on timeout it fails t with what and
// the workers' logs.
func waitFor(t *testing.T, what string, cond func() bool, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for %s\n%s", what, logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
