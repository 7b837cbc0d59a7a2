package memguard

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// unlimitedV1 is the smallest "limit" cgroup v1 uses to mean none (it
// writes the largest page-aligned int64).
const unlimitedV1 = int64(1) << 62

// FS reads the container's limits and usage from the cgroup and proc
// filesystems. Its roots are configurable so tests use a temp dir.
type FS struct {
	// CgroupRoot is where the cgroup filesystem is mounted. Default
	// /sys/fs/cgroup.
	CgroupRoot string
	// ProcRoot is where proc is mounted. Default /proc.
	ProcRoot string
	// Self is the process whose tree Tasks counts when no cgroup counts
	// tasks. Default: this process (os.Getpid()).
	Self int
}

func (f FS) cgroupRoot() string { return cmp.Or(f.CgroupRoot, "/sys/fs/cgroup") }
func (f FS) procRoot() string   { return cmp.Or(f.ProcRoot, "/proc") }

// Reading is a value read from the container, and where it came from.
type Reading struct {
	// Value is the number read; 0 with an empty From when nothing said.
	Value int64
	// From names the file (and cgroup version) the value came from.
	From string
}

// selfCgroups returns the process's cgroup paths from /proc/self/cgroup:
// the v2 path ("0::/path") and the v1 paths by controller.
func (f FS) selfCgroups() (v2 string, v1 map[string]string) {
	v1 = map[string]string{}
	data, err := os.ReadFile(filepath.Join(f.procRoot(), "self", "cgroup"))
	if err != nil {
		return "/", v1
	}
	v2 = "/"
	for line := range strings.SplitSeq(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			v2 = parts[2]
			continue
		}
		for c := range strings.SplitSeq(parts[1], ",") {
			v1[c] = parts[2]
		}
	}
	return v2, v1
}

// dirsUp returns base/path and each of its parents up to base, leaf
// first. A path that climbs out of base is cut to base.
func dirsUp(base, path string) []string {
	clean := filepath.Clean("/" + path)
	var dirs []string
	for {
		dirs = append(dirs, filepath.Join(base, clean))
		if clean == "/" {
			return dirs
		}
		clean = filepath.Dir(clean)
	}
}

// readInt reads a file holding one integer or "max" (returned as -1).
func readInt(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(data))
	if s == "max" {
		return -1, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %q is not a number", path, s)
	}
	return n, nil
}

// lowestLimit returns the lowest limit in file over dirs (a cgroup's
// limit is also bounded by its parents'), or a zero Reading when none is
// set. A file that does not exist is skipped; another error is returned.
func lowestLimit(dirs []string, file, version string) (Reading, error) {
	var best Reading
	for _, d := range dirs {
		path := filepath.Join(d, file)
		n, err := readInt(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Reading{}, err
		}
		if n < 0 || n >= unlimitedV1 { // "max", or v1's "no limit"
			continue
		}
		if best.From == "" || n < best.Value {
			best = Reading{Value: n, From: version + " " + path}
		}
	}
	return best, nil
}

// firstExisting returns the value of file in the first of dirs that has
// it, and that dir.
func firstExisting(dirs []string, file, version string) (Reading, string, bool, error) {
	for _, d := range dirs {
		path := filepath.Join(d, file)
		n, err := readInt(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Reading{}, "", false, err
		}
		return Reading{Value: n, From: version + " " + path}, d, true, nil
	}
	return Reading{}, "", false, nil
}

// MemoryLimit returns the container's memory limit in bytes: cgroup v2
// memory.max, else cgroup v1 memory.limit_in_bytes, the lowest along the
// process's cgroup and its parents. A zero Reading means no limit is set.
func (f FS) MemoryLimit() (Reading, error) {
	v2, v1 := f.selfCgroups()
	root := f.cgroupRoot()
	r, err := lowestLimit(dirsUp(root, v2), "memory.max", "cgroup v2")
	if err != nil || r.From != "" {
		return r, err
	}
	return lowestLimit(dirsUp(filepath.Join(root, "memory"), v1["memory"]), "memory.limit_in_bytes", "cgroup v1")
}

