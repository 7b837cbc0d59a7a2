package postgres_test

import (
	"testing"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/storetest"
)

// TestConformance runs the suite every store passes, each of its tests on
// a fresh schema.
func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _ := newTestStore(t)
		return s
	})
}
