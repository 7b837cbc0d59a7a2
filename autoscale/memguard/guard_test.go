package memguard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const mib = 1 << 20

func TestAllow(t *testing.T) {
	t.Parallel()
	base := Input{Current: 2, Desired: 5, Limit: 512 * mib, MaxFraction: 0.8, Used: 300 * mib, WorkerRSS: 50 * mib}
	for _, c := range []struct {
		name    string
		mod     func(*Input)
		allowed int
		reason  string
	}{
		// 80 % of 512 MB is 409.6 MB; 109.6 MB free holds two 50 MB workers.
		{"memory holds back", func(*Input) {}, 4, "room for 2 more; holding at 4 instead of 5"},
		{"scale-down always passes", func(in *Input) { in.Desired = 1; in.Used = 600 * mib }, 1, ""},
		{"enough room", func(in *Input) { in.Used = 100 * mib }, 5, ""},
		{"over the budget already", func(in *Input) { in.Used = 420 * mib }, 2, "holding at 2 instead of 5"},
		{"unknown worker size: one at a time", func(in *Input) { in.WorkerRSS = 0; in.Current = 0 }, 1, "not known yet"},
		{"no limit known", func(in *Input) { in.Limit = 0; in.Used = 1 << 40 }, 5, ""},
		{"task cap", func(in *Input) { in.Used = 0; in.Tasks = 250; in.TasksPerWorker = 2; in.TaskCap = 256 }, 5, ""},
		{"task cap holds back", func(in *Input) { in.Used = 0; in.Tasks = 252; in.TasksPerWorker = 2; in.TaskCap = 256 }, 4,
			"252 processes and threads of a cap of 256, 2 per worker: room for 2 more"},
		{"task cap full", func(in *Input) { in.Limit = 0; in.Tasks = 300; in.TaskCap = 256 }, 2, "room for 0 more"},
	} {
		in := base
		c.mod(&in)
		v := Allow(in)
		if v.Allowed != c.allowed || v.Held != (c.reason != "") || !strings.Contains(v.Reason, c.reason) {
			t.Errorf("%s: %+v, want %d allowed, reason containing %q", c.name, v, c.allowed, c.reason)
		}
	}
}

// writeFiles creates files (path relative to dir: content).
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fakeFS lays out files under a temp dir and returns an FS reading them.
func fakeFS(t *testing.T, files map[string]string) FS {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, files)
	return FS{CgroupRoot: filepath.Join(dir, "cgroup"), ProcRoot: filepath.Join(dir, "proc")}
}

func status(rssKB, threads int) string {
	return fmt.Sprintf("Name:\tpython\nState:\tS (sleeping)\nVmRSS:\t  %d kB\nThreads:\t%d\n", rssKB, threads)
}

// procStat is a /proc/<pid>/stat line.
func procStat(pid int, comm string, ppid, threads int) string {
	return fmt.Sprintf("%d (%s) S %d %d %d 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 %d 0 1234 5678 90\n", pid, comm, ppid, pid, pid, threads)
}

func TestFSCgroupV2(t *testing.T) {
	t.Parallel()
	fs := fakeFS(t, map[string]string{
		"proc/self/cgroup":               "0::/dyno/web\n",
		"cgroup/dyno/web/memory.max":     "max\n",
		"cgroup/dyno/memory.max":         "536870912\n", // the parent's 512 MB bounds the leaf
		"cgroup/memory.max":              "1073741824\n",
		"cgroup/dyno/web/memory.current": "419430400\n",
		"cgroup/dyno/web/memory.stat":    "anon 300000000\ninactive_file 104857600\nactive_file 1\n",
		"cgroup/dyno/web/pids.max":       "100\n",
		"cgroup/dyno/web/pids.current":   "17\n",
	})
	lim, err := fs.MemoryLimit()
	if err != nil || lim.Value != 512*mib || !strings.Contains(lim.From, "cgroup v2") || !strings.HasSuffix(lim.From, "dyno/memory.max") {
		t.Fatalf("MemoryLimit: %+v, %v; want 512 MiB from dyno/memory.max", lim, err)
	}
	used, ok, err := fs.MemoryUsed()
	if err != nil || !ok || used.Value != 300*mib {
		t.Fatalf("MemoryUsed: %+v, %v, %v; want 400 MiB less 100 MiB of inactive cache", used, ok, err)
	}
	if r, err := fs.ProcessLimit(); err != nil || r.Value != 100 {
		t.Fatalf("ProcessLimit: %+v, %v", r, err)
	}
	if r, err := fs.Tasks(); err != nil || r.Value != 17 {
		t.Fatalf("Tasks: %+v, %v", r, err)
	}
}

