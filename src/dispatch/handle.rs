//! The daemon's handle on dispatch: start and reconcile, queue, cancel, retry, follow up.

use super::*;

/// The event that records when a task's grace window closes (`[dispatch] grace`): its data
/// holds `until` (RFC 3339). It is written each time the window starts or starts again, so the
/// last one counts, and it outlives a restart of the daemon.
pub const GRACE_EVENT: &str = "grace";

/// When the task's grace window closes, if one was ever opened (the last one recorded).
pub fn grace_until(store: &Store, id: i64) -> Option<DateTime<Utc>> {
    let events = store.events(id).ok()?;
    let last = events.iter().rev().find(|e| e.kind == GRACE_EVENT)?;
    last.data.as_ref()?.get("until")?.as_str().and_then(parse_time)
}

/// When a queued task's grace window closes, while it is open: it may not start before then.
/// "Run task 7 anyway" releases it (an `anyway` event), as it does a lease.
pub fn window_open(store: &Store, task: &Task, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if task.state != TaskState::Queued {
        return None;
    }
    grace_until(store, task.id).filter(|until| *until > now && !lease::released(store, task.id))
}

/// The daemon's handle on dispatch: queue work, cancel, retry, follow up.
#[derive(Clone)]
pub struct DispatchHandle {
    pub(super) ctx: Ctx,
    pub(super) scheduler: SchedulerHandle,
    /// Wakes the PR follower.
    pub(super) nudge: Arc<Notify>,
    /// One merge-train update at a time (they rebase worktrees and run checks).
    pub(super) train: Arc<tokio::sync::Mutex<()>>,
}

impl DispatchHandle {
    /// Start the scheduler and reconcile what a previous daemon left behind.
    pub async fn start(ctx: Ctx, stop: watch::Receiver<bool>) -> DispatchHandle {
        let nudge = Arc::new(Notify::new());
        let runner = Arc::new(Dispatcher::new(ctx.clone(), nudge.clone()));
        let follower_nudge = nudge.clone();
        if let Some(gh) = ctx.github.clone() {
            let follower = pr::Follower::new(ctx.store.clone(), ctx.config.clone(), gh);
            tokio::spawn(follower.run(nudge, stop.clone()));
        }
        let scheduler = scheduler::spawn(runner, ctx.config.get().dispatch.max_parallel, stop.clone());
        let me = DispatchHandle { ctx, scheduler, nudge: follower_nudge, train: Arc::default() };
        me.reconcile().await;
        tokio::spawn(me.clone().start_waiting(stop.clone()));
        tokio::spawn(me.clone().clean_up_regularly(stop));
        me
    }

    /// What [`gc::plan`] finds now; `only` keeps one task's.
    pub fn gc_plan(&self, only: Option<i64>) -> Vec<gc::Sweep> {
        let items = gc::plan(self.ctx.git.as_ref(), &self.ctx.store, &self.ctx.config.get(), &self.ctx.data, Utc::now());
        items.into_iter().filter(|i| only.is_none() || i.task == only).collect()
    }

    /// Remove what the plan lists (off the async threads: git and the file system are slow).
    pub async fn gc(&self, items: Vec<gc::Sweep>) -> Vec<String> {
        let (git, store, config) = (self.ctx.git.clone(), self.ctx.store.clone(), self.ctx.config.get());
        tokio::task::spawn_blocking(move || gc::sweep(git.as_ref(), &store, &config, &items)).await.unwrap_or_default()
    }

