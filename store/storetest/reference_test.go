package storetest_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// refStore is a deliberately plain, in-memory reading of the store
// contract, used only to test the suite itself: a suite that fails it
// (or that passes it only by luck) is wrong. Everything happens under one
// mutex, by the most literal reading of each doc comment in package store.
type refStore struct {
	mu     sync.Mutex
	jobs   map[int64]*store.Job
	byID   []*store.Job // the same jobs, by ID
	nextID int64
	paused map[string]bool
	subs   map[chan string]struct{}
}

func newRefStore() *refStore {
	return &refStore{jobs: map[int64]*store.Job{}, paused: map[string]bool{}, subs: map[chan string]struct{}{}}
}

func clone(j *store.Job) *store.Job {
	c := *j
	c.Args = slices.Clone(j.Args)
	c.Result = slices.Clone(j.Result)
	c.Errors = slices.Clone(j.Errors)
	return &c
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

func (s *refStore) Migrate(context.Context) error { return nil }
func (s *refStore) Close() error                  { return nil }

// holds reports whether j holds its unique key at now.
func holds(j *store.Job, now time.Time) bool {
	if !j.UniqueUntil.IsZero() {
		return now.Before(j.UniqueUntil)
	}
	return !j.State.Finalized()
}

func (s *refStore) JobInsertMany(_ context.Context, p *store.JobInsertManyParams) ([]store.JobInsertResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := utc(p.Now)
	res := make([]store.JobInsertResult, len(p.Jobs))
	queues := map[string]bool{}
	for i, in := range p.Jobs {
		if in.UniqueKey != "" {
			if dup := s.holder(in.UniqueKey, now); dup != nil {
				res[i] = store.JobInsertResult{Job: clone(dup), Duplicate: true}
				continue
			}
		}
		s.nextID++
		j := &store.Job{
			ID: s.nextID, Kind: in.Kind, Queue: in.Queue, Priority: in.Priority, Args: slices.Clone(in.Args),
			State: store.StateAvailable, MaxAttempts: in.MaxAttempts, Timeout: in.Timeout,
			EnqueuedAt: now, RunAt: now, UniqueKey: in.UniqueKey, UniqueUntil: utc(in.UniqueUntil),
		}
		if runAt := utc(in.RunAt); runAt.After(now) {
			j.State, j.RunAt = store.StateScheduled, runAt
		}
		s.jobs[j.ID] = j
		s.byID = append(s.byID, j)
		queues[j.Queue] = true
		res[i] = store.JobInsertResult{Job: clone(j)}
	}
	for q := range queues {
		for ch := range s.subs {
			select {
			case ch <- q:
			default:
			}
		}
	}
	return res, nil
}

func (s *refStore) holder(key string, now time.Time) *store.Job {
	for _, j := range s.byID {
		if j.UniqueKey == key && holds(j, now) {
			return j
		}
	}
	return nil
}

func eligible(j *store.Job, now time.Time) bool {
	return j.State == store.StateAvailable || (j.State.Pending() && !j.RunAt.After(now))
}

func (s *refStore) JobFetch(_ context.Context, p *store.JobFetchParams) ([]*store.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := utc(p.Now)
	first := func(a, b *store.Job) int {
		return cmp.Or(cmp.Compare(b.Priority, a.Priority), a.RunAt.Compare(b.RunAt), cmp.Compare(a.ID, b.ID))
	}
	var out []*store.Job
	for _, q := range p.Queues {
		if s.paused[q] || len(out) == p.Limit {
			continue
		}
		// The best p.Limit-len(out) eligible jobs of q, kept in order.
		n := p.Limit - len(out)
		best := make([]*store.Job, 0, n+1)
		for _, j := range s.byID {
			if j.Queue != q || !eligible(j, now) || (len(best) == n && first(j, best[n-1]) > 0) {
				continue
			}
			i, _ := slices.BinarySearchFunc(best, j, first)
			best = slices.Insert(best, i, j)
			if len(best) > n {
				best = best[:n]
			}
		}
		for _, j := range best {
			j.State, j.Attempt, j.AttemptedAt = store.StateRunning, j.Attempt+1, now
			j.LeaseOwner, j.LeaseExpiresAt = p.Owner, utc(p.LeaseExpiresAt)
			out = append(out, clone(j))
		}
	}
	return out, nil
}

func (s *refStore) JobSetStateIfRunningMany(_ context.Context, ps []*store.JobSetStateParams) ([]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]bool, len(ps))
	for i, p := range ps {
		j := s.jobs[p.ID]
		if j == nil || j.State != store.StateRunning || j.LeaseOwner != p.Owner || j.Attempt != p.Attempt {
			continue
		}
		j.State = p.State
		if p.State.Finalized() {
			j.FinalizedAt = utc(p.Now)
		} else {
			j.RunAt = utc(p.RunAt)
		}
		if p.Error != nil {
			e := *p.Error
			e.At = utc(e.At)
			j.Errors = append(j.Errors, e)
		}
		if p.Result != nil {
			j.Result = slices.Clone(p.Result)
		}
		if p.UndoAttempt {
			j.Attempt--
		}
		j.LeaseOwner, j.LeaseExpiresAt = "", time.Time{}
		out[i] = true
	}
	return out, nil
}

func (s *refStore) JobHeartbeat(_ context.Context, p *store.JobHeartbeatParams) (*store.JobHeartbeatResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &store.JobHeartbeatResult{}
	for _, j := range s.sorted() {
		if j.State == store.StateRunning && j.LeaseOwner == p.Owner {
			j.LeaseExpiresAt = utc(p.LeaseExpiresAt)
			r.Extended++
			if j.CancelRequested {
				r.CancelRequested = append(r.CancelRequested, j.ID)
			}
		}
	}
	return r, nil
}

