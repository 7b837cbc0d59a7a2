package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/storeurl"
)

// storeFlag is the --store flag every queue command shares: the flag, else
// $BOILER_STORE_URL, else sqlite://boiler.db.
type storeFlag struct {
	value string
	// getenv reads the environment (os.Getenv; tests replace it).
	getenv func(string) string
}

// addStoreFlag registers --store on cmd and returns the flag's holder.
func addStoreFlag(cmd *cobra.Command) *storeFlag {
	f := &storeFlag{getenv: os.Getenv}
	cmd.Flags().StringVar(&f.value, "store", "",
		"store URL: sqlite:///abs.db, sqlite://rel.db, postgres://..., redis://..., env:VAR\n"+
			"(default $"+storeurl.EnvVar+", else "+storeurl.DefaultURL+")")
	return f
}

// resolve returns the store URL the flag and the environment choose.
func (f *storeFlag) resolve() (string, error) {
	return storeurl.Resolve(f.value, f.getenv)
}

// open resolves and opens the store. With migrate set, it also creates or
// upgrades the schema, so the first enqueue or worker on a new SQLite file
// needs no separate step. It returns the URL, redacted, for messages.
func (f *storeFlag) open(ctx context.Context, migrate bool) (store.Store, string, error) {
	url, err := f.resolve()
	if err != nil {
		return nil, "", err
	}
	shown := storeurl.Redact(url)
	s, err := storeurl.Open(ctx, url)
	if err != nil {
		return nil, "", err
	}
	if migrate {
		if err := s.Migrate(ctx); err != nil {
			s.Close()
			return nil, "", fmt.Errorf("migrating %s: %w", shown, err)
		}
	}
	return s, shown, nil
}
