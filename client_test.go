package boiler

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// mailArgs carries its own options.
type mailArgs struct {
	To string `json:"to"`
}

func (mailArgs) Kind() string { return "mail" }
func (a mailArgs) EnqueueOptions() EnqueueOptions {
	return EnqueueOptions{Queue: "mail", Priority: 3, MaxAttempts: 5, UniqueKey: "mail:" + a.To}
}

func TestEnqueueDefaults(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	now := time.Date(2030, 5, 6, 7, 8, 9, 123456789, time.UTC)
	c, err := NewClient(b.store, &ClientOptions{Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Enqueue(ctx, emailArgs{To: "ada@example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	job := res.Job
	if res.Duplicate || job.ID == 0 || job.Kind != "email" || job.Queue != "default" || job.MaxAttempts != 25 ||
		job.Priority != 0 || job.State != store.StateAvailable || string(job.Args) != `{"to":"ada@example.com"}` {
		t.Fatalf("enqueued %+v", job)
	}
	if want := now.Truncate(time.Microsecond); !job.EnqueuedAt.Equal(want) || !job.RunAt.Equal(want) {
		t.Fatalf("EnqueuedAt %s, RunAt %s; want the client's clock truncated to µs: %s", job.EnqueuedAt, job.RunAt, want)
	}

	res, err = c.Enqueue(ctx, emailArgs{To: "bob@example.com"}, &EnqueueOptions{RunIn: time.Hour, Queue: "later"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Job.State != store.StateScheduled || res.Job.Queue != "later" || !res.Job.RunAt.Equal(now.Truncate(time.Microsecond).Add(time.Hour)) {
		t.Fatalf("scheduled job: %+v", res.Job)
	}
}

func TestEnqueueArgsOptionsAndOverrides(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	res, err := b.client.Enqueue(ctx, mailArgs{To: "ada"}, &EnqueueOptions{Priority: 9})
	if err != nil {
		t.Fatal(err)
	}
	if j := res.Job; j.Queue != "mail" || j.Priority != 9 || j.MaxAttempts != 5 || j.UniqueKey != "mail:ada" {
		t.Fatalf("args options then call options: %+v", j)
	}
}

func TestEnqueueUniqueReturnsExisting(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	first, err := b.client.Enqueue(ctx, mailArgs{To: "ada"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := b.client.Enqueue(ctx, mailArgs{To: "ada"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if first.Duplicate || !second.Duplicate || second.Job.ID != first.Job.ID {
		t.Fatalf("first %d dup=%v, second %d dup=%v: want the second to return the first", first.Job.ID, first.Duplicate, second.Job.ID, second.Duplicate)
	}
	other, err := b.client.Enqueue(ctx, mailArgs{To: "bob"}, nil)
	if err != nil || other.Duplicate {
		t.Fatalf("another key: %v dup=%v", err, other.Duplicate)
	}
	// Once the job is finalized, its key is free again.
	if _, err := b.client.JobCancel(ctx, first.Job.ID); err != nil {
		t.Fatal(err)
	}
	third, err := b.client.Enqueue(ctx, mailArgs{To: "ada"}, nil)
	if err != nil || third.Duplicate || third.Job.ID == first.Job.ID {
		t.Fatalf("after cancel: %v, %+v", err, third)
	}
}

func TestEnqueueErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tests := []struct {
		name    string
		run     func() error
		wantErr string
	}{
		{"bad queue", func() error {
			_, err := b.client.Enqueue(ctx, emailArgs{}, &EnqueueOptions{Queue: "a b"})
			return err
		}, `enqueue email: Queue: queue name "a b" has the character ' '`},
		{"negative attempts", func() error {
			_, err := b.client.Enqueue(ctx, emailArgs{}, &EnqueueOptions{MaxAttempts: -3})
			return err
		}, "enqueue email: MaxAttempts must not be negative, got -3"},
		{"nil args", func() error { _, err := b.client.Enqueue(ctx, nil, nil); return err }, "args are nil"},
		{"unencodable args", func() error { _, err := b.client.Enqueue(ctx, badArgs{C: make(chan int)}, nil); return err },
			"enqueue bad: encoding args: json: unsupported type"},
		{"raw empty kind", func() error { _, err := b.client.EnqueueRaw(ctx, "", nil, nil); return err },
			"enqueue (empty kind): job kind is empty"},
		{"raw invalid JSON", func() error {
			_, err := b.client.EnqueueRaw(ctx, "email", json.RawMessage(`{"to":`), nil)
			return err
		}, "enqueue email: args are not valid JSON"},
		{"many: second invalid", func() error {
			_, err := b.client.EnqueueMany(ctx, []EnqueueParams{{Args: emailArgs{}}, {Args: emailArgs{}, Options: &EnqueueOptions{RunIn: -1}}})
			return err
		}, "enqueue job 2 of 2 (email): RunIn must not be negative"},
		{"raw many: first invalid", func() error {
			_, err := b.client.EnqueueRawMany(ctx, []EnqueueRawParams{{Kind: "x", Args: json.RawMessage(`nope`)}})
			return err
		}, "enqueue job 1 of 1 (x): args are not valid JSON"},
	}
	for _, tt := range tests {
		err := tt.run()
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: error = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
	// Nothing was inserted by the failed batches.
	jobs, err := b.client.JobList(ctx, nil)
	if err != nil || len(jobs) != 0 {
		t.Fatalf("after failed enqueues: %d jobs, %v", len(jobs), err)
	}
	if _, err := NewClient(nil, nil); err == nil {
		t.Fatal("NewClient(nil): no error")
	}
}

type badArgs struct{ C chan int }

func (badArgs) Kind() string { return "bad" }

func TestEnqueueManyAndRaw(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	res, err := b.client.EnqueueMany(ctx, []EnqueueParams{
		{Args: noopArgs{N: 1}},
		{Args: noopArgs{N: 2}, Options: &EnqueueOptions{Queue: "q2"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || string(res[0].Job.Args) != `{"n":1}` || res[1].Job.Queue != "q2" {
		t.Fatalf("EnqueueMany: %+v %+v", res[0].Job, res[1].Job)
	}
	raw, err := b.client.EnqueueRawMany(ctx, []EnqueueRawParams{
		{Kind: "noop", Args: json.RawMessage(" { \"n\" : 3 } ")},
		{Kind: "noop"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(raw[0].Job.Args) != `{"n":3}` || string(raw[1].Job.Args) != `{}` {
		t.Fatalf("raw args stored as %s and %s; want compact JSON and {}", raw[0].Job.Args, raw[1].Job.Args)
	}
}

func TestClientJobOperations(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	res, err := b.client.Enqueue(ctx, emailArgs{To: "x"}, &EnqueueOptions{Queue: "mail"})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Job.ID
	if got, err := b.client.JobGet(ctx, id); err != nil || got.ID != id {
		t.Fatalf("JobGet: %v %v", got, err)
	}
	if _, err := b.client.JobGet(ctx, id+100); !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "getting job") {
		t.Fatalf("JobGet of a missing job: %v", err)
	}
	list, err := b.client.JobList(ctx, &store.JobListParams{States: []store.State{store.StateAvailable}, Queue: "mail"})
	if err != nil || len(list) != 1 {
		t.Fatalf("JobList: %d jobs, %v", len(list), err)
	}
	if _, err := b.client.JobList(ctx, &store.JobListParams{States: []store.State{"lost"}}); err == nil || !strings.Contains(err.Error(), `unknown state "lost"`) {
		t.Fatalf("JobList with a bad state: %v", err)
	}
	if err := b.client.QueuePause(ctx, "mail"); err != nil {
		t.Fatal(err)
	}
	stats, err := b.client.QueueStats(ctx)
	if err != nil || len(stats) != 1 || !stats[0].Paused || stats[0].Counts[store.StateAvailable] != 1 {
		t.Fatalf("QueueStats: %+v %v", stats, err)
	}
	if err := b.client.QueueResume(ctx, "mail"); err != nil {
		t.Fatal(err)
	}
	if err := b.client.QueuePause(ctx, "bad queue"); err == nil {
		t.Fatal("QueuePause with a bad name: no error")
	}
	cancelled, err := b.client.JobCancel(ctx, id)
	if err != nil || cancelled.State != store.StateCancelled {
		t.Fatalf("JobCancel: %+v %v", cancelled, err)
	}
	retried, err := b.client.JobRetry(ctx, id)
	if err != nil || retried.State != store.StateAvailable {
		t.Fatalf("JobRetry: %+v %v", retried, err)
	}
	deleted, err := b.client.JobDelete(ctx, id)
	if err != nil || deleted.ID != id {
		t.Fatalf("JobDelete: %+v %v", deleted, err)
	}
	if _, err := b.client.JobGet(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("JobGet after delete: %v", err)
	}
}
