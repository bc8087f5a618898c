// The gateway console: plain JavaScript, no dependencies, nothing fetched but the
// gateway's own /console/api/* (and /v1/chat/completions when the playground sends).
"use strict";

const $ = (id) => document.getElementById(id);
const KEY = "gateway-console-admin-key";
const REFRESH_MS = 2000;
const SPARK_POINTS = 60;
const st = { page: "live", prev: null, spark: [], timer: null, meta: null };

// -- API ------------------------------------------------------------------------
function adminKey() { return sessionStorage.getItem(KEY) || ""; }

function errorText(data, status) {
  return (data && data.error && data.error.message) || ("HTTP " + status);
}

async function api(path, body) {
  const headers = {};
  if (adminKey()) headers.authorization = "Bearer " + adminKey();
  const opts = { headers };
  if (body !== undefined) {
    opts.method = "POST";
    headers["content-type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  const data = await r.json().catch(() => null);
  if (r.status === 401 || r.status === 403) {
    showLogin(errorText(data, r.status));
    throw new Error("not authorized");
  }
  if (!r.ok) throw new Error(errorText(data, r.status));
  return data;
}

function showLogin(message) {
  $("login").hidden = false;
  document.querySelector("main").hidden = true;
  $("login-msg").textContent = message;
}

// -- DOM helpers ------------------------------------------------------------------
function cell(tr, value, cls) {
  const td = document.createElement("td");
  td.textContent = value === null || value === undefined ? "–" : String(value);
  if (cls) td.className = cls;
  tr.appendChild(td);
}

function fillRows(tableId, rows) {
  const tbody = $(tableId).querySelector("tbody");
  tbody.replaceChildren();
  for (const row of rows) {
    const tr = document.createElement("tr");
    for (const v of row) Array.isArray(v) ? cell(tr, v[0], v[1]) : cell(tr, v);
    tbody.appendChild(tr);
  }
}

const num = (x, d = 2) => (x === null || x === undefined || isNaN(x) ? "–" : Number(x).toFixed(d));
function ms(seconds) {
  if (seconds === null) return "–";
  return seconds < 0.01 ? (seconds * 1000).toFixed(2) + " ms" : (seconds * 1000).toFixed(0) + " ms";
}

// -- Live -------------------------------------------------------------------------
// Prometheus' histogram_quantile: linear interpolation inside the bucket.
function quantile(buckets, q) {
  if (!buckets.length) return null;
  const total = buckets[buckets.length - 1][1];
  if (total <= 0) return null;
  const rank = q * total;
  let lowLe = 0, lowCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === null) return lowLe;  // +Inf bucket: the highest finite bound
      const inside = count - lowCount;
      return inside > 0 ? lowLe + (le - lowLe) * ((rank - lowCount) / inside) : le;
    }
    lowLe = le === null ? lowLe : le;
    lowCount = count;
  }
  return lowLe;
}

function windowed(cur, prev) {
  if (!prev || prev.length !== cur.length) return cur;
  const d = cur.map(([le, n], i) => [le, n - prev[i][1]]);
  return d[d.length - 1][1] > 0 ? d : cur;
}

function rate(cur, prev, key, dt) {
  if (!prev || dt <= 0) return null;
  return Math.max(0, (cur[key] || 0) - (prev[key] || 0)) / dt;
}

function byTable(id, cur, prev, dt) {
  const rows = Object.keys(cur).sort((a, b) => cur[b] - cur[a])
    .map((k) => [k, num(rate(cur, prev, k, dt)), cur[k]]);
  fillRows(id, rows);
}

function drawSpark(points) {
  const svg = $("live-spark");
  svg.replaceChildren();
  if (points.length < 2) return;
  const max = Math.max(1, ...points);
  const step = 300 / (SPARK_POINTS - 1);
  const off = (SPARK_POINTS - points.length) * step;
  const coords = points.map((v, i) => `${(off + i * step).toFixed(1)},${(58 - (v / max) * 56).toFixed(1)}`);
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", coords.join(" "));
  svg.appendChild(line);
}

