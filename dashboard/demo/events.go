package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/doubleboiler/boiler/autoscale"
)

// EventsOptions configure the handler of [NewEvents].
type EventsOptions struct {
	// Recorder gives the completions. Required.
	Recorder *Recorder
	// Pools gives the worker pools and the jobs running. Required.
	Pools *Pools
	// Backlog reads how many jobs wait (the autoscaler's source). Required.
	Backlog autoscale.Source
	// Decisions, when set, gives the autoscaler's latest decisions.
	Decisions *autoscale.Ring
	// Interval is the time between two events. Default 250 ms.
	Interval time.Duration
}

// Tick is the data of one "tick" event of the demo's stream.
type Tick struct {
	// Done lists the completions since the previous event as pairs of
	// [job ID, Unix milliseconds of the store's confirmation].
	Done [][2]int64 `json:"done"`
	// Missed counts completions between two events that were too many to
	// keep (the page counts them as done, without a latency).
	Missed uint64 `json:"missed,omitempty"`
	// Running is how many jobs run now.
	Running int `json:"running"`
	// Backlog is how many jobs wait to run; OldestMS how long the oldest
	// has waited.
	Backlog  int64 `json:"backlog"`
	OldestMS int64 `json:"oldest_ms"`
	// Pools are the worker pools running now.
	Pools []PoolInfo `json:"pools"`
	// Decisions are the autoscaler's newest decision followed by its
	// latest changes (up or down), newest first, at most 8 in all: the
	// holds between changes would hide them.
	Decisions []autoscale.Decision `json:"decisions"`
	// ServerMS is the server's clock, Unix milliseconds.
	ServerMS int64 `json:"server_ms"`
}

// events is the handler of NewEvents.
type events struct{ opts EventsOptions }

// NewEvents returns the handler of the demo's event stream
// (text/event-stream): every Interval, an event "tick" whose data is a
// [Tick] and whose id is the recorder's sequence, so a reconnecting page
// (Last-Event-ID) gets the completions it missed while it was away. A
// new page starts from the completions that follow its connection.
func NewEvents(opts EventsOptions) (http.Handler, error) {
	switch {
	case opts.Recorder == nil:
		return nil, errors.New("demo events: EventsOptions.Recorder is nil")
	case opts.Pools == nil:
		return nil, errors.New("demo events: EventsOptions.Pools is nil")
	case opts.Backlog == nil:
		return nil, errors.New("demo events: EventsOptions.Backlog is nil")
	case opts.Interval < 0:
		return nil, fmt.Errorf("demo events: EventsOptions.Interval is %s, want more than 0", opts.Interval)
	}
	if opts.Interval == 0 {
		opts.Interval = 250 * time.Millisecond
	}
	return &events{opts: opts}, nil
}

// ServeHTTP streams ticks until the client goes away.
func (e *events) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	seq := e.opts.Recorder.Seq()
	if last, err := strconv.ParseUint(r.Header.Get("Last-Event-ID"), 10, 64); err == nil {
		seq = last
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	ticker := time.NewTicker(e.opts.Interval)
	defer ticker.Stop()
	for {
		var err error
		if seq, err = e.send(r.Context(), w, seq); err != nil {
			return
		}
		// No write deadline: the stream lives as long as the page.
		_ = rc.SetWriteDeadline(time.Time{})
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-ticker.C:
		}
	}
}

// send writes one tick with the completions from seq, and returns the
// sequence to continue from.
func (e *events) send(ctx context.Context, w http.ResponseWriter, seq uint64) (uint64, error) {
	done, next, missed := e.opts.Recorder.Since(seq)
	t := Tick{Done: make([][2]int64, len(done)), Missed: missed, Pools: e.opts.Pools.Info(), ServerMS: time.Now().UnixMilli()}
	for i, c := range done {
		t.Done[i] = [2]int64{c.ID, c.At.UnixMilli()}
	}
	for _, p := range t.Pools {
		t.Running += p.Running
	}
	if m, err := e.opts.Backlog.Backlog(ctx); err == nil {
		t.Backlog, t.OldestMS = m.Backlog, m.OldestAge.Milliseconds()
	}
	if e.opts.Decisions != nil {
		t.Decisions = newestAndChanges(e.opts.Decisions.Recent(), 8)
	}
	data, err := json.Marshal(t)
	if err != nil {
		return seq, fmt.Errorf("encoding a demo tick: %w", err)
	}
	if _, err := fmt.Fprintf(w, "id: %d\nevent: tick\ndata: %s\n\n", next, data); err != nil {
		return seq, err
	}
	return next, nil
}

// newestAndChanges returns the first decision of recent (newest first)
// and the changes among the others, at most n in all.
func newestAndChanges(recent []autoscale.Decision, n int) []autoscale.Decision {
	out := make([]autoscale.Decision, 0, n)
	for i, d := range recent {
		if len(out) == n {
			break
		}
		if i == 0 || d.Change() {
			out = append(out, d)
		}
	}
	return out
}
