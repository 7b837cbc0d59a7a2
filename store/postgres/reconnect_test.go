package postgres_test

import (
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// A server restart ends every connection. The pool's dead connections must
// not surface as errors (the store retries statements the server never
// ran), and the listener must reconnect and wake workers again. Killing
// this test's own backends stands in for a restart of the shared server.
func TestSurvivesTerminatedConnections(t *testing.T) {
	t.Parallel()
	s, db := newTestStore(t)
	ctx := t.Context()
	wake, err := s.ListenInserts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	// Fill the pool with several connections so several die at once.
	for range 3 {
		insertOne(t, s, now, job("default"))
	}
	expectWake(t, wake, "default", 5*time.Second)

	for round := range 2 {
		if n := db.terminate(t); n < 2 {
			t.Fatalf("round %d: terminated %d connections, want the pool's and the listener's", round, n)
		}
		// Every call right after must work: the dead pooled connections
		// are retried on fresh ones.
		j := insertOne(t, s, now, job("default"))
		jobs, err := s.JobFetch(ctx, &store.JobFetchParams{Queues: []string{"default"}, Limit: 100, Owner: "w", Now: now, LeaseExpiresAt: now.Add(time.Minute)})
		if err != nil {
			t.Fatalf("round %d: JobFetch after the connections were terminated: %v", round, err)
		}
		if len(jobs) == 0 {
			t.Fatalf("round %d: JobFetch returned nothing, want job %d among others", round, j.ID)
		}
		done := make([]*store.JobSetStateParams, len(jobs))
		for i, j := range jobs {
			done[i] = &store.JobSetStateParams{ID: j.ID, Owner: "w", Attempt: j.Attempt, State: store.StateCompleted, Now: now}
		}
		if _, err := s.JobSetStateIfRunningMany(ctx, done); err != nil {
			t.Fatalf("round %d: completing after the connections were terminated: %v", round, err)
		}

		// The listener reconnects with backoff: keep inserting until it
		// hears one (inserts before it is back are not heard).
		deadline := time.Now().Add(20 * time.Second)
		for heard := false; !heard; {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the listener heard no insert within 20s of losing its connection", round)
			}
			insertOne(t, s, now, job("after"))
			select {
			case q := <-wake:
				heard = q == "after"
			case <-time.After(300 * time.Millisecond):
			}
		}
	}
}
