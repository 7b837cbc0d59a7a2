package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/doubleboiler/boiler/internal/bench"
	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/storeurl"
)

// benchFlags are the options of `boiler bench`.
type benchFlags struct {
	workload    string
	jobs        int
	concurrency int
	asJSON      bool
	duration    time.Duration // http
	clients     int           // http
	cpuProfile  string        // a file for a CPU profile of the run
}

// newBenchCmd builds `boiler bench`.
func newBenchCmd() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the queue: throughput (W1, W2), latency (W3) and the JSON API under load (http)",
		Long: "Bench runs the benchmark workloads in this process, client and worker together:\n" +
			"  w1    20,000 no-op jobs: enqueue one at a time, in bulk, drain (concurrency 100),\n" +
			"        and end to end with the worker running while enqueueing\n" +
			"  w2    5,000 jobs sleeping 10 ms each (ideal: concurrency / 10 ms per second)\n" +
			"  w3    a steady 1,000 jobs/s for 10 s: enqueue-to-start latency\n" +
			"  http  the API of boiler serve on 127.0.0.1 with a worker in the same process:\n" +
			"        --clients (64) clients POST single no-op jobs to /api/jobs for --duration\n" +
			"        (20s); accepted jobs/s, request p50/p99, the time from the load's end until\n" +
			"        every job is done, the idle RSS before the load and the peak RSS during it\n" +
			"Each reports enqueue-to-start p50/p99 and the peak RSS. --jobs changes the sizes\n" +
			"(w3: the duration). \"all\" runs w1, w2 and w3; http runs when named.\n" +
			"Without --store or $" + storeurl.EnvVar + ", each workload runs on a\n" +
			"new temporary SQLite file; with one, the jobs go to a queue of their own\n" +
			"(bench-<random>-w1...) that is deleted afterwards, and no other job is touched.",
		Example: "  boiler bench\n  boiler bench --workload w3 --store postgres://localhost/app --json\n" +
			"  boiler bench --workload http --duration 20s --clients 64",
		Args: cobra.NoArgs,
	}
	storeFlag := addStoreFlag(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.workload, "workload", "all", "w1, w2, w3, http, a list (w1,w3) or all (w1, w2, w3)")
	fl.IntVar(&f.jobs, "jobs", 0, "jobs per workload (default w1 20000, w2 5000, w3 10000)")
	fl.IntVar(&f.concurrency, "concurrency", 100, "the worker's concurrency")
	fl.BoolVar(&f.asJSON, "json", false, "print one JSON object per workload, one per line")
	fl.DurationVar(&f.duration, "duration", 20*time.Second, "http: how long the clients post")
	fl.IntVar(&f.clients, "clients", 64, "http: how many clients post at once")
	fl.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof)")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		workloads, err := bench.ParseWorkloads(f.workload)
		if err != nil {
			return fmt.Errorf("--workload: %w", err)
		}
		if f.jobs < 0 {
			return fmt.Errorf("--jobs is %d, want a positive count (0: the workload's default)", f.jobs)
		}
		if f.concurrency < 1 {
			return fmt.Errorf("--concurrency is %d, want 1 or more", f.concurrency)
		}
		if f.duration <= 0 {
			return fmt.Errorf("--duration is %s, want a positive duration such as 20s", f.duration)
		}
		if f.clients < 1 {
			return fmt.Errorf("--clients is %d, want 1 or more", f.clients)
		}
		stores, err := newBenchStores(storeFlag)
		if err != nil {
			return err
		}
		defer stores.close()
		if f.cpuProfile != "" {
			stop, err := startCPUProfile(f.cpuProfile)
			if err != nil {
				return err
			}
			defer stop()
		}

		ctx := cmd.Context()
		progress := newProgressBar(cmd.ErrOrStderr())
		var results []*bench.Result
		for _, w := range workloads {
			s, name, queue, err := stores.open(ctx, w)
			if err != nil {
				return err
			}
			opts := &bench.Options{
				Jobs:        f.jobs,
				Concurrency: f.concurrency,
				Queue:       queue,
				Cleanup:     !stores.temporary,
				Progress:    progress.update,
				StoreName:   name,
				Duration:    f.duration,
				Clients:     f.clients,
			}
			if w == bench.HTTP {
				if opts.Handler, err = benchWebHandler(s); err != nil {
					stores.release(s)
					return err
				}
			}
			res, err := bench.Run(ctx, s, w, opts)
			progress.clear()
			if cerr := stores.release(s); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			results = append(results, res)
			if f.asJSON {
				b, err := json.Marshal(res)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
			}
		}
		if !f.asJSON {
			return writeBenchTable(cmd.OutOrStdout(), results, stores.describe())
		}
		return nil
	}
	return cmd
}

