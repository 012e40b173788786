//! The queue: at most `max_parallel` jobs at once, scheduled jobs start at their
//! time (tokio time, so tests run it on a paused clock), cancel reaches queued and
//! running jobs alike. What a job does is the [`Runner`]'s business.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq)]
pub enum JobKind {
    /// First run: fresh worktree, the rendered prompt.
    Start,
    /// Run again on a fresh worktree.
    Retry,
    /// Re-invoke the agent in the same worktree with an instruction.
    FollowUp(String),
    /// Re-attach to a run that was going when the daemon stopped.
    Attach,
    /// Review again (the daemon stopped while checking).
    Review,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub task: i64,
    pub kind: JobKind,
}

/// Resolves when the job should stop.
#[derive(Clone)]
pub struct CancelToken(watch::Receiver<bool>);

impl CancelToken {
    pub async fn cancelled(&mut self) {
        let _ = self.0.wait_for(|c| *c).await;
        // A dropped sender (the scheduler stopped) is not a cancel: wait forever.
        if !*self.0.borrow() {
            std::future::pending::<()>().await;
        }
    }
    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }
}

#[async_trait]
pub trait Runner: Send + Sync + 'static {
    /// Do the job; return when it is over (agent ended and work reviewed).
    async fn run(&self, job: Job, cancel: CancelToken);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// It was waiting (queued or scheduled) and is gone from the queue.
    Dequeued,
    /// It is running; its job was told to stop.
    Signalled,
    /// The scheduler does not know it.
    NotHere,
}

/// What the scheduler holds right now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub running: Vec<i64>,
    pub queued: Vec<i64>,
    pub scheduled: Vec<(i64, DateTime<Utc>)>,
}

enum Cmd {
    Enqueue { job: Job, at: Option<DateTime<Utc>> },
    Cancel { task: i64, reply: oneshot::Sender<CancelOutcome> },
    Snapshot(oneshot::Sender<Snapshot>),
}

#[derive(Clone)]
pub struct SchedulerHandle {
    tx: mpsc::Sender<Cmd>,
}

impl SchedulerHandle {
    /// Queue a job; with `at` in the future it waits until then. A task already
    /// queued or running is not queued twice.
    pub async fn enqueue(&self, job: Job, at: Option<DateTime<Utc>>) -> bool {
        self.tx.send(Cmd::Enqueue { job, at }).await.is_ok()
    }

    pub async fn cancel(&self, task: i64) -> CancelOutcome {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Cmd::Cancel { task, reply: tx }).await.is_err() {
            return CancelOutcome::NotHere;
        }
        rx.await.unwrap_or(CancelOutcome::NotHere)
    }

    pub async fn snapshot(&self) -> Snapshot {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Cmd::Snapshot(tx)).await.is_err() {
            return Snapshot::default();
        }
        rx.await.unwrap_or_default()
    }
}

