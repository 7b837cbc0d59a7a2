package simulate

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints one row per result: the cost in worker-minutes, the
// job waits, the changes and the peak.
func WriteTable(w io.Writer, results []*Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "setting\tworker-min\tp50 wait\tp95 wait\tmax wait\tchanges\tpeak\tunstarted\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%d\t%d\t%d\t\n", r.Name, r.WorkerMinutes,
			fmtDuration(r.P50Wait), fmtDuration(r.P95Wait), fmtDuration(r.MaxWait), r.Changes, r.Peak, r.Unstarted)
	}
	return tw.Flush()
}

// The geometry of the SVG's panels, in pixels.
const (
	svgWidth  = 900
	panelH    = 150
	plotLeft  = 60
	plotRight = 50
	plotTop   = 28
	plotBot   = 22
)

// WriteSVG draws, for each result, a panel with the backlog (filled, left
// axis) and the workers (a step line, right axis) over time. Every panel
// shares the time axis and the backlog scale, so they compare at a glance.
func WriteSVG(w io.Writer, title string, results []*Result) error {
	maxBacklog, maxWorkers := 1, 1
	var end time.Duration
	for _, r := range results {
		for _, s := range r.Series {
			maxBacklog, maxWorkers = max(maxBacklog, s.Backlog), max(maxWorkers, s.Workers)
			end = max(end, s.At)
		}
	}
	end = max(end, time.Second)
	height := 30 + panelH*len(results)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14" font-weight="bold">%s</text>`+"\n", plotLeft, esc(title))
	fmt.Fprintf(&b, `<text x="%d" y="18" text-anchor="end"><tspan fill="#9ecae1">■ backlog (jobs)</tspan> <tspan fill="#d94801">— workers</tspan></text>`+"\n", svgWidth-plotRight)
	plotW := float64(svgWidth - plotLeft - plotRight)
	plotH := float64(panelH - plotTop - plotBot)
	for i, r := range results {
		top := 30 + i*panelH
		x := func(t time.Duration) float64 { return float64(plotLeft) + plotW*float64(t)/float64(end) }
		yB := func(n int) float64 { return float64(top+plotTop) + plotH*(1-float64(n)/float64(maxBacklog)) }
		yW := func(n int) float64 { return float64(top+plotTop) + plotH*(1-float64(n)/float64(maxWorkers)) }
		fmt.Fprintf(&b, `<g id="panel-%d">`+"\n", i)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">%s</text>`, plotLeft, top+plotTop-8, esc(r.Name))
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%.0f worker-min, p50 wait %s, max wait %s</text>`+"\n",
			svgWidth-plotRight, top+plotTop-8, r.WorkerMinutes, fmtDuration(r.P50Wait), fmtDuration(r.MaxWait))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#ccc"/>`+"\n", plotLeft, top+plotTop, plotW, plotH)
		// Axis labels: backlog on the left, workers on the right, time below.
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" fill="#3182bd">%d</text>`, plotLeft-4, yB(maxBacklog)+9, maxBacklog)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" fill="#3182bd">0</text>`, plotLeft-4, yB(0))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" fill="#d94801">%d</text>`, svgWidth-plotRight+4, yW(maxWorkers)+9, maxWorkers)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" fill="#d94801">0</text>`+"\n", svgWidth-plotRight+4, yW(0))
		tick := tickStep(end)
		for t := time.Duration(0); t <= end; t += tick {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#666">%s</text>`, x(t), top+panelH-6, fmtDuration(t))
		}
		b.WriteString("\n")
		// The backlog as a filled area, the workers as a step line.
		var area, line strings.Builder
		fmt.Fprintf(&area, "%.1f,%.1f", x(0), yB(0))
		for j, s := range r.Series {
			fmt.Fprintf(&area, " %.1f,%.1f", x(s.At), yB(s.Backlog))
			if j > 0 {
				fmt.Fprintf(&line, " %.1f,%.1f", x(s.At), yW(r.Series[j-1].Workers))
			}
			fmt.Fprintf(&line, " %.1f,%.1f", x(s.At), yW(s.Workers))
		}
		if n := len(r.Series); n > 0 {
			fmt.Fprintf(&area, " %.1f,%.1f", x(r.Series[n-1].At), yB(0))
		}
		fmt.Fprintf(&b, `<polygon class="backlog" points="%s" fill="#9ecae1" stroke="#3182bd" stroke-width="0.5"/>`+"\n", area.String())
		fmt.Fprintf(&b, `<polyline class="workers" points="%s" fill="none" stroke="#d94801" stroke-width="1.5"/>`+"\n", strings.TrimSpace(line.String()))
		b.WriteString("</g>\n")
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// tickStep returns a round step for the time axis that gives at most 10
// ticks over end.
func tickStep(end time.Duration) time.Duration {
	for _, d := range []time.Duration{time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second,
		time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour} {
		if end/d <= 10 {
			return d
		}
	}
	return end / 10
}

// esc escapes s for SVG text.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
