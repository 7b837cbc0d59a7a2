package storetest_test

import (
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// mutantEnv names the defect a child process of TestMutants runs the
// reference store with.
const mutantEnv = "STORETEST_MUTANT"

// TestReference runs the suite against refStore, the plain in-memory
// reading of the contract: the suite must pass it. (Run by TestMutants
// with a defect named in mutantEnv, it must fail.)
func TestReference(t *testing.T) {
	bug := os.Getenv(mutantEnv)
	storetest.Run(t, func(t *testing.T) store.Store {
		s := newRefStore(bug)
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

// mutant is a defect of the reference store (refStore.bug) and the
// behaviours of the suite (group/behaviour) that must catch it.
type mutant struct {
	bug      string
	caughtBy []string
}

// mutants lists the defects the suite must catch, each by the test that
// pins the sentence of the contract it breaks.
var mutants = []mutant{
	{"getmany-sorted", []string{"GetMany/InOrderOfIDsMissingLeftOut"}},
	{"getmany-missing-error", []string{"GetMany/InOrderOfIDsMissingLeftOut"}},
	{"workflow-not-stored", []string{"Insert/WorkflowIsStoredAndReturned", "List/FiltersByWorkflow"}},
	{"list-ignores-workflow", []string{"List/FiltersByWorkflow"}},
	{"worker-beat-keeps-first", []string{"Workers/BeatInsertsThenReplaces"}},
	{"worker-list-unsorted", []string{"Workers/ListSortedByID"}},
	{"worker-delete-ignores-id", []string{"Workers/DeleteByID"}},
	{"worker-delete-stale-inclusive", []string{"Workers/DeleteStaleByHeartbeatBefore"}},
	{"leader-stolen-at-expiry", []string{"Leader/HeldUntilExpiryOthersLose", "Leader/HolderRenewsExtendingTheLease"}},
	{"leader-renewal-keeps-expiry", []string{"Leader/HolderRenewsExtendingTheLease"}},
	{"leader-resign-ignored", []string{"Leader/ResignFreesAtOnce"}},
	{"leader-resign-by-anyone", []string{"Leader/ResignByNonHolderDoesNothing"}},
	{"leader-names-shared", []string{"Leader/NamesAreIndependent"}},
	{"periodic-upsert-resets-ticks", []string{"Periodic/UpsertInsertsThenUpdatesKeepingTicks"}},
	{"periodic-upsert-resets-created", []string{"Periodic/UpsertInsertsThenUpdatesKeepingTicks"}},
	{"periodic-list-unsorted", []string{"Periodic/ListSortedByName"}},
	{"periodic-delete-missing-ok", []string{"Periodic/DeleteLeavesEnqueuedJobs"}},
	{"periodic-fire-twice", []string{"Periodic/FireOfSameOrEarlierTickDoesNothing", "Periodic/ConcurrentFiresOfOneTickInsertOnce", "Periodic/FireWithoutJobRecordsSkippedTick"}},
	{"periodic-fire-earlier", []string{"Periodic/FireOfSameOrEarlierTickDoesNothing"}},
	{"periodic-fire-ignores-unique", []string{"Periodic/FireRespectsUniqueKey"}},
	{"periodic-skip-not-recorded", []string{"Periodic/FireWithoutJobRecordsSkippedTick"}},
	{"periodic-setnext-ignored", []string{"Periodic/SetNextRecordsNextTickOnly"}},
	{"deps-duplicates-count-twice", []string{"Deps/AfterIsWaitingWithDepsInOrder"}},
	{"deps-finalized-at-insert-waits", []string{"Deps/AfterIDsOfUnfinishedAndCompletedJobs", "Deps/AfterIDsOfFailedJobsCancelsAtInsert"}},
	{"deps-missing-partial-insert", []string{"Deps/MissingAfterIDIsErrorInsertsNothing"}},
	{"deps-after-self-ok", []string{"Deps/AfterIndexNotEarlierIsErrorInsertsNothing"}},
	{"deps-waiting-fetchable", []string{"Deps/WaitingIsNeverFetched", "Deps/EachCompletionCountsLastReleasesAtNow"}},
	{"deps-retried-dep-counts-again", []string{"Deps/RetriedDepCountsOnce"}},
	{"deps-double-decrement", []string{"Deps/EachCompletionCountsLastReleasesAtNow", "Deps/ChordOfConcurrentCompletionsReleasesOnce"}},
	{"deps-release-keeps-runat", []string{"Deps/EachCompletionCountsLastReleasesAtNow", "Deps/ReleasedScheduledIfOwnRunAtIsLater"}},
	{"deps-release-ignores-runat", []string{"Deps/ReleasedScheduledIfOwnRunAtIsLater"}},
	{"deps-batch-decrement-once", []string{"Deps/DepsFinishingInOneCallCountEach"}},
	{"deps-cancel-without-error", []string{"Deps/FailedDepCancelsWaiter", "Deps/CancellationCascadesDownAChain"}},
	{"deps-no-cascade", []string{"Deps/CancellationCascadesDownAChain"}},
	{"deps-failure-counts-as-completion", []string{"Deps/FailedDepCancelsWaiter", "Deps/AfterIDsOfFailedJobsCancelsAtInsert"}},
	{"deps-run-on-failure-ignored", []string{"Deps/RunOnFailureRunsAfterFailedDeps", "Deps/CancellationCascadesDownAChain", "Deps/AfterIDsOfFailedJobsCancelsAtInsert", "Deps/CancelOfWaitingJob"}},
	{"deps-rescue-no-cascade", []string{"Deps/RescueToFinalStateCascades"}},
	{"deps-cancel-no-cascade", []string{"Deps/CancelOfPendingDepCascades", "Deps/CancelOfWaitingJob", "Deps/RunOnFailureRunsAfterFailedDeps"}},
	{"deps-delete-no-cascade", []string{"Deps/DeleteOfUnfinishedDepCancelsWaiters"}},
	{"deps-decrement-not-waiting", []string{"Deps/RetryOfWaitingJobRunsItAtOnce"}},
	{"stats-waiting-as-available", []string{"QueueStats/WaitingIsCountedNotAvailable"}},
}

// TestMutants runs the suite, in a child process per defect, against the
// reference store broken in that one way, and fails unless the named
// behaviours fail: a suite that passes a broken store is missing a test.
func TestMutants(t *testing.T) {
	if os.Getenv(mutantEnv) != "" {
		t.Skip("a child process of TestMutants")
	}
	if testing.Short() {
		t.Skip("starts a process per mutant")
	}
	for _, m := range mutants {
		t.Run(m.bug, func(t *testing.T) {
			t.Parallel()
			groups := map[string]bool{}
			for _, c := range m.caughtBy {
				groups[strings.Split(c, "/")[0]] = true
			}
			run := "^TestReference$/^(" + strings.Join(slices.Sorted(maps.Keys(groups)), "|") + ")$"
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run="+run, "-test.count=1")
			cmd.Env = append(os.Environ(), mutantEnv+"="+m.bug)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite (-run %s) passed the reference store with defect %q, want failures in %v:\n%s",
					run, m.bug, m.caughtBy, out)
			}
			if strings.Contains(string(out), "panic:") {
				t.Fatalf("the suite (-run %s) panicked on defect %q, want test failures:\n%s", run, m.bug, out)
			}
			for _, c := range m.caughtBy {
				if !strings.Contains(string(out), "--- FAIL: TestReference/"+c+" ") {
					t.Errorf("defect %q was not caught by %s (-run %s):\n%s", m.bug, c, run, out)
				}
			}
		})
	}
}
