package bench

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
)

// resetPeakRSS asks Linux to restart the process's peak resident set size
// (VmHWM) from the current size, so each workload reports its own peak.
// It reports whether that worked; elsewhere the peak is the process's since
// it started.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// currentRSS returns the process's resident set size in bytes (VmRSS
// from /proc/self/status; zero where unknown).
func currentRSS() int64 {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		if n, ok := parseStatusKB(b, "VmRSS:"); ok {
			return n
		}
	}
	return 0
}

// peakRSS returns the process's peak resident set size in bytes: VmHWM
// from /proc/self/status on Linux, else getrusage's ru_maxrss. Zero means
// unknown.
func peakRSS() int64 {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		if n, ok := parseStatusKB(b, "VmHWM:"); ok {
			return n
		}
	}
	return maxRSS()
}

// parseVmHWM reads the "VmHWM:   1234 kB" line of /proc/self/status.
func parseVmHWM(status []byte) (int64, bool) { return parseStatusKB(status, "VmHWM:") }

// parseStatusKB reads a line such as "VmRSS:   1234 kB" of
// /proc/self/status, in bytes.
func parseStatusKB(status []byte, field string) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte(field))
		if !ok {
			continue
		}
		fields := bytes.Fields(rest)
		if len(fields) != 2 || string(fields[1]) != "kB" {
			return 0, false
		}
		kb, err := strconv.ParseInt(string(fields[0]), 10, 64)
		if err != nil {
			return 0, false
		}
		return kb * 1024, true
	}
	return 0, false
}
