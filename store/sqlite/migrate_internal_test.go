package sqlite

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadMigrations(t *testing.T) {
	t.Parallel()
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatalf("embedded migrations: %v", err)
	}
	for i, m := range ms {
		if m.version != i+1 {
			t.Errorf("embedded migration %d is %s (version %d): versions must be 1, 2, 3...", i, m.name, m.version)
		}
	}

	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	got, err := loadMigrations(fstest.MapFS{
		"migrations/0002_b.sql": file("B"),
		"migrations/0001_a.sql": file("A"),
	})
	if err != nil || len(got) != 2 || got[0].sql != "A" || got[1].sql != "B" {
		t.Fatalf("loadMigrations sorts by version: got %+v, %v", got, err)
	}

	for name, fsys := range map[string]fstest.MapFS{
		"0001_a.sql and 1_b.sql": {"migrations/0001_a.sql": file(""), "migrations/1_b.sql": file("")},
		"noversion.sql":          {"migrations/noversion.sql": file("")},
		"0001_a.txt":             {"migrations/0001_a.txt": file("")},
		"0000_zero.sql":          {"migrations/0000_zero.sql": file("")},
	} {
		if _, err := loadMigrations(fsys); err == nil {
			t.Errorf("loadMigrations(%s): no error", name)
		} else if !strings.Contains(err.Error(), "migration") {
			t.Errorf("loadMigrations(%s): error %q does not say which migration", name, err)
		}
	}
}
