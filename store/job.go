package store

import (
	"encoding/json"
	"time"
)

// State is where a job is in its lifecycle.
//
//	waiting ──(every dependency finished)──▶ available (or scheduled)
//	waiting ──(a dependency failed)──▶ cancelled
//
//	scheduled ──(run_at due)──▶ available ──(fetch)──▶ running ──▶ completed
//	                               ▲                      │
//	                               │                      ├──▶ retryable ──(run_at due)──▶ available
//	                               │                      ├──▶ discarded (out of attempts, or permanent)
//	                               └──(lease expired,     ├──▶ cancelled
//	                                   snooze, release)───┘
type State string

// The states of a job. Scheduled, available and retryable are "pending":
// a job in one of them whose RunAt is due can be fetched. Completed,
// discarded and cancelled are "finalized": nothing happens to the job any
// more except its deletion after the retention period.
const (
	StateWaiting   State = "waiting"   // waits for other jobs (Deps) to finish
	StateScheduled State = "scheduled" // RunAt is in the future
	StateAvailable State = "available" // ready to be fetched
	StateRunning   State = "running"   // leased to a worker
	StateRetryable State = "retryable" // failed, waiting for its backoff (RunAt)
	StateCompleted State = "completed" // the handler succeeded
	StateDiscarded State = "discarded" // out of attempts, or a permanent error
	StateCancelled State = "cancelled" // cancelled by a person or by the handler
)

// States lists every state in lifecycle order.
var States = []State{
	StateWaiting, StateScheduled, StateAvailable, StateRunning, StateRetryable,
	StateCompleted, StateDiscarded, StateCancelled,
}

// Valid reports whether s is one of the known states.
func (s State) Valid() bool {
	for _, k := range States {
		if s == k {
			return true
		}
	}
	return false
}

// Finalized reports whether s is a terminal state.
func (s State) Finalized() bool {
	return s == StateCompleted || s == StateDiscarded || s == StateCancelled
}

// Pending reports whether s is a state a job waits in before it runs.
func (s State) Pending() bool {
	return s == StateScheduled || s == StateAvailable || s == StateRetryable
}

// Job is a job's row as a store keeps it.
type Job struct {
	ID          int64           `json:"id"`
	Kind        string          `json:"kind"`
	Queue       string          `json:"queue"`
	Priority    int             `json:"priority"` // higher runs first within a queue
	Args        json.RawMessage `json:"args"`
	State       State           `json:"state"`
	Attempt     int             `json:"attempt"` // attempts started, counting the running one
	MaxAttempts int             `json:"max_attempts"`
	// Timeout bounds one attempt (the handler's context deadline); 0 means
	// the worker's default.
	Timeout time.Duration `json:"timeout"`

	EnqueuedAt  time.Time `json:"enqueued_at"`
	RunAt       time.Time `json:"run_at"`                // when the job is (or was) due
	AttemptedAt time.Time `json:"attempted_at,omitzero"` // start of the latest attempt
	FinalizedAt time.Time `json:"finalized_at,omitzero"` // when it reached a final state

	UniqueKey   string    `json:"unique_key,omitempty"`
	UniqueUntil time.Time `json:"unique_until,omitzero"` // zero: unique while not finalized

	LeaseOwner     string    `json:"lease_owner,omitempty"`
	LeaseExpiresAt time.Time `json:"lease_expires_at,omitzero"`
	// CancelRequested is set by JobCancel on a running job; the worker
	// learns it at its next heartbeat and cancels the handler's context.
	CancelRequested bool `json:"cancel_requested,omitempty"`

	Errors []AttemptError  `json:"errors,omitempty"` // one per failed attempt, oldest first
	Result json.RawMessage `json:"result,omitempty"` // what a successful handler returned

	// Workflow is the ID of the workflow the job belongs to ("" for none).
	Workflow string `json:"workflow,omitempty"`
	// Deps are the IDs of the jobs this job waits for (or waited for), in
	// the order they were given at insert; DepsLeft is how many of them
	// are not finalized yet. RunOnFailure is the insert option of that
	// name.
	Deps         []int64 `json:"deps,omitempty"`
	DepsLeft     int     `json:"deps_left,omitempty"`
	RunOnFailure bool    `json:"run_on_failure,omitempty"`
}

// AttemptError records why one attempt failed.
type AttemptError struct {
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	Error   string    `json:"error"`
}
