// Drives the phone page in headless Chromium (puppeteer-core over the DevTools protocol)
// against a real capcom daemon that tests/browser.rs started. Input: CAPCOM_BROWSER_TEST,
// a JSON object. Output: one JSON line of measurements on stdout; any failed step throws
// (exit 1) with what it saw.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import { launchChromium } from "./daemon.mjs";
import path from "node:path";

const cfg = JSON.parse(process.env.CAPCOM_BROWSER_TEST);
const base = `http://${cfg.addr}`;
const out = { steps: [] };
const step = (name) => { out.steps.push(name); process.stderr.write(`browser: ${name}\n`); };

async function master(method, p, body) {
  const r = await fetch(base + p, { method, headers: { Authorization: `Bearer ${cfg.token}`, "Content-Type": "application/json" }, body: body ? JSON.stringify(body) : undefined });
  const j = await r.json();
  if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(j)}`);
  return j;
}
const capcom = (...args) => execFileSync(cfg.bin, ["--config", cfg.config, "--data-dir", cfg.data, ...args], { encoding: "utf8" });
const git = (dir, ...args) => execFileSync("git", ["-C", dir, ...args], { encoding: "utf8" }).trim();
/// Click what the selector names, again if a live update redrew it between finding and clicking.
async function tap(page, selector) {
  for (let i = 0; ; i++) {
    try { await page.click(selector); return; } catch (e) { if (i >= 5 || !/detached|not clickable|No node/.test(e.message)) throw e; }
    await new Promise((r) => setTimeout(r, 200));
  }
}
function assert(ok, what) { if (!ok) throw new Error("assertion failed: " + what); }

/// Decode a PNG in the page and count its distinct colours: a blank shot has one or two.
async function distinctColours(page, file) {
  const b64 = fs.readFileSync(file).toString("base64");
  return page.evaluate(async (src) => {
    const img = new Image(); img.src = src; await img.decode();
    const c = document.createElement("canvas"); c.width = img.width; c.height = img.height;
    const g = c.getContext("2d"); g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data; const seen = new Set();
    for (let i = 0; i < d.length; i += 16) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    return { colours: seen.size, width: img.width, height: img.height };
  }, "data:image/png;base64," + b64);
}

const browser = await launchChromium(cfg, ["--autoplay-policy=no-user-gesture-required", `--use-file-for-fake-audio-capture=${cfg.brief_wav}`]);

try {
  const page = await browser.newPage();
  // a busy machine is slow, not wrong: every wait is generous
  page.setDefaultTimeout(120000);
  await page.setViewport({ width: 412, height: 915, deviceScaleFactor: 1, isMobile: true, hasTouch: true });
  page.on("pageerror", (e) => process.stderr.write(`page error: ${e.message}\n`));

  // 1. pairing through the link `capcom pair` printed (the code is in the fragment)
  step("pair");
  await page.goto(cfg.pair_url, { waitUntil: "domcontentloaded" });
  await page.waitForFunction(() => localStorage.getItem("capcom.device") && window.capcom.live, { timeout: 120000 });
  assert(!(await page.evaluate(() => location.hash)).includes("pair="), "the code leaves the address bar");
  await page.waitForFunction((n) => document.querySelectorAll("#board .card").length >= n, { timeout: 120000 }, cfg.ready.length);
  const boardText = await page.$eval("#board", (e) => e.innerText);
  for (const id of cfg.ready) assert(boardText.includes(`#${id}`), `task ${id} on the board: ${boardText}`);
  assert(/\d+ checks? green/.test(boardText), "checks shown: " + boardText);
  fs.mkdirSync(cfg.shots, { recursive: true });
  const boardShot = path.join(cfg.shots, "board.png");
  await page.screenshot({ path: boardShot });

  // 2. live: a brief typed through the page's API becomes a task that appears and moves, with no reload
  step("live board");
  await page.evaluate(() => { window.__noReload = true; });
  const briefAnswer = await page.evaluate(async (text) => {
    const r = await fetch("/app/v1/brief", { method: "POST", headers: { "X-Capcom-Device": localStorage.getItem("capcom.device"), "Content-Type": "application/json" }, body: JSON.stringify({ text }) });
    return r.json();
  }, cfg.brief_text);
  const newId = briefAnswer.tasks && briefAnswer.tasks[0] && briefAnswer.tasks[0].id;
  assert(newId, "the brief made a task: " + JSON.stringify(briefAnswer));
  await page.waitForFunction((id) => window.__noReload && [...document.querySelectorAll("#board .card")].some((c) => c.dataset.task == id), { timeout: 120000 }, newId);
  await page.waitForFunction((id) => window.__noReload && (window.capcom.tasks.find((t) => t.id === id) || {}).state === "ready", { timeout: 120000 }, newId);
  out.live_task = newId;

  // 3. push-to-talk: hold, speak (Chromium's fake microphone plays brief.wav), release
  step("push-to-talk");
  const before = (await master("GET", "/v1/history")).length;
  const talk = await page.$("#talk");
  const box = await talk.boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await new Promise((r) => setTimeout(r, cfg.hold_ms));
  await page.mouse.up();
  await page.waitForFunction(() => window.capcom.lastTalk, { timeout: 180000 });
  const talked = await page.evaluate(() => window.capcom.lastTalk);
  assert(talked.say && talked.has_audio, "a spoken answer came back: " + JSON.stringify(talked));
  await page.waitForFunction(() => window.capcom.lastTalk.spoken_ms, { timeout: 120000 });
  Object.assign(talked, await page.evaluate(() => ({ spoken_ms: window.capcom.lastTalk.spoken_ms })));
  out.talk = talked;
  const history = await master("GET", "/v1/history");
  assert(history.length === before + 1, `one more utterance: ${before} -> ${history.length}`);
  const u = history[0];
  assert(u.id === talked.utterance_id, `the page names the stored utterance: ${JSON.stringify(u)} vs ${JSON.stringify(talked)}`);
  assert(u.audio_path && fs.existsSync(u.audio_path), "the WAV is stored: " + u.audio_path);
  assert(u.transcript !== null, "it went through the model: " + JSON.stringify(u));
  assert(u.duration_ms > 500, "the clip has the speech: " + u.duration_ms);
  out.utterance = { id: u.id, duration_ms: u.duration_ms, transcript: u.transcript, timings_model: u.timings && u.timings.model };

  // 4. task view, merge question, tapped confirm
  step("task view and merge");
  const [good, moved] = cfg.ready;
  await tap(page, `#board .card[data-task="${good}"]`);
  await page.waitForFunction((id) => (document.querySelector("#task-view h2") || {}).textContent?.startsWith(`#${id} `), {}, good);
  await page.waitForFunction(() => document.querySelector("#task-view").innerText.includes("Changed files"), { timeout: 120000 });
  const taskText = await page.$eval("#task-view", (e) => e.innerText);
  assert(taskText.includes("components/button.txt"), "changed files listed: " + taskText);
  assert(taskText.includes("button v2"), "the diff is shown: " + taskText);
  const diffFiles = await page.$$eval("#task-view details.file summary", (ss) => ss.map((s) => s.textContent));
  assert(diffFiles.some((f) => f.startsWith("components/button.txt")), "the diff file by file: " + JSON.stringify(diffFiles));
  assert(/pass/.test(taskText), "acceptance with its check result: " + taskText);
  const taskShot = path.join(cfg.shots, "task.png");
  await page.screenshot({ path: taskShot, fullPage: false });
  const head = (await master("GET", `/v1/tasks/${good}`)).task.head_sha;
  await tap(page, "#merge");
  await page.waitForSelector("#question", { visible: true });
  const q = await page.evaluate(() => ({ text: document.querySelector("#question-text").textContent, pending: window.capcom.pending }));
  assert(q.text.startsWith(`Merge task ${good}, '`), "the gate's question: " + q.text);
  assert(q.pending && q.pending.head === head, `bound to the head ${head}: ${JSON.stringify(q.pending)}`);
  await tap(page, "#confirm");
  await page.waitForFunction(() => window.capcom.lastConfirm, { timeout: 120000 });
  const merged = await page.evaluate(() => window.capcom.lastConfirm);
  assert(merged.ok && merged.say.includes(`Merged task ${good}`), "merged: " + JSON.stringify(merged));
  assert(git(cfg.repo, "show", "main:components/button.txt") === "button v2", "main has the change");

  // 5. a moved head is refused
  step("moved head");
  // The merge brings the other ready task up to date with main (a rebase, then its checks); until that
  // is done it is `checking` and a merge is refused for that reason, so wait until it is ready again.
  // The update may not have begun when the merge answers: wait for its `train` event too.
  for (let i = 0; ; i++) {
    const v = await master("GET", `/v1/tasks/${moved}`);
    const updated = (v.events || []).some((e) => e.kind === "train");
    if (updated && v.task.state === "ready") break;
    assert(i < 1200 && ["checking", "ready"].includes(v.task.state), `task ${moved} is ready again after the train: ${v.task.state} (${v.task.reason})`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await tap(page, "#back");
  await tap(page, `#board .card[data-task="${moved}"]`);
  // the view never shows the previous task (and its Merge button) while the new one loads
  const stale = await page.evaluate(() => { const h = document.querySelector("#task-view h2"); return h ? h.textContent : null; });
  assert(stale === null || stale.startsWith(`#${moved} `), "a stale task view under the new task: " + stale);
  await page.waitForFunction((id) => (document.querySelector("#task-view h2") || {}).textContent?.startsWith(`#${id} `), {}, moved);
  await page.waitForSelector("#merge", { visible: true });
  await page.evaluate(() => { window.capcom.lastConfirm = null; window.capcom.lastMerge = null; });
  await tap(page, "#merge");
  await page.waitForFunction(() => window.capcom.lastMerge, { timeout: 120000 });
  const second = await page.evaluate(() => window.capcom.lastMerge);
  assert(second.pending, "the second merge asks its question: " + JSON.stringify(second));
  await page.waitForSelector("#question", { visible: true });
  const wt = (await master("GET", `/v1/tasks/${moved}`)).task.worktree;
  fs.writeFileSync(path.join(wt, "components", "later.txt"), "later\n");
  git(wt, "add", "-A");
  git(wt, "-c", "user.name=u", "-c", "user.email=u@example.com", "commit", "-qm", "later");
  const mainBefore = git(cfg.repo, "rev-parse", "main");
  await tap(page, "#confirm");
  await page.waitForFunction(() => window.capcom.lastConfirm, { timeout: 120000 });
  const refused = await page.evaluate(() => window.capcom.lastConfirm);
  assert(!refused.ok && refused.say.includes("moved since you were asked"), "refused: " + JSON.stringify(refused));
  assert(git(cfg.repo, "rev-parse", "main") === mainBefore, "main did not move");

  // 6. the changelog plays
  step("changelog");
  await tap(page, '[data-tab="episodes"]');
  await page.waitForSelector("#episodes [data-ep]", { visible: true, timeout: 120000 });
  const covers = await page.$$eval("#episodes [data-ep] [data-open]", (as) => as.map((a) => +a.dataset.open));
  // the task still waiting landed before the episode was made (the merged one was merged after it)
  assert(covers.includes(moved), "the episode lists its tasks: " + JSON.stringify(covers));
  await tap(page, "#episodes [data-ep] h3");
  await page.waitForFunction(() => document.querySelector("#audio").currentTime > 0.5, { timeout: 120000 });
  const t1 = await page.$eval("#audio", (a) => a.currentTime);
  await new Promise((r) => setTimeout(r, 1000));
  const t2 = await page.$eval("#audio", (a) => a.currentTime);
  assert(t2 > t1, `currentTime advances: ${t1} -> ${t2}`);
  await tap(page, "#fwd15");
  const t3 = await page.$eval("#audio", (a) => a.currentTime);
  assert(t3 >= t2 + 10 || t3 >= (await page.$eval("#audio", (a) => a.duration)) - 0.5, `skip forward: ${t2} -> ${t3}`);
  out.player = { t1, t2, t3 };

  // 7. screenshots are not blank
  step("screenshots");
  out.shots = { board: await distinctColours(page, boardShot), task: await distinctColours(page, taskShot) };
  for (const [k, v] of Object.entries(out.shots)) assert(v.colours > 8 && v.width === 412 && v.height === 915, `${k} screenshot: ${JSON.stringify(v)}`);

  // 8. no device token: nothing
  step("no token");
  const other = await browser.createBrowserContext();
  const stranger = await other.newPage();
  await stranger.goto(base + "/", { waitUntil: "domcontentloaded" });
  await stranger.waitForSelector("#pairing", { visible: true });
  const strangerSees = await stranger.evaluate(async () => {
    const r = await fetch("/app/v1/board"); return { status: r.status, body: await r.text(), board: document.querySelector("#board").innerHTML };
  });
  assert(strangerSees.status === 401 && !strangerSees.body.includes("title") && strangerSees.board === "", "a stranger sees nothing: " + JSON.stringify(strangerSees));
  await other.close();

  // 9. a revoked device is refused and falls back to pairing
  step("revoked");
  const name = await page.evaluate(() => window.capcom.device);
  capcom("devices", "revoke", name);
  await tap(page, '[data-tab="board"]');
  await page.evaluate(() => fetch("/app/v1/board", { headers: { "X-Capcom-Device": localStorage.getItem("capcom.device") } }).then((r) => { window.__revoked = r.status; }));
  await page.waitForFunction(() => window.__revoked, { timeout: 120000 });
  assert((await page.evaluate(() => window.__revoked)) === 401, "the revoked token is refused");
  await page.reload({ waitUntil: "domcontentloaded" });
  await page.waitForSelector("#pairing", { visible: true, timeout: 120000 });
  step("done");
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + "\n");
