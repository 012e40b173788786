//! How many threads a decode gets, from what else keeps the CPU busy.
//!
//! whisper.cpp's thread pool spin-waits at every barrier: with as many
//! threads as cores and other runnable work, a thread that loses its core
//! stalls the rest (measured on two cores, tiny.en, a 17 s brief: 1.7 s with
//! two threads on a quiet CPU, 50 s with two threads and two busy processes,
//! 4.5 s with one thread). One thread fewer than the cores is safe but
//! leaves a quiet machine's second core idle (6 s briefs: 1.11 s with one
//! thread, 0.63 s with two). So with `[voice] threads = 0` each decode looks
//! at the CPU time other processes used since a recent mark (the key press,
//! the decode before, or the process's start), and takes every physical core
//! those left free. A mark must be at least 150 ms old to judge by; when all
//! are fresher (a process that has only just started) the decode waits out
//! the rest of that window rather than guess, so `capcom transcribe` and the
//! daemon decide alike.
//!
//! Work at a raised nice value is not counted: the kernel gives it a small
//! share when a normal-priority thread wants the core (sched(7)), and capcom
//! starts its agents and checks that way (`[dispatch] agent_nice`). /proc/stat
//! keeps such time in its own `nice` column (proc(5)).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// CPU time so far: all processes at normal priority (user, system, irq,
/// softirq and steal time from /proc/stat, in clock ticks) and this process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuTimes {
    pub at: Instant,
    pub busy_ticks: u64,
    pub own_ticks: u64,
}

/// Busy ticks from the aggregate `cpu ` line of /proc/stat: user, system,
/// irq, softirq and steal; not nice, idle or iowait.
pub fn busy_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line.split_whitespace().skip(1).map(|v| v.parse().ok()).collect::<Option<Vec<u64>>>()?;
    // user nice system idle iowait irq softirq steal ...
    let get = |i: usize| f.get(i).copied().unwrap_or(0);
    if f.len() < 4 {
        return None;
    }
    Some(get(0) + get(2) + get(5) + get(6) + get(7))
}

