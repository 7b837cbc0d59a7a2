package postgres

import (
	"context"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// migrationFiles are the schema's versions, one file each, named
// NNN_description.sql and applied in order. A released file never changes:
// a change to the schema is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one version of the schema.
type migration struct {
	version int
	name    string
	sql     string // with {schema} still in it
}

// loadMigrations reads the embedded migrations in version order.
func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("reading migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || version < 1 {
			return nil, fmt.Errorf("migration file %q: name must be NNN_description.sql", name)
		}
		body, err := migrationFiles.ReadFile(path.Join("migrations", name))
		if err != nil {
			return nil, fmt.Errorf("reading migration %q: %w", name, err)
		}
		out = append(out, migration{version: version, name: strings.TrimSuffix(name, ".sql"), sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("migrations %q and %q: same version", out[i-1].name, out[i].name)
		}
	}
	return out, nil
}

// migrateLockKey is the advisory lock that serializes Migrate calls on one
// schema, across processes. Different schemas migrate independently.
func migrateLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("boiler.migrate:" + schema))
	return int64(h.Sum64())
}

// Migrate creates the schema and its tables, or upgrades them to this
// version. It runs in one transaction holding an advisory lock, so
// concurrent calls (several containers starting at once) apply each
// version exactly once, and a failed migration leaves nothing behind.
func (s *Store) Migrate(ctx context.Context) error {
	migrations, err := loadMigrations()
	if err != nil {
		return err
	}
	err = s.retry(ctx, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			return s.migrateTx(ctx, tx, migrations)
		})
	})
	if err != nil {
		return fmt.Errorf("migrating schema %s: %w", s.schema, err)
	}
	return nil
}

// migrateTx applies the migrations missing from the schema, inside tx.
func (s *Store) migrateTx(ctx context.Context, tx pgx.Tx, migrations []migration) error {
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrateLockKey(s.schema)); err != nil {
		return fmt.Errorf("taking the migration lock: %w", err)
	}
	setup := s.sql(`
		CREATE SCHEMA IF NOT EXISTS {schema};
		CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`)
	// Simple protocol: several statements, and no prepared statement left
	// referring to a schema a test may drop.
	if _, err := tx.Exec(ctx, setup, pgx.QueryExecModeSimpleProtocol); err != nil {
		return fmt.Errorf("creating the migrations table: %w", err)
	}
	rows, err := tx.Query(ctx, s.sql(`SELECT version FROM {schema}.schema_migrations`), pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return fmt.Errorf("reading applied migrations: %w", err)
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return fmt.Errorf("reading applied migrations: %w", err)
	}
	done := make(map[int]bool, len(applied))
	for _, v := range applied {
		done[int(v)] = true
	}
	for _, m := range migrations {
		if done[m.version] {
			continue
		}
		if _, err := tx.Exec(ctx, s.sql(m.sql), pgx.QueryExecModeSimpleProtocol); err != nil {
			return fmt.Errorf("applying migration %s: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, s.sql(`INSERT INTO {schema}.schema_migrations (version, name) VALUES ($1, $2)`),
			pgx.QueryExecModeSimpleProtocol, m.version, m.name); err != nil {
			return fmt.Errorf("recording migration %s: %w", m.name, err)
		}
	}
	return nil
}
