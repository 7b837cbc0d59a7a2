package boiler

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/doubleboiler/boiler/schedule"
	"github.com/doubleboiler/boiler/store"
)

// Sources of periodic jobs, kept on each entry for display.
const (
	PeriodicSourceCode = "code" // WorkerOptions.Periodic
	PeriodicSourceCLI  = "cli"  // boiler work --periodic, boiler periodic add
	PeriodicSourceAPI  = "api"  // the JSON API, Client.PeriodicUpsert
)

// maxPeriodicNameLen bounds a periodic job's name.
const maxPeriodicNameLen = 200

// PeriodicJob is a job enqueued on a schedule, for example a report every
// night at 3 or a clean-up every 10 minutes.
//
// Periodic jobs are kept in the store: declare them in
// WorkerOptions.Periodic (each worker writes its declarations at start),
// on the command line (boiler work --periodic, boiler periodic add) or
// through the JSON API. Every worker sharing the store campaigns to be the
// scheduler; only the elected one enqueues, and each tick is enqueued
// exactly once however many workers run, even while a leader is replaced.
// See WorkerOptions.Periodic.
type PeriodicJob struct {
	// Name identifies the job in the store: declaring a job with the same
	// name again updates it (its schedule, args and options) and keeps
	// its history. At most 200 bytes, no control characters. Default: the kind, followed by a hash of the args when they are not
	// {} ("report-3f2a9c1e"). Changing the schedule of a job without a
	// name updates it in place; two jobs of the same kind and args need
	// names.
	Name string
	// Spec is the schedule: a cron line of 5 fields (minute hour
	// day-of-month month day-of-week) or 6 with leading seconds,
	// @yearly, @monthly, @weekly, @daily, @hourly or @every <duration>
	// (at least 1s; its ticks fall on multiples of the duration since the
	// Unix epoch), optionally after CRON_TZ=<zone> (a cron line without
	// it reads the worker's local time zone). Required.
	Spec string
	// Args are the job's args; Args.Kind() is its kind, and options the
	// args declare (see JobArgsWithOptions) apply under Options. Set
	// either Args, or Kind and RawArgs.
	Args JobArgs
	// Kind and RawArgs give the job by kind and JSON args, for callers
	// without the args' Go type. Empty RawArgs mean {}.
	Kind    string
	RawArgs json.RawMessage
	// Options are the enqueued jobs' Queue, Priority, MaxAttempts and
	// Timeout. RunAt, RunIn, UniqueKey and UniqueFor must be zero: each
	// tick's job runs at once and carries the unique key
	// periodic:<name>:<tick>. May be nil.
	Options *EnqueueOptions
	// CatchUp says what to do with the ticks missed while no worker ran
	// (every container idle, or being restarted for longer than a
	// minute): store.CatchUpOnce (the default) enqueues one run for the
	// newest missed tick, store.CatchUpSkip none, store.CatchUpAll one
	// per missed tick (the newest 100).
	CatchUp store.CatchUp
	// Source records who declared the job, for display: "code" (the
	// default in WorkerOptions.Periodic), "cli" or "api" (the default of
	// Client.PeriodicUpsert).
	Source string
}

// Definition validates p as NewWorker does and returns its entry in the
// store as a worker writes it (without the times): its default name and
// options filled, Source "code" unless set. The error names the field.
func (p *PeriodicJob) Definition() (*store.PeriodicJob, error) {
	return p.definition(PeriodicSourceCode)
}

// definition validates p and returns its store entry. The error names
// the field but not the job (callers name it).
func (p *PeriodicJob) definition(defaultSource string) (*store.PeriodicJob, error) {
	if p == nil {
		return nil, errors.New("is nil")
	}
	if _, err := schedule.Parse(p.Spec); err != nil {
		return nil, err
	}
	var (
		kind string
		args []byte
		opts EnqueueOptions
	)
	switch {
	case p.Args != nil && (p.Kind != "" || len(p.RawArgs) > 0):
		return nil, errors.New("set either Args, or Kind and RawArgs, not both")
	case p.Args != nil:
		kind = p.Args.Kind()
		if withOpts, ok := p.Args.(JobArgsWithOptions); ok {
			opts = withOpts.EnqueueOptions()
			// The args' own scheduling and uniqueness are for single
			// enqueues; a tick has its own.
			opts.RunAt, opts.RunIn, opts.UniqueKey, opts.UniqueFor = time.Time{}, 0, "", 0
		}
		var err error
		if args, err = json.Marshal(p.Args); err != nil {
			return nil, fmt.Errorf("encoding args of %s: %w", kindName(kind), err)
		}
	default:
		kind = p.Kind
		args = []byte("{}")
		if len(bytes.TrimSpace(p.RawArgs)) > 0 {
			var buf bytes.Buffer
			if err := json.Compact(&buf, p.RawArgs); err != nil {
				return nil, fmt.Errorf("args of %s are not valid JSON: %w", kindName(kind), err)
			}
			args = buf.Bytes()
		}
	}
	if o := p.Options; o != nil {
		switch {
		case !o.RunAt.IsZero() || o.RunIn != 0:
			return nil, errors.New("Options.RunAt and RunIn must be zero: each tick's job runs at once")
		case o.UniqueKey != "" || o.UniqueFor != 0:
			return nil, errors.New("Options.UniqueKey and UniqueFor must be zero: each tick's job has the key periodic:<name>:<tick>")
		}
	}
	row, err := opts.merge(p.Options).insertParams(kind, args, time.Time{})
	if err != nil {
		return nil, err
	}
	catchUp := p.CatchUp
	if catchUp == "" {
		catchUp = store.CatchUpOnce
	}
	if !catchUp.Valid() {
		return nil, fmt.Errorf("CatchUp %q is not a policy (want %q, %q or %q)", catchUp, store.CatchUpOnce, store.CatchUpSkip, store.CatchUpAll)
	}
	source := p.Source
	if source == "" {
		source = defaultSource
	}
	name := p.Name
	if name == "" {
		name = periodicName(row.Kind, row.Args)
	}
	if err := validatePeriodicName(name); err != nil {
		return nil, err
	}
	return &store.PeriodicJob{
		Name:        name,
		Spec:        strings.TrimSpace(p.Spec),
		Kind:        row.Kind,
		Args:        row.Args,
		Queue:       row.Queue,
		Priority:    row.Priority,
		MaxAttempts: row.MaxAttempts,
		Timeout:     row.Timeout,
		CatchUp:     catchUp,
		Source:      source,
	}, nil
}

