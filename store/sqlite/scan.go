package sqlite

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// jobColumns are the columns scanJob reads, in its order.
const jobColumns = `id, kind, queue, priority, args, state, attempt, max_attempts, timeout_ns,
	enqueued_at, run_at, attempted_at, finalized_at, unique_key, unique_until,
	lease_owner, lease_expires_at, cancel_requested, errors, result,
	workflow, deps, deps_left, run_on_failure`

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// scanJob reads one row of jobColumns. The errors column is decoded only
// when it is not NULL (a job that never failed has none).
func scanJob(sc scanner) (*store.Job, error) {
	var (
		j                                             store.Job
		state                                         string
		timeoutNS, enqueuedAt, runAt                  int64
		attemptedAt, finalizedAt, uniqueUntil, leaseX sql.NullInt64
		uniqueKey, leaseOwner, workflow               sql.NullString
		args, errs, result, deps                      []byte
	)
	if err := sc.Scan(&j.ID, &j.Kind, &j.Queue, &j.Priority, &args, &state, &j.Attempt, &j.MaxAttempts,
		&timeoutNS, &enqueuedAt, &runAt, &attemptedAt, &finalizedAt, &uniqueKey, &uniqueUntil,
		&leaseOwner, &leaseX, &j.CancelRequested, &errs, &result,
		&workflow, &deps, &j.DepsLeft, &j.RunOnFailure); err != nil {
		return nil, err
	}
	j.Args = json.RawMessage(args)
	j.State = store.State(state)
	j.Timeout = time.Duration(timeoutNS)
	j.EnqueuedAt = fromMicros(enqueuedAt)
	j.RunAt = fromMicros(runAt)
	j.AttemptedAt = fromNullMicros(attemptedAt)
	j.FinalizedAt = fromNullMicros(finalizedAt)
	j.UniqueKey = uniqueKey.String
	j.UniqueUntil = fromNullMicros(uniqueUntil)
	j.LeaseOwner = leaseOwner.String
	j.LeaseExpiresAt = fromNullMicros(leaseX)
	if errs != nil {
		if err := json.Unmarshal(errs, &j.Errors); err != nil {
			return nil, fmt.Errorf("decoding errors of job %d: %w", j.ID, err)
		}
	}
	if result != nil {
		j.Result = json.RawMessage(result)
	}
	j.Workflow = workflow.String
	if deps != nil {
		if err := json.Unmarshal(deps, &j.Deps); err != nil {
			return nil, fmt.Errorf("decoding deps of job %d: %w", j.ID, err)
		}
	}
	return &j, nil
}

// scanJobs reads every row of rows and closes it.
func scanJobs(rows *sql.Rows) ([]*store.Job, error) {
	defer rows.Close()
	var jobs []*store.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return jobs, nil
}

// interpretError is the one place a "no rows" becomes store.ErrNotFound
// (wrapped with the job's ID). Other errors pass through.
func interpretError(err error, id int64) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("job %d: %w", id, store.ErrNotFound)
	}
	return err
}

// micros is t as stored: unix microseconds.
func micros(t time.Time) int64 { return t.UnixMicro() }

// nullMicros is t as stored in a nullable column: NULL for the zero time.
func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// fromMicros is the UTC time of a stored unix-microseconds value.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// fromNullMicros is fromMicros, with NULL as the zero time.
func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}

// nullString is s as stored in a nullable column: NULL for "".
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// attemptErrorJSON encodes e the way it is stored in the errors column,
// its time in UTC to the microsecond like every other stored time.
func attemptErrorJSON(e *store.AttemptError) (string, error) {
	c := *e
	c.At = c.At.UTC().Truncate(time.Microsecond)
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encoding attempt error: %w", err)
	}
	return string(b), nil
}
