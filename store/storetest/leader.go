package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

func leaderTests() []test {
	return []test{
		{"FreeIsWon", testLeaderFreeIsWon},
		{"HeldUntilExpiryOthersLose", testLeaderHeldOthersLose},
		{"HolderRenewsExtendingTheLease", testLeaderHolderRenews},
		{"ExpiredIsWonByAnother", testLeaderExpiredIsWon},
		{"ResignFreesAtOnce", testLeaderResignFreesAtOnce},
		{"ResignByNonHolderDoesNothing", testLeaderResignByNonHolder},
		{"ConcurrentElectorsExactlyOneWins", testLeaderConcurrentElectors},
		{"NamesAreIndependent", testLeaderNamesIndependent},
	}
}

// elect calls LeaderElect for leadership name and returns whether holder
// leads after it.
func elect(t *testing.T, s store.Store, name, holder string, now, expiresAt time.Time) bool {
	t.Helper()
	won, err := s.LeaderElect(t.Context(), &store.LeaderElectParams{Name: name, Holder: holder, Now: now, ExpiresAt: expiresAt})
	if err != nil {
		t.Fatalf("LeaderElect(%q, holder %q, now %s): %v", name, holder, clock(now), err)
	}
	return won
}

// wantElect fails unless elect returns want.
func wantElect(t *testing.T, s store.Store, why, name, holder string, now, expiresAt time.Time, want bool) {
	t.Helper()
	if got := elect(t, s, name, holder, now, expiresAt); got != want {
		t.Fatalf("%s: LeaderElect(%q, holder %q, Now %s, ExpiresAt %s) = %v, want %v",
			why, name, holder, clock(now), clock(expiresAt), got, want)
	}
}

// resign calls LeaderResign.
func resign(t *testing.T, s store.Store, name, holder string) {
	t.Helper()
	if err := s.LeaderResign(t.Context(), &store.LeaderResignParams{Name: name, Holder: holder}); err != nil {
		t.Fatalf("LeaderResign(%q, holder %q): %v", name, holder, err)
	}
}

// "LeaderElect makes Holder the leader ... if nobody holds it".
func testLeaderFreeIsWon(t *testing.T, s store.Store) {
	wantElect(t, s, "first candidate of a free leadership", "periodic", "a", at(0), at(10*time.Second), true)
}

// Held and not expired ("its lease expired before Now" is false), another
// holder loses, up to and including the instant ExpiresAt; the first
// candidate still holds it.
func testLeaderHeldOthersLose(t *testing.T, s store.Store) {
	wantElect(t, s, "first candidate", "periodic", "a", at(0), at(10*time.Second), true)
	wantElect(t, s, "another candidate while a holds it", "periodic", "b", at(5*time.Second), at(15*time.Second), false)
	wantElect(t, s, "another candidate at the instant a's lease ends", "periodic", "c", at(10*time.Second), at(20*time.Second), false)
	// b's and c's failed attempts took nothing: a renews.
	wantElect(t, s, "a renewing at its lease's end", "periodic", "a", at(10*time.Second), at(20*time.Second), true)
}

// "or Holder already holds it (a renewal)": the renewal moves ExpiresAt,
// so others lose until the new expiry, and win a microsecond after it.
func testLeaderHolderRenews(t *testing.T, s store.Store) {
	wantElect(t, s, "first candidate", "periodic", "a", at(0), at(10*time.Second), true)
	wantElect(t, s, "a renewing", "periodic", "a", at(5*time.Second), at(30*time.Second), true)
	wantElect(t, s, "b after a's first lease would have ended", "periodic", "b", at(20*time.Second), at(40*time.Second), false)
	wantElect(t, s, "b at a's renewed lease's end", "periodic", "b", at(30*time.Second), at(40*time.Second), false)
	wantElect(t, s, "b a microsecond after a's renewed lease ended", "periodic", "b", at(30*time.Second+time.Microsecond), at(40*time.Second), true)
}