// label names p in an error message: its name, else its kind and spec.
func (p *PeriodicJob) label() string {
	switch {
	case p == nil:
		return "(nil)"
	case p.Name != "":
		return fmt.Sprintf("%q", p.Name)
	}
	kind := p.Kind
	if p.Args != nil {
		kind = p.Args.Kind()
	}
	return fmt.Sprintf("%s %q", kindName(kind), p.Spec)
}

// periodicName is the default name of a periodic job: its kind (with
// characters a name does not allow replaced by '_'), plus a hash of its
// args unless they are {}.
func periodicName(kind string, args []byte) string {
	name := strings.Map(func(c rune) rune {
		if periodicNameChar(c) {
			return c
		}
		return '_'
	}, kind)
	if len(name) > maxPeriodicNameLen-9 {
		name = name[:maxPeriodicNameLen-9]
	}
	if string(args) != "{}" {
		sum := sha256.Sum256(args)
		name += "-" + hex.EncodeToString(sum[:4])
	}
	return name
}

func periodicNameChar(c rune) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '_' || c == '-' || c == '.' || c == ':' || c == '@'
}

// validatePeriodicName checks a name as the JSON API does: 1 to 200
// bytes, not blank, no control characters.
func validatePeriodicName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errors.New("name is empty")
	case len(name) > maxPeriodicNameLen:
		return fmt.Errorf("name %.20q... is %d bytes long, more than %d", name, len(name), maxPeriodicNameLen)
	}
	for _, c := range name {
		if unicode.IsControl(c) {
			return fmt.Errorf("name %q has the control character %q", name, c)
		}
	}
	return nil
}

// periodicDefinitions validates the periodic jobs of WorkerOptions and
// returns their store entries; errors name the job.
func periodicDefinitions(jobs []*PeriodicJob) ([]*store.PeriodicJob, error) {
	defs := make([]*store.PeriodicJob, 0, len(jobs))
	seen := make(map[string]int, len(jobs))
	for i, p := range jobs {
		def, err := p.definition(PeriodicSourceCode)
		if err != nil {
			return nil, fmt.Errorf("Periodic[%d] (%s): %w", i, p.label(), err)
		}
		if j, ok := seen[def.Name]; ok {
			return nil, fmt.Errorf("Periodic[%d] (%s %q) and Periodic[%d] are both named %q: give them distinct names",
				i, def.Kind, def.Spec, j, def.Name)
		}
		seen[def.Name] = i
		defs = append(defs, def)
	}
	return defs, nil
}

// PeriodicUpsert adds the periodic job p to the store, or updates the one
// with the same name (its schedule and template; its last and next ticks
// are kept). Its Source defaults to "api". The workers' scheduler picks it
// up within a second. It returns the entry as stored.
func (c *Client) PeriodicUpsert(ctx context.Context, p *PeriodicJob) (*store.PeriodicJob, error) {
	def, err := p.definition(PeriodicSourceAPI)
	if err != nil {
		return nil, fmt.Errorf("periodic job %s: %w", p.label(), err)
	}
	if c.store == nil {
		return nil, errInlineClientNoDB
	}
	now := c.now()
	def.CreatedAt, def.UpdatedAt = now, now
	row, err := c.store.PeriodicUpsert(ctx, def)
	if err != nil {
		return nil, fmt.Errorf("writing periodic job %s: %w", def.Name, err)
	}
	return row, nil
}

// PeriodicList returns every periodic job of the store, sorted by name,
// with its last fired tick and next tick.
func (c *Client) PeriodicList(ctx context.Context) ([]*store.PeriodicJob, error) {
	if c.store == nil {
		return nil, errInlineClientNoDB
	}
	list, err := c.store.PeriodicList(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing periodic jobs: %w", err)
	}
	return list, nil
}

// PeriodicDelete deletes the periodic job name ([store.ErrNotFound] if
// there is none). The jobs it already enqueued are untouched. A job
// declared in a worker's WorkerOptions.Periodic comes back when such a
// worker starts.
func (c *Client) PeriodicDelete(ctx context.Context, name string) error {
	if c.store == nil {
		return errInlineClientNoDB
	}
	if err := c.store.PeriodicDelete(ctx, name); err != nil {
		return fmt.Errorf("deleting periodic job %s: %w", name, err)
	}
	return nil
}
