package postgres

import (
	"fmt"
	"log/slog"
)

// DefaultSchema is the schema the store's tables live in when
// Options.Schema is empty.
const DefaultSchema = "boiler"

// maxSchemaLen keeps the notification channel name (schema +
// channelSuffix) within PostgreSQL's 63-byte identifier limit.
const maxSchemaLen = 63 - len(channelSuffix)

// Options configure a Store. The zero value (or a nil *Options) gives the
// defaults.
type Options struct {
	// Schema is the PostgreSQL schema that holds the store's tables,
	// created by Migrate. Stores with different schemas in one database
	// are independent queues (tests use a random schema each). Letters,
	// digits and underscores, at most 49 bytes. Default "boiler"; with
	// Open, the URL's boiler_schema parameter when this is empty.
	Schema string

	// SynchronousAcks makes fetches and outcomes (completions, retries,
	// ...) wait for their commit to be flushed to disk, as inserts always
	// do. Default false: they commit with synchronous_commit = off, which
	// takes a disk flush (milliseconds on most disks) off every fetch and
	// every batch of outcomes. What that risks: a crash of the database's
	// machine (not of PostgreSQL alone, not of a worker) can forget the
	// last fraction of a second of leases and outcomes. Those jobs then run
	// again, as after any lost lease (delivery is at least once); no job
	// is lost, since inserts are always synchronous. With the URL, the
	// boiler_synchronous_acks=true parameter sets it.
	SynchronousAcks bool

	// Logger receives the store's rare background events (the insert
	// listener losing its connection). Default slog.Default().
	Logger *slog.Logger
}

// withDefaults returns a copy of o (nil allowed) with every zero field
// set to its default.
func (o *Options) withDefaults() Options {
	var out Options
	if o != nil {
		out = *o
	}
	if out.Schema == "" {
		out.Schema = DefaultSchema
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	return out
}

// validate reports the first bad field of o, by name.
func (o *Options) validate() error {
	if len(o.Schema) > maxSchemaLen {
		return fmt.Errorf("postgres: Options.Schema %q: longer than %d bytes", o.Schema, maxSchemaLen)
	}
	if !plainIdentifier(o.Schema) {
		return fmt.Errorf("postgres: Options.Schema %q: must be letters, digits and underscores, not starting with a digit", o.Schema)
	}
	return nil
}

// plainIdentifier reports whether s is a plain SQL identifier: letters,
// digits and underscores, not starting with a digit. Requiring it keeps the
// schema usable unquoted in psql and in the channel name.
func plainIdentifier(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, c := range []byte(s) {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
