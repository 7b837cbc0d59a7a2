package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/doubleboiler/boiler/store"
)

// leaderElectSQL is the whole election in one statement: the row is
// inserted if nobody ever led, or taken over if its lease expired or the
// candidate holds it already. ON CONFLICT locks the row, and a concurrent
// candidate waiting for that lock re-checks the WHERE against the winner's
// row, so two candidates never both win. A row comes back only if the
// candidate leads.
const leaderElectSQL = `
INSERT INTO {schema}.leaders AS l (name, holder, expires_at) VALUES ($1, $2, $4)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE l.expires_at < $3 OR l.holder = excluded.holder
RETURNING l.holder`

const leaderResignSQL = `DELETE FROM {schema}.leaders WHERE name = $1 AND holder = $2`

// LeaderElect makes Holder the leader Name if it is free, expired or
// already Holder's. See store.Store.
func (s *Store) LeaderElect(ctx context.Context, params *store.LeaderElectParams) (bool, error) {
	switch {
	case params == nil:
		return false, errors.New("electing a leader: nil params")
	case params.Name == "" || params.Holder == "":
		return false, errors.New("electing a leader: Name and Holder must be set")
	}
	var won bool
	err := s.retry(ctx, func(ctx context.Context) error {
		var holder string
		err := s.pool.QueryRow(ctx, s.sql(leaderElectSQL), params.Name, params.Holder, params.Now, params.ExpiresAt).Scan(&holder)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			won = false
			return nil
		case err != nil:
			return err
		}
		won = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("electing %s leader of %q: %w", params.Holder, params.Name, err)
	}
	return won, nil
}

// LeaderResign gives up the leadership Name if Holder holds it. See
// store.Store.
func (s *Store) LeaderResign(ctx context.Context, params *store.LeaderResignParams) error {
	if params == nil {
		return errors.New("resigning a leadership: nil params")
	}
	err := s.retry(ctx, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, s.sql(leaderResignSQL), params.Name, params.Holder)
		return err
	})
	if err != nil {
		return fmt.Errorf("resigning %s's leadership of %q: %w", params.Holder, params.Name, err)
	}
	return nil
}
