package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/doubleboiler/boiler/autoscale"
)

// GET /api/queues

type queueListRequest struct{}

type queueListResponse struct {
	Queues []Queue `json:"queues"`
}

func (a *api) queueList(ctx context.Context, _ *queueListRequest) (*queueListResponse, error) {
	snap, err := a.stats.get(ctx, 0)
	if err != nil {
		return nil, err
	}
	return &queueListResponse{Queues: nonNil(snap.queues)}, nil
}

// POST /api/queues/{name}/pause and /resume: the response is the queue.

type queueNameRequest struct{ name string }

func (req *queueNameRequest) fromRequest(r *http.Request) error {
	req.name = r.PathValue("name")
	if req.name == "" {
		return errorf(http.StatusBadRequest, "queue name is empty")
	}
	if err := validateQueueName(req.name); err != nil {
		return errorf(http.StatusBadRequest, "queue name %s", err)
	}
	return nil
}

func (a *api) queuePause(ctx context.Context, req *queueNameRequest) (*Queue, error) {
	if err := a.client.QueuePause(ctx, req.name); err != nil {
		return nil, err
	}
	return a.queueAfterChange(ctx, req.name)
}

func (a *api) queueResume(ctx context.Context, req *queueNameRequest) (*Queue, error) {
	if err := a.client.QueueResume(ctx, req.name); err != nil {
		return nil, err
	}
	return a.queueAfterChange(ctx, req.name)
}

// queueAfterChange reads the queue's fresh state.
func (a *api) queueAfterChange(ctx context.Context, name string) (*Queue, error) {
	snap, err := a.stats.get(ctx, 0)
	if err != nil {
		return nil, err
	}
	q := snap.queue(name)
	return &q, nil
}

type emptyRequest struct{}

// GET /api/processes

type processListResponse struct {
	Processes []Process `json:"processes"`
	Note      string    `json:"note,omitempty"`
}

func (a *api) processList(ctx context.Context, _ *emptyRequest) (*processListResponse, error) {
	if a.opts.Processes == nil {
		return &processListResponse{Processes: []Process{}, Note: "not attached to a supervisor (boiler start --dashboard)"}, nil
	}
	ps, err := a.processes(ctx)
	if err != nil {
		return nil, err
	}
	return &processListResponse{Processes: ps}, nil
}

// processes lists the supervisor's processes with their uptime (empty
// when there is no supervisor).
func (a *api) processes(ctx context.Context) ([]Process, error) {
	if a.opts.Processes == nil {
		return []Process{}, nil
	}
	ps, err := a.opts.Processes(ctx)
	if err != nil {
		return nil, err
	}
	now := a.opts.Clock()
	for i := range ps {
		if ps[i].UptimeMS == 0 && ps[i].PID != 0 && !ps[i].StartedAt.IsZero() {
			ps[i].UptimeMS = max(0, now.Sub(ps[i].StartedAt).Milliseconds())
		}
	}
	return nonNil(ps), nil
}

// GET /api/autoscale/decisions

type decisionListResponse struct {
	Decisions []autoscale.Decision `json:"decisions"`
	Note      string               `json:"note,omitempty"`
}

func (a *api) decisionList(context.Context, *emptyRequest) (*decisionListResponse, error) {
	if a.opts.Decisions == nil {
		return &decisionListResponse{Decisions: []autoscale.Decision{}, Note: "no autoscaler attached"}, nil
	}
	return &decisionListResponse{Decisions: nonNil(a.opts.Decisions())}, nil
}

// GET /healthz

type healthResponse struct {
	OK   bool      `json:"ok"`
	Time time.Time `json:"time"`
}

func (a *api) healthz(context.Context, *emptyRequest) (*healthResponse, error) {
	return &healthResponse{OK: true, Time: a.opts.Clock().UTC()}, nil
}

// nonNil makes a nil slice empty, so it encodes as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
