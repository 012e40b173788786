// The phone page as a phone user judges it, in headless Chromium at 412×915 with a touch
// screen: nothing wider than the screen (a 2,000-character unbroken line in the events and
// the "Needs you" list), the merge question's Cancel, countdown and expiry, touch targets of
// 44 px on board, task and player, control edges of 3:1 in the dark and the light theme,
// axe-core with no serious or critical finding, state chips, the typed brief, the level
// meter, notifications, the player (seek bar, Media Session, chapters, place and speed kept),
// and offline: a dead stream found by its heartbeat, a reload while capcom is down served by
// the service worker with the last board and "offline since HH:MM".
// Run by tests/browser.rs, which writes the config; this script starts and stops the daemon
// itself (same data dir, same port, so the page's origin and service worker stay the same).
// Input: CAPCOM_BROWSER_TEST (JSON). Output: one JSON line on stdout; a failed step throws.
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import fs from "node:fs";
import { daemonControl, launchChromium } from "./daemon.mjs";
import path from "node:path";

const cfg = JSON.parse(process.env.CAPCOM_BROWSER_TEST);
const base = `http://127.0.0.1:${cfg.port}`;
const out = { steps: [], shots: {} };
const step = (name) => { out.steps.push(name); process.stderr.write(`browser: ${name}\n`); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function assert(ok, what) { if (!ok) throw new Error("assertion failed: " + what); }
const capcom = (args, input) => execFileSync(cfg.bin, ["--config", cfg.config, "--data-dir", cfg.data, ...args], { encoding: "utf8", input });
const git = (dir, ...args) => execFileSync("git", ["-C", dir, ...args], { encoding: "utf8" }).trim();
const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

const daemon = daemonControl(cfg);
const startDaemon = daemon.start;
const stopDaemon = daemon.stop;
async function master(method, p, body) {
  const token = fs.readFileSync(path.join(cfg.data, "api.token"), "utf8").trim();
  const r = await fetch(base + p, { method, headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" }, body: body ? JSON.stringify(body) : undefined });
  const j = await r.json();
  if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(j)}`);
  return j;
}
async function brief(title, agentName) {
  const spec = { title, kind: "css", agent: agentName, repo: "site", scope: { include: ["components/"], exclude: ["app/"] }, acceptance: [{ text: "tests pass", check: "test" }] };
  const a = await master("POST", "/v1/brief", { text: "scripted brief", intent: { intent: "dispatch", tasks: [spec], confidence: 1.0 } });
  assert(a.tasks && a.tasks[0] && a.tasks[0].id, "a task: " + JSON.stringify(a));
  return a.tasks[0].id;
}
async function until(id, states) {
  for (let i = 0; i < 2400; i++) {
    const v = await master("GET", `/v1/tasks/${id}`);
    if (states.includes(v.task.state)) return v;
    await sleep(50);
  }
  throw new Error(`task ${id} never reached ${states}`);
}
/// Click what the selector names (scrolled to the middle of the screen, clear of the fixed talk
/// button and tabs, as a thumb would), again if a live update redrew it between finding and clicking.
async function tap(page, selector) {
  for (let i = 0; ; i++) {
    try { await page.$eval(selector, (e) => { if (!e.closest("#dock, header")) e.scrollIntoView({ block: "center" }); }); await page.click(selector); return; } catch (e) { if (i >= 5 || !/detached|not clickable|No node/.test(e.message)) throw e; }
    await sleep(200);
  }
}
async function shot(page, name) {
  fs.mkdirSync(cfg.shots, { recursive: true });
  const file = path.join(cfg.shots, name + ".png");
  await page.screenshot({ path: file });
  out.shots[name] = file;
}

// ---- what each view is measured by (run in the page) -----------------------------------
/// Nothing wider than the screen: the document does not scroll sideways, and no visible element
/// reaches past the right edge unless a box of its own scrolls or clips it. The talk button is on screen.
async function fits(page, view) {
  const r = await page.evaluate(() => {
    const W = window.innerWidth, H = window.innerHeight;
    const clipped = (el) => { for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) { const o = getComputedStyle(p).overflowX; if (o === "auto" || o === "scroll" || o === "hidden") return true; } return false; };
    const wide = [];
    for (const el of document.body.querySelectorAll("*")) {
      const b = el.getBoundingClientRect();
      if (!b.width || !b.height) continue;
      if (b.right > W + 0.5 && !clipped(el)) wide.push(`${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}.${el.className} right=${Math.round(b.right)}`);
    }
    const talk = document.querySelector("#talk");
    const t = talk && !talk.closest("[hidden]") ? talk.getBoundingClientRect() : null;
    return { scrollWidth: document.documentElement.scrollWidth, bodyWidth: document.body.scrollWidth, W, H, wide: wide.slice(0, 5), talk: t && { top: t.top, bottom: t.bottom, left: t.left, right: t.right } };
  });
  assert(r.scrollWidth <= r.W && r.bodyWidth <= r.W, `${view}: the page is ${r.scrollWidth} px wide on a ${r.W} px screen: ${JSON.stringify(r.wide)}`);
  assert(!r.wide.length, `${view}: elements past the right edge: ${JSON.stringify(r.wide)}`);
  if (r.talk) assert(r.talk.bottom <= r.H && r.talk.top >= 0 && r.talk.right <= r.W && r.talk.left >= 0, `${view}: the talk button is off screen: ${JSON.stringify(r.talk)}`);
  return r;
}
/// Every visible interactive element is at least 44×44 px.
async function targets(page, view) {
  const small = await page.evaluate(() => {
    const sel = 'button, a[href], input:not([type=hidden]), select, textarea, summary, [role=button], [tabindex]:not([tabindex="-1"]), [data-task], [data-ep], [data-open], [data-chapter]';
    const bad = []; let n = 0;
    for (const el of document.querySelectorAll(sel)) {
      const b = el.getBoundingClientRect();
      if (!b.width || !b.height || el.closest("[hidden]") || getComputedStyle(el).visibility === "hidden") continue;
      n++;
      if (b.width < 43.5 || b.height < 43.5) bad.push(`${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""} "${(el.textContent || el.getAttribute("aria-label") || "").trim().slice(0, 30)}" ${Math.round(b.width)}×${Math.round(b.height)}`);
    }
    return { n, bad };
  });
  assert(small.n > 0, `${view}: no interactive elements measured`);
  assert(!small.bad.length, `${view}: touch targets under 44×44 px: ${JSON.stringify(small.bad)}`);
  return small.n;
}
/// Each control's edge (its border, or its fill where it has one) stands 3:1 against what is
/// behind it; a control drawn as text alone has text at 4.5:1. The offline banner's text too.
async function contrast(page, view) {
  const bad = await page.evaluate(() => {
    const rgba = (s) => { const m = s.match(/rgba?\(([^)]+)\)/); if (!m) return null; const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number); return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 }; };
    const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
    const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
    const behind = (el) => { for (let p = el.parentElement; p; p = p.parentElement) { const c = rgba(getComputedStyle(p).backgroundColor); if (c && c.a > 0.5) return c; } return rgba(getComputedStyle(document.documentElement).backgroundColor) || { r: 255, g: 255, b: 255, a: 1 }; };
    const out = [];
    for (const el of document.querySelectorAll("button, select, input, #offline")) {
      const b = el.getBoundingClientRect();
      if (!b.width || !b.height || el.closest("[hidden]")) continue;
      const cs = getComputedStyle(el), back = behind(el), name = `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""} "${(el.textContent || el.getAttribute("aria-label") || "").trim().slice(0, 20)}"`;
      if (el.id === "offline") { const r = ratio(rgba(cs.color), rgba(cs.backgroundColor)); if (r < 4.5) out.push(`${name} text ${r.toFixed(2)}`); continue; }
      if (el.type === "range") { const r = ratio(rgba(cs.accentColor) || rgba(cs.color), back); if (r < 3) out.push(`${name} accent ${r.toFixed(2)}`); continue; }
      const fill = rgba(cs.backgroundColor), border = parseFloat(cs.borderTopWidth) > 0 || parseFloat(cs.borderLeftWidth) > 0 ? rgba(cs.borderTopStyle !== "none" && parseFloat(cs.borderTopWidth) > 0 ? cs.borderTopColor : cs.borderLeftColor) : null;
      const edges = [];
      if (border && border.a > 0.5) edges.push(ratio(border, back));
      if (fill && fill.a > 0.5) edges.push(ratio(fill, back));
      const visibleEdge = edges.filter((r) => r > 1.05);
      if (visibleEdge.length) { const best = Math.max(...visibleEdge); if (best < 3) out.push(`${name} edge ${best.toFixed(2)}`); }
      else { const r = ratio(rgba(cs.color), back); if (r < 4.5) out.push(`${name} text-only ${r.toFixed(2)}`); }
    }
    return out;
  });
  assert(!bad.length, `${view}: contrast under the minimum: ${JSON.stringify(bad)}`);
}
/// axe-core's rules: nothing serious or critical.
async function axe(page, view) {
  if (!(await page.evaluate(() => !!window.axe))) await page.addScriptTag({ path: AXE });
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
  });
  assert(!found.length, `${view}: axe-core found: ${JSON.stringify(found)}`);
}
async function judge(page, view, opts = {}) {
  await fits(page, view);
  const n = await targets(page, view);
  await contrast(page, view);
  if (opts.axe !== false) await axe(page, view);
  (out.measured = out.measured || {})[view] = n;
}

const browser = await launchChromium(cfg, ["--autoplay-policy=no-user-gesture-required"]);

let page = null;
try {
  await startDaemon();
  step("tasks");
  // the title carries the 2,000-character line into the board, the task view and its events
  const good = await brief("Tidy the button styles " + cfg.long, "good");
  const bad = await brief("Make the footer sticky", "bad");
  const slow = await brief("Rewrite the pricing table", "slow");
  const goodView = await until(good, ["ready"]);
  await until(bad, ["failed", "needs_attention"]);
  await until(slow, ["running"]);
  const longEvent = (goodView.events || []).some((e) => (e.message || "").includes(cfg.long));
  assert(longEvent, "the good task has the 2,000-character event: " + JSON.stringify((goodView.events || []).map((e) => [e.kind, (e.message || "").length])));
  // an agent session the user runs themselves, waiting on a permission with a long message
  capcom(["hook", "claude"], JSON.stringify({ session_id: "sess-outside", cwd: cfg.repo, hook_event_name: "Notification", message: "Claude needs your permission to run " + cfg.long, title: "Permission needed", notification_type: "permission_prompt" }));
  capcom(["changelog", "--since", "24h"]);

  // pairing: the screen before, then the link
  step("pairing");
  const pairing = JSON.parse(capcom(["pair", "--json"]));
  page = await browser.newPage();
  page.setDefaultTimeout(120000);
  page.on("pageerror", (e) => process.stderr.write(`page error: ${e.message}\n`));
  page.on("requestfailed", (r) => process.stderr.write(`page request failed: ${r.url()} ${r.failure() && r.failure().errorText}\n`));
  // the Media Session's handlers, as the lock screen and a headset would call them
  await page.evaluateOnNewDocument(() => {
    const set = MediaSession.prototype.setActionHandler;
    MediaSession.prototype.setActionHandler = function (action, handler) { (window.__mediaActions = window.__mediaActions || {})[action] = handler; return set.call(this, action, handler); };
  });
  await page.setViewport({ width: 412, height: 915, deviceScaleFactor: 1, isMobile: true, hasTouch: true });
  await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "dark" }]);
  await page.goto(base + "/", { waitUntil: "domcontentloaded" });
  await page.waitForSelector("#pairing", { visible: true });
  const landmarks = await page.evaluate(() => ({ main: !!document.querySelector("main #pairing"), banner: !!document.querySelector("body > header"), label: !!document.querySelector('label[for="pair-code"]') }));
  assert(landmarks.main && landmarks.banner && landmarks.label, "the pairing screen has landmarks and labels: " + JSON.stringify(landmarks));
  await judge(page, "pairing");
  await page.goto(pairing.url, { waitUntil: "domcontentloaded" });
  await page.waitForFunction(() => localStorage.getItem("capcom.device") && window.capcom.live);
  await page.waitForFunction((ids) => ids.every((id) => document.querySelector(`[data-task="${id}"]`)), {}, [good, bad, slow]);
  await page.waitForFunction(() => document.querySelector("#needs-you-list").innerText.includes("needs your permission"));

  // 1. the board: nothing past the screen's edge, even with a 2,000-character line
  step("board");
  await judge(page, "board");
  const board = await page.evaluate(() => ({
    groups: [...document.querySelectorAll("#needs-you h2, #board h2")].map((h) => h.firstChild.textContent.trim()),
    chips: Object.fromEntries([...document.querySelectorAll("[data-task]")].map((li) => { const c = li.querySelector(".chip"); return [li.dataset.task, { text: c.textContent, bg: getComputedStyle(c).backgroundColor }]; })),
    session: (() => { const c = document.querySelector("#needs-you-list .session .chip"); return c && getComputedStyle(c).backgroundColor; })(),
    text: document.querySelector("#board-view").innerText,
  }));
  assert(JSON.stringify(board.groups) === JSON.stringify(["Needs you", "Running", "Ready"]), "groups in order: " + JSON.stringify(board.groups));
  assert(board.chips[good].text === "ready" && board.chips[slow].text === "running" && board.chips[bad].text === "failed", "chips say their state: " + JSON.stringify(board.chips));
  const colours = new Set([board.chips[good].bg, board.chips[slow].bg, board.chips[bad].bg, board.session]);
  assert(colours.size === 4, "ready, running, failed and needs-you chips in four colours: " + JSON.stringify(board));
  assert(/\b1 file\b/.test(board.text) && !/\b1 files\b/.test(board.text), "one file is \"1 file\": " + board.text);
  assert(/\d+ s ago|\d+ min ago/.test(board.text), "ages read \"… ago\": " + board.text);
  out.chips = { ready: board.chips[good].bg, running: board.chips[slow].bg, failed: board.chips[bad].bg, needs_you: board.session };
  await shot(page, "board");
  // merged tasks leave the board a day after; "All" brings them back in one tap
  // (the live stream is closed meanwhile, so no live update replaces the board under the test; a reload reopens it)
  await page.evaluate(() => {
    const s = window.capcom.stream; window.capcom.stream = null; s.abort();
    const ago = (h) => new Date(Date.parse(window.capcom.now) - h * 3600000).toISOString();
    const t = window.capcom.tasks[0];
    window.capcom.tasks.push(Object.assign({}, t, { id: 901, title: "Merged an hour ago", state: "merged", finished: ago(1), updated: ago(1) }), Object.assign({}, t, { id: 902, title: "Merged two days ago", state: "merged", finished: ago(48), updated: ago(48) }));
    window.capcom.renderBoard();
  });
  const today = await page.evaluate(() => ({ done: [...document.querySelectorAll(".group-done [data-task]")].map((li) => +li.dataset.task), all: document.querySelector("#show-all").textContent, hidden: document.querySelector("#show-all").hidden }));
  assert(JSON.stringify(today.done) === "[901]" && !today.hidden && today.all === "All (1 older task)", "Done today keeps a day: " + JSON.stringify(today));
  await tap(page, "#show-all");
  const all = await page.evaluate(() => [...document.querySelectorAll(".group-done [data-task]")].map((li) => +li.dataset.task));
  assert(JSON.stringify(all) === "[901,902]", "All shows the older ones: " + JSON.stringify(all));
  await page.reload({ waitUntil: "domcontentloaded" });
  await page.waitForFunction((ids) => window.capcom && window.capcom.live && ids.every((id) => document.querySelector(`[data-task="${id}"]`)), {}, [good, bad, slow]);

  // installable: a manifest with an icon large enough, and the service worker in charge
  const manifest = await page.evaluate(async () => { const l = document.querySelector('link[rel="manifest"]'); return l && (await fetch(l.href)).json(); });
  assert(manifest && manifest.start_url && manifest.display === "standalone" && manifest.icons.some((i) => Math.min(...i.sizes.split("x").map(Number)) >= 192), "a web app manifest: " + JSON.stringify(manifest));

  // 2. the task view with the long event line
  step("task");
  await tap(page, `[data-task="${good}"]`);
  await page.waitForFunction((id) => (document.querySelector("#task-view h2") || {}).textContent?.startsWith(`#${id} `), {}, good);
  await page.waitForFunction((n) => document.querySelector("#task-view").innerText.includes("x".repeat(n)), {}, 200);
  await judge(page, "task");
  await shot(page, "task");
  await tap(page, "#back");
  await tap(page, `[data-task="${bad}"]`);
  await page.waitForFunction((id) => (document.querySelector("#task-view h2") || {}).textContent?.startsWith(`#${id} `), {}, bad);
  await judge(page, "failed task", { axe: false });
  await tap(page, "#back");

  // 3. the merge question: Cancel answers no; the ring counts down; expiry removes Confirm
  step("merge question");
  await tap(page, `[data-task="${good}"]`);
  await page.waitForSelector("#merge", { visible: true });
  await tap(page, "#merge");
  await page.waitForSelector("#question", { visible: true });
  const q1 = await page.evaluate(() => ({ ring: getComputedStyle(document.querySelector("#ring")).display !== "none", arc: document.querySelector("#ring-arc").getAttribute("stroke-dasharray"), left: document.querySelector("#question-left").textContent, cancel: !!document.querySelector("#cancel:not([hidden])") }));
  assert(q1.ring && q1.cancel && /^\d+ s left$/.test(q1.left), "a ring, the seconds left and Cancel: " + JSON.stringify(q1));

  await page.waitForFunction((a) => document.querySelector("#ring-arc").getAttribute("stroke-dasharray") !== a, {}, q1.arc);
  // nothing (the answer panel, the talk button) covers the question's buttons
  const covered = await page.evaluate(() => ["#confirm", "#cancel"].map((sel) => { const c = document.querySelector(sel); const b = c.getBoundingClientRect(); const at = document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2); return at && c.contains(at) ? null : `${sel} under ${at && at.tagName + "#" + at.id}`; }).filter(Boolean));
  assert(!covered.length, "the question's buttons can be tapped: " + JSON.stringify(covered));
  await tap(page, "#cancel");
  await page.waitForFunction(() => window.capcom.lastCancel);
  const cancelled = await page.evaluate(() => window.capcom.lastCancel);
  assert(/stays unmerged/.test(cancelled.say || ""), "Cancel answered no: " + JSON.stringify(cancelled));
  assert(await page.$eval("#question", (e) => e.hidden), "the question is gone after Cancel");
  const afterCancel = await master("POST", "/v1/confirm", {}).catch((e) => ({ refused: e.message }));
  assert(afterCancel.refused || afterCancel.ok === false, "nothing is left to confirm after Cancel: " + JSON.stringify(afterCancel));
  assert((await master("GET", `/v1/tasks/${good}`)).task.state === "ready", "the task stays ready");
  // asked again and left alone: the window closes
  await tap(page, "#merge");
  await page.waitForSelector("#confirm", { visible: true });
  await shot(page, "merge-question");
  await judge(page, "merge question");
  await page.waitForFunction(() => document.querySelector("#question-left").textContent === "expired, ask again", { timeout: 120000 });
  const expired = await page.evaluate(() => ({ confirm: getComputedStyle(document.querySelector("#confirm")).display === "none", ring: getComputedStyle(document.querySelector("#ring")).display === "none", close: document.querySelector("#cancel").textContent }));
  assert(expired.confirm && expired.ring && expired.close === "Close", "expired: no Confirm, no ring: " + JSON.stringify(expired));
  await shot(page, "merge-expired");
  await tap(page, "#cancel");
  assert(await page.$eval("#question", (e) => e.hidden), "Close closes the expired question");
  await tap(page, "#back");

  // 4. a typed brief, the answer panel, the level meter, a notification
  step("typed brief");
  await tap(page, "#type");
  await page.waitForSelector("#brief-text", { visible: true });
  await judge(page, "typing", { axe: false });
  await page.type("#brief-text", "what's finished?");
  await tap(page, "#brief-form button[type=submit]");
  await page.waitForFunction(() => window.capcom.lastTyped);
  const typed = await page.evaluate(() => ({ a: window.capcom.lastTyped, heard: document.querySelector("#heard").innerText }));
  assert(typed.a.say && !/^Not sent/.test(typed.a.say), "the typed brief was answered: " + JSON.stringify(typed));
  assert(/tap to close/.test(typed.heard), "the answer panel says tap to close: " + typed.heard);
  const hist = await master("GET", "/v1/history");
  assert(hist.some((u) => (u.transcript || u.text || "") === "what's finished?"), "the typed brief is in the history");
  await tap(page, "#heard");
  assert(await page.$eval("#heard", (e) => e.hidden), "tapping the answer closes it");
  await tap(page, "#type");

  step("level meter");
  const box = await (await page.$("#talk")).boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.waitForFunction(() => !document.querySelector("#level").hidden && window.capcom.levelMax > 0.001 && parseFloat(document.querySelector("#level-bar").style.width) > 0);
  out.level = await page.evaluate(() => window.capcom.levelMax);
  await page.mouse.up();
  await page.waitForFunction(() => document.querySelector("#level").hidden && document.querySelector("#talk").textContent === "Hold to talk");

  step("notification");
  await browser.defaultBrowserContext().overridePermissions(base, ["notifications"]);
  assert(await page.evaluate(() => Notification.permission) === "granted", "notifications allowed");
  capcom(["hook", "claude"], JSON.stringify({ session_id: "sess-second", cwd: cfg.repo, hook_event_name: "Notification", message: "Claude needs your permission to use Bash", title: "Permission needed", notification_type: "permission_prompt" }));
  await page.waitForFunction(() => (window.capcom.notifications || []).some((n) => /needs you/.test(n.title) && /use Bash/.test(n.body)));

  // 5. the player
  step("player");
  await tap(page, '[data-tab="episodes"]');
  await page.waitForSelector("#episodes [data-ep]", { visible: true });
  const names = await page.evaluate(() => [...document.querySelectorAll("#player button, #player select, #player input")].map((b) => b.getAttribute("aria-label") || b.textContent));
  assert(names.includes("Back 15 seconds") && names.includes("Forward 15 seconds") && names.includes("Seek"), "player controls named: " + JSON.stringify(names));
  const episodes = await page.evaluate(() => window.capcom.episodes);
  const ep = episodes[0];
  // Chapters: the server's, or (until it has them) the Podcasting 2.0 JSON the page asks for,
  // answered here in that shape (https://github.com/Podcastindex-org/podcast-namespace/blob/main/docs/examples/chapters/jsonChapters.md).
  const chaptersAt = await page.evaluate((e) => window.capcomChaptersUrl(e), ep);
  let served = null;
  if (!(ep.chapters || []).length && (await fetch(base + chaptersAt)).status === 404) {
    served = (req) => {
      if (new URL(req.url()).pathname === chaptersAt)
        req.respond({ status: 200, contentType: "application/json+chapters", body: JSON.stringify({ version: "1.2.0", chapters: [{ startTime: 0, title: `#${good} Tidy the button styles` }, { startTime: 3, title: `#${slow} Rewrite the pricing table` }] }) });
      else req.continue();
    };
    await page.setRequestInterception(true);
    page.on("request", served);
  }
  out.chapters_from = served ? "stand-in" : "daemon";
  await tap(page, "#episodes [data-ep] h3");
  await page.waitForFunction(() => document.querySelector("#audio").currentTime > 0.3);
  await page.waitForFunction(() => !document.querySelector("#chapters").hidden && document.querySelectorAll("#chapters [data-chapter]").length >= 2);
  const meta = await page.evaluate(() => { const m = navigator.mediaSession.metadata; return m && { title: m.title, artist: m.artist, artwork: [...m.artwork].map((a) => a.src) }; });
  assert(meta && meta.title === ep.title && meta.artwork.length && meta.artwork[0].endsWith("/icon.png"), "Media Session metadata: " + JSON.stringify(meta));
  out.media_session = meta;
  await judge(page, "player");
  const second = await page.evaluate(() => window.capcom.chapters[1].startTime);
  out.chapters = await page.evaluate(() => window.capcom.chapters);
  await page.evaluate(() => { document.querySelector("#audio").currentTime = 0; });
  await tap(page, '#chapters [data-chapter="1"]');
  await page.waitForFunction((t) => document.querySelector("#audio").currentTime >= t - 0.1 && document.querySelector('#chapters [data-chapter="1"]').classList.contains("on"), {}, second);
  // the seek bar moves the player
  await page.evaluate(() => { const s = document.querySelector("#seek"); s.value = "0"; s.dispatchEvent(new Event("input")); s.dispatchEvent(new Event("change")); });
  await page.waitForFunction((t) => document.querySelector("#audio").currentTime < t - 0.1, {}, second);
  await page.select("#speed", "1.5");
  await page.evaluate(() => { document.querySelector("#audio").pause(); document.querySelector("#audio").currentTime = 4; });
  await page.waitForFunction(() => { const k = Object.keys(localStorage).find((x) => x.startsWith("capcom.episode.")); const v = k && JSON.parse(localStorage.getItem(k)); return v && v.t === 4 && v.rate === 1.5; });
  const actions = await page.evaluate(() => Object.keys(window.__mediaActions || {}).sort());
  for (const a of ["pause", "play", "seekbackward", "seekforward", "seekto"]) assert(actions.includes(a), `Media Session handler ${a}: ${JSON.stringify(actions)}`);
  await page.evaluate(() => window.__mediaActions.seekto({ action: "seekto", seekTime: 2 }));
  assert(Math.abs((await page.$eval("#audio", (a) => a.currentTime)) - 2) < 0.5, "the lock screen's seek moves the player");
  await page.evaluate(() => { document.querySelector("#audio").currentTime = 4; });
  await page.waitForFunction(() => { const k = Object.keys(localStorage).find((x) => x.startsWith("capcom.episode.")); const v = k && JSON.parse(localStorage.getItem(k)); return v && v.t === 4 && v.rate === 1.5; });
  await shot(page, "player");
  // the place and speed come back with the episode after a reload
  await page.reload({ waitUntil: "domcontentloaded" });
  await page.waitForFunction(() => window.capcom && window.capcom.live);
  await tap(page, '[data-tab="episodes"]');
  await page.waitForSelector("#episodes [data-ep]", { visible: true });
  await tap(page, "#episodes [data-ep] h3");
  await page.waitForFunction(() => { const a = document.querySelector("#audio"); return a.currentTime >= 3.9 && a.playbackRate === 1.5 && document.querySelector("#speed").value === "1.5"; });
  await page.evaluate(() => document.querySelector("#audio").pause());
  if (served) { page.off("request", served); await page.setRequestInterception(false); }

  // 6. the light theme
  step("light theme");
  await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "light" }]);
  const light = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert(light !== "rgb(18, 24, 38)", "the light theme has its own background: " + light);
  await judge(page, "player, light");
  await tap(page, '[data-tab="board"]');
  await judge(page, "board, light");
  await shot(page, "board-light");
  await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "dark" }]);

  // 7. offline: a stream that says nothing (the daemon stopped, not gone) is found by its heartbeat
  step("heartbeat");
  await page.waitForFunction(() => navigator.serviceWorker.controller);
  assert((await page.evaluate(() => window.capcom.heartbeatMs)) === 45000, "three missed 15 s keep-alives");
  daemon.kill("SIGSTOP");
  // wait for two keep-alive-free seconds to be noticed sooner than the real 45 s
  await page.evaluate(() => { window.capcom.heartbeatMs = 2000; });
  await page.waitForFunction(() => !document.querySelector("#offline").hidden && !window.capcom.live);
  daemon.kill("SIGCONT");
  await page.evaluate(() => { window.capcom.heartbeatMs = 45000; });
  await page.waitForFunction(() => window.capcom.live && document.querySelector("#offline").hidden);

  step("reload while down");
  await stopDaemon();
  await page.waitForFunction(() => !window.capcom.live);
  await page.reload({ waitUntil: "domcontentloaded" });
  await page.waitForFunction(() => window.capcom && !document.querySelector("#offline").hidden);
  await page.waitForFunction((id) => document.querySelector(`[data-task="${id}"]`), {}, good);
  const offline = await page.evaluate(() => ({ banner: document.querySelector("#offline").textContent, conn: document.querySelector("#conn").textContent, title: document.title }));
  assert(/^Offline since \d\d:\d\d/.test(offline.banner) && offline.conn === "offline" && offline.title === "capcom", "the cached page and board, marked offline: " + JSON.stringify(offline));
  out.offline = offline.banner;
  await judge(page, "offline");
  await shot(page, "offline");

  step("back");
  await startDaemon();
  await page.waitForFunction(() => window.capcom.live && document.querySelector("#offline").hidden);
  step("done");
} catch (e) {
  // what the page showed when a step failed
  if (page) {
    const seen = await page.evaluate(() => ({ url: location.href, live: window.capcom && window.capcom.live, left: (document.querySelector("#question-left") || {}).textContent, arc: document.querySelector("#ring-arc")?.getAttribute("stroke-dasharray"), cancel: window.capcom && window.capcom.lastCancel, pending: window.capcom && window.capcom.pending && window.capcom.pending.expires_at, skew: window.capcom && window.capcom.skew, heard: document.querySelector("#heard")?.innerText.slice(0, 300), text: document.body.innerText.replace(/x{40,}/g, "x…x").slice(0, 1500) })).catch((x) => x.message);
    process.stderr.write("the page at the failure: " + JSON.stringify(seen) + "\n");
    await shot(page, "failure").catch(() => {});
  }
  throw e;
} finally {
  await browser.close().catch(() => {});
  await stopDaemon().catch(() => {});
}
process.stdout.write(JSON.stringify(out) + "\n");
