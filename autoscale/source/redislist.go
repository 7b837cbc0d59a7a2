package source

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/doubleboiler/boiler/autoscale"
)

// RedisListOptions configure a [RedisList] source.
type RedisListOptions struct {
	// Keys are the lists whose lengths add up to the backlog. Required.
	// RQ keeps queue q in "rq:queue:q", Sidekiq in "queue:q", Celery
	// (Redis broker) in a list named after the queue ("celery").
	Keys []string
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// RedisList reads the backlog as the total length (LLEN) of Redis lists,
// so the autoscaler can scale Celery, RQ or Sidekiq workers too. A list
// that does not exist counts 0. Lists do not say how long their oldest
// entry has waited: OldestAge is 0, so a latency target does not apply.
type RedisList struct {
	rdb  redis.Cmdable
	keys []string
	now  func() time.Time
}

// NewRedisList returns a source reading lists from rdb.
func NewRedisList(rdb redis.Cmdable, opts RedisListOptions) (*RedisList, error) {
	if rdb == nil {
		return nil, errors.New("redis list source: the client is nil")
	}
	if len(opts.Keys) == 0 {
		return nil, errors.New("redis list source: Keys is empty, want at least one list key")
	}
	for i, k := range opts.Keys {
		if k == "" {
			return nil, fmt.Errorf("redis list source: key %d of %q is empty", i+1, opts.Keys)
		}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &RedisList{rdb: rdb, keys: slices.Clone(opts.Keys), now: opts.Now}, nil
}

// Backlog implements [autoscale.Source]: one round trip (a pipeline of
// LLEN).
func (r *RedisList) Backlog(ctx context.Context) (autoscale.Metric, error) {
	now := r.now()
	cmds := make([]*redis.IntCmd, len(r.keys))
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range r.keys {
			cmds[i] = p.LLen(ctx, k)
		}
		return nil
	})
	if err != nil {
		for i, c := range cmds {
			if c.Err() != nil {
				return autoscale.Metric{}, fmt.Errorf("reading the length of redis list %q: %w", r.keys[i], c.Err())
			}
		}
		return autoscale.Metric{}, fmt.Errorf("reading redis list lengths: %w", err)
	}
	m := autoscale.Metric{ReadAt: now}
	for _, c := range cmds {
		m.Backlog += c.Val()
	}
	return m, nil
}

var _ autoscale.Source = (*RedisList)(nil)
