//! Child processes capcom starts (agents, checks): stopping a process group, telling
//! whether a pid is still the process that was started, and the tail of their output.
//! Used by both dispatch and review, so it sits below them.

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

/// How much nicer (lower CPU priority) than capcom the agents and checks it
/// starts run: `[dispatch] agent_nice`, set when the daemon starts.
static BACKGROUND_NICE: AtomicI32 = AtomicI32::new(0);

/// Set how much nicer than capcom the programs it starts run (clamped to 0–19).
pub fn set_background_nice(n: i32) {
    BACKGROUND_NICE.store(n.clamp(0, 19), Ordering::SeqCst);
}

/// Make `cmd` run nicer than capcom by [`set_background_nice`]'s amount.
///
/// Agents build and test in the background while capcom must transcribe at
/// once when a key is released. Under the kernel's fair scheduler a nice-10
/// process weighs about a tenth of a nice-0 one, so two busy agents leave the
/// transcription thread nearly a whole core, while an idle CPU is still
/// theirs entirely (sched(7), "The nice value"). Raising a nice value needs no
/// privilege; a failure leaves the child at capcom's own priority.
pub fn background(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let n = BACKGROUND_NICE.load(Ordering::SeqCst);
    if n == 0 {
        return;
    }
    // SAFETY: nice(2) is a plain system call, safe between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::nice(n);
            Ok(())
        });
    }
}

/// How long a group gets after SIGTERM before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);

/// Stop a process group: SIGTERM, a grace period, then SIGKILL. Only if `pid` is
/// still the process that was started (same start time), or already gone.
pub async fn kill_group(pid: u32, pid_start: Option<u64>) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    let Ok(raw) = i32::try_from(pid) else { return };
    if raw <= 1 {
        return;
    }
    let ours = match (pid_start, proc_start_time(pid)) {
        (Some(expected), Some(actual)) => expected == actual,
        // The leader is gone; its group may still hold children, and a group id is
        // never reused while any member lives.
        (_, None) => true,
        (None, Some(_)) => true,
    };
    if !ours {
        return;
    }
    let group = Pid::from_raw(raw);
    let _ = killpg(group, Signal::SIGTERM);
    let deadline = tokio::time::Instant::now() + TERM_GRACE;
    while tokio::time::Instant::now() < deadline && process_alive(pid, pid_start) {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let _ = killpg(group, Signal::SIGKILL);
}

/// A process start time: /proc/PID/stat field 22 (clock ticks since boot).
pub fn proc_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    // After ')': field 3 (state) is index 0, so field 22 is index 19.
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().next()?.chars().next()
}

/// Is `pid` alive and the same process (start time) as recorded? Zombies count as dead.
pub fn process_alive(pid: u32, pid_start: Option<u64>) -> bool {
    match proc_state(pid) {
        None | Some('Z') | Some('X') => false,
        Some(_) => match pid_start {
            Some(s) => proc_start_time(pid) == Some(s),
            None => true,
        },
    }
}

/// The last `max_lines` lines of `text`, within its last `max_bytes` bytes.
pub fn tail_lines(text: &str, max_lines: usize, max_bytes: usize) -> String {
    let mut start = text.len().saturating_sub(max_bytes);
    while start < text.len() && !text.is_char_boundary(start) {
        start += 1;
    }
    let lines: Vec<&str> = text[start..].lines().collect();
    let from = lines.len().saturating_sub(max_lines);
    lines[from..].join("\n")
}

/// Fault injection for the crash tests (tests/crash.rs, the merge tests of tests/dispatch.rs): with
/// `CAPCOM_TEST_KILL_AT=<step>` the daemon kills itself with SIGKILL (no destructor, no flush) at that
/// step of a dispatch or a merge. Compiled into debug builds
/// only; a release build (what `./capcom.sh install` installs) has no such hook.
#[cfg(debug_assertions)]
pub fn crash_point(step: &str) {
    if std::env::var("CAPCOM_TEST_KILL_AT").is_ok_and(|s| s == step) {
        tracing::warn!(step, "CAPCOM_TEST_KILL_AT: the daemon kills itself here");
        // SAFETY: kill(2) on our own pid.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}

#[cfg(not(debug_assertions))]
pub fn crash_point(_step: &str) {}
