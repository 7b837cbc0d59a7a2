package simulate

import (
	"bytes"
	"encoding/xml"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/autoscale"
)

// jobsAt returns a load of n jobs at each of the given seconds.
func jobsAt(n int, secs ...int) Load {
	var arr []time.Duration
	for _, s := range secs {
		for range n {
			arr = append(arr, time.Duration(s)*time.Second)
		}
	}
	return Load{Name: "test", Arrivals: arr}
}

func TestRunFixedWorkerWaits(t *testing.T) {
	t.Parallel()
	// One worker at one job a second, ten jobs at 0: they start at 0..9 s.
	r, err := Run(Config{Load: jobsAt(10, 0), Rate: 1, Tail: time.Minute,
		Policy: autoscale.Options{Min: 1, Max: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if r.P50Wait != 4*time.Second || r.P95Wait != 9*time.Second || r.MaxWait != 9*time.Second || r.Unstarted != 0 {
		t.Fatalf("waits p50 %s p95 %s max %s, unstarted %d; want 4s, 9s, 9s, 0", r.P50Wait, r.P95Wait, r.MaxWait, r.Unstarted)
	}
	// Paid for every step from 0 to the end (61 s) whatever it did.
	if want := 61.0 / 60; r.WorkerMinutes != want || r.Changes != 0 || r.Peak != 1 {
		t.Fatalf("worker-minutes %v (want %v), changes %d, peak %d", r.WorkerMinutes, want, r.Changes, r.Peak)
	}
	// Half a job a second: the fractions carry over.
	r, _ = Run(Config{Load: jobsAt(4, 0), Rate: 0.5, Tail: time.Minute, Policy: autoscale.Options{Min: 1, Max: 1}})
	if r.MaxWait != 7*time.Second {
		t.Fatalf("at 0.5 job/s, the 4th job waited %s, want 7s", r.MaxWait)
	}
}

func TestRunBootDelayAndCost(t *testing.T) {
	t.Parallel()
	// From zero workers: the decision at 0 asks for one, ready at 20 s; the
	// decision at 30 s sees an empty queue and stops it.
	r, err := Run(Config{Load: jobsAt(1, 0), BootDelay: 20 * time.Second, Tail: 2 * time.Minute,
		Policy: autoscale.Options{Min: 0, Max: 3, JobsPerWorker: 1, StabilizationWindow: autoscale.Disabled}})
	if err != nil {
		t.Fatal(err)
	}
	if r.MaxWait != 20*time.Second || r.Changes != 2 || r.WorkerMinutes != 0.5 {
		t.Fatalf("wait %s, changes %d, worker-minutes %v; want 20s, 2, 0.5", r.MaxWait, r.Changes, r.WorkerMinutes)
	}
	if s := r.Series[1]; s.At != 10*time.Second || s.Workers != 1 || s.Ready != 0 || s.Backlog != 1 {
		t.Fatalf("sample at 10 s: %+v, want 1 booting worker and 1 job waiting", s)
	}
}

func TestRunIsDeterministic(t *testing.T) {
	t.Parallel()
	base := Config{Load: EmailBurst()}
	a, err := Compare(base, Settings(1, 10))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Compare(base, Settings(1, 10))
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two runs of the same settings differ")
	}
}

// TestEmailBurstTradeOffs checks what the comparison is for: a window
// costs more and changes less than no window; always-max waits least and
// always-min waits most; every setting starts every job.
func TestEmailBurstTradeOffs(t *testing.T) {
	t.Parallel()
	load := EmailBurst()
	if len(load.Arrivals) != 240+3000+1000+8000 {
		t.Fatalf("email-burst has %d jobs", len(load.Arrivals))
	}
	rs, err := Compare(Config{Load: load}, Settings(1, 10))
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]*Result{}
	for _, r := range rs {
		by[r.Name] = r
		if r.Unstarted != 0 || r.Jobs != len(load.Arrivals) {
			t.Errorf("%s: %d of %d jobs never started", r.Name, r.Unstarted, r.Jobs)
		}
	}
	fixedMin, fixedMax := by["fixed 1"], by["fixed 10"]
	for _, r := range rs {
		if r.WorkerMinutes < fixedMin.WorkerMinutes || r.WorkerMinutes > fixedMax.WorkerMinutes {
			t.Errorf("%s costs %.0f worker-min, outside [fixed 1, fixed 10] = [%.0f, %.0f]", r.Name, r.WorkerMinutes, fixedMin.WorkerMinutes, fixedMax.WorkerMinutes)
		}
		if r.MaxWait < fixedMax.MaxWait || r.MaxWait > fixedMin.MaxWait {
			t.Errorf("%s waits up to %s, outside [fixed 10, fixed 1] = [%s, %s]", r.Name, r.MaxWait, fixedMax.MaxWait, fixedMin.MaxWait)
		}
	}
	for _, jpw := range []string{"25", "100", "400"} {
		none, win := by[jpw+"/worker, no window"], by[jpw+"/worker, window 5m"]
		if win.WorkerMinutes <= none.WorkerMinutes || win.Changes > none.Changes {
			t.Errorf("%s/worker: window %.0f worker-min, %d changes; none %.0f, %d: want the window to cost more and change less",
				jpw, win.WorkerMinutes, win.Changes, none.WorkerMinutes, none.Changes)
		}
	}
	// Autoscaling saves most of always-max's cost.
	if r := by["100/worker, window 5m"]; r.WorkerMinutes > fixedMax.WorkerMinutes/3 {
		t.Errorf("100/worker, window 5m costs %.0f, more than a third of fixed 10's %.0f", r.WorkerMinutes, fixedMax.WorkerMinutes)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	load := jobsAt(1, 0)
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Policy: autoscale.Options{Max: 1}}, "no jobs"},
		{Config{Load: load, Policy: autoscale.Options{Max: 1}, Rate: -1}, "Rate"},
		{Config{Load: load, Policy: autoscale.Options{Max: 1}, BootDelay: -1}, "BootDelay"},
		{Config{Load: load, Policy: autoscale.Options{Max: 1}, Step: time.Minute}, "Step"},
		{Config{Load: load, Policy: autoscale.Options{Max: 1}, Interval: 1500 * time.Millisecond}, "divide Interval"},
		{Config{Load: load, Policy: autoscale.Options{Max: 1}, Tail: -1}, "Tail"},
		{Config{Load: load}, "Max"},
	} {
		if _, err := Run(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.want, err)
		}
	}
}

