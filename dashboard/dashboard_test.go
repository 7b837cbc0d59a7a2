package dashboard_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/doubleboiler/boiler/dashboard"
)

// get serves one GET request and returns the response and its body.
func get(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	res := rec.Result()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

func newDashboard(t *testing.T, opts *dashboard.Options) http.Handler {
	t.Helper()
	h, err := dashboard.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestDashboardRendersCSRFMetaTag(t *testing.T) {
	t.Parallel()
	h := newDashboard(t, &dashboard.Options{
		// The token depends on the request (the session), and is escaped.
		CSRFToken: func(r *http.Request) string { return "tok-" + r.Header.Get("X-Session") + `"<x>` },
		Demo:      true,
	})
	for _, path := range []string{"/", "/demo"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("X-Session", "s1")
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: status %d, body %s", path, rec.Code, rec.Body)
		}
		want := `<meta name="csrf-token" content="tok-s1&#34;&lt;x&gt;">`
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("GET %s: the page lacks %s:\n%s", path, want, rec.Body)
		}
		if got := rec.Header().Get("Cache-Control"); got != "no-store" {
			t.Errorf("GET %s: Cache-Control %q, want no-store (the page carries a token)", path, got)
		}
		if got := rec.Header().Get("Content-Security-Policy"); !strings.Contains(got, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q, want default-src 'self' (nothing from a CDN)", path, got)
		}
	}
}

// TestDashboardServesEveryReferencedAsset follows each page's <script> and
// <link> references: every one is served from the embedded files, and
// none points off the server.
func TestDashboardServesEveryReferencedAsset(t *testing.T) {
	t.Parallel()
	h := newDashboard(t, &dashboard.Options{CSRFToken: func(*http.Request) string { return "t" }, Demo: true})
	ref := regexp.MustCompile(`(?:src|href)="([^"#]+)"`)
	wantType := map[string]string{".js": "text/javascript", ".css": "text/css"}
	seen := 0
	for _, page := range []string{"/", "/demo"} {
		_, body := get(t, h, page)
		for _, m := range ref.FindAllStringSubmatch(body, -1) {
			u := m[1]
			if !strings.HasPrefix(u, "/") || strings.HasPrefix(u, "//") {
				t.Errorf("%s references %q, off this server", page, u)
				continue
			}
			if !strings.HasPrefix(u, "/assets/") {
				continue // a link to another page or the API
			}
			seen++
			res, asset := get(t, h, u)
			if res.StatusCode != http.StatusOK || len(asset) < 100 {
				t.Errorf("GET %s (from %s): status %d, %d bytes", u, page, res.StatusCode, len(asset))
			}
			ext := u[strings.LastIndex(u, "."):]
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, wantType[ext]) {
				t.Errorf("GET %s: Content-Type %q, want %s", u, ct, wantType[ext])
			}
		}
	}
	if seen < 4 {
		t.Errorf("found %d asset references in the pages, want at least 4 (css, common, dashboard, demo)", seen)
	}
	if res, _ := get(t, h, "/assets/nothing.js"); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /assets/nothing.js: status %d, want 404", res.StatusCode)
	}
}

func TestDashboardDemoPageOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	h := newDashboard(t, &dashboard.Options{CSRFToken: func(*http.Request) string { return "t" }})
	if res, _ := get(t, h, "/demo"); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /demo without Options.Demo: status %d, want 404", res.StatusCode)
	}
	res, body := get(t, h, "/")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "<title>boiler · dashboard</title>") {
		t.Errorf("GET /: status %d, want 200 with the default title; body:\n%s", res.StatusCode, body)
	}
	if res, _ := get(t, h, "/elsewhere"); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /elsewhere: status %d, want 404", res.StatusCode)
	}
}

func TestDashboardOptionsNameTheBadField(t *testing.T) {
	t.Parallel()
	for _, opts := range []*dashboard.Options{nil, {Title: "x"}} {
		_, err := dashboard.New(opts)
		if err == nil || !strings.Contains(err.Error(), "CSRFToken") {
			t.Errorf("New(%+v): error %v, want one naming CSRFToken", opts, err)
		}
	}
}

// TestDashboardAssetsServedWithoutTheSourceDir serves the pages and assets
// from a directory without the sources: everything is embedded. (Not
// parallel: it changes the working directory.)
func TestDashboardAssetsServedWithoutTheSourceDir(t *testing.T) {
	t.Chdir(t.TempDir())
	h := newDashboard(t, &dashboard.Options{CSRFToken: func(*http.Request) string { return "t" }, Demo: true})
	for _, path := range []string{"/", "/demo", "/assets/style.css", "/assets/common.js", "/assets/dashboard.js", "/assets/demo.js"} {
		if res, body := get(t, h, path); res.StatusCode != http.StatusOK || len(body) < 500 {
			t.Errorf("GET %s from an empty directory: status %d, %d bytes", path, res.StatusCode, len(body))
		}
	}
}
