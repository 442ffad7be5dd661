// Polls one JSON endpoint per panel and redraws it; `?refresh=N` on the page URL sets the period (s).
import { barList, columnChart, dataTable, lineChart } from "./charts.js";

const REFRESH_MS = Math.max(1, Number(new URLSearchParams(location.search).get("refresh")) || 5) * 1000;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const FRESH_MS = 2 * MINUTE; // a running worker commits every batch, so minutes mean it stopped
const STALE_MS = 15 * MINUTE;

const state = { window: "all", raw: {}, data: {}, lastCommitAt: null, clockSkew: 0, updatedAt: null };

const numbers = new Intl.NumberFormat();
const percent = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });
const fullTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const clockTime = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });
const count = (n) => (n == null ? "—" : numbers.format(n));
const byId = (id) => document.getElementById(id);
const setText = (id, value) => { byId(id).textContent = value; };

function since(ms) {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 90) return `${seconds} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  if (seconds < 48 * 3600) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}

// Labels as fine as the buckets: dates for days and weeks, times for minutes.
function timeFormat(width) {
  if (width >= DAY) return new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", year: "numeric" });
  if (width >= HOUR) return new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  return new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
}

// Evenly spaced bucket boundaries, as many as fit the chart's width.
function timeTicks(container, start, buckets, width) {
  const n = Math.max(2, Math.min(buckets + 1, Math.floor(container.clientWidth / 150)));
  return Array.from({ length: n }, (_, i) => start + Math.round((i * buckets) / (n - 1)) * width);
}

function renderSummary(s) {
  setText("kpi-customers", count(s.customers));
  setText("kpi-customers-note", s.records_per_customer ? `${s.records_per_customer.toFixed(2)} source records each` : "");
  setText("kpi-records", count(s.source_records));
  setText("kpi-records-note", `${count(s.linked_records)} linked to another record`);
  setText("kpi-match-rate", s.match_rate == null ? "—" : percent.format(s.match_rate));
  setText("kpi-merges-splits", `${count(s.merges)} · ${count(s.splits)}`);
  setText("kpi-auc", s.model_roc_auc == null ? "—" : s.model_roc_auc.toFixed(3));
  setText("kpi-auc-note", s.model_labels ? `from ${count(s.model_labels)} labelled outcomes` : "no labelled outcomes yet");
  setText("kpi-dead-letters", count(s.dead_letters));
  const latest = byId("latest-event");
  latest.textContent = s.latest_event_at == null ? "—" : fullTime.format(s.latest_event_at);
  latest.dateTime = s.latest_event_at == null ? "" : new Date(s.latest_event_at).toISOString();
}

function renderTimeline(t) {
  const growth = byId("growth-chart");
  const changes = byId("changes-chart");
  const format = timeFormat(t.width);
  const start = t.buckets.length ? t.buckets[0].at : 0;
  const domain = [start, start + t.buckets.length * t.width];
  const label = (b) => `${format.format(b.at)} – ${format.format(b.at + t.width)}`;
  setText("changes-unit", t.unit);
  lineChart(growth, {
    label: `Source records and customers per ${t.unit}, ending at ${count(t.buckets.at(-1)?.records)} records and ${count(t.buckets.at(-1)?.customers)} customers`,
    points: t.buckets, x: (b) => b.at + t.width, domain, ticks: timeTicks(growth, start, t.buckets.length, t.width),
    series: [{ key: "records", name: "Source records" }, { key: "customers", name: "Customers" }],
    formatX: (v) => format.format(v), formatY: count, title: (b) => `Up to ${format.format(b.at + t.width)}`,
  });
  const merges = t.buckets.reduce((n, b) => n + b.merges, 0);
  const splits = t.buckets.reduce((n, b) => n + b.splits, 0);
  columnChart(changes, {
    label: `Merges and splits per ${t.unit}: ${count(merges)} merges and ${count(splits)} splits in this window`,
    columns: merges + splits ? t.buckets.map((b) => ({ ...b, from: b.at, to: b.at + t.width })) : [],
    emptyText: "No merges or splits in this window",
    stacks: [{ key: "merges", name: "Merges" }, { key: "splits", name: "Splits" }],
    domain, ticks: timeTicks(changes, start, t.buckets.length, t.width),
    formatX: (v) => format.format(v), formatY: count, title: label,
  });
  const rows = t.buckets.map((b) => [label(b), count(b.records), count(b.customers)]);
  dataTable(byId("growth-table"), { headers: [`Per ${t.unit}`, "Source records", "Customers"], rows });
  dataTable(byId("changes-table"), {
    headers: [`Per ${t.unit}`, "Merges", "Splits"],
    rows: t.buckets.filter((b) => b.merges || b.splits).map((b) => [label(b), count(b.merges), count(b.splits)]),
  });
}

function renderSources(s) {
  barList(byId("sources-bars"), {
    items: s.sources, name: (r) => r.source, value: (r) => r.match_rate, max: 1,
    format: (v) => percent.format(v), detail: (r) => `${count(r.linked)} of ${count(r.records)}`,
  });
}

function renderIngest(i) {
  state.lastCommitAt = i.last_commit_at;
  state.clockSkew = i.now - Date.now(); // ages are measured on the server's clock
  setText("kpi-events", count(i.events));
  setText("kpi-events-note", `across ${i.topics.length} topic${i.topics.length === 1 ? "" : "s"}`);
  const container = byId("ingest-table");
  if (!i.topics.length) {
    const note = document.createElement("p");
    note.className = "empty-note";
    note.textContent = "No ingest checkpoints: this lake was not filled from a stream (built from files, or the worker has not committed yet).";
    return container.replaceChildren(note);
  }
  const when = (at) => (Date.now() + state.clockSkew - at < DAY ? clockTime : fullTime).format(at);
  dataTable(container, {
    headers: ["Topic", "Events applied", "Next offset", "Last commit"],
    rows: i.topics.map((t) => [t.partitions > 1 ? `${t.topic} (${t.partitions} partitions)` : t.topic,
      count(t.events), count(t.next_offset), when(t.committed_at)]),
  });
}

function renderChurn(c) {
  const band = (b) => `${b.from.toFixed(1)}–${b.to.toFixed(1)}`;
  setText("churn-hint", `${count(c.at_risk)} customers at risk (score ≥ ${c.at_risk_from}); ${count(c.unscored)} not scored yet.`);
  const columns = c.bins.map((b) => ({ ...b, risky: b.from >= c.at_risk_from }));
  columnChart(byId("churn-chart"), {
    label: `Customers per churn-score band; ${count(c.at_risk)} at risk`,
    columns: c.bins.some((b) => b.customers) ? columns : [], emptyText: "No churn scores yet",
    stacks: [{ key: "customers", name: "Customers", cls: (b) => (b.risky ? "col-risk" : "col-churn") }],
    domain: [0, 1], ticks: [0, 0.2, 0.4, 0.6, 0.8, 1], formatX: (v) => v.toFixed(1), formatY: count,
    title: (b) => `Churn score ${band(b)}`, valueLabels: true,
  });
  dataTable(byId("churn-table"), { headers: ["Churn score", "Customers"], rows: c.bins.map((b) => [band(b), count(b.customers)]) });
}

function renderBrands(b) {
  barList(byId("brands-bars"), {
    items: b.brands, name: (r) => r.brand, value: (r) => r.affinity, format: (v) => v.toFixed(1),
    detail: (r) => `${count(r.customers)} customers · top for ${count(r.top_for)}`,
  });
}

function renderSegments(s) {
  byId("segments-card").hidden = !s.available;
  if (s.available) {
    barList(byId("segments-bars"), { items: s.segments, name: (r) => r.segment ?? "(none)", value: (r) => r.customers, format: count, alt: true });
  }
}

const PANELS = {
  summary: renderSummary, timeline: renderTimeline, sources: renderSources, ingest: renderIngest,
  churn: renderChurn, brands: renderBrands, segments: renderSegments,
};

async function load(name) {
  const response = await fetch(`/api/${name}${name === "timeline" ? `?window=${state.window}` : ""}`, { cache: "no-store" });
  const text = await response.text();
  const body = JSON.parse(text);
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  if (state.raw[name] === text) return; // unchanged: keep the drawing (and any tooltip open on it)
  state.raw[name] = text;
  state.data[name] = body;
  PANELS[name](body);
}

function setStatus(health) {
  byId("status").dataset.health = health;
  tick();
}

async function refresh() {
  const results = await Promise.allSettled(Object.keys(PANELS).map(load));
  const failure = results.find((r) => r.status === "rejected");
  const alert = byId("alert");
  alert.hidden = !failure;
  alert.textContent = failure ? `Some panels could not be updated (showing the last data): ${failure.reason.message}` : "";
  if (!failure) state.updatedAt = Date.now();
  setStatus(failure ? "error" : "live");
  if (Object.keys(state.data).length === Object.keys(PANELS).length) document.body.dataset.state = "ready";
}

// Once a second: the ages shown, without asking the server.
function tick() {
  const status = byId("status").dataset.health;
  const updated = state.updatedAt ? `updated ${since(Date.now() - state.updatedAt)} ago` : "waiting for data";
  setText("status-text", status === "error" ? `Error · ${updated}` : state.updatedAt ? `Live · ${updated}` : "Loading…");
  const freshness = byId("kpi-freshness");
  if (state.lastCommitAt == null) {
    freshness.textContent = "—";
    delete freshness.dataset.health;
    setText("kpi-freshness-note", "no stream checkpoint yet");
    return;
  }
  const age = Date.now() + state.clockSkew - state.lastCommitAt;
  freshness.textContent = `${since(age)} ago`;
  freshness.dataset.health = age < FRESH_MS ? "fresh" : age < STALE_MS ? "stale" : "old";
  setText("kpi-freshness-note", fullTime.format(state.lastCommitAt));
}

async function poll() {
  if (!document.hidden) await refresh();
  setTimeout(poll, REFRESH_MS);
}

for (const button of document.querySelectorAll("[data-window]")) {
  button.addEventListener("click", () => {
    state.window = button.dataset.window;
    for (const other of document.querySelectorAll("[data-window]")) other.setAttribute("aria-pressed", String(other === button));
    load("timeline").catch((error) => { byId("alert").hidden = false; byId("alert").textContent = error.message; });
  });
}

// Charts are drawn at their pixel size, so a resize redraws them from the last data.
let redraw = 0;
new ResizeObserver(() => {
  cancelAnimationFrame(redraw);
  redraw = requestAnimationFrame(() => {
    for (const name of ["timeline", "churn"]) if (state.data[name]) PANELS[name](state.data[name]);
  });
}).observe(byId("main"));

document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
setInterval(tick, 1000);
poll();
