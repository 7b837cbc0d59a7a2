package httpapi

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// Notes of /api/workers when it cannot list workers.
const (
	noWorkerRegistry = "worker registry not available for this store yet"
	noStoreGiven     = "the API was built without Options.Store: it cannot read the worker registry"
)

// Worker is one worker process as /api/workers shows it: what it recorded
// at its last heartbeat, and whether that heartbeat is too old.
type Worker struct {
	store.WorkerInfo
	// HeartbeatAgeMS is how long ago the worker last reported.
	HeartbeatAgeMS int64 `json:"heartbeat_age_ms"`
	// Stale is set when the last heartbeat is older than
	// Options.WorkerStaleAfter: the worker has probably died without
	// saying goodbye, and its entry will be deleted by a live worker.
	Stale bool `json:"stale"`
}

// GET /api/workers

type workerListResponse struct {
	Workers []Worker `json:"workers"`
	Note    string   `json:"note,omitempty"`
}

func (a *api) workerList(ctx context.Context, _ *emptyRequest) (*workerListResponse, error) {
	ws, note, err := a.workers(ctx)
	if err != nil {
		return nil, err
	}
	return &workerListResponse{Workers: ws, Note: note}, nil
}

// workers reads the worker registry. Without one (no Options.Store, or a
// store that does not keep workers yet) it returns an empty list and a
// note saying why.
func (a *api) workers(ctx context.Context) ([]Worker, string, error) {
	if a.opts.Store == nil {
		return []Worker{}, noStoreGiven, nil
	}
	infos, err := a.opts.Store.WorkerList(ctx)
	if errors.Is(err, errors.ErrUnsupported) {
		return []Worker{}, noWorkerRegistry, nil
	}
	if err != nil {
		return nil, "", err
	}
	now := a.opts.Clock()
	out := make([]Worker, 0, len(infos))
	for _, w := range infos {
		age := max(0, now.Sub(w.HeartbeatAt))
		out = append(out, Worker{WorkerInfo: *w, HeartbeatAgeMS: age.Milliseconds(), Stale: age > a.opts.WorkerStaleAfter})
	}
	return out, "", nil
}

// counted is a count read at most once per maxAge for every reader.
type counted struct {
	mu sync.Mutex // held across the read: concurrent readers share it
	at time.Time
	n  int
}

// liveWorkers counts the workers that are not stale (0 without a
// registry), reading the registry when the last count is older than
// maxAge. A failed read is logged, not returned: the event stream goes on
// without the count.
func (a *api) liveWorkers(ctx context.Context, maxAge time.Duration) int {
	c := &a.workerN
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := a.opts.Clock(); !c.at.IsZero() && now.Sub(c.at) < maxAge {
		return c.n
	}
	c.n = a.countLiveWorkers(ctx)
	c.at = a.opts.Clock()
	return c.n
}

// countLiveWorkers reads the registry and counts the live workers.
func (a *api) countLiveWorkers(ctx context.Context) int {
	ws, _, err := a.workers(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("event stream: reading the worker registry", "err", err)
		}
		return 0
	}
	n := 0
	for _, w := range ws {
		if !w.Stale {
			n++
		}
	}
	return n
}

// defaultWorkerStaleAfter is three heartbeats of a worker with the
// default lease (30 s, a heartbeat every 10 s).
const defaultWorkerStaleAfter = 30 * time.Second
