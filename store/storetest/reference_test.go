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
//
// bug, when set, names a deliberate defect (see mutants in
// storetest_test.go): the suite must catch each one.
type refStore struct {
	mu       sync.Mutex
	jobs     map[int64]*store.Job
	byID     []*store.Job // the same jobs, by ID
	nextID   int64
	paused   map[string]bool
	subs     map[chan string]struct{}
	workers  map[string]*store.WorkerInfo
	leaders  map[string]leader
	periodic map[string]*store.PeriodicJob
	counted  map[[2]int64]bool // (waiter, dependency) pairs already counted
	bug      string
}

// leader is one leadership's current holder.
type leader struct {
	holder    string
	expiresAt time.Time
}

func newRefStore(bug string) *refStore {
	return &refStore{
		jobs: map[int64]*store.Job{}, paused: map[string]bool{}, subs: map[chan string]struct{}{},
		workers: map[string]*store.WorkerInfo{}, leaders: map[string]leader{}, periodic: map[string]*store.PeriodicJob{},
		counted: map[[2]int64]bool{}, bug: bug,
	}
}

// broken reports whether the store carries the defect named bug.
func (s *refStore) broken(bug string) bool { return s.bug == bug }

func clone(j *store.Job) *store.Job {
	c := *j
	c.Args = slices.Clone(j.Args)
	c.Result = slices.Clone(j.Result)
	c.Errors = slices.Clone(j.Errors)
	c.Deps = slices.Clone(j.Deps)
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
	return s.insert(p.Jobs, utc(p.Now))
}

