package periodic

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

func TestParseLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line string
		want Line
	}{
		{`@every 10m sleep {"ms":5}`, Line{Spec: "@every 10m", Kind: "sleep", Args: []byte(`{"ms":5}`)}},
		{`@every 10m sleep {"ms": 5,  "s": "a  b"}`, Line{Spec: "@every 10m", Kind: "sleep", Args: []byte(`{"ms":5,"s":"a  b"}`)}},
		{`@daily noop`, Line{Spec: "@daily", Kind: "noop", Args: []byte(`{}`)}},
		{`*/5 * * * * noop {}`, Line{Spec: "*/5 * * * *", Kind: "noop", Args: []byte(`{}`)}},
		{`  0 */5 * * * *   noop  `, Line{Spec: "0 */5 * * * *", Kind: "noop", Args: []byte(`{}`)}},
		// A five-field line whose kind would be a valid sixth field, with
		// args: the args cannot be a kind, so five fields it is.
		{`0 9 * * * 1 {}`, Line{}}, // "1" is not a kind: an error, see below
		{`CRON_TZ=Europe/Paris 0 3 * * * report {"full":true}`, Line{Spec: "CRON_TZ=Europe/Paris 0 3 * * *", Kind: "report", Args: []byte(`{"full":true}`)}},
		{`TZ=UTC @every 1h noop`, Line{Spec: "TZ=UTC @every 1h", Kind: "noop", Args: []byte(`{}`)}},
		{
			`name=nightly queue=low priority=-2 max_attempts=3 timeout=90s catchup=skip @daily email.digest [1,2]`,
			Line{Name: "nightly", Queue: "low", Priority: -2, MaxAttempts: 3, Timeout: 90 * time.Second,
				CatchUp: store.CatchUpSkip, Spec: "@daily", Kind: "email.digest", Args: []byte(`[1,2]`)},
		},
		{`catch_up=all @hourly noop`, Line{CatchUp: store.CatchUpAll, Spec: "@hourly", Kind: "noop", Args: []byte(`{}`)}},
	} {
		got, err := ParseLine(tc.line)
		if tc.want.Kind == "" {
			if err == nil {
				t.Errorf("ParseLine(%q) = %+v, want an error", tc.line, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseLine(%q): %v", tc.line, err)
			continue
		}
		if !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("ParseLine(%q)\n got %+v\nwant %+v", tc.line, *got, tc.want)
		}
	}
}

func TestParseLineErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ line, want string }{
		{``, "empty (want [name=NAME]"},
		{`   `, "empty"},
		{`@every 10m`, `no job kind after the schedule "@every 10m"`},
		{`@every 10m {"ms":5}`, `"{\"ms\":5}" after the schedule "@every 10m" is not a job kind`},
		{`@every banana sleep`, `schedule "@every banana"`},
		{`@every 10ms sleep`, "at least 1s"},
		{`@fortnightly sleep`, `schedule "@fortnightly"`},
		{`* * * sleep`, `schedule "* * * sleep"`},
		{`61 * * * * sleep`, `schedule "61 * * * *"`},
		{`0 0 30 2 * sleep`, "never fires"},
		{`*/5 * * * * sleep {"ms":`, "the args of sleep are not valid JSON"},
		{`@daily sleep {} extra`, "not valid JSON"},
		{`colour=red @daily sleep`, `unknown option "colour="`},
		{`catchup=sometimes @daily sleep`, "option catchup=sometimes: want once, skip or all"},
		{`max_attempts=0 @daily sleep`, "option max_attempts=0: want 1 or more"},
		{`timeout=soon @daily sleep`, "option timeout=soon"},
		{`priority=high @daily sleep`, "option priority=high"},
		{`name= @daily sleep`, "name= is empty"},
		{`CRON_TZ=Mars/Olympus 0 9 * * * sleep`, "Mars/Olympus"},
		{`CRON_TZ=UTC`, "schedule"},
		{`name=x`, "no schedule"},
		{strings.Repeat("x", maxLineLen+1), "too long"},
	} {
		_, err := ParseLine(tc.line)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseLine(%.60q): error %v, want one containing %q", tc.line, err, tc.want)
		}
	}
}

// FuzzParseLine: no panics, and a parsed line renders to a line that
// parses back to the same.
func FuzzParseLine(f *testing.F) {
	for _, seed := range []string{
		`@every 10m sleep {"ms":5}`,
		`*/5 * * * * noop`,
		`0 */5 * * * * noop {}`,
		`name=n queue=q priority=1 max_attempts=2 timeout=1s catchup=all CRON_TZ=Europe/Paris 0 3 * * * report {"a":[1,2]}`,
		`TZ= @daily x`,
		`@every`,
		`CRON_TZ=`,
		`0 9 * * * MON {}`,
		"\t@hourly\tk\t\"s\"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLine(s)
		if err != nil {
			return
		}
		again, err := ParseLine(l.String())
		if err != nil {
			t.Fatalf("ParseLine(%q) = %+v, whose String %q does not parse: %v", s, l, l.String(), err)
		}
		if !reflect.DeepEqual(l, again) {
			t.Fatalf("round trip of %q: %+v, then %+v", s, l, again)
		}
	})
}
