package redis

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/doubleboiler/boiler/store"
)

// Times are stored as microseconds since the Unix epoch, in 17 decimal
// digits with leading zeros: the scripts compare them as strings and put
// them in sorted-set members as they are, and Redis reads them as scores.
// Lua numbers are doubles, exact up to 2^53 µs (year 2255). Times outside
// [1970, 2255) are refused.
var (
	minTime = time.Unix(0, 0)
	maxTime = time.UnixMicro(1 << 53)
)

// encodeTime encodes t for a script; what names the field for the error.
func encodeTime(t time.Time, what string) (string, error) {
	if t.Before(minTime) || !t.Before(maxTime) {
		return "", fmt.Errorf("%s %s is outside the range the redis store keeps (1970 to 2255)", what, t.Format(time.RFC3339))
	}
	return fmt.Sprintf("%017d", t.UnixMicro()), nil
}

// encodeOptionalTime is encodeTime with the zero time as "".
func encodeOptionalTime(t time.Time, what string) (string, error) {
	if t.IsZero() {
		return "", nil
	}
	return encodeTime(t, what)
}

// decodeTime reads a stored time ("" is the zero time).
func decodeTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	us, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMicro(us).UTC(), nil
}

// truncTime is the time as the store keeps it: microseconds, UTC.
func truncTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.UnixMicro(t.UnixMicro()).UTC()
}

// decodeJob builds a Job from its id and the flat field/value list of
// HGETALL.
func decodeJob(id string, raw any) (*store.Job, error) {
	kv, ok := raw.([]any)
	if !ok || len(kv)%2 != 0 {
		return nil, fmt.Errorf("decoding job %s: unexpected reply %T", id, raw)
	}
	if len(kv) == 0 {
		return nil, fmt.Errorf("job %s: %w", id, store.ErrNotFound)
	}
	j := &store.Job{}
	var err error
	j.ID, err = strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("decoding job id %q: %w", id, err)
	}
	for i := 0; i < len(kv); i += 2 {
		name, _ := kv[i].(string)
		v, _ := kv[i+1].(string)
		if err := setField(j, name, v); err != nil {
			return nil, fmt.Errorf("decoding job %s field %s=%q: %w", id, name, v, err)
		}
	}
	return j, nil
}

// jobFromMap builds a Job from its id and HGETALL's map (empty: the job
// does not exist).
func jobFromMap(id string, fields map[string]string) (*store.Job, error) {
	if len(fields) == 0 {
		return nil, fmt.Errorf("job %s: %w", id, store.ErrNotFound)
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("decoding job id %q: %w", id, err)
	}
	j := &store.Job{ID: n}
	for name, v := range fields {
		if err := setField(j, name, v); err != nil {
			return nil, fmt.Errorf("decoding job %s field %s=%q: %w", id, name, v, err)
		}
	}
	return j, nil
}

// setField sets the Job field stored under name. Unknown fields are
// ignored, so a newer version may add some.
func setField(j *store.Job, name, v string) error {
	var err error
	switch name {
	case "kind":
		j.Kind = v
	case "queue":
		j.Queue = v
	case "priority":
		j.Priority, err = strconv.Atoi(v)
	case "args":
		j.Args = json.RawMessage(v)
	case "state":
		j.State = store.State(v)
	case "attempt":
		j.Attempt, err = strconv.Atoi(v)
	case "max_attempts":
		j.MaxAttempts, err = strconv.Atoi(v)
	case "timeout":
		var ns int64
		ns, err = strconv.ParseInt(v, 10, 64)
		j.Timeout = time.Duration(ns)
	case "enqueued_at":
		j.EnqueuedAt, err = decodeTime(v)
	case "run_at":
		j.RunAt, err = decodeTime(v)
	case "attempted_at":
		j.AttemptedAt, err = decodeTime(v)
	case "finalized_at":
		j.FinalizedAt, err = decodeTime(v)
	case "unique_key":
		j.UniqueKey = v
	case "unique_until":
		j.UniqueUntil, err = decodeTime(v)
	case "lease_owner":
		j.LeaseOwner = v
	case "lease_expires_at":
		j.LeaseExpiresAt, err = decodeTime(v)
	case "cancel_requested":
		j.CancelRequested = v == "1"
	case "errors":
		if v != "" {
			err = json.Unmarshal([]byte(v), &j.Errors)
		}
	case "result":
		if v != "" {
			j.Result = json.RawMessage(v)
		}
	case "workflow":
		j.Workflow = v
	case "deps":
		j.Deps, err = decodeIDList(v)
	case "deps_left":
		j.DepsLeft, err = strconv.Atoi(v)
	case "run_on_failure":
		j.RunOnFailure = v == "1"
	}
	return err
}

// decodeIDList reads comma-separated job ids ("" is none).
func decodeIDList(v string) ([]int64, error) {
	if v == "" {
		return nil, nil
	}
	parts := strings.Split(v, ",")
	ids := make([]int64, len(parts))
	for i, p := range parts {
		id, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	return ids, nil
}

// decodeIDJob decodes a script's {id, fields} pair.
func decodeIDJob(raw any) (*store.Job, error) {
	pair, ok := raw.([]any)
	if !ok || len(pair) != 2 {
		return nil, fmt.Errorf("decoding job: unexpected reply %v", raw)
	}
	id, _ := pair[0].(string)
	return decodeJob(id, pair[1])
}

// decodeJobs decodes a script's list of {id, fields} pairs.
func decodeJobs(raw any) ([]*store.Job, error) {
	list, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("decoding jobs: unexpected reply %T", raw)
	}
	jobs := make([]*store.Job, 0, len(list))
	for _, item := range list {
		j, err := decodeIDJob(item)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// The error replies of the scripts.
const (
	replyNotFound = "BOILER_NOTFOUND"
	replyRunning  = "BOILER_RUNNING"
	// replyDepMissing is followed by the entry and the id of a dependency
	// that does not exist (see insertError).
	replyDepMissing = "BOILER_DEPMISSING"
)

// interpretError turns Redis's "no such key" and the scripts' error replies
// into the store's errors; the one place that knows them.
func interpretError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, goredis.Nil) {
		return store.ErrNotFound
	}
	var rerr goredis.Error
	if errors.As(err, &rerr) {
		msg := rerr.Error()
		switch {
		case strings.Contains(msg, replyNotFound):
			return store.ErrNotFound
		case strings.Contains(msg, replyRunning):
			return store.ErrJobRunning
		}
	}
	return err
}

// decodeMicros is the time us microseconds after the Unix epoch, in UTC.
func decodeMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
