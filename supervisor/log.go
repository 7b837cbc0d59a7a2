package supervisor

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"time"
)

// colors are the ANSI SGR codes of process prefixes, in foreman's order.
var colors = [...]string{"36", "33", "32", "35", "31", "34", "96", "93", "92", "95", "91", "94"}

// logMux serializes the output of every process. Each write to the output
// is a batch of whole prefixed lines made under one lock, so lines of
// different processes never interleave.
type logMux struct {
	w          io.Writer
	color      bool
	timestamps bool
	clock      Clock

	mu    sync.Mutex
	width int    // of the widest name so far; prefixes are padded to it
	buf   []byte // scratch for one batch
}

func newLogMux(w io.Writer, color, timestamps bool, clock Clock) *logMux {
	return &logMux{w: w, color: color, timestamps: timestamps, clock: clock, width: len(systemName)}
}

// widen makes room for a name of n bytes. Columns only grow, so they stay
// put when a process type is scaled down.
func (m *logMux) widen(n int) {
	m.mu.Lock()
	m.width = max(m.width, n)
	m.mu.Unlock()
}

// emit writes data as lines prefixed with lw's name: each '\n'-terminated
// piece is a line, a last piece without '\n' is a line of its own, and a
// line longer than lw.maxLine is cut into lines of that length.
func (m *logMux) emit(lw *lineWriter, data []byte) {
	if len(data) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if lw.prefix == nil || lw.prefixWidth != m.width {
		lw.prefixWidth = m.width
		p := fmt.Sprintf("%-*s | ", m.width, lw.name)
		if m.color && lw.color != "" {
			p = "\x1b[" + lw.color + "m" + p[:len(p)-1] + "\x1b[0m "
		}
		lw.prefix = []byte(p)
	}
	buf := m.buf[:0]
	var ts []byte
	if m.timestamps {
		ts = m.clock.Now().AppendFormat(nil, "15:04:05 ")
	}
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		for len(line) > lw.maxLine {
			buf = append(buf, ts...)
			buf = append(buf, lw.prefix...)
			buf = append(buf, line[:lw.maxLine]...)
			buf = append(buf, '\n')
			line = line[lw.maxLine:]
		}
		buf = append(buf, ts...)
		buf = append(buf, lw.prefix...)
		buf = append(buf, line...)
		buf = append(buf, '\n')
	}
	// A failing output (a closed terminal, a full disk) must not stop the
	// processes: the error is dropped and the next batch tries again.
	_, _ = m.w.Write(buf)
	if cap(buf) <= 4<<20 {
		m.buf = buf
	}
}

// lineWriter is the io.Writer of one process (or of the supervisor itself):
// it cuts what it is given into whole lines for its logMux, keeps a partial
// line until its newline comes or FlushDelay passes, and cuts lines longer
// than maxLine into pieces so nothing is lost.
type lineWriter struct {
	mux        *logMux
	name       string
	color      string
	flushDelay time.Duration
	maxLine    int

	// prefix is built by mux.emit under mux.mu.
	prefix      []byte
	prefixWidth int

	mu      sync.Mutex
	pending []byte // a partial line
	timer   Timer  // flushes pending
	gen     int    // which arming of timer is current
}

func (m *logMux) writer(name, color string, flushDelay time.Duration, maxLine int) *lineWriter {
	m.widen(len(name))
	return &lineWriter{mux: m, name: name, color: color, flushDelay: flushDelay, maxLine: maxLine}
}

// Write never fails: output problems are the logMux's to drop.
func (w *lineWriter) Write(b []byte) (int, error) {
	n := len(b)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	if len(w.pending) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			w.pending = append(w.pending, b...)
			b = nil
		} else {
			w.pending = append(w.pending, b[:i+1]...)
			b = b[i+1:]
			w.mux.emit(w, w.pending)
			w.pending = w.pending[:0]
		}
	}
	if last := bytes.LastIndexByte(b, '\n'); last >= 0 {
		w.mux.emit(w, b[:last+1])
		b = b[last+1:]
	}
	w.pending = append(w.pending, b...)
	for len(w.pending) >= w.maxLine {
		w.mux.emit(w, w.pending[:w.maxLine])
		w.pending = w.pending[:copy(w.pending, w.pending[w.maxLine:])]
	}
	if len(w.pending) > 0 {
		w.gen++
		gen := w.gen
		w.timer = w.mux.clock.AfterFunc(w.flushDelay, func() { w.flushPartial(gen) })
	}
	return n, nil
}

// flushPartial writes the pending partial line if the timer that called it
// is still the current one.
func (w *lineWriter) flushPartial(gen int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if gen != w.gen || w.timer == nil {
		return
	}
	w.timer = nil
	w.mux.emit(w, w.pending)
	w.pending = w.pending[:0]
}

// Flush writes the pending partial line now: the last line of a process
// that ended without a newline.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	w.mux.emit(w, w.pending)
	w.pending = w.pending[:0]
}
