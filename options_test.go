package boiler

import (
	"strings"
	"testing"
	"time"
)

func TestWorkerOptionsDefaults(t *testing.T) {
	t.Parallel()
	o, err := (*WorkerOptions)(nil).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Queues", o.Queues, []QueueWeight{{"default", 1}}},
		{"Concurrency", o.Concurrency, 100},
		{"FetchBatch", o.FetchBatch, 100},
		{"Prefetch", o.Prefetch, 100},
		{"LeaseFor", o.LeaseFor, 30 * time.Second},
		{"ShutdownTimeout", o.ShutdownTimeout, 25 * time.Second},
		{"JobTimeout", o.JobTimeout, time.Minute},
		{"PollInterval", o.PollInterval, time.Second},
		{"Retention", o.Retention, 24 * time.Hour},
		{"DiscardedRetention", o.DiscardedRetention, 7 * 24 * time.Hour},
	}
	for _, c := range checks {
		if !equalAny(c.got, c.want) {
			t.Errorf("default %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if o.Backoff == nil || o.Logger == nil || o.Clock == nil || o.ID == "" {
		t.Errorf("Backoff, Logger, Clock and ID must get defaults: %+v", o)
	}
	o2, _ := (&WorkerOptions{}).withDefaults()
	if o.ID == o2.ID {
		t.Errorf("two workers got the same default ID %q", o.ID)
	}
	small, _ := (&WorkerOptions{Concurrency: 8, Queues: []QueueWeight{{Name: "a"}}}).withDefaults()
	if small.FetchBatch != 8 || small.Prefetch != 8 || small.Queues[0].Weight != 1 {
		t.Errorf("FetchBatch = %d, Prefetch = %d (want Concurrency 8), weight = %d (want 1)", small.FetchBatch, small.Prefetch, small.Queues[0].Weight)
	}
	if noPrefetch, err := (&WorkerOptions{Prefetch: -1}).withDefaults(); err != nil || noPrefetch.Prefetch != 0 {
		t.Errorf("Prefetch -1 must mean none: %v, Prefetch = %d", err, noPrefetch.Prefetch)
	}
	none, err := (&WorkerOptions{JobTimeout: -1, Retention: -1, DiscardedRetention: -1}).withDefaults()
	if err != nil || none.JobTimeout != -1 || none.Retention != -1 || none.DiscardedRetention != -1 {
		t.Errorf("-1 must mean none/keep: %v %+v", err, none)
	}
}

func equalAny(a, b any) bool {
	if qa, ok := a.([]QueueWeight); ok {
		qb := b.([]QueueWeight)
		if len(qa) != len(qb) {
			return false
		}
		for i := range qa {
			if qa[i] != qb[i] {
				return false
			}
		}
		return true
	}
	return a == b
}

func TestWorkerOptionsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		opts    WorkerOptions
		wantErr string
	}{
		{WorkerOptions{Concurrency: -1}, "Concurrency must be positive"},
		{WorkerOptions{FetchBatch: -5}, "FetchBatch must be positive"},
		{WorkerOptions{Prefetch: -2}, "Prefetch must be positive or -1"},
		{WorkerOptions{LeaseFor: 10 * time.Millisecond}, "LeaseFor must be at least 100ms"},
		{WorkerOptions{ShutdownTimeout: -time.Second}, "ShutdownTimeout must not be negative"},
		{WorkerOptions{JobTimeout: -2 * time.Second}, "JobTimeout must be positive or -1"},
		{WorkerOptions{PollInterval: -1}, "PollInterval must be positive"},
		{WorkerOptions{Retention: -time.Hour}, "Retention must be positive or -1"},
		{WorkerOptions{DiscardedRetention: -time.Hour}, "DiscardedRetention must be positive or -1"},
		{WorkerOptions{Queues: []QueueWeight{{Name: "ok"}, {Name: "bad name"}}}, "Queues[1]: queue name \"bad name\""},
		{WorkerOptions{Queues: []QueueWeight{{Name: "a"}, {Name: "a"}}}, `Queues[1]: queue "a" is listed twice`},
		{WorkerOptions{Queues: []QueueWeight{{Name: "a", Weight: -1}}}, `queue "a" has weight -1; weights go from 1 to 1000`},
		{WorkerOptions{Queues: []QueueWeight{{Name: "a", Weight: 5000}}}, `queue "a" has weight 5000`},
		{WorkerOptions{Queues: []QueueWeight{{Name: ""}}}, "Queues[0]: queue name is empty"},
		{WorkerOptions{ID: strings.Repeat("x", 201)}, "ID is longer than 200"},
	}
	b := setup(t)
	for _, tt := range tests {
		_, err := NewWorker(b.store, b.reg, &tt.opts)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "new worker: ") {
			t.Errorf("NewWorker(%+v) error = %v, want it to contain %q", tt.opts, err, tt.wantErr)
		}
	}
	if _, err := NewWorker(nil, b.reg, nil); err == nil {
		t.Error("NewWorker with a nil store: no error")
	}
	if _, err := NewWorker(b.store, nil, nil); err == nil {
		t.Error("NewWorker with a nil registry: no error")
	}
}

