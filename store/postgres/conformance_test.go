package postgres_test

import (
	"testing"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/storetest"
)

// TestConformance runs the suite every store passes, each of its tests on
// a fresh schema, and checks the kept counts after each.
func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _ := newTestStore(t)
		// After each behaviour (before the store closes): the counts the
		// store keeps must match the jobs table.
		t.Cleanup(func() { checkCounts(t, s) })
		return s
	})
}
