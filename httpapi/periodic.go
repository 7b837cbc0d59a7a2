package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/doubleboiler/boiler"
	"github.com/doubleboiler/boiler/schedule"
	"github.com/doubleboiler/boiler/store"
)

// maxPeriodicNameLen bounds a periodic job's name.
const maxPeriodicNameLen = 200

// Periodic is a periodic job as /api/periodic shows it.
type Periodic struct {
	Name        string          `json:"name"`
	Spec        string          `json:"spec"`
	Kind        string          `json:"kind"`
	Args        json.RawMessage `json:"args"`
	Queue       string          `json:"queue"`
	Priority    int             `json:"priority"`
	MaxAttempts int             `json:"max_attempts"`
	TimeoutMS   int64           `json:"timeout_ms"` // 0: the worker's default
	CatchUp     store.CatchUp   `json:"catch_up"`
	// Source says where the job was declared: "code", "cli" or "api". One
	// declared in code or on the command line comes back (as declared)
	// when its process starts again, even if deleted here.
	Source    string    `json:"source"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// LastTick is the latest tick fired (zero: none yet), and LastJobID
	// the job it enqueued (0: none, or a skipped tick).
	LastTick  time.Time `json:"last_tick,omitzero"`
	LastJobID int64     `json:"last_job_id,omitempty"`
	// NextTick is the next tick: the scheduler's, or, when the scheduler
	// has recorded none or one already past (no scheduler is running, or
	// it is late), the first tick of Spec after now, and NextComputed is
	// set.
	NextTick     time.Time `json:"next_tick,omitzero"`
	NextComputed bool      `json:"next_computed,omitempty"`
	// SpecError is set when Spec does not parse (a definition stored by a
	// newer or older version); the job then never fires.
	SpecError string `json:"spec_error,omitempty"`
}

// periodicOf converts a stored periodic job, filling NextTick at now when
// the stored one is zero or past.
func periodicOf(p *store.PeriodicJob, now time.Time) Periodic {
	out := Periodic{
		Name: p.Name, Spec: p.Spec, Kind: p.Kind, Args: p.Args, Queue: p.Queue, Priority: p.Priority,
		MaxAttempts: p.MaxAttempts, TimeoutMS: p.Timeout.Milliseconds(), CatchUp: p.CatchUp, Source: p.Source,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, LastTick: p.LastTick, LastJobID: p.LastJobID, NextTick: p.NextTick,
	}
	if len(out.Args) == 0 {
		out.Args = json.RawMessage("{}")
	}
	sched, err := schedule.Parse(p.Spec)
	if err != nil {
		out.SpecError = err.Error()
		return out
	}
	if p.NextTick.IsZero() || p.NextTick.Before(now) {
		out.NextTick, out.NextComputed = sched.Next(now).UTC(), true
	}
	return out
}

// GET /api/periodic

type periodicListResponse struct {
	Periodic []Periodic `json:"periodic"`
}

func (a *api) periodicList(ctx context.Context, _ *emptyRequest) (*periodicListResponse, error) {
	list, err := a.client.PeriodicList(ctx)
	if err != nil {
		return nil, err
	}
	now := a.opts.Clock().UTC()
	out := &periodicListResponse{Periodic: make([]Periodic, len(list))}
	for i, p := range list {
		out.Periodic[i] = periodicOf(p, now)
	}
	return out, nil
}

// POST /api/periodic

// periodicInput is a periodic job to create or replace.
type periodicInput struct {
	// Name identifies the job; posting the same name again replaces its
	// definition. Default: the kind, plus a hash of the args unless they
	// are {} (as boiler periodic add and WorkerOptions.Periodic do).
	Name        string          `json:"name"`
	Spec        string          `json:"spec"`
	Kind        string          `json:"kind"`
	Args        json.RawMessage `json:"args"`
	Queue       string          `json:"queue"`
	Priority    int             `json:"priority"`
	MaxAttempts int             `json:"max_attempts"`
	TimeoutMS   int64           `json:"timeout_ms"`
	CatchUp     string          `json:"catch_up"`
}

type periodicCreateRequest struct{ periodicInput }

func (*periodicCreateRequest) bodyLimit() int64 { return maxBody }

type periodicCreateResponse struct {
	Periodic
	replaced bool
}

// statusCode is 201 for a new periodic job, 200 for a replaced one.
func (r *periodicCreateResponse) statusCode() int {
	if r.replaced {
		return http.StatusOK
	}
	return http.StatusCreated
}

// validatePeriodicName checks a periodic job's name: 1 to 200 bytes, no
// control characters.
func validatePeriodicName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errors.New("is required")
	case len(name) > maxPeriodicNameLen:
		return fmt.Errorf("is %d bytes long, more than %d", len(name), maxPeriodicNameLen)
	}
	for _, c := range name {
		if unicode.IsControl(c) {
			return fmt.Errorf("%q has the control character %q", name, c)
		}
	}
	return nil
}

// job checks in and turns it into the client's periodic job; errors name
// the field.
func (in *periodicInput) job() (*boiler.PeriodicJob, error) {
	bad := func(field, format string, args ...any) error {
		return errorf(http.StatusBadRequest, "%s: %s", field, fmt.Sprintf(format, args...))
	}
	if in.Name != "" {
		if err := validatePeriodicName(in.Name); err != nil {
			return nil, bad("name", "%s", err)
		}
	}
	if _, err := schedule.Parse(in.Spec); err != nil {
		return nil, bad("spec", "%s", err)
	}
	switch {
	case in.Kind == "":
		return nil, bad("kind", "is required")
	case len(in.Kind) > maxKindLen:
		return nil, bad("kind", "is %d bytes long, more than %d", len(in.Kind), maxKindLen)
	case in.MaxAttempts < 0:
		return nil, bad("max_attempts", "must not be negative, got %d", in.MaxAttempts)
	case in.TimeoutMS < 0:
		return nil, bad("timeout_ms", "must not be negative, got %d", in.TimeoutMS)
	}
	if in.Queue != "" {
		if err := validateQueueName(in.Queue); err != nil {
			return nil, bad("queue", "%s", err)
		}
	}
	catchUp := store.CatchUp(in.CatchUp)
	if catchUp == "" {
		catchUp = store.CatchUpOnce
	} else if !catchUp.Valid() {
		return nil, bad("catch_up", "%q is not a policy: want %q (one run for the missed ticks, the default), %q or %q",
			in.CatchUp, store.CatchUpOnce, store.CatchUpSkip, store.CatchUpAll)
	}
	// The body decoded, so args are valid JSON; none or null means {}.
	args := in.Args
	if s := strings.TrimSpace(string(args)); s == "" || s == "null" {
		args = nil
	}
	p := &boiler.PeriodicJob{
		Name: in.Name, Spec: in.Spec, Kind: in.Kind, RawArgs: args, CatchUp: catchUp, Source: boiler.PeriodicSourceAPI,
		Options: &boiler.EnqueueOptions{
			Queue: in.Queue, Priority: in.Priority, MaxAttempts: in.MaxAttempts,
			Timeout: time.Duration(in.TimeoutMS) * time.Millisecond,
		},
	}
	// Whatever else the library checks, it says with the field's name;
	// it also gives a job without a name its default one.
	def, err := p.Definition()
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "%s", err)
	}
	p.Name = def.Name
	return p, nil
}

func (a *api) periodicCreate(ctx context.Context, req *periodicCreateRequest) (*periodicCreateResponse, error) {
	p, err := req.job()
	if err != nil {
		return nil, err
	}
	old, err := a.periodicFind(ctx, p.Name)
	if err != nil {
		return nil, err
	}
	if old != nil && old.Source != boiler.PeriodicSourceAPI {
		return nil, errorf(http.StatusConflict, "name: periodic job %q is declared in %s (source %q): change it there, or pick another name",
			p.Name, sourceWhere(old.Source), old.Source)
	}
	saved, err := a.client.PeriodicUpsert(ctx, p)
	if err != nil {
		return nil, err
	}
	return &periodicCreateResponse{Periodic: periodicOf(saved, a.opts.Clock().UTC()), replaced: old != nil}, nil
}

// sourceWhere names where a periodic job of source was declared.
func sourceWhere(source string) string {
	switch source {
	case boiler.PeriodicSourceCode:
		return "the application's code"
	case boiler.PeriodicSourceCLI:
		return "the command line (boiler work --periodic, boiler periodic add)"
	}
	return "another place"
}

// periodicFind returns the periodic job name, nil if there is none.
func (a *api) periodicFind(ctx context.Context, name string) (*store.PeriodicJob, error) {
	list, err := a.client.PeriodicList(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range list {
		if p.Name == name {
			return p, nil
		}
	}
	return nil, nil
}

// periodicNotFound is the 404 of a missing periodic job.
func periodicNotFound(name string) error {
	return &apiError{Status: http.StatusNotFound, Message: fmt.Sprintf("periodic job %q not found", name)}
}

// DELETE /api/periodic/{name}: the response is the periodic job as it was.

type periodicNameRequest struct{ name string }

func (req *periodicNameRequest) fromRequest(r *http.Request) error {
	req.name = r.PathValue("name")
	if err := validatePeriodicName(req.name); err != nil {
		return errorf(http.StatusBadRequest, "periodic job name %s", err)
	}
	return nil
}

func (a *api) periodicDelete(ctx context.Context, req *periodicNameRequest) (*Periodic, error) {
	old, err := a.periodicFind(ctx, req.name)
	if err != nil {
		return nil, err
	}
	if old == nil {
		return nil, periodicNotFound(req.name)
	}
	if err := a.client.PeriodicDelete(ctx, req.name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, periodicNotFound(req.name)
		}
		return nil, err
	}
	p := periodicOf(old, a.opts.Clock().UTC())
	return &p, nil
}
