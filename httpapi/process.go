package httpapi

import "time"

// Process is one process of the supervisor's formation, as
// /api/processes and the event stream show it. The caller of [New]
// converts the supervisor's own type into it (Options.Processes).
type Process struct {
	Name      string    `json:"name"`                // "worker.2"
	Type      string    `json:"type,omitempty"`      // "worker"
	State     string    `json:"state,omitempty"`     // running, stopping, crashed, exited
	PID       int       `json:"pid"`                 // 0 when not running
	StartedAt time.Time `json:"started_at,omitzero"` // of the current (or last) run
	// UptimeMS is filled by the API from StartedAt when the process runs
	// and it is zero.
	UptimeMS int64 `json:"uptime_ms"`
	Restarts int   `json:"restarts"`  // since the supervisor started
	RSSBytes int64 `json:"rss_bytes"` // resident memory of its process group
}