// TestFSCgroupV1 lays out a v1 hierarchy like this machine's: memory in a
// nested cgroup whose own limit is "unlimited", the real one higher up.
func TestFSCgroupV1(t *testing.T) {
	t.Parallel()
	fs := fakeFS(t, map[string]string{
		"proc/self/cgroup": "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/c513\n0::/\n",
		"cgroup/memory/process_api/c513/memory.limit_in_bytes": "9223372036854771712\n",
		"cgroup/memory/process_api/memory.limit_in_bytes":      "268435456\n",
		"cgroup/memory/memory.limit_in_bytes":                  "9223372036854771712\n",
		"cgroup/memory/process_api/c513/memory.usage_in_bytes": "157286400\n",
		"cgroup/memory/process_api/c513/memory.stat":           "cache 1\ntotal_inactive_file 52428800\n",
		"proc/7/status":    status(10240, 3),
		"proc/7/stat":      procStat(7, "boiler", 1, 3),
		"proc/12/status":   status(2048, 1),
		"proc/12/stat":     procStat(12, "sh", 7, 1),
		"proc/13/stat":     procStat(13, "a (b) c", 12, 5),  // a grandchild, odd name
		"proc/30/stat":     procStat(30, "postgres", 1, 40), // not ours: not counted
		"proc/self/status": status(1, 1),                    // not a pid: not counted
	})
	fs.Self = 7
	lim, err := fs.MemoryLimit()
	if err != nil || lim.Value != 256*mib || !strings.Contains(lim.From, "cgroup v1") {
		t.Fatalf("MemoryLimit: %+v, %v; want 256 MiB from v1", lim, err)
	}
	if used, ok, err := fs.MemoryUsed(); err != nil || !ok || used.Value != 100*mib {
		t.Fatalf("MemoryUsed: %+v, %v, %v; want 150 MiB less 50 MiB", used, ok, err)
	}
	if r, err := fs.ProcessLimit(); err != nil || r.From != "" {
		t.Fatalf("ProcessLimit: %+v, %v; want none", r, err)
	}
	if r, err := fs.Tasks(); err != nil || r.Value != 9 || !strings.Contains(r.From, "threads of pid 7 and its descendants") {
		t.Fatalf("Tasks: %+v, %v; want 3+1+5 threads of pid 7's tree counted from proc", r, err)
	}
	if st, err := fs.Status(7); err != nil || st.RSS != 10*mib || st.Threads != 3 {
		t.Fatalf("Status: %+v, %v", st, err)
	}
}

func TestFSNoCgroup(t *testing.T) {
	t.Parallel()
	fs := fakeFS(t, map[string]string{"proc/1/status": status(100, 1)})
	if r, err := fs.MemoryLimit(); err != nil || r.From != "" {
		t.Fatalf("MemoryLimit: %+v, %v; want none", r, err)
	}
	if _, ok, err := fs.MemoryUsed(); err != nil || ok {
		t.Fatalf("MemoryUsed: %v, %v; want not ok", ok, err)
	}
	bad := fakeFS(t, map[string]string{"cgroup/memory.max": "lots\n"})
	if _, err := bad.MemoryLimit(); err == nil || !strings.Contains(err.Error(), `"lots" is not a number`) {
		t.Fatalf("garbage limit: %v", err)
	}
}

func TestFSOnThisMachine(t *testing.T) {
	t.Parallel()
	g, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Check(1, 2, []Worker{{PID: os.Getpid()}}); err != nil {
		t.Fatal(err)
	}
	st, err := (FS{}).Status(os.Getpid())
	if err != nil || st.RSS == 0 || st.Threads == 0 {
		t.Fatalf("own status: %+v, %v", st, err)
	}
	if r, err := (FS{}).Tasks(); err != nil || r.Value < st.Threads {
		t.Fatalf("Tasks: %+v, %v; want at least this process's %d threads", r, err, st.Threads)
	}
}