// startCPUProfile profiles the process's CPU into path until stop.
func startCPUProfile(path string) (stop func(), err error) {
	out, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		out.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); out.Close() }, nil
}

// benchWebHandler is the http workload's server: the handler stack of
// boiler serve on s, open (as on a loopback address without credentials).
func benchWebHandler(s store.Store) (http.Handler, error) {
	return newWebHandler(&webOptions{
		store:  s,
		auth:   webAuth{secret: []byte("boiler bench: a secret of its own")},
		logger: slog.New(slog.DiscardHandler),
	})
}

// benchStores gives each workload its store: a new temporary SQLite file,
// or the user's store with a queue of its own.
type benchStores struct {
	temporary bool
	dir       string // temporary: the files' directory
	url       string // otherwise: the user's store
	shared    store.Store
	runID     string // random part of the queue names
}

// newBenchStores chooses temporary SQLite files unless the flag or the
// environment names a store.
func newBenchStores(f *storeFlag) (*benchStores, error) {
	var id [4]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	b := &benchStores{runID: hex.EncodeToString(id[:])}
	if strings.TrimSpace(f.value) == "" && strings.TrimSpace(f.getenv(storeurl.EnvVar)) == "" {
		dir, err := os.MkdirTemp("", "boiler-bench-")
		if err != nil {
			return nil, fmt.Errorf("creating the benchmark's temporary directory: %w", err)
		}
		b.temporary, b.dir = true, dir
		return b, nil
	}
	url, err := f.resolve()
	if err != nil {
		return nil, err
	}
	b.url = url
	return b, nil
}

// open returns workload w's store, its scheme and the queue to use.
func (b *benchStores) open(ctx context.Context, w bench.Workload) (store.Store, string, string, error) {
	url := b.url
	if b.temporary {
		url = "sqlite://" + filepath.Join(b.dir, string(w)+".db")
	}
	name, _, _ := strings.Cut(url, ":")
	if b.shared != nil {
		return b.shared, name, b.queue(w), nil
	}
	s, err := storeurl.Open(ctx, url)
	if err != nil {
		return nil, "", "", err
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, "", "", fmt.Errorf("migrating %s: %w", storeurl.Redact(url), err)
	}
	if b.temporary {
		return s, name, "bench", nil
	}
	b.shared = s
	return s, name, b.queue(w), nil
}

// queue is workload w's queue on a shared store.
func (b *benchStores) queue(w bench.Workload) string {
	return "bench-" + b.runID + "-" + string(w)
}

// release closes a temporary store (close deletes its file); a shared one
// stays open for the next workload.
func (b *benchStores) release(s store.Store) error {
	if !b.temporary {
		return nil
	}
	return s.Close()
}

