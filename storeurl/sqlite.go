package storeurl

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/sqlite"
)

// sqliteForms is the hint given with a malformed sqlite URL.
const sqliteForms = "want sqlite:///abs/path.db or sqlite://relative/path.db"

// openSQLite opens the SQLite file an sqlite:// URL names.
func openSQLite(raw string) (store.Store, error) {
	path, opts, err := parseSQLite(raw)
	if err != nil {
		return nil, err
	}
	s, err := sqlite.Open(path, opts)
	if err != nil {
		return nil, urlError(raw, fmt.Errorf("opening SQLite: %w", err))
	}
	return s, nil
}

// parseSQLite returns the file path and options of an sqlite:// URL.
// Everything after the two slashes up to an optional ? is the path,
// percent-decoded: a third slash makes it absolute, otherwise it is
// relative to the working directory. A URL parser is not used because it
// would read the first path segment as a host (and reject a colon in a
// file name). The query may set busy_timeout (a Go duration) and
// max_readers (an integer).
func parseSQLite(raw string) (string, *sqlite.Options, error) {
	const prefix = "sqlite://"
	if !hasPrefixFold(raw, prefix) {
		return "", nil, urlError(raw, errors.New(sqliteForms))
	}
	rest, query, _ := strings.Cut(raw[len(prefix):], "?")
	path, err := url.PathUnescape(rest)
	if err != nil {
		return "", nil, urlError(raw, fmt.Errorf("bad percent-escape in the path: %s", sqliteForms))
	}
	if path == "" || path == "/" {
		return "", nil, urlError(raw, fmt.Errorf("missing file path: %s", sqliteForms))
	}
	opts, err := sqliteOptions(query)
	if err != nil {
		return "", nil, urlError(raw, err)
	}
	return path, opts, nil
}

// sqliteOptions reads an sqlite:// URL's query.
func sqliteOptions(query string) (*sqlite.Options, error) {
	params, err := url.ParseQuery(query)
	if err != nil {
		return nil, errors.New("malformed query")
	}
	opts := &sqlite.Options{}
	for key, values := range params {
		value := values[len(values)-1]
		switch key {
		case "busy_timeout":
			d, err := time.ParseDuration(value)
			if err != nil || d < 0 {
				return nil, fmt.Errorf("busy_timeout=%q: want a duration such as 5s", value)
			}
			opts.BusyTimeout = d
		case "max_readers":
			n, err := strconv.Atoi(value)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("max_readers=%q: want a positive integer", value)
			}
			opts.MaxReaders = n
		default:
			return nil, fmt.Errorf("unknown parameter %q (sqlite:// takes busy_timeout, max_readers)", key)
		}
	}
	return opts, nil
}
