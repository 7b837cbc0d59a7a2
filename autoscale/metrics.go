package autoscale

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts decisions for Prometheus. Build it with [NewMetrics]
// on a registry the caller owns (never the global default registry).
type Metrics struct {
	backlog     prometheus.Gauge
	oldestAge   prometheus.Gauge
	current     prometheus.Gauge
	desired     prometheus.Gauge
	decisions   *prometheus.CounterVec
	metricError prometheus.Counter
	applyError  prometheus.Counter
}

// NewMetrics creates the autoscaler's metrics and registers them with
// reg. process, when not empty, becomes a "process" label on every metric
// so scalers of several process types can share a registry.
//
// The metrics: boiler_autoscale_backlog, boiler_autoscale_oldest_job_age_seconds,
// boiler_autoscale_workers, boiler_autoscale_workers_desired (gauges, as
// of the latest decision), boiler_autoscale_decisions_total{action},
// boiler_autoscale_metric_errors_total (failed or stale reads) and
// boiler_autoscale_apply_errors_total (changes the target refused).
func NewMetrics(reg prometheus.Registerer, process string) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("autoscale metrics: the registerer is nil")
	}
	var labels prometheus.Labels
	if process != "" {
		labels = prometheus.Labels{"process": process}
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "boiler", Subsystem: "autoscale", Name: name, Help: help, ConstLabels: labels,
		})
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "boiler", Subsystem: "autoscale", Name: name, Help: help, ConstLabels: labels,
		})
	}
	m := &Metrics{
		backlog:   gauge("backlog", "Jobs waiting, as of the latest decision."),
		oldestAge: gauge("oldest_job_age_seconds", "How long the oldest waiting job had waited, as of the latest decision."),
		current:   gauge("workers", "Workers running, as of the latest decision."),
		desired:   gauge("workers_desired", "Workers the latest decision asked for."),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "boiler", Subsystem: "autoscale", Name: "decisions_total",
			Help: "Decisions made, by action (up, down, hold).", ConstLabels: labels,
		}, []string{"action"}),
		metricError: counter("metric_errors_total", "Decisions that held because a metric read failed or was stale."),
		applyError:  counter("apply_errors_total", "Changes the target refused or failed."),
	}
	for _, c := range []prometheus.Collector{m.backlog, m.oldestAge, m.current, m.desired, m.decisions, m.metricError, m.applyError} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering autoscale metrics: %w", err)
		}
	}
	for _, a := range []Action{ActionHold, ActionUp, ActionDown} {
		m.decisions.WithLabelValues(string(a)) // export zeros
	}
	return m, nil
}

// Observe counts d. A nil *Metrics ignores it.
func (m *Metrics) Observe(d Decision) {
	if m == nil {
		return
	}
	m.decisions.WithLabelValues(string(d.Action)).Inc()
	if d.Current >= 0 {
		m.current.Set(float64(d.Current))
		m.desired.Set(float64(d.Desired))
	}
	if d.MetricError != "" {
		m.metricError.Inc()
	} else {
		m.backlog.Set(float64(d.Metric.Backlog))
		m.oldestAge.Set(d.Metric.OldestAge.Seconds())
	}
	if d.ApplyError != "" {
		m.applyError.Inc()
	}
}
