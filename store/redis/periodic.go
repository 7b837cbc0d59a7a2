package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/doubleboiler/boiler/store"
)

// Periodic jobs: periodic:<name> is a hash of an entry's fields, and
// periodic a sorted set of the names (score 0: sorted bytewise, the order
// PeriodicList returns).

// PeriodicUpsert inserts or updates the entry in one script.
func (s *Store) PeriodicUpsert(ctx context.Context, p *store.PeriodicJob) (*store.PeriodicJob, error) {
	var times [4]string
	for i, t := range []struct {
		t    time.Time
		what string
	}{{p.CreatedAt, "CreatedAt"}, {p.UpdatedAt, "UpdatedAt"}, {p.LastTick, "LastTick"}, {p.NextTick, "NextTick"}} {
		var err error
		if times[i], err = encodeOptionalTime(t.t, t.what); err != nil {
			return nil, fmt.Errorf("upserting periodic job %q: %w", p.Name, err)
		}
	}
	lastJob := ""
	if p.LastJobID != 0 {
		lastJob = strconv.FormatInt(p.LastJobID, 10)
	}
	raw, err := s.scripts.periodicUpsert.Run(ctx, s.client, s.keys, p.Name, p.Spec, p.Kind, string(p.Args),
		p.Queue, p.Priority, p.MaxAttempts, int64(p.Timeout), string(p.CatchUp), p.Source,
		times[0], times[1], times[2], times[3], lastJob).Result()
	if err != nil {
		return nil, fmt.Errorf("upserting periodic job %q: %w", p.Name, interpretError(err))
	}
	e, err := decodePeriodic(p.Name, raw)
	if err != nil {
		return nil, fmt.Errorf("upserting periodic job %q: %w", p.Name, err)
	}
	return e, nil
}

// PeriodicList reads the names, then the entries in one pipeline; an
// entry deleted in between is left out.
func (s *Store) PeriodicList(ctx context.Context) ([]*store.PeriodicJob, error) {
	names, err := s.client.ZRange(ctx, s.prefix+"periodic", 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("listing periodic jobs: %w", err)
	}
	cmds := make([]*goredis.MapStringStringCmd, len(names))
	if len(names) > 0 {
		_, err = s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for i, name := range names {
				cmds[i] = p.HGetAll(ctx, s.prefix+"periodic:"+name)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("listing periodic jobs: %w", err)
		}
	}
	out := make([]*store.PeriodicJob, 0, len(names))
	for i, cmd := range cmds {
		fields := cmd.Val()
		if len(fields) == 0 {
			continue
		}
		e, err := periodicFromMap(names[i], fields)
		if err != nil {
			return nil, fmt.Errorf("listing periodic jobs: %w", err)
		}
		out = append(out, e)
	}
	return out, nil
}

// PeriodicDelete deletes the entry and its name in one MULTI.
func (s *Store) PeriodicDelete(ctx context.Context, name string) error {
	var del *goredis.IntCmd
	_, err := s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		del = p.Del(ctx, s.prefix+"periodic:"+name)
		p.ZRem(ctx, s.prefix+"periodic", name)
		return nil
	})
	if err != nil {
		return fmt.Errorf("deleting periodic job %q: %w", name, err)
	}
	if del.Val() == 0 {
		return fmt.Errorf("deleting periodic job %q: %w", name, store.ErrNotFound)
	}
	return nil
}

