// leadsync console: a small single-page UI over /api/v1 (no framework, no
// build step). Every value from the API goes into the page as text, never
// as HTML.
"use strict";

const state = { me: null, cursor: null, parkedKind: "dlq", sources: [] };
const $ = (id) => document.getElementById(id);
const TYPES = ["EMAIL_SENT", "FIRST_EMAIL_SENT", "EMAIL_OPEN", "EMAIL_LINK_CLICK",
  "EMAIL_REPLY", "EMAIL_BOUNCE", "LEAD_UNSUBSCRIBED", "LEAD_CATEGORY_UPDATED",
  "CAMPAIGN_STATUS_CHANGED", "UNTRACKED_REPLIES", "MANUAL_STEP_REACHED"];
const OUTCOMES = ["received", "synced", "filtered", "held", "released", "expired",
  "dlq", "duplicate", "quarantined"];

async function api(method, path, body) {
  const h = { "X-Requested-With": "leadsync-console" };
  if (body !== undefined) h["Content-Type"] = "application/json";
  if (method !== "GET" && state.me && state.me.csrf) h["X-CSRF-Token"] = state.me.csrf;
  const r = await fetch(path, {
    method, headers: h, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let j = null;
  try { j = await r.json(); } catch (e) { j = null; }
  if (r.status === 401 && path !== "/api/v1/login") { showLogin(); }
  return { status: r.status, body: j };
}

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else if (k in e && typeof v !== "string") e[k] = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k !== null && k !== undefined)
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

function flash(msg, bad) {
  const f = $("flash");
  f.textContent = msg;
  f.className = bad ? "bad" : "ok";
}

function when(s) {
  if (!s) return "never";
  const d = new Date(s);
  return isNaN(d) ? s : d.toLocaleString();
}

function errText(res) {
  return (res.body && res.body.error && res.body.error.message) || ("HTTP " + res.status);
}

function showPage(name) {
  for (const p of document.querySelectorAll(".page")) p.hidden = p.id !== "page-" + name;
  for (const a of document.querySelectorAll("#nav a"))
    a.setAttribute("aria-current", a.dataset.page === name ? "page" : "false");
}

function showLogin() {
  state.me = null;
  $("nav").hidden = true; $("whoami").hidden = true; $("logout").hidden = true;
  showPage("login");
  $("login-user").focus();
}

async function boot() {
  const r = await api("GET", "/api/v1/me");
  if (r.status !== 200) return;
  state.me = r.body;
  $("nav").hidden = false; $("logout").hidden = false;
  $("whoami").hidden = false;
  $("whoami").textContent = r.body.user + " (" + r.body.role + ")";
  document.body.dataset.role = r.body.role;
  route();
}

// ---- search and timeline ---------------------------------------------

function outcomeBadge(o) {
  return el("span", { class: "badge o-" + o }, o);
}

function eventItem(e) {
  const a = el("a", { href: "#/event/" + e.event_id, class: "ev-link", "data-event-id": e.event_id },
    e.event_type || "event");
  return el("li", { class: "ev" },
    el("div", { class: "ev-head" }, a, " ", outcomeBadge(e.outcome)),
    el("div", { class: "ev-meta" },
      (e.lead_email || "(no lead)") + " · " + (e.tenant || "-") + " · received " + when(e.received_at)),
    e.reason ? el("div", { class: "ev-reason" }, "reason: " + e.reason) : null);
}

async function search(more) {
  const q = new URLSearchParams();
  const email = $("search-email").value.trim();
  if (email) q.set("email", email);
  for (const [id, k] of [["f-tenant", "tenant"], ["f-type", "type"], ["f-outcome", "outcome"], ["f-since", "since"]])
    if ($(id).value) q.set(k, $(id).value);
  if (more && state.cursor) q.set("cursor", state.cursor);
  q.set("limit", "50");
  const r = await api("GET", "/api/v1/events?" + q.toString());
  if (r.status !== 200) { flash(errText(r), true); return; }
  if (!more) $("timeline").replaceChildren();
  for (const e of r.body.events) $("timeline").append(eventItem(e));
  state.cursor = r.body.next;
  $("more").hidden = !r.body.next;
  const n = $("timeline").children.length;
  $("search-summary").textContent = n === 0 ? "No events." :
    n + " event" + (n === 1 ? "" : "s") + (email ? " for " + email : "") + ", newest first.";
}

// ---- one event --------------------------------------------------------

function stepText(s) {
  const d = s.detail || {};
  const where = s.topic + " [" + s.partition + "] @" + s.offset;
  const parts = [where];
  if (d.group) parts.push("group " + d.group);
  if (d.attempts) parts.push("attempts " + d.attempts);
  if (d.reason) parts.push("reason " + d.reason);
  if (d.error && d.error.http_status) parts.push("HubSpot " + d.error.http_status + " " + (d.error.category || ""));
  if (d.hubspot && d.hubspot.contact_id) parts.push("contact " + d.hubspot.contact_id);
  if (d.replay) parts.push("replay " + d.replay + (d.attempt ? " attempt " + d.attempt : ""));
  if (d.latency_ms !== undefined) parts.push(d.latency_ms + " ms");
  return parts.join(" · ");
}

async function showEvent(id) {
  showPage("event");
  $("ev-id").textContent = id;
  const r = await api("GET", "/api/v1/events/" + encodeURIComponent(id));
  if (r.status !== 200) { flash(errText(r), true); return; }
  const e = r.body.event;
  const facts = [["Type", e.event_type], ["Outcome", e.outcome], ["Reason", e.reason],
    ["Lead", e.lead_email], ["Tenant", e.tenant], ["Source", e.source], ["Campaign", e.campaign_id],
    ["Event time", e.event_time], ["Received", when(e.received_at)],
    ["Kafka", e.topic ? e.topic + " [" + e.partition + "] @" + e.offset : null]];
  $("ev-facts").replaceChildren(...facts.filter((f) => f[1]).flatMap((f) =>
    [el("dt", {}, f[0]), el("dd", { id: "ev-" + f[0].toLowerCase().replace(" ", "-") }, f[1])]));
  $("ev-steps").replaceChildren(...r.body.steps.map((s) =>
    el("li", { class: "step s-" + s.kind }, el("strong", {}, s.kind), " ", when(s.at),
      el("div", { class: "ev-meta" }, stepText(s)))));
  const links = e.links || [];
  $("ev-links").replaceChildren(...(links.length ? links.map((l) =>
    el("li", {}, el("a", { href: l.url, rel: "noopener noreferrer", target: "_blank" }, l.type + " " + l.id))) :
    [el("li", {}, e.contact_id ? "contact " + e.contact_id : "nothing written yet")]));
  $("main").focus();
}

// ---- DLQ and quarantine ----------------------------------------------

function selectedIds() {
  return [...document.querySelectorAll("#parked-table tbody input:checked")].map((c) => c.value);
}

function updateCount() {
  $("replay-count").textContent = selectedIds().length + " selected";
}

async function showParked(kind) {
  state.parkedKind = kind;
  showPage("parked");
  $("parked-title").textContent = kind === "dlq" ? "Dead-letter queue" : "Quarantine";
  $("parked-caption").textContent = kind === "dlq" ?
    "Events HubSpot refused or that ran out of retries" : "Bodies the ingress could not validate";
  $("replay-result").textContent = "";
  const r = await api("GET", "/api/v1/" + kind + "?state=" + $("parked-state").value + "&limit=200");
  if (r.status !== 200) { flash(errText(r), true); return; }
  const rows = r.body.records.map((p) => el("tr", { "data-id": p.id },
    el("td", {}, el("input", { type: "checkbox", value: p.id, class: "select-row",
      "aria-label": "Select " + (p.lead_email || p.id), disabled: p.state !== "pending" })),
    el("td", {}, when(p.parked_at)),
    el("td", {}, p.tenant || "-"),
    el("td", {}, p.event_id ? el("a", { href: "#/event/" + p.event_id }, p.lead_email || p.event_id) : (p.lead_email || "-")),
    el("td", {}, p.event_type || "-"),
    el("td", {}, p.reason || "-"),
    el("td", {}, [p.http_status, p.category, p.message].filter(Boolean).join(" ")),
    el("td", {}, p.state + (p.replayed_by ? " by " + p.replayed_by : ""))));
  $("parked-table").querySelector("tbody").replaceChildren(...rows);
  $("select-all").checked = false;
  updateCount();
  const canReplay = state.me && state.me.role === "operator";
  $("replay-form").dataset.readonly = canReplay ? "no" : "yes";
  $("replay-result").textContent = canReplay ? "" : "Your role is viewer: the console will refuse a replay.";
}

async function replay(dry) {
  const ids = selectedIds();
  if (!ids.length) { $("replay-result").textContent = "Select at least one record."; return; }
  const body = { ids, dry_run: dry, reason: $("replay-reason").value.trim() };
  const r = await api("POST", "/api/v1/" + state.parkedKind + "/replay", body);
  if (r.status !== 200) { $("replay-result").textContent = "Refused: " + errText(r); return; }
  const b = r.body;
  $("replay-result").textContent = dry ?
    "Dry run: " + b.items.filter((i) => i.result === "would_replay").length + " of " + b.requested + " would be replayed" +
      (b.unroutable ? ", " + b.unroutable + " name no topic" : "") + "." :
    "Replayed " + b.replayed + " of " + b.requested + ".";
  const here = location.hash;
  if (!dry) setTimeout(() => { if (location.hash === here) showParked(state.parkedKind); }, 800);
}

// ---- sources ------------------------------------------------------------

async function loadTenants() {
  const r = await api("GET", "/api/v1/tenants");
  if (r.status !== 200) return;
  for (const sel of [$("f-tenant"), $("src-tenant")]) {
    const keep = sel.id === "f-tenant" ? [el("option", { value: "" }, "any")] : [];
    sel.replaceChildren(...keep, ...r.body.tenants.map((t) => el("option", { value: t.id }, t.id)));
  }
}

function countsText(c) {
  const e = Object.entries(c || {});
  return e.length ? e.map(([k, v]) => k + " " + v).join(", ") : "none";
}

async function showSources() {
  showPage("sources");
  const r = await api("GET", "/api/v1/sources");
  if (r.status !== 200) { flash(errText(r), true); return; }
  const op = state.me && state.me.role === "operator";
  const rows = r.body.sources.map((s) => el("tr", { "data-source": s.id, class: s.silent ? "silent" : (s.revoked ? "revoked" : "") },
    el("th", { scope: "row" }, s.id, s.revoked ? el("span", { class: "badge o-dlq" }, "revoked") : null,
      s.silent ? el("span", { class: "badge o-silent" }, "silent") : null),
    el("td", {}, s.tenant),
    el("td", {}, s.level + (s.scope_id ? " " + s.scope_id : "")),
    el("td", { class: "last" }, when(s.last_received_at)),
    el("td", { class: "counts" }, countsText(s.counts_24h)),
    el("td", {}, (s.tokens || []).map((t) => t.fingerprint + "…" + (t.not_after ? " until " + when(t.not_after) : "")).join("; ") || "none"),
    el("td", {}, op && !s.revoked ? el("button", { type: "button", class: "rotate", "data-source": s.id }, "Rotate") : null,
      op && !s.revoked ? el("button", { type: "button", class: "revoke danger", "data-source": s.id }, "Revoke") : null)));
  $("sources-table").querySelector("tbody").replaceChildren(...rows);
  $("source-form").hidden = !op;
  return r.body.sources;
}

// The read model follows Kafka within a moment: refresh until the change
// shows (at most ~5 s).
async function showSourcesUntil(pred) {
  for (let i = 0; i < 20 && location.hash === "#/sources"; i++) {
    const list = await showSources();
    if (!list || pred(list)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

function showSecret(url) {
  $("source-secret").hidden = false;
  $("source-url").value = url;
  $("source-url").focus();
  $("source-url").select();
}

async function addSource(ev) {
  ev.preventDefault();
  $("source-error").textContent = "";
  const body = { tenant: $("src-tenant").value, id: $("src-id").value.trim(), level: $("src-level").value };
  if ($("src-scope").value.trim()) body.scope_id = $("src-scope").value.trim();
  const r = await api("POST", "/api/v1/sources", body);
  if (r.status !== 201) { $("source-error").textContent = errText(r); return; }
  $("src-id").value = "";
  showSecret(r.body.webhook_url);
  await showSourcesUntil((l) => l.some((s) => s.id === body.id));
}

async function sourceAction(e) {
  const b = e.target.closest("button");
  if (!b || !b.dataset.source) return;
  const id = b.dataset.source;
  if (b.classList.contains("rotate")) {
    const r = await api("POST", "/api/v1/sources/" + encodeURIComponent(id) + "/rotate", {});
    if (r.status !== 200) { flash(errText(r), true); return; }
    showSecret(r.body.webhook_url);
    const n = r.body.source.tokens.length;
    await showSourcesUntil((l) => l.some((s) => s.id === id && s.tokens.length === n));
    flash("Rotated " + id + ": the old URL keeps working until " + when(r.body.source.tokens[1] && r.body.source.tokens[1].not_after) + ".");
  } else if (b.classList.contains("revoke")) {
    if (!window.confirm("Revoke " + id + "? Its webhook URL stops working at once.")) return;
    const r = await api("POST", "/api/v1/sources/" + encodeURIComponent(id) + "/revoke", {});
    if (r.status !== 200) { flash(errText(r), true); return; }
    flash("Revoked " + id + ".");
    await showSourcesUntil((l) => l.some((s) => s.id === id && s.revoked));
  }
}

// ---- quotas -------------------------------------------------------------

async function showQuotas() {
  showPage("quotas");
  const r = await api("GET", "/api/v1/quotas");
  if (r.status !== 200) { flash(errText(r), true); return; }
  const n = (v) => (v === null || v === undefined ? "?" : Number(v).toLocaleString());
  $("quotas-table").querySelector("tbody").replaceChildren(...r.body.quotas.map((q) => {
    const o = q.observed || {};
    return el("tr", {}, el("th", { scope: "row" }, q.tenant), el("td", {}, q.portal_id || "-"), el("td", {}, q.tier || "-"),
      el("td", {}, n(o.window_remaining) + " / " + n(o.window_max || q.configured_per_10s)),
      el("td", {}, n(o.daily_remaining) + " / " + n(o.daily_max || q.configured_daily)),
      el("td", { class: q.rate_limited_24h ? "warn" : "" }, n(q.rate_limited_24h)),
      el("td", {}, o.observed_at ? when(o.observed_at) : "not yet"));
  }));
  const a = await api("GET", "/api/v1/assurance");
  if (a.status !== 200) { $("assurance").textContent = errText(a); return; }
  $("assurance").replaceChildren(a.body.message,
    ...(a.body.tenants || []).map((t) => el("div", { class: "ev-meta" },
      t.tenant + ": " + (t.state || "?") + ", " + (t.backfilled || 0) + " back-filled, " +
      (t.api_calls || 0) + " Smartlead calls, updated " + when(t.updated_at))));
}

// ---- routing ------------------------------------------------------------

function route() {
  if (!state.me) return;
  const h = location.hash || "#/";
  if (h.startsWith("#/event/")) return showEvent(decodeURIComponent(h.slice(8)));
  if (h === "#/dlq") return showParked("dlq");
  if (h === "#/quarantine") return showParked("quarantine");
  if (h === "#/sources") return showSources();
  if (h === "#/quotas") return showQuotas();
  showPage("search");
  $("search-email").focus();
}

function init() {
  for (const t of TYPES) $("f-type").append(el("option", { value: t }, t));
  for (const o of OUTCOMES) $("f-outcome").append(el("option", { value: o }, o));
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("login-error").textContent = "";
    const r = await api("POST", "/api/v1/login", { user: $("login-user").value, password: $("login-password").value });
    $("login-password").value = "";
    if (r.status !== 200) { $("login-error").textContent = errText(r); return; }
    await boot();
    loadTenants();
  });
  $("logout").addEventListener("click", async () => { await api("POST", "/api/v1/logout", {}); showLogin(); });
  $("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); search(false); });
  $("more").addEventListener("click", () => search(true));
  $("parked-state").addEventListener("change", () => showParked(state.parkedKind));
  $("select-all").addEventListener("change", (e) => {
    for (const c of document.querySelectorAll("#parked-table tbody input:not(:disabled)")) c.checked = e.target.checked;
    updateCount();
  });
  $("parked-table").addEventListener("change", updateCount);
  $("replay-dry").addEventListener("click", () => replay(true));
  $("replay-form").addEventListener("submit", (ev) => { ev.preventDefault(); replay(false); });
  $("source-form").addEventListener("submit", addSource);
  $("sources-table").addEventListener("click", sourceAction);
  $("source-secret-done").addEventListener("click", () => { $("source-url").value = ""; $("source-secret").hidden = true; });
  window.addEventListener("hashchange", route);
  boot().then(() => { if (state.me) loadTenants(); });
}

document.addEventListener("DOMContentLoaded", init);
