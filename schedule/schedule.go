// Package schedule parses the schedules of periodic jobs: standard
// five-field cron lines, an optional leading seconds field, descriptors
// (@yearly, @monthly, @weekly, @daily, @hourly, @every 10m) and a time zone
// prefix (CRON_TZ=Europe/Paris or TZ=...).
//
// It wraps github.com/robfig/cron/v3's parser and adds errors that name the
// line and say what is accepted.
package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// parser accepts 5 fields, or 6 with leading seconds, and descriptors.
var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// maxSpecLen bounds a spec; longer lines are surely not cron lines.
const maxSpecLen = 512

// Schedule is a parsed schedule. It is immutable and safe for concurrent
// use.
type Schedule struct {
	spec  string
	sched cron.Schedule
}

// Parse parses spec. The error names the spec and the accepted forms.
func Parse(spec string) (*Schedule, error) {
	s := strings.TrimSpace(spec)
	if s == "" {
		return nil, errors.New(`empty schedule (want a cron line like "*/5 * * * *", "0 30 9 * * *", "@daily" or "@every 10m")`)
	}
	if len(s) > maxSpecLen {
		return nil, fmt.Errorf("schedule of %d bytes is too long (at most %d)", len(s), maxSpecLen)
	}
	sched, err := parse(s)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %v (want 5 fields: minute hour day-of-month month day-of-week, "+
			"or 6 with leading seconds, or @yearly/@monthly/@weekly/@daily/@hourly/@every <duration>, "+
			"optionally after CRON_TZ=<zone>)", s, err)
	}
	if rest, ok := strings.CutPrefix(s, "@every "); ok {
		// The library rounds up to 1 s silently; a user asking for 10ms
		// should hear that it is not possible.
		if d, err := time.ParseDuration(strings.TrimSpace(rest)); err == nil && d < time.Second {
			return nil, fmt.Errorf("schedule %q: @every needs at least 1s", s)
		}
	}
	// A schedule that never fires (Feb 30) is a mistake worth reporting.
	if sched.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, fmt.Errorf("schedule %q never fires", s)
	}
	return &Schedule{spec: s, sched: sched}, nil
}

// Next returns the first tick strictly after t, or the zero time if there
// is none within five years.
//
// @every d schedules tick on multiples of d since the Unix epoch (in UTC),
// so every process computes the same ticks whenever it starts: this is
// what lets several schedulers agree on a tick's identity.
func (s *Schedule) Next(t time.Time) time.Time {
	if every, ok := s.sched.(cron.ConstantDelaySchedule); ok {
		d := every.Delay
		return time.Unix(0, 0).UTC().Add(t.Sub(time.Unix(0, 0)).Truncate(d) + d).In(t.Location())
	}
	return s.sched.Next(t)
}

// String returns the spec as parsed (trimmed).
func (s *Schedule) String() string { return s.spec }

// parse runs the library's parser, turning its panics (it slices out of
// range on "TZ=" without a schedule, found by FuzzParse) into errors.
func parse(spec string) (sched cron.Schedule, err error) {
	defer func() {
		if v := recover(); v != nil {
			sched, err = nil, fmt.Errorf("malformed (%v)", v)
		}
	}()
	return parser.Parse(spec)
}