// insert is JobInsertMany under the lock.
func (s *refStore) insert(jobs []*store.JobInsertParams, now time.Time) ([]store.JobInsertResult, error) {
	// Check every entry first: an error inserts nothing.
	for i, in := range jobs {
		if s.broken("deps-missing-partial-insert") {
			break
		}
		for _, a := range in.After {
			if (a < 0 || a >= i) && !s.broken("deps-after-self-ok") {
				return nil, fmt.Errorf("inserting job %d of %d: After index %d is not an earlier entry", i, len(jobs), a)
			}
		}
		for _, id := range in.AfterIDs {
			if s.jobs[id] == nil {
				return nil, fmt.Errorf("inserting job %d of %d: AfterIDs: job %d: %w", i, len(jobs), id, store.ErrNotFound)
			}
		}
	}
	res := make([]store.JobInsertResult, len(jobs))
	queues := map[string]bool{}
	for i, in := range jobs {
		if s.broken("deps-missing-partial-insert") {
			for _, id := range in.AfterIDs {
				if s.jobs[id] == nil {
					return nil, fmt.Errorf("inserting job %d: AfterIDs: job %d: %w", i, id, store.ErrNotFound)
				}
			}
		}
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
			Workflow: in.Workflow, RunOnFailure: in.RunOnFailure,
		}
		if s.broken("workflow-not-stored") {
			j.Workflow = ""
		}
		if runAt := utc(in.RunAt); runAt.After(now) {
			j.State, j.RunAt = store.StateScheduled, runAt
		}
		for _, a := range in.After {
			if a >= 0 && a < i {
				j.Deps = s.addDep(j.Deps, res[a].Job.ID)
			}
		}
		for _, id := range in.AfterIDs {
			j.Deps = s.addDep(j.Deps, id)
		}
		s.jobs[j.ID] = j
		s.byID = append(s.byID, j)
		queues[j.Queue] = true
		if len(j.Deps) > 0 {
			s.wait(j, now)
		}
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

// addDep appends id to deps unless it is there already.
func (s *refStore) addDep(deps []int64, id int64) []int64 {
	if slices.Contains(deps, id) && !s.broken("deps-duplicates-count-twice") {
		return deps
	}
	return append(deps, id)
}

// wait puts new job j, which has Deps, in waiting, counting those already
// finalized as finished.
func (s *refStore) wait(j *store.Job, now time.Time) {
	j.State = store.StateWaiting
	var failed *store.Job
	for _, id := range j.Deps {
		d := s.jobs[id]
		switch {
		case !d.State.Finalized() || s.broken("deps-finalized-at-insert-waits"):
			j.DepsLeft++
		case d.State != store.StateCompleted && !s.runOnFailure(j) && failed == nil && !s.broken("deps-failure-counts-as-completion"):
			failed = d
		}
	}
	switch {
	case failed != nil:
		s.cancelWaiter(j, failed.ID, failed.State, now)
	case j.DepsLeft == 0:
		s.release(j, now)
	}
}

// runOnFailure is j.RunOnFailure (ignored by the "deps-run-on-failure-ignored" bug).
func (s *refStore) runOnFailure(j *store.Job) bool {
	return j.RunOnFailure && !s.broken("deps-run-on-failure-ignored")
}

// release makes waiting job j available at now, or scheduled if its own
// RunAt is later.
func (s *refStore) release(j *store.Job, now time.Time) {
	if j.RunAt.After(now) && !s.broken("deps-release-ignores-runat") {
		j.State = store.StateScheduled
		return
	}
	j.State = store.StateAvailable
	if !s.broken("deps-release-keeps-runat") {
		j.RunAt = now
	}
}

// cancelWaiter cancels waiting job j because its dependency dep ended in
// state, and tells j's own waiters.
func (s *refStore) cancelWaiter(j *store.Job, dep int64, state store.State, now time.Time) {
	j.State, j.FinalizedAt = store.StateCancelled, now
	if !s.broken("deps-cancel-without-error") {
		j.Errors = append(j.Errors, store.AttemptError{
			Attempt: 0, At: now, Error: fmt.Sprintf("dependency job %d was %s", dep, state),
		})
	}
	if !s.broken("deps-no-cascade") {
		s.finished(j.ID, store.StateCancelled, now, nil)
	}
}

// finished updates the jobs waiting for job id, which just reached final
// state (cancelled also stands for a deletion), as DepsPolicy says. seen,
// when not nil, holds the waiters already counted by the current call (for
// the "deps-batch-decrement-once" bug).
func (s *refStore) finished(id int64, state store.State, now time.Time, seen map[int64]bool) {
	for _, w := range s.sorted() {
		if !slices.Contains(w.Deps, id) {
			continue
		}
		if w.State != store.StateWaiting && !(s.broken("deps-decrement-not-waiting") && !w.State.Finalized()) {
			continue
		}
		if edge := [2]int64{w.ID, id}; s.counted[edge] && !s.broken("deps-retried-dep-counts-again") {
			continue
		} else {
			s.counted[edge] = true
		}
		if state != store.StateCompleted && !s.runOnFailure(w) && !s.broken("deps-failure-counts-as-completion") {
			s.cancelWaiter(w, id, state, now)
			continue
		}
		if seen != nil && s.broken("deps-batch-decrement-once") {
			if seen[w.ID] {
				continue
			}
			seen[w.ID] = true
		}
		w.DepsLeft--
		if s.broken("deps-double-decrement") {
			w.DepsLeft--
		}
		if w.DepsLeft <= 0 {
			s.release(w, now)
		}
	}
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

// fetchable is eligible, or (for the "deps-waiting-fetchable" bug) waiting.
func (s *refStore) fetchable(j *store.Job, now time.Time) bool {
	return eligible(j, now) || (s.broken("deps-waiting-fetchable") && j.State == store.StateWaiting)
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
			if j.Queue != q || !s.fetchable(j, now) || (len(best) == n && first(j, best[n-1]) > 0) {
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
	seen := map[int64]bool{}
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
		if j.State.Finalized() {
			s.finished(j.ID, j.State, j.FinalizedAt, seen)
		}
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
		if j.State.Finalized() && !s.broken("deps-rescue-no-cascade") {
			s.finished(j.ID, j.State, now, nil)
		}
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
			(p.Kind != "" && j.Kind != p.Kind) || (p.BeforeID != 0 && j.ID >= p.BeforeID) ||
			(p.Workflow != "" && j.Workflow != p.Workflow && !s.broken("list-ignores-workflow")) {
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
	case j.State.Pending() || j.State == store.StateWaiting:
		j.State, j.FinalizedAt = store.StateCancelled, utc(p.Now)
		if !s.broken("deps-cancel-no-cascade") {
			s.finished(j.ID, j.State, j.FinalizedAt, nil)
		}
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
	if !j.State.Finalized() && !s.broken("deps-delete-no-cascade") {
		// The deletion counts as a cancellation for the jobs waiting on it.
		// JobDelete has no Now: the waiters' FinalizedAt is the store's
		// clock, the one place it is read (the suite only checks it is set).
		s.finished(id, store.StateCancelled, utc(time.Now()), nil)
	}
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
		if eligible(j, now) || (s.broken("stats-waiting-as-available") && j.State == store.StateWaiting) {
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

func (s *refStore) JobGetMany(_ context.Context, ids []int64) ([]*store.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*store.Job, 0, len(ids))
	for _, id := range ids {
		j := s.jobs[id]
		if j == nil {
			if s.broken("getmany-missing-error") {
				return nil, fmt.Errorf("job %d: %w", id, store.ErrNotFound)
			}
			continue
		}
		out = append(out, clone(j))
	}
	if s.broken("getmany-sorted") {
		slices.SortFunc(out, func(a, b *store.Job) int { return cmp.Compare(a.ID, b.ID) })
	}
	return out, nil
}

func cloneWorker(w *store.WorkerInfo) *store.WorkerInfo {
	c := *w
	c.Queues = slices.Clone(w.Queues)
	return &c
}

func (s *refStore) WorkerBeat(_ context.Context, info *store.WorkerInfo) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := cloneWorker(info)
	w.StartedAt, w.HeartbeatAt = utc(w.StartedAt), utc(w.HeartbeatAt)
	if old := s.workers[w.ID]; old != nil && s.broken("worker-beat-keeps-first") {
		return nil
	}
	s.workers[w.ID] = w
	return nil
}

func (s *refStore) WorkerList(context.Context) ([]*store.WorkerInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*store.WorkerInfo, 0, len(s.workers))
	for _, w := range s.workers {
		out = append(out, cloneWorker(w))
	}
	if !s.broken("worker-list-unsorted") {
		slices.SortFunc(out, func(a, b *store.WorkerInfo) int { return cmp.Compare(a.ID, b.ID) })
	} else {
		slices.SortFunc(out, func(a, b *store.WorkerInfo) int { return cmp.Compare(b.ID, a.ID) })
	}
	return out, nil
}

func (s *refStore) WorkerDelete(_ context.Context, p *store.WorkerDeleteParams) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.ID != "" && !s.broken("worker-delete-ignores-id") {
		if s.workers[p.ID] == nil {
			return 0, nil
		}
		delete(s.workers, p.ID)
		return 1, nil
	}
	n := 0
	for id, w := range s.workers {
		if w.HeartbeatAt.Before(p.HeartbeatBefore) || (s.broken("worker-delete-stale-inclusive") && w.HeartbeatAt.Equal(p.HeartbeatBefore)) {
			delete(s.workers, id)
			n++
		}
	}
	return n, nil
}

func (s *refStore) LeaderElect(_ context.Context, p *store.LeaderElectParams) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := p.Name
	if s.broken("leader-names-shared") {
		name = ""
	}
	now := utc(p.Now)
	l, held := s.leaders[name]
	expired := l.expiresAt.Before(now) || (s.broken("leader-stolen-at-expiry") && l.expiresAt.Equal(now))
	if held && !expired && l.holder != p.Holder {
		return false, nil
	}
	if held && l.holder == p.Holder && s.broken("leader-renewal-keeps-expiry") {
		return true, nil
	}
	s.leaders[name] = leader{holder: p.Holder, expiresAt: utc(p.ExpiresAt)}
	return true, nil
}

func (s *refStore) LeaderResign(_ context.Context, p *store.LeaderResignParams) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := p.Name
	if s.broken("leader-names-shared") {
		name = ""
	}
	if s.broken("leader-resign-ignored") {
		return nil
	}
	if l, held := s.leaders[name]; held && (l.holder == p.Holder || s.broken("leader-resign-by-anyone")) {
		delete(s.leaders, name)
	}
	return nil
}

