package storeurl

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mapEnv is a getenv reading from a map.
func mapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestResolve(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		flag    string
		env     map[string]string
		want    string
		wantErr []string // substrings of the error; nil: no error
		hidden  string   // must not appear in the error
	}{
		{name: "flag wins", flag: "sqlite:///tmp/a.db", env: map[string]string{EnvVar: "sqlite://b.db"}, want: "sqlite:///tmp/a.db"},
		{name: "env when no flag", env: map[string]string{EnvVar: "sqlite://b.db"}, want: "sqlite://b.db"},
		{name: "default", want: DefaultURL},
		{name: "blank flag is no flag", flag: "  ", env: map[string]string{EnvVar: "redis://localhost:6379/0"}, want: "redis://localhost:6379/0"},
		{name: "trimmed", flag: " sqlite://x.db\n", want: "sqlite://x.db"},
		{name: "scheme case", flag: "SQLite://x.db", want: "SQLite://x.db"},
		{name: "postgres", flag: "postgres://u:pw@db.example:5432/app?sslmode=require", want: "postgres://u:pw@db.example:5432/app?sslmode=require"},
		{name: "postgresql", flag: "postgresql://localhost/app", want: "postgresql://localhost/app"},
		{name: "rediss", flag: "rediss://:pw@cache.example:6380", want: "rediss://:pw@cache.example:6380"},
		{
			name: "env reference in flag",
			flag: "env:DATABASE_URL",
			env:  map[string]string{"DATABASE_URL": "postgres://u:pw@h/db"},
			want: "postgres://u:pw@h/db",
		},
		{
			name: "env reference in BOILER_STORE_URL",
			env:  map[string]string{EnvVar: "env:REDIS_URL", "REDIS_URL": "redis://h:6379/1"},
			want: "redis://h:6379/1",
		},
		{
			name: "env reference with added parameters",
			flag: "env:REDIS_URL?skip_verify=true&boiler_prefix=app:",
			env:  map[string]string{"REDIS_URL": "rediss://:pw@h:6380?boiler_prefix=old:"},
			want: "rediss://:pw@h:6380?boiler_prefix=app%3A&skip_verify=true",
		},
		{
			name:    "env reference with bad parameters",
			flag:    "env:REDIS_URL?a=%zz",
			env:     map[string]string{"REDIS_URL": "redis://h:6379"},
			wantErr: []string{"--store", "parameters after the variable name"},
		},
		{
			name:    "env reference unset",
			flag:    "env:DATABASE_URL",
			wantErr: []string{"--store", "DATABASE_URL", "not set"},
		},
		{
			name:    "env reference from BOILER_STORE_URL unset",
			env:     map[string]string{EnvVar: "env:REDIS_URL"},
			wantErr: []string{"$BOILER_STORE_URL", "REDIS_URL", "not set"},
		},
		{name: "env without a name", flag: "env:", wantErr: []string{"want env:NAME"}},
		{name: "env with a bad name", flag: "env:A-B", wantErr: []string{"want env:NAME"}},
		{
			name:    "env does not nest",
			flag:    "env:A",
			env:     map[string]string{"A": "env:B", "B": "sqlite://x.db"},
			wantErr: []string{"variable A", "does not nest"},
		},
		{
			name:    "env value is checked",
			flag:    "env:DATABASE_URL",
			env:     map[string]string{"DATABASE_URL": "mysql://u:hunter2@h/db"},
			wantErr: []string{"unknown scheme \"mysql\"", "xxxxx"},
			hidden:  "hunter2",
		},
		{
			name:    "unknown scheme lists the supported ones, password hidden",
			flag:    "mysql://admin:hunter2@db.example/app",
			wantErr: []string{"--store", `"mysql://admin:xxxxx@db.example/app"`, "unknown scheme", "sqlite:", "postgres:", "redis:", "env:"},
			hidden:  "hunter2",
		},
		{name: "bare path", flag: "boiler.db", wantErr: []string{`"boiler.db"`, "missing scheme", "sqlite://boiler.db"}},
		{name: "windows-like path", flag: `C:\jobs.db`, wantErr: []string{"unknown scheme \"c\""}},
		{
			name:    "malformed postgres with an unescaped slash in the password",
			flag:    "postgres://admin:hun/ter2@db.example/app",
			wantErr: []string{"malformed URL", "percent-encoded", "xxxxx"},
			hidden:  "hun",
		},
		{
			name:    "malformed postgres with a space in the password",
			flag:    "postgres://admin:hunter 2@db example/app",
			wantErr: []string{"malformed URL"},
			hidden:  "hunter",
		},
		{name: "malformed redis without a secret shows the reason", flag: "redis://cache:port/0", wantErr: []string{"malformed URL", "invalid port"}},
		{name: "opaque postgres", flag: "postgres:app", wantErr: []string{"two slashes"}},
		{
			name:    "password parameter hidden",
			flag:    "pg://h/db?sslmode=disable&password=hunter2",
			wantErr: []string{"password=xxxxx"},
			hidden:  "hunter2",
		},
		{name: "sqlite without a path", flag: "sqlite://", wantErr: []string{"missing file path", "sqlite:///abs/path.db"}},
		{name: "sqlite root", flag: "sqlite:///", wantErr: []string{"missing file path"}},
		{name: "sqlite opaque", flag: "sqlite:x.db", wantErr: []string{"want sqlite:///abs/path.db"}},
		{name: "sqlite unknown parameter", flag: "sqlite://x.db?cache=shared", wantErr: []string{`unknown parameter "cache"`, "busy_timeout"}},
		{name: "sqlite parameters", flag: "sqlite://x.db?busy_timeout=10s&max_readers=8", want: "sqlite://x.db?busy_timeout=10s&max_readers=8"},
		{name: "sqlite bad busy_timeout", flag: "sqlite://x.db?busy_timeout=10", wantErr: []string{`busy_timeout="10"`, "duration"}},
		{name: "sqlite bad max_readers", flag: "sqlite://x.db?max_readers=0", wantErr: []string{`max_readers="0"`}},
		{name: "sqlite bad escape", flag: "sqlite://x%zz.db", wantErr: []string{"percent-escape"}},
		{name: "bad URL from the variable", env: map[string]string{EnvVar: "nope"}, wantErr: []string{"$BOILER_STORE_URL", "missing scheme"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Resolve(tt.flag, mapEnv(tt.env))
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Resolve(%q) error: %v", tt.flag, err)
				}
				if got != tt.want {
					t.Fatalf("Resolve(%q) = %q, want %q", tt.flag, got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Resolve(%q) = %q, want an error", tt.flag, got)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if tt.hidden != "" && strings.Contains(err.Error(), tt.hidden) {
				t.Errorf("error %q shows the secret %q", err, tt.hidden)
			}
		})
	}
}

