package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/doubleboiler/boiler/store"
)

const (
	workerBeatSQL = `INSERT INTO workers (id, host, pid, queues, concurrency, running, leader, started_at, heartbeat_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, queues = excluded.queues,
			concurrency = excluded.concurrency, running = excluded.running, leader = excluded.leader,
			started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at`
	workerListSQL = `SELECT id, host, pid, queues, concurrency, running, leader, started_at, heartbeat_at
		FROM workers ORDER BY id`
	workerDeleteSQL      = `DELETE FROM workers WHERE id = ?`
	workerDeleteStaleSQL = `DELETE FROM workers WHERE heartbeat_at < ?`
)

// WorkerBeat inserts or replaces the worker's entry; see store.Store.
func (s *Store) WorkerBeat(ctx context.Context, info *store.WorkerInfo) error {
	switch {
	case info == nil:
		return errors.New("recording worker: info is nil")
	case info.ID == "":
		return errors.New("recording worker: ID is empty")
	case info.HeartbeatAt.IsZero():
		return fmt.Errorf("recording worker %q: HeartbeatAt is zero", info.ID)
	}
	queues, err := json.Marshal(info.Queues)
	if err != nil {
		return fmt.Errorf("recording worker %q: encoding queues: %w", info.ID, err)
	}
	err = s.inWriteTx(ctx, func(tx *sql.Tx) error {
		st, err := s.wstmts.tx(ctx, tx, workerBeatSQL)
		if err != nil {
			return err
		}
		_, err = st.ExecContext(ctx, info.ID, info.Host, info.PID, string(queues), info.Concurrency, info.Running,
			info.Leader, micros(info.StartedAt), micros(info.HeartbeatAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("recording worker %q: %w", info.ID, err)
	}
	return nil
}

// WorkerList returns every worker, sorted by ID, read from the read pool;
// see store.Store.
func (s *Store) WorkerList(ctx context.Context) ([]*store.WorkerInfo, error) {
	st, err := s.rstmts.get(ctx, workerListSQL)
	if err != nil {
		return nil, fmt.Errorf("listing workers: %w", err)
	}
	rows, err := st.QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing workers: %w", err)
	}
	defer rows.Close()
	ws := []*store.WorkerInfo{}
	for rows.Next() {
		var w store.WorkerInfo
		var queues []byte
		var started, beat int64
		if err := rows.Scan(&w.ID, &w.Host, &w.PID, &queues, &w.Concurrency, &w.Running, &w.Leader, &started, &beat); err != nil {
			return nil, fmt.Errorf("listing workers: %w", err)
		}
		if err := json.Unmarshal(queues, &w.Queues); err != nil {
			return nil, fmt.Errorf("listing workers: decoding the queues of %q: %w", w.ID, err)
		}
		w.StartedAt, w.HeartbeatAt = fromMicros(started), fromMicros(beat)
		ws = append(ws, &w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing workers: %w", err)
	}
	return ws, nil
}

// WorkerDelete deletes one worker by ID, or the stale ones; see
// store.Store.
func (s *Store) WorkerDelete(ctx context.Context, params *store.WorkerDeleteParams) (int, error) {
	if params == nil {
		return 0, errors.New("deleting workers: params are nil")
	}
	query, arg, what := workerDeleteSQL, any(params.ID), fmt.Sprintf("worker %q", params.ID)
	if params.ID == "" {
		if params.HeartbeatBefore.IsZero() {
			return 0, errors.New("deleting workers: neither ID nor HeartbeatBefore is set")
		}
		query, arg, what = workerDeleteStaleSQL, micros(params.HeartbeatBefore), "stale workers"
	}
	var n int64
	err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
		st, err := s.wstmts.tx(ctx, tx, query)
		if err != nil {
			return err
		}
		r, err := st.ExecContext(ctx, arg)
		if err != nil {
			return err
		}
		n, err = r.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("deleting %s: %w", what, err)
	}
	return int(n), nil
}

// workerQueries are the write statements of this file.
var workerQueries = []string{workerBeatSQL, workerDeleteSQL, workerDeleteStaleSQL}
