package httpapi_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/httpapi"
	"github.com/doubleboiler/boiler/store"
)

// periodicList returns GET /api/periodic's list.
func periodicList(t *testing.T, b *bundle) []httpapi.Periodic {
	t.Helper()
	var v struct {
		Periodic []httpapi.Periodic `json:"periodic"`
	}
	b.do("GET", "/api/periodic", "").want(t, 200).Decode(t, &v)
	if v.Periodic == nil {
		t.Fatal("GET /api/periodic: periodic is null, want a list")
	}
	return v.Periodic
}

func TestPeriodicCreateListReplaceDeleteSQLite(t *testing.T) {
	t.Parallel()
	periodicLifecycle(t, setup(t, nil))
}

func TestPeriodicCreateListReplaceDeletePostgres(t *testing.T) {
	t.Parallel()
	periodicLifecycle(t, setupOn(t, openPostgres(t), nil))
}

// periodicLifecycle creates, lists, replaces, fires and deletes periodic
// jobs through the API on b's store.
func periodicLifecycle(t *testing.T, b *bundle) {
	if got := periodicList(t, b); len(got) != 0 {
		t.Fatalf("a new store lists %+v", got)
	}

	// Created: the defaults are filled, the source is "api", and the next
	// tick is computed from the spec (no scheduler ran).
	var p httpapi.Periodic
	b.do("POST", "/api/periodic", `{"name":"tidy","spec":"@every 10m","kind":"sleep","args":{"ms":5}}`).want(t, 201).Decode(t, &p)
	now := b.clock.Now()
	if p.Name != "tidy" || p.Spec != "@every 10m" || p.Kind != "sleep" || string(p.Args) != `{"ms":5}` || p.Queue != "default" ||
		p.MaxAttempts != 25 || p.CatchUp != store.CatchUpOnce || p.Source != "api" || !p.CreatedAt.Equal(now) {
		t.Errorf("created %+v", p)
	}
	if want := now.Truncate(10 * time.Minute).Add(10 * time.Minute); !p.NextTick.Equal(want) || !p.NextComputed {
		t.Errorf("next tick %s (computed %v), want %s computed from the spec", p.NextTick, p.NextComputed, want)
	}
	if !p.LastTick.IsZero() || p.LastJobID != 0 {
		t.Errorf("a new periodic job has last tick %s, job %d", p.LastTick, p.LastJobID)
	}

	// Replaced: 200, the new definition, the creation time kept.
	b.clock.Advance(time.Minute)
	b.do("POST", "/api/periodic", `{"name":"tidy","spec":"0 3 * * *","kind":"noop","queue":"low","priority":2,`+
		`"max_attempts":3,"timeout_ms":1500,"catch_up":"skip"}`).want(t, 200).Decode(t, &p)
	if p.Spec != "0 3 * * *" || p.Kind != "noop" || string(p.Args) != `{}` || p.Queue != "low" || p.Priority != 2 || p.MaxAttempts != 3 ||
		p.TimeoutMS != 1500 || p.CatchUp != store.CatchUpSkip || !p.CreatedAt.Equal(now) || !p.UpdatedAt.Equal(now.Add(time.Minute)) {
		t.Errorf("replaced %+v", p)
	}
	if want := time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC); !p.NextTick.Equal(want) {
		t.Errorf("next tick of 0 3 * * * %s, want %s", p.NextTick, want)
	}

	// A tick fired by the scheduler shows as the last run, and its
	// recorded next tick is shown as is.
	tick := time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC)
	fired, err := b.store.PeriodicFire(context.Background(), &store.PeriodicFireParams{
		Name: "tidy", Tick: tick, NextTick: tick.Add(24 * time.Hour), Now: b.clock.Now(),
		Job: &store.JobInsertParams{Kind: "noop", Queue: "low", Args: json.RawMessage(`{}`), MaxAttempts: 3, RunAt: b.clock.Now()},
	})
	must(t, "PeriodicFire", err)
	list := periodicList(t, b)
	if len(list) != 1 || !list[0].LastTick.Equal(tick) || list[0].LastJobID != fired.Job.ID || list[0].LastJobID == 0 ||
		!list[0].NextTick.Equal(tick.Add(24*time.Hour)) || list[0].NextComputed {
		t.Errorf("after a fired tick: %+v, want last tick %s, job %d, next %s as recorded", list, tick, fired.Job.ID, tick.Add(24*time.Hour))
	}

	// A second one, sorted by name; then deleted, one at a time.
	b.do("POST", "/api/periodic", `{"name":"a report","spec":"CRON_TZ=Europe/Paris 0 9 * * 1","kind":"report"}`).want(t, 201)
	if list := periodicList(t, b); len(list) != 2 || list[0].Name != "a report" || list[1].Name != "tidy" {
		t.Fatalf("list %+v, want a report then tidy", list)
	}
	var gone httpapi.Periodic
	b.do("DELETE", "/api/periodic/"+url.PathEscape("a report"), "").want(t, 200).Decode(t, &gone)
	if gone.Name != "a report" || gone.Kind != "report" {
		t.Errorf("DELETE answered %+v, want the deleted job", gone)
	}
	msg := b.do("DELETE", "/api/periodic/"+url.PathEscape("a report"), "").want(t, 404).ErrorMessage(t)
	if !strings.Contains(msg, `periodic job "a report" not found`) {
		t.Errorf("second DELETE: %q", msg)
	}
	if list := periodicList(t, b); len(list) != 1 || list[0].Name != "tidy" {
		t.Errorf("after the delete: %+v", list)
	}
	// The job it enqueued stays.
	if _, err := b.client.JobGet(context.Background(), fired.Job.ID); err != nil {
		t.Errorf("the fired job after deleting its periodic job: %v", err)
	}
}

