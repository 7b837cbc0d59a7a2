package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// MigrateTo applies the migrations up to version only, as an installation
// of an older release has them (for upgrade tests).
func (s *Store) MigrateTo(ctx context.Context, version int) error {
	migrations, err := loadMigrations()
	if err != nil {
		return err
	}
	var upTo []migration
	for _, m := range migrations {
		if m.version <= version {
			upTo = append(upTo, m)
		}
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return s.migrateTx(ctx, tx, upTo) })
}
