package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/doubleboiler/boiler/store"
)

const workerBeatSQL = `
INSERT INTO {schema}.workers AS w (id, host, pid, queues, concurrency, running, leader, started_at, heartbeat_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (id) DO UPDATE SET
	host = excluded.host, pid = excluded.pid, queues = excluded.queues, concurrency = excluded.concurrency,
	running = excluded.running, leader = excluded.leader, started_at = excluded.started_at,
	heartbeat_at = excluded.heartbeat_at`

const workerListSQL = `
SELECT id, host, pid, queues, concurrency, running, leader, started_at, heartbeat_at
FROM {schema}.workers ORDER BY id COLLATE "C"`

const (
	workerDeleteSQL      = `DELETE FROM {schema}.workers WHERE id = $1`
	workerDeleteStaleSQL = `DELETE FROM {schema}.workers WHERE heartbeat_at < $1`
)

// WorkerBeat records that a worker process is alive. See store.Store.
func (s *Store) WorkerBeat(ctx context.Context, info *store.WorkerInfo) error {
	switch {
	case info == nil:
		return errors.New("recording a worker: nil info")
	case info.ID == "":
		return errors.New("recording a worker: ID is empty")
	}
	queues := info.Queues
	if queues == nil {
		queues = []string{}
	}
	err := s.retry(ctx, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, s.sql(workerBeatSQL), info.ID, info.Host, int32(info.PID), queues,
			int32(info.Concurrency), int32(info.Running), info.Leader, info.StartedAt, info.HeartbeatAt)
		return err
	})
	if err != nil {
		return fmt.Errorf("recording worker %s: %w", info.ID, err)
	}
	return nil
}

// WorkerList returns every recorded worker, sorted by ID. See store.Store.
func (s *Store) WorkerList(ctx context.Context) ([]*store.WorkerInfo, error) {
	var workers []*store.WorkerInfo
	err := s.retry(ctx, func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, s.sql(workerListSQL))
		if err != nil {
			return err
		}
		workers, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.WorkerInfo, error) {
			var (
				w                         store.WorkerInfo
				pid, concurrency, running int32
			)
			if err := row.Scan(&w.ID, &w.Host, &pid, &w.Queues, &concurrency, &running, &w.Leader,
				&w.StartedAt, &w.HeartbeatAt); err != nil {
				return nil, err
			}
			w.PID, w.Concurrency, w.Running = int(pid), int(concurrency), int(running)
			w.StartedAt, w.HeartbeatAt = w.StartedAt.UTC(), w.HeartbeatAt.UTC()
			return &w, nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing workers: %w", err)
	}
	return workers, nil
}

// WorkerDelete deletes one worker, or the stale ones. See store.Store.
func (s *Store) WorkerDelete(ctx context.Context, params *store.WorkerDeleteParams) (int, error) {
	if params == nil {
		return 0, errors.New("deleting workers: nil params")
	}
	query, arg := s.sql(workerDeleteStaleSQL), any(params.HeartbeatBefore)
	if params.ID != "" {
		query, arg = s.sql(workerDeleteSQL), params.ID
	}
	var n int64
	err := s.retry(ctx, func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, query, arg)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("deleting workers: %w", err)
	}
	return int(n), nil
}