// MemoryUsed returns the memory the container uses in bytes, as the
// kernel counts it against the limit, less the inactive file cache (which
// the kernel reclaims before it kills): cgroup v2 memory.current, else
// cgroup v1 memory.usage_in_bytes. ok is false when neither exists.
func (f FS) MemoryUsed() (Reading, bool, error) {
	v2, v1 := f.selfCgroups()
	root := f.cgroupRoot()
	inactive := "inactive_file"
	r, dir, ok, err := firstExisting(dirsUp(root, v2), "memory.current", "cgroup v2")
	if err == nil && !ok {
		inactive = "total_inactive_file"
		r, dir, ok, err = firstExisting(dirsUp(filepath.Join(root, "memory"), v1["memory"]), "memory.usage_in_bytes", "cgroup v1")
	}
	if err != nil || !ok {
		return r, ok, err
	}
	if n, found := statField(filepath.Join(dir, "memory.stat"), inactive); found && n <= r.Value {
		r.Value -= n
	}
	return r, true, nil
}

// statField returns the value of key in a "key value" file (memory.stat).
func statField(path, key string) (int64, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// ProcessLimit returns the container's cap on processes and threads
// (cgroup pids.max, v2 then v1), or a zero Reading when none is set.
func (f FS) ProcessLimit() (Reading, error) {
	v2, v1 := f.selfCgroups()
	root := f.cgroupRoot()
	r, err := lowestLimit(dirsUp(root, v2), "pids.max", "cgroup v2")
	if err != nil || r.From != "" {
		return r, err
	}
	return lowestLimit(dirsUp(filepath.Join(root, "pids"), v1["pids"]), "pids.max", "cgroup v1")
}

// Tasks returns how many processes and threads the container runs: cgroup
// pids.current (v2, then v1), else the threads of this process (Self) and
// of all its descendants, read from proc: what `boiler start` and its
// formation run. (Counting every process in proc would, on a host or a
// laptop, charge the whole machine's threads to the formation's cap.)
func (f FS) Tasks() (Reading, error) {
	v2, v1 := f.selfCgroups()
	root := f.cgroupRoot()
	if r, _, ok, err := firstExisting(dirsUp(root, v2), "pids.current", "cgroup v2"); err != nil || ok {
		return r, err
	}
	if r, _, ok, err := firstExisting(dirsUp(filepath.Join(root, "pids"), v1["pids"]), "pids.current", "cgroup v1"); err != nil || ok {
		return r, err
	}
	entries, err := os.ReadDir(f.procRoot())
	if err != nil {
		return Reading{}, fmt.Errorf("counting processes: %w", err)
	}
	children := make(map[int][]int)
	threads := make(map[int]int64)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !e.IsDir() {
			continue
		}
		ppid, n, err := f.stat(pid)
		if err != nil {
			continue // it exited meanwhile
		}
		children[ppid] = append(children[ppid], pid)
		threads[pid] = max(n, 1)
	}
	self := f.self()
	total := threads[self]
	seen := map[int]bool{self: true}
	for queue := children[self]; len(queue) > 0; queue = queue[1:] {
		pid := queue[0]
		if seen[pid] { // pid reuse cannot loop the walk
			continue
		}
		seen[pid] = true
		total += threads[pid]
		queue = append(queue, children[pid]...)
	}
	return Reading{Value: total, From: fmt.Sprintf("threads of pid %d and its descendants in %s", self, f.procRoot())}, nil
}

// self is the pid whose tree Tasks counts.
func (f FS) self() int {
	if f.Self != 0 {
		return f.Self
	}
	return os.Getpid()
}

// stat reads a process's parent and thread count from /proc/<pid>/stat.
func (f FS) stat(pid int) (ppid int, threads int64, _ error) {
	data, err := os.ReadFile(filepath.Join(f.procRoot(), strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, err
	}
	// "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("reading the stat of pid %d: no command name", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 18 {
		return 0, 0, fmt.Errorf("reading the stat of pid %d: %d fields", pid, len(fields))
	}
	ppid, err = strconv.Atoi(fields[1])
	if err != nil {
		return 0, 0, fmt.Errorf("reading the stat of pid %d: parent %q", pid, fields[1])
	}
	threads, err = strconv.ParseInt(fields[17], 10, 64) // num_threads, field 20
	if err != nil {
		return 0, 0, fmt.Errorf("reading the stat of pid %d: threads %q", pid, fields[17])
	}
	return ppid, threads, nil
}

// Status is what the guard reads from /proc/<pid>/status.
type Status struct {
	RSS     int64 // resident memory, bytes (VmRSS)
	Threads int64 // threads of the process
}

// Status reads /proc/<pid>/status.
func (f FS) Status(pid int) (Status, error) {
	path := filepath.Join(f.procRoot(), strconv.Itoa(pid), "status")
	data, err := os.ReadFile(path)
	if err != nil {
		return Status{}, fmt.Errorf("reading process status: %w", err)
	}
	var st Status
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			st.RSS = n * 1024 // "kB"
		case "Threads":
			st.Threads = n
		}
	}
	return st, nil
}
