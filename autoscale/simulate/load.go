package simulate

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxJobs bounds the jobs of one load, so a wrong CSV cannot exhaust
// memory.
const MaxJobs = 5_000_000

// Load is the jobs to replay: when each was enqueued, from the start of
// the run.
type Load struct {
	// Name names the load in reports.
	Name string
	// Arrivals are the enqueue times, sorted, from 0.
	Arrivals []time.Duration
}

// Duration is the time of the last arrival.
func (l Load) Duration() time.Duration {
	if len(l.Arrivals) == 0 {
		return 0
	}
	return l.Arrivals[len(l.Arrivals)-1]
}

// burst adds n arrivals spread evenly over [at, at+over).
func burst(arr []time.Duration, at time.Duration, n int, over time.Duration) []time.Duration {
	for i := range n {
		arr = append(arr, at+time.Duration(int64(over)*int64(i)/int64(n)))
	}
	return arr
}

// EmailBurst is the built-in scenario: a newsletter service over two
// hours. The steady state is quiet (a password reset or a welcome email
// every 30 seconds); then come the sends: 3,000 emails within 10 seconds
// at 0:10, two batches of 500 at 0:40 and 0:46 (a lull shorter than a
// stabilization window between them), and a big newsletter of 8,000
// within 30 seconds at 1:10.
func EmailBurst() Load {
	var arr []time.Duration
	for t := time.Duration(0); t < 2*time.Hour; t += 30 * time.Second {
		arr = append(arr, t)
	}
	arr = burst(arr, 10*time.Minute, 3000, 10*time.Second)
	arr = burst(arr, 40*time.Minute, 500, time.Minute)
	arr = burst(arr, 46*time.Minute, 500, time.Minute)
	arr = burst(arr, 70*time.Minute, 8000, 30*time.Second)
	slices.Sort(arr)
	return Load{Name: "email-burst", Arrivals: arr}
}

// Scenarios lists the built-in loads by name.
func Scenarios() map[string]func() Load {
	return map[string]func() Load{"email-burst": EmailBurst}
}

// ParseCSV reads a load from CSV: one row per enqueue time, "time" or
// "time,count" (count jobs at that time; default 1). A time is either
// seconds from the start ("12.5") or an RFC 3339 timestamp
// ("2025-03-07T09:00:12Z", counted from the earliest row); one file uses
// one form. Rows starting with # are comments, and a first row whose time
// does not parse is a header. Rows need not be sorted.
func ParseCSV(r io.Reader, name string) (Load, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.Comment = '#'
	cr.TrimLeadingSpace = true
	var (
		secs   []float64
		stamps []time.Time
		counts []int
		total  int
		first  = true
	)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Load{}, fmt.Errorf("reading %s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 0 || (len(rec) == 1 && strings.TrimSpace(rec[0]) == "") {
			continue
		}
		if len(rec) > 2 {
			return Load{}, fmt.Errorf("%s:%d: %d fields, want time or time,count", name, line, len(rec))
		}
		field := strings.TrimSpace(rec[0])
		s, serr := strconv.ParseFloat(field, 64)
		ts, terr := time.Parse(time.RFC3339Nano, field)
		isHeader := first && serr != nil && terr != nil
		first = false
		switch {
		case isHeader:
			continue
		case serr == nil:
			if math.IsNaN(s) || math.IsInf(s, 0) || s < 0 || s > 365*24*3600 {
				return Load{}, fmt.Errorf("%s:%d: time %q is not a number of seconds between 0 and a year", name, line, field)
			}
			if len(stamps) > 0 {
				return Load{}, fmt.Errorf("%s:%d: seconds %q after timestamps: use one form", name, line, field)
			}
			secs = append(secs, s)
		case terr == nil:
			if len(secs) > 0 {
				return Load{}, fmt.Errorf("%s:%d: timestamp %q after seconds: use one form", name, line, field)
			}
			stamps = append(stamps, ts)
		default:
			return Load{}, fmt.Errorf("%s:%d: time %q is neither seconds nor an RFC 3339 timestamp", name, line, field)
		}
		n := 1
		if len(rec) == 2 {
			n, err = strconv.Atoi(strings.TrimSpace(rec[1]))
			if err != nil || n < 0 {
				return Load{}, fmt.Errorf("%s:%d: count %q is not a whole number", name, line, rec[1])
			}
		}
		if total += n; total > MaxJobs {
			return Load{}, fmt.Errorf("%s:%d: more than %d jobs", name, line, MaxJobs)
		}
		counts = append(counts, n)
	}
	var base time.Time
	if len(stamps) > 0 {
		base = slices.MinFunc(stamps, func(a, b time.Time) int { return a.Compare(b) })
	}
	arr := make([]time.Duration, 0, total)
	for i, n := range counts {
		var at time.Duration
		if len(stamps) > 0 {
			at = stamps[i].Sub(base)
		} else {
			at = time.Duration(secs[i] * float64(time.Second))
		}
		for range n {
			arr = append(arr, at)
		}
	}
	if len(arr) == 0 {
		return Load{}, fmt.Errorf("%s: no jobs", name)
	}
	slices.Sort(arr)
	if arr[len(arr)-1]-arr[0] > 366*24*time.Hour {
		return Load{}, fmt.Errorf("%s: the jobs span more than a year", name)
	}
	return Load{Name: name, Arrivals: arr}, nil
}
