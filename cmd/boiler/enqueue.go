package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/doubleboiler/boiler"
	"github.com/doubleboiler/boiler/internal/builtin"
)

// enqueueBatch is how many jobs one EnqueueRawMany call inserts when
// --count is above one.
const enqueueBatch = 1000

// enqueueFlags are the options of `boiler enqueue`.
type enqueueFlags struct {
	queue       string
	priority    int
	count       int
	in          time.Duration
	at          string
	unique      string
	maxAttempts int
}

// newEnqueueCmd builds `boiler enqueue`.
func newEnqueueCmd() *cobra.Command {
	var f enqueueFlags
	cmd := &cobra.Command{
		Use:   "enqueue KIND [ARGS-JSON | -]",
		Short: "Add jobs to the queue",
		Long: "Enqueue adds a job of KIND with ARGS-JSON (a JSON object, default {}; - reads it\n" +
			"from standard input) and prints its id, or with --count N adds N such jobs and\n" +
			"prints how many. Built-in kinds: noop {\"i\": n}, sleep {\"ms\": n}, fail {\"times\": n}.\n" +
			"Any other kind is enqueued too (a worker of your app may know it), with a warning.\n" +
			"The schema is created if it is missing.",
		Example: "  boiler enqueue noop\n" +
			"  boiler enqueue sleep '{\"ms\": 500}' --count 100 --queue low\n" +
			"  boiler enqueue fail '{\"times\": 2}' --max-attempts 3 --in 1m",
		Args: cobra.RangeArgs(1, 2),
	}
	storeFlag := addStoreFlag(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.queue, "queue", boiler.DefaultQueue, "queue to add the jobs to")
	fl.IntVar(&f.priority, "priority", 0, "priority within the queue (higher runs first)")
	fl.IntVar(&f.count, "count", 1, "how many identical jobs to add")
	fl.DurationVar(&f.in, "in", 0, "run the jobs after this delay (for example 5m)")
	fl.StringVar(&f.at, "at", "", "run the jobs at this RFC 3339 time (for example 2030-01-02T15:04:05Z)")
	fl.StringVar(&f.unique, "unique", "", "unique key: no job is added while a live job holds the key")
	fl.IntVar(&f.maxAttempts, "max-attempts", 0, "attempts before the job is discarded (default 25)")

	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		kind := args[0]
		raw := "{}"
		if len(args) == 2 {
			raw = args[1]
		}
		if raw == "-" {
			b, err := io.ReadAll(cmd.InOrStdin())
			if err != nil {
				return fmt.Errorf("reading args from standard input: %w", err)
			}
			raw = string(b)
		}
		jobArgs, err := parseArgsJSON(raw)
		if err != nil {
			return err
		}
		opts, err := f.options()
		if err != nil {
			return err
		}
		if !builtin.IsBuiltin(kind) {
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: %q is not a built-in kind (%s): only a worker that registers it will run it\n",
				kind, strings.Join(builtin.Kinds(), ", "))
		}

		ctx := cmd.Context()
		s, _, err := storeFlag.open(ctx, true)
		if err != nil {
			return err
		}
		defer s.Close()
		client, err := boiler.NewClient(s, nil)
		if err != nil {
			return err
		}

		out := cmd.OutOrStdout()
		if f.count == 1 {
			res, err := client.EnqueueRaw(ctx, kind, jobArgs, opts)
			if err != nil {
				return err
			}
			if res.Duplicate {
				fmt.Fprintf(cmd.ErrOrStderr(), "not added: job %d already holds the unique key %q\n", res.Job.ID, f.unique)
			}
			fmt.Fprintln(out, res.Job.ID)
			return nil
		}
		added, dups := 0, 0
		for added+dups < f.count {
			n := min(enqueueBatch, f.count-added-dups)
			params := make([]boiler.EnqueueRawParams, n)
			for i := range params {
				params[i] = boiler.EnqueueRawParams{Kind: kind, Args: jobArgs, Options: opts}
			}
			res, err := client.EnqueueRawMany(ctx, params)
			if err != nil {
				return fmt.Errorf("after %d jobs were added: %w", added, err)
			}
			for _, r := range res {
				if r.Duplicate {
					dups++
				} else {
					added++
				}
			}
		}
		fmt.Fprintf(out, "enqueued %d %s jobs to queue %q", added, kind, opts.Queue)
		if dups > 0 {
			fmt.Fprintf(out, " (%d not added: their unique key was held)", dups)
		}
		fmt.Fprintln(out)
		return nil
	}
	return cmd
}

// options checks the flags and turns them into enqueue options.
func (f *enqueueFlags) options() (*boiler.EnqueueOptions, error) {
	opts := &boiler.EnqueueOptions{
		Queue:       f.queue,
		Priority:    f.priority,
		RunIn:       f.in,
		MaxAttempts: f.maxAttempts,
		UniqueKey:   f.unique,
	}
	switch {
	case f.count < 1:
		return nil, fmt.Errorf("--count is %d, want 1 or more", f.count)
	case f.in < 0:
		return nil, fmt.Errorf("--in is %s, want a positive delay", f.in)
	case f.maxAttempts < 0:
		return nil, fmt.Errorf("--max-attempts is %d, want 1 or more", f.maxAttempts)
	case f.at != "" && f.in != 0:
		return nil, errors.New("--at and --in both set: choose one")
	}
	if f.at != "" {
		at, err := time.Parse(time.RFC3339, f.at)
		if err != nil {
			return nil, fmt.Errorf("--at %q: want an RFC 3339 time such as 2030-01-02T15:04:05Z", f.at)
		}
		opts.RunAt = at
	}
	return opts, nil
}

// parseArgsJSON checks that raw is one JSON object and returns it. A
// syntax error names its line and column.
func parseArgsJSON(raw string) (json.RawMessage, error) {
	dec := json.NewDecoder(strings.NewReader(raw))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		var syntax *json.SyntaxError
		switch {
		case errors.As(err, &syntax):
			// Offset counts the bytes read, the bad one included.
			return nil, jsonPosError(raw, int(syntax.Offset)-1, err)
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return nil, jsonPosError(raw, len(raw), errors.New("unexpected end of JSON input"))
		}
		return nil, fmt.Errorf("args JSON: %w", err)
	}
	if rest := strings.TrimLeft(raw[dec.InputOffset():], " \t\r\n"); rest != "" {
		return nil, jsonPosError(raw, len(raw)-len(rest), errors.New("unexpected data after the JSON value"))
	}
	if v[0] != '{' {
		return nil, fmt.Errorf("args JSON: want an object such as {\"i\": 1}, got %.40s", v)
	}
	return v, nil
}

// jsonPosError describes a JSON error at raw[idx] by its line and column
// (both counted from 1), and shows the text around it.
func jsonPosError(raw string, idx int, err error) error {
	idx = min(max(idx, 0), len(raw))
	line := 1 + strings.Count(raw[:idx], "\n")
	col := idx - strings.LastIndexByte(raw[:idx], '\n')
	near := raw[max(0, idx-20):min(len(raw), idx+20)]
	return fmt.Errorf("args JSON: line %d, column %d: %w (near %q)", line, col, err, near)
}