func TestPeriodicCreateRejectsBadInputNamingTheField(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	_, err := b.store.PeriodicList(context.Background())
	must(t, "PeriodicList", err)
	for _, tc := range []struct{ body, want string }{
		{`{"name":" ","spec":"@daily","kind":"x"}`, "name: is required"},
		{`{"name":"a\u0001b","spec":"@daily","kind":"x"}`, "name: \"a\\x01b\" has the control character"},
		{`{"name":"n","kind":"x"}`, "spec: empty schedule"},
		{`{"name":"n","spec":"61 * * * *","kind":"x"}`, `spec: schedule "61 * * * *": `},
		{`{"name":"n","spec":"* * * *","kind":"x"}`, `want 5 fields`},
		{`{"name":"n","spec":"@every 10ms","kind":"x"}`, "@every needs at least 1s"},
		{`{"name":"n","spec":"0 0 30 2 *","kind":"x"}`, "never fires"},
		{`{"name":"n","spec":"@daily"}`, "kind: is required"},
		{`{"name":"n","spec":"@daily","kind":"x","queue":"a b"}`, "queue: "},
		{`{"name":"n","spec":"@daily","kind":"x","catch_up":"twice"}`, `catch_up: "twice" is not a policy`},
		{`{"name":"n","spec":"@daily","kind":"x","max_attempts":-1}`, "max_attempts: must not be negative"},
		{`{"name":"n","spec":"@daily","kind":"x","timeout_ms":-1}`, "timeout_ms: must not be negative"},
		{`{"name":"n","spec":"@daily","kind":"x","args":{"a":}}`, "invalid JSON at offset"},
		{`{"name":"n","spec":"@daily","kind":"x","every":"day"}`, `unknown field "every"`},
	} {
		msg := b.do("POST", "/api/periodic", tc.body).want(t, 400).ErrorMessage(t)
		if !strings.Contains(msg, tc.want) {
			t.Errorf("POST %s: %q, want it to contain %q", tc.body, msg, tc.want)
		}
	}
	if list := periodicList(t, b); len(list) != 0 {
		t.Errorf("bad posts stored %+v", list)
	}
}

func TestPeriodicDeclaredInCodeIsNotReplacedThroughTheAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	now := b.clock.Now()
	_, err := b.store.PeriodicUpsert(context.Background(), &store.PeriodicJob{
		Name: "nightly", Spec: "@daily", Kind: "report", Args: json.RawMessage(`{}`), Queue: "default", MaxAttempts: 25,
		CatchUp: store.CatchUpOnce, Source: "code", CreatedAt: now, UpdatedAt: now,
	})
	must(t, "PeriodicUpsert", err)
	msg := b.do("POST", "/api/periodic", `{"name":"nightly","spec":"@hourly","kind":"report"}`).want(t, 409).ErrorMessage(t)
	if !strings.Contains(msg, "declared in the application's code") {
		t.Errorf("replacing a periodic job of the code: %q", msg)
	}
	if list := periodicList(t, b); len(list) != 1 || list[0].Spec != "@daily" || list[0].Source != "code" {
		t.Errorf("after the refused replace: %+v", list)
	}
	// Deleting it is allowed (it comes back when its process starts).
	b.do("DELETE", "/api/periodic/nightly", "").want(t, 200)
}

func TestPeriodicWithoutANameGetsTheLibrarysDefault(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	var p httpapi.Periodic
	b.do("POST", "/api/periodic", `{"spec":"@hourly","kind":"tidy"}`).want(t, 201).Decode(t, &p)
	if p.Name != "tidy" {
		t.Errorf("name %q, want the kind", p.Name)
	}
	b.do("POST", "/api/periodic", `{"spec":"@hourly","kind":"tidy","args":{"days":7}}`).want(t, 201).Decode(t, &p)
	if !strings.HasPrefix(p.Name, "tidy-") || len(p.Name) != len("tidy-")+8 {
		t.Errorf("name %q, want the kind and a hash of the args", p.Name)
	}
	// The same again replaces it.
	b.do("POST", "/api/periodic", `{"spec":"@daily","kind":"tidy","args":{"days":7}}`).want(t, 200)
	if list := periodicList(t, b); len(list) != 2 {
		t.Errorf("list %+v, want the two", list)
	}
}

func TestPeriodicDeleteNeedsTheCSRFTokenUnderBasicAuth(t *testing.T) {
	t.Parallel()
	b := setup(t, &httpapi.Options{Password: "pw"})
	b.do("DELETE", "/api/periodic/x", "", "Authorization", basic("u", "pw")).want(t, 403)
	b.do("POST", "/api/periodic", `{"name":"x","spec":"@daily","kind":"k"}`, "Authorization", basic("u", "pw")).want(t, 403)
	b.do("GET", "/api/periodic", "").want(t, 401)
}