// "its lease expired before Now": another holder wins it, and the old
// holder, back late, has lost it.
func testLeaderExpiredIsWon(t *testing.T, s store.Store) {
	wantElect(t, s, "first candidate", "periodic", "a", at(0), at(10*time.Second), true)
	wantElect(t, s, "b after a's lease expired", "periodic", "b", at(11*time.Second), at(21*time.Second), true)
	wantElect(t, s, "a (the old leader) renewing late", "periodic", "a", at(12*time.Second), at(22*time.Second), false)
	wantElect(t, s, "b renewing", "periodic", "b", at(13*time.Second), at(23*time.Second), true)
	// An expired lease not taken by anyone is won back by its old holder.
	wantElect(t, s, "b after its own lease expired", "periodic", "b", at(time.Hour), at(time.Hour+10*time.Second), true)
}

// "LeaderResign gives up the leadership Name if Holder holds it, so
// another holder can win it at once".
func testLeaderResignFreesAtOnce(t *testing.T, s store.Store) {
	wantElect(t, s, "first candidate", "periodic", "a", at(0), at(time.Hour), true)
	resign(t, s, "periodic", "a")
	wantElect(t, s, "b right after a resigned", "periodic", "b", at(time.Second), at(time.Minute), true)
	wantElect(t, s, "a after resigning, while b holds it", "periodic", "a", at(2*time.Second), at(time.Hour), false)
}

// "otherwise it does nothing": resigning a leadership held by someone
// else, or by nobody, or unknown, is no error and changes nothing.
func testLeaderResignByNonHolder(t *testing.T, s store.Store) {
	resign(t, s, "never-held", "a")
	wantElect(t, s, "first candidate", "periodic", "a", at(0), at(time.Hour), true)
	resign(t, s, "periodic", "b")
	wantElect(t, s, "c after b (not the holder) resigned", "periodic", "c", at(time.Second), at(time.Minute), false)
	wantElect(t, s, "a renewing after b's resign", "periodic", "a", at(2*time.Second), at(time.Hour), true)
}

// "Two concurrent calls never both win an expired lease": rounds of 16
// concurrent candidates on a free, then on an expired, leadership; each
// round has exactly one winner, and the winner is the leader afterwards.
func testLeaderConcurrentElectors(t *testing.T, s store.Store) {
	const candidates, rounds = 16, 10
	for round := range rounds {
		// Round r runs at base+r minutes; every lease lasts 30 s, so the
		// previous round's leader expired.
		now := at(time.Duration(round) * time.Minute)
		won := make([]bool, candidates)
		errs := make([]error, candidates)
		var wg sync.WaitGroup
		for c := range candidates {
			wg.Go(func() {
				won[c], errs[c] = s.LeaderElect(t.Context(), &store.LeaderElectParams{
					Name: "periodic", Holder: fmt.Sprintf("r%d-c%d", round, c), Now: now, ExpiresAt: now.Add(30 * time.Second),
				})
			})
		}
		wg.Wait()
		var winners []string
		for c := range candidates {
			if errs[c] != nil {
				t.Fatalf("round %d: concurrent LeaderElect of candidate %d: %v", round, c, errs[c])
			}
			if won[c] {
				winners = append(winners, fmt.Sprintf("r%d-c%d", round, c))
			}
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: %d concurrent candidates for a free or expired leadership: winners %q, want exactly one",
				round, candidates, winners)
		}
		wantElect(t, s, fmt.Sprintf("round %d: the winner renewing", round), "periodic", winners[0], now.Add(time.Second), now.Add(30*time.Second), true)
		wantElect(t, s, fmt.Sprintf("round %d: a latecomer", round), "periodic", "late", now.Add(time.Second), now.Add(30*time.Second), false)
	}
}

// Leaderships with different Names are independent: holding one neither
// wins nor blocks another, and resigning one leaves the other.
func testLeaderNamesIndependent(t *testing.T, s store.Store) {
	wantElect(t, s, "a for periodic", "periodic", "a", at(0), at(time.Hour), true)
	wantElect(t, s, "b for autoscaler while a holds periodic", "autoscaler", "b", at(time.Second), at(time.Hour), true)
	wantElect(t, s, "b for periodic", "periodic", "b", at(2*time.Second), at(time.Hour), false)
	wantElect(t, s, "a for autoscaler", "autoscaler", "a", at(2*time.Second), at(time.Hour), false)
	resign(t, s, "periodic", "a")
	wantElect(t, s, "c for autoscaler after a resigned periodic", "autoscaler", "c", at(3*time.Second), at(time.Hour), false)
	wantElect(t, s, "c for periodic after a resigned it", "periodic", "c", at(3*time.Second), at(time.Hour), true)
}
