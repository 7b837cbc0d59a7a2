package storeurl

import (
	"strings"
	"testing"
)

// FuzzResolve feeds arbitrary flag values to Resolve: it must not panic,
// what it accepts must pass the check Open makes, and Redact must be
// stable (redacting twice changes nothing more).
func FuzzResolve(f *testing.F) {
	for _, seed := range []string{
		"", "sqlite://boiler.db", "sqlite:///tmp/x.db", "sqlite://a%20b.db?x=1", "sqlite://",
		"postgres://u:p@h:5432/db?sslmode=disable", "postgresql://h/db", "postgres://u:p/q@h/db",
		"redis://:pw@h:6379/0", "rediss://h", "env:DATABASE_URL", "env:", "env:env", "mysql://u:p@h",
		"boiler.db", "://", "x:", "postgres://[::1]:5432/db", "password=secret host=h",
	} {
		f.Add(seed)
	}
	env := mapEnv(map[string]string{"DATABASE_URL": "postgres://u:pw@h/db", "env": "env:env"})
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := Resolve(raw, env)
		if err == nil {
			if _, err := check(got); err != nil {
				t.Fatalf("Resolve(%q) = %q, which check rejects: %v", raw, got, err)
			}
		}
		once := Redact(raw)
		if twice := Redact(once); twice != once {
			t.Fatalf("Redact is not stable: %q -> %q -> %q", raw, once, twice)
		}
	})
}

// FuzzRedactHidesPassword builds URLs with a password and checks that
// neither Redact nor any error Resolve returns shows it. The password is
// framed by markers so that a leak of either end is seen.
func FuzzRedactHidesPassword(f *testing.F) {
	f.Add("postgres", "user", "secret", "host:5432/db")
	f.Add("redis", "", "pw", "h:6379/0")
	f.Add("postgres", "u", "pa/ss", "h/db")
	f.Add("postgres", "u", "p@ss:w?rd#", "h/db?sslmode=disable")
	f.Add("mysql", "a:b", "x y", "h x/db")
	f.Add("sqlite", "u", "", "/x.db")
	f.Add("postgres", "u", "p", "h:bad/db")
	f.Fuzz(func(t *testing.T, scheme, user, pass, rest string) {
		const start, end = "S3cr3tStart", "S3cr3tEnd"
		for _, part := range []string{scheme, user, rest} {
			if strings.Contains(part, "S3cr3t") || strings.Contains(part, "@") {
				// Only the password may hold the markers, and an @ after
				// it would make the user info end later, which is fine but
				// tested elsewhere.
				return
			}
		}
		if strings.ContainsAny(scheme+user, "/?#") {
			return // the user info would not be where the test puts it
		}
		raw := scheme + "://" + user + ":" + start + pass + end + "@" + rest
		msgs := []string{Redact(raw)}
		if _, err := Resolve(raw, mapEnv(nil)); err != nil {
			msgs = append(msgs, err.Error())
		}
		for _, msg := range msgs {
			if strings.Contains(msg, start) || strings.Contains(msg, end) {
				t.Fatalf("%q shows the password of %q", msg, raw)
			}
		}
	})
}
