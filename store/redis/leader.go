package redis

import (
	"context"
	"fmt"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// leaderKeyMargin is how long after a lease's end its key stays in Redis
// (its PEXPIRE). The decision uses the callers' clocks only; the key's
// expiry just cleans up a leadership nobody renews any more.
const leaderKeyMargin = time.Minute

// LeaderElect takes, renews or refuses the leadership in one script.
func (s *Store) LeaderElect(ctx context.Context, params *store.LeaderElectParams) (bool, error) {
	now, err := encodeTime(params.Now, "Now")
	if err != nil {
		return false, fmt.Errorf("electing %q leader: %w", params.Name, err)
	}
	expires, err := encodeTime(params.ExpiresAt, "ExpiresAt")
	if err != nil {
		return false, fmt.Errorf("electing %q leader: %w", params.Name, err)
	}
	ttl := max(params.ExpiresAt.Sub(params.Now), 0) + leaderKeyMargin
	won, err := s.scripts.leaderElect.Run(ctx, s.client, s.keys, params.Name, params.Holder, now, expires,
		ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("electing %q leader (holder %q): %w", params.Name, params.Holder, interpretError(err))
	}
	return won == 1, nil
}

// LeaderResign frees the leadership in one script if Holder holds it.
func (s *Store) LeaderResign(ctx context.Context, params *store.LeaderResignParams) error {
	if err := s.scripts.leaderResign.Run(ctx, s.client, s.keys, params.Name, params.Holder).Err(); err != nil {
		return fmt.Errorf("resigning %q leadership (holder %q): %w", params.Name, params.Holder, interpretError(err))
	}
	return nil
}
