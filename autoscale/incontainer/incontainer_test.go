package incontainer_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/doubleboiler/boiler/autoscale"
	"github.com/doubleboiler/boiler/autoscale/incontainer"
	"github.com/doubleboiler/boiler/autoscale/memguard"
	"github.com/doubleboiler/boiler/procfile"
	"github.com/doubleboiler/boiler/supervisor"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runSupervisor runs a real supervisor with a web and a worker process
// type until the test ends.
func runSupervisor(t *testing.T, workers int) *supervisor.Supervisor {
	t.Helper()
	sup, err := supervisor.New(supervisor.Options{
		Entries: []procfile.Entry{
			{Name: "web", Command: "sleep 60"},
			{Name: "worker", Command: "sleep 60"},
		},
		Formation: map[string]int{"web": 1, "worker": workers},
		Output:    io.Discard,
		Timeout:   2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx, make(chan os.Signal)) }() // never signalled
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("the supervisor did not stop")
		}
	})
	waitFor(t, "the supervisor to start", func() bool {
		_, err := sup.Formation()
		return err == nil
	})
	return sup
}

// waitFor polls cond for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// running counts the running processes of type typ.
func running(t *testing.T, f *incontainer.Formation) int {
	t.Helper()
	ws, err := f.Workers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return len(ws)
}

func TestFormationScalesTheSupervisor(t *testing.T) {
	t.Parallel()
	sup := runSupervisor(t, 1)
	f, err := incontainer.New(sup, "worker")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if n, err := f.Current(ctx); err != nil || n != 1 {
		t.Fatalf("Current: %d, %v", n, err)
	}
	if err := f.Set(ctx, 3); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "3 running workers", func() bool { return running(t, f) == 3 })
	ws, _ := f.Workers(ctx)
	for _, w := range ws {
		if w.PID <= 0 {
			t.Fatalf("worker %+v has no pid", w)
		}
	}
	if n, _ := f.Current(ctx); n != 3 {
		t.Fatalf("Current after Set(3): %d", n)
	}
	if err := f.Set(ctx, 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "1 running worker", func() bool { return running(t, f) == 1 })

	bad, _ := incontainer.New(sup, "nope")
	if _, err := bad.Current(ctx); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("unknown type: %v", err)
	}
	if err := bad.Set(ctx, 1); err == nil {
		t.Fatal("scaling an unknown type: no error")
	}
}

// TestScalerGrowsWithinTheMemoryGuard runs the in-container chain: a
// backlog, the scaler, the memory guard with a small --memory-limit, and a
// real supervisor. The backlog asks for 4 workers; the guard measures the
// running worker and, the limit leaving room for about 2.5 more of its
// size, allows 1 or 2 more. (The container's usage comes from a fixed cgroup file: the
// real one moves with whatever else runs on the machine.)
func TestScalerGrowsWithinTheMemoryGuard(t *testing.T) {
	t.Parallel()
	sup := runSupervisor(t, 1)
	f, _ := incontainer.New(sup, "worker")
	ctx := t.Context()
	waitFor(t, "the first worker", func() bool { return running(t, f) == 1 })
	ws, _ := f.Workers(ctx)
	size := ws[0].RSS
	if size == 0 { // not Linux: the supervisor does not measure groups
		st, err := (memguard.FS{}).Status(ws[0].PID)
		if err != nil {
			t.Fatal(err)
		}
		size = st.RSS
	}
	cg := t.TempDir()
	const used = 100 << 20
	if err := os.WriteFile(filepath.Join(cg, "memory.current"), []byte(fmt.Sprint(used)), 0o644); err != nil {
		t.Fatal(err)
	}
	limit := int64(float64(used+size*5/2)/0.8) + 1
	guard, err := memguard.New(memguard.Options{MemoryLimit: limit, ProcessCap: -1,
		FS: memguard.FS{CgroupRoot: cg}})
	if err != nil {
		t.Fatal(err)
	}
	target, err := memguard.NewTarget(f, guard, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	sc, err := autoscale.NewScaler(autoscale.ScalerConfig{
		Policy: autoscale.Options{Min: 1, Max: 4, JobsPerWorker: 10},
		Source: sourceFunc(func(context.Context) (autoscale.Metric, error) {
			return autoscale.Metric{Backlog: 40, ReadAt: time.Now()}, nil
		}),
		Target: target,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	d := sc.Tick(ctx)
	if d.Desired != 4 || !strings.Contains(d.ApplyError, "instead of 4") {
		t.Fatalf("decision %+v: want up to 4, held by the guard (worker size %d bytes)", d, size)
	}
	// The worker's size moves a little between our measure and the
	// guard's (a shell execs sleep): 2 or 3 fit, never 4.
	n, _ := f.Current(ctx)
	if n != 2 && n != 3 {
		t.Fatalf("%d workers after the guard, want 2 or 3 (%s)", n, d.ApplyError)
	}
	waitFor(t, "the workers the guard allowed", func() bool { return running(t, f) == n })
}

type sourceFunc func(context.Context) (autoscale.Metric, error)

func (f sourceFunc) Backlog(ctx context.Context) (autoscale.Metric, error) { return f(ctx) }
