package sqlite

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/doubleboiler/boiler/store"
)

// The hot queries read the index they were designed for, so they cost the
// same with a million completed jobs in the table: a plan change (a new
// index, a reworded query) that loses one fails here.
func TestQueryPlans(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "boiler.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, query string
		want        []string // each in the plan
	}{
		{"fetch", fetchSQL, []string{"USING INTEGER PRIMARY KEY", "USING COVERING INDEX jobs_fetch (queue=?)"}},
		{"fetch's due check", anyDueSQL, []string{"INDEX jobs_due (queue=? AND run_at<?)"}},
		{"promotion", promoteDueSQL, []string{"INDEX jobs_due (queue=? AND run_at<?)"}},
		{"completion", setStateSQL(10), []string{"10-ROW VALUES", "USING INTEGER PRIMARY KEY"}},
		{"heartbeat", heartbeatSQL, []string{"USING INDEX jobs_running (lease_owner=?)"}},
		{"rescue", rescueSQL, []string{"USING INDEX jobs_running"}},
		{"cleaner", deleteFinalizedSQL, []string{"USING COVERING INDEX jobs_finalized (state=? AND finalized_at<?)"}},
		{"unique key", uniqueHolderSQL, []string{"USING INDEX jobs_unique_key (unique_key=?)"}},
		{"oldest available", oldestAvailableSQL, []string{"USING COVERING INDEX jobs_fetch (queue=? AND priority<?)"}},
		{"list discarded", listBranch(store.StateDiscarded, false, ""), []string{"INDEX jobs_finalized (state=?"}},
		{"list retryable", listBranch(store.StateRetryable, false, ""), []string{"USING INDEX jobs_due"}},
		{"list running", listBranch(store.StateRunning, false, ""), []string{"USING INDEX jobs_running"}},
		{"list waiting", listBranch(store.StateWaiting, false, ""), []string{"USING INDEX jobs_waiting"}},
		{"list workflow", listBranch("", true, " AND workflow = ?"), []string{"USING INDEX jobs_workflow (workflow=?)"}},
		{"list workflow's completed", listBranch(store.StateCompleted, true, " AND workflow = ?"), []string{"USING INDEX jobs_workflow (workflow=?)"}},
		{"get many", getJobsSQL, []string{"USING INTEGER PRIMARY KEY"}},
		{"ended jobs' waiters", takeEdgesSQL, []string{"USING PRIMARY KEY (dep_id=?)"}},
		{"waiting jobs", waitersSQL, []string{"rowid=?"}},
		{"dependencies flagged", markDependedOnSQL, []string{"USING INTEGER PRIMARY KEY"}},
		{"waiting job updated", updateWaiterSQL, []string{"USING INTEGER PRIMARY KEY"}},
	} {
		plan := explain(t, s, c.query)
		for _, w := range c.want {
			if !strings.Contains(plan, w) {
				t.Errorf("plan of %s does not contain %q:\n%s", c.name, w, plan)
			}
		}
		if !strings.HasPrefix(c.name, "list ") &&
			strings.Contains(plan, "SCAN jobs") && !strings.Contains(plan, "SCAN jobs USING") {
			t.Errorf("plan of %s scans the table:\n%s", c.name, plan)
		}
	}
}

// explain returns the EXPLAIN QUERY PLAN of query, one detail per line.
// Every parameter is bound to 1.
func explain(t *testing.T, s *Store, query string) string {
	t.Helper()
	st, err := s.write.PrepareContext(t.Context(), "EXPLAIN QUERY PLAN "+query)
	if err != nil {
		t.Fatalf("preparing %s: %v", firstLine(query), err)
	}
	defer st.Close()
	var rows interface {
		Next() bool
		Scan(...any) error
		Close() error
	}
	// The driver wants exactly as many arguments as the query has.
	for n := 0; n <= 1000; n++ {
		args := make([]any, n)
		for i := range args {
			args[i] = 1
		}
		if r, err := st.QueryContext(t.Context(), args...); err == nil {
			rows = r
			break
		}
	}
	if rows == nil {
		t.Fatalf("EXPLAIN QUERY PLAN %s: no argument count works", firstLine(query))
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		b.WriteString(detail + "\n")
	}
	return b.String()
}
