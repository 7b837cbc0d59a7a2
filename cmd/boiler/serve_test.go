package main

import (
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/doubleboiler/boiler/httpapi"
)

func TestServeDefaultAddr(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if got := defaultWebAddr(env(nil)); got != "127.0.0.1:5000" {
		t.Errorf("without PORT: %q, want 127.0.0.1:5000", got)
	}
	if got := defaultWebAddr(env(map[string]string{"PORT": "8123"})); got != ":8123" {
		t.Errorf("with PORT=8123: %q, want :8123", got)
	}
}

func TestServeRefusesAPublicAddressWithoutAuth(t *testing.T) {
	t.Parallel()
	none := webAuth{}
	for _, addr := range []string{"0.0.0.0:5000", ":5000", "[::]:5000", "192.0.2.7:80", "example.com:80"} {
		err := checkListenAddr(addr, none)
		if err == nil {
			t.Errorf("%s without auth: no error", addr)
			continue
		}
		for _, want := range []string{"refusing", addr, "without authentication", "BOILER_DASHBOARD_PASSWORD", "BOILER_API_TOKEN", "127.0.0.1"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q does not say %q", addr, err, want)
			}
		}
	}
	for _, addr := range []string{"127.0.0.1:5000", "localhost:5000", "[::1]:5000", "127.0.0.2:1"} {
		if err := checkListenAddr(addr, none); err != nil {
			t.Errorf("%s (loopback) without auth: %v", addr, err)
		}
	}
	for _, auth := range []webAuth{{password: "pw"}, {token: "tok"}} {
		if err := checkListenAddr("0.0.0.0:5000", auth); err != nil {
			t.Errorf("0.0.0.0 with %+v: %v", auth, err)
		}
	}
	if err := checkListenAddr("5000", none); err == nil || !strings.Contains(err.Error(), "host:port") {
		t.Errorf("a bad address: %v, want an error asking for host:port", err)
	}
}

func TestServeSecret(t *testing.T) {
	t.Parallel()
	a, err := loadWebAuth(func(string) string { return "" })
	if err != nil || !a.randomSecret || len(a.secret) < 32 {
		t.Fatalf("no BOILER_SECRET: %+v, %v; want a random secret of 32+ bytes", a, err)
	}
	b, _ := loadWebAuth(func(string) string { return "" })
	if string(a.secret) == string(b.secret) {
		t.Error("two random secrets are equal")
	}
	env := map[string]string{"BOILER_SECRET": "0123456789abcdef-secret", "BOILER_API_TOKEN": "tok", "BOILER_DASHBOARD_PASSWORD": "pw"}
	c, err := loadWebAuth(func(k string) string { return env[k] })
	if err != nil || c.randomSecret || string(c.secret) != env["BOILER_SECRET"] || c.token != "tok" || c.password != "pw" {
		t.Errorf("from the environment: %+v, %v", c, err)
	}
	if _, err := loadWebAuth(func(k string) string { return map[string]string{"BOILER_SECRET": "short"}[k] }); err == nil || !strings.Contains(err.Error(), "BOILER_SECRET") {
		t.Errorf("a short BOILER_SECRET: %v, want an error naming it", err)
	}
}

// envOf returns a getenv reading m.
func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestServeCommandRefusesEveryInterfaceWithoutAuth(t *testing.T) {
	t.Parallel()
	root := &cobra.Command{Use: "boiler", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(newServeCmdEnv(envOf(nil)))
	root.SetArgs([]string{"serve", "--addr", "0.0.0.0:0", "--store", "sqlite://" + filepath.Join(t.TempDir(), "jobs.db")})
	root.SetOut(io.Discard)
	err := root.ExecuteContext(t.Context())
	if err == nil || !strings.Contains(err.Error(), "without authentication") || !strings.Contains(err.Error(), "BOILER_DASHBOARD_PASSWORD") {
		t.Fatalf("serve --addr 0.0.0.0:0 without auth: %v; want a refusal that says why and what to set", err)
	}
}

// request sends one request with optional basic auth and CSRF token and
// returns the status and body.
func request(t *testing.T, method, url, password, csrf, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if password != "" {
		req.SetBasicAuth("ada", password)
	}
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestServeDashboardAndAPIShareAuthAndCSRF runs serve with a password on
// every interface: the dashboard needs the password like the API, and the
// CSRF token the page carries is the one the API accepts.
func TestServeDashboardAndAPIShareAuthAndCSRF(t *testing.T) {
	t.Parallel()
	env := map[string]string{"BOILER_DASHBOARD_PASSWORD": "pw-123", "BOILER_SECRET": "a-secret-of-enough-length"}
	p := runInProcess(t, newServeCmdEnv(envOf(env)), "serve", "--addr", "0.0.0.0:0", "--store", "sqlite://"+filepath.Join(t.TempDir(), "jobs.db"))
	base := p.baseURL(t)
	if strings.Contains(p.out.String(), "BOILER_SECRET is not set") {
		t.Errorf("warned of a random secret although BOILER_SECRET is set:\n%s", p.out)
	}

	if code, _ := request(t, "GET", base+"/", "", "", ""); code != http.StatusUnauthorized {
		t.Errorf("GET / without the password: %d, want 401", code)
	}
	if code, _ := request(t, "GET", base+"/", "wrong", "", ""); code != http.StatusUnauthorized {
		t.Errorf("GET / with a wrong password: %d, want 401", code)
	}
	code, page := request(t, "GET", base+"/", "pw-123", "", "")
	m := regexp.MustCompile(`<meta name="csrf-token" content="([0-9a-f]+)">`).FindStringSubmatch(page)
	if code != http.StatusOK || m == nil {
		t.Fatalf("GET / with the password: %d, and no CSRF meta tag in:\n%s", code, page)
	}
	if want := httpapi.CSRFToken([]byte(env["BOILER_SECRET"]), "ada"); m[1] != want {
		t.Errorf("the page's CSRF token %s is not the API's for this session (%s)", m[1], want)
	}
	job := `{"kind": "noop", "args": {"i": 1}}`
	if code, body := request(t, "POST", base+"/api/jobs", "pw-123", "", job); code != http.StatusForbidden {
		t.Errorf("POST /api/jobs without the CSRF token: %d %s, want 403", code, body)
	}
	if code, body := request(t, "POST", base+"/api/jobs", "pw-123", m[1], job); code != http.StatusCreated {
		t.Errorf("POST /api/jobs with the page's CSRF token: %d %s, want 201", code, body)
	}
	if code, _ := request(t, "GET", base+"/healthz", "", "", ""); code != http.StatusOK {
		t.Errorf("GET /healthz without auth: %d, want 200", code)
	}
	if err := p.stop(t); err != nil {
		t.Errorf("serve after SIGTERM: %v, want a clean stop", err)
	}
}

func TestServeWarnsOfARandomSecret(t *testing.T) {
	t.Parallel()
	p := runInProcess(t, newServeCmdEnv(envOf(nil)), "serve", "--addr", "127.0.0.1:0", "--store", "sqlite://"+filepath.Join(t.TempDir(), "jobs.db"))
	base := p.baseURL(t)
	if !strings.Contains(p.out.String(), "BOILER_SECRET is not set") {
		t.Errorf("no warning of the random secret:\n%s", p.out)
	}
	if code, _ := request(t, "GET", base+"/assets/dashboard.js", "", "", ""); code != http.StatusOK {
		t.Errorf("GET /assets/dashboard.js on loopback without auth: %d, want 200", code)
	}
}
