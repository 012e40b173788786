// The capcom page: board (live over Server-Sent Events), task view, merge + confirm through
// the daemon's gate, push-to-talk, and the changelog player. The device token travels in
// the X-Capcom-Device header, never in a cookie.
"use strict";
const $ = (id) => document.getElementById(id);
const KEY = "capcom.device";
const state = { tasks: [], coordinator: null, now: null, view: "board", task: null, pending: null, live: false };
window.capcom = state; // for the browser tests

function token() { return localStorage.getItem(KEY); }
function esc(s) { return String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }
function ago(iso) {
  if (!iso) return "";
  const s = Math.max(0, (Date.parse(state.now || new Date().toISOString()) - Date.parse(iso)) / 1000);
  if (s < 90) return Math.round(s) + " s";
  if (s < 5400) return Math.round(s / 60) + " min";
  if (s < 129600) return Math.round(s / 3600) + " h";
  return Math.round(s / 86400) + " d";
}

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
  $("app").hidden = true; $("pairing").hidden = false;
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
    setLive(true);
    const reader = r.body.getReader(); const dec = new TextDecoder(); let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
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
  setLive(false);
  if (state.stream === ctl && token()) setTimeout(listen, 2000);
}
function setLive(on) { if (on && !state.live) flushOutbox(); state.live = on; $("conn").textContent = on ? "live" : "offline"; $("conn").classList.toggle("live", on); }

