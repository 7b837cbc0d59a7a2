package redis

import (
	"testing"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/storetest"
)

// TestConformance runs the store contract's suite, each behaviour on a
// fresh key prefix deleted afterwards.
func TestConformance(t *testing.T) {
	t.Parallel()
	requireRedis(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return openStoreWithPrefix(t, testPrefix(t), "")
	})
}