func (s *refStore) JobRescue(_ context.Context, p *store.JobRescueParams) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now, n := utc(p.Now), 0
	for _, j := range s.sorted() {
		if n == p.Limit {
			break
		}
		if j.State != store.StateRunning || !j.LeaseExpiresAt.Before(now) {
			continue
		}
		j.Errors = append(j.Errors, store.AttemptError{Attempt: j.Attempt, At: now, Error: "lease expired: worker lost"})
		switch {
		case j.CancelRequested:
			j.State, j.FinalizedAt = store.StateCancelled, now
		case j.Attempt >= j.MaxAttempts:
			j.State, j.FinalizedAt = store.StateDiscarded, now
		default:
			j.State, j.RunAt = store.StateAvailable, now
		}
		j.LeaseOwner, j.LeaseExpiresAt = "", time.Time{}
		n++
	}
	return n, nil
}

// sorted returns the jobs by ID.
func (s *refStore) sorted() []*store.Job { return slices.Clone(s.byID) }

// remove deletes job id.
func (s *refStore) remove(id int64) {
	delete(s.jobs, id)
	s.byID = slices.DeleteFunc(s.byID, func(j *store.Job) bool { return j.ID == id })
}

func (s *refStore) find(id int64) (*store.Job, error) {
	j := s.jobs[id]
	if j == nil {
		return nil, fmt.Errorf("job %d: %w", id, store.ErrNotFound)
	}
	return j, nil
}

func (s *refStore) JobGet(_ context.Context, id int64) (*store.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, err := s.find(id)
	if err != nil {
		return nil, err
	}
	return clone(j), nil
}

func (s *refStore) JobList(_ context.Context, p *store.JobListParams) ([]*store.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := s.sorted()
	slices.Reverse(all)
	var out []*store.Job
	for _, j := range all {
		if len(out) == p.Limit {
			break
		}
		if (len(p.States) > 0 && !slices.Contains(p.States, j.State)) || (p.Queue != "" && j.Queue != p.Queue) ||
			(p.Kind != "" && j.Kind != p.Kind) || (p.BeforeID != 0 && j.ID >= p.BeforeID) {
			continue
		}
		out = append(out, clone(j))
	}
	return out, nil
}

func (s *refStore) JobCancel(_ context.Context, p *store.JobCancelParams) (*store.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, err := s.find(p.ID)
	if err != nil {
		return nil, err
	}
	switch {
	case j.State.Pending():
		j.State, j.FinalizedAt = store.StateCancelled, utc(p.Now)
	case j.State == store.StateRunning:
		j.CancelRequested = true
	}
	return clone(j), nil
}

func (s *refStore) JobRetry(_ context.Context, p *store.JobRetryParams) (*store.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, err := s.find(p.ID)
	if err != nil {
		return nil, err
	}
	if j.State == store.StateRunning {
		return nil, fmt.Errorf("retrying job %d: %w", p.ID, store.ErrJobRunning)
	}
	j.State, j.RunAt, j.FinalizedAt, j.CancelRequested = store.StateAvailable, utc(p.Now), time.Time{}, false
	if j.Attempt >= j.MaxAttempts {
		j.MaxAttempts = j.Attempt + 1
	}
	return clone(j), nil
}

func (s *refStore) JobDelete(_ context.Context, id int64) (*store.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, err := s.find(id)
	if err != nil {
		return nil, err
	}
	if j.State == store.StateRunning {
		return nil, fmt.Errorf("deleting job %d: %w", id, store.ErrJobRunning)
	}
	s.remove(id)
	return j, nil
}

func (s *refStore) JobDeleteFinalized(_ context.Context, p *store.JobDeleteFinalizedParams) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, j := range s.sorted() {
		if n < p.Limit && j.State == p.State && j.FinalizedAt.Before(p.Before) {
			s.remove(j.ID)
			n++
		}
	}
	return n, nil
}

func (s *refStore) QueuePause(_ context.Context, queue string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.paused[queue] = true
	return nil
}

func (s *refStore) QueueResume(_ context.Context, queue string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.paused, queue)
	return nil
}

func (s *refStore) QueueStats(_ context.Context, p *store.QueueStatsParams) ([]*store.QueueStat, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := utc(p.Now)
	byName := map[string]*store.QueueStat{}
	stat := func(name string) *store.QueueStat {
		if byName[name] == nil {
			byName[name] = &store.QueueStat{Name: name, Paused: s.paused[name], Counts: map[store.State]int64{}}
			for _, st := range store.States {
				byName[name].Counts[st] = 0
			}
		}
		return byName[name]
	}
	for q := range s.paused {
		stat(q)
	}
	for _, j := range s.jobs {
		q := stat(j.Queue)
		if eligible(j, now) {
			q.Counts[store.StateAvailable]++
			if q.OldestAvailableAt.IsZero() || j.RunAt.Before(q.OldestAvailableAt) {
				q.OldestAvailableAt = j.RunAt
			}
			continue
		}
		q.Counts[j.State]++
	}
	out := make([]*store.QueueStat, 0, len(byName))
	for _, q := range byName {
		out = append(out, q)
	}
	slices.SortFunc(out, func(a, b *store.QueueStat) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

func (s *refStore) ListenInserts(ctx context.Context) (<-chan string, error) {
	ch := make(chan string, 1)
	s.mu.Lock()
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	context.AfterFunc(ctx, func() {
		s.mu.Lock()
		delete(s.subs, ch)
		s.mu.Unlock()
		close(ch)
	})
	return ch, nil
}

var (
	_ store.Store    = (*refStore)(nil)
	_ store.Listener = (*refStore)(nil)
)