/// Start the scheduler on its own task. It stops when `stop` turns true; running
/// jobs are then abandoned (their agents keep running and are re-attached on the
/// next start).
pub fn spawn<R: Runner>(runner: Arc<R>, max_parallel: usize, mut stop: watch::Receiver<bool>) -> SchedulerHandle {
    let (tx, mut rx) = mpsc::channel::<Cmd>(1024);
    let max = max_parallel.max(1);
    tokio::spawn(async move {
        let mut queue: VecDeque<Job> = VecDeque::new();
        let mut timers: BTreeMap<(Instant, u64), (Job, DateTime<Utc>)> = BTreeMap::new();
        let mut seq = 0u64;
        let mut running: HashMap<i64, watch::Sender<bool>> = HashMap::new();
        let mut jobs: JoinSet<i64> = JoinSet::new();
        loop {
            while running.len() < max {
                let Some(job) = queue.pop_front() else { break };
                let (ctx, crx) = watch::channel(false);
                running.insert(job.task, ctx);
                let r = runner.clone();
                let id = job.task;
                jobs.spawn(async move {
                    r.run(job, CancelToken(crx)).await;
                    id
                });
            }
            let next = timers.keys().next().map(|(at, _)| *at);
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    None => break,
                    Some(Cmd::Enqueue { job, at }) => {
                        let id = job.task;
                        let known = running.contains_key(&id)
                            || queue.iter().any(|j| j.task == id)
                            || timers.values().any(|(j, _)| j.task == id);
                        if known {
                            continue;
                        }
                        let wait = at.and_then(|t| (t - Utc::now()).to_std().ok()).filter(|d| !d.is_zero());
                        match (wait, at) {
                            (Some(d), Some(t)) => {
                                seq += 1;
                                timers.insert((Instant::now() + d, seq), (job, t));
                            }
                            _ => queue.push_back(job),
                        }
                    }
                    Some(Cmd::Cancel { task, reply }) => {
                        let outcome = if let Some(tx) = running.get(&task) {
                            let _ = tx.send(true);
                            CancelOutcome::Signalled
                        } else if let Some(pos) = queue.iter().position(|j| j.task == task) {
                            queue.remove(pos);
                            CancelOutcome::Dequeued
                        } else if let Some(key) = timers.iter().find(|(_, (j, _))| j.task == task).map(|(k, _)| *k) {
                            timers.remove(&key);
                            CancelOutcome::Dequeued
                        } else {
                            CancelOutcome::NotHere
                        };
                        let _ = reply.send(outcome);
                    }
                    Some(Cmd::Snapshot(reply)) => {
                        let mut r: Vec<i64> = running.keys().copied().collect();
                        r.sort();
                        let _ = reply.send(Snapshot {
                            running: r,
                            queued: queue.iter().map(|j| j.task).collect(),
                            scheduled: timers.values().map(|(j, t)| (j.task, *t)).collect(),
                        });
                    }
                },
                Some(done) = jobs.join_next(), if !jobs.is_empty() => {
                    match done {
                        Ok(id) => { running.remove(&id); }
                        Err(e) => {
                            // A job that panicked: forget every finished entry.
                            tracing::error!(error = %e, "a dispatch job ended abnormally");
                            running.retain(|_, tx| !tx.is_closed());
                        }
                    }
                }
                _ = tokio::time::sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                    let now = Instant::now();
                    let due: Vec<(Instant, u64)> = timers.range(..=(now, u64::MAX)).map(|(k, _)| *k).collect();
                    for k in due {
                        if let Some((job, _)) = timers.remove(&k) {
                            queue.push_back(job);
                        }
                    }
                }
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        jobs.abort_all();
    });
    SchedulerHandle { tx }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// A runner that records starts and holds each job until released or cancelled.
    struct Recorder {
        now: AtomicUsize,
        peak: AtomicUsize,
        started: mpsc::UnboundedSender<(i64, Instant)>,
        release: tokio::sync::Semaphore,
        cancelled: Mutex<Vec<i64>>,
    }

    #[async_trait]
    impl Runner for Recorder {
        async fn run(&self, job: Job, mut cancel: CancelToken) {
            let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(n, Ordering::SeqCst);
            let _ = self.started.send((job.task, Instant::now()));
            tokio::select! {
                p = self.release.acquire() => { if let Ok(p) = p { p.forget(); } }
                _ = cancel.cancelled() => { self.cancelled.lock().unwrap().push(job.task); }
            }
            self.now.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn recorder() -> (Arc<Recorder>, mpsc::UnboundedReceiver<(i64, Instant)>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let r = Recorder {
            now: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            started: tx,
            release: tokio::sync::Semaphore::new(0),
            cancelled: Mutex::new(Vec::new()),
        };
        (Arc::new(r), rx)
    }

    fn start(task: i64) -> Job {
        Job { task, kind: JobKind::Start }
    }

    #[tokio::test]
    async fn eight_jobs_never_run_more_than_three_at_once() {
        let (r, mut started) = recorder();
        let (_stop_tx, stop) = watch::channel(false);
        let s = spawn(r.clone(), 3, stop);
        for id in 1..=8 {
            s.enqueue(start(id), None).await;
        }
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(started.recv().await.unwrap().0);
        }
        assert_eq!(s.snapshot().await.running.len(), 3);
        assert_eq!(s.snapshot().await.queued.len(), 5);
        // Release them one at a time; the queue drains in order.
        for _ in 0..5 {
            r.release.add_permits(1);
            seen.push(started.recv().await.unwrap().0);
        }
        r.release.add_permits(3);
        assert_eq!(seen, (1..=8).collect::<Vec<_>>());
        assert_eq!(r.peak.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_task_is_not_queued_twice() {
        let (r, mut started) = recorder();
        let (_stop_tx, stop) = watch::channel(false);
        let s = spawn(r.clone(), 1, stop);
        s.enqueue(start(1), None).await;
        s.enqueue(start(1), None).await;
        s.enqueue(start(2), None).await;
        s.enqueue(start(2), None).await;
        assert_eq!(started.recv().await.unwrap().0, 1);
        assert_eq!(s.snapshot().await.queued, vec![2]);
        r.release.add_permits(10);
    }

    #[tokio::test(start_paused = true)]
    async fn a_scheduled_job_starts_at_its_time() {
        let (r, mut started) = recorder();
        let (_stop_tx, stop) = watch::channel(false);
        let s = spawn(r.clone(), 3, stop);
        let t0 = Instant::now();
        s.enqueue(start(7), Some(Utc::now() + chrono::Duration::hours(1))).await;
        s.enqueue(start(8), Some(Utc::now() - chrono::Duration::hours(1))).await;
        // A time in the past starts at once.
        assert_eq!(started.recv().await.unwrap().0, 8);
        tokio::time::sleep(Duration::from_secs(59 * 60)).await;
        assert!(started.try_recv().is_err(), "not before its time");
        assert_eq!(s.snapshot().await.scheduled.len(), 1);
        let (id, at) = started.recv().await.unwrap();
        assert_eq!(id, 7);
        let waited = at - t0;
        assert!(waited >= Duration::from_secs(3599) && waited <= Duration::from_secs(3601), "{waited:?}");
        r.release.add_permits(10);
    }

    #[tokio::test]
    async fn cancel_reaches_queued_scheduled_and_running_jobs() {
        let (r, mut started) = recorder();
        let (_stop_tx, stop) = watch::channel(false);
        let s = spawn(r.clone(), 1, stop);
        s.enqueue(start(1), None).await;
        s.enqueue(start(2), None).await;
        s.enqueue(start(3), Some(Utc::now() + chrono::Duration::hours(5))).await;
        assert_eq!(started.recv().await.unwrap().0, 1);
        assert_eq!(s.cancel(2).await, CancelOutcome::Dequeued);
        assert_eq!(s.cancel(3).await, CancelOutcome::Dequeued);
        assert_eq!(s.cancel(9).await, CancelOutcome::NotHere);
        assert_eq!(s.cancel(1).await, CancelOutcome::Signalled);
        // The running job saw its cancel and ended; nothing else starts.
        loop {
            if r.cancelled.lock().unwrap().contains(&1) {
                break;
            }
            tokio::task::yield_now().await;
        }
        let snap = loop {
            let snap = s.snapshot().await;
            if snap.running.is_empty() {
                break snap;
            }
            tokio::task::yield_now().await;
        };
        assert!(snap.queued.is_empty() && snap.scheduled.is_empty());
        assert!(started.try_recv().is_err());
    }
}
