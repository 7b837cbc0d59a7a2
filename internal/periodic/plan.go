package periodic

import (
	"math"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// Schedule is what the planner needs of a parsed schedule
// (*schedule.Schedule): the first tick strictly after t, zero if none.
type Schedule interface {
	Next(t time.Time) time.Time
}

// maxCount bounds the counting of missed ticks for the log line (a year of
// a job every minute is 525,600 ticks; counting them is cheap but pointless).
const maxCount = 100_000

// maxRecent bounds the on-time ticks fired in one cycle (grace / period:
// 60 with the defaults and an @every 1s job).
const maxRecent = 10_000

// Plan is what one cycle of the scheduler does for one periodic job: the
// ticks to fire (oldest first, each enqueueing a job), or a missed tick to
// record as skipped, and the job's next tick after now.
type Plan struct {
	// Fire are the ticks to enqueue, in order.
	Fire []time.Time
	// Skip, when not zero, is a missed tick to record without a job (the
	// skip policy), so the next cycle starts after it. It is never set
	// together with Fire.
	Skip time.Time
	// Missed counts the ticks older than the grace (at most maxCount;
	// MissedMore says there were more), and FirstMissed and LastMissed
	// are the oldest and newest of them; zero when none was missed.
	Missed                  int
	MissedMore              bool
	FirstMissed, LastMissed time.Time
	// Capped counts the missed ticks the all policy dropped (the oldest
	// ones) to stay within its cap.
	Capped int
	// Next is the first tick after now (zero: the schedule never fires
	// again).
	Next time.Time
}

// PlanParams are the inputs of [PlanTicks].
type PlanParams struct {
	Sched Schedule
	// LastTick is the latest tick fired (zero: never fired).
	LastTick time.Time
	// CreatedAt is when the entry was created: an entry never fired
	// fires no tick from before it (no back-fill); the ticks since it
	// are due like any others.
	CreatedAt time.Time
	CatchUp   store.CatchUp // empty means once
	Now       time.Time
	// Grace is how late a tick may fire and still count as on time; older
	// ticks are missed and follow CatchUp.
	Grace time.Duration
	// MaxCatchUp caps the missed ticks the all policy fires (the latest
	// ones). At least 1.
	MaxCatchUp int
}

// PlanTicks decides what to fire for one periodic job at p.Now. The due
// ticks are those after LastTick up to Now. Those within Grace of Now are
// on time and all fire; the older ones were missed (no scheduler ran, or
// the leader died and its lease had to expire) and follow the policy:
// skip records the newest missed tick without a job (only when no on-time
// tick fires, since firing one moves LastTick past them anyway), once
// fires the newest missed tick, all fires every missed tick (the newest
// MaxCatchUp of them).
func PlanTicks(p *PlanParams) Plan {
	from := p.LastTick
	if from.IsZero() {
		from = p.CreatedAt // no back-fill before the entry existed
	}
	if from.IsZero() {
		from = p.Now.Add(-p.Grace) // a hand-made entry without times
	}
	var plan Plan
	cut := p.Now.Add(-p.Grace) // ticks at or before cut are missed
	if from.Before(cut) {
		if first := p.Sched.Next(from); !first.IsZero() && !first.After(cut) {
			plan.FirstMissed = first
			plan.Missed, plan.MissedMore = countTicks(p.Sched, first, cut)
			want := 1
			if p.CatchUp == store.CatchUpAll {
				want = max(p.MaxCatchUp, 1)
			}
			last := lastTicks(p.Sched, from, cut, want)
			if len(last) == 0 { // cannot happen: first is in the span
				last = []time.Time{first}
			}
			plan.LastMissed = last[len(last)-1]
			switch p.CatchUp {
			case store.CatchUpSkip:
				plan.Skip = plan.LastMissed
			case store.CatchUpAll:
				plan.Fire = last
				plan.Capped = plan.Missed - len(last)
			default:
				plan.Fire = last
			}
			from = plan.LastMissed
		}
	}
	// The on-time ticks, after max(from, cut).
	t := from
	if t.Before(cut) {
		t = cut
	}
	for range maxRecent {
		next := p.Sched.Next(t)
		if next.IsZero() || next.After(p.Now) {
			break
		}
		plan.Fire = append(plan.Fire, next)
		t = next
	}
	if len(plan.Fire) > 0 && !plan.Skip.IsZero() {
		plan.Skip = time.Time{} // the on-time tick moves LastTick past the missed ones
	}
	plan.Next = p.Sched.Next(maxTime(t, p.Now))
	return plan
}

// countTicks counts the ticks from first (a tick) up to to, stopping at
// maxCount; more reports that it stopped.
func countTicks(s Schedule, first, to time.Time) (n int, more bool) {
	for t := first; !t.IsZero() && !t.After(to); t = s.Next(t) {
		if n == maxCount {
			return n, true
		}
		n++
	}
	return n, false
}

// lastTicks returns the newest want ticks in (from, to], oldest first. It
// looks back from to in a window that doubles until it holds want ticks
// or reaches from, so a long gap costs a few calls of Next per doubling,
// not one per tick of the gap.
func lastTicks(s Schedule, from, to time.Time, want int) []time.Time {
	var ticks []time.Time
	span := to.Sub(from) // saturates on huge spans
	for window := time.Second; ; window *= 2 {
		start := from
		if window < span && window < math.MaxInt64/2 {
			start = to.Add(-window)
		}
		ticks = ticks[:0]
		for t := s.Next(start); !t.IsZero() && !t.After(to); t = s.Next(t) {
			ticks = append(ticks, t)
		}
		if len(ticks) >= want || start.Equal(from) {
			break
		}
	}
	if len(ticks) > want {
		ticks = ticks[len(ticks)-want:]
	}
	return ticks
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
