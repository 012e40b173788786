//! The board at scale: a real `capcom daemon --headless` with 1,000 and 10,000 tasks in its
//! store (all but a few merged days ago), one phone watching its live stream.
//!
//! Printed for each size, beside the old path measured in the same run:
//! - `GET /v1/status`: bytes and time (the live window; the old answer carried every task,
//!   which `?all=true` still gives: the "old" row is that, with today's reads, so its time is
//!   below what the old code took);
//! - the phone's board: the first event's bytes, and a one-task change's bytes (the old
//!   stream sent the whole board, every task, for any change);
//! - the daemon's resident memory while a phone watches;
//! - the daemon's CPU over 10 s of a watched stream with nothing changing (the old watcher
//!   rebuilt the whole board every 500 ms: twice the old build time per second, built here
//!   in this process with the same code the old watcher ran).
//!
//! `cargo bench --bench board` (or `--profile dev` to reuse a debug build; the figures then
//! are for unoptimised capcom code, old and new alike).

#[path = "../tests/common/mod.rs"]
#[allow(dead_code, unused_imports)]
mod common;

use capcom::report::TaskView;
use capcom::store::{Store, TaskState};
use capcom::understand::{TaskKind, TaskSpec};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// Live tasks (not merged long ago) in each store.
const LIVE: usize = 40;

fn main() {
    println!("{:>7} {:>28} {:>28} {:>26} {:>11} {:>26}", "tasks", "GET /v1/status", "board on connect", "one change", "daemon RSS", "idle CPU of a core, watched");
    for n in [1_000usize, 10_000] {
        run(n);
    }
}

fn run(n: usize) {
    let mut d = common::Daemon::start("[speech]\nengine = \"none\"\n");
    let store = Store::open(&d.data.join("capcom.db")).unwrap();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let spec = TaskSpec { title: format!("Task {i}: tidy the {} component and its tests", ["header", "footer", "button", "search"][i % 4]), kind: TaskKind::Feature, ..TaskSpec::default() };
        let t = store.create_task(&spec, TaskState::Queued, None, None, "bench").unwrap();
        store.transition(t.id, None, TaskState::Running, Some("started")).unwrap();
        store.add_event(Some(t.id), "progress", "Edited src/components/header.tsx and ran the tests", None).unwrap();
        let end = if i >= n - LIVE { TaskState::Ready } else { TaskState::Merged };
        store.transition(t.id, None, end, Some("done")).unwrap();
        ids.push(t.id);
    }
    let db = rusqlite::Connection::open(d.data.join("capcom.db")).unwrap();
    let old = (chrono::Utc::now() - chrono::Duration::days(3)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    db.execute("UPDATE tasks SET updated_at = ?1 WHERE state = 'merged'", [&old]).unwrap();
    drop(db);

    // GET /v1/status, new (the window) and old (every task)
    let token = d.token();
    let timed = |path: &str| {
        let mut best = Duration::MAX;
        let mut bytes = 0;
        for _ in 0..3 {
            let t = Instant::now();
            let (status, body) = d.http("GET", path, Some(&token), None);
            assert_eq!(status, 200, "{body}");
            best = best.min(t.elapsed());
            bytes = body.len();
        }
        (bytes, best)
    };
    let (status_new, status_new_t) = timed("/v1/status");
    let (status_old, status_old_t) = timed("/v1/status?all=true");

    // the old board: every task's view, built as the old watcher built it
    let t = Instant::now();
    let mut views = Vec::new();
    for task in store.tasks(true).unwrap() {
        views.push(TaskView::from_store(&task, &store.runs(task.id).unwrap(), &store.events(task.id).unwrap()));
    }
    let old_board = serde_json::json!({ "tasks": views, "needs_you": [], "coordinator": {}, "now": chrono::Utc::now() }).to_string();
    let old_build = t.elapsed();

    // the daemon alone, nobody watching: what the rest of it costs with this many tasks
    let pid = d.child.as_ref().unwrap().id();
    let idle = Duration::from_secs(10);
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let cpu0 = cpu_ticks(pid);
    std::thread::sleep(idle);
    let alone_cpu = (cpu_ticks(pid) - cpu0) as f64 / ticks / idle.as_secs_f64() * 100.0;

    // a phone watching
    let out = d.cli(&["pair", "--json"]);
    let code = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["code"].as_str().unwrap().to_string();
    let (_, body) = common::http(&d.addr, "POST", "/app/pair", None, Some(&serde_json::json!({ "code": code, "name": "bench" }).to_string()));
    let device = serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"].as_str().unwrap().to_string();
    let mut s = std::net::TcpStream::connect(&d.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    write!(s, "GET /app/v1/events HTTP/1.0\r\nHost: x\r\nX-Capcom-Device: {device}\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let first = next_event(&mut s, &mut buf);
    let cpu0 = cpu_ticks(pid);
    std::thread::sleep(idle);
    let cpu1 = cpu_ticks(pid);
    let idle_cpu = (cpu1 - cpu0) as f64 / ticks / idle.as_secs_f64() * 100.0;
    let old_idle_cpu = 2.0 * old_build.as_secs_f64() * 100.0;
    let rss = rss_kb(pid);

    // one change
    store.add_event(Some(ids[n - 1]), "progress", "Ran the tests again", None).unwrap();
    let patch = next_event(&mut s, &mut buf);
    drop(s);

    println!(
        "{n:>7} {:>28} {:>28} {:>26} {:>8} MB {:>26}",
        format!("{} in {} ms", kb(status_new), status_new_t.as_millis()),
        format!("{} (board event)", kb(first.len())),
        format!("{} (patch event)", kb(patch.len())),
        rss / 1024,
        format!("{idle_cpu:.2} % ({alone_cpu:.2} % unwatched)"),
    );
    println!(
        "{:>7} {:>28} {:>28} {:>26} {:>11} {:>26}",
        "old/all",
        format!("{} in {} ms", kb(status_old), status_old_t.as_millis()),
        format!("{} (whole board)", kb(old_board.len())),
        format!("{} (whole board)", kb(old_board.len())),
        "",
        format!("{old_idle_cpu:.1} % ({} ms × 2/s)", old_build.as_millis()),
    );
    d.stop();
}

fn kb(n: usize) -> String {
    if n >= 1024 { format!("{:.0} KB", n as f64 / 1024.0) } else { format!("{n} B") }
}

/// The next whole SSE event's text (its `event:` and `data:` lines) on an HTTP/1.0 stream.
fn next_event(s: &mut std::net::TcpStream, buf: &mut Vec<u8>) -> String {
    let mut chunk = [0u8; 1 << 16];
    loop {
        if buf.starts_with(b"HTTP/")
            && let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n")
        {
            buf.drain(..head_end + 4);
        }
        if let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
            let ev: Vec<u8> = buf.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&ev).into_owned();
            if text.contains("data:") {
                return text;
            }
            continue; // a keep-alive comment
        }
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "the stream ended");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse().ok()).unwrap_or(0)
}