func TestParseCSV(t *testing.T) {
	t.Parallel()
	l, err := ParseCSV(strings.NewReader("t,count\n# a comment\n10,3\n0\n\n2.5 , 2\n"), "load.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{0, 2500 * time.Millisecond, 2500 * time.Millisecond, 10 * time.Second, 10 * time.Second, 10 * time.Second}
	if !reflect.DeepEqual(l.Arrivals, want) || l.Name != "load.csv" {
		t.Fatalf("arrivals %v, want %v", l.Arrivals, want)
	}
	l, err = ParseCSV(strings.NewReader("2025-03-07T09:01:00Z,2\n2025-03-07T09:00:30Z\n"), "stamps.csv")
	if err != nil {
		t.Fatal(err)
	}
	if want := []time.Duration{0, 30 * time.Second, 30 * time.Second}; !reflect.DeepEqual(l.Arrivals, want) {
		t.Fatalf("timestamps: %v, want %v", l.Arrivals, want)
	}
	for in, msg := range map[string]string{
		"":                          "no jobs",
		"time\n":                    "no jobs",
		"1\nsoon\n":                 "load.csv:2: time \"soon\"",
		"1,2,3\n":                   "load.csv:1: 3 fields",
		"1,-2\n":                    "load.csv:1: count \"-2\"",
		"1\n2025-03-07T09:01:00Z\n": "load.csv:2: timestamp",
		"2025-03-07T09:01:00Z\n3\n": "load.csv:2: seconds",
		"-5\n":                      "load.csv:1: time \"-5\"",
		"1," + "9999999999" + "\n":  "more than",
		"2020-01-01T00:00:00Z\n2025-01-01T00:00:00Z\n": "more than a year",
	} {
		if _, err := ParseCSV(strings.NewReader(in), "load.csv"); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v, want %q", in, err, msg)
		}
	}
}

// svgDoc is the part of the SVG the test reads back.
type svgDoc struct {
	Groups []struct {
		ID      string `xml:"id,attr"`
		Polygon struct {
			Points string `xml:"points,attr"`
		} `xml:"polygon"`
		Polyline struct {
			Points string `xml:"points,attr"`
		} `xml:"polyline"`
		Texts []string `xml:"text"`
	} `xml:"g"`
	Texts []string `xml:"text"`
}

func TestWriteSVG(t *testing.T) {
	t.Parallel()
	rs, err := Compare(Config{Load: jobsAt(50, 0, 300), Tail: 10 * time.Minute}, Settings(0, 4))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteSVG(&buf, "a <test> & more", rs); err != nil {
		t.Fatal(err)
	}
	var doc svgDoc
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("the SVG is not XML: %v", err)
	}
	if len(doc.Groups) != len(rs) || doc.Texts[0] != "a <test> & more" {
		t.Fatalf("%d panels for %d results; title %q", len(doc.Groups), len(rs), doc.Texts[0])
	}
	for i, g := range doc.Groups {
		n := len(rs[i].Series)
		if got := len(strings.Fields(g.Polygon.Points)); got != n+2 {
			t.Errorf("panel %d: backlog has %d points, want %d", i, got, n+2)
		}
		if got := len(strings.Fields(g.Polyline.Points)); got != 2*n-1 {
			t.Errorf("panel %d: workers has %d points, want %d (a step line)", i, got, 2*n-1)
		}
		if g.Texts[0] != rs[i].Name {
			t.Errorf("panel %d is labelled %q, want %q", i, g.Texts[0], rs[i].Name)
		}
	}
	// The workers line is at the top of the panel when at the most workers.
	fixed := doc.Groups[0] // "fixed 4": always at the top
	if !strings.HasPrefix(fixed.Polyline.Points, "60.0,58.0 ") {
		t.Errorf("fixed 4's line starts at %q, want the top left of the plot (60.0,58.0)", fixed.Polyline.Points[:20])
	}
}

func TestWriteTable(t *testing.T) {
	t.Parallel()
	rs, err := Compare(Config{Load: jobsAt(10, 0)}, Settings(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, rs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(rs)+1 || !strings.Contains(lines[0], "worker-min") || !strings.HasPrefix(lines[1], "fixed 1 ") {
		t.Fatalf("table:\n%s", buf.String())
	}
}

func TestFmtDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		5 * time.Minute: "5m", 90 * time.Second: "1m30s", time.Hour: "1h", 0: "0s", 1500 * time.Millisecond: "2s",
	} {
		if got := fmtDuration(d); got != want {
			t.Errorf("fmtDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
