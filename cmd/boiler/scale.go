package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// scaleArg is one TYPE=N argument of `boiler scale`.
type scaleArg struct {
	typ string
	n   int
}

func parseScaleArgs(args []string) ([]scaleArg, error) {
	var out []scaleArg
	for _, a := range args {
		typ, count, ok := strings.Cut(a, "=")
		n, err := strconv.Atoi(count)
		if !ok || typ == "" || err != nil || n < 0 {
			return nil, fmt.Errorf("%q: want TYPE=COUNT, e.g. worker=3", a)
		}
		out = append(out, scaleArg{typ, n})
	}
	return out, nil
}

func newScaleCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "scale TYPE=COUNT...",
		Short: "Change the formation of the running boiler start (e.g. boiler scale worker=3)",
		Long: `Change how many instances of a process type the running boiler start runs,
without restarting anything: new instances start at once; scaling down stops
the highest-numbered instances (SIGTERM, then SIGKILL after its -t).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			scales, err := parseScaleArgs(args)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			c, err := dialSupervisor(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			// Check every type first, so a typo changes nothing.
			formation, err := c.Formation(ctx)
			if err != nil {
				return err
			}
			for _, s := range scales {
				if _, ok := formation[s.typ]; !ok {
					return fmt.Errorf("unknown process type %q (running: %s)", s.typ, formationString(formation))
				}
			}
			for _, s := range scales {
				if formation, err = c.Scale(ctx, s.typ, s.n); err != nil {
					return err
				}
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "formation: %s\n", formationString(formation))
			return err
		},
	}
}
