package store

import "time"

// WorkerInfo describes one worker process, as recorded by
// Store.WorkerBeat at each heartbeat.
type WorkerInfo struct {
	ID          string    `json:"id"` // unique per Worker (its lease owner)
	Host        string    `json:"host"`
	PID         int       `json:"pid"`
	Queues      []string  `json:"queues"`
	Concurrency int       `json:"concurrency"`      // the most jobs it runs at once
	Running     int       `json:"running"`          // jobs it was running at HeartbeatAt
	Leader      bool      `json:"leader,omitempty"` // it runs the periodic scheduler
	StartedAt   time.Time `json:"started_at"`
	HeartbeatAt time.Time `json:"heartbeat_at"`
}

// WorkerDeleteParams are the params of Store.WorkerDelete: set ID to
// delete one worker, or HeartbeatBefore to delete the stale ones.
type WorkerDeleteParams struct {
	ID              string
	HeartbeatBefore time.Time
}

// LeaderElectParams are the params of Store.LeaderElect.
type LeaderElectParams struct {
	Name      string // what is led, e.g. "periodic"
	Holder    string // the candidate's unique id
	Now       time.Time
	ExpiresAt time.Time // the lease's end if Holder wins or renews
}

// LeaderResignParams are the params of Store.LeaderResign.
type LeaderResignParams struct {
	Name   string
	Holder string
}
