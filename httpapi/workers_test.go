package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/httpapi"
	"github.com/doubleboiler/boiler/store"
)

// must fails t when a store call failed.
func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func TestWorkersListsTheRegistryWithStaleFlagsSQLite(t *testing.T) {
	t.Parallel()
	workersWithStaleFlags(t, setup(t, &httpapi.Options{WorkerStaleAfter: 30 * time.Second}))
}

func TestWorkersListsTheRegistryWithStaleFlagsPostgres(t *testing.T) {
	t.Parallel()
	workersWithStaleFlags(t, setupOn(t, openPostgres(t), &httpapi.Options{WorkerStaleAfter: 30 * time.Second}))
}

// workersWithStaleFlags lists two workers of b's store, one stale.
func workersWithStaleFlags(t *testing.T, b *bundle) {
	ctx := context.Background()
	now := b.clock.Now()
	err := b.store.WorkerBeat(ctx, &store.WorkerInfo{
		ID: "web-1-a", Host: "web", PID: 11, Queues: []string{"default", "mail"}, Concurrency: 100, Running: 7,
		Leader: true, StartedAt: now.Add(-time.Hour), HeartbeatAt: now.Add(-5 * time.Second),
	})
	must(t, "WorkerBeat", err)
	if err := b.store.WorkerBeat(ctx, &store.WorkerInfo{
		ID: "web-2-b", Host: "web", PID: 12, Queues: []string{"default"}, Concurrency: 10,
		StartedAt: now.Add(-time.Hour), HeartbeatAt: now.Add(-31 * time.Second),
	}); err != nil {
		t.Fatal(err)
	}

	var got struct {
		Workers []httpapi.Worker `json:"workers"`
		Note    string           `json:"note"`
	}
	b.do("GET", "/api/workers", "").want(t, 200).Decode(t, &got)
	if len(got.Workers) != 2 || got.Note != "" {
		t.Fatalf("workers %+v, note %q: want the two workers and no note", got.Workers, got.Note)
	}
	w1, w2 := got.Workers[0], got.Workers[1]
	if w1.ID != "web-1-a" || w1.Stale || w1.HeartbeatAgeMS != 5000 || w1.Running != 7 || w1.Concurrency != 100 || !w1.Leader ||
		w1.PID != 11 || strings.Join(w1.Queues, ",") != "default,mail" {
		t.Errorf("first worker %+v: want web-1-a, live, 5000 ms, 7/100, leader", w1)
	}
	if w2.ID != "web-2-b" || !w2.Stale || w2.HeartbeatAgeMS != 31000 {
		t.Errorf("second worker %+v: want web-2-b, stale after 31 s", w2)
	}
	if ev := firstStatsEvent(t, b); ev["workers"] != 1.0 {
		t.Errorf("the stats event counts %v workers, want 1 (the stale one is not counted)", ev["workers"])
	}
	// The raw JSON carries the flag and the running/concurrency pair.
	body := string(b.do("GET", "/api/workers", "").Body)
	for _, want := range []string{`"stale":true`, `"running":7`, `"concurrency":100`, `"heartbeat_at":`} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /api/workers lacks %s: %s", want, body)
		}
	}
}

func TestWorkersWithoutAStoreSaySo(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	client := b.client
	h, err := httpapi.New(&httpapi.Options{Client: client, Secret: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	b.handler = h
	v := b.do("GET", "/api/workers", "").want(t, 200).JSON(t)
	if ws, _ := v["workers"].([]any); ws == nil || len(ws) != 0 || !strings.Contains(v["note"].(string), "Options.Store") {
		t.Errorf("GET /api/workers without a store: %v, want [] and a note naming Options.Store", v)
	}
	// Periodic jobs go through the Client: no Store needed.
	b.do("GET", "/api/periodic", "").want(t, 200)
}

// firstStatsEvent reads the first "stats" event of /api/events.
func firstStatsEvent(t *testing.T, b *bundle) map[string]any {
	t.Helper()
	srv := httptest.NewServer(b.handler)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() != "event: stats" || !sc.Scan() {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(strings.TrimPrefix(sc.Text(), "data: ")), &v); err != nil {
			t.Fatalf("stats event %q: %v", sc.Text(), err)
		}
		return v
	}
	t.Fatalf("no stats event: %v", sc.Err())
	return nil
}
