package storeurl

import (
	"context"
	"fmt"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/redis"
)

// openRedis opens the Redis a redis:// or rediss:// URL names. Besides
// go-redis's parameters (pool_size, dial_timeout, skip_verify=true for a
// self-signed TLS certificate such as Heroku Redis's, ...), the URL may set
// boiler_prefix, the key prefix (default "boiler:"):
//
//	redis://127.0.0.1:6379/0?boiler_prefix=myapp:
//	rediss://:pw@host:6380?skip_verify=true
func openRedis(ctx context.Context, raw string) (store.Store, error) {
	s, err := redis.Open(ctx, raw, nil)
	if err != nil {
		return nil, urlError(raw, fmt.Errorf("opening Redis: %w", err))
	}
	return s, nil
}
