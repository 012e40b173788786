// The daemon as the browser tests start and stop it themselves: the same data dir and port each
// time, so the page's origin (and its service worker) stay the same across restarts.
// cfg: { bin, config, data, port, daemon_log } from tests/browser.rs.
// Also the one way the scripts start Chromium.
import puppeteer from "puppeteer-core";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function daemonControl(cfg) {
  let child = null;
  return {
    async start() {
      fs.rmSync(path.join(cfg.data, "api.addr"), { force: true });
      const log = fs.openSync(cfg.daemon_log, "a");
      child = spawn(cfg.bin, ["--config", cfg.config, "--data-dir", cfg.data, "daemon", "--headless"], {
        env: Object.assign({}, process.env, { CAPCOM__API__LISTEN: `127.0.0.1:${cfg.port}`, CAPCOM_LOG: "info" }),
        stdio: ["ignore", "ignore", log],
      });
      for (let i = 0; i < 2400; i++) {
        if (fs.existsSync(path.join(cfg.data, "api.addr"))) return;
        if (child.exitCode !== null) throw new Error("the daemon exited early: " + fs.readFileSync(cfg.daemon_log, "utf8"));
        await sleep(50);
      }
      throw new Error("the daemon did not start");
    },
    // a stopped (SIGSTOP) daemon is let go on first, so that it can take the SIGTERM
    async stop() {
      if (!child || child.exitCode !== null) return;
      const done = new Promise((r) => child.once("exit", r));
      child.kill("SIGCONT");
      child.kill("SIGTERM");
      await done;
    },
    kill(signal) { child.kill(signal); },
  };
}

// Headless Chromium as this machine allows it (root, no GPU, no network beyond loopback: the
// background-networking flags keep it from reaching for Google's hosts), with a fake microphone.
export function launchChromium(cfg, extra = []) {
  return puppeteer.launch({
    executablePath: cfg.chromium,
    headless: true,
    userDataDir: cfg.profile,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
      ...extra,
    ],
  });
}
