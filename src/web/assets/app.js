// The capcom page: board (live over Server-Sent Events), task view, merge + confirm through
// the daemon's gate, push-to-talk, and the changelog player. The device token travels in
// the X-Capcom-Device header, never in a cookie.
"use strict";
const $ = (id) => document.getElementById(id);
const KEY = "capcom.device";
const state = { tasks: [], coordinator: null, now: null, view: "board", task: null, pending: null, live: false, showAll: false,
  // the server sends a keep-alive comment every 15 s: a stream silent for three of them is dead
  heartbeatMs: 45000, lastByte: 0, offlineSince: null, notified: {} };
window.capcom = state; // for the browser tests

function token() { return localStorage.getItem(KEY); }
function esc(s) { return String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }
function ago(iso) {
  if (!iso) return "";
  const s = Math.max(0, (Date.parse(state.now || new Date().toISOString()) - Date.parse(iso)) / 1000);
  if (s < 90) return Math.round(s) + " s ago";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  if (s < 129600) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " d ago";
}
function plural(n, one, many) { return n + " " + (n === 1 ? one : many || one + "s"); }

async function api(path, opts = {}) {
  const headers = Object.assign({ "X-Capcom-Device": token() || "" }, opts.headers || {});
  if (opts.json !== undefined) { headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(opts.json); }
  const r = await fetch(path, Object.assign({}, opts, { headers }));
  if (r.status === 401) { unpair("This device is not paired (or was revoked)."); throw new Error("unauthorized"); }
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || ("HTTP " + r.status));
  return body;
}

// ---- pairing ------------------------------------------------------------------------
function unpair(msg) {
  localStorage.removeItem(KEY);
  localStorage.removeItem(SEEN);
  if (window.caches) caches.delete(BOARD_CACHE).catch(() => {});
  $("app").hidden = true; $("dock").hidden = true; $("pairing").hidden = false; $("offline").hidden = true;
  if (msg) $("pair-error").textContent = msg;
  if (state.stream) { state.stream.abort(); state.stream = null; }
}
async function pair(code, name) {
  const r = await fetch("/app/pair", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ code, name }) });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) { $("pair-error").textContent = body.error || ("HTTP " + r.status); return false; }
  localStorage.setItem(KEY, body.token);
  $("pair-error").textContent = "";
  return true;
}
function guessName() {
  const ua = navigator.userAgent;
  if (/iPhone/.test(ua)) return "iPhone"; if (/iPad/.test(ua)) return "iPad"; if (/Android/.test(ua)) return "Android phone";
  return "browser";
}
$("pair-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (await pair($("pair-code").value.trim(), $("pair-name").value.trim() || guessName())) start();
});

