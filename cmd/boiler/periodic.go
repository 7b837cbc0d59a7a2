package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/doubleboiler/boiler"
	"github.com/doubleboiler/boiler/internal/periodic"
	"github.com/doubleboiler/boiler/schedule"
	"github.com/doubleboiler/boiler/store"
)

// periodicLineHelp explains the one-line form of a periodic job, shared
// by `boiler work --periodic` and `boiler periodic add`.
const periodicLineHelp = "A periodic job is one line:\n  " + periodic.LineSyntax + "\n" +
	"SCHEDULE is a cron line (5 fields, or 6 with leading seconds), @hourly, @daily,\n" +
	"@weekly, @monthly, @yearly or @every DURATION, optionally after CRON_TZ=ZONE;\n" +
	"KIND is the first word after it and the rest is the job's JSON args (default {}).\n" +
	"The name defaults to the kind (plus a hash of the args unless they are {});\n" +
	"catchup says what to do with ticks missed while no worker ran: once (default,\n" +
	"one run), skip or all (one run per missed tick)."

// parsePeriodicLine parses one line into a periodic job with source; its
// errors name flag (e.g. "--periodic") and the line.
func parsePeriodicLine(flag, line, source string) (*boiler.PeriodicJob, error) {
	l, err := periodic.ParseLine(line)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", flag, line, err)
	}
	p := &boiler.PeriodicJob{
		Name:    l.Name,
		Spec:    l.Spec,
		Kind:    l.Kind,
		RawArgs: l.Args,
		Options: &boiler.EnqueueOptions{
			Queue: l.Queue, Priority: l.Priority, MaxAttempts: l.MaxAttempts, Timeout: l.Timeout,
		},
		CatchUp: l.CatchUp,
		Source:  source,
	}
	if _, err := p.Definition(); err != nil {
		return nil, fmt.Errorf("%s %q: %w", flag, line, err)
	}
	return p, nil
}

// newPeriodicCmd builds `boiler periodic` and its subcommands.
func newPeriodicCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "periodic",
		Short: "List, add and delete periodic jobs (cron) in the store",
		Long: "Periodic jobs live in the store; the workers sharing it elect one leader that\n" +
			"enqueues each tick exactly once. They are declared in code (WorkerOptions.Periodic),\n" +
			"with boiler work --periodic, through the JSON API, or with boiler periodic add.\n\n" +
			periodicLineHelp,
	}
	cmd.AddCommand(newPeriodicListCmd(), newPeriodicAddCmd(), newPeriodicDeleteCmd())
	return cmd
}

func newPeriodicListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Show the periodic jobs with their last and next ticks",
		Args:  cobra.NoArgs,
	}
	storeFlag := addStoreFlag(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		s, shown, err := storeFlag.open(ctx, false)
		if err != nil {
			return err
		}
		defer s.Close()
		client, err := boiler.NewClient(s, nil)
		if err != nil {
			return err
		}
		list, err := client.PeriodicList(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w (has `boiler migrate` run?)", shown, err)
		}
		if asJSON {
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			if list == nil {
				list = []*store.PeriodicJob{}
			}
			return enc.Encode(struct {
				Periodic []*store.PeriodicJob `json:"periodic"`
			}{list})
		}
		return writePeriodicTable(cmd.OutOrStdout(), list, time.Now())
	}
	return cmd
}

// writePeriodicTable prints one line per periodic job. NEXT is the
// scheduler's, or computed from the schedule when none was recorded or it
// is past (no scheduler running).
func writePeriodicTable(w io.Writer, list []*store.PeriodicJob, now time.Time) error {
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "no periodic jobs")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSCHEDULE\tKIND\tARGS\tQUEUE\tCATCH-UP\tSOURCE\tLAST TICK\tNEXT TICK")
	for _, p := range list {
		next := "-"
		switch sc, err := schedule.Parse(p.Spec); {
		case err != nil:
			next = "bad schedule"
		case !p.NextTick.IsZero() && !p.NextTick.Before(now):
			next = p.NextTick.UTC().Format(time.RFC3339)
		default:
			if t := sc.Next(now); !t.IsZero() {
				next = t.UTC().Format(time.RFC3339)
			}
		}
		last := "-"
		if !p.LastTick.IsZero() {
			last = p.LastTick.UTC().Format(time.RFC3339)
		}
		args := string(p.Args)
		if len(args) > 40 {
			args = args[:37] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			p.Name, p.Spec, p.Kind, args, p.Queue, p.CatchUp, p.Source, last, next)
	}
	return tw.Flush()
}

func newPeriodicAddCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "add LINE",
		Short: "Add a periodic job, or update the one with the same name",
		Long: "Add writes a periodic job to the store (source cli); a job with the same name\n" +
			"is updated and keeps its last tick. The running workers pick it up within a\n" +
			"second. The words of LINE may be given as one argument or several.\n\n" +
			periodicLineHelp,
		Example: "  boiler periodic add '@every 10m sleep {\"ms\":5}'\n" +
			"  boiler periodic add 'name=nightly catchup=skip CRON_TZ=Europe/Paris 0 3 * * * report {\"full\":true}'",
		Args: cobra.MinimumNArgs(1),
	}
	storeFlag := addStoreFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		p, err := parsePeriodicLine("periodic add", strings.Join(args, " "), boiler.PeriodicSourceCLI)
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		s, shown, err := storeFlag.open(ctx, true)
		if err != nil {
			return err
		}
		defer s.Close()
		client, err := boiler.NewClient(s, nil)
		if err != nil {
			return err
		}
		row, err := client.PeriodicUpsert(ctx, p)
		if err != nil {
			return fmt.Errorf("%s: %w", shown, err)
		}
		next := "never"
		if sc, err := schedule.Parse(row.Spec); err == nil {
			if t := sc.Next(time.Now()); !t.IsZero() {
				next = t.UTC().Format(time.RFC3339)
			}
		}
		fmt.Fprintf(cmd.OutOrStdout(), "periodic job %s: %s %s %s (next tick %s)\n", row.Name, row.Spec, row.Kind, row.Args, next)
		return nil
	}
	return cmd
}

func newPeriodicDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete NAME...",
		Short: "Delete periodic jobs (the jobs they enqueued stay)",
		Long: "Delete removes periodic jobs from the store. One declared in code or with\n" +
			"boiler work --periodic comes back when such a worker starts again.",
		Args: cobra.MinimumNArgs(1),
	}
	storeFlag := addStoreFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, names []string) error {
		ctx := cmd.Context()
		s, shown, err := storeFlag.open(ctx, false)
		if err != nil {
			return err
		}
		defer s.Close()
		client, err := boiler.NewClient(s, nil)
		if err != nil {
			return err
		}
		var errs []error
		for _, name := range names {
			err := client.PeriodicDelete(ctx, name)
			switch {
			case errors.Is(err, store.ErrNotFound):
				errs = append(errs, fmt.Errorf("no periodic job named %q in %s", name, shown))
			case err != nil:
				errs = append(errs, fmt.Errorf("%s: %w", shown, err))
			default:
				fmt.Fprintf(cmd.OutOrStdout(), "deleted periodic job %s\n", name)
			}
		}
		return errors.Join(errs...)
	}
	return cmd
}
