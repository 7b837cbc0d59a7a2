// Shared by the dashboard and the demo page: API calls, formatting, the
// live badge and a small line chart. No framework, no build step.
"use strict";

const boiler = (() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  // api calls the JSON API; mutating calls carry the CSRF token. It
  // resolves to the decoded body, or rejects with the API's message.
  async function api(method, path, body) {
    const init = { method, headers: { "Accept": "application/json" }, credentials: "same-origin" };
    if (method !== "GET") init.headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    let data = null;
    try { data = await res.json(); } catch (_) { /* empty or not JSON */ }
    if (!res.ok) {
      const msg = data && data.error && data.error.message ? data.error.message : res.status + " " + res.statusText;
      throw new Error(msg);
    }
    return data;
  }

  // el builds an element: el("td", {class: "x"}, "text", child...).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c !== undefined && c !== null) e.append(c instanceof Node ? c : String(c));
    return e;
  }

  function fill(tbody, rows) { tbody.replaceChildren(...rows); }

  function duration(ms) {
    if (ms === undefined || ms === null || ms < 0) return "–";
    if (ms < 1000) return Math.round(ms) + " ms";
    const s = ms / 1000;
    if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
    if (s < 86400) return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min";
    return Math.floor(s / 86400) + " d " + Math.round((s % 86400) / 3600) + " h";
  }

  // time shows an RFC 3339 time in local time to the millisecond; the
  // date only when it is not today.
  function time(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    const pad = (n, w) => String(n).padStart(w || 2, "0");
    const hms = pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + "." + pad(d.getMilliseconds(), 3);
    const today = new Date().toDateString() === d.toDateString();
    return today ? hms : d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + hms;
  }

  function ago(iso) { return iso ? duration(Date.now() - new Date(iso).getTime()) + " ago" : "–"; }

  function bytes(n) {
    if (!n) return "–";
    const u = ["B", "KB", "MB", "GB"];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return n.toFixed(i ? 1 : 0) + " " + u[i];
  }

  function num(n) { return (n || 0).toLocaleString("en-US"); }

  // live follows a server-sent event stream and shows its state in the
  // #live badge; onEvent gets each event's decoded data.
  function live(url, name, onEvent) {
    const badge = document.getElementById("live");
    const es = new EventSource(url);
    es.addEventListener(name, (e) => {
      badge.textContent = "live";
      badge.className = "badge on";
      try { onEvent(JSON.parse(e.data)); } catch (err) { console.error(err); }
    });
    es.onerror = () => { badge.textContent = "reconnecting…"; badge.className = "badge off"; };
    return es;
  }

  // Chart draws the last points of one or more series on a canvas.
  class Chart {
    // series: [{label, color}]; capacity: points kept (one a second);
    // minTop: the least top of the y axis.
    constructor(canvas, series, capacity, minTop) {
      this.canvas = canvas;
      this.series = series;
      this.capacity = capacity || 120;
      this.minTop = minTop || 4;
      this.points = []; // [[v0, v1, ...], ...]
    }
    push(values) {
      this.points.push(values);
      if (this.points.length > this.capacity) this.points.shift();
      this.draw();
    }
    draw() {
      const c = this.canvas, ctx = c.getContext("2d");
      const ratio = window.devicePixelRatio || 1;
      const w = c.clientWidth || c.width, h = c.clientHeight || c.height;
      if (c.width !== Math.round(w * ratio)) { c.width = Math.round(w * ratio); c.height = Math.round(h * ratio); }
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, w, h);
      const pad = { l: 44, r: 8, t: 8, b: 18 };
      let top = this.minTop;
      for (const p of this.points) for (const v of p) top = Math.max(top, v || 0);
      top = niceCeil(top);
      ctx.font = "11px system-ui, sans-serif";
      ctx.fillStyle = "#777";
      ctx.strokeStyle = "#e3e3e3";
      ctx.lineWidth = 1;
      for (let i = 0; i <= 4; i++) {
        const y = pad.t + (h - pad.t - pad.b) * (1 - i / 4);
        ctx.beginPath(); ctx.moveTo(pad.l, y); ctx.lineTo(w - pad.r, y); ctx.stroke();
        const v = top * i / 4;
        ctx.fillText(Number.isInteger(v) ? num(v) : v.toFixed(1), 2, y + 4);
      }
      ctx.fillText((this.capacity) + " s ago", pad.l, h - 4);
      ctx.fillText("now", w - pad.r - 22, h - 4);
      const x = (i) => pad.l + (w - pad.l - pad.r) * (i + this.capacity - this.points.length) / (this.capacity - 1);
      const y = (v) => pad.t + (h - pad.t - pad.b) * (1 - (v || 0) / top);
      this.series.forEach((s, k) => {
        ctx.strokeStyle = s.color;
        ctx.lineWidth = 2;
        ctx.beginPath();
        this.points.forEach((p, i) => (i ? ctx.lineTo(x(i), y(p[k])) : ctx.moveTo(x(i), y(p[k]))));
        ctx.stroke();
        ctx.fillStyle = s.color;
        ctx.fillText(s.label, pad.l + 8 + k * 110, pad.t + 12);
      });
    }
  }

  function niceCeil(v) {
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 4, 6, 8, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  return { api, el, fill, duration, time, ago, bytes, num, live, Chart };
})();
