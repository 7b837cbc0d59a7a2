package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

// schemaVersioner is implemented by stores that can tell their schema's
// version, so that migrate can say what it changed.
type schemaVersioner interface {
	SchemaVersion(ctx context.Context) (int, error)
}

// newMigrateCmd builds `boiler migrate`.
func newMigrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the store's schema",
		Long: "Migrate creates the store's tables (or upgrades them to this binary's version).\n" +
			"It is safe to run again, and from several processes at once: run it in a\n" +
			"release phase (Procfile `release: boiler migrate`) or before the first worker.",
		Args: cobra.NoArgs,
	}
	storeFlag := addStoreFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		s, shown, err := storeFlag.open(ctx, false)
		if err != nil {
			return err
		}
		defer s.Close()
		versioner, hasVersion := s.(schemaVersioner)
		before := 0
		if hasVersion {
			if before, err = versioner.SchemaVersion(ctx); err != nil {
				return fmt.Errorf("reading the schema version of %s: %w", shown, err)
			}
		}
		if err := s.Migrate(ctx); err != nil {
			return fmt.Errorf("migrating %s: %w", shown, err)
		}
		out := cmd.OutOrStdout()
		if !hasVersion {
			fmt.Fprintf(out, "%s: schema is up to date\n", shown)
			return nil
		}
		after, err := versioner.SchemaVersion(ctx)
		if err != nil {
			return fmt.Errorf("reading the schema version of %s: %w", shown, err)
		}
		switch {
		case before == 0:
			fmt.Fprintf(out, "%s: created the schema (version %d)\n", shown, after)
		case after != before:
			fmt.Fprintf(out, "%s: upgraded the schema from version %d to %d\n", shown, before, after)
		default:
			fmt.Fprintf(out, "%s: schema is up to date (version %d)\n", shown, after)
		}
		return nil
	}
	return cmd
}
