package redis

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"

	goredis "github.com/redis/go-redis/v9"

	"github.com/doubleboiler/boiler/store"
)

// SchemaVersion is the version of the key layout this package writes. Migrate
// records it under the "schema" key.
const SchemaVersion = 1

// DefaultPrefix starts every key when Options.Prefix is empty.
const DefaultPrefix = "boiler:"

// prefixParam is the URL query parameter Open reads the key prefix from.
const prefixParam = "boiler_prefix"

// Options configure a Store. The zero value (or nil) is ready to use.
type Options struct {
	// Prefix starts the name of every key the store writes, so several
	// apps (or tests) share one Redis database. Two stores on one database
	// must not use prefixes where one starts with the other. Default: the
	// URL's boiler_prefix parameter (for Open), else "boiler:".
	Prefix string

	// InsecureSkipVerify, for a rediss:// URL, accepts any TLS certificate
	// the server presents. Heroku Redis serves self-signed certificates, so
	// a Heroku REDIS_URL needs it (or the URL parameter skip_verify=true).
	// The connection is still encrypted, but not protected from an active
	// man in the middle. Default false: certificates are verified.
	InsecureSkipVerify bool
}

// withDefaults returns a copy of o with every default filled.
func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	return c
}

// Store is a job queue in Redis. It is safe for concurrent use, and many
// processes may share one Redis. Build it with Open or New.
type Store struct {
	client     goredis.UniversalClient
	ownsClient bool
	prefix     string
	keys       []string // the KEYS of every script: the prefix
	scripts    *scripts
	hub        *hub

	closeOnce sync.Once
	closeErr  error
}

// Open connects to the Redis at url (redis://host:port/db, or rediss:// for
// TLS) and returns a Store that owns the connection: Close closes it.
//
// Besides go-redis's own URL parameters (pool_size, dial_timeout,
// skip_verify, ...; see goredis.ParseURL), Open reads boiler_prefix, the
// key prefix used when opts.Prefix is empty:
//
//	redis://127.0.0.1:6379/0?boiler_prefix=myapp:
//	rediss://:secret@host:6380?skip_verify=true
//
// Open pings the server so a wrong address fails here. Its errors never
// show the URL (it may hold a password).
func Open(ctx context.Context, rawURL string, opts *Options) (*Store, error) {
	o := opts.withDefaults()
	cleaned, prefix, err := splitPrefixParam(rawURL)
	if err != nil {
		return nil, err
	}
	if (opts == nil || opts.Prefix == "") && prefix != "" {
		o.Prefix = prefix
	}
	ropts, err := goredis.ParseURL(cleaned)
	if err != nil {
		return nil, fmt.Errorf("parsing redis URL: %w", err)
	}
	if o.InsecureSkipVerify {
		if ropts.TLSConfig == nil {
			return nil, errors.New("redis options: InsecureSkipVerify needs a rediss:// URL (TLS)")
		}
		ropts.TLSConfig.InsecureSkipVerify = true
	}
	client := goredis.NewClient(ropts)
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("connecting to redis at %s: %w", ropts.Addr, err)
	}
	s := New(client, &o)
	s.ownsClient = true
	return s, nil
}

// New returns a Store on a client the caller owns: Close leaves the client
// open. Options.InsecureSkipVerify does not apply (configure the client).
func New(client goredis.UniversalClient, opts *Options) *Store {
	o := opts.withDefaults()
	return &Store{
		client:  client,
		prefix:  o.Prefix,
		keys:    []string{o.Prefix},
		scripts: newScripts(),
		hub:     newHub(client, o.Prefix+"inserts"),
	}
}

// Prefix returns the key prefix of the store.
func (s *Store) Prefix() string { return s.prefix }

// Migrate records the schema version. Redis needs no schema, so this only
// refuses to run against data written by a newer version of this package.
// It is idempotent and safe to call from several processes at once.
func (s *Store) Migrate(ctx context.Context) error {
	key := s.prefix + "schema"
	if err := s.client.SetNX(ctx, key, SchemaVersion, 0).Err(); err != nil {
		return fmt.Errorf("migrating redis store: %w", err)
	}
	v, err := s.client.Get(ctx, key).Int()
	if err != nil {
		return fmt.Errorf("migrating redis store: reading %s: %w", key, err)
	}
	switch {
	case v > SchemaVersion:
		return fmt.Errorf("migrating redis store: %s is version %d, newer than this program's %d", key, v, SchemaVersion)
	case v < SchemaVersion:
		// Future upgrades go here, each step in one script.
		return fmt.Errorf("migrating redis store: %s is version %d, and no upgrade from it exists", key, v)
	}
	return nil
}

// Close stops the insert listeners and, for a Store from Open, closes the
// connection. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.hub.close()
		if s.ownsClient {
			s.closeErr = s.client.Close()
		}
	})
	return s.closeErr
}

// splitPrefixParam removes the boiler_prefix parameter from a Redis URL,
// which go-redis would reject as unknown, and returns it.
func splitPrefixParam(rawURL string) (cleaned, prefix string, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", "", fmt.Errorf("parsing redis URL: %w", errors.Unwrap(err))
	}
	q := u.Query()
	if !q.Has(prefixParam) {
		return rawURL, "", nil
	}
	prefix = q.Get(prefixParam)
	if prefix == "" {
		return "", "", fmt.Errorf("parsing redis URL: %s is empty", prefixParam)
	}
	q.Del(prefixParam)
	u.RawQuery = q.Encode()
	return u.String(), prefix, nil
}

var (
	_ store.Store    = (*Store)(nil)
	_ store.Listener = (*Store)(nil)
)
