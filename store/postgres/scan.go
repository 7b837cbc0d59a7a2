package postgres

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/doubleboiler/boiler/store"
)

// jobColumnList are the columns scanJob reads, in its order.
const jobColumnList = "id, kind, queue, priority, args, state, attempt, max_attempts, timeout_ns, " +
	"enqueued_at, run_at, attempted_at, finalized_at, unique_key, unique_until, " +
	"lease_owner, lease_expires_at, cancel_requested, errors, result, " +
	"workflow, deps, deps_left, run_on_failure"

// jobColumns returns the column list scanJob reads, each qualified by
// alias (for statements that join the jobs table with something else).
func jobColumns(alias string) string {
	var b strings.Builder
	for i, c := range strings.Split(jobColumnList, ", ") {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(alias)
		b.WriteByte('.')
		b.WriteString(c)
	}
	return b.String()
}

// scanJob reads one row of jobColumns, followed by extra columns into
// the extra destinations.
func scanJob(row pgx.Row, extra ...any) (*store.Job, error) {
	var (
		j                                     store.Job
		state                                 string
		timeoutNS                             int64
		attemptedAt, finalizedAt, uniqueUntil pgtype.Timestamptz
		leaseExpiresAt                        pgtype.Timestamptz
		uniqueKey, leaseOwner, workflow       pgtype.Text
		args, errs, result                    []byte
	)
	dest := append([]any{&j.ID, &j.Kind, &j.Queue, &j.Priority, &args, &state, &j.Attempt, &j.MaxAttempts, &timeoutNS,
		&j.EnqueuedAt, &j.RunAt, &attemptedAt, &finalizedAt, &uniqueKey, &uniqueUntil,
		&leaseOwner, &leaseExpiresAt, &j.CancelRequested, &errs, &result,
		&workflow, &j.Deps, &j.DepsLeft, &j.RunOnFailure}, extra...)
	err := row.Scan(dest...)
	if err != nil {
		return nil, err
	}
	j.Args = args
	j.State = store.State(state)
	j.Timeout = time.Duration(timeoutNS)
	j.EnqueuedAt = j.EnqueuedAt.UTC()
	j.RunAt = j.RunAt.UTC()
	j.AttemptedAt = fromTimestamptz(attemptedAt)
	j.FinalizedAt = fromTimestamptz(finalizedAt)
	j.UniqueKey = uniqueKey.String
	j.UniqueUntil = fromTimestamptz(uniqueUntil)
	j.LeaseOwner = leaseOwner.String
	j.LeaseExpiresAt = fromTimestamptz(leaseExpiresAt)
	j.Workflow = workflow.String
	if len(j.Deps) == 0 {
		j.Deps = nil
	}
	if len(errs) > 0 && string(errs) != "[]" {
		if err := json.Unmarshal(errs, &j.Errors); err != nil {
			return nil, fmt.Errorf("decoding the errors of job %d: %w", j.ID, err)
		}
	}
	if result != nil {
		j.Result = result
	}
	return &j, nil
}

// scanJobs reads every row of jobColumns and closes rows.
func scanJobs(rows pgx.Rows) ([]*store.Job, error) {
	defer rows.Close()
	var out []*store.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// fromTimestamptz is t in UTC, or the zero time for NULL.
func fromTimestamptz(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// toTimestamptz is t, or NULL for the zero time.
func toTimestamptz(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// toText is s, or NULL for "".
func toText(s string) pgtype.Text {
	return pgtype.Text{String: s, Valid: s != ""}
}

// attemptErrorJSON encodes e as the element appended to a job's errors,
// its time in UTC at the microsecond precision of every other time.
func attemptErrorJSON(e *store.AttemptError) (pgtype.Text, error) {
	if e == nil {
		return pgtype.Text{}, nil
	}
	c := *e
	c.At = c.At.UTC().Truncate(time.Microsecond)
	b, err := json.Marshal(c)
	if err != nil {
		return pgtype.Text{}, fmt.Errorf("encoding an attempt error: %w", err)
	}
	return pgtype.Text{String: string(b), Valid: true}, nil
}
