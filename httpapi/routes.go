package httpapi

import "net/http"

// routes lists every route of the API, mounted by New (the package doc
// describes each).
func (a *api) routes() []route {
	return []route{
		endpoint(a, "POST /api/jobs", a.jobCreate),
		endpoint(a, "POST /api/jobs/batch", a.jobBatch),
		endpoint(a, "GET /api/jobs", a.jobList),
		endpoint(a, "GET /api/jobs/{id}", a.jobGet),
		endpoint(a, "POST /api/jobs/{id}/retry", a.jobRetry),
		endpoint(a, "POST /api/jobs/{id}/cancel", a.jobCancel),
		endpoint(a, "DELETE /api/jobs/{id}", a.jobDelete),
		endpoint(a, "POST /api/workflows", a.workflowCreate),
		endpoint(a, "GET /api/workflows/{id}", a.workflowGet),
		endpoint(a, "GET /api/queues", a.queueList),
		endpoint(a, "POST /api/queues/{name}/pause", a.queuePause),
		endpoint(a, "POST /api/queues/{name}/resume", a.queueResume),
		endpoint(a, "GET /api/workers", a.workerList),
		endpoint(a, "GET /api/periodic", a.periodicList),
		endpoint(a, "POST /api/periodic", a.periodicCreate),
		endpoint(a, "DELETE /api/periodic/{name}", a.periodicDelete),
		endpoint(a, "GET /api/processes", a.processList),
		endpoint(a, "GET /api/autoscale/decisions", a.decisionList),
		{pattern: "GET /api/events", handler: http.HandlerFunc(a.events)},
		{pattern: "GET /metrics", handler: a.metrics.handler},
		endpoint(a, "GET /healthz", a.healthz),
	}
}
