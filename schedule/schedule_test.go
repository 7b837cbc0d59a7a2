package schedule

import (
	"strings"
	"testing"
	"time"
)

func TestParseAndNext(t *testing.T) {
	base := time.Date(2026, 11, 22, 10, 7, 30, 0, time.UTC)
	for _, tc := range []struct {
		spec string
		want time.Time
	}{
		{"*/5 * * * *", time.Date(2026, 11, 22, 10, 10, 0, 0, time.UTC)},
		{"30 * * * * *", time.Date(2026, 11, 22, 10, 8, 30, 0, time.UTC)},
		{"@hourly", time.Date(2026, 11, 22, 11, 0, 0, 0, time.UTC)},
		{"@daily", time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)},
		{"@every 10m", time.Date(2026, 11, 22, 10, 10, 0, 0, time.UTC)},
		{"@every 1s", time.Date(2026, 11, 22, 10, 7, 31, 0, time.UTC)},
		{"CRON_TZ=Europe/Paris 0 9 * * *", time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)},
		{"  0 0 1 1 *  ", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		s, err := Parse(tc.spec)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.spec, err)
		}
		if got := s.Next(base); !got.Equal(tc.want) {
			t.Errorf("Parse(%q).Next(%v) = %v, want %v", tc.spec, base, got, tc.want)
		}
	}
}

func TestEveryTicksAgreeAcrossStarts(t *testing.T) {
	s, err := Parse("@every 7s")
	if err != nil {
		t.Fatal(err)
	}
	a := s.Next(time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC))
	b := s.Next(time.Date(2026, 1, 1, 0, 0, 3, 500, time.UTC))
	if !a.Equal(b) {
		t.Fatalf("two processes starting 2.5 s apart disagree on the next tick: %v vs %v", a, b)
	}
	if a.Unix()%7 != 0 {
		t.Fatalf("tick %v is not a multiple of 7 s since the epoch", a)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ spec, want string }{
		{"", "empty schedule"},
		{"* * *", `schedule "* * *"`},
		{"61 * * * *", `schedule "61 * * * *"`},
		{"@every 10ms", "at least 1s"},
		{"@every banana", `schedule "@every banana"`},
		{"0 0 30 2 *", "never fires"},
		{"CRON_TZ=Mars/Olympus 0 9 * * *", "Mars/Olympus"},
		{strings.Repeat("*", 600), "too long"},
	} {
		_, err := Parse(tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tc.spec, err, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"*/5 * * * *", "0 30 9 * * 1-5", "@daily", "@every 1h30m", "CRON_TZ=UTC 0 0 * * *", "", "61 * * * *", "@every -1s", "0 0 30 2 *"} {
		f.Add(s)
	}
	base := time.Date(2026, 11, 22, 10, 7, 30, 0, time.UTC)
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := Parse(spec)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if n := s.Next(base); !n.IsZero() && !n.After(base) {
			t.Fatalf("Next(%v) = %v, not after", base, n)
		}
	})
}