func TestEnqueueOptionsMerge(t *testing.T) {
	t.Parallel()
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	base := EnqueueOptions{Queue: "mail", Priority: 2, RunIn: time.Hour, MaxAttempts: 3, Timeout: time.Second, UniqueKey: "k", UniqueFor: time.Minute}
	got := base.merge(&EnqueueOptions{Priority: 5, RunAt: at})
	want := EnqueueOptions{Queue: "mail", Priority: 5, RunAt: at, MaxAttempts: 3, Timeout: time.Second, UniqueKey: "k", UniqueFor: time.Minute}
	if got != want {
		t.Errorf("merge = %+v, want %+v (RunAt and RunIn replace each other)", got, want)
	}
	if got := base.merge(nil); got != base {
		t.Errorf("merge(nil) = %+v, want the base", got)
	}
}

func TestEnqueueOptionsInsertParams(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	p, err := EnqueueOptions{}.insertParams("email", []byte(`{}`), now)
	if err != nil {
		t.Fatal(err)
	}
	if p.Queue != "default" || p.MaxAttempts != 25 || p.Priority != 0 || !p.RunAt.Equal(now) || !p.UniqueUntil.IsZero() {
		t.Errorf("defaults: %+v", p)
	}
	p, err = EnqueueOptions{RunIn: time.Minute, UniqueKey: "u", UniqueFor: time.Hour}.insertParams("email", []byte(`{}`), now)
	if err != nil {
		t.Fatal(err)
	}
	if !p.RunAt.Equal(now.Add(time.Minute)) || !p.UniqueUntil.Equal(now.Add(time.Hour)) {
		t.Errorf("RunIn/UniqueFor: RunAt %s, UniqueUntil %s", p.RunAt, p.UniqueUntil)
	}
	at := time.Date(2031, 1, 1, 0, 0, 0, 123456789, time.FixedZone("x", 3600))
	p, _ = EnqueueOptions{RunAt: at, RunIn: time.Hour}.insertParams("email", []byte(`{}`), now)
	if !p.RunAt.Equal(at.Truncate(time.Microsecond)) || p.RunAt.Location() != time.UTC {
		t.Errorf("RunAt wins over RunIn, in UTC, to the microsecond: got %s", p.RunAt)
	}

	bad := []struct {
		kind    string
		opts    EnqueueOptions
		wantErr string
	}{
		{"", EnqueueOptions{}, "job kind is empty"},
		{strings.Repeat("k", 256), EnqueueOptions{}, "more than 255"},
		{"email", EnqueueOptions{Queue: "no/slash"}, `Queue: queue name "no/slash" has the character '/'`},
		{"email", EnqueueOptions{MaxAttempts: -1}, "MaxAttempts must not be negative"},
		{"email", EnqueueOptions{RunIn: -time.Second}, "RunIn must not be negative"},
		{"email", EnqueueOptions{Timeout: -time.Second}, "Timeout must not be negative"},
		{"email", EnqueueOptions{UniqueFor: time.Hour}, "UniqueFor is set but UniqueKey is empty"},
		{"email", EnqueueOptions{UniqueKey: "k", UniqueFor: -1}, "UniqueFor must not be negative"},
	}
	for _, tt := range bad {
		_, err := tt.opts.insertParams(tt.kind, []byte(`{}`), now)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("insertParams(%q, %+v) error = %v, want %q", tt.kind, tt.opts, err, tt.wantErr)
		}
	}
}