// ---- live board ----------------------------------------------------------------------
async function listen() {
  if (state.stream) state.stream.abort();
  const ctl = new AbortController(); state.stream = ctl;
  try {
    const r = await fetch("/app/v1/events", { headers: { "X-Capcom-Device": token() || "", Accept: "text/event-stream" }, signal: ctl.signal });
    if (r.status === 401) { unpair("This device is not paired (or was revoked)."); return; }
    if (!r.ok || !r.body) throw new Error("HTTP " + r.status);
    // a service worker's cached answer is not the daemon
    if (r.headers.get("X-Capcom-Cached")) throw new Error("offline");
    state.lastByte = Date.now();
    setLive(true);
    const reader = r.body.getReader(); const dec = new TextDecoder(); let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      state.lastByte = Date.now(); seen();
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i); buf = buf.slice(i + 2);
        let ev = "message", data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) ev = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (ev === "board" && data.length) onBoard(JSON.parse(data.join("\n")));
        else if (ev === "patch" && data.length) onPatch(JSON.parse(data.join("\n")));
      }
    }
  } catch (e) { if (ctl.signal.aborted) return; }
  if (state.stream !== ctl) return;
  setLive(false);
  if (token()) setTimeout(listen, 2000);
}
function setLive(on) {
  if (on && !state.live) flushOutbox();
  state.live = on; $("conn").textContent = on ? "live" : "offline"; $("conn").classList.toggle("live", on);
  if (on) state.offlineSince = null;
  else if (!state.offlineSince) state.offlineSince = +localStorage.getItem(SEEN) || Date.now();
  showOffline();
}
// ---- offline: the last board, kept where the service worker serves it from ----------
const SEEN = "capcom.seen", BOARD_CACHE = "capcom-board";
let seenAt = 0;
/// The daemon answered just now (written at most every few seconds).
function seen() { const now = Date.now(); if (now - seenAt > 5000) { seenAt = now; localStorage.setItem(SEEN, String(now)); } }
function hhmm(ms) { const d = new Date(ms); return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0"); }
function showOffline() {
  const b = $("offline");
  b.hidden = state.live || !token() || !state.offlineSince;
  if (!b.hidden) b.textContent = "Offline since " + hhmm(state.offlineSince) + ": showing the last board. Reconnecting…";
}
let keepTimer = null;
/// The board, kept at most once a second (a burst of updates is written once).
function keepBoard(text) {
  clearTimeout(keepTimer);
  keepTimer = setTimeout(() => writeBoard(text), 1000);
}
async function writeBoard(text) {
  if (!window.caches) return;
  try {
    const c = await caches.open(BOARD_CACHE);
    await c.put("/app/v1/board", new Response(text, { headers: { "Content-Type": "application/json", "X-Capcom-Cached": new Date().toISOString() } }));
  } catch (e) { /* storage full or not allowed: the live board still works */ }
}
/// The board the service worker kept, shown while the daemon cannot be reached.
async function cachedBoard() {
  if (!window.caches || state.boards) return;
  try {
    const r = await caches.match("/app/v1/board", { cacheName: BOARD_CACHE });
    if (r && !state.boards) { onBoard(await r.json()); state.boards = 0; }
  } catch (e) { /* nothing kept */ }
}
// a stream that stopped sending (even its keep-alives) is dead: drop it and reconnect
setInterval(() => {
  if (state.live && state.stream && Date.now() - state.lastByte > state.heartbeatMs) {
    const s = state.stream; state.stream = null; s.abort();
    setLive(false);
    if (token()) listen();
  }
}, 1000);

function onBoard(b) {
  state.tasks = b.tasks || []; state.coordinator = b.coordinator || null; state.now = b.now;
  if (b.now && state.live) state.skew = Date.parse(b.now) - Date.now(); state.boards = (state.boards || 0) + 1;
  state.needsYou = b.needs_you || [];
  // how many old tasks the server left out of the board (`/app/v1/board?all=1` has them)
  if ("hidden" in b) state.serverHidden = b.hidden || 0;
  if (state.live) keepBoard(JSON.stringify({ tasks: state.tasks, needs_you: state.needsYou, coordinator: state.coordinator, now: state.now, hidden: state.serverHidden || 0 }));
  renderBoard(); renderNeedsYou(); renderQuestion(); notifyNeeds();
  if (state.view === "task" && state.task) refreshTask(state.task.id, true);
}
// a patch carries only what changed since the board: tasks to add or replace (by id), ids
// that left, and needs_you / coordinator when they changed
function onPatch(p) {
  const byId = new Map(state.tasks.map((t) => [t.id, t]));
  for (const id of p.remove || []) byId.delete(id);
  for (const t of p.upsert || []) byId.set(t.id, t);
  onBoard({
    tasks: [...byId.values()].sort((a, b) => a.id - b.id),
    coordinator: "coordinator" in p ? p.coordinator : state.coordinator,
    needs_you: "needs_you" in p ? p.needs_you : state.needsYou,
    hidden: "hidden" in p ? p.hidden : state.serverHidden || 0,
    now: p.now,
  });
}
// ---- "needs you" notifications while the page is open ----------------------------------
function needsList() {
  const out = [];
  for (const t of state.tasks) if (group(t) === "needs") out.push({ key: "task-" + t.id + "-" + t.state, title: `Task ${t.id} needs you`, body: t.title + (t.reason ? ": " + t.reason : ""), task: t.id });
  for (const s of state.needsYou || []) out.push({ key: "session-" + s.agent + "-" + s.session_id + "-" + s.last_event, title: `${s.agent} needs you`, body: s.last_message || (s.repo || s.folder || "") });
  return out;
}
function notifyNeeds() {
  const list = needsList();
  // the first board only sets what is already known: a notification is for something new
  const first = !state.notifyPrimed; state.notifyPrimed = true;
  for (const n of list) {
    if (state.notified[n.key]) continue;
    state.notified[n.key] = true;
    if (first || !("Notification" in window) || Notification.permission !== "granted") continue;
    try {
      const note = new Notification(n.title, { body: n.body, tag: n.key, icon: "/icon.png" });
      note.onclick = () => { window.focus(); if (n.task) openTask(n.task); note.close(); };
      (state.notifications = state.notifications || []).push({ title: n.title, body: n.body });
    } catch (e) { /* a browser that only notifies from a service worker */ }
  }
  alertsButton();
}
function alertsButton() { $("alerts").hidden = !("Notification" in window) || Notification.permission !== "default"; }
$("alerts").onclick = async () => { try { await Notification.requestPermission(); } catch (e) { /* refused */ } alertsButton(); subscribePush(); };
// ---- Web Push: "needs you" messages while the page is closed ----------------------------
// With notifications allowed and the service worker active, the browser's push service gives a
// subscription for capcom's VAPID key; capcom keeps it for this device and sends it encrypted
// messages (the service worker shows them). Where there is no push service, the page's own
// notifications above still work.
function b64urlBytes(s) {
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}
function sameBytes(a, b) { return a.length === b.length && a.every((x, i) => x === b[i]); }
async function subscribePush() {
  if (state.pushing || !token() || !("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window) || Notification.permission !== "granted") return;
  state.pushing = true;
  try {
    const reg = await navigator.serviceWorker.ready;
    const key = b64urlBytes((await api("/app/v1/push/key")).key);
    let sub = await reg.pushManager.getSubscription();
    // one made for another key (capcom's data dir was replaced) is given up for a new one
    const had = sub && sub.options && sub.options.applicationServerKey;
    if (had && !sameBytes(new Uint8Array(had), key)) { await sub.unsubscribe(); sub = null; }
    if (!sub) sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
    await api("/app/v1/push/subscribe", { method: "POST", json: sub.toJSON() });
    state.pushSubscribed = true;
  } catch (e) {
    // no push service reachable, or refused: tried again at the next start
    state.pushError = String((e && e.message) || e); state.pushing = false;
  }
}
// a tap on a pushed message, with the page already open
if ("serviceWorker" in navigator) navigator.serviceWorker.addEventListener("message", (e) => { if (e.data && e.data.open) openTask(Number(e.data.open)); });
function checksBadge(t) {
  if (!t.checks || !t.checks.length) return t.state === "checking" || t.state === "running" ? '<span class="badge running">checks running</span>' : '<span class="badge">no checks</span>';
  const bad = t.checks.filter((c) => !c.ok).length;
  const n = t.checks.length, word = n === 1 ? "check" : "checks";
  return bad ? `<span class="badge red">${bad}/${n} ${word} red</span>` : `<span class="badge green">${n} ${word} green</span>`;
}
// what a task's runs cost and took (the `spend` of its view); null when nothing is known yet
function usd(c) { return c > 0 && c < 0.01 ? "$" + c.toFixed(4) : "$" + c.toFixed(2); }
function dur(ms) { const s = Math.round((ms || 0) / 1000); return s < 60 ? s + "s" : s < 3600 ? Math.floor(s / 60) + "m " + String(s % 60).padStart(2, "0") + "s" : Math.floor(s / 3600) + "h " + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + "m"; }
function spendText(sp) {
  if (!sp || !sp.runs) return null;
  const parts = [];
  if (sp.cost_usd != null) parts.push((sp.runs_with_cost < sp.runs ? "at least " : "") + usd(sp.cost_usd));
  else parts.push("cost not reported");
  if (sp.wall_ms != null) parts.push(dur(sp.wall_ms) + " wall");
  if (sp.cpu_ms != null) parts.push(dur(sp.cpu_ms) + " CPU");
  parts.push(sp.runs === 1 ? "1 run" : sp.runs + " runs");
  if (sp.follow_ups) parts.push(sp.follow_ups === 1 ? "1 follow-up" : sp.follow_ups + " follow-ups");
  if (sp.input_tokens != null) parts.push(Math.round(sp.input_tokens / 100) / 10 + "k tokens in, " + Math.round((sp.output_tokens || 0) / 100) / 10 + "k out");
  return parts.join(" · ");
}
// agent sessions the user runs themselves that wait for them (a permission prompt, a question)
// and the tasks that wait for them (a question, a failure): the board's first group
function renderNeedsYou() {
  const list = state.needsYou || [];
  const tasks = state.tasks.filter((t) => group(t) === "needs");
  $("needs-you").hidden = list.length + tasks.length === 0;
  $("needs-you-title").innerHTML = `Needs you <span class="count">${list.length + tasks.length}</span>`;
  $("needs-you-list").innerHTML = tasks.map(card).join("") + list.map((s) => {
    const place = s.repo || (s.folder ? s.folder.split("/").filter(Boolean).pop() || s.folder : "");
    return `
    <li class="card state-needs_attention session">
      <h3>${esc(s.agent)}${place ? " in " + esc(place) : ""}</h3>
      <div class="meta"><span class="chip needs">${s.last_event.includes("elicitation") ? "asks" : "needs your permission"}</span><span>${ago(s.updated_at)}</span></div>
      ${s.last_message ? `<div class="clamp">${esc(s.last_message)}</div>` : ""}
    </li>`;
  }).join("");
  for (const li of $("needs-you-list").querySelectorAll("[data-task]")) li.onclick = () => openTask(+li.dataset.task);
}
// Where a task stands at arm's length: its group on the board and its chip.
function group(t) {
  switch (t.state) {
    case "needs_attention": case "held": case "failed": return "needs";
    case "queued": case "scheduled": case "running": case "checking": return "running";
    case "ready": return "ready";
    default: return "done";
  }
}
function chip(t) {
  const cls = t.state === "failed" ? "failed" : { needs: "needs", running: "running", ready: "ready", done: "done" }[group(t)];
  const word = { needs_attention: "needs you", held: "needs you", checking: "checking" }[t.state] || t.state.replace("_", " ");
  return `<span class="chip ${cls}">${esc(word)}</span>`;
}
const DAY = 86400000;
/// Merged and cancelled tasks leave the board a day after they ended (one tap shows them all).
function old(t) {
  if (group(t) !== "done") return false;
  const end = Date.parse(t.finished || t.updated || t.created || "");
  return !isNaN(end) && Date.parse(state.now || new Date().toISOString()) - end > DAY;
}
function card(t) {
  return `
    <li class="card state-${esc(t.state)}" data-task="${t.id}" tabindex="0">
      <h3>#${t.id} ${esc(t.title)}</h3>
      <div class="meta">
        ${chip(t)}
        ${t.agent ? `<span>${esc(t.agent)}</span>` : ""}${t.repo ? `<span>${esc(t.repo)}</span>` : ""}
        <span>${ago(t.updated || t.created)}</span>
        ${checksBadge(t)}
        ${t.scope_violations && t.scope_violations.length ? `<span class="flag">scope: ${t.scope_violations.length}</span>` : ""}
        ${t.secrets ? `<span class="flag">secrets: ${t.secrets}</span>` : ""}
        ${t.files_changed != null ? `<span>${plural(t.files_changed, "file")} +${t.insertions || 0} &minus;${t.deletions || 0}</span>` : ""}
        ${t.pr ? `<span>PR #${t.pr}</span>` : ""}
        ${t.spend && t.spend.cost_usd != null ? `<span class="cost">${t.spend.runs_with_cost < t.spend.runs ? "≥ " : ""}${usd(t.spend.cost_usd)}</span>` : ""}
      </div>
      ${t.reason ? `<div class="muted clamp">${esc(t.reason)}</div>` : ""}
    </li>`;
}
function renderBoard() {
  const groups = { needs: [], running: [], ready: [], done: [] };
  let hidden = state.showAll ? 0 : state.serverHidden || 0;
  // with "All": the old tasks the server keeps off the live board too, the live copy first
  const live = new Set(state.tasks.map((t) => t.id));
  const pool = state.showAll && state.olderTasks ? state.tasks.concat(state.olderTasks.filter((t) => !live.has(t.id))) : state.tasks;
  for (const t of pool) {
    if (!state.showAll && old(t)) { hidden++; continue; }
    if (group(t) !== "needs") groups[group(t)].push(t);
  }
  const names = { needs: "Needs you", running: "Running", ready: "Ready", done: state.showAll ? "Done" : "Done today" };
  const root = $("board");
  root.innerHTML = Object.entries(groups).filter(([, list]) => list.length).map(([g, list]) => `
    <section class="group group-${g}" aria-labelledby="group-${g}">
      <h2 id="group-${g}">${names[g]} <span class="count">${list.length}</span></h2>
      <ul class="cards">${list.map(card).join("")}</ul>
    </section>`).join("");
  $("board-empty").hidden = state.tasks.length + (state.needsYou || []).length > 0;
  const more = $("show-all");
  more.hidden = !hidden && !state.showAll;
  more.textContent = state.showAll ? "Only today" : `All (${plural(hidden, "older task")})`;
  for (const li of root.querySelectorAll("[data-task]")) li.onclick = () => openTask(+li.dataset.task);
}
// a card opens with Enter too (keyboards, switch access)
for (const id of ["board", "needs-you-list"]) $(id).addEventListener("keydown", (e) => {
  const li = e.target.closest && e.target.closest("[data-task]");
  if (li && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); openTask(+li.dataset.task); }
});
$("show-all").onclick = async () => {
  state.showAll = !state.showAll;
  if (state.showAll && state.serverHidden) {
    try { state.olderTasks = (await api("/app/v1/board?all=1&limit=200")).tasks || []; } catch (e) { say(e.message); }
  }
  renderBoard();
};
state.renderBoard = () => { renderBoard(); renderNeedsYou(); }; // for the browser tests

// ---- merge question ----------------------------------------------------------------
// The gate's question with its window: a ring that empties as the time runs out, Cancel
// (a "no" to the coordinator), and once the window has closed "expired, ask again" with no Confirm.
function serverNow() { return Date.now() + (state.skew || 0); }
function renderQuestion() {
  const q = state.pending || state.expired || (state.coordinator && state.coordinator.question ? { question: state.coordinator.question } : null);
  $("question").hidden = !q;
  clearTimeout(state.questionTimer);
  if (!q) return;
  $("question-text").textContent = q.question;
  const expires = q.expires_at ? Date.parse(q.expires_at) : NaN;
  if (isNaN(expires)) { $("question-left").textContent = ""; $("ring").toggleAttribute("hidden", true); $("confirm").hidden = false; return; }
  const left = expires - serverNow();
  const total = Math.max(1000, expires - (q.asked || serverNow()));
  const expired = left <= 0;
  $("question").classList.toggle("expired", expired);
  $("confirm").hidden = expired;
  $("cancel").textContent = expired ? "Close" : "Cancel";
  $("ring").toggleAttribute("hidden", expired); // an SVG element has no `hidden` property
  $("ring-arc").setAttribute("stroke-dasharray", `${Math.max(0, Math.min(100, (left / total) * 100)).toFixed(1)} 100`);
  $("question-left").textContent = expired ? "expired, ask again" : Math.ceil(left / 1000) + " s left";
  if (expired) { state.expired = q; state.pending = null; return; }
  state.questionTimer = setTimeout(renderQuestion, Math.min(250, left));
}
async function askMerge(id) {
  const a = await api("/app/v1/merge", { method: "POST", json: { task: id } });
  state.pending = a.pending ? Object.assign({ asked: serverNow() }, a.pending) : null; state.lastMerge = a; state.expired = null;
  // the question panel says the question; the answer panel only what else came back
  if (!a.pending) say(a.say);
  renderQuestion();
  return a;
}
$("confirm").onclick = async () => {
  const code = state.pending ? state.pending.code : null;
  let a;
  try { a = await api("/app/v1/confirm", { method: "POST", json: { code } }); } catch (err) { a = { ok: false, say: err.message }; }
  state.pending = null; say(a.say); renderQuestion(); state.lastConfirm = a;
};
// Cancel says "no" to the pending question, the way a spoken "no" does; after the window closed
// nothing is pending and it only closes the panel.
$("cancel").onclick = async () => {
  const expired = $("question").classList.contains("expired");
  state.pending = null; state.expired = null;
  if (expired) { $("question").hidden = true; $("question").classList.remove("expired"); return; }
  let a;
  try { a = await api("/app/v1/brief", { method: "POST", json: { text: "no" } }); } catch (err) { a = { ok: false, say: err.message }; }
  say(a.say); state.lastCancel = a;
  if (state.coordinator) state.coordinator.question = null;
  renderQuestion();
};
function say(text) { if (!text) return; $("heard").hidden = false; $("answer").textContent = text; }

// ---- task view -----------------------------------------------------------------------
async function openTask(id) {
  // never show the last task's view (and its Merge button) under the new task's title
  state.task = null; $("task-view").innerHTML = `<p class="muted">Loading task ${Number(id)}…</p>`;
  state.view = "task"; show(); await refreshTask(id, false);
}
async function refreshTask(id, quiet) {
  let d;
  try { d = await api("/app/v1/tasks/" + id); } catch (e) { if (!quiet) $("task-view").textContent = e.message; return; }
  const same = state.task && state.task.id === id && JSON.stringify(state.task.detail) === JSON.stringify(d);
  state.task = { id, detail: d };
  if (same && quiet) return; // nothing changed: keep the page still under the finger
  const t = d.task, spec = t.spec || {}, v = d.view || {};
  const checks = {};
  for (const e of d.events || []) if (e.kind === "check" && e.data) checks[e.data.name] = e.data;
  const acc = (spec.acceptance || []).map((c) => {
    const r = c.check ? checks[c.check] : null;
    const mark = r ? (r.ok ? '<span class="badge green">pass</span>' : '<span class="badge red">fail</span>') : (c.check ? '<span class="badge">not run</span>' : '<span class="badge">by you</span>');
    return `<li>${mark} ${esc(c.text)}${r && r.tail ? `<pre tabindex="0">${esc(r.tail)}</pre>` : ""}</li>`;
  }).join("");
  const files = (d.files || []).map((f) => `<tr><td>${esc(f.path)}</td><td class="n add">+${f.insertions ?? "?"}</td><td class="n del">&minus;${f.deletions ?? "?"}</td></tr>`).join("");
  // the diff file by file, each folded under its path: long diffs stay readable on a phone
  const colour = (l) => {
    const cls = l.startsWith("+") && !l.startsWith("+++") ? "add" : l.startsWith("-") && !l.startsWith("---") ? "del" : l.startsWith("@@") ? "hunk" : "";
    return `<span class="${cls}">${esc(l)}</span>`;
  };
  const parts = [];
  for (const l of (d.diff || "").split("\n")) {
    if (l.startsWith("diff --git ") || !parts.length) parts.push({ path: (l.match(/^diff --git a\/.* b\/(.*)$/) || [])[1] || "", lines: [] });
    parts[parts.length - 1].lines.push(l);
  }
  const stat = Object.fromEntries((d.files || []).map((f) => [f.path, f]));
  const diff = parts.filter((p) => p.lines.join("").trim()).map((p, i) => {
    const f = stat[p.path];
    const head = p.path ? `${esc(p.path)}${f ? ` <span class="add">+${f.insertions ?? "?"}</span> <span class="del">&minus;${f.deletions ?? "?"}</span>` : ""}` : "changes";
    return `<details class="file"${i < 6 ? " open" : ""}><summary>${head}</summary><pre class="diff" tabindex="0">${p.lines.map(colour).join("\n")}</pre></details>`;
  }).join("");
  const scope = spec.scope || {};
  $("task-view").innerHTML = `
    <h2>#${t.id} ${esc(t.title)}</h2>
    <div class="meta">${chip(t)}${t.agent ? `<span>${esc(t.agent)}</span>` : ""}${t.repo ? `<span>${esc(t.repo)}</span>` : ""}${t.branch ? `<span>${esc(t.branch)}</span>` : ""}${t.pr ? `<span>PR #${t.pr}</span>` : ""}${t.head_sha ? `<span>head ${esc(t.head_sha.slice(0, 10))}</span>` : ""}</div>
    ${t.reason ? `<p class="${t.state === "failed" || t.state === "needs_attention" ? "error" : "muted"}">${esc(t.reason)}</p>` : ""}
    ${t.state === "ready" ? `<p><button id="merge" class="primary">Merge…</button></p>` : ""}
    <h3>Brief</h3><p>${esc(spec.brief || t.title)}</p>
    <h3>Scope</h3><p>${(scope.include || []).length ? "only " + esc(scope.include.join(", ")) : "anywhere"}${(scope.exclude || []).length ? "; not " + esc(scope.exclude.join(", ")) : ""}</p>
    ${(v.scope_violations || []).length ? `<p class="flag">Outside the scope: ${esc(v.scope_violations.join(", "))}</p>` : ""}
    ${v.secrets ? `<p class="flag">${v.secrets} possible secrets flagged</p>` : ""}
    <h3>Acceptance</h3><ul>${acc || "<li class=muted>none given</li>"}</ul>
    ${spendText(v.spend) ? `<h3>Cost</h3><p class="spend">${esc(spendText(v.spend))}</p>` : ""}
    <h3>Changed files</h3>${files ? `<p class="muted">${plural((d.files || []).length, "file")}</p><table>${files}</table>` : '<p class="muted">none yet</p>'}
    ${diff ? `<h3>Diff</h3>${diff}` : ""}
    <h3>Events</h3><ul class="events">${(d.events || []).map((e) => `<li><span class="muted">${esc(e.at.slice(11, 19))}</span> ${esc(e.kind)}: ${esc(e.message)}</li>`).join("")}</ul>
    ${d.log_tail ? `<h3>Agent output</h3><pre tabindex="0">${esc(d.log_tail)}</pre>` : ""}`;
}
// one listener for the task view, so a tap lands even when a live update redrew the view
$("task-view").addEventListener("click", (e) => {
  if (e.target && e.target.id === "merge" && state.task) askMerge(state.task.id).catch((err) => { state.lastMerge = { ok: false, error: err.message }; say(err.message); });
});

// ---- push-to-talk --------------------------------------------------------------------
const rec = window.CapcomRecorder ? new window.CapcomRecorder() : null;
let recording = false;
async function down(e) {
  e.preventDefault();
  if (recording || !rec) return;
  recording = true; $("talk").classList.add("recording"); $("talk").textContent = "Listening… release to send";
  try {
    await rec.start();
    meter();
    if (state.maxClipMs) state.clipTimer = setTimeout(() => up(new Event("pointerup")), state.maxClipMs);
  } catch (err) { recording = false; $("level").hidden = true; $("talk").classList.remove("recording"); $("talk").textContent = "Hold to talk"; say("No microphone: " + err.message); }
}
async function up(e) {
  e.preventDefault();
  if (!recording) return;
  recording = false;
  clearTimeout(state.clipTimer);
  const released = performance.now();
  const clip = rec.stop();
  $("level").hidden = true;
  $("talk").classList.remove("recording"); $("talk").classList.add("thinking"); $("talk").textContent = "Thinking…";
  // The clip is kept in the browser before it is sent, so no failure (a refusal, the daemon
  // down, the network gone, the tab closed) loses it.
  // Each kept clip has its own Idempotency-Key: a retry after a lost answer gets that
  // answer and does not act on the clip twice.
  const key = newKey();
  let id = null;
  try { id = await outbox.put({ blob: clip, at: new Date().toISOString(), error: null, key }); } catch (err) { /* no IndexedDB: send it anyway */ }
  await sendClip(id, clip, released, key);
  $("talk").classList.remove("thinking"); $("talk").textContent = "Hold to talk";
}

/// The level meter: how loud the microphone is, redrawn every frame while recording.
function meter() {
  $("level").hidden = false; state.levelMax = 0;
  const draw = () => {
    if (!recording) { $("level-bar").style.width = "0"; return; }
    const l = rec.level || 0;
    state.levelMax = Math.max(state.levelMax, l);
    // speech sits around 0.05–0.3 RMS: a square root spreads it over the bar
    $("level-bar").style.width = Math.min(100, Math.round(Math.sqrt(l) * 160)) + "%";
    requestAnimationFrame(draw);
  };
  requestAnimationFrame(draw);
}

// ---- a brief typed, for when speaking is not possible --------------------------------
$("type").onclick = () => {
  const f = $("brief-form"); f.hidden = !f.hidden;
  $("type").setAttribute("aria-expanded", String(!f.hidden));
  if (!f.hidden) $("brief-text").focus();
};
$("brief-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const text = $("brief-text").value.trim();
  if (!text) return;
  const btn = $("brief-form").querySelector("button"); btn.disabled = true;
  let a;
  // the same route and Idempotency-Key rules as `capcom brief`: a resend gets the first answer
  try { a = await api("/app/v1/brief", { method: "POST", json: { text }, headers: { "Idempotency-Key": state.typedKey || (state.typedKey = newKey()) } }); $("brief-text").value = ""; state.typedKey = null; }
  catch (err) { a = { ok: false, say: "Not sent: " + err.message + ". Your text is still here." }; }
  btn.disabled = false;
  $("heard").hidden = false; $("transcript").textContent = text; $("answer").textContent = a.say || "";
  state.lastTyped = a;
  if (a.pending) { state.pending = Object.assign({ asked: serverNow() }, a.pending); renderQuestion(); }
});

/// A fresh random Idempotency-Key (128 bits, hex); crypto.getRandomValues works on plain HTTP too.
function newKey() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/// The key of a kept clip; one kept before clips had keys is given one now.
async function keyOf(c) {
  if (c.key) return c.key;
  const key = newKey();
  await outbox.update(c.id, { key }).catch(() => {});
  return key;
}

/// Send one clip; on success forget it, on failure keep it as "not sent" with the reason.
async function sendClip(id, clip, released, key) {
  try {
    const a = await api("/app/v1/talk", { method: "POST", body: clip, headers: { "Content-Type": "audio/wav", "Idempotency-Key": key } });
    if (id != null) await outbox.remove(id).catch(() => {});
    const answered = performance.now();
    $("heard").hidden = false;
    $("transcript").textContent = a.transcript == null ? "(nothing heard)" : a.transcript;
    $("answer").textContent = a.say || "";
    state.lastTalk = { transcript: a.transcript, say: a.say, utterance_id: a.utterance_id, answer_ms: Math.round(answered - released), server_ms: a.server_ms, clip_bytes: clip.size, has_audio: !!a.audio_wav_base64 };
    if (a.audio_wav_base64) {
      const audio = new Audio("data:audio/wav;base64," + a.audio_wav_base64);
      audio.onplaying = () => { state.lastTalk.spoken_ms = Math.round(performance.now() - released); };
      audio.play().catch(() => {});
    }
    await showOutbox();
    return true;
  } catch (err) {
    const why = err.message === "Failed to fetch" || err.name === "TypeError" ? "capcom could not be reached" : err.message;
    if (id != null) await outbox.update(id, { error: why }).catch(() => {});
    say("Not sent: " + why + ". The recording is kept; it is sent when capcom is back.");
    await showOutbox();
    return false;
  }
}

// ---- clips not sent yet (IndexedDB) --------------------------------------------------
const outbox = (() => {
  let db = null;
  function open() {
    if (db) return db;
    db = new Promise((resolve, reject) => {
      const r = indexedDB.open("capcom", 1);
      r.onupgradeneeded = () => r.result.createObjectStore("clips", { keyPath: "id", autoIncrement: true });
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => { db = null; reject(r.error); };
    });
    return db;
  }
  async function tx(mode, fn) {
    const d = await open();
    return new Promise((resolve, reject) => {
      const t = d.transaction("clips", mode); const s = t.objectStore("clips");
      let out; const r = fn(s); if (r) r.onsuccess = () => { out = r.result; };
      t.oncomplete = () => resolve(out); t.onerror = () => reject(t.error); t.onabort = () => reject(t.error);
    });
  }
  return {
    put: (rec) => tx("readwrite", (s) => s.add(rec)),
    remove: (id) => tx("readwrite", (s) => s.delete(id)),
    all: () => tx("readonly", (s) => s.getAll()),
    async update(id, change) {
      const d = await open();
      return new Promise((resolve, reject) => {
        const t = d.transaction("clips", "readwrite"); const s = t.objectStore("clips");
        const g = s.get(id);
        g.onsuccess = () => { if (g.result) s.put(Object.assign(g.result, change)); };
        t.oncomplete = () => resolve(); t.onerror = () => reject(t.error);
      });
    },
  };
})();
window.capcomOutbox = outbox; // for the browser tests

async function showOutbox() {
  let list = [];
  try { list = await outbox.all(); } catch (e) { list = []; }
  // a clip being sent right now (no error yet) is not "not sent"
  const unsent = list.filter((c) => c.error);
  state.unsent = unsent.map((c) => ({ id: c.id, at: c.at, error: c.error, bytes: c.blob && c.blob.size }));
  const ul = $("outbox");
  ul.hidden = unsent.length === 0;
  ul.innerHTML = unsent.map((c) => `<li class="unsent" data-clip="${c.id}"><span>Clip from ${esc(c.at.slice(11, 16))} not sent: ${esc(c.error)}</span>
    <button data-retry="${c.id}">Retry</button> <button class="ghost" data-discard="${c.id}">Discard</button></li>`).join("");
}
let flushing = false;
/// Send every kept clip, oldest first; stops at the first that fails again.
async function flushOutbox() {
  if (flushing || !token()) return;
  flushing = true;
  try {
    const list = (await outbox.all().catch(() => [])).filter((c) => c.error);
    for (const c of list) if (!(await sendClip(c.id, c.blob, performance.now(), await keyOf(c)))) break;
  } finally { flushing = false; }
}
$("outbox").addEventListener("click", async (e) => {
  const retry = e.target.closest("[data-retry]"); const discard = e.target.closest("[data-discard]");
  if (retry) {
    const id = +retry.dataset.retry;
    const c = (await outbox.all()).find((x) => x.id === id);
    if (c) await sendClip(c.id, c.blob, performance.now(), await keyOf(c));
  } else if (discard) {
    await outbox.remove(+discard.dataset.discard); await showOutbox();
  }
});
window.addEventListener("online", () => { flushOutbox(); });
// while clips wait, try again now and then (the live stream's return also sends them)
setInterval(() => { if (state.unsent && state.unsent.length) flushOutbox(); }, 15000);
const talk = $("talk");
talk.addEventListener("pointerdown", down);
talk.addEventListener("pointerup", up);
talk.addEventListener("pointercancel", up);
talk.addEventListener("contextmenu", (e) => e.preventDefault());
$("heard").addEventListener("click", () => { $("heard").hidden = true; });
$("heard").addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("heard").hidden = true; } });

$("brief-text").addEventListener("input", () => { state.typedKey = null; });

// ---- changelog player ----------------------------------------------------------------
// A seek bar, chapters (Podcasting 2.0 JSON, one per task), the place and speed kept per
// episode, and the lock screen's and headset's controls through the Media Session API.
const audio = $("audio");
async function loadEpisodes() {
  const list = await api("/app/v1/episodes");
  state.episodes = list;
  $("episodes").innerHTML = list.length ? list.map((e, i) => `
    <li class="card" data-ep="${i}"><h3>${esc(e.title)}</h3>
    <div class="meta"><span>${Math.round(e.duration_ms / 1000)} s</span><span>${esc(e.at.slice(0, 16).replace("T", " "))}</span>${kept(e).t > 1 ? `<span>at ${fmt(kept(e).t)}</span>` : ""}</div>
    <p class="muted clamp">${esc(e.text.slice(0, 240))}${e.text.length > 240 ? "…" : ""}</p>
    ${(e.tasks || []).length ? `<div class="meta ep-tasks">${e.tasks.map((t) => `<a href="#" data-open="${t.id}">#${t.id} ${esc(t.title)}</a>`).join(" ")}</div>` : ""}</li>`).join("") : '<li class="muted">No changelog yet: it is made daily, or by <code>capcom changelog</code>.</li>';
  for (const li of $("episodes").querySelectorAll("[data-ep]")) li.onclick = (ev) => {
    const open = ev.target.closest("[data-open]");
    if (open) { ev.preventDefault(); openTask(+open.dataset.open); return; }
    playEpisode(+li.dataset.ep);
  };
}
/// An episode's name for what is kept about it: its id, or its audio file.
function epKey(e) { return "capcom.episode." + (e.id != null ? e.id : (e.url || "").split("/").pop()); }
function kept(e) { try { return JSON.parse(localStorage.getItem(epKey(e))) || { t: 0 }; } catch (x) { return { t: 0 }; } }
function keep() {
  const e = state.playing; if (!e) return;
  localStorage.setItem(epKey(e), JSON.stringify({ t: Math.floor(audio.currentTime || 0), rate: audio.playbackRate }));
}
/// Where the episode's chapters are (Podcasting 2.0 JSON): the episode says, or the page's mirror
/// of `/v1/episodes/{id}/chapters.json`, the id being the episode's or its audio file's name.
function chaptersUrl(e) {
  if (e.chapters_url) return e.chapters_url;
  const id = e.id != null ? String(e.id) : (e.url || "").split("/").pop().replace(/\.[a-z0-9]+$/i, "");
  return `/app/v1/episodes/${encodeURIComponent(id)}/chapters.json`;
}
window.capcomChaptersUrl = chaptersUrl; // for the browser tests
async function loadChapters(e) {
  state.chapters = [];
  // chapters the episode carries itself (`{start_ms, title}`) need no second request
  if (Array.isArray(e.chapters) && e.chapters.length) {
    state.chapters = e.chapters.map((c) => ({ startTime: (c.start_ms != null ? c.start_ms / 1000 : c.startTime) || 0, title: c.title })).sort((a, b) => a.startTime - b.startTime);
    return renderChapters();
  }
  renderChapters();
  const url = chaptersUrl(e);
  try {
    // not through api(): a missing chapters file is no reason to unpair
    const r = await fetch(url, { headers: { "X-Capcom-Device": token() || "" } });
    if (!r.ok) return;
    const j = await r.json();
    if (state.playing !== e) return;
    state.chapters = (j.chapters || []).filter((c) => typeof c.startTime === "number" && (c.toc !== false)).sort((a, b) => a.startTime - b.startTime);
  } catch (x) { state.chapters = []; }
  renderChapters();
}
function renderChapters() {
  const ol = $("chapters"), list = state.chapters || [];
  ol.hidden = !list.length;
  ol.innerHTML = list.map((c, i) => `<li><button data-chapter="${i}"><span class="at">${fmt(c.startTime)}</span><span>${esc(c.title || "Chapter " + (i + 1))}</span></button></li>`).join("");
  markChapter();
}
function chapterAt(t) { let n = -1; (state.chapters || []).forEach((c, i) => { if (c.startTime <= t + 0.25) n = i; }); return n; }
function markChapter() {
  const n = chapterAt(audio.currentTime || 0);
  for (const b of $("chapters").querySelectorAll("[data-chapter]")) { const on = +b.dataset.chapter === n; b.classList.toggle("on", on); if (on) b.setAttribute("aria-current", "true"); else b.removeAttribute("aria-current"); }
}
function jumpChapter(i) { const c = (state.chapters || [])[i]; if (c) { audio.currentTime = c.startTime; markChapter(); } }
$("chapters").addEventListener("click", (ev) => { const b = ev.target.closest("[data-chapter]"); if (b) jumpChapter(+b.dataset.chapter); });

function playEpisode(i) {
  const e = state.episodes[i];
  if (state.playing) keep();
  state.playing = e;
  const k = kept(e);
  audio.src = e.url;
  const rate = k.rate || +$("speed").value;
  $("speed").value = String(rate); audio.playbackRate = rate;
  // back where it was left (unless it was heard to the end)
  audio.addEventListener("loadedmetadata", () => { if (k.t && (!audio.duration || k.t < audio.duration - 2)) audio.currentTime = k.t; audio.playbackRate = rate; }, { once: true });
  $("now-playing").textContent = e.title;
  mediaSession(e);
  loadChapters(e);
  audio.play().catch((err) => say(err.message));
}
function mediaSession(e) {
  if (!("mediaSession" in navigator)) return;
  try {
    navigator.mediaSession.metadata = new MediaMetadata({ title: e.title, artist: "capcom", album: "Changelog", artwork: [{ src: new URL("/icon.png", location.href).href, sizes: "1400x1400", type: "image/png" }] });
  } catch (x) { /* no MediaMetadata */ }
  const set = (action, fn) => { try { navigator.mediaSession.setActionHandler(action, fn); } catch (x) { /* not supported here */ } };
  set("play", () => audio.play());
  set("pause", () => audio.pause());
  set("seekbackward", (d) => { audio.currentTime = Math.max(0, audio.currentTime - ((d && d.seekOffset) || 15)); });
  set("seekforward", (d) => { audio.currentTime = Math.min(audio.duration || 0, audio.currentTime + ((d && d.seekOffset) || 15)); });
  set("seekto", (d) => { if (d && d.seekTime != null) audio.currentTime = d.seekTime; });
  set("previoustrack", () => { const n = chapterAt(audio.currentTime); jumpChapter(audio.currentTime - ((state.chapters || [])[n] || {}).startTime > 3 ? n : Math.max(0, n - 1)); });
  set("nexttrack", () => jumpChapter(chapterAt(audio.currentTime) + 1));
}
function positionState() {
  if (!("mediaSession" in navigator) || !isFinite(audio.duration) || !navigator.mediaSession.setPositionState) return;
  try { navigator.mediaSession.setPositionState({ duration: audio.duration, playbackRate: audio.playbackRate, position: Math.min(audio.currentTime, audio.duration) }); } catch (x) { /* bad state */ }
}
function fmt(s) { s = Math.floor(s || 0); return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0"); }
$("play").onclick = () => { if (!audio.src && state.episodes && state.episodes.length) return playEpisode(0); audio.paused ? audio.play() : audio.pause(); };
$("back15").onclick = () => { audio.currentTime = Math.max(0, audio.currentTime - 15); };
$("fwd15").onclick = () => { audio.currentTime = Math.min(audio.duration || 0, audio.currentTime + 15); };
$("speed").onchange = () => { audio.playbackRate = +$("speed").value; keep(); positionState(); };
$("seek").addEventListener("input", () => { seeking = true; $("position").textContent = fmt(+$("seek").value) + " / " + fmt(audio.duration); });
$("seek").addEventListener("change", () => { seeking = false; audio.currentTime = +$("seek").value; keep(); });
let seeking = false, keptAt = 0;
audio.ontimeupdate = () => {
  $("position").textContent = fmt(audio.currentTime) + " / " + fmt(audio.duration);
  if (!seeking) $("seek").value = String(Math.floor(audio.currentTime));
  markChapter();
  if (Math.abs(audio.currentTime - keptAt) >= 5) { keptAt = audio.currentTime; keep(); }
};
audio.onloadedmetadata = () => { $("seek").max = String(Math.floor(audio.duration || 0)); $("seek").setAttribute("aria-valuetext", fmt(audio.currentTime) + " of " + fmt(audio.duration)); positionState(); };
audio.onseeked = () => { keep(); positionState(); markChapter(); };
audio.onplay = () => { $("play").textContent = "Pause"; $("play").setAttribute("aria-label", "Pause"); if ("mediaSession" in navigator) navigator.mediaSession.playbackState = "playing"; };
audio.onpause = () => { $("play").textContent = "Play"; $("play").setAttribute("aria-label", "Play"); keep(); if ("mediaSession" in navigator) navigator.mediaSession.playbackState = "paused"; };
window.addEventListener("pagehide", keep);

// ---- views ---------------------------------------------------------------------------
function show() {
  $("board-view").hidden = state.view !== "board";
  $("task-view").hidden = state.view !== "task";
  $("episodes-view").hidden = state.view !== "episodes";
  $("back").hidden = state.view === "board";
  for (const b of document.querySelectorAll(".tab")) b.classList.toggle("on", b.dataset.tab === state.view);
}
for (const b of document.querySelectorAll(".tab")) b.onclick = () => { state.view = b.dataset.tab; show(); if (state.view === "episodes") loadEpisodes().catch((e) => say(e.message)); };
$("back").onclick = () => { state.view = "board"; state.task = null; show(); };

async function start() {
  $("pairing").hidden = true; $("app").hidden = false; $("dock").hidden = false; show(); alertsButton();
  // a clip whose upload a closed tab cut short waits like any other not sent
  for (const c of await outbox.all().catch(() => [])) if (!c.error) await outbox.update(c.id, { error: "the page closed before it was sent" }).catch(() => {});
  showOutbox();
  try {
    const r = await fetch("/app/v1/me", { headers: { "X-Capcom-Device": token() || "" } });
    if (r.status === 401) { unpair("This device is not paired (or was revoked)."); return; }
    if (r.headers.get("X-Capcom-Cached") || !r.ok) throw new Error("offline");
    const me = await r.json(); state.device = me.device; state.maxClipMs = me.max_clip_ms;
  } catch (e) {
    // capcom is down: the last board it sent, marked offline, while the stream retries
    setLive(false); await cachedBoard();
  }
  listen();
  flushOutbox();
  subscribePush();
  // opened from a pushed message about a task
  const t = location.hash.match(/task=(\d+)/);
  if (t) { history.replaceState(null, "", location.pathname); openTask(Number(t[1])); }
}

// The service worker keeps the page itself and the last board for when capcom cannot be reached.
if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => { /* not a secure context: no offline page */ });

// the page scrolls clear of the talk button, tabs and answer panel, whatever their height
if (window.ResizeObserver) new ResizeObserver(() => { $("main").style.paddingBottom = $("dock").offsetHeight + 16 + "px"; }).observe($("dock"));

async function boot() {
  const m = location.hash.match(/pair=([A-Za-z0-9]+)/);
  if (m) {
    history.replaceState(null, "", location.pathname);
    await pair(m[1], guessName());
  }
  if (token()) start(); else unpair();
}
boot();
// a pairing link opened in a tab that already shows the pairing screen
window.addEventListener("hashchange", () => { if (/pair=/.test(location.hash)) boot(); });
