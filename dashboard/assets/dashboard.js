// The dashboard: queues and throughput from /api/events, jobs from
// /api/jobs, a job's detail and actions, workers, processes, decisions.
"use strict";

(() => {
  const { api, el, fill, duration, time, ago, bytes, num, live, Chart } = boiler;
  const $ = (id) => document.getElementById(id);
  const FINAL = ["completed", "discarded", "cancelled"];
  // Every state, in lifecycle order (store.States).
  const STATES = ["waiting", "available", "running", "scheduled", "retryable", "completed", "discarded", "cancelled"];

  // ---- queues and throughput (server-sent events) ----
  const chart = new Chart($("chart"), [{ label: "jobs/s done", color: "#2f6fdf" }], 120);

  function renderQueues(queues) {
    $("queues-empty").hidden = queues.length > 0;
    fill($("queues").tBodies[0], queues.map((q) => {
      const c = q.counts || {};
      const cell = (s) => el("td", { class: "n" + (c[s] && (s === "discarded" || s === "retryable") ? " warn" : "") },
        el("a", { href: "#", "data-state": s, "data-queue": q.name, onclick: filterFromQueue }, num(c[s])));
      const toggle = el("button", { type: "button", onclick: () => pause(q.name, !q.paused) }, q.paused ? "Resume" : "Pause");
      return el("tr", { class: q.paused ? "paused" : "" },
        el("td", {}, q.name, q.paused ? el("span", { class: "badge off" }, "paused") : null),
        ...STATES.map(cell),
        el("td", { class: "n" }, q.oldest_available_age_ms ? duration(q.oldest_available_age_ms) : "–"),
        el("td", { class: "n" }, (q.jobs_per_second || 0).toFixed(1)),
        el("td", {}, toggle));
    }));
  }

  async function pause(name, paused) {
    try {
      await api("POST", "/api/queues/" + encodeURIComponent(name) + (paused ? "/pause" : "/resume"));
    } catch (e) { alert(e.message); }
  }

  function filterFromQueue(ev) {
    ev.preventDefault();
    const f = $("job-filter");
    f.queue.value = ev.currentTarget.dataset.queue;
    f.kind.value = "";
    f.workflow.value = "";
    setState(ev.currentTarget.dataset.state);
    loadJobs(0, true);
    $("jobs").scrollIntoView({ behavior: "smooth" });
  }

  function renderProcesses(list, note) {
    $("processes-note").hidden = list.length > 0;
    fill($("processes").tBodies[0], list.map((p) => el("tr", {},
      el("td", {}, p.name), el("td", { class: "n" }, p.pid || "–"), el("td", { class: "n" }, duration(p.uptime_ms)),
      el("td", { class: "n" }, num(p.restarts)), el("td", { class: "n" }, bytes(p.rss_bytes)))));
  }

  let lastListRefresh = 0;
  live("/api/events", "stats", (s) => {
    const queues = s.queues || [];
    renderQueues(queues);
    renderProcesses(s.processes || []);
    const jps = s.jobs_per_second !== undefined ? s.jobs_per_second : queues.reduce((a, q) => a + (q.jobs_per_second || 0), 0);
    chart.push([jps]);
    $("jps-now").textContent = jps.toFixed(1) + " jobs/s" + (s.workers ? " · " + s.workers + (s.workers === 1 ? " worker" : " workers") : "");
    // Keep the first page of jobs fresh, but gently.
    if (cursors.length === 1 && Date.now() - lastListRefresh > 3000) loadJobs(0, false);
    // Follow the job shown until it is finalized.
    if (shown && !shown.deleted && !FINAL.includes(shown.state)) refreshShown();
  });

  // ---- jobs: state tabs, search, cursor paging ----
  let state = "all";
  let cursors = [0]; // cursors of the pages shown so far; the last is the current page
  let nextCursor = 0;

  function setState(s) {
    state = s;
    for (const b of $("states").children) b.setAttribute("aria-selected", b.dataset.state === s ? "true" : "false");
  }
  $("states").append(...["all", ...STATES].map((s) => el("button", {
    type: "button", role: "tab", "data-state": s, onclick: () => { setState(s); loadJobs(0, true); },
  }, s)));
  setState(state);

  async function loadJobs(cursor, reset) {
    lastListRefresh = Date.now();
    if (reset) cursors = [cursor];
    const f = $("job-filter");
    const q = new URLSearchParams({ limit: "25" });
    if (state !== "all") q.set("state", state);
    if (f.queue.value.trim()) q.set("queue", f.queue.value.trim());
    if (f.kind.value.trim()) q.set("kind", f.kind.value.trim());
    if (f.workflow.value.trim()) q.set("workflow", f.workflow.value.trim());
    if (cursor) q.set("cursor", String(cursor));
    let data;
    try { data = await api("GET", "/api/jobs?" + q); } catch (e) {
      fill($("job-list").tBodies[0], [el("tr", {}, el("td", { colspan: 7, class: "error" }, e.message))]);
      return;
    }
    const jobs = data.jobs || [];
    nextCursor = data.next_cursor || 0;
    $("jobs-empty").hidden = jobs.length > 0;
    fill($("job-list").tBodies[0], jobs.map((j) => {
      const errs = j.errors || [];
      return el("tr", { class: "click", "data-id": j.id, onclick: () => showJob(j.id) },
        el("td", { class: "n" }, j.id), el("td", {}, j.kind), el("td", {}, j.queue),
        el("td", {}, el("span", { class: "state " + j.state }, j.state)),
        el("td", { class: "n" }, j.attempt + " / " + j.max_attempts),
        el("td", { title: time(j.enqueued_at) }, ago(j.enqueued_at)),
        el("td", { class: "error" }, errs.length ? errs[errs.length - 1].error : ""));
    }));
    $("older").disabled = !nextCursor;
    $("newest").disabled = cursors.length <= 1;
    $("page-info").textContent = "page " + cursors.length;
  }

  $("job-filter").addEventListener("submit", (e) => { e.preventDefault(); loadJobs(0, true); });
  $("older").addEventListener("click", () => { if (nextCursor) { cursors.push(nextCursor); loadJobs(nextCursor, false); } });
  $("newest").addEventListener("click", () => loadJobs(0, true));

  // ---- one job ----
  let shown = null;

  async function showJob(id) {
    location.hash = "job=" + id;
    message("");
    let j;
    try { j = await api("GET", "/api/jobs/" + id); } catch (e) { return message(e.message, true); }
    renderJob(j.job || j);
  }

  async function refreshShown() {
    const id = shown.id;
    try {
      const j = await api("GET", "/api/jobs/" + id);
      if (shown && shown.id === id) renderJob(j.job || j);
    } catch (e) { message(e.message, true); }
  }

  function renderJob(j) {
    shown = j;
    $("detail").hidden = false;
    $("d-id").textContent = "#" + j.id;
    $("d-state").textContent = j.state;
    $("d-state").className = "state " + j.state;
    $("d-retry").disabled = j.state === "running";
    $("d-cancel").disabled = FINAL.includes(j.state) || j.cancel_requested;
    $("d-delete").disabled = j.state === "running";
    const dl = $("d-summary");
    const rows = [["kind", j.kind], ["queue", j.queue], ["priority", j.priority], ["attempt", j.attempt + " of " + j.max_attempts]];
    const timeoutMS = j.timeout_ms || (j.timeout ? j.timeout / 1e6 : 0);
    if (timeoutMS) rows.push(["timeout", duration(timeoutMS)]);
    if (j.unique_key) rows.push(["unique key", j.unique_key]);
    if (j.lease_owner) rows.push(["leased to", j.lease_owner + " until " + time(j.lease_expires_at)]);
    if (j.cancel_requested) rows.push(["cancel", "requested; the worker stops it at its next heartbeat"]);
    if (j.result !== undefined && j.result !== null) rows.push(["result", JSON.stringify(j.result)]);
    dl.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    renderWorkflow(j);
    $("d-args").textContent = JSON.stringify(j.args, null, 2);
    const tl = [["enqueued", j.enqueued_at], ["run at", j.run_at], ["attempted", j.attempted_at], ["finalized", j.finalized_at]];
    fill($("d-timeline"), tl.map(([k, v]) => el("li", { class: v ? "" : "pending" }, el("b", {}, k), " ", v ? time(v) : "not yet")));
    const errs = j.errors || [];
    fill($("d-errors"), errs.length ? errs.map((e) => el("li", {},
      el("b", {}, "attempt " + e.attempt), " at " + time(e.at), el("pre", {}, e.error))) : [el("li", { class: "pending" }, "none")]);
  }

  // renderWorkflow shows the job's workflow (a link that filters the list
  // by it) and the jobs it waits for, with their states.
  function renderWorkflow(j) {
    const deps = j.deps || [];
    $("d-workflow").hidden = !j.workflow && deps.length === 0;
    const info = [];
    if (j.workflow) {
      info.push(["workflow", el("a", { href: "?workflow=" + encodeURIComponent(j.workflow), id: "d-workflow-link",
        onclick: (ev) => { ev.preventDefault(); filterWorkflow(j.workflow); } }, j.workflow)]);
    }
    if (deps.length) {
      info.push(["waits for", deps.length + (deps.length === 1 ? " job" : " jobs") + (j.run_on_failure ? ", runs whatever their outcome" : ", runs if every one completes")]);
      info.push(["left", j.state === "waiting" ? num(j.deps_left) + " not finished" : num(j.deps_left || 0)]);
    }
    $("d-workflow-info").replaceChildren(...info.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    const states = new Map((j.dep_states || []).map((d) => [d.id, d]));
    fill($("d-deps"), deps.slice(0, 200).map((id) => {
      const d = states.get(id);
      const st = d ? (d.gone ? "deleted" : d.state) : "";
      return el("li", {}, el("a", { href: "#job=" + id, "data-id": id, class: "state " + st,
        onclick: (ev) => { ev.preventDefault(); showJob(id); } }, "#" + id + (d && d.kind ? " " + d.kind : "") + (st ? " · " + st : "")));
    }));
    if (deps.length > 200) $("d-deps").append(el("li", { class: "pending" }, "and " + num(deps.length - 200) + " more"));
  }

  // filterWorkflow lists the jobs of one workflow.
  function filterWorkflow(id) {
    const f = $("job-filter");
    f.workflow.value = id;
    f.queue.value = "";
    f.kind.value = "";
    setState("all");
    history.replaceState(null, "", "?workflow=" + encodeURIComponent(id) + location.hash);
    loadJobs(0, true);
    $("jobs").scrollIntoView({ behavior: "smooth" });
  }

  function message(text, isError) {
    const m = $("d-message");
    m.hidden = !text;
    m.textContent = text || "";
    m.className = "message" + (isError ? " error" : "");
  }

  async function act(method, suffix, verb) {
    if (!shown) return;
    if (verb === "deleted" && !confirm("Delete job #" + shown.id + "?")) return;
    try {
      const j = await api(method, "/api/jobs/" + shown.id + suffix);
      renderJob(j.job || j);
      if (verb === "deleted") {
        shown.deleted = true;
        for (const b of ["d-retry", "d-cancel", "d-delete"]) $(b).disabled = true;
      }
      message("Job #" + shown.id + " " + verb + ".", false);
      loadJobs(cursors[cursors.length - 1], false);
    } catch (e) { message(e.message, true); }
  }
  $("d-retry").addEventListener("click", () => act("POST", "/retry", "retried"));
  $("d-cancel").addEventListener("click", () => act("POST", "/cancel", "cancelled"));
  $("d-delete").addEventListener("click", () => act("DELETE", "", "deleted"));
  $("d-close").addEventListener("click", () => { $("detail").hidden = true; shown = null; message(""); history.replaceState(null, "", "#"); });

  // ---- workers, periodic jobs and decisions (polled: they change slowly) ----
  function renderWorkers(w) {
    const list = w.workers || [];
    const live = list.filter((x) => !x.stale);
    $("workers-count").textContent = list.length ? live.length + " live" + (list.length > live.length ? ", " + (list.length - live.length) + " stale" : "") : "";
    $("workers-note").hidden = list.length > 0;
    $("workers-note").textContent = w.note || "No worker has reported.";
    fill($("workers").tBodies[0], list.map((x) => el("tr", { class: x.stale ? "stale" : "", "data-id": x.id },
      el("td", { title: "started " + time(x.started_at) }, x.id,
        x.leader ? el("span", { class: "badge leader", title: "runs the periodic scheduler" }, "leader") : null,
        x.stale ? el("span", { class: "badge stale", title: "no heartbeat for " + duration(x.heartbeat_age_ms) + ": probably dead" }, "stale") : null,
        el("br"), el("small", {}, (x.host || "?") + " · pid " + (x.pid || "?"))),
      el("td", {}, (x.queues || []).join(", ")),
      el("td", { class: "n" }, num(x.running) + " / " + num(x.concurrency)),
      el("td", { title: time(x.heartbeat_at) }, duration(x.heartbeat_age_ms) + " ago"))));
  }

  function renderPeriodic(list) {
    $("periodic-note").hidden = list.length > 0;
    fill($("periodic").tBodies[0], list.map((p) => {
      const next = p.spec_error ? el("span", { class: "error", title: p.spec_error }, "bad schedule")
        : p.next_tick ? [time(p.next_tick), el("br"), el("small", { title: p.next_computed ? "computed from the schedule: no scheduler has recorded it" : "as the scheduler recorded it" },
          "in " + duration(new Date(p.next_tick).getTime() - Date.now()) + (p.next_computed ? " (computed)" : ""))] : "–";
      const last = p.last_tick ? [el("span", { title: time(p.last_tick) }, ago(p.last_tick)),
        p.last_job_id ? [el("br"), el("a", { href: "#job=" + p.last_job_id, onclick: (ev) => { ev.preventDefault(); showJob(p.last_job_id); } }, "job #" + p.last_job_id)] : ""] : "never";
      const del = el("button", { type: "button", class: "danger", "data-name": p.name, onclick: () => deletePeriodic(p) }, "Delete");
      return el("tr", { "data-name": p.name },
        el("td", {}, p.name), el("td", {}, el("code", {}, p.spec)),
        el("td", { title: JSON.stringify(p.args) }, p.kind, el("br"), el("small", {}, "queue " + p.queue)),
        el("td", {}, ...[next].flat()), el("td", {}, ...[last].flat(2)),
        el("td", {}, p.catch_up), el("td", {}, p.source), el("td", {}, del));
    }));
  }

  async function deletePeriodic(p) {
    const back = p.source !== "api" ? "\nIt is declared in " + (p.source === "code" ? "code" : "a --periodic flag") + ": it comes back when that process starts again." : "";
    if (!confirm("Delete the periodic job " + p.name + "?" + back)) return;
    const m = $("periodic-message");
    try {
      await api("DELETE", "/api/periodic/" + encodeURIComponent(p.name));
      m.className = "message";
      m.textContent = "Periodic job " + p.name + " deleted; the jobs it enqueued stay.";
    } catch (e) {
      m.className = "message error";
      m.textContent = e.message;
    }
    m.hidden = false;
    loadPeriodic();
  }

  async function loadPeriodic() {
    try {
      const p = await api("GET", "/api/periodic");
      renderPeriodic(p.periodic || []);
    } catch (e) { fill($("periodic").tBodies[0], []); $("periodic-note").hidden = false; $("periodic-note").textContent = e.message; }
  }

  async function loadSlow() {
    try { renderWorkers(await api("GET", "/api/workers")); } catch (e) { $("workers-note").hidden = false; $("workers-note").textContent = e.message; }
    await loadPeriodic();
    try {
      const d = await api("GET", "/api/autoscale/decisions");
      // The newest decision, then the changes: the holds between them
      // would hide them.
      const list = (d.decisions || []).filter((x, i) => i === 0 || x.action !== "hold");
      $("decisions-note").hidden = list.length > 0;
      if (d.note) $("decisions-note").textContent = d.note;
      fill($("decisions").tBodies[0], list.slice(0, 20).map((x) => el("tr", { class: "act-" + x.action },
        el("td", {}, time(x.at)), el("td", {}, x.action), el("td", { class: "n" }, x.current + " → " + x.desired),
        el("td", { class: "n" }, num(x.metric ? x.metric.backlog : 0)), el("td", {}, x.reason))));
    } catch (e) { $("decisions-note").hidden = false; $("decisions-note").textContent = e.message; }
  }

  // A link may filter the list: /?workflow=ID (also queue, kind, state).
  const params = new URLSearchParams(location.search);
  for (const k of ["queue", "kind", "workflow"]) if (params.get(k)) $("job-filter")[k].value = params.get(k);
  if (STATES.includes(params.get("state"))) setState(params.get("state"));
  loadJobs(0, true);
  loadSlow();
  setInterval(loadSlow, 5000);
  const m = /job=(\d+)/.exec(location.hash);
  if (m) showJob(m[1]);
})();
