package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the API's Prometheus metrics, on a registry of its own (not
// the global default, so two APIs in one process do not collide).
type metrics struct {
	requests *prometheus.CounterVec   // route, method, code
	latency  *prometheus.HistogramVec // route, method
	handler  http.Handler             // GET /metrics
}

func newMetrics(reg *prometheus.Registry, s *sampler) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "boiler_http_requests_total",
			Help: "HTTP requests served by the boiler API, by route, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "boiler_http_request_duration_seconds",
			Help:    "Time to answer a boiler API request, by route and method (an event stream counts its whole life).",
			Buckets: []float64{.001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 10, 30},
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.latency, newQueueCollector(s),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return m
}

// instrument counts and times the requests of one route.
func (m *metrics) instrument(route string, h http.Handler) http.Handler {
	l := prometheus.Labels{"route": route}
	return promhttp.InstrumentHandlerDuration(m.latency.MustCurryWith(l),
		promhttp.InstrumentHandlerCounter(m.requests.MustCurryWith(l), h))
}

// queueCollector reports the queues' stats, read at each scrape.
type queueCollector struct {
	s                               *sampler
	jobs, oldest, paused, perSecond *prometheus.Desc
}

func newQueueCollector(s *sampler) *queueCollector {
	return &queueCollector{
		s: s,
		jobs: prometheus.NewDesc("boiler_queue_jobs",
			"Jobs in the queue by state (available includes scheduled and retryable jobs already due).",
			[]string{"queue", "state"}, nil),
		oldest: prometheus.NewDesc("boiler_queue_oldest_available_age_seconds",
			"How long the oldest job that can run now has waited (0 when none waits).",
			[]string{"queue"}, nil),
		paused: prometheus.NewDesc("boiler_queue_paused",
			"1 when the queue is paused.", []string{"queue"}, nil),
		perSecond: prometheus.NewDesc("boiler_queue_jobs_per_second",
			"Completions per second over the API's rate window.", []string{"queue"}, nil),
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.jobs
	ch <- c.oldest
	ch <- c.paused
	ch <- c.perSecond
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	snap, err := c.s.get(ctx, time.Second)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.jobs, err)
		return
	}
	for _, q := range snap.queues {
		for state, n := range q.Counts {
			ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(n), q.Name, string(state))
		}
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, float64(q.OldestAvailableAgeMS)/1000, q.Name)
		paused := 0.0
		if q.Paused {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(c.paused, prometheus.GaugeValue, paused, q.Name)
		ch <- prometheus.MustNewConstMetric(c.perSecond, prometheus.GaugeValue, q.JobsPerSecond, q.Name)
	}
}
