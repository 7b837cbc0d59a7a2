package lint

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"
)

// files is a fake file system for ReadFile.
func files(m map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		if s, ok := m[name]; ok {
			return []byte(s), nil
		}
		return nil, fs.ErrNotExist
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		src     string
		opts    Options
		want    []string // each a substring of one finding's String(), in order
		wantSev []Severity
	}{
		{name: "clean", src: "web: gunicorn app:app --timeout 20\nworker: celery -A app worker\n"},
		{name: "syntax", src: "web: gunicorn app:app -t 20\noops\n",
			want: []string{`Procfile:2: error: "oops" is not "name: command"`}, wantSev: []Severity{Error}},
		{name: "empty", src: "# nothing\n", want: []string{"Procfile: error: no process types"}, wantSev: []Severity{Error}},
		{name: "unknown in -m", src: "web: gunicorn app -t 20\nworker: x\n", opts: Options{Formation: "web=1,wrker=2"},
			want: []string{`Procfile: error: -m web=1,wrker=2: unknown process type "wrker" in the formation (the Procfile has: web, worker)`}, wantSev: []Severity{Error}},
		{name: "uvicorn ignores PORT", src: "web: uvicorn app:app --workers 2\n",
			want: []string{"Procfile:1: error: web: uvicorn does not read $PORT", "add --host 0.0.0.0 --port $PORT"}, wantSev: []Severity{Error, Error}},
		{name: "uvicorn with PORT", src: "web: uvicorn app:app --host 0.0.0.0 --port $PORT\n"},
		{name: "gunicorn fixed bind", src: "release: ./migrate\nweb: gunicorn -b 0.0.0.0:8000 app -t 20\n",
			want: []string{`Procfile:2: error: web: gunicorn listens on "0.0.0.0:8000", not on $PORT`, "set --bind 0.0.0.0:$PORT"}, wantSev: []Severity{Error, Error}},
		{name: "unknown server", src: "web: node server.js\n",
			want: []string{`Procfile:1: warning: web: "node server.js" does not mention $PORT`}, wantSev: []Severity{Warning}},
		{name: "gunicorn timeout too long", src: "web: gunicorn app:app --timeout 120\n",
			want: []string{"Procfile:1: error: web: gunicorn --timeout 120 is at or above the router's 30s", "Set --timeout 25"}, wantSev: []Severity{Error, Error}},
		{name: "gunicorn -t equal", src: "web: newrelic-admin run-program gunicorn -t30 app\n",
			want: []string{"gunicorn --timeout 30 is at or above the router's 30s"}, wantSev: []Severity{Error}},
		{name: "gunicorn --timeout=", src: "web: python -m gunicorn --timeout=45 app\n",
			want: []string{"gunicorn --timeout 45 is at or above"}, wantSev: []Severity{Error}},
		{name: "gunicorn default", src: "web: gunicorn app:app\n",
			want: []string{"Procfile:1: error: web: gunicorn's default --timeout is 30s, not below the router's 30s", "Set --timeout 25"}, wantSev: []Severity{Error, Error}},
		{name: "gunicorn default with config", src: "web: gunicorn -c gunicorn.conf.py app\n",
			want: []string{"warning: web: gunicorn's default --timeout is 30s (unless your config file sets timeout)"}, wantSev: []Severity{Warning}},
		{name: "gunicorn timeout 0", src: "web: gunicorn -t 0 app\n",
			want: []string{"--timeout 0 disables the worker timeout"}, wantSev: []Severity{Error}},
		{name: "gevent", src: "web: gunicorn -k gevent --timeout 120 app:app\n",
			want: []string{"Procfile:1: warning: web: with -k gevent, gunicorn's --timeout 120 only checks that a worker is alive: it bounds no request"}, wantSev: []Severity{Warning}},
		{name: "eventlet default", src: "web: gunicorn --worker-class=eventlet app\n",
			want: []string{"with -k eventlet, gunicorn's default --timeout (30s) only checks"}, wantSev: []Severity{Warning}},
		{name: "GUNICORN_CMD_ARGS", src: "web: gunicorn app\n",
			opts: Options{Env: func(k string) (string, bool) { return "--timeout 60 --workers 3", k == "GUNICORN_CMD_ARGS" }},
			want: []string{"gunicorn --timeout 60 is at or above"}, wantSev: []Severity{Error}},
		{name: "command line beats GUNICORN_CMD_ARGS", src: "web: gunicorn app -t 10\n",
			opts: Options{Env: func(k string) (string, bool) { return "--timeout 60", k == "GUNICORN_CMD_ARGS" }}},
		{name: "router timeout", src: "web: gunicorn app -t 45\n", opts: Options{RouterTimeout: time.Minute}},
		{name: "uwsgi harakiri", src: "web: uwsgi --http :$PORT --harakiri 60 --module app\n",
			want: []string{"Procfile:1: error: web: uwsgi --harakiri 60 is at or above the router's 30s", "Set --harakiri 25"}, wantSev: []Severity{Error, Error}},
		{name: "uwsgi harakiri ok", src: "web: uwsgi --http :$PORT --harakiri=20\n"},
		{name: "uwsgi no harakiri", src: "web: uwsgi --http :$PORT\n",
			want: []string{"warning: web: uwsgi without --harakiri never times out a request", "set --harakiri 25"}, wantSev: []Severity{Warning, Warning}},
		{name: "uwsgi ini", src: "web: uwsgi --ini uwsgi.ini --http :$PORT\n"},
		{name: "puma", src: "web: bundle exec puma -C config/puma.rb\n",
			opts: Options{ReadFile: files(map[string]string{"config/puma.rb": "workers 2\nthreads 5, 5\nworker_timeout 60\n"})},
			want: []string{"config/puma.rb:3: error: web: puma worker_timeout 60 is at or above the router's 30s", "Set worker_timeout 25"}, wantSev: []Severity{Error, Error}},
		{name: "puma default config, ok", src: "web: bundle exec puma\n",
			opts: Options{ReadFile: files(map[string]string{"config/puma.rb": "worker_timeout(20)\n"})}},
		{name: "nested boiler start", src: "web: boiler start -f Procfile.local\n",
			opts: Options{File: "app/Procfile", ReadFile: files(map[string]string{"app/Procfile.local": "web: gunicorn app -t 20\nworker: uvicorn x\nclock: gunicorn -t 90 x\n"})},
			want: []string{"app/Procfile.local:3: error: clock: gunicorn --timeout 90"}, wantSev: []Severity{Error}},
		{name: "nested missing", src: "web: boiler start -f Procfile.local\n", opts: Options{ReadFile: files(nil)},
			want: []string{"Procfile:1: error: web: the nested boiler start runs Procfile.local, which cannot be read"}, wantSev: []Severity{Error}},
		{name: "nested self", src: "web: boiler start\n", opts: Options{ReadFile: files(map[string]string{"Procfile": "web: boiler start\n"})}},
	} {
		got := Check([]byte(tc.src), tc.opts)
		var all []string
		for _, f := range got {
			all = append(all, f.String())
		}
		joined := strings.Join(all, "\n")
		if len(tc.want) == 0 && len(got) != 0 {
			t.Errorf("%s: want no findings, got:\n%s", tc.name, joined)
			continue
		}
		for i, w := range tc.want {
			found := false
			for _, f := range got {
				if strings.Contains(f.String(), w) && f.Severity == tc.wantSev[i] {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: no %s finding containing %q in:\n%s", tc.name, tc.wantSev[i], w, joined)
			}
		}
	}
}

