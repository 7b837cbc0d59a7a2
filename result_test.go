package boiler

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/doubleboiler/boiler/store"
)

type squareArgs struct {
	N int `json:"n"`
}

func (squareArgs) Kind() string { return "square" }

type badResultArgs struct {
	How string `json:"how"`
}

func (badResultArgs) Kind() string { return "bad_result" }

func TestHandleResultStoresTheResult(t *testing.T) {
	t.Parallel()
	b := setup(t)
	HandleResult(b.reg, func(_ context.Context, job *Job[squareArgs]) (map[string]int, error) {
		if job.Args.N < 0 {
			return map[string]int{"ignored": 1}, Cancel(errors.New("negative"))
		}
		return map[string]int{"square": job.Args.N * job.Args.N}, nil
	})
	b.startWorker(t, nil)
	ctx := context.Background()
	ok, _ := b.client.Enqueue(ctx, squareArgs{N: 7}, nil)
	bad, _ := b.client.Enqueue(ctx, squareArgs{N: -1}, nil)
	if job := b.waitState(t, ok.Job.ID, store.StateCompleted); string(job.Result) != `{"square":49}` {
		t.Fatalf("result %s, want {\"square\":49}", job.Result)
	}
	if job := b.waitState(t, bad.Job.ID, store.StateCancelled); job.Result != nil {
		t.Fatalf("a failed job stored the result %s", job.Result)
	}
}

func TestRecordResult(t *testing.T) {
	t.Parallel()
	b := setup(t)
	Handle(b.reg, func(ctx context.Context, job *Job[badResultArgs]) error {
		switch job.Args.How {
		case "twice":
			if err := RecordResult(ctx, "first"); err != nil {
				return err
			}
			return RecordResult(ctx, []int{1, 2})
		case "nan":
			if err := RecordResult(ctx, math.NaN()); err == nil {
				t.Error("RecordResult(NaN) returned no error")
			}
			return nil // the attempt fails anyway
		case "nan-then-ok":
			_ = RecordResult(ctx, math.NaN())
			return RecordResult(ctx, "fine") // a later good result replaces the error
		}
		return nil
	})
	b.startWorker(t, nil)
	ctx := context.Background()
	enq := func(how string, max int) int64 {
		res, err := b.client.Enqueue(ctx, badResultArgs{How: how}, &EnqueueOptions{MaxAttempts: max})
		if err != nil {
			t.Fatal(err)
		}
		return res.Job.ID
	}
	twice, nan, fixed, none := enq("twice", 1), enq("nan", 1), enq("nan-then-ok", 1), enq("none", 1)
	if job := b.waitState(t, twice, store.StateCompleted); string(job.Result) != `[1,2]` {
		t.Errorf("result %s, want the last recorded [1,2]", job.Result)
	}
	job := b.waitState(t, nan, store.StateDiscarded)
	if len(job.Errors) != 1 || !strings.Contains(job.Errors[0].Error, "encoding the result of job") ||
		!strings.Contains(job.Errors[0].Error, "bad_result") {
		t.Errorf("a result that does not encode: errors %+v, want one naming the job and kind", job.Errors)
	}
	if job := b.waitState(t, fixed, store.StateCompleted); string(job.Result) != `"fine"` {
		t.Errorf("result %s, want \"fine\"", job.Result)
	}
	if job := b.waitState(t, none, store.StateCompleted); job.Result != nil {
		t.Errorf("a handler that recorded nothing has the result %s", job.Result)
	}
}

func TestHandleResultEncodeErrorFailsTheAttempt(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	HandleResult(r, func(context.Context, *Job[badResultArgs]) (float64, error) { return math.Inf(1), nil })
	res, err := r.run(context.Background(), &JobRow{ID: 3, Kind: "bad_result", Args: json.RawMessage(`{}`)}, nil)
	if err == nil || res != nil || !strings.Contains(err.Error(), `encoding the result of job kind "bad_result"`) {
		t.Fatalf("run = %s, %v; want an error naming the kind", res, err)
	}
	// HandleResult's return wins over RecordResult.
	r = NewRegistry()
	HandleResult(r, func(ctx context.Context, _ *Job[squareArgs]) (int, error) {
		_ = RecordResult(ctx, "recorded")
		return 5, nil
	})
	res, err = r.run(context.Background(), &JobRow{Kind: "square", Args: json.RawMessage(`{}`)}, nil)
	if err != nil || string(res) != "5" {
		t.Fatalf("run = %s, %v; want 5", res, err)
	}
}

func TestHandleResultPanics(t *testing.T) {
	t.Parallel()
	for name, fn := range map[string]func(){
		"nil handler": func() { HandleResult[squareArgs, int](NewRegistry(), nil) },
		"duplicate": func() {
			r := NewRegistry()
			Handle(r, func(context.Context, *Job[squareArgs]) error { return nil })
			HandleResult(r, func(context.Context, *Job[squareArgs]) (int, error) { return 0, nil })
		},
	} {
		func() {
			defer func() {
				v := recover()
				if v == nil || !strings.Contains(v.(string), "boiler.HandleResult") {
					t.Errorf("%s: panic %v, want one naming boiler.HandleResult", name, v)
				}
			}()
			fn()
		}()
	}
}

func TestResultFuncsOutsideAJob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if err := RecordResult(ctx, 1); err == nil || !strings.Contains(err.Error(), "RecordResult") {
		t.Errorf("RecordResult outside a job: %v", err)
	}
	if _, err := DepResults(ctx); err == nil || !strings.Contains(err.Error(), "DepResults") {
		t.Errorf("DepResults outside a job: %v", err)
	}
}

func TestDepResultDecode(t *testing.T) {
	t.Parallel()
	var n int
	for _, tc := range []struct {
		d    DepResult
		want string
	}{
		{DepResult{ID: 1, Kind: "k", State: store.StateCompleted, Result: json.RawMessage(`4`)}, ""},
		{DepResult{ID: 2, Kind: "k", State: store.StateCompleted}, "job 2 (k) has no result: its handler recorded none"},
		{DepResult{ID: 3, Kind: "k", State: store.StateDiscarded, Error: "boom"}, "job 3 (k) has no result: it is discarded: boom"},
		{DepResult{ID: 4, Missing: true}, "job 4 has no result: it was deleted"},
		{DepResult{ID: 5, Kind: "k", State: store.StateCompleted, Result: json.RawMessage(`"x"`)}, "decoding the result of job 5 (k)"},
	} {
		err := tc.d.Decode(&n)
		switch {
		case tc.want == "" && (err != nil || n != 4):
			t.Errorf("Decode(%+v) = %v, n = %d", tc.d, err, n)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("Decode(%+v) = %v, want %q", tc.d, err, tc.want)
		}
	}
}

func TestInlineClientKeepsTheResult(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	HandleResult(r, func(_ context.Context, job *Job[squareArgs]) (int, error) { return job.Args.N * job.Args.N, nil })
	res, err := NewInlineClient(r, nil).Enqueue(context.Background(), squareArgs{N: 9}, nil)
	if err != nil || res.Job.State != store.StateCompleted || string(res.Job.Result) != "81" {
		t.Fatalf("inline result: %v %+v", err, res)
	}
}
