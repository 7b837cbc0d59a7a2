package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/spf13/cobra"

	"github.com/doubleboiler/boiler/autoscale"
	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/storeurl"
)

// inProcess is a boiler command (serve, demo) running in this process.
type inProcess struct {
	out    *lockedBuffer
	cancel context.CancelFunc
	done   chan error
}

// runInProcess runs cmd with args in a goroutine until the test ends
// (or stop is called); its output goes to a buffer.
func runInProcess(t *testing.T, cmd *cobra.Command, args ...string) *inProcess {
	t.Helper()
	p := &inProcess{out: &lockedBuffer{}, done: make(chan error, 1)}
	root := &cobra.Command{Use: "boiler", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(cmd)
	root.SetArgs(args)
	root.SetOut(p.out)
	root.SetErr(p.out)
	var ctx context.Context
	ctx, p.cancel = context.WithCancel(context.Background())
	go func() { p.done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop cancels the command (a SIGTERM) and returns its error.
func (p *inProcess) stop(t *testing.T) error {
	t.Helper()
	p.cancel()
	select {
	case err := <-p.done:
		p.done <- err // for a second stop
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("the command did not stop within 30 s:\n%s", p.out)
		return nil
	}
}

// urlRE finds the base URL a serve or demo command prints.
var urlRE = regexp.MustCompile(`http://(127\.0\.0\.1|localhost):[0-9]+`)

// baseURL waits for the command to print its URL, and returns it.
func (p *inProcess) baseURL(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if u := urlRE.FindString(p.out.String()); u != "" {
			return u
		}
		select {
		case err := <-p.done:
			t.Fatalf("the command ended before printing its URL: %v\n%s", err, p.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no URL printed within 20 s:\n%s", p.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// getJSON GETs url and decodes its JSON body into v.
func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if v != nil && res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v in %s", url, err, body)
		}
	}
	return res.StatusCode
}

// jobState returns the state of job id through the API.
func jobState(t *testing.T, base string, id int64) string {
	t.Helper()
	var j struct {
		State string `json:"state"`
		Job   *struct {
			State string `json:"state"`
		} `json:"job"`
	}
	if code := getJSON(t, fmt.Sprintf("%s/api/jobs/%d", base, id), &j); code != http.StatusOK {
		t.Fatalf("GET /api/jobs/%d: status %d", id, code)
	}
	if j.Job != nil {
		return j.Job.State
	}
	return j.State
}

// chromiumPath returns the headless browser's path, or skips the test
// (fails it when BOILER_TEST_REQUIRE_SERVICES=1) when none is installed.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "chromium is not installed (apt-get install -y chromium): the browser tests need it"
	if os.Getenv("BOILER_TEST_REQUIRE_SERVICES") == "1" {
		t.Fatal(msg + ", and BOILER_TEST_REQUIRE_SERVICES=1")
	}
	t.Skip(msg)
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile and returns
// a tab's context; the browser is closed when the test ends.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1100),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser, without a deadline (see chromedp.Run)
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// run runs browser actions with a deadline.
func run(t *testing.T, ctx context.Context, within time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// waitJS polls a JavaScript boolean expression in the page until it is
// true.
func waitJS(t *testing.T, ctx context.Context, within time.Duration, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ectx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ok, err := chromedp.Run(ectx, chromedp.Evaluate[bool](expr))
		cancel()
		if err != nil {
			t.Fatalf("%s: evaluating %s: %v", what, expr, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			ectx, cancel := context.WithTimeout(ctx, 10*time.Second)
			text, _ := chromedp.Run(ectx, chromedp.Evaluate[string](`document.body.innerText`))
			cancel()
			t.Fatalf("timed out after %s waiting for %s (%s); the page says:\n%s", within, what, expr, text)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// commas writes n as the page does (toLocaleString("en-US")): 5,000.
func commas(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// evalString evaluates a JavaScript expression in the page.
func evalString(t *testing.T, ctx context.Context, expr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// screenshotDir is where the browser tests keep their screenshots; it
// outlives the test so that a person can look at them.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "boiler-screenshots-")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// screenshot saves the page as dir/name.png and logs the path. With
// publish set and BOILER_UPDATE_SCREENSHOTS=1, it also copies it to
// docs/screenshots for the README.
func screenshot(t *testing.T, ctx context.Context, dir, name string, publish bool) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	if publish && os.Getenv("BOILER_UPDATE_SCREENSHOTS") == "1" {
		docs := filepath.Join("..", "..", "docs", "screenshots", name+".png")
		if err := os.MkdirAll(filepath.Dir(docs), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(docs, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("copied to %s", docs)
	}
}

// startTestDemo runs `boiler demo` in process on a free port with its own
// SQLite file and returns it with its URL and store URL.
func startTestDemo(t *testing.T, args ...string) (*inProcess, string, string) {
	t.Helper()
	storeURL := "sqlite://" + filepath.Join(t.TempDir(), "demo.db")
	p := runInProcess(t, newDemoCmd(), append([]string{"demo", "--addr", "127.0.0.1:0", "--store", storeURL}, args...)...)
	return p, p.baseURL(t), storeURL
}

// decisionsOf returns the autoscaler's decisions, newest first.
func decisionsOf(t *testing.T, base string) []autoscale.Decision {
	t.Helper()
	var d struct {
		Decisions []autoscale.Decision `json:"decisions"`
	}
	if code := getJSON(t, base+"/api/autoscale/decisions", &d); code != http.StatusOK {
		t.Fatalf("GET /api/autoscale/decisions: %d", code)
	}
	return d.Decisions
}

// TestDemoScalesPoolsUpAndDown fills the demo's queue through the API: the
// autoscaler adds worker pools while the backlog waits, every job is done,
// and the pools go back to the minimum once the window has passed.
func TestDemoScalesPoolsUpAndDown(t *testing.T) {
	t.Parallel()
	p, base, _ := startTestDemo(t, "--window", "1s", "--interval", "100ms", "--concurrency", "2", "--jobs-per-worker", "20", "--max", "4")
	if !strings.Contains(p.out.String(), base+"/demo") {
		t.Errorf("the demo did not print its page's URL:\n%s", p.out)
	}
	jobs := make([]string, 400)
	for i := range jobs {
		jobs[i] = `{"kind": "sleep", "queue": "demo", "args": {"ms": 5}}`
	}
	res, err := http.Post(base+"/api/jobs/batch", "application/json", strings.NewReader(`{"jobs": [`+strings.Join(jobs, ",")+`]}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/jobs/batch: %d", res.StatusCode)
	}
	var up time.Time
	waitUntil(t, 30*time.Second, "a scale-up beyond one pool", func() bool {
		for _, d := range decisionsOf(t, base) {
			if d.Action == autoscale.ActionUp && d.Desired > 1 && d.ApplyError == "" {
				up = d.At
				return true
			}
		}
		return false
	})
	waitUntil(t, 60*time.Second, "the 400 jobs to complete", func() bool {
		var q struct {
			Queues []struct {
				Name   string           `json:"name"`
				Counts map[string]int64 `json:"counts"`
			} `json:"queues"`
		}
		getJSON(t, base+"/api/queues", &q)
		for _, x := range q.Queues {
			if x.Name == "demo" {
				return x.Counts["completed"] == 400
			}
		}
		return false
	})
	var last []autoscale.Decision
	defer func() {
		if t.Failed() {
			for _, d := range last {
				t.Logf("decision %s %s %d→%d backlog %d apply error %q: %s", d.At.Format("15:04:05.000"), d.Action, d.Current, d.Desired, d.Metric.Backlog, d.ApplyError, d.Reason)
			}
		}
	}()
	waitUntil(t, 60*time.Second, "a scale-down to one pool", func() bool {
		last = decisionsOf(t, base)
		for _, d := range last { // newest first
			if d.Action == autoscale.ActionUp {
				return false // scaled up again since
			}
			if d.Action == autoscale.ActionDown && d.Desired == 1 && d.ApplyError == "" && d.At.After(up) {
				return true
			}
		}
		return false
	})
	if err := p.stop(t); err != nil {
		t.Errorf("demo after SIGTERM: %v, want a clean stop", err)
	}
}

func TestBrowserDashboardRetriesADiscardedJob(t *testing.T) {
	// Not parallel: Chromium takes both cores of a CI machine, and the
	// timing of the package's other end-to-end tests (the demo's autoscaler)
	// flaked beside it. Sequential tests run before the parallel ones.
	ctx := newBrowser(t)
	_, base, storeURL := startTestDemo(t)
	shots := screenshotDir(t)

	// A job that fails its one attempt: discarded. Retried, it gets one
	// more attempt, which succeeds.
	out := mustRun(t, "enqueue", "fail", `{"times": 1}`, "--max-attempts", "1", "--store", storeURL)
	id, err := strconv.ParseInt(strings.Fields(out)[0], 10, 64)
	if err != nil {
		t.Fatalf("enqueue printed %q, want the job's ID first", out)
	}
	waitUntil(t, 20*time.Second, "the job to be discarded", func() bool { return jobState(t, base, id) == "discarded" })

	row := fmt.Sprintf(`#job-list tr[data-id="%d"]`, id)
	run(t, ctx, 30*time.Second, "opening the dashboard and the discarded job",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#live.on`)),
		chromedp.Click(chromedp.CSS(`#states button[data-state="discarded"]`)),
	)
	// The list is redrawn as events arrive, so the row is clicked in the
	// page, where it cannot go stale between finding and clicking.
	waitJS(t, ctx, 10*time.Second, "the discarded job in the list, clicked",
		fmt.Sprintf(`(r => r ? (r.click(), true) : false)(document.querySelector(%q))`, row))
	run(t, ctx, 10*time.Second, "the job's detail", chromedp.WaitVisible(chromedp.CSS(`#detail`)))
	waitJS(t, ctx, 10*time.Second, "the detail to show the discarded job",
		`document.getElementById("d-state").textContent === "discarded" && document.getElementById("d-errors").textContent.includes("planned failure")`)
	screenshot(t, ctx, shots, "dashboard-discarded-job", false)

	run(t, ctx, 10*time.Second, "clicking Retry", chromedp.Click(chromedp.CSS(`#d-retry`)))
	waitJS(t, ctx, 20*time.Second, "the retried job to complete, seen in the page",
		`document.getElementById("d-state").textContent === "completed"`)
	if got := jobState(t, base, id); got != "completed" {
		t.Errorf("after the retry the API says job %d is %s, want completed", id, got)
	}
	screenshot(t, ctx, shots, "dashboard-retried-job", true)

	// A workflow's waiting job shows its workflow (a link that filters
	// the list) and the job it waits for, with its state.
	first, waiting := insertWorkflow(t, storeURL, "wf-browser")
	run(t, ctx, 10*time.Second, "the waiting tab", chromedp.Click(chromedp.CSS(`#states button[data-state="waiting"]`)))
	waitJS(t, ctx, 10*time.Second, "the waiting job in the list, clicked",
		fmt.Sprintf(`(r => r ? (r.click(), true) : false)(document.querySelector('#job-list tr[data-id="%d"]'))`, waiting))
	waitJS(t, ctx, 10*time.Second, "the detail to show the workflow and the dependency's state",
		fmt.Sprintf(`document.getElementById("d-state").textContent === "waiting" && document.getElementById("d-workflow-link").textContent === "wf-browser"`+
			` && document.querySelector('#d-deps a[data-id="%d"]').textContent.includes("scheduled")`, first))
	screenshot(t, ctx, shots, "dashboard-workflow-job", true)
	run(t, ctx, 10*time.Second, "following the workflow link", chromedp.Click(chromedp.CSS(`#d-workflow-link`)))
	waitJS(t, ctx, 10*time.Second, "the list filtered by the workflow",
		fmt.Sprintf(`location.search === "?workflow=wf-browser" && document.querySelectorAll("#job-list tbody tr").length === 2`+
			` && !!document.querySelector('#job-list tr[data-id="%d"]') && !!document.querySelector('#job-list tr[data-id="%d"]')`, first, waiting))

	// The Workers card lists the demo's workers from the registry, and
	// the Periodic card a periodic job made through the API, which its
	// Delete button deletes.
	res, err := http.Post(base+"/api/periodic", "application/json",
		strings.NewReader(`{"name":"tidy-up","spec":"@every 5s","kind":"noop","args":{"i":1},"catch_up":"skip"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/periodic: %d", res.StatusCode)
	}
	run(t, ctx, 30*time.Second, "reloading the dashboard", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#live.on`)))
	waitJS(t, ctx, 20*time.Second, "the Workers card to list a live worker",
		`[...document.querySelectorAll("#workers tbody tr")].some(r => !r.classList.contains("stale") && r.cells[1].textContent.includes("demo"))`)
	waitJS(t, ctx, 20*time.Second, "the Periodic card to list tidy-up with its next run",
		`(r => r && r.cells[1].textContent === "@every 5s" && r.cells[3].textContent.includes("in "))(document.querySelector('#periodic tr[data-name="tidy-up"]'))`)
	// The demo's workers run the scheduler: a tick fires within seconds,
	// and the card (polled every 5 s) shows it as the last run.
	waitJS(t, ctx, 40*time.Second, "the Periodic card to show tidy-up's last run and its job",
		`(r => r && r.cells[4].textContent.includes("ago") && r.cells[4].textContent.includes("job #"))(document.querySelector('#periodic tr[data-name="tidy-up"]'))`)
	screenshot(t, ctx, shots, "dashboard-workers-periodic", true)

	evalString(t, ctx, `(window.confirm = () => true, "")`)
	run(t, ctx, 10*time.Second, "deleting tidy-up", chromedp.Click(chromedp.CSS(`#periodic button[data-name="tidy-up"]`)))
	waitJS(t, ctx, 10*time.Second, "tidy-up gone from the card",
		`!document.querySelector('#periodic tr[data-name="tidy-up"]') && document.getElementById("periodic-message").textContent.includes("deleted")`)
	var left struct {
		Periodic []struct{ Name string } `json:"periodic"`
	}
	if code := getJSON(t, base+"/api/periodic", &left); code != http.StatusOK || len(left.Periodic) != 0 {
		t.Errorf("after the delete GET /api/periodic: %d %+v, want an empty list", code, left)
	}
}

// TestBrowserDemoPageRuns500Jobs fires 500 jobs from the demo page
// (BOILER_DEMO_JOBS overrides the count: the README's screenshot is of
// 5,000) and waits until the page has seen every one done.
func TestBrowserDemoPageRuns500Jobs(t *testing.T) {
	// Not parallel: Chromium takes both cores of a CI machine, and the
	// timing of the package's other end-to-end tests (the demo's autoscaler)
	// flaked beside it. Sequential tests run before the parallel ones.
	ctx := newBrowser(t)
	_, base, _ := startTestDemo(t)
	shots := screenshotDir(t)
	jobs := 500
	if n, err := strconv.Atoi(os.Getenv("BOILER_DEMO_JOBS")); err == nil && n > 0 {
		jobs = n
	}

	// The dashboard follows the run in a second tab.
	dash, closeDash := chromedp.NewContext(ctx)
	defer closeDash()
	if err := chromedp.Do(dash); err != nil { // opens the tab, without a deadline (see chromedp.Run)
		t.Fatal(err)
	}
	run(t, dash, 30*time.Second, "opening the dashboard", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#live.on`)))

	run(t, ctx, 30*time.Second, "opening the demo page and firing the jobs",
		chromedp.Navigate(base+"/demo"),
		chromedp.WaitVisible(chromedp.CSS(`#live.on`)),
		chromedp.SetValue(chromedp.CSS(`#fire-form input[name="count"]`), strconv.Itoa(jobs)),
		chromedp.SetValue(chromedp.CSS(`#fire-form input[name="batch"]`), cmp.Or(os.Getenv("BOILER_DEMO_BATCH"), "1")),
		chromedp.Click(chromedp.CSS(`#fire`)),
	)
	waitJS(t, ctx, 90*time.Second+time.Duration(jobs)*20*time.Millisecond, "every job done",
		fmt.Sprintf(`+document.body.dataset.done >= %d`, jobs))
	waitJS(t, ctx, 10*time.Second, "the summary", `!document.getElementById("summary").hidden`)
	p50 := evalString(t, ctx, `document.getElementById("s-p50").textContent`)
	p99 := evalString(t, ctx, `document.getElementById("s-p99").textContent`)
	summary := evalString(t, ctx, `document.getElementById("summary").textContent`)
	workers, _ := strconv.Atoi(evalString(t, ctx, `document.getElementById("s-workers").textContent`))
	t.Logf("demo page: %s (p50 %s, p99 %s, %d pools)", summary, p50, p99, workers)
	if p50 == "–" || p99 == "–" || workers < 1 {
		t.Errorf("figures missing: p50 %q, p99 %q, %d pools", p50, p99, workers)
	}
	screenshot(t, ctx, shots, "demo", true)
	waitJS(t, dash, 10*time.Second, "the dashboard to show the completed jobs",
		fmt.Sprintf(`[...document.querySelectorAll("#queues tbody tr")].some(r => r.cells[0].textContent === "demo" && r.querySelector('a[data-state="completed"]').textContent === %q)`+
			` && document.querySelector("#job-list tbody .state").textContent === "completed"`, commas(jobs)))
	screenshot(t, dash, shots, "dashboard", true)
}

// insertWorkflow inserts, straight into the store, a job of workflow
// wf due in an hour and a second one waiting for it, and returns their
// IDs.
func insertWorkflow(t *testing.T, storeURL, wf string) (first, waiting int64) {
	t.Helper()
	ctx := context.Background()
	s, err := storeurl.Open(ctx, storeURL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now().UTC()
	res, err := s.JobInsertMany(ctx, &store.JobInsertManyParams{Now: now, Jobs: []*store.JobInsertParams{
		{Kind: "noop", Queue: "demo", Args: json.RawMessage(`{"i":1}`), MaxAttempts: 3, RunAt: now.Add(time.Hour), Workflow: wf},
		{Kind: "noop", Queue: "demo", Args: json.RawMessage(`{"i":2}`), MaxAttempts: 3, RunAt: now, Workflow: wf, After: []int{0}},
	}})
	if err != nil {
		t.Fatalf("inserting the workflow: %v", err)
	}
	if res[1].Job.State != store.StateWaiting {
		t.Fatalf("the second job is %s, want waiting", res[1].Job.State)
	}
	return res[0].Job.ID, res[1].Job.ID
}