func TestParseSQLitePath(t *testing.T) {
	t.Parallel()
	tests := []struct{ url, want string }{
		{"sqlite:///abs/path.db", "/abs/path.db"},
		{"sqlite://relative.db", "relative.db"},
		{"sqlite://data/jobs.db", "data/jobs.db"},
		{"sqlite://./jobs.db", "./jobs.db"},
		{"sqlite://my%20jobs.db", "my jobs.db"},
		{"sqlite://odd:name.db", "odd:name.db"},
		{"SQLITE:///x.db", "/x.db"},
	}
	for _, tt := range tests {
		got, _, err := parseSQLite(tt.url)
		if err != nil {
			t.Errorf("parseSQLite(%q) error: %v", tt.url, err)
			continue
		}
		if got != tt.want {
			t.Errorf("parseSQLite(%q) = %q, want %q", tt.url, got, tt.want)
		}
	}
}

func TestParseSQLiteOptions(t *testing.T) {
	t.Parallel()
	_, opts, err := parseSQLite("sqlite://x.db?busy_timeout=1m30s&max_readers=8")
	if err != nil {
		t.Fatal(err)
	}
	if opts.BusyTimeout != 90*time.Second || opts.MaxReaders != 8 {
		t.Fatalf("options = %+v, want BusyTimeout 1m30s and MaxReaders 8", opts)
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"postgres://user:secret@host:5432/db", "postgres://user:xxxxx@host:5432/db"},
		{"postgres://user@host/db", "postgres://user@host/db"},
		{"redis://:secret@host:6379/0", "redis://:xxxxx@host:6379/0"},
		{"postgres://u:p@ss@host/db", "postgres://u:xxxxx@host/db"},
		{"postgres://u:pa/ss?x#y@host/db", "postgres://u:xxxxx@host/db"},
		{"postgres://host/db?sslmode=disable&password=secret&x=1", "postgres://host/db?sslmode=disable&password=xxxxx&x=1"},
		{"postgres://host/db?PWD=secret", "postgres://host/db?PWD=xxxxx"},
		{"postgres://host/db?passthrough=1", "postgres://host/db?passthrough=1"},
		{"host=h user=u password=secret dbname=d", "host=h user=u password=xxxxx dbname=d"},
		{"sqlite://odd:name.db", "sqlite://odd:name.db"},
		{"sqlite:///tmp/x.db", "sqlite:///tmp/x.db"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestOpenSQLite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jobs.db")
	s, err := Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the SQLite file was not created: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, raw := range []string{"", "nope", "mysql://u:hunter2@h/db", "sqlite://", "env:"} {
		s, err := Open(ctx, raw)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", raw)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q) error %q shows the password", raw, err)
		}
	}
}

// TestOpenEnvReference is not parallel: it sets a process variable.
func TestOpenEnvReference(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "env.db")
	t.Setenv("BOILER_TEST_STOREURL_DB", "sqlite://"+path)
	s, err := Open(ctx, "env:BOILER_TEST_STOREURL_DB")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the variable's SQLite file was not created: %v", err)
	}

	if _, err := Open(ctx, "env:BOILER_TEST_STOREURL_UNSET"); err == nil ||
		!strings.Contains(err.Error(), "BOILER_TEST_STOREURL_UNSET is not set") {
		t.Fatalf("Open(env:unset) error = %v, want one naming the variable", err)
	}
}
