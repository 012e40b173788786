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
//! or the decode before), and takes every physical core those left free.
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

    /// Threads for a decode starting now on `physical` cores, and the busy
    /// cores that decided it; `None` (use the safe count) when no sample is
    /// recent and old enough to judge by.
    pub fn threads(&self, physical: usize) -> Option<(usize, f64)> {
        let now = CpuTimes::now()?;
        let q = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        // the newest sample at least MIN_WINDOW old, and not stale
        let from = q.iter().rev().find(|s| {
            let age = now.at.saturating_duration_since(s.at);
            age >= MIN_WINDOW && age <= MAX_AGE
        })?;
        let tps = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        let busy = other_busy_cores(from, &now, tps)?;
        Some((threads_for(busy, physical), busy))
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
    fn a_watch_judges_only_by_a_sample_old_enough() {
        let w = CpuWatch::default();
        assert_eq!(w.threads(2), None, "no sample yet");
        w.mark();
        assert_eq!(w.threads(2), None, "a sample too fresh to judge by");
        std::thread::sleep(MIN_WINDOW + Duration::from_millis(50));
        let (n, busy) = w.threads(2).expect("a sample old enough");
        assert!((1..=2).contains(&n) && busy >= 0.0, "{n} {busy}");
    }
}