// close closes the shared store and removes the temporary files.
func (b *benchStores) close() {
	if b.shared != nil {
		b.shared.Close()
	}
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// describe says where the benchmark ran, for the table's title.
func (b *benchStores) describe() string {
	where := "a temporary SQLite file per workload"
	if !b.temporary {
		where = storeurl.Redact(b.url)
	}
	return fmt.Sprintf("store: %s; %d CPUs, %s/%s, %s", where, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// writeBenchTable writes the results as a table (the http workload's in
// a table of its own).
func writeBenchTable(w io.Writer, results []*bench.Result, title string) error {
	fmt.Fprintln(w, title)
	var queue, web []*bench.Result
	for _, r := range results {
		if r.Workload == bench.HTTP {
			web = append(web, r)
		} else {
			queue = append(queue, r)
		}
	}
	if len(queue) > 0 {
		if err := writeQueueTable(w, queue); err != nil {
			return err
		}
	}
	if len(web) > 0 {
		return writeHTTPTable(w, web)
	}
	return nil
}

// writeHTTPTable writes the http workload's results.
func writeHTTPTable(w io.Writer, results []*bench.Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "WORKLOAD\tCLIENTS\tLOAD\tACCEPTED\tACCEPTED/s\tERRORS\tREQ P50\tREQ P99\tALL DONE AFTER\tSTART P50\tSTART P99\tCPU/JOB\tIDLE RSS\tPEAK RSS\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%.1fs\t%d\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Workload, r.Clients, r.LoadDuration.Seconds(),
			r.Jobs, benchRate(r.AcceptedRate), r.Errors, benchLatency(r.RequestP50), benchLatency(r.RequestP99),
			benchLatency(r.DoneAfterLoad), benchLatency(r.LatencyP50), benchLatency(r.LatencyP99), benchCPU(r.CPUPerJob),
			benchMB(r.IdleRSS), benchMB(r.PeakRSS))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range results {
		if r.FirstError != "" {
			fmt.Fprintf(w, "First failed request: %s\n", r.FirstError)
		}
	}
	_, err := fmt.Fprintln(w, "Requests are single-job POST /api/jobs over keep-alive connections; ALL DONE AFTER is from the\n"+
		"load's end until every accepted job completed; START is enqueue to start; CPU/JOB is the process's\n"+
		"CPU time per accepted job (the cores divided by it bound jobs/s, whatever else runs on the machine);\n"+
		"RSS counts the whole process: server, worker, store and clients. Targets (issue 6): 10,000 jobs/s,\n"+
		"p99 under 20 ms, done within 1 s, under 100 MB under load and 40 MB idle.")
	return err
}

// writeQueueTable writes the results of w1, w2 and w3.
func writeQueueTable(w io.Writer, results []*bench.Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "WORKLOAD\tJOBS\tCONC\tENQUEUE 1x1/s\tENQUEUE BULK/s\tDRAIN/s\tEND TO END/s\tP50\tP99\tPEAK RSS\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Workload, r.Jobs, r.Concurrency,
			benchRate(r.EnqueueOneRate), benchRate(r.EnqueueBulkRate), benchRate(r.DrainRate), benchRate(r.EndToEndRate),
			benchLatency(r.LatencyP50), benchLatency(r.LatencyP99), benchMB(r.PeakRSS))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "Latency is enqueue to start; w1's is its end-to-end phase's, w2's includes the wait in the backlog.")
	return err
}

// benchRate formats a rate, "-" when not measured.
func benchRate(r float64) string {
	if r == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", r)
}

// benchLatency formats a latency in milliseconds.
func benchLatency(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000)
}

// benchCPU formats a CPU time per job in microseconds, "-" when unknown.
func benchCPU(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0fµs", float64(d.Nanoseconds())/1000)
}

// benchMB formats a size, "-" when unknown.
func benchMB(n int64) string {
	if n <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f MB", float64(n)/(1<<20))
}

// progressBar draws the benchmark's progress on one line of a terminal;
// on anything else it draws nothing.
type progressBar struct {
	w  io.Writer
	on bool
}

func newProgressBar(w io.Writer) *progressBar {
	f, ok := w.(*os.File)
	return &progressBar{w: w, on: ok && term.IsTerminal(int(f.Fd()))}
}

// update redraws the line.
func (p *progressBar) update(pr bench.Progress) {
	if !p.on || pr.Total <= 0 {
		return
	}
	const width = 30
	filled := width * min(pr.Done, pr.Total) / pr.Total
	fmt.Fprintf(p.w, "\r\033[K%s %-18s [%s%s] %d/%d", pr.Workload, pr.Phase,
		strings.Repeat("#", filled), strings.Repeat(".", width-filled), pr.Done, pr.Total)
}

// clear erases the line.
func (p *progressBar) clear() {
	if p.on {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
