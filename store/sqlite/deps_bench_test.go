package sqlite_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// BenchmarkCompleteChordMembers compares completing plain jobs with
// completing the members of chords: 1,000 members and a callback waiting
// for all of them (in another queue, so it is not fetched). Each iteration
// fetches 100 jobs and completes them in one call, as a worker does; for
// the chord the call also counts the 100 members off the callback (and
// releases it after the tenth batch). The queue is refilled untimed.
//
//	go test -run '^$' -bench CompleteChordMembers -count 5 ./store/sqlite/
func BenchmarkCompleteChordMembers(b *testing.B) {
	for _, chord := range []bool{false, true} {
		name := "plain"
		if chord {
			name = "chord"
		}
		b.Run(name, func(b *testing.B) {
			s := openMigrated(b, filepath.Join(b.TempDir(), "bench.db"), nil)
			const members, batch = 1000, 100
			ctx := b.Context()
			insert := func() {
				ps := benchJobs(members, 0)
				if chord {
					after := make([]int, members)
					for i := range after {
						after[i] = i
					}
					ps = append(ps, &store.JobInsertParams{
						Kind: "callback", Queue: "callbacks", MaxAttempts: 25, Args: []byte(`{}`), After: after,
					})
				}
				if _, err := s.JobInsertMany(ctx, &store.JobInsertManyParams{Jobs: ps, Now: benchNow}); err != nil {
					b.Fatal(err)
				}
			}
			avail, n := 0, 0
			params := make([]*store.JobSetStateParams, 0, batch)
			for b.Loop() {
				if avail < batch {
					b.StopTimer()
					insert()
					avail += members
					b.StartTimer()
				}
				jobs, err := s.JobFetch(ctx, &store.JobFetchParams{
					Queues: []string{"default"}, Limit: batch, Owner: "bench",
					Now: benchNow, LeaseExpiresAt: benchNow.Add(time.Minute),
				})
				if err != nil {
					b.Fatal(err)
				}
				if len(jobs) != batch {
					b.Fatalf("fetched %d jobs, want %d", len(jobs), batch)
				}
				params = params[:0]
				for _, j := range jobs {
					params = append(params, &store.JobSetStateParams{
						ID: j.ID, Owner: "bench", Attempt: j.Attempt, State: store.StateCompleted, Now: benchNow,
					})
				}
				if _, err := s.JobSetStateIfRunningMany(ctx, params); err != nil {
					b.Fatal(err)
				}
				avail -= batch
				n += batch
			}
			reportJobsPerSec(b, n)
			if chord {
				b.StopTimer()
				stats, err := s.QueueStats(ctx, &store.QueueStatsParams{Now: benchNow})
				if err != nil {
					b.Fatal(err)
				}
				for _, st := range stats {
					if st.Name == "callbacks" && st.Counts[store.StateAvailable] != int64(n/members) {
						b.Fatalf("%d chords completed, %d callbacks released", n/members, st.Counts[store.StateAvailable])
					}
				}
			}
		})
	}
}

// BenchmarkInsertChord inserts a chord per call: 1,000 members and a
// callback waiting for all of them.
func BenchmarkInsertChord(b *testing.B) {
	s := openMigrated(b, filepath.Join(b.TempDir(), "bench.db"), nil)
	const members = 1000
	ps := benchJobs(members, 0)
	after := make([]int, members)
	for i := range after {
		after[i] = i
	}
	ps = append(ps, &store.JobInsertParams{Kind: "callback", Queue: "callbacks", MaxAttempts: 25, Args: []byte(`{}`), After: after})
	n := 0
	for b.Loop() {
		if _, err := s.JobInsertMany(b.Context(), &store.JobInsertManyParams{Jobs: ps, Now: benchNow}); err != nil {
			b.Fatal(err)
		}
		n += members + 1
	}
	reportJobsPerSec(b, n)
}
