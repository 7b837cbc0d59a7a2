package storetest

import (
	"testing"

	"github.com/doubleboiler/boiler/store"
)

// Run runs the conformance suite. newStore returns a fresh, migrated, empty
// store isolated from every other call (its own temp file / schema / key
// prefix) and registers its cleanup with t.Cleanup.
//
// Each behaviour is a parallel subtest named group/behaviour, with a store
// of its own.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	for _, g := range groups() {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(t, newStore(t))
				})
			}
		})
	}
}

// test is one behaviour of the contract.
type test struct {
	name string
	run  func(t *testing.T, s store.Store)
}

// group is the behaviours of one Store method (or a closely related pair).
type group struct {
	name  string
	tests []test
}

// groups lists the whole suite; each group lives in the file of its name.
func groups() []group {
	return []group{
		{"Migrate", migrateTests()},
		{"Insert", insertTests()},
		{"Unique", uniqueTests()},
		{"Fetch", fetchTests()},
		{"SetState", setStateTests()},
		{"Heartbeat", heartbeatTests()},
		{"Rescue", rescueTests()},
		{"Get", getTests()},
		{"GetMany", getManyTests()},
		{"List", listTests()},
		{"Cancel", cancelTests()},
		{"Retry", retryTests()},
		{"Delete", deleteTests()},
		{"DeleteFinalized", deleteFinalizedTests()},
		{"Queue", queueTests()},
		{"QueueStats", queueStatsTests()},
		{"Listener", listenerTests()},
		{"Workers", workerTests()},
		{"Leader", leaderTests()},
		{"Periodic", periodicTests()},
		{"Deps", depsTests()},
	}
}
