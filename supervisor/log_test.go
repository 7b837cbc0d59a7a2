package supervisor

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/procfile"
)

// The line writer keeps a partial line until its newline or FlushDelay,
// pads prefixes to the widest name, colors them when asked, and writes a
// pending partial line on Flush.
func TestLineWriter(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	out := &syncBuffer{}
	mux := newLogMux(out, false, true, clk)
	w := mux.writer("web.1", "36", 100*time.Millisecond, 8)
	mux.widen(len("worker.10"))
	w.Write([]byte("one\ntw"))
	w.Write([]byte("o\nthr"))
	if got, want := out.String(), "00:00:00 web.1     | one\n00:00:00 web.1     | two\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	clk.Advance(99 * time.Millisecond)
	w.Write([]byte("ee")) // re-arms the flush: still no line
	clk.Advance(99 * time.Millisecond)
	if strings.Contains(out.String(), "three") {
		t.Fatalf("partial line flushed before its delay: %q", out.String())
	}
	clk.Advance(time.Millisecond)
	if !strings.HasSuffix(out.String(), "web.1     | three\n") {
		t.Fatalf("partial line not flushed after its delay: %q", out.String())
	}
	w.Write([]byte("0123456789abcdefghij")) // longer than 8: cut, nothing lost
	w.Write([]byte("\nlast"))
	w.Flush()
	if !strings.HasSuffix(out.String(), "| 01234567\n00:00:00 web.1     | 89abcdef\n00:00:00 web.1     | ghij\n00:00:00 web.1     | last\n") {
		t.Fatalf("got %q", out.String())
	}

	colored := &syncBuffer{}
	cmux := newLogMux(colored, true, false, clk)
	cw := cmux.writer("web.1", "36", time.Second, 1<<20)
	cw.Write([]byte("hi\n"))
	if got, want := colored.String(), "\x1b[36mweb.1  |\x1b[0m hi\n"; got != want {
		t.Fatalf("colored: got %q, want %q", got, want)
	}
}

// BenchmarkLogThroughput measures lines per second through the supervisor:
// three processes each print b.N lines (seq), written to a discarding
// output.
func BenchmarkLogThroughput(b *testing.B) {
	n := strconv.Itoa(b.N)
	entries := []procfile.Entry{{Name: "p1", Command: "seq " + n}, {Name: "p2", Command: "seq " + n}, {Name: "p3", Command: "seq " + n}}
	s, err := New(Options{Entries: entries, Output: discard{}, SettleDelay: time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	if err := s.Run(b.Context(), nil); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(3*b.N)/time.Since(start).Seconds(), "lines/s")
}
