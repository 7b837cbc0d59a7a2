package postgres

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// URL query parameters Open reads and removes before the URL reaches the
// driver (which would send them to the server as settings), for callers
// that only pass a URL (the CLI's --store).
const (
	// SchemaParam names the store's schema: Options.Schema.
	SchemaParam = "boiler_schema"
	// SynchronousAcksParam, "true" or "false", is Options.SynchronousAcks.
	SynchronousAcksParam = "boiler_synchronous_acks"
)

// urlOptions are the Options a URL's parameters set.
type urlOptions struct {
	schema          string
	synchronousAcks bool
}

// splitURLOptions returns dsn without its boiler_ parameters, and what
// they say. A "key=value" connection string has no URL parameters and is
// returned as is. An unknown boiler_ parameter is an error (a typo would
// otherwise reach the server).
func splitURLOptions(dsn string) (rest string, opts urlOptions, err error) {
	scheme, _, ok := strings.Cut(dsn, "://")
	if !ok || !strings.EqualFold(scheme, "postgres") && !strings.EqualFold(scheme, "postgresql") {
		return dsn, opts, nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", opts, fmt.Errorf("postgres: parsing the connection URL: %w", redactURLError(err))
	}
	// Walk the raw query, keeping the other parameters exactly as
	// written: re-encoding would turn %20 into +, which the driver does
	// not read as a space.
	var kept []string
	seen := make(map[string]bool)
	for _, part := range strings.Split(u.RawQuery, "&") {
		rawKey, rawValue, _ := strings.Cut(part, "=")
		key, kerr := url.QueryUnescape(rawKey)
		if kerr != nil || !strings.HasPrefix(key, "boiler_") {
			kept = append(kept, part)
			continue
		}
		value, verr := url.QueryUnescape(rawValue)
		switch {
		case verr != nil:
			return "", opts, fmt.Errorf("postgres: the URL's %s parameter: %w", key, verr)
		case seen[key]:
			return "", opts, fmt.Errorf("postgres: the URL's %s parameter is given twice", key)
		}
		seen[key] = true
		switch key {
		case SchemaParam:
			if value == "" {
				return "", opts, fmt.Errorf("postgres: the URL's %s parameter is empty", key)
			}
			opts.schema = value
		case SynchronousAcksParam:
			b, err := strconv.ParseBool(value)
			if err != nil {
				return "", opts, fmt.Errorf("postgres: the URL's %s parameter is %q, want true or false", key, value)
			}
			opts.synchronousAcks = b
		default:
			return "", opts, fmt.Errorf("postgres: unknown URL parameter %s (known: %s, %s)", key, SchemaParam, SynchronousAcksParam)
		}
	}
	u.RawQuery = strings.Join(kept, "&")
	return u.String(), opts, nil
}

// redactURLError drops the URL (and so its password) from a url.Parse error.
func redactURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
