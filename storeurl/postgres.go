package storeurl

import (
	"context"
	"fmt"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/postgres"
)

// openPostgres opens the PostgreSQL database a postgres:// or
// postgresql:// URL names. Besides pgx's parameters (sslmode,
// pool_max_conns, application_name, ...), the URL may set boiler_schema,
// the schema holding the queue's tables (default "boiler"), so several
// apps or tests share one database:
//
//	postgres://u:pw@host:5432/db?sslmode=require
//	postgres://127.0.0.1/app?boiler_schema=myapp&pool_max_conns=20
func openPostgres(ctx context.Context, raw string) (store.Store, error) {
	s, err := postgres.Open(ctx, raw, nil)
	if err != nil {
		return nil, urlError(raw, fmt.Errorf("opening PostgreSQL: %w", err))
	}
	return s, nil
}