// TestGuardWithMemoryLimitFlag: a small --memory-limit, workers of 20 MB,
// 30 MB in use: 80 % of 64 MB leaves room for one more worker.
func TestGuardWithMemoryLimitFlag(t *testing.T) {
	t.Parallel()
	fs := fakeFS(t, map[string]string{
		"proc/self/cgroup":      "0::/\n",
		"cgroup/memory.max":     "max\n",
		"cgroup/memory.current": fmt.Sprint(30 * mib),
		"proc/201/status":       status(20*1024, 1),
		"proc/202/status":       status(20*1024, 1),
	})
	g, err := New(Options{MemoryLimit: 64 * mib, FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	if g.MemoryLimit().From != "--memory-limit" || g.TaskCap() != DefaultProcessCap {
		t.Fatalf("limit %+v, cap %d", g.MemoryLimit(), g.TaskCap())
	}
	v, err := g.Check(2, 6, []Worker{{PID: 201}, {PID: 202}, {PID: 999}})
	if err != nil {
		t.Fatal(err)
	}
	if v.Allowed != 3 || !v.Held || !strings.Contains(v.Reason, "a worker takes about 20 MB: room for 1 more") {
		t.Fatalf("verdict %+v", v)
	}
	// A size the supervisor measured (the process group) wins over VmRSS.
	v, _ = g.Check(2, 6, []Worker{{PID: 201, RSS: 5 * mib}, {PID: 202, RSS: 5 * mib}})
	if v.Allowed != 6 || v.Held {
		t.Fatalf("with 5 MB workers: %+v, want all 6", v)
	}

	if _, err := New(Options{MemoryLimit: -1}); err == nil || !strings.Contains(err.Error(), "MemoryLimit") {
		t.Fatalf("negative limit: %v", err)
	}
	if _, err := New(Options{MaxFraction: 1.5}); err == nil || !strings.Contains(err.Error(), "MaxFraction") {
		t.Fatalf("fraction: %v", err)
	}
	capped, _ := New(Options{FS: fakeFS(t, map[string]string{"proc/self/cgroup": "0::/\n", "cgroup/pids.max": "64\n"})})
	if capped.TaskCap() != 64 {
		t.Fatalf("pids.max 64 under the default 256: cap %d", capped.TaskCap())
	}
	uncapped, _ := New(Options{ProcessCap: -1, FS: fs})
	if uncapped.TaskCap() != 0 {
		t.Fatalf("ProcessCap -1: cap %d", uncapped.TaskCap())
	}
}

// formation is an in-memory Formation.
type formation struct {
	count   int
	workers []Worker
	sets    []int
}

func (f *formation) Current(context.Context) (int, error) { return f.count, nil }
func (f *formation) Set(_ context.Context, n int) error {
	f.sets = append(f.sets, n)
	f.count = n
	return nil
}
func (f *formation) Workers(context.Context) ([]Worker, error) { return f.workers, nil }

func TestTargetSetsWhatFitsAndLogs(t *testing.T) {
	t.Parallel()
	fs := fakeFS(t, map[string]string{
		"proc/self/cgroup":      "0::/\n",
		"cgroup/memory.max":     fmt.Sprint(100 * mib),
		"cgroup/memory.current": fmt.Sprint(40 * mib),
		"proc/301/status":       status(15*1024, 1),
	})
	g, err := New(Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	f := &formation{count: 1, workers: []Worker{{PID: 301}}}
	tg, err := NewTarget(f, g, slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	// 80 MB budget, 40 used, 15 MB workers: two more fit.
	err = tg.Set(t.Context(), 8)
	var held *HeldError
	if !errors.As(err, &held) || held.Verdict.Allowed != 3 || f.count != 3 {
		t.Fatalf("Set(8): %v, count %d; want 3 set and a HeldError", err, f.count)
	}
	if !strings.Contains(log.String(), "memory guard holds back workers") || !strings.Contains(log.String(), "allowed=3") {
		t.Fatalf("log: %s", log.String())
	}
	// Full now (the new workers use 35 MB): held at 3, logged once; the
	// same hold again is not logged at Warn.
	writeFiles(t, filepath.Dir(fs.CgroupRoot), map[string]string{"cgroup/memory.current": fmt.Sprint(75 * mib)})
	for range 2 {
		if err := tg.Set(t.Context(), 8); !errors.As(err, &held) || f.count != 3 {
			t.Fatalf("Set(8) when full: %v, count %d", err, f.count)
		}
	}
	if n := strings.Count(log.String(), "memory guard holds back workers"); n != 2 {
		t.Fatalf("%d hold lines, want 2 (1 → 3, then 3 held at 3 once):\n%s", n, log.String())
	}
	// Scaling down is never held.
	if err := tg.Set(t.Context(), 1); err != nil || f.count != 1 {
		t.Fatalf("Set(1): %v, count %d", err, f.count)
	}
	if fmt.Sprint(f.sets) != "[3 1]" {
		t.Fatalf("sets %v", f.sets)
	}
	if _, err := NewTarget(nil, g, nil); err == nil {
		t.Fatal("nil formation: no error")
	}
}

func TestParseBytes(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{
		"536870912": 512 * mib, "512MB": 512 * mib, "512m": 512 * mib, "512 MiB": 512 * mib, "1.5G": 1536 * mib,
		"1gb": 1024 * mib, "64K": 64 << 10, "2T": 2 << 40, "0": 0, "100b": 100,
	} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MB", "512XB", "-1G", "lots", "1e30G", "512 iB", "NaN"} {
		if _, err := ParseBytes(in); err == nil || !strings.Contains(err.Error(), "memory size") {
			t.Errorf("ParseBytes(%q): %v, want an error naming the size", in, err)
		}
	}
}
