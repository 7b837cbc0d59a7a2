package postgres

import (
	"fmt"
	"net/url"
	"strings"
)

// SchemaParam is the URL query parameter that names the store's schema,
// for callers that only pass a URL (the CLI's --store). Open removes it
// before the URL reaches the driver, which would send it to the server as
// a setting.
const SchemaParam = "boiler_schema"

// splitSchemaParam returns dsn without the SchemaParam parameter, and that
// parameter's value ("" when absent). A "key=value" connection string has
// no URL parameters and is returned as is.
func splitSchemaParam(dsn string) (rest, schema string, err error) {
	scheme, _, ok := strings.Cut(dsn, "://")
	if !ok || !strings.EqualFold(scheme, "postgres") && !strings.EqualFold(scheme, "postgresql") {
		return dsn, "", nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", "", fmt.Errorf("postgres: parsing the connection URL: %w", redactURLError(err))
	}
	q := u.Query()
	if !q.Has(SchemaParam) {
		return dsn, "", nil
	}
	if len(q[SchemaParam]) > 1 {
		return "", "", fmt.Errorf("postgres: the URL's %s parameter is given %d times", SchemaParam, len(q[SchemaParam]))
	}
	schema = q.Get(SchemaParam)
	if schema == "" {
		return "", "", fmt.Errorf("postgres: the URL's %s parameter is empty", SchemaParam)
	}
	// Drop the parameter from the raw query, leaving the others exactly as
	// written: re-encoding would turn %20 into +, which the driver does
	// not read as a space.
	var kept []string
	for _, part := range strings.Split(u.RawQuery, "&") {
		key, _, _ := strings.Cut(part, "=")
		if k, err := url.QueryUnescape(key); err == nil && k == SchemaParam {
			continue
		}
		kept = append(kept, part)
	}
	u.RawQuery = strings.Join(kept, "&")
	return u.String(), schema, nil
}

// redactURLError drops the URL (and so its password) from a url.Parse error.
func redactURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
