package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/doubleboiler/boiler/supervisor"
	"github.com/spf13/cobra"
)

// envSocket names the control socket of `boiler start`.
const envSocket = "BOILER_SOCKET"

// controlSocketPath is $BOILER_SOCKET, else .boiler.sock in the working
// directory (relative, so a deep directory does not exceed the length limit
// of a socket path).
func controlSocketPath() string {
	if p := os.Getenv(envSocket); p != "" {
		return p
	}
	return ".boiler.sock"
}

// dialSupervisor connects to the running `boiler start`.
func dialSupervisor(ctx context.Context) (*supervisor.Client, error) {
	return supervisor.Dial(ctx, controlSocketPath())
}

func newPsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ps",
		Short: "List the processes of the running boiler start",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			c, err := dialSupervisor(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			procs, formation, err := c.Processes(ctx)
			if err != nil {
				return fmt.Errorf("listing processes: %w", err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"processes": procs, "formation": formation})
			}
			return writePs(out, procs, formation, time.Now())
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func writePs(w interface{ Write([]byte) (int, error) }, procs []supervisor.Process, formation map[string]int, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tPID\tPORT\tUPTIME\tRESTARTS\tRSS\tCOMMAND")
	for _, p := range procs {
		uptime, pid := "-", "-"
		if p.PID != 0 {
			uptime = now.Sub(p.Started).Round(time.Second).String()
			pid = fmt.Sprint(p.PID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%s\t%s\n", p.Name, p.State, pid, p.Port, uptime, p.Restarts, megabytes(p.RSS), p.Command)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "formation: %s\n", formationString(formation))
	return err
}

func megabytes(b int64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fM", float64(b)/(1<<20))
}

// formationString is "web=1 worker=3", sorted by name.
func formationString(f map[string]int) string {
	names := make([]string, 0, len(f))
	for n := range f {
		names = append(names, n)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s=%d", n, f[n])
	}
	return strings.Join(parts, " ")
}
