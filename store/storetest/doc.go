// Package storetest is the conformance suite of the job store: the
// executable specification of the [store.Store] contract. Every sentence of
// the doc comments in package store is pinned by one of its tests, and a
// backend is done when the suite passes against it. A behaviour change
// extends the suite first.
//
// A backend runs it from one of its own tests, with a factory that returns
// a fresh, migrated, empty store isolated from every other call (its own
// temporary file, schema or key prefix) and that registers the store's
// clean-up with t.Cleanup:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := sqlite.Open(filepath.Join(t.TempDir(), "boiler.db"), nil)
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { _ = s.Close() })
//			if err := s.Migrate(t.Context()); err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// Run starts one parallel subtest per behaviour, named group/behaviour
// ("Fetch/OrderStrictQueuesThenPriorityThenRunAtThenID"), so one behaviour
// runs alone with
//
//	go test -race ./store/sqlite/ -run 'Conformance/Fetch/Order'
//
// and calls the factory once per subtest. The suite never sleeps and never
// reads the wall clock: every call passes an explicit Now (a fixed base
// time in 2030 plus offsets), so time-dependent behaviour (scheduled jobs,
// retries, lease expiry, unique windows) is tested exactly at its
// boundaries. Times are compared to the microsecond and must come back in
// UTC. If the store implements [store.Listener], its notifications are
// tested too (with a generous timeout, the only place the suite waits).
//
// The heaviest tests drain 10,000 jobs with 8 concurrent fetchers, and
// complete a chord of 1,000 dependencies from 8 workers; under the race
// detector, which slows an embedded SQLite about thirtyfold, they use 2,000
// and 200, so run the suite both with and without -race.
//
// Besides the job methods, the suite pins dependencies (the Deps group,
// store.DepsPolicy), the worker registry (Workers), leader election
// (Leader) and periodic jobs (Periodic). Where the contract left a choice
// open, the test that makes it says so in its comment.
//
// The suite checks itself against a plain in-memory reading of the
// contract (reference_test.go): a test that fails it is a wrong test. And
// TestMutants runs it against that store broken one way at a time (a
// double decrement, a waiting job fetchable, a leader's lease taken at its
// expiry, a tick fired twice, ...): each defect must make the tests named
// beside it fail, or the suite is missing a test.
package storetest
