// Package storeurl opens a [store.Store] from a URL, so every command and
// program chooses its backend the same way:
//
//	sqlite:///abs/path.db      an SQLite file at an absolute path
//	sqlite://relative.db       an SQLite file relative to the working directory
//	sqlite://x.db?busy_timeout=10s&max_readers=8
//	postgres://user:pw@host/db PostgreSQL (also postgresql://)
//	postgres://h/db?boiler_schema=myapp  the schema of the tables (default "boiler")
//	redis://host:6379/0        Redis (also rediss:// for TLS)
//	rediss://h?boiler_prefix=app:&skip_verify=true  key prefix; accept a self-signed certificate
//	env:DATABASE_URL           the URL held by an environment variable
//	env:REDIS_URL?skip_verify=true  the same, with parameters added
//
// The env: form lets a platform add-on's variable (DATABASE_URL, REDIS_URL)
// name the store without copying its secret into a Procfile or a config
// file. Errors never show a URL's password.
package storeurl

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/doubleboiler/boiler/store"
)

const (
	// EnvVar is the environment variable [Resolve] reads when no flag
	// value is given.
	EnvVar = "BOILER_STORE_URL"
	// DefaultURL is the store used when neither a flag nor [EnvVar] names
	// one: an SQLite file in the working directory.
	DefaultURL = "sqlite://boiler.db"
)

// envPrefix starts a URL that names an environment variable holding the
// real URL.
const envPrefix = "env:"

// Schemes returns the URL schemes [Open] understands, env included.
func Schemes() []string {
	return []string{"sqlite", "postgres", "postgresql", "redis", "rediss", "env"}
}

// Resolve chooses the store URL: flagValue when it is not empty, else the
// BOILER_STORE_URL variable, else [DefaultURL]. An env:VAR URL is replaced
// by the value of VAR. The result is checked (its scheme is known and it
// parses), and an error says where the bad URL came from. getenv is
// usually os.Getenv.
func Resolve(flagValue string, getenv func(string) string) (string, error) {
	raw, source := strings.TrimSpace(flagValue), "--store"
	if raw == "" {
		raw, source = strings.TrimSpace(getenv(EnvVar)), "$"+EnvVar
	}
	if raw == "" {
		raw, source = DefaultURL, "the default store URL"
	}
	resolved, err := expand(raw, getenv)
	if err != nil {
		return "", fmt.Errorf("%s: %w", source, err)
	}
	if _, err := check(resolved); err != nil {
		return "", fmt.Errorf("%s: %w", source, err)
	}
	return resolved, nil
}

// Open opens the store rawURL names (an env:VAR URL is read from the
// process environment). It does not migrate: call the store's Migrate
// when the schema may be missing or old. The caller closes the store.
func Open(ctx context.Context, rawURL string) (store.Store, error) {
	raw, err := expand(strings.TrimSpace(rawURL), os.Getenv)
	if err != nil {
		return nil, err
	}
	scheme, err := check(raw)
	if err != nil {
		return nil, err
	}
	switch scheme {
	case "sqlite":
		return openSQLite(raw)
	case "postgres", "postgresql":
		return openPostgres(ctx, raw)
	case "redis", "rediss":
		return openRedis(ctx, raw)
	}
	// check accepts only the schemes above.
	return nil, urlError(raw, fmt.Errorf("scheme %q has no opener", scheme))
}

// expand replaces an env:VAR URL by the value of VAR. Other URLs are
// returned unchanged. Query parameters after the name are added to the
// variable's URL (replacing any of the same name), so a platform's variable
// can be used as it is and still take boiler's options:
// env:REDIS_URL?skip_verify=true. References do not nest: a variable
// holding another env: URL is an error, so a loop cannot happen.
func expand(raw string, getenv func(string) string) (string, error) {
	if !hasPrefixFold(raw, envPrefix) {
		return raw, nil
	}
	name, extra, hasExtra := strings.Cut(raw[len(envPrefix):], "?")
	if !validEnvName(name) {
		return "", fmt.Errorf("store URL %q: want env:NAME or env:NAME?param=value, NAME being an environment variable (letters, digits, _)", Redact(raw))
	}
	value := strings.TrimSpace(getenv(name))
	if value == "" {
		return "", fmt.Errorf("store URL %q: environment variable %s is not set", raw, name)
	}
	if hasPrefixFold(value, envPrefix) {
		return "", fmt.Errorf("store URL %q: variable %s holds another env: URL; env: does not nest", raw, name)
	}
	if !hasExtra {
		return value, nil
	}
	params, err := url.ParseQuery(extra)
	if err != nil {
		return "", fmt.Errorf("store URL %q: parameters after the variable name: %w", raw, err)
	}
	u, err := url.Parse(value)
	if err != nil {
		return "", urlError(value, fmt.Errorf("from variable %s: %w", name, err))
	}
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// check validates raw without opening it and returns its scheme, in lower
// case.
func check(raw string) (string, error) {
	scheme, err := schemeOf(raw)
	if err != nil {
		return "", err
	}
	switch scheme {
	case "sqlite":
		_, _, err = parseSQLite(raw)
	case "postgres", "postgresql", "redis", "rediss":
		err = checkNetworkURL(raw)
	case "env":
		err = urlError(raw, errors.New("env: must be resolved first (use Resolve or Open)"))
	default:
		err = urlError(raw, fmt.Errorf("unknown scheme %q (supported: %s)", scheme, supported()))
	}
	if err != nil {
		return "", err
	}
	return scheme, nil
}

// schemeOf returns raw's scheme in lower case, or an error when raw does
// not start with one.
func schemeOf(raw string) (string, error) {
	if raw == "" {
		return "", fmt.Errorf("store URL is empty (supported schemes: %s)", supported())
	}
	colon := strings.IndexByte(raw, ':')
	if colon <= 0 || !validScheme(raw[:colon]) {
		return "", urlError(raw, fmt.Errorf("missing scheme: want for example %s (supported: %s)", DefaultURL, supported()))
	}
	return strings.ToLower(raw[:colon]), nil
}

// checkNetworkURL checks that a server URL (PostgreSQL, Redis) parses and
// names a host. The parser's own message is left out when the URL holds a
// secret, because it may quote a piece of it (an "invalid port" that is
// part of a password containing a slash).
func checkNetworkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		if Redact(raw) != raw {
			return urlError(raw, errors.New("malformed URL (characters such as @ : / ? # in a password must be percent-encoded)"))
		}
		return urlError(raw, fmt.Errorf("malformed URL: %w", err))
	}
	if u.Opaque != "" {
		return urlError(raw, fmt.Errorf("want %s://host/..., with two slashes", strings.ToLower(u.Scheme)))
	}
	return nil
}

// urlError wraps err with the URL it is about, its password hidden.
func urlError(raw string, err error) error {
	return fmt.Errorf("store URL %q: %w", Redact(raw), err)
}

// supported lists the schemes for an error message.
func supported() string {
	s := Schemes()
	for i := range s {
		s[i] += ":"
	}
	return strings.Join(s, ", ")
}

// validScheme reports whether s is a URL scheme (RFC 3986: a letter, then
// letters, digits, +, - or .).
func validScheme(s string) bool {
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// validEnvName reports whether s is a portable environment variable name.
func validEnvName(s string) bool {
	for i, c := range s {
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && c >= '0' && c <= '9':
		default:
			return false
		}
	}
	return s != ""
}

// hasPrefixFold is strings.HasPrefix ignoring ASCII case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