/// utime + stime from /proc/self/stat (fields 14 and 15).
pub fn own_ticks(stat: &str) -> Option<u64> {
    // the command name may hold spaces; fields count from after its ")"
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

impl CpuTimes {
    pub fn now() -> Option<CpuTimes> {
        let busy = busy_ticks(&std::fs::read_to_string("/proc/stat").ok()?)?;
        let own = own_ticks(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
        Some(CpuTimes { at: Instant::now(), busy_ticks: busy, own_ticks: own })
    }
}

/// Cores other processes at normal priority kept busy between two samples.
pub fn other_busy_cores(from: &CpuTimes, to: &CpuTimes, ticks_per_second: f64) -> Option<f64> {
    let secs = to.at.checked_duration_since(from.at)?.as_secs_f64();
    if secs <= 0.0 || ticks_per_second <= 0.0 {
        return None;
    }
    let busy = to.busy_ticks.saturating_sub(from.busy_ticks) as f64;
    let own = to.own_ticks.saturating_sub(from.own_ticks) as f64;
    Some(((busy - own).max(0.0) / ticks_per_second / secs).max(0.0))
}

/// Threads for a decode on `physical` cores while other work keeps
/// `other_busy` cores busy: the cores left, rounded, at least one.
pub fn threads_for(other_busy: f64, physical: usize) -> usize {
    let physical = physical.max(1);
    let taken = other_busy.max(0.0).round() as usize;
    physical.saturating_sub(taken).clamp(1, physical)
}

/// Decodes running in this process, over every transcriber.
static DECODING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One decode in flight, counted while it lives.
pub struct Decoding {
    others: usize,
}

impl Decoding {
    pub fn start() -> Decoding {
        Decoding { others: DECODING.fetch_add(1, std::sync::atomic::Ordering::SeqCst) }
    }

    /// Decodes that were already running when this one started.
    pub fn others(&self) -> usize {
        self.others
    }
}

impl Drop for Decoding {
    fn drop(&mut self) {
        DECODING.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The shortest window worth judging: clock ticks are 10 ms.
const MIN_WINDOW: Duration = Duration::from_millis(150);
/// Samples older than this say little about now.
const MAX_AGE: Duration = Duration::from_secs(120);

/// The sample taken when the process started ([`mark_process_start`]):
/// every watch may judge by it, so a process that loads the model and
/// decodes at once (`capcom transcribe`) decides as the daemon does.
static PROCESS_START: std::sync::OnceLock<CpuTimes> = std::sync::OnceLock::new();

/// Take the process's first CPU sample; `main` calls this before anything
/// else. Later calls keep the first.
pub fn mark_process_start() {
    if PROCESS_START.get().is_some() {
        return;
    }
    if let Some(s) = CpuTimes::now() {
        let _ = PROCESS_START.set(s);
    }
}

/// The sample a decision is judged from, given the samples held (oldest
/// first) and the time now: the newest at least [`MIN_WINDOW`] old and not
/// stale; else, when only fresher ones are held, how long to wait until the
/// newest of them is old enough. `None` when no sample can serve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Basis {
    Judge(CpuTimes),
    WaitFor(Duration, CpuTimes),
}

pub fn basis(samples: &[CpuTimes], now: Instant) -> Option<Basis> {
    let age = |s: &CpuTimes| now.saturating_duration_since(s.at);
    if let Some(s) = samples.iter().rev().find(|s| age(s) >= MIN_WINDOW && age(s) <= MAX_AGE) {
        return Some(Basis::Judge(*s));
    }
    // only fresh samples: wait out the short window from the oldest of them
    let s = samples.iter().find(|s| age(s) < MIN_WINDOW)?;
    Some(Basis::WaitFor(MIN_WINDOW - age(s), *s))
}

/// What decided a decode's threads: the other busy cores over a window.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Decision {
    pub threads: usize,
    /// Cores other processes at normal priority kept busy over the window.
    pub other_busy: f64,
    /// How long the window was, in milliseconds.
    pub window_ms: u64,
}

/// The decision from a sample `from` to a sample `to`.
pub fn decide(from: &CpuTimes, to: &CpuTimes, ticks_per_second: f64, physical: usize) -> Option<Decision> {
    let busy = other_busy_cores(from, to, ticks_per_second)?;
    let window_ms = to.at.saturating_duration_since(from.at).as_millis() as u64;
    Some(Decision { threads: threads_for(busy, physical), other_busy: busy, window_ms })
}

/// Samples of [`CpuTimes`] taken at marks (a key press, the end of a decode),
/// and the thread count they give.
#[derive(Debug, Default)]
pub struct CpuWatch {
    samples: Mutex<VecDeque<CpuTimes>>,
}

impl CpuWatch {
    /// Take a sample now (the key was pressed, a decode ended).
    pub fn mark(&self) {
        if let Some(s) = CpuTimes::now() {
            let mut q = self.samples.lock().unwrap_or_else(|p| p.into_inner());
            q.push_back(s);
            while q.len() > 8 {
                q.pop_front();
            }
        }
    }

    /// The samples held, oldest first, with the process's first sample.
    fn held(&self) -> Vec<CpuTimes> {
        let q = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<CpuTimes> = PROCESS_START.get().copied().into_iter().collect();
        v.extend(q.iter().copied());
        v.sort_by_key(|s| s.at);
        v
    }

    /// Threads for a decode starting now on `physical` cores, and what
    /// decided them. When every sample held is fresher than [`MIN_WINDOW`]
    /// (the process has just started) this waits out the rest of that short
    /// window rather than guess; `None` (use the safe count) only when
    /// /proc cannot be read.
    pub fn threads(&self, physical: usize) -> Option<Decision> {
        let tps = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        let held = self.held();
        let now = CpuTimes::now()?;
        let from = match basis(&held, now.at) {
            Some(Basis::Judge(s)) => s,
            Some(Basis::WaitFor(d, s)) => {
                std::thread::sleep(d);
                return decide(&s, &CpuTimes::now()?, tps, physical);
            }
            None => {
                // nothing usable held (all stale): sample over the short window
                std::thread::sleep(MIN_WINDOW);
                return decide(&now, &CpuTimes::now()?, tps, physical);
            }
        };
        decide(&from, &now, tps, physical)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_take_the_cores_other_work_leaves() {
        // (other busy cores, physical cores, threads)
        for (busy, physical, want) in [
            (0.0, 2, 2),
            (0.3, 2, 2),   // a desktop's background noise
            (0.6, 2, 1),   // one busy process, most of the time
            (1.0, 2, 1),
            (2.0, 2, 1),   // both cores taken: one thread, never none
            (5.0, 2, 1),
            (0.0, 1, 1),
            (0.0, 8, 8),
            (2.4, 8, 6),
            (-1.0, 4, 4),  // a counter that went backwards counts as idle
            (0.0, 0, 1),
        ] {
            assert_eq!(threads_for(busy, physical), want, "{busy} busy on {physical}");
        }
    }

    #[test]
    fn proc_stat_busy_time_leaves_out_nice_idle_and_iowait() {
        //            user nice system idle  iowait irq softirq steal guest guest_nice
        let stat = "cpu  100 5000 50 90000 300 7 3 40 0 0\ncpu0 50 2500 25 45000 150 3 1 20 0 0\nintr 1 2 3\n";
        assert_eq!(busy_ticks(stat), Some(100 + 50 + 7 + 3 + 40));
        // old kernels: fewer columns
        assert_eq!(busy_ticks("cpu  10 1 2 3\n"), Some(12));
        assert_eq!(busy_ticks("cpu0 1 2 3 4\n"), None);
        assert_eq!(busy_ticks("cpu  x y z w\n"), None);
        assert_eq!(busy_ticks(""), None);
    }

    #[test]
    fn own_time_is_read_after_a_command_name_with_spaces() {
        let stat = "4242 (capcom (voice) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 731 69 0 0 20 0 9 0 100 0 0";
        assert_eq!(own_ticks(stat), Some(731 + 69));
        assert_eq!(own_ticks("garbage"), None);
    }

    #[test]
    fn busy_cores_leave_out_this_process() {
        let t0 = Instant::now();
        let a = CpuTimes { at: t0, busy_ticks: 1000, own_ticks: 100 };
        // over 2 s at 100 ticks/s: 300 busy ticks, 100 of them ours → 1 core
        let b = CpuTimes { at: t0 + Duration::from_secs(2), busy_ticks: 1300, own_ticks: 200 };
        assert!((other_busy_cores(&a, &b, 100.0).unwrap() - 1.0).abs() < 1e-9);
        assert_eq!(other_busy_cores(&b, &a, 100.0), None);
        assert_eq!(other_busy_cores(&a, &a, 100.0), None);
    }

    #[test]
    fn a_watch_judges_over_a_window_at_least_the_shortest() {
        // with no sample, or only a fresh one, it samples over a short window
        // instead of falling back to the safe count
        let w = CpuWatch::default();
        let d = w.threads(2).expect("no sample yet: it samples a short window");
        assert!(d.window_ms >= MIN_WINDOW.as_millis() as u64, "{d:?}");
        w.mark();
        let d = w.threads(2).expect("a fresh sample: it waits out the window");
        assert!(d.window_ms >= MIN_WINDOW.as_millis() as u64 && (1..=2).contains(&d.threads), "{d:?}");
        assert_eq!(d.threads, threads_for(d.other_busy, 2));
    }

    #[test]
    fn the_basis_is_the_newest_sample_old_enough_else_a_wait() {
        let now = Instant::now() + Duration::from_secs(1000);
        let at = |ms_ago: u64| CpuTimes { at: now - Duration::from_millis(ms_ago), busy_ticks: ms_ago, own_ticks: 0 };
        let ms = Duration::from_millis;
        // (samples' ages in ms, oldest first; the basis)
        let cases: Vec<(Vec<u64>, Option<Basis>)> = vec![
            (vec![], None),
            // a process that started 2 s ago and loaded its model 20 ms ago:
            // judged from the start, not the load
            (vec![2000, 20], Some(Basis::Judge(at(2000)))),
            // a key press 5 s ago, a decode that ended 10 ms ago
            (vec![60_000, 5000, 10], Some(Basis::Judge(at(5000)))),
            (vec![150], Some(Basis::Judge(at(150)))),
            // the process started 40 ms ago: wait the rest of the window
            (vec![40, 5], Some(Basis::WaitFor(ms(110), at(40)))),
            // stale samples only
            (vec![200_000], None),
            (vec![200_000, 30], Some(Basis::WaitFor(ms(120), at(30)))),
        ];
        for (ages, want) in cases {
            let samples: Vec<CpuTimes> = ages.iter().map(|&a| at(a)).collect();
            assert_eq!(basis(&samples, now), want, "{ages:?}");
        }
    }

    #[test]
    fn a_quiet_machine_gets_every_core_and_a_busy_one_fewer() {
        let t0 = Instant::now();
        let from = CpuTimes { at: t0, busy_ticks: 0, own_ticks: 0 };
        // (busy ticks over 1 s at 100/s, own ticks, physical, threads)
        for (busy, own, physical, want) in [
            (2, 0, 2, 2),      // quiet
            (150, 140, 2, 2),  // busy, but with our own model load
            (100, 0, 2, 1),    // one other process
            (200, 0, 2, 1),
            (100, 0, 4, 3),
        ] {
            let to = CpuTimes { at: t0 + Duration::from_secs(1), busy_ticks: busy, own_ticks: own };
            let d = decide(&from, &to, 100.0, physical).unwrap();
            assert_eq!((d.threads, d.window_ms), (want, 1000), "{busy} {own} {physical}");
        }
    }
}