func clonePeriodic(p *store.PeriodicJob) *store.PeriodicJob {
	c := *p
	c.Args = slices.Clone(p.Args)
	return &c
}

func (s *refStore) PeriodicUpsert(_ context.Context, p *store.PeriodicJob) (*store.PeriodicJob, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := clonePeriodic(p)
	c.CreatedAt, c.UpdatedAt = utc(c.CreatedAt), utc(c.UpdatedAt)
	c.LastTick, c.NextTick = utc(c.LastTick), utc(c.NextTick)
	if old := s.periodic[p.Name]; old != nil {
		if !s.broken("periodic-upsert-resets-created") {
			c.CreatedAt = old.CreatedAt
		}
		if !s.broken("periodic-upsert-resets-ticks") {
			c.LastTick, c.NextTick, c.LastJobID = old.LastTick, old.NextTick, old.LastJobID
		}
	}
	s.periodic[p.Name] = c
	return clonePeriodic(c), nil
}

func (s *refStore) PeriodicList(context.Context) ([]*store.PeriodicJob, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*store.PeriodicJob, 0, len(s.periodic))
	for _, p := range s.periodic {
		out = append(out, clonePeriodic(p))
	}
	slices.SortFunc(out, func(a, b *store.PeriodicJob) int { return cmp.Compare(a.Name, b.Name) })
	if s.broken("periodic-list-unsorted") {
		slices.Reverse(out)
	}
	return out, nil
}