    /// Every ten minutes, the worktrees of merged, cancelled and long-failed tasks go.
    pub(super) async fn clean_up_regularly(self, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            let items: Vec<gc::Sweep> = self.gc_plan(None).into_iter().filter(|i| i.task.is_some()).collect();
            for line in self.gc(items).await {
                tracing::info!("{line}");
            }
        }
    }

    /// Queued tasks that wait for an overlapping task start once nothing holds their scope.
    pub(super) async fn start_waiting(self, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            let store = self.ctx.store.clone();
            let Ok(queued) = store.tasks_in(&[TaskState::Queued]) else { continue };
            if queued.is_empty() {
                continue;
            }
            let snap = self.scheduler.snapshot().await;
            let holding = store.tasks_in(lease::HOLDING).unwrap_or_default();
            for t in queued {
                // A task in its grace window starts when the window closes, not before, even
                // if what it waited for closed meanwhile (the dialogue starts it then).
                if window_open(&store, &t, Utc::now()).is_some() {
                    continue;
                }
                if snap.running.contains(&t.id) || snap.queued.contains(&t.id) || snap.scheduled.iter().any(|(i, _)| *i == t.id) {
                    continue;
                }
                if !lease::is_waiting(&t) {
                    continue;
                }
                if lease::released(&store, t.id) || lease::blockers(&self.ctx.config.get(), &t, &holding, &[]).is_empty() {
                    self.scheduler.enqueue(Job { task: t.id, kind: JobKind::Start }, None).await;
                }
            }
        }
    }

    /// "Run task 7 anyway": a task that waits for an overlapping one (or was held for it) starts now.
    pub async fn start_anyway(&self, id: i64) -> Result<String, String> {
        let task = self.ctx.store.task(id).map_err(|e| e.to_string())?;
        if !matches!(task.state, TaskState::Queued | TaskState::Held) {
            return Err(format!("Task {id} is {}, not waiting to start", task.state));
        }
        let _ = self.ctx.store.add_event(Some(id), "anyway", "start it now, whatever it overlaps", None);
        if task.state == TaskState::Held {
            self.ctx.store.transition(id, Some(&[TaskState::Held]), TaskState::Queued, Some("started anyway")).map_err(|e| e.to_string())?;
        }
        self.scheduler.enqueue(Job { task: id, kind: JobKind::Start }, None).await;
        Ok(format!("Starting task {id}, '{}', now.", task.title))
    }

    /// Take a changed config: every job from now on reads it; agents whose settings changed are
    /// built again (a running agent keeps the backend it started with).
    pub fn reconfigure(&self, config: Arc<Config>) {
        let old = self.ctx.config.get();
        self.ctx.agents.reload(&old, &config);
        self.ctx.config.set(config);
    }

    pub fn ctx(&self) -> &Ctx {
        &self.ctx
    }

    pub fn scheduler(&self) -> &SchedulerHandle {
        &self.scheduler
    }

    /// Queue a task that is `queued` or `scheduled`. A queued task whose grace window is
    /// still open waits until it closes.
    pub async fn submit(&self, task: &Task) {
        let at = task.scheduled_at.as_deref().and_then(parse_time);
        let at = if task.state == TaskState::Scheduled { at } else { window_open(&self.ctx.store, task, Utc::now()) };
        self.scheduler.enqueue(Job { task: task.id, kind: JobKind::Start }, at).await;
    }

    /// Every task left `running` or `checking` ends in a true state: a live agent
    /// is watched again, a finished one is reviewed, a vanished one fails as
    /// "interrupted" (or is retried once). Queued and scheduled tasks are queued again; a
    /// queued task whose grace window was open when the daemon stopped waits out the rest.
    pub async fn reconcile(&self) {
        let tasks = match self.ctx.store.tasks_in(&[TaskState::Queued, TaskState::Scheduled, TaskState::Running, TaskState::Checking]) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot read tasks to reconcile");
                return;
            }
        };
        for t in tasks {
            let kind = match t.state {
                TaskState::Running => JobKind::Attach,
                TaskState::Checking => JobKind::Review,
                _ => JobKind::Start,
            };
            let at = match t.state {
                TaskState::Scheduled => t.scheduled_at.as_deref().and_then(parse_time),
                TaskState::Queued => window_open(&self.ctx.store, &t, Utc::now()),
                _ => None,
            };
            if matches!(kind, JobKind::Attach | JobKind::Review) {
                tracing::info!(task = t.id, state = %t.state, "reconciling after a restart");
            }
            self.scheduler.enqueue(Job { task: t.id, kind }, at).await;
        }
    }

    /// Cancel a task. A running agent is stopped (its whole process tree) before this
    /// returns; then its worktree goes (what the agent left uncommitted is committed to
    /// the task's branch first, and the branch stays).
    pub async fn cancel(&self, id: i64) -> Result<String, String> {
        let said = self.cancel_only(id).await?;
        let items = self.gc_plan(Some(id));
        self.gc(items).await;
        Ok(said)
    }

    pub(super) async fn cancel_only(&self, id: i64) -> Result<String, String> {
        let task = self.ctx.store.task(id).map_err(|e| e.to_string())?;
        if task.state.is_closed() {
            return Err(format!("Task {id} is already {}", task.state));
        }
        match self.scheduler.cancel(id).await {
            CancelOutcome::Signalled => {
                // The job stops its agent (whole process group), then records `cancelled`.
                // A remote run waiting on the user is busy too.
                let mut busy = vec![TaskState::Queued, TaskState::Scheduled, TaskState::Running, TaskState::Checking];
                if self.live_run(&task).is_some() {
                    busy.push(TaskState::NeedsAttention);
                }
                for _ in 0..400 {
                    match self.ctx.store.task(id) {
                        Ok(t) if !busy.contains(&t.state) => {
                            if t.state == TaskState::Cancelled {
                                return Ok(format!("Cancelled task {id}, '{}'; its agent was stopped.", t.title));
                            }
                            // It finished (e.g. was reviewed) just before the cancel landed.
                            let all: Vec<TaskState> = TaskState::ALL.into_iter().filter(|s| !s.is_closed()).collect();
                            self.ctx
                                .store
                                .transition(id, Some(&all), TaskState::Cancelled, Some("cancelled by the user"))
                                .map_err(|e| e.to_string())?;
                            return Ok(format!("Cancelled task {id}, '{}'.", t.title));
                        }
                        _ => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
                Err(format!("Task {id}'s agent is being stopped; check `capcom task {id}`"))
            }
            CancelOutcome::Dequeued | CancelOutcome::NotHere => {
                // Not running under this daemon: stop a stray agent of an open run, if any.
                if let Ok(runs) = self.ctx.store.runs(id) {
                    for r in runs.into_iter().filter(|r| r.ended_at.is_none()) {
                        if let Some(pid) = r.pid.and_then(|p| u32::try_from(p).ok()) {
                            local::kill_group(pid, r.pid_start.and_then(|s| u64::try_from(s).ok())).await;
                        }
                        let _ = self.ctx.store.finish_run(r.id, None, Some("cancelled"));
                    }
                }
                let all: Vec<TaskState> = TaskState::ALL.into_iter().filter(|s| !s.is_closed()).collect();
                self.ctx.store.transition(id, Some(&all), TaskState::Cancelled, Some("cancelled by the user")).map_err(|e| e.to_string())?;
                Ok(format!("Cancelled task {id}, '{}'.", task.title))
            }
        }
    }

    /// Run a task again on a fresh worktree (failed, needs attention, held or cancelled).
    pub async fn retry(&self, id: i64) -> Result<String, String> {
        let task = self.ctx.store.task(id).map_err(|e| e.to_string())?;
        if let Some(run) = self.live_run(&task) {
            return Err(format!("Task {id}'s agent, {}, is waiting for your answer; answer it, or cancel the task first", run.agent));
        }
        let from = [TaskState::Failed, TaskState::NeedsAttention, TaskState::Held, TaskState::Cancelled, TaskState::Ready];
        self.ctx.store.transition(id, Some(&from), TaskState::Queued, Some("retry")).map_err(|e| e.to_string())?;
        let kind = if task.state == TaskState::Held { JobKind::Start } else { JobKind::Retry };
        self.scheduler.enqueue(Job { task: id, kind }, None).await;
        Ok(format!("Retrying task {id}, '{}'.", task.title))
    }

    /// The run of a task that is still going (a remote agent waiting on the user).
    pub(super) fn live_run(&self, task: &Task) -> Option<Run> {
        if task.state != TaskState::NeedsAttention {
            return None;
        }
        self.ctx.store.runs(task.id).ok()?.into_iter().rev().find(|r| r.ended_at.is_none())
    }

    /// Re-invoke the agent in the task's worktree with an instruction; or, when its
    /// run is waiting on the user, answer it (approve the plan, or send the text).
    pub async fn follow_up(&self, id: i64, instruction: &str) -> Result<String, String> {
        let task = self.ctx.store.task(id).map_err(|e| e.to_string())?;
        if instruction.trim().is_empty() {
            return Err("A follow-up needs an instruction".into());
        }
        if let Some(run) = self.live_run(&task) {
            let backend = self.ctx.agents.get(&run.agent)?;
            let rref = RunRef {
                task_id: id,
                remote_id: run.remote_id.clone(),
                session_id: run.session_id.clone(),
                ..RunRef::default()
            };
            backend.answer(&rref, instruction).await.map_err(|e| e.to_string())?;
            let _ = self.ctx.store.add_event(Some(id), "answer", instruction, None);
            return Ok(format!("Sent your answer to {} for task {id}, '{}'.", run.agent, task.title));
        }
        if !task.worktree.as_deref().is_some_and(|w| Path::new(w).exists()) {
            return Err(format!("Task {id} has no worktree to follow up in; retry it instead"));
        }
        let from = [TaskState::Ready, TaskState::NeedsAttention, TaskState::Failed];
        self.ctx.store.transition(id, Some(&from), TaskState::Queued, Some("follow-up")).map_err(|e| e.to_string())?;
        self.event_follow_up(id, instruction);
        self.scheduler.enqueue(Job { task: id, kind: JobKind::FollowUp(instruction.to_string()) }, None).await;
        Ok(format!("Following up on task {id}, '{}'.", task.title))
    }

    pub(super) fn event_follow_up(&self, id: i64, instruction: &str) {
        let _ = self.ctx.store.add_event(Some(id), "follow_up", instruction, None);
    }
}

#[cfg(test)]
mod window_tests {
    use super::*;

    /// A queued task may not start while its last recorded window is open; a released one
    /// ("run it anyway"), one no longer queued, or one whose window closed may.
    #[test]
    fn a_task_waits_for_its_recorded_window() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("capcom.db")).unwrap();
        let spec = TaskSpec { title: "t".into(), ..TaskSpec::default() };
        let now = Utc::now();
        let at = |secs: i64| serde_json::json!({"until": crate::store::time_str(now + chrono::Duration::seconds(secs))});
        let t = store.create_task(&spec, TaskState::Queued, None, None, "test").unwrap();
        assert_eq!(window_open(&store, &t, now), None, "no window recorded");
        store.add_event(Some(t.id), GRACE_EVENT, "w", Some(&at(8))).unwrap();
        assert!(window_open(&store, &t, now).is_some(), "open");
        assert!(window_open(&store, &t, now + chrono::Duration::seconds(9)).is_none(), "closed");
        // A correction restarts it: the last one counts.
        store.add_event(Some(t.id), GRACE_EVENT, "w", Some(&at(20))).unwrap();
        assert!(window_open(&store, &t, now + chrono::Duration::seconds(9)).is_some(), "restarted");
        let held = store.transition(t.id, Some(&[TaskState::Queued]), TaskState::Held, Some("q")).unwrap();
        assert_eq!(window_open(&store, &held, now), None, "only a queued task waits");
        let u = store.create_task(&spec, TaskState::Queued, None, None, "test").unwrap();
        store.add_event(Some(u.id), GRACE_EVENT, "w", Some(&at(8))).unwrap();
        store.add_event(Some(u.id), "anyway", "start it now", None).unwrap();
        assert_eq!(window_open(&store, &u, now), None, "released");
    }
}