func TestFields(t *testing.T) {
	t.Parallel()
	got := strings.Join(fields(`cd app&&gunicorn "my app:wsgi" -b '0.0.0.0:$PORT';echo done || x | y & z`), ",")
	want := "cd,app,&&,gunicorn,my app:wsgi,-b,0.0.0.0:$PORT,;,echo,done,||,x,|,y,&,z"
	if got != want {
		t.Fatalf("fields = %s, want %s", got, want)
	}
	if _, err := seconds("abc"); err == nil {
		t.Fatal(errors.New("seconds(abc) did not fail"))
	}
}

// FuzzCheck checks that Check never panics and that every finding names a
// file and says something.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		"web: gunicorn app -t 120 -k gevent\n",
		"web: boiler start -f Procfile\n",
		"web: uwsgi --harakiri=x\nworker: puma -C\n",
		"web: gunicorn '-b 0.0.0.0:8000\" app\n",
		"web: a && b || c ; d | e & f\n",
		"bad\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		read := files(map[string]string{"Procfile": src, "config/puma.rb": "worker_timeout 60\n"})
		for _, finding := range Check([]byte(src), Options{ReadFile: read, Formation: "web=1"}) {
			if finding.File == "" || finding.Message == "" {
				t.Fatalf("finding without a file or a message: %+v", finding)
			}
		}
	})
}
