package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/doubleboiler/boiler/store"
)

// The worker registry: workers is a hash of worker id -> WorkerInfo as
// JSON, and workers:beat a sorted set of the ids by heartbeat time
// (microseconds), which finds the stale ones.

// WorkerBeat writes the worker's entry and its heartbeat in one MULTI.
func (s *Store) WorkerBeat(ctx context.Context, info *store.WorkerInfo) error {
	if _, err := encodeTime(info.HeartbeatAt, "HeartbeatAt"); err != nil {
		return fmt.Errorf("recording worker %q: %w", info.ID, err)
	}
	w := *info
	w.StartedAt, w.HeartbeatAt = truncTime(w.StartedAt), truncTime(w.HeartbeatAt)
	b, err := json.Marshal(&w)
	if err != nil {
		return fmt.Errorf("recording worker %q: %w", info.ID, err)
	}
	_, err = s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.HSet(ctx, s.prefix+"workers", info.ID, b)
		p.ZAdd(ctx, s.prefix+"workers:beat", goredis.Z{Score: float64(w.HeartbeatAt.UnixMicro()), Member: info.ID})
		return nil
	})
	if err != nil {
		return fmt.Errorf("recording worker %q: %w", info.ID, err)
	}
	return nil
}

// WorkerList reads every worker's entry.
func (s *Store) WorkerList(ctx context.Context) ([]*store.WorkerInfo, error) {
	all, err := s.client.HGetAll(ctx, s.prefix+"workers").Result()
	if err != nil {
		return nil, fmt.Errorf("listing workers: %w", err)
	}
	out := make([]*store.WorkerInfo, 0, len(all))
	for id, v := range all {
		w := &store.WorkerInfo{}
		if err := json.Unmarshal([]byte(v), w); err != nil {
			return nil, fmt.Errorf("listing workers: decoding worker %q: %w", id, err)
		}
		w.StartedAt, w.HeartbeatAt = w.StartedAt.UTC(), w.HeartbeatAt.UTC()
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b *store.WorkerInfo) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// WorkerDelete deletes one worker (by ID, in one MULTI) or the stale ones
// (in one script).
func (s *Store) WorkerDelete(ctx context.Context, params *store.WorkerDeleteParams) (int, error) {
	if params.ID != "" {
		var del *goredis.IntCmd
		_, err := s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			del = p.HDel(ctx, s.prefix+"workers", params.ID)
			p.ZRem(ctx, s.prefix+"workers:beat", params.ID)
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("deleting worker %q: %w", params.ID, err)
		}
		return int(del.Val()), nil
	}
	before, err := encodeTime(params.HeartbeatBefore, "HeartbeatBefore")
	if err != nil {
		return 0, fmt.Errorf("deleting stale workers: %w", err)
	}
	n, err := s.scripts.workerDelete.Run(ctx, s.client, s.keys, before).Int()
	if err != nil {
		return 0, fmt.Errorf("deleting workers with a heartbeat before %s: %w",
			params.HeartbeatBefore.UTC().Format(time.RFC3339Nano), interpretError(err))
	}
	return n, nil
}
