package sqlite

import (
	"context"
	"errors"

	"github.com/doubleboiler/boiler/store"
)

// ListenInserts returns a channel that receives the queue of jobs inserted
// through this Store (JobInsertMany, JobInsertManyTx, PeriodicFire;
// duplicates are not inserts), of jobs JobRetry makes available, and of
// waiting jobs released by the end of their dependencies. The channel has
// a buffer of one and a send never blocks: when it is full, the
// notification is dropped, since the one waiting already wakes the
// worker. The channel is closed when ctx is done or the Store is closed.
//
// Only this Store's inserts are heard. Jobs inserted by another process
// (boiler enqueue from a shell) are found by the worker's poll.
func (s *Store) ListenInserts(ctx context.Context) (<-chan string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ch, err := s.listeners.Subscribe(ctx)
	if err != nil {
		return nil, errors.New("listening for inserts: the store is closed")
	}
	return ch, nil
}

// notifyInserted tells the listeners about the queues of the jobs res
// inserted (once per run of one queue). A scheduled job is announced too:
// the wake-up costs one fetch, and it keeps the contract simple.
func (s *Store) notifyInserted(res []store.JobInsertResult) {
	var last string
	for _, r := range res {
		if r.Duplicate || r.Job.Queue == last {
			continue
		}
		last = r.Job.Queue
		s.listeners.Send(last)
	}
}

// notifyQueues tells the listeners about jobs made available (or
// scheduled) in queues, for example jobs whose dependencies finished.
func (s *Store) notifyQueues(queues []string) {
	for _, q := range queues {
		s.listeners.Send(q)
	}
}
