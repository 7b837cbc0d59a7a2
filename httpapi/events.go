package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// statsEvent is the data of the "stats" event of GET /api/events.
type statsEvent struct {
	Time          time.Time `json:"time"`
	Queues        []Queue   `json:"queues"`
	JobsPerSecond float64   `json:"jobs_per_second"` // over every queue
	Processes     []Process `json:"processes"`
	// Workers counts the worker processes whose heartbeat is not stale
	// (0 when the store keeps no worker registry).
	Workers int `json:"workers"`
}

// events streams a "stats" event at once and then every EventInterval,
// until the client goes (or the server shuts down). A failed read sends
// an "error" event and the stream goes on.
func (a *api) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // proxies: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	ctx := r.Context()
	tick := time.NewTicker(a.opts.EventInterval)
	defer tick.Stop()
	for {
		ev, data := a.statsEventData(r)
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev, data); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// statsEventData builds the next event: its name and one line of JSON.
func (a *api) statsEventData(r *http.Request) (string, []byte) {
	ctx := r.Context()
	ev := statsEvent{Time: a.opts.Clock().UTC()}
	snap, err := a.stats.get(ctx, a.opts.EventInterval/2)
	if err == nil {
		ev.Queues, ev.JobsPerSecond = nonNil(snap.queues), snap.jobsPerSecond
		ev.Processes, err = a.processes(ctx)
	}
	if err == nil {
		ev.Workers = a.liveWorkers(ctx, a.opts.EventInterval/2)
	}
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("event stream: reading stats", "err", err)
		}
		b, _ := json.Marshal(map[string]*apiError{"error": errorf(http.StatusInternalServerError, "%s", err)})
		return "error", b
	}
	b, _ := json.Marshal(ev)
	return "stats", b
}
