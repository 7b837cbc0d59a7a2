package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/doubleboiler/boiler/store"
)

const (
	// leaderElectSQL takes leadership ?1 for holder ?2 until ?3 if it is
	// free, expired before ?4, or already held by ?2, and returns a row
	// exactly then. The single writer and BEGIN IMMEDIATE make the check
	// and the write one atomic step, across processes too.
	leaderElectSQL = `INSERT INTO leaders (name, holder, expires_at) VALUES (?1, ?2, ?3)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
			WHERE leaders.holder = excluded.holder OR leaders.expires_at < ?4
		RETURNING holder`
	leaderResignSQL = `DELETE FROM leaders WHERE name = ? AND holder = ?`
)

// leaderQueries are the write statements of this file.
var leaderQueries = []string{leaderElectSQL, leaderResignSQL}

// LeaderElect takes or renews a leader lease; see store.Store.
func (s *Store) LeaderElect(ctx context.Context, params *store.LeaderElectParams) (bool, error) {
	switch {
	case params == nil:
		return false, errors.New("electing leader: params are nil")
	case params.Name == "" || params.Holder == "":
		return false, fmt.Errorf("electing leader %q: Name and Holder (%q) must be set", params.Name, params.Holder)
	case params.Now.IsZero() || params.ExpiresAt.IsZero():
		return false, fmt.Errorf("electing leader %q: Now and ExpiresAt must be set", params.Name)
	}
	var won bool
	err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
		st, err := s.wstmts.tx(ctx, tx, leaderElectSQL)
		if err != nil {
			return err
		}
		var holder string
		err = st.QueryRowContext(ctx, params.Name, params.Holder, micros(params.ExpiresAt), micros(params.Now)).Scan(&holder)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			won = false
			return nil
		case err != nil:
			return err
		}
		won = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("electing leader %q for %q: %w", params.Name, params.Holder, err)
	}
	return won, nil
}

// LeaderResign gives up a leader lease Holder holds; see store.Store.
func (s *Store) LeaderResign(ctx context.Context, params *store.LeaderResignParams) error {
	if params == nil {
		return errors.New("resigning leader: params are nil")
	}
	err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
		st, err := s.wstmts.tx(ctx, tx, leaderResignSQL)
		if err != nil {
			return err
		}
		_, err = st.ExecContext(ctx, params.Name, params.Holder)
		return err
	})
	if err != nil {
		return fmt.Errorf("resigning leader %q for %q: %w", params.Name, params.Holder, err)
	}
	return nil
}