function onBoard(b) {
  state.tasks = b.tasks || []; state.coordinator = b.coordinator || null; state.now = b.now; state.boards = (state.boards || 0) + 1;
  state.needsYou = b.needs_you || [];
  renderNeedsYou(); renderBoard(); renderQuestion();
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
    now: p.now,
  });
}
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
function renderNeedsYou() {
  const list = state.needsYou || [];
  $("needs-you").hidden = list.length === 0;
  $("needs-you-list").innerHTML = list.map((s) => {
    const place = s.repo || (s.folder ? s.folder.split("/").filter(Boolean).pop() || s.folder : "");
    return `
    <li class="card state-needs_attention session">
      <h3>${esc(s.agent)}${place ? " in " + esc(place) : ""}</h3>
      <div class="meta"><span class="badge state">${s.last_event.includes("elicitation") ? "asks" : "needs your permission"}</span><span>${ago(s.updated_at)}</span></div>
      ${s.last_message ? `<div>${esc(s.last_message)}</div>` : ""}
    </li>`;
  }).join("");
}
function renderBoard() {
  const ul = $("board");
  ul.innerHTML = state.tasks.map((t) => `
    <li class="card state-${esc(t.state)}" data-task="${t.id}">
      <h3>#${t.id} ${esc(t.title)}</h3>
      <div class="meta">
        <span class="badge state">${esc(t.state.replace("_", " "))}</span>
        ${t.agent ? `<span>${esc(t.agent)}</span>` : ""}${t.repo ? `<span>${esc(t.repo)}</span>` : ""}
        <span>${ago(t.created)}</span>
        ${checksBadge(t)}
        ${t.scope_violations && t.scope_violations.length ? `<span class="flag">scope: ${t.scope_violations.length}</span>` : ""}
        ${t.secrets ? `<span class="flag">secrets: ${t.secrets}</span>` : ""}
        ${t.files_changed != null ? `<span>${t.files_changed} files +${t.insertions || 0} &minus;${t.deletions || 0}</span>` : ""}
        ${t.pr ? `<span>PR #${t.pr}</span>` : ""}
        ${t.spend && t.spend.cost_usd != null ? `<span class="cost">${t.spend.runs_with_cost < t.spend.runs ? "≥ " : ""}${usd(t.spend.cost_usd)}</span>` : ""}
      </div>
      ${t.reason ? `<div class="muted">${esc(t.reason)}</div>` : ""}
    </li>`).join("");
  $("board-empty").hidden = state.tasks.length > 0;
  for (const li of ul.querySelectorAll("[data-task]")) li.onclick = () => openTask(+li.dataset.task);
}

// ---- merge question ----------------------------------------------------------------
function renderQuestion() {
  const q = state.pending || (state.coordinator && state.coordinator.question ? { question: state.coordinator.question } : null);
  $("question").hidden = !q;
  if (q) {
    $("question-text").textContent = q.question;
    $("question-left").textContent = q.expires_at ? "until " + new Date(q.expires_at).toLocaleTimeString() : "";
  }
}
async function askMerge(id) {
  const a = await api("/app/v1/merge", { method: "POST", json: { task: id } });
  state.pending = a.pending || null; state.lastMerge = a;
  say(a.say); renderQuestion();
  return a;
}
$("confirm").onclick = async () => {
  const code = state.pending ? state.pending.code : null;
  let a;
  try { a = await api("/app/v1/confirm", { method: "POST", json: { code } }); } catch (err) { a = { ok: false, say: err.message }; }
  state.pending = null; say(a.say); renderQuestion(); state.lastConfirm = a;
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
    return `<li>${mark} ${esc(c.text)}${r && r.tail ? `<pre>${esc(r.tail)}</pre>` : ""}</li>`;
  }).join("");
  const files = (d.files || []).map((f) => `<tr><td>${esc(f.path)}</td><td class="add">+${f.insertions ?? "?"}</td><td class="del">&minus;${f.deletions ?? "?"}</td></tr>`).join("");
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
    return `<details class="file"${i < 6 ? " open" : ""}><summary>${head}</summary><pre class="diff">${p.lines.map(colour).join("\n")}</pre></details>`;
  }).join("");
  const scope = spec.scope || {};
  $("task-view").innerHTML = `
    <h2>#${t.id} ${esc(t.title)}</h2>
    <div class="meta"><span class="badge">${esc(t.state)}</span>${t.agent ? `<span>${esc(t.agent)}</span>` : ""}${t.repo ? `<span>${esc(t.repo)}</span>` : ""}${t.branch ? `<span>${esc(t.branch)}</span>` : ""}${t.pr ? `<span>PR #${t.pr}</span>` : ""}${t.head_sha ? `<span>head ${esc(t.head_sha.slice(0, 10))}</span>` : ""}</div>
    ${t.reason ? `<p class="${t.state === "failed" || t.state === "needs_attention" ? "error" : "muted"}">${esc(t.reason)}</p>` : ""}
    ${t.state === "ready" ? `<p><button id="merge" class="primary">Merge…</button></p>` : ""}
    <h3>Brief</h3><p>${esc(spec.brief || t.title)}</p>
    <h3>Scope</h3><p>${(scope.include || []).length ? "only " + esc(scope.include.join(", ")) : "anywhere"}${(scope.exclude || []).length ? "; not " + esc(scope.exclude.join(", ")) : ""}</p>
    ${(v.scope_violations || []).length ? `<p class="flag">Outside the scope: ${esc(v.scope_violations.join(", "))}</p>` : ""}
    ${v.secrets ? `<p class="flag">${v.secrets} possible secrets flagged</p>` : ""}
    <h3>Acceptance</h3><ul>${acc || "<li class=muted>none given</li>"}</ul>
    ${spendText(v.spend) ? `<h3>Cost</h3><p class="spend">${esc(spendText(v.spend))}</p>` : ""}
    <h3>Changed files</h3>${files ? `<table>${files}</table>` : '<p class="muted">none yet</p>'}
    ${diff ? `<h3>Diff</h3>${diff}` : ""}
    <h3>Events</h3><ul>${(d.events || []).map((e) => `<li><span class="muted">${esc(e.at.slice(11, 19))}</span> ${esc(e.kind)}: ${esc(e.message)}</li>`).join("")}</ul>
    ${d.log_tail ? `<h3>Agent output</h3><pre>${esc(d.log_tail)}</pre>` : ""}`;
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
    if (state.maxClipMs) state.clipTimer = setTimeout(() => up(new Event("pointerup")), state.maxClipMs);
  } catch (err) { recording = false; $("talk").classList.remove("recording"); $("talk").textContent = "Hold to talk"; say("No microphone: " + err.message); }
}
async function up(e) {
  e.preventDefault();
  if (!recording) return;
  recording = false;
  clearTimeout(state.clipTimer);
  const released = performance.now();
  const clip = rec.stop();
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

// ---- changelog player ----------------------------------------------------------------
const audio = $("audio");
async function loadEpisodes() {
  const list = await api("/app/v1/episodes");
  state.episodes = list;
  $("episodes").innerHTML = list.length ? list.map((e, i) => `
    <li class="card" data-ep="${i}"><h3>${esc(e.title)}</h3>
    <div class="meta"><span>${Math.round(e.duration_ms / 1000)} s</span><span>${esc(e.at.slice(0, 16).replace("T", " "))}</span></div>
    <p class="muted">${esc(e.text.slice(0, 240))}${e.text.length > 240 ? "…" : ""}</p>
    ${(e.tasks || []).length ? `<div class="meta">${e.tasks.map((t) => `<a href="#" data-open="${t.id}">#${t.id} ${esc(t.title)}</a>`).join(" ")}</div>` : ""}</li>`).join("") : '<li class="muted">No changelog yet: it is made daily, or by <code>capcom changelog</code>.</li>';
  for (const li of $("episodes").querySelectorAll("[data-ep]")) li.onclick = (ev) => {
    const open = ev.target.closest("[data-open]");
    if (open) { ev.preventDefault(); openTask(+open.dataset.open); return; }
    playEpisode(+li.dataset.ep);
  };
}
function playEpisode(i) {
  const e = state.episodes[i];
  audio.src = e.url; audio.playbackRate = +$("speed").value;
  $("now-playing").textContent = e.title;
  audio.play().catch((err) => say(err.message));
}
function fmt(s) { s = Math.floor(s || 0); return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0"); }
$("play").onclick = () => { if (!audio.src && state.episodes && state.episodes.length) return playEpisode(0); audio.paused ? audio.play() : audio.pause(); };
$("back15").onclick = () => { audio.currentTime = Math.max(0, audio.currentTime - 15); };
$("fwd15").onclick = () => { audio.currentTime = Math.min(audio.duration || 0, audio.currentTime + 15); };
$("speed").onchange = () => { audio.playbackRate = +$("speed").value; };
audio.ontimeupdate = () => { $("position").textContent = fmt(audio.currentTime) + " / " + fmt(audio.duration); };
audio.onplay = () => { $("play").textContent = "Pause"; };
audio.onpause = () => { $("play").textContent = "Play"; };

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
  $("pairing").hidden = true; $("app").hidden = false; show();
  // a clip whose upload a closed tab cut short waits like any other not sent
  for (const c of await outbox.all().catch(() => [])) if (!c.error) await outbox.update(c.id, { error: "the page closed before it was sent" }).catch(() => {});
  showOutbox();
  try { const me = await api("/app/v1/me"); state.device = me.device; state.maxClipMs = me.max_clip_ms; } catch (e) { if (!token()) return; /* capcom is down: the stream retries */ }
  listen();
  flushOutbox();
}

(async function boot() {
  const m = location.hash.match(/pair=([A-Za-z0-9]+)/);
  if (m) {
    history.replaceState(null, "", location.pathname);
    await pair(m[1], guessName());
  }
  if (token()) start(); else unpair();
})();
