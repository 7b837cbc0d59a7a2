package command_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/doubleboiler/boiler/autoscale/command"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSetRunsTheCommandWithBoilerDesired(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tg, err := command.New(command.Options{
		Command: `echo "$BOILER_CURRENT -> $BOILER_DESIRED $APP" >> scale.log`,
		Dir:     dir,
		Env:     []string{"APP=my-app"},
		Initial: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if n, err := tg.Current(ctx); err != nil || n != 1 {
		t.Fatalf("Current before Set: %d, %v; want Initial 1", n, err)
	}
	for _, n := range []int{4, 2} {
		if err := tg.Set(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(filepath.Join(dir, "scale.log"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "1 -> 4 my-app\n4 -> 2 my-app\n"; string(got) != want {
		t.Fatalf("the command wrote %q, want %q", got, want)
	}
	if n, _ := tg.Current(ctx); n != 2 {
		t.Fatalf("Current after Set(2): %d", n)
	}
}

func TestCountCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tg, err := command.New(command.Options{
		Command:      `echo "$BOILER_DESIRED" > count`,
		CountCommand: `cat count 2>/dev/null || echo 0`,
		Dir:          dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if n, err := tg.Current(ctx); err != nil || n != 0 {
		t.Fatalf("Current: %d, %v", n, err)
	}
	if err := tg.Set(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "count"), []byte("9\n"), 0o600); err != nil { // changed elsewhere
		t.Fatal(err)
	}
	if n, err := tg.Current(ctx); err != nil || n != 9 {
		t.Fatalf("Current: %d, %v; want 9 as the count command says", n, err)
	}
	bad, _ := command.New(command.Options{Command: "true", CountCommand: "echo many"})
	if _, err := bad.Current(ctx); err == nil || !strings.Contains(err.Error(), `printed "many"`) {
		t.Fatalf("non-numeric count: %v", err)
	}
}

func TestFailuresAreErrorsAndKeepTheCount(t *testing.T) {
	t.Parallel()
	tg, err := command.New(command.Options{Command: `echo "no such app" >&2; exit 3`, Initial: 2})
	if err != nil {
		t.Fatal(err)
	}
	err = tg.Set(t.Context(), 5)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "no such app") {
		t.Fatalf("failing command: %v", err)
	}
	if n, _ := tg.Current(t.Context()); n != 2 {
		t.Fatalf("count after a failed Set: %d, want 2", n)
	}

	slow, _ := command.New(command.Options{Command: "sleep 30", Timeout: 100 * time.Millisecond})
	start := time.Now()
	if err := slow.Set(t.Context(), 1); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("slow command: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the timeout took %s", d)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		opts command.Options
		want string
	}{
		{command.Options{}, "Command"},
		{command.Options{Command: "true", Initial: -1}, "Initial"},
		{command.Options{Command: "true", Env: []string{"NOEQUALS"}}, "Env entry 1"},
		{command.Options{Command: "true", Timeout: -time.Second}, "Timeout"},
	} {
		if _, err := command.New(c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", c.opts, err, c.want)
		}
	}
	tg, _ := command.New(command.Options{Command: "true"})
	if err := tg.Set(t.Context(), -1); err == nil {
		t.Fatal("negative count: no error")
	}
}
