// The demo page: fire many POST /api/jobs at once, follow /demo/events,
// and measure each created job's enqueue-to-done latency.
"use strict";

(() => {
  const { api, el, fill, duration, time, num, live, Chart } = boiler;
  const $ = (id) => document.getElementById(id);

  const created = new Map(); // job id -> enqueued_at (ms), jobs this page created and not yet done
  const doneAt = new Map();  // job id -> done (ms), completions seen before this page knew the id
  const latencies = [];      // ms, one per done job of this page
  const doneTimes = [];      // client time of each done job in the last seconds, for the rate
  let fired = 0, enqueued = 0, failed = 0, done = 0, inFlight = 0, lastError = "";
  let runStart = 0, runEnd = 0, lastEnqueued = 0;

  const rateChart = new Chart($("rate-chart"), [
    { label: "enqueued/s", color: "#8a8f98" }, { label: "done/s", color: "#1f9d55" }], 120);
  const workersChart = new Chart($("workers-chart"), [{ label: "worker pools", color: "#2f6fdf" }], 120, 8);

  // finish counts one of this page's jobs as done at t (server ms).
  function finish(id, t) {
    const enq = created.get(id);
    created.delete(id);
    latencies.push(Math.max(0, t - enq));
    doneTimes.push(performance.now());
    done++;
    if (done === fired && enqueued + failed === fired) runEnd = performance.now();
  }

  function percentile(sorted, p) {
    if (!sorted.length) return undefined;
    return sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)];
  }

  // ---- firing ----
  $("fire-form").count.addEventListener("input", (e) => { $("fire").textContent = "Fire " + num(+e.target.value) + " jobs"; });
  // created1 notes a job this page created (from the API's answer).
  function created1(job) {
    const id = job.id, enq = Date.parse(job.enqueued_at);
    enqueued++;
    created.set(id, enq);
    if (doneAt.has(id)) { const t = doneAt.get(id); doneAt.delete(id); finish(id, t); }
  }

  $("fire-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target;
    const count = Math.max(1, +f.count.value || 0), ms = Math.max(0, +f.ms.value || 0);
    const parallel = Math.max(1, Math.min(512, +f.parallel.value || 1));
    const perRequest = Math.max(1, Math.min(1000, +f.batch.value || 1));
    $("fire").disabled = true;
    fired += count;
    if (!runStart || runEnd) { runStart = performance.now(); runEnd = 0; }
    $("summary").hidden = true;
    let left = count, requests = 0;
    const t0 = performance.now();
    const job = { kind: "sleep", queue: "demo", args: { ms } };
    async function sender() {
      while (left > 0) {
        const n = Math.min(perRequest, left);
        left -= n;
        inFlight++;
        requests++;
        try {
          if (perRequest === 1) {
            created1((await api("POST", "/api/jobs", job)).job);
          } else {
            const r = await api("POST", "/api/jobs/batch", { jobs: Array(n).fill(job) });
            for (const x of r.results) created1(x.job);
          }
        } catch (err) {
          failed += n;
          lastError = err.message;
          if (done === fired - failed) runEnd = performance.now();
        } finally { inFlight--; }
      }
    }
    await Promise.all(Array.from({ length: parallel }, sender));
    const secs = (performance.now() - t0) / 1000;
    $("status").textContent = num(count) + " jobs in " + num(requests) + " requests in " + secs.toFixed(1) + " s (" +
      num(Math.round(count / secs)) + " enqueued/s)" + (failed ? " · " + num(failed) + " failed: " + lastError : "");
    $("fire").disabled = false;
  });

  // ---- live stream ----
  live("/demo/events", "tick", (t) => {
    for (const [id, at] of t.done) {
      if (created.has(id)) finish(id, at);
      else if (enqueued < fired) doneAt.set(id, at); // the POST's answer may still be on its way
    }
    if (doneAt.size > 100000) doneAt.clear();
    const now = performance.now();
    while (doneTimes.length && now - doneTimes[0] > 1000) doneTimes.shift();
    render(t, now);
  });

  let lastChartPush = 0, doneAtLastPush = 0;
  function render(t, now) {
    const sorted = latencies.slice().sort((a, b) => a - b);
    if (inFlight) $("status").textContent = num(inFlight) + " requests in flight";
    $("s-enqueued").textContent = num(enqueued);
    $("s-running").textContent = num(t.running);
    $("s-done").textContent = num(done);
    $("s-rate").textContent = num(doneTimes.length);
    $("s-p50").textContent = duration(percentile(sorted, 50));
    $("s-p99").textContent = duration(percentile(sorted, 99));
    $("s-workers").textContent = t.pools.length;
    $("s-backlog").textContent = num(t.backlog);
    document.body.dataset.done = String(done);
    document.body.dataset.fired = String(fired);
    $("bar").style.width = (fired ? (100 * done / fired) : 0) + "%";
    if (fired && runEnd && done + failed >= fired) {
      const secs = (runEnd - runStart) / 1000;
      $("summary").hidden = false;
      $("summary").textContent = num(done) + " jobs done in " + secs.toFixed(2) + " s, from the first request to the last completion: " +
        num(Math.round(done / secs)) + " jobs/s. Enqueue → done p50 " + duration(percentile(sorted, 50)) +
        ", p99 " + duration(percentile(sorted, 99)) + ", max " + duration(sorted[sorted.length - 1]) + ".";
    }
    if (now - lastChartPush >= 1000) {
      const secs = lastChartPush ? (now - lastChartPush) / 1000 : 1;
      rateChart.push([(enqueued - lastEnqueued) / secs, (done - doneAtLastPush) / secs]);
      workersChart.push([t.pools.length]);
      lastEnqueued = enqueued;
      doneAtLastPush = done;
      lastChartPush = now;
    }
    fill($("decisions").tBodies[0], (t.decisions || []).map((d) => el("tr", { class: "act-" + d.action },
      el("td", {}, time(d.at)), el("td", {}, d.action), el("td", { class: "n" }, d.current + " → " + d.desired),
      el("td", { class: "n" }, num(d.metric ? d.metric.backlog : 0)), el("td", {}, d.reason))));
    fill($("pools").tBodies[0], t.pools.map((p) => el("tr", {},
      el("td", {}, p.id), el("td", {}, duration(t.server_ms - Date.parse(p.started_at))),
      el("td", { class: "n" }, p.concurrency), el("td", { class: "n" }, num(p.running)),
      el("td", { class: "n" }, num(p.completed)), el("td", { class: "n" }, num(p.failed)))));
  }
})();