function renderLive(data) {
  const m = data.metrics;
  if (!m) return;
  const prev = st.prev && st.prev.metrics;
  const dt = st.prev ? data.time - st.prev.time : 0;
  const rps = prev ? Math.max(0, m.requests - prev.requests) / dt : null;
  $("live-rps").textContent = num(rps);
  $("live-total").textContent = String(m.requests);
  if (rps !== null) {
    st.spark.push(rps);
    if (st.spark.length > SPARK_POINTS) st.spark.shift();
    drawSpark(st.spark);
  }
  const lat = windowed(m.latency, prev && prev.latency);
  const ovh = windowed(m.overhead, prev && prev.overhead);
  $("live-latency").textContent = ms(quantile(lat, 0.5)) + " / " + ms(quantile(lat, 0.95));
  $("live-overhead").textContent = ms(quantile(ovh, 0.5)) + " / " + ms(quantile(ovh, 0.95));
  const hits = m.cache.hit || 0, lookups = hits + (m.cache.miss || 0);
  $("live-cache").textContent = lookups ? num((100 * hits) / lookups, 1) + " %"
    : "no cacheable requests (" + (m.cache.bypass || 0) + " bypassed)";
  $("live-inflight").textContent = String(m.inflight);
  const s = data.store;
  $("live-redis").textContent = s.store === "memory" ? "not configured (memory)"
    : s.ok ? "up" : "DOWN (" + s.on_error + ")";
  $("live-config").textContent = "version " + data.config_version + (m.config_hash ? " · " + m.config_hash : "");
  byTable("live-routes", m.by_route, prev && prev.by_route, dt);
  byTable("live-providers", m.by_provider, prev && prev.by_provider, dt);
  byTable("live-models", m.by_model, prev && prev.by_model, dt);
  const errors = [];
  for (const cls of ["4xx", "5xx"]) {
    errors.push([cls + " responses", num(rate(m.by_status, prev && prev.by_status, cls, dt)), m.by_status[cls] || 0]);
  }
  for (const [k, v] of Object.entries(m.upstream_errors)) {
    errors.push(["upstream " + k, num(rate(m.upstream_errors, prev && prev.upstream_errors, k, dt)), v]);
  }
  for (const [k, v] of Object.entries(m.rejections)) {
    errors.push(["rate limit " + k, num(rate(m.rejections, prev && prev.rejections, k, dt)), v]);
  }
  fillRows("live-errors", errors);
  const keys = new Set([...Object.keys(m.cost_by_key), ...Object.keys(m.tokens_by_key)]);
  fillRows("live-keys", [...keys].sort().map((k) => {
    const t = m.tokens_by_key[k] || {};
    return [k, t.input || 0, t.output || 0, num(m.cost_by_key[k] || 0, 6)];
  }));
  fillRows("live-circuits", Object.entries(m.circuits).sort().map(([k, v]) => [k, [v, v]]));
  st.prev = data;
}

// -- Recent decisions ---------------------------------------------------------------
function renderRecent(data) {
  $("recent-source").textContent = `Last ${data.records.length} of up to ${data.size} requests, from ` +
    (data.source === "redis" ? "Redis (every worker and replica)" : "this process's memory") + ".";
  const withPrompt = data.records.some((r) => r.prompt !== undefined);
  $("recent-prompt-head").hidden = !withPrompt;
  fillRows("recent-table", data.records.map((r) => {
    const rt = r.routing || {}, f = rt.features || {};
    const row = [new Date(r.time * 1000).toLocaleTimeString(), r.key || "anonymous", r.surface, rt.requested,
      r.route, r.alias, r.provider, f.tokens, f.language, (f.pii || []).join(" ") || "none",
      f.has_tools ? "yes" : "no", f.has_images ? "yes" : "no",
      [r.status, "s" + String(r.status)[0]], num(r.duration_ms, 1), num(r.cost_usd, 6)];
    if (withPrompt) row.push(JSON.stringify(r.prompt || null).slice(0, 200));
    return row;
  }));
}

// -- Playground -----------------------------------------------------------------------
function options(id, values, first) {
  const sel = $(id);
  sel.replaceChildren();
  for (const [value, label] of [first, ...values.map((v) => [v, v])]) {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = label;
    sel.appendChild(o);
  }
}

function playgroundBody() {
  const text = $("pg-input").value.trim();
  if (text.startsWith("{")) return JSON.parse(text);
  return { model: $("pg-model").value || "auto", messages: [{ role: "user", content: text }] };
}

function clearOutputs(ids) {
  for (const id of ids) {
    const el = $(id);
    if (el.tagName === "TABLE") el.querySelector("tbody").replaceChildren();
    else el.textContent = "";
  }
}

