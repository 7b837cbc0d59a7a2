// Package dashboard serves the web UI of boiler: queues at a glance with a
// live jobs/s chart, jobs by state (waiting included) with search by
// queue, kind and workflow and paging, a job's detail with its workflow
// and dependencies and retry, cancel and delete, workers with their
// heartbeats, periodic jobs with their next and last runs (and delete),
// processes and the autoscaler's decisions. The page talks to the JSON API (package httpapi) and follows
// its server-sent events; it has no server-side logic of its own beyond
// rendering the CSRF token into the page.
//
// Every asset (HTML, CSS, JavaScript) is embedded in the binary with
// go:embed: building boiler needs no Node toolchain, and the page loads
// nothing from the network but the API.
package dashboard

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"time"
)

//go:embed assets
var assets embed.FS

// Options configure the dashboard's [New] handler.
type Options struct {
	// CSRFToken returns the token the page sends back in the X-CSRF-Token
	// header of its mutating API calls (retry, cancel, delete, pause,
	// enqueue). It is rendered into <meta name="csrf-token"> of every
	// page. Required: the API refuses the page's changes without it.
	CSRFToken func(r *http.Request) string
	// Title is shown in the page's title and header. Default "boiler".
	Title string
	// Demo adds the demo page at /demo (the one `boiler demo` serves).
	// Default false: /demo is not found.
	Demo bool
}

// withDefaults returns a copy of o with defaults filled, or an error
// naming the first bad field.
func (o *Options) withDefaults() (Options, error) {
	if o == nil {
		return Options{}, errors.New("dashboard: options are nil (CSRFToken is required)")
	}
	out := *o
	if out.CSRFToken == nil {
		return Options{}, errors.New("dashboard: Options.CSRFToken is nil")
	}
	if out.Title == "" {
		out.Title = "boiler"
	}
	return out, nil
}

// page is what a page template is rendered with.
type page struct {
	Title     string
	CSRFToken string
}

// handler serves the pages and the assets.
type handler struct {
	opts  Options
	pages *template.Template
	mux   *http.ServeMux
}

// New returns the dashboard's handler. It serves:
//
//	GET /           the dashboard
//	GET /demo       the demo page (when Options.Demo is set)
//	GET /assets/... the embedded CSS and JavaScript
//
// Mount it at the root of a server beside the JSON API's /api/ routes.
// The handler does no authentication: put it behind the same check as
// the API.
func New(opts *Options) (http.Handler, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	pages, err := template.ParseFS(assets, "assets/*.html")
	if err != nil {
		return nil, fmt.Errorf("dashboard: parsing the page templates: %w", err)
	}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	h := &handler{opts: o, pages: pages, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /{$}", h.page("index.html"))
	if o.Demo {
		h.mux.HandleFunc("GET /demo", h.page("demo.html"))
	}
	h.mux.Handle("GET /assets/", http.StripPrefix("/assets/", cacheFor(5*time.Minute, http.FileServerFS(static))))
	return h, nil
}

// ServeHTTP implements [http.Handler].
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// page renders the named page template with the request's CSRF token.
func (h *handler) page(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		err := h.pages.ExecuteTemplate(&buf, name, page{Title: h.opts.Title, CSRFToken: h.opts.CSRFToken(r)})
		if err != nil {
			http.Error(w, "dashboard: rendering "+name+": "+err.Error(), http.StatusInternalServerError)
			return
		}
		hd := w.Header()
		hd.Set("Content-Type", "text/html; charset=utf-8")
		hd.Set("Cache-Control", "no-store") // the page carries a per-session token
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
		_, _ = w.Write(buf.Bytes())
	}
}

// cacheFor lets browsers keep the assets for d.
func cacheFor(d time.Duration, next http.Handler) http.Handler {
	v := fmt.Sprintf("public, max-age=%d", int(d.Seconds()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", v)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

var _ http.Handler = (*handler)(nil)