// PeriodicFire compares the tick, inserts the job as JobInsertMany does
// and records the tick, all in one script.
func (s *Store) PeriodicFire(ctx context.Context, params *store.PeriodicFireParams) (*store.PeriodicFireResult, error) {
	tick, err := encodeTime(params.Tick, "Tick")
	if err != nil {
		return nil, fmt.Errorf("firing periodic job %q: %w", params.Name, err)
	}
	next, err := encodeOptionalTime(params.NextTick, "NextTick")
	if err != nil {
		return nil, fmt.Errorf("firing periodic job %q: %w", params.Name, err)
	}
	now, err := encodeTime(params.Now, "Now")
	if err != nil {
		return nil, fmt.Errorf("firing periodic job %q: %w", params.Name, err)
	}
	args := make([]any, 0, 4+insertFields+insertExtraFields)
	args = append(args, params.Name, tick, next, now)
	if params.Job != nil {
		one := &store.JobInsertManyParams{Jobs: []*store.JobInsertParams{params.Job}, Now: params.Now}
		if args, err = appendInsertArgs(args, 0, params.Job, one); err != nil {
			return nil, fmt.Errorf("firing periodic job %q: %w", params.Name, err)
		}
	}
	raw, err := s.scripts.periodicFire.Run(ctx, s.client, s.keys, args...).Slice()
	if err != nil {
		return nil, fmt.Errorf("firing periodic job %q: %w", params.Name, insertError(err, 1))
	}
	fired, _ := raw[0].(int64)
	res := &store.PeriodicFireResult{Fired: fired == 1}
	if len(raw) == 2 {
		results, err := decodeInsertReply([]any{raw[1]}, []*store.JobInsertParams{params.Job}, params.Now)
		if err != nil {
			return nil, fmt.Errorf("firing periodic job %q: %w", params.Name, err)
		}
		res.Job, res.Duplicate = results[0].Job, results[0].Duplicate
	}
	return res, nil
}

// PeriodicSetNext records NextTick in one script.
func (s *Store) PeriodicSetNext(ctx context.Context, name string, next time.Time) error {
	n, err := encodeOptionalTime(next, "NextTick")
	if err != nil {
		return fmt.Errorf("setting next tick of periodic job %q: %w", name, err)
	}
	if err := s.scripts.periodicSetNext.Run(ctx, s.client, s.keys, name, n).Err(); err != nil {
		return fmt.Errorf("setting next tick of periodic job %q: %w", name, interpretError(err))
	}
	return nil
}

// decodePeriodic builds an entry from a script's HGETALL reply.
func decodePeriodic(name string, raw any) (*store.PeriodicJob, error) {
	kv, ok := raw.([]any)
	if !ok || len(kv)%2 != 0 {
		return nil, fmt.Errorf("decoding periodic job %q: unexpected reply %T", name, raw)
	}
	fields := make(map[string]string, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, _ := kv[i].(string)
		v, _ := kv[i+1].(string)
		fields[k] = v
	}
	return periodicFromMap(name, fields)
}

// periodicFromMap builds an entry from its hash. Unknown fields are
// ignored, so a newer version may add some.
func periodicFromMap(name string, fields map[string]string) (*store.PeriodicJob, error) {
	p := &store.PeriodicJob{Name: name}
	for k, v := range fields {
		var err error
		switch k {
		case "spec":
			p.Spec = v
		case "kind":
			p.Kind = v
		case "args":
			p.Args = json.RawMessage(v)
		case "queue":
			p.Queue = v
		case "priority":
			p.Priority, err = strconv.Atoi(v)
		case "max_attempts":
			p.MaxAttempts, err = strconv.Atoi(v)
		case "timeout":
			var ns int64
			ns, err = strconv.ParseInt(v, 10, 64)
			p.Timeout = time.Duration(ns)
		case "catch_up":
			p.CatchUp = store.CatchUp(v)
		case "source":
			p.Source = v
		case "created_at":
			p.CreatedAt, err = decodeTime(v)
		case "updated_at":
			p.UpdatedAt, err = decodeTime(v)
		case "last_tick":
			p.LastTick, err = decodeTime(v)
		case "next_tick":
			p.NextTick, err = decodeTime(v)
		case "last_job_id":
			if v != "" {
				p.LastJobID, err = strconv.ParseInt(v, 10, 64)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("decoding periodic job %q field %s=%q: %w", name, k, v, err)
		}
	}
	return p, nil
}