async function explain() {
  clearOutputs(["pg-error", "pg-decision", "pg-features", "pg-trace"]);
  let body;
  try { body = playgroundBody(); } catch (e) { $("pg-error").textContent = "Not valid JSON: " + e.message; return; }
  const out = await api("/console/api/explain", {
    body, key: $("pg-key").value || null, policy: $("pg-policy").value || null,
  });
  if (out.status !== 200) $("pg-error").textContent = `${out.status}: ${errorText(out, out.status)}`;
  fillRows("pg-decision", [["rule", out.rule], ["model", out.model], ["provider", out.provider],
    ["upstream model", out.upstream_model], ["fallbacks", (out.candidates || []).slice(1).join(", ") || "none"],
    ["policy", (out.policy || []).join(" + ")]]);
  const f = out.features || {};
  fillRows("pg-features", Object.entries(f).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") || "none" : v]));
  fillRows("pg-trace", (out.trace || []).map((t) => t.policy ? ["policy", "", t.policy.join(" + "), "", ""]
    : [t.rule, t.matched ? "yes" : "no", t.reason, (t.candidates || []).join(", "),
      (t.removed || []).map((x) => x.model + ": " + x.reason).join("; ")]));
}

async function send() {
  clearOutputs(["pg-error", "pg-answer", "pg-headers"]);
  let body;
  try { body = playgroundBody(); } catch (e) { $("pg-error").textContent = "Not valid JSON: " + e.message; return; }
  const headers = { "content-type": "application/json" };
  const clientKey = $("pg-client-key").value;
  if (clientKey) headers.authorization = "Bearer " + clientKey;
  if ($("pg-policy").value) headers["x-gateway-policy"] = $("pg-policy").value;
  const r = await fetch("/v1/chat/completions", { method: "POST", headers, body: JSON.stringify(body) });
  const shown = [`HTTP ${r.status}`];
  r.headers.forEach((v, k) => { if (k.startsWith("x-")) shown.push(`${k}: ${v}`); });
  $("pg-headers").textContent = shown.join("\n");
  const text = await r.text();
  let answer = text;
  try {
    const data = JSON.parse(text);
    answer = data.choices ? data.choices[0].message.content : JSON.stringify(data, null, 2);
  } catch (e) { /* a stream: shown as it came */ }
  $("pg-answer").textContent = answer;
}

// -- What-if ---------------------------------------------------------------------------
async function whatIf() {
  clearOutputs(["wi-error", "wi-rules", "wi-moves"]);
  $("wi-result").hidden = true;
  const out = await api("/console/api/whatif", { yaml: $("wi-yaml").value });
  if (!out.ok) {
    $("wi-error").textContent = out.error;
    $("wi-result").hidden = true;
    return;
  }
  const s = out.summary;
  $("wi-result").hidden = false;
  $("wi-replayed").textContent = String(s.replayed);
  $("wi-changed-model").textContent = String(s.changed_model);
  $("wi-changed-provider").textContent = String(s.changed_provider);
  $("wi-spend").textContent = `$${num(s.spend_before_usd, 6)} → $${num(s.spend_after_usd, 6)} (` +
    (s.spend_delta_usd >= 0 ? "+" : "") + num(s.spend_delta_usd, 6) + ")";
  fillRows("wi-rules", s.by_rule.map((r) => [r.rule, r.requests, r.changed_model, r.changed_provider,
    num(r.spend_before_usd, 6), num(r.spend_after_usd, 6)]));
  fillRows("wi-moves", s.moves.map((m) => [m.requests, `${m.from_rule} / ${m.from_model}`, `${m.to_rule} / ${m.to_model}`]));
}

function loadFile() {
  const f = $("wi-file").files[0];
  if (!f) return;
  const reader = new FileReader();
  reader.onload = () => { $("wi-yaml").value = reader.result; };
  reader.readAsText(f);
}

// -- pages and refresh ------------------------------------------------------------------
async function refresh() {
  try {
    if (st.page === "live") renderLive(await api("/console/api/live"));
    if (st.page === "recent") renderRecent(await api("/console/api/decisions?limit=200"));
    $("status").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    $("status").textContent = e.message;
  }
}

function show() {
  st.page = (location.hash || "#live").slice(1);
  for (const p of ["live", "recent", "playground", "whatif"]) {
    $("page-" + p).hidden = p !== st.page;
    $("nav-" + p).className = p === st.page ? "active" : "";
  }
  refresh();
}

async function start() {
  try {
    st.meta = await api("/console/api/meta");
  } catch (e) {
    return;
  }
  $("login").hidden = true;
  document.querySelector("main").hidden = false;
  options("pg-model", st.meta.models, ["auto", "auto"]);
  options("pg-key", st.meta.keys, ["", "(no key: default policy " + st.meta.default_policy + ")"]);
  options("pg-policy", st.meta.policies, ["", "(none)"]);
  show();
  if (!st.timer) st.timer = setInterval(refresh, REFRESH_MS);
}

function guard(fn, errorId) {
  return (ev) => { ev.preventDefault(); fn().catch((e) => { $(errorId).textContent = e.message; }); };
}

window.addEventListener("hashchange", show);
$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(KEY, $("admin-key").value);
  start();
});
$("pg-explain").addEventListener("click", guard(explain, "pg-error"));
$("pg-send").addEventListener("click", guard(send, "pg-error"));
$("wi-run").addEventListener("click", guard(whatIf, "wi-error"));
$("wi-file").addEventListener("change", loadFile);
start();
