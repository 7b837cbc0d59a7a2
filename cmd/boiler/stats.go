package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/doubleboiler/boiler"
	"github.com/doubleboiler/boiler/store"
)

// queueStatJSON is one queue in `boiler stats --json`.
type queueStatJSON struct {
	*store.QueueStat
	// OldestAvailableAgeSeconds is how long the oldest available job has
	// waited (0 when none is available).
	OldestAvailableAgeSeconds float64 `json:"oldest_available_age_seconds"`
}

// newStatsCmd builds `boiler stats`.
func newStatsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Show each queue's jobs by state and the age of its oldest available job",
		Long: "Stats prints one line per queue: its job counts by state (available counts the\n" +
			"scheduled and retryable jobs already due) and how long its oldest available job\n" +
			"has waited, the queue's latency. --json prints one JSON object instead.",
		Args: cobra.NoArgs,
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
		stats, err := client.QueueStats(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w (has `boiler migrate` run?)", shown, err)
		}
		now := time.Now()
		if asJSON {
			return writeStatsJSON(cmd.OutOrStdout(), stats, now)
		}
		return writeStatsTable(cmd.OutOrStdout(), stats, now)
	}
	return cmd
}

// oldestAge is how long q's oldest available job has waited at now.
func oldestAge(q *store.QueueStat, now time.Time) time.Duration {
	if q.OldestAvailableAt.IsZero() {
		return 0
	}
	return max(now.Sub(q.OldestAvailableAt), 0)
}

// writeStatsJSON writes stats as {"queues": [...]}.
func writeStatsJSON(w io.Writer, stats []*store.QueueStat, now time.Time) error {
	queues := make([]queueStatJSON, len(stats))
	for i, q := range stats {
		queues[i] = queueStatJSON{QueueStat: q, OldestAvailableAgeSeconds: oldestAge(q, now).Seconds()}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Queues []queueStatJSON `json:"queues"`
	}{queues})
}

// writeStatsTable writes stats as an aligned table.
func writeStatsTable(w io.Writer, stats []*store.QueueStat, now time.Time) error {
	if len(stats) == 0 {
		_, err := fmt.Fprintln(w, "no queues: the store has no jobs")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := []string{"QUEUE"}
	for _, st := range store.States {
		header = append(header, strings.ToUpper(string(st)))
	}
	header = append(header, "OLDEST", "")
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, q := range stats {
		row := []string{q.Name}
		for _, st := range store.States {
			row = append(row, fmt.Sprint(q.Counts[st]))
		}
		age := "-"
		if !q.OldestAvailableAt.IsZero() {
			age = shortDuration(oldestAge(q, now))
		}
		paused := ""
		if q.Paused {
			paused = "paused"
		}
		row = append(row, age, paused)
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// shortDuration formats d for a table: 850ms, 12.3s, 4m05s, 3h20m, 2d04h.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}
