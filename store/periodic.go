package store

import (
	"encoding/json"
	"time"
)

// CatchUp says what a periodic job's scheduler does with the ticks it
// missed while no scheduler ran (every container idle or restarting).
type CatchUp string

// The catch-up policies.
const (
	CatchUpOnce CatchUp = "once" // one run for all the missed ticks (the default)
	CatchUpSkip CatchUp = "skip" // no run; wait for the next tick
	CatchUpAll  CatchUp = "all"  // one run per missed tick
)

// Valid reports whether c is a known policy.
func (c CatchUp) Valid() bool { return c == CatchUpOnce || c == CatchUpSkip || c == CatchUpAll }

// PeriodicJob is a job enqueued on a schedule. Its definition (Spec, the
// job template, CatchUp) comes from code, the command line or the API;
// LastTick, NextTick and LastJobID are kept by the scheduler.
type PeriodicJob struct {
	Name string `json:"name"` // unique
	// Spec is the schedule in cron syntax as the scheduler parses it
	// (five fields, optional seconds, @every, @daily, CRON_TZ=...). The
	// store keeps it as text.
	Spec        string          `json:"spec"`
	Kind        string          `json:"kind"`
	Args        json.RawMessage `json:"args"` // valid JSON
	Queue       string          `json:"queue"`
	Priority    int             `json:"priority"`
	MaxAttempts int             `json:"max_attempts"`
	Timeout     time.Duration   `json:"timeout"`
	CatchUp     CatchUp         `json:"catch_up"`
	Source      string          `json:"source"` // "code", "cli" or "api"

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	LastTick  time.Time `json:"last_tick,omitzero"` // the latest tick fired
	NextTick  time.Time `json:"next_tick,omitzero"` // as last computed by the scheduler
	LastJobID int64     `json:"last_job_id,omitempty"`
}

// PeriodicFireParams are the params of Store.PeriodicFire.
type PeriodicFireParams struct {
	Name     string
	Tick     time.Time        // the schedule time being fired
	NextTick time.Time        // the tick after it, for display
	Job      *JobInsertParams // nil: record a skipped tick
	Now      time.Time
}

// PeriodicFireResult is the outcome of Store.PeriodicFire.
type PeriodicFireResult struct {
	Fired bool
	// Job is the inserted job when Fired (or the live job holding its
	// unique key, with Duplicate set); nil when not Fired.
	Job       *Job
	Duplicate bool
}
