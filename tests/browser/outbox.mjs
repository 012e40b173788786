// The page never loses a clip: with the daemon down, a push-to-talk clip is kept in the
// browser (IndexedDB) and shown as "not sent" with Retry; it outlives its tab and is sent
// by itself once the daemon is back. Run by tests/browser.rs; it starts and stops the daemon
// itself (same data dir, same port, so the page's origin stays the same).
// Input: CAPCOM_BROWSER_TEST (JSON). Output: one JSON line on stdout; a failed step throws.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import { daemonControl, launchChromium } from "./daemon.mjs";
import path from "node:path";

const cfg = JSON.parse(process.env.CAPCOM_BROWSER_TEST);
const base = `http://127.0.0.1:${cfg.port}`;
const out = { steps: [] };
const step = (name) => { out.steps.push(name); process.stderr.write(`browser: ${name}\n`); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function assert(ok, what) { if (!ok) throw new Error("assertion failed: " + what); }
const capcom = (...args) => execFileSync(cfg.bin, ["--config", cfg.config, "--data-dir", cfg.data, ...args], { encoding: "utf8" });

const daemon = daemonControl(cfg);
const startDaemon = daemon.start;
const stopDaemon = daemon.stop;
async function history() {
  const token = fs.readFileSync(path.join(cfg.data, "api.token"), "utf8").trim();
  const r = await fetch(base + "/v1/history", { headers: { Authorization: `Bearer ${token}` } });
  return r.json();
}

const browser = await launchChromium(cfg);

async function open(url) {
  const page = await browser.newPage();
  page.setDefaultTimeout(120000);
  page.on("pageerror", (e) => process.stderr.write(`page error: ${e.message}\n`));
  await page.goto(url, { waitUntil: "domcontentloaded" });
  await page.waitForFunction(() => window.capcom && localStorage.getItem("capcom.device"));
  return page;
}
/// Hold the talk button for 1.5 s (Chromium's fake microphone plays a tone).
async function hold(page) {
  const box = await (await page.$("#talk")).boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await sleep(1500);
  await page.mouse.up();
}
try {
  await startDaemon();

  step("pair");
  const pairing = JSON.parse(capcom("pair", "--json"));
  let page = await open(pairing.url.replace(/^http:\/\/[^/]+/, base));
  await page.waitForFunction(() => window.capcom.live);
  const before = (await history()).length;

  step("record while the daemon is down");
  await stopDaemon();
  await page.waitForFunction(() => !window.capcom.live);
  await hold(page);
  await page.waitForFunction(() => (window.capcom.unsent || []).length === 1);
  const shown = await page.$eval("#outbox", (e) => ({ hidden: e.hidden, text: e.innerText }));
  assert(!shown.hidden && /not sent/.test(shown.text) && /Retry/.test(shown.text), "the clip is shown as not sent, with Retry: " + JSON.stringify(shown));
  const kept = await page.evaluate(async () => (await window.capcomOutbox.all()).map((c) => c.blob.size));
  assert(kept.length === 1 && kept[0] > 44 + 48000, "the recording is kept in IndexedDB: " + JSON.stringify(kept));

  step("retry while still down keeps it");
  await page.click("[data-retry]");
  await sleep(500);
  await page.waitForFunction(() => (window.capcom.unsent || []).length === 1);

  step("a kept clip has its own Idempotency-Key; a second copy of it (its answer lost) is not acted on twice");
  const keys = await page.evaluate(async () => {
    const [c] = await window.capcomOutbox.all();
    await window.capcomOutbox.put({ blob: c.blob, at: c.at, error: "the answer was lost", key: c.key });
    return (await window.capcomOutbox.all()).map((x) => x.key);
  });
  assert(keys.length === 2 && /^[0-9a-f]{32}$/.test(keys[0]) && keys[1] === keys[0], "the clip's key, twice: " + JSON.stringify(keys));

  step("the tab closed, the daemon back: a new page sends it");
  await page.close();
  await startDaemon();
  page = await open(base + "/");
  await page.waitForFunction(() => window.capcom.lastTalk && (window.capcom.unsent || []).length === 0);
  assert((await page.evaluate(async () => (await window.capcomOutbox.all()).length)) === 0, "nothing is left in the outbox");
  let after = await history();
  assert(after.length === before + 1, `one more utterance (the copy sent with the same key was not stored again): ${before} -> ${after.length}`);
  // 16-bit mono at 48 kHz after a 44-byte header: the kept clip's length
  const keptMs = (kept[0] - 44) / 96;
  assert(Math.abs(after[0].duration_ms - keptMs) < 100, `the whole recording arrived: ${after[0].duration_ms} ms of ${keptMs} ms`);

  step("the daemon back while the page is open: sent by itself");
  await page.waitForFunction(() => window.capcom.live);
  await stopDaemon();
  await page.waitForFunction(() => !window.capcom.live);
  await page.evaluate(() => { window.capcom.lastTalk = null; });
  await hold(page);
  await page.waitForFunction(() => (window.capcom.unsent || []).length === 1);
  await startDaemon();
  await page.waitForFunction(() => window.capcom.live && (window.capcom.unsent || []).length === 0 && window.capcom.lastTalk);
  after = await history();
  assert(after.length === before + 2, `two more utterances: ${before} -> ${after.length}`);
  out.utterances = after.slice(0, 2).map((u) => ({ id: u.id, duration_ms: u.duration_ms }));
  step("done");
} finally {
  await browser.close();
  await stopDaemon();
}
process.stdout.write(JSON.stringify(out) + "\n");
