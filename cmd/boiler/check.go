package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/doubleboiler/boiler/procfile"
	"github.com/doubleboiler/boiler/procfile/lint"
	"github.com/spf13/cobra"
)

func newCheckCmd() *cobra.Command {
	var (
		pf            procfileFlags
		formation     string
		routerTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the Procfile and .env for what bites on a platform",
		Long: `Check the Procfile (and the .env files) for: syntax errors, an unknown
process type in -m, a web process that does not listen on $PORT, and web server
timeouts at or above the router's (gunicorn --timeout, whose default 30 equals
Heroku's router timeout; uwsgi --harakiri; puma worker_timeout), which keep
workers busy on requests the router already gave up on. Each finding says the
line, the value and what to set. Exits non-zero when there are errors.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pf.envSet = cmd.Flags().Changed("env")
			out := cmd.OutOrStdout()
			src, err := os.ReadFile(pf.procfile)
			if err != nil {
				return fmt.Errorf("reading the Procfile: %w", err)
			}
			var findings []lint.Finding
			environ, err := pf.environ()
			if err != nil {
				findings = append(findings, envFinding(err))
				environ = os.Environ()
			}
			findings = append(findings, lint.Check(src, lint.Options{
				File:          pf.procfile,
				Formation:     formation,
				RouterTimeout: routerTimeout,
				Env:           func(k string) (string, bool) { return lookupIn(environ, k) },
				ReadFile:      os.ReadFile,
			})...)
			errs := 0
			for _, f := range findings {
				fmt.Fprintln(out, f)
				if f.Severity == lint.Error {
					errs++
				}
			}
			if errs > 0 {
				return fmt.Errorf("%s: %d error(s)", pf.procfile, errs)
			}
			fmt.Fprintf(out, "%s: ok (%d warning(s))\n", pf.procfile, len(findings))
			return nil
		},
	}
	addProcfileFlags(cmd, &pf)
	cmd.Flags().StringVarP(&formation, "formation", "m", "", "the -m formation to check against the Procfile")
	cmd.Flags().DurationVar(&routerTimeout, "router-timeout", 30*time.Second, "the platform router's request timeout")
	return cmd
}

// envFinding turns a .env error ("name: line 3: msg") into a finding.
func envFinding(err error) lint.Finding {
	f := lint.Finding{File: ".env", Severity: lint.Error, Message: err.Error()}
	var se *procfile.SyntaxError
	if errors.As(err, &se) {
		name, _, _ := strings.Cut(err.Error(), ":")
		f.File, f.Line, f.Message = name, se.Line, se.Msg
	}
	return f
}