func (s *refStore) PeriodicDelete(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.periodic[name] == nil && !s.broken("periodic-delete-missing-ok") {
		return fmt.Errorf("periodic job %q: %w", name, store.ErrNotFound)
	}
	delete(s.periodic, name)
	return nil
}

func (s *refStore) PeriodicFire(_ context.Context, p *store.PeriodicFireParams) (*store.PeriodicFireResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.periodic[p.Name]
	if e == nil {
		return nil, fmt.Errorf("firing periodic job %q: %w", p.Name, store.ErrNotFound)
	}
	tick := utc(p.Tick)
	switch {
	case s.broken("periodic-fire-twice"):
	case s.broken("periodic-fire-earlier"):
		if e.LastTick.Equal(tick) {
			return &store.PeriodicFireResult{}, nil
		}
	case !e.LastTick.IsZero() && !e.LastTick.Before(tick):
		return &store.PeriodicFireResult{}, nil
	}
	r := &store.PeriodicFireResult{Fired: true}
	if p.Job != nil {
		in := *p.Job
		if s.broken("periodic-fire-ignores-unique") {
			in.UniqueKey = ""
		}
		res, err := s.insert([]*store.JobInsertParams{&in}, utc(p.Now))
		if err != nil {
			return nil, fmt.Errorf("firing periodic job %q: %w", p.Name, err)
		}
		r.Job, r.Duplicate = res[0].Job, res[0].Duplicate
		e.LastJobID = r.Job.ID
	} else if s.broken("periodic-skip-not-recorded") {
		return r, nil
	}
	e.LastTick, e.NextTick = tick, utc(p.NextTick)
	return r, nil
}

func (s *refStore) PeriodicSetNext(_ context.Context, name string, next time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.periodic[name]
	if e == nil {
		return fmt.Errorf("periodic job %q: %w", name, store.ErrNotFound)
	}
	if !s.broken("periodic-setnext-ignored") {
		e.NextTick = utc(next)
	}
	return nil
}

var (
	_ store.Store    = (*refStore)(nil)
	_ store.Listener = (*refStore)(nil)
)
