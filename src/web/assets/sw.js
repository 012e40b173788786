// The page's service worker: the page itself (its shell) and the last board are kept, so a
// reload while capcom cannot be reached shows the last board marked offline instead of the
// browser's error page. Everything else goes to the network untouched. It also shows capcom's
// Web Push messages ("needs you") and opens the task a tap on one names.
"use strict";
const SHELL = "capcom-shell-v1", BOARD = "capcom-board";
const FILES = ["/", "/app.js", "/app.css", "/recorder.js", "/icon.png", "/manifest.webmanifest"];
// a daemon that accepts the connection and says nothing (stopped, asleep) counts as down
const WAIT_MS = 4000;

self.addEventListener("install", (e) => { e.waitUntil(caches.open(SHELL).then((c) => c.addAll(FILES)).then(() => self.skipWaiting())); });
self.addEventListener("activate", (e) => {
  e.waitUntil(caches.keys().then((ks) => Promise.all(ks.filter((k) => k.startsWith("capcom-shell-") && k !== SHELL).map((k) => caches.delete(k)))).then(() => self.clients.claim()));
});

function network(req) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("no answer")), WAIT_MS);
    fetch(req).then((r) => { clearTimeout(t); resolve(r); }, (e) => { clearTimeout(t); reject(e); });
  });
}

self.addEventListener("fetch", (e) => {
  const req = e.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== location.origin) return;
  const shell = req.mode === "navigate" ? "/" : FILES.includes(url.pathname) ? url.pathname : null;
  if (shell) {
    // fresh when capcom answers (and kept for next time), the kept copy when it does not
    e.respondWith(network(req).then((r) => {
      if (r.ok) { const copy = r.clone(); caches.open(SHELL).then((c) => c.put(shell, copy)); }
      return r;
    }).catch(() => caches.match(shell, { cacheName: SHELL }).then((r) => r || Response.error())));
  } else if (url.pathname === "/app/v1/board" && !url.search) {
    e.respondWith(network(req).then(async (r) => {
      if (r.ok) {
        const text = await r.clone().text();
        const c = await caches.open(BOARD);
        await c.put("/app/v1/board", new Response(text, { headers: { "Content-Type": "application/json", "X-Capcom-Cached": new Date().toISOString() } }));
      }
      return r;
    }).catch(() => caches.match("/app/v1/board", { cacheName: BOARD }).then((r) => r || Response.error())));
  }
});

// A push message from capcom: {title, body, tag, task?}, already decrypted by the browser.
self.addEventListener("push", (e) => {
  let m = {};
  try { m = e.data ? e.data.json() : {}; } catch (err) { m = { body: e.data ? e.data.text() : "" }; }
  // the same tag as the open page's own notification, so one need shows once
  e.waitUntil(self.registration.showNotification(m.title || "capcom needs you", {
    body: m.body || "", tag: m.tag || undefined, icon: "/icon.png", badge: "/icon.png", data: { task: m.task || null },
  }));
});
self.addEventListener("notificationclick", (e) => {
  e.notification.close();
  const task = e.notification.data && e.notification.data.task;
  e.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((cs) => {
    const page = cs.find((c) => new URL(c.url).origin === location.origin);
    if (page) { if (task) page.postMessage({ open: task }); return page.focus(); }
    return self.clients.openWindow(task ? "/#task=" + task : "/");
  }));
});
