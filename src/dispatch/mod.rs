//! Dispatch: agent backends, worktrees, prompts, the queue, and the run of one
//! task from "queued" to "reviewed".
//!
//! - [`backend`]: the `AgentBackend` trait every agent sits behind; [`contract`]:
//!   the test suite every backend must pass.
//! - [`local`] + [`presets`]: CLI agents (Claude Code, Codex, Gemini CLI, Aider,
//!   Cursor CLI, or any argv) in a process group of their own.
//! - [`worktree`]: git behind a trait; a branch and worktree per task.
//! - [`prompt`]: the prompt rendered from the task spec.
//! - [`scheduler`]: `max_parallel`, scheduled starts, cancel.
//! - `routing.rs`: routing and planning a brief's tasks; `handle.rs`: the daemon's
//!   [`DispatchHandle`]; `progress.rs`: sampling progress lines into events.
//! - this module: the [`Dispatcher`] (the scheduler's runner: worktree → agent →
//!   events → auto-commit → review) and restart reconciliation.

pub mod backend;
pub mod codex_cloud;
pub mod contract;
pub mod copilot;
pub mod cursor;
pub mod gc;
mod handle;
pub mod jules;
pub mod lease;
pub mod local;
pub mod presets;
mod progress;
pub mod prompt;
pub mod recover;
pub mod remote;
pub mod routing;
pub mod scheduler;
#[cfg(test)]
mod tests;
pub mod train;

pub use self::{handle::*, progress::*, routing::*};
/// Git lives below dispatch and review, which both use it; the old path stays.
pub use crate::git as worktree;

use crate::process::crash_point;
use crate::config::{Config, DataDir, Repo};
use crate::github::GitHub;
use crate::review::{Review, pr};
use crate::store::{Run, Store, StoreError, Task, TaskState, TaskUpdate};
use crate::understand::TaskSpec;
use async_trait::async_trait;
use backend::{AgentBackend, AgentEvent, RunRef, StartRequest};
use chrono::{DateTime, Utc};
use scheduler::{CancelOutcome, CancelToken, Job, JobKind, Runner, SchedulerHandle};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};
use worktree::Git;

/// What the dispatcher needs.
#[derive(Clone)]
pub struct Ctx {
    /// The config now (`Live::get`); the daemon swaps it when the user's file changes.
    pub config: crate::config::Live,
    pub data: DataDir,
    pub store: Store,
    pub git: Arc<dyn Git>,
    pub agents: Agents,
    /// The GitHub client for repos reviewed on GitHub and for agents' PRs.
    pub github: Option<Arc<GitHub>>,
}

/// The scheduler's runner: one task's run from worktree to verdict.
pub struct Dispatcher {
    ctx: Ctx,
    /// Wakes the PR follower when a task is handed to GitHub.
    nudge: Arc<Notify>,
    /// Scopes of tasks being started right now ([`lease`]).
    claims: lease::Claims,
}

/// How an agent run ended, from the dispatcher's side.
enum Ending {
    Finished { summary: Option<String> },
    Failed { reason: String, log_tail: String },
    TimedOut { log_tail: String },
    Cancelled,
}

/// Whether a job goes on with a retry (an interrupted run, `retry_interrupted`), or starts
/// again (an agent that never started before a crash).
enum Again {
    No,
    Retry,
    Restart,
}


#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error("{0}")]
    Msg(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<String> for RunError {
    fn from(s: String) -> Self {
        RunError::Msg(s)
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, RunError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| RunError::Msg(e.to_string()))
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

impl Dispatcher {
    pub fn new(ctx: Ctx, nudge: Arc<Notify>) -> Dispatcher {
        Dispatcher { ctx, nudge, claims: lease::Claims::default() }
    }

    /// Whether the task's agent runs here (its work is in the worktree) rather than
    /// at a vendor (its work is in the PR it opened).
    fn local_agent(&self, task: &Task) -> bool {
        let config = self.ctx.config.get();
        let name = task.agent.as_deref().or(task.spec.agent.as_deref()).unwrap_or(&config.dispatch.default_agent);
        config.agents.get(name).is_none_or(|a| a.kind == "local")
    }

    /// Hand a task in `checking` to the PR follower.
    fn follow_on_github(&self, id: i64, number: u64) {
        self.event(id, pr::FOLLOW_EVENT, &format!("following pull request {number} on GitHub"), Some(serde_json::json!({"number": number})));
        let reason = format!("pull request {number}: waiting for GitHub checks");
        self.to(id, &[TaskState::Checking], TaskState::Checking, Some(&reason));
        self.nudge.notify_one();
    }

    /// After a green local review in a repo reviewed on GitHub: push, open the PR, follow it.
    async fn publish(&self, task: &Task, repo: &Repo, outcome: &crate::review::Outcome) -> Result<u64, String> {
        let (Some(gh), Some(slug)) = (self.ctx.github.as_ref(), repo.github_slug()) else {
            return Err("the repo is reviewed on GitHub but no GitHub client could be made; check [github] api_url".into());
        };
        let events = self.store().events(task.id).map_err(|e| e.to_string())?;
        let from = events.iter().rposition(|e| e.kind == "review").unwrap_or(0);
        let checks: Vec<String> = events[from..].iter().filter(|e| e.kind == "check").map(|e| e.message.clone()).collect();
        let body = pr::body(task, outcome, &checks);
        let opened = pr::publish(self.ctx.git.clone(), gh, repo, &slug, task, body).await?;
        if task.pr != Some(opened.number) {
            let _ = self.store().update_task(task.id, &TaskUpdate { pr: Some(opened.number), ..TaskUpdate::default() });
            self.event(
                task.id,
                "pr",
                &format!("opened PR #{}: {}", opened.number, opened.html_url),
                Some(serde_json::json!({"number": opened.number, "url": opened.html_url})),
            );
        } else {
            self.event(task.id, "pushed", &format!("pushed the new commits to PR #{}", opened.number), None);
        }
        Ok(opened.number)
    }

    fn store(&self) -> &Store {
        &self.ctx.store
    }

    fn timeout(&self) -> Duration {
        self.ctx.config.get().dispatch.timeout.get()
    }

    fn event(&self, id: i64, kind: &str, msg: &str, data: Option<serde_json::Value>) {
        if let Err(e) = self.store().add_event(Some(id), kind, msg, data.as_ref()) {
            tracing::warn!(task = id, error = %e, "cannot record an event");
        }
    }

    /// Move a task unless it already left `from` (e.g. it was cancelled meanwhile).
    fn to(&self, id: i64, from: &[TaskState], to: TaskState, reason: Option<&str>) -> bool {
        match self.store().transition(id, Some(from), to, reason) {
            Ok(_) => true,
            Err(StoreError::WrongState { .. }) => false,
            Err(e) => {
                tracing::error!(task = id, error = %e, "cannot record a state change");
                false
            }
        }
    }

    async fn run_job(&self, job: Job, cancel: CancelToken) -> Result<(), RunError> {
        let id = job.task;
        let mut kind = job.kind;
        loop {
            let again = match &kind {
                JobKind::Start | JobKind::Retry | JobKind::FollowUp(_) => self.launch(id, &kind, cancel.clone()).await?,
                JobKind::Attach => self.attach(id, cancel.clone()).await?,
                JobKind::Review => {
                    let task = self.store().task(id)?;
                    self.review(&task).await?;
                    Again::No
                }
            };
            match again {
                Again::No => return Ok(()),
                Again::Retry => kind = JobKind::Retry,
                Again::Restart => kind = JobKind::Start,
            }
        }
    }

    fn repo_for(&self, task: &Task) -> Result<Repo, RunError> {
        resolve_repo(&self.ctx.config.get(), task.repo.as_deref().or(task.spec.repo.as_deref()))
            .cloned()
            .map_err(RunError::Msg)
    }

    async fn launch(&self, id: i64, kind: &JobKind, cancel: CancelToken) -> Result<Again, RunError> {
        let task = self.store().task(id)?;
        if task.state != TaskState::Queued && task.state != TaskState::Scheduled {
            return Ok(Again::No); // cancelled or moved on while it waited
        }
        let repo = self.repo_for(&task)?;
        let agent_name = task.agent.clone().unwrap_or_else(|| route(&task.spec, &self.ctx.config.get()).agent);
        let backend = self.ctx.agents.get(&agent_name)?;
        let follow_up = match kind {
            JobKind::FollowUp(text) => Some(text.clone()),
            _ => None,
        };
        // Scope leases: a new start waits for (or asks about) a task that holds an overlapping scope.
        let mode = lease::Overlap::parse(&self.ctx.config.get().dispatch.overlap);
        let _claim = if follow_up.is_some() || mode == lease::Overlap::Allow || lease::released(&self.store(), id) {
            self.claims.claim(&self.ctx.config.get(), &task)
        } else {
            match self.claims.try_claim(&self.ctx.config.get(), &self.store(), &task) {
                Ok(guard) => guard,
                Err(blockers) => {
                    let reason = lease::waiting_reason(id, &blockers);
                    let data = serde_json::json!({"blockers": blockers.iter().map(|b| b.task).collect::<Vec<_>>(), "at": blockers[0].at});
                    if mode == lease::Overlap::Ask {
                        self.event(id, "overlap", &reason, Some(data));
                        self.to(id, &[TaskState::Queued], TaskState::Held, Some(&reason));
                    } else {
                        self.event(id, "waiting", &reason, Some(data));
                        self.to(id, &[TaskState::Queued], TaskState::Queued, Some(&reason));
                    }
                    return Ok(Again::No);
                }
            }
        };

        // The worktree: fresh for a start or retry, the same one for a follow-up.
        let (wt_path, branch) = match (&follow_up, &task.worktree, &task.branch) {
            (Some(_), Some(w), Some(b)) if Path::new(w).exists() => (PathBuf::from(w), b.clone()),
            (Some(_), _, _) => return Err(RunError::Msg("its worktree is gone, so a follow-up cannot continue; retry it instead".into())),
            _ => {
                let branch = worktree::branch_name(id, &task.title);
                let path = self.ctx.data.worktrees().join(format!("{}-{}", repo.name, id));
                let git = self.ctx.git.clone();
                let (rp, base, b, p) = (PathBuf::from(&repo.path), repo.base.clone(), branch.clone(), path.clone());
                let wt = blocking(move || worktree::create(git.as_ref(), &rp, &base, &b, &p))
                    .await?
                    .map_err(|e| RunError::Msg(e.to_string()))?;
                self.store().update_task(
                    id,
                    &TaskUpdate {
                        branch: Some(branch.clone()),
                        worktree: Some(path.to_string_lossy().into_owned()),
                        repo: Some(repo.name.clone()),
                        agent: Some(agent_name.clone()),
                        ..TaskUpdate::default()
                    },
                )?;
                self.event(
                    id,
                    "worktree",
                    &format!("worktree {} on {} from {} ({})", path.display(), branch, repo.base, &wt.base_sha[..wt.base_sha.len().min(7)]),
                    Some(serde_json::json!({"path": path, "branch": branch, "base": repo.base, "base_sha": wt.base_sha})),
                );
                crash_point("worktree");
                (path, branch)
            }
        };
        let task_json = serde_json::json!({
            "id": id, "title": task.title, "repo": repo.name, "base": repo.base, "branch": branch,
            "agent": agent_name, "spec": task.spec, "follow_up": follow_up,
        });
        let _ = worktree::write_capcom_file(&wt_path, "task.json", serde_json::to_string_pretty(&task_json).unwrap_or_default().as_bytes());

        let checks: Vec<(String, String)> = task
            .spec
            .acceptance
            .iter()
            .filter_map(|a| a.check.clone())
            .filter_map(|n| {
                crate::review::checks::command_for(&self.ctx.config.get(), Some(&repo), &n).and_then(|c| c.argv()).map(|argv| (n, argv.join(" ")))
            })
            .collect();
        let full = prompt::render(
            &task.spec,
            &prompt::PromptContext { task_id: id, repo: &repo.name, branch: &branch, base: &repo.base, checks },
        );
        let previous = if follow_up.is_some() { self.store().runs(id)?.into_iter().last() } else { None };
        let resumable = backend.supports_resume() && previous.as_ref().is_some_and(|r| r.session_id.is_some());
        let text = match &follow_up {
            Some(instr) if resumable => prompt::render_follow_up(None, instr),
            Some(instr) => prompt::render_follow_up(Some(&full), instr),
            None => full,
        };

        let from: &[TaskState] = &[TaskState::Queued, TaskState::Scheduled];
        if cancel.is_cancelled() {
            self.to(id, from, TaskState::Cancelled, Some("cancelled before its agent started"));
            return Ok(Again::No);
        }
        let verb = match kind {
            JobKind::Retry => "retrying with",
            JobKind::FollowUp(_) => "following up with",
            _ => "started",
        };
        if !self.to(id, from, TaskState::Running, Some(&format!("{verb} {agent_name}"))) {
            return Ok(Again::No);
        }
        crash_point("running");
        let log_path = self.ctx.data.logs().join("tasks").join(format!("task-{id}-{}.log", Utc::now().format("%Y%m%dT%H%M%S%.3f")));
        let run_id = self.store().start_run(&Run {
            task_id: id,
            agent: agent_name.clone(),
            branch: Some(branch.clone()),
            worktree: Some(wt_path.to_string_lossy().into_owned()),
            log_path: Some(log_path.to_string_lossy().into_owned()),
            kind: Some(run_kind(kind).to_string()),
            ..Run::default()
        })?;
        crash_point("run-row");
        let req = StartRequest {
            task_id: id,
            title: task.title.clone(),
            prompt: text,
            workdir: wt_path.clone(),
            branch: branch.clone(),
            base: repo.base.clone(),
            github: repo.github.clone(),
            log_path: log_path.clone(),
            resume: None,
        };
        let launched = match (&previous, follow_up.is_some()) {
            (Some(prev), true) => {
                let prev_ref = RunRef {
                    task_id: id,
                    session_id: prev.session_id.clone(),
                    remote_id: prev.remote_id.clone(),
                    workdir: Some(wt_path.clone()),
                    ..RunRef::default()
                };
                backend.follow_up(&prev_ref, req).await
            }
            _ => backend.start(req).await,
        };
        let launched = match launched {
            Ok(l) => l,
            Err(e) => {
                let _ = self.store().finish_run(run_id, None, Some(&e.to_string()));
                self.to(id, &[TaskState::Running], TaskState::Failed, Some(&e.to_string()));
                return Ok(Again::No);
            }
        };
        crash_point("spawned");
        if let Some(pid) = launched.run.pid {
            let _ = self.store().set_run_process(run_id, pid as i64, launched.run.pid_start.map(|s| s as i64));
        }
        crash_point("pid-recorded");
        let _ = self.store().set_run_session(run_id, launched.run.session_id.as_deref(), launched.run.remote_id.as_deref(), None);
        let deadline = tokio::time::Instant::now() + self.timeout();
        let ending = self.watch(id, run_id, backend.as_ref(), &launched.run, launched.events, cancel, deadline).await;
        self.conclude(id, &agent_name, &wt_path, ending, false).await
    }

    /// Consume a run's events until it ends, is cancelled or times out. Progress is
    /// sampled ([`ProgressSampler`]): the run's log keeps all of it.
    #[allow(clippy::too_many_arguments)]
    async fn watch(
        &self,
        id: i64,
        run_id: i64,
        backend: &dyn AgentBackend,
        run: &RunRef,
        events: mpsc::Receiver<AgentEvent>,
        cancel: CancelToken,
        deadline: tokio::time::Instant,
    ) -> Ending {
        let mut sampler = ProgressSampler::new(self.ctx.config.get().dispatch.max_progress_events, PROGRESS_EVERY);
        let ending = self.watch_events(id, run_id, backend, run, events, cancel, deadline, &mut sampler).await;
        if let Some((skipped, last)) = sampler.finish() {
            self.event(
                id,
                "progress",
                &last,
                Some(serde_json::json!({"skipped": skipped, "note": format!("{skipped} more progress lines are in the run's log")})),
            );
        }
        ending
    }

    #[allow(clippy::too_many_arguments)]
    async fn watch_events(
        &self,
        id: i64,
        run_id: i64,
        backend: &dyn AgentBackend,
        run: &RunRef,
        mut events: mpsc::Receiver<AgentEvent>,
        mut cancel: CancelToken,
        deadline: tokio::time::Instant,
        sampler: &mut ProgressSampler,
    ) -> Ending {
        let store = self.store();
        loop {
            tokio::select! {
                ev = events.recv() => match ev {
                    Some(AgentEvent::Started { pid, session_id }) => {
                        if let Some(s) = &session_id {
                            let _ = store.set_run_session(run_id, Some(s), None, None);
                        }
                        let msg = match pid { Some(p) => format!("agent running (pid {p})"), None => "agent running".into() };
                        self.event(id, "started", &msg, Some(serde_json::json!({"pid": pid, "session_id": session_id})));
                    }
                    Some(AgentEvent::Progress(line)) => {
                        if let Some(line) = sampler.offer(line, tokio::time::Instant::now().into_std()) {
                            self.event(id, "progress", &line, None);
                        }
                    }
                    Some(AgentEvent::NeedsAttention { question }) => {
                        self.event(id, "question", &question, None);
                        self.to(id, &[TaskState::Running], TaskState::NeedsAttention, Some(&format!("{} asks: {question}", backend.name())));
                    }
                    Some(AgentEvent::Spent { cost_usd, usage, cpu_ms }) => {
                        let _ = store.set_run_spend(run_id, &crate::store::RunSpend { cost_usd, usage, cpu_ms });
                    }
                    Some(AgentEvent::Resumed) => {
                        self.to(id, &[TaskState::NeedsAttention], TaskState::Running, Some(&format!("{} is working again", backend.name())));
                    }
                    Some(AgentEvent::PrOpened { number, url }) => {
                        let _ = store.update_task(id, &TaskUpdate { pr: Some(number), ..TaskUpdate::default() });
                        self.event(id, "pr", &format!("opened PR #{number}: {url}"), Some(serde_json::json!({"number": number, "url": url})));
                    }
                    Some(AgentEvent::Finished { summary, session_id, cost_usd }) => {
                        let _ = store.set_run_session(run_id, session_id.as_deref(), None, cost_usd);
                        let _ = store.finish_run(run_id, Some(0), summary.as_deref());
                        crash_point("exit-recorded");
                        return Ending::Finished { summary };
                    }
                    Some(AgentEvent::Failed { reason, log_tail }) => {
                        let _ = store.finish_run(run_id, None, Some(&reason));
                        return Ending::Failed { reason, log_tail };
                    }
                    None => {
                        let reason = "the agent's event stream ended without a result".to_string();
                        let _ = store.finish_run(run_id, None, Some(&reason));
                        return Ending::Failed { reason, log_tail: String::new() };
                    }
                },
                _ = tokio::time::sleep_until(deadline) => {
                    let _ = backend.cancel(run).await;
                    let log_tail = drain_tail(&mut events, store, run_id).await
                        .or_else(|| run.log_path.as_deref().map(local::read_tail))
                        .unwrap_or_default();
                    let _ = store.finish_run(run_id, None, Some("timed out"));
                    return Ending::TimedOut { log_tail };
                }
                _ = cancel.cancelled() => {
                    let _ = backend.cancel(run).await;
                    let _ = drain_tail(&mut events, store, run_id).await;
                    let _ = store.finish_run(run_id, None, Some("cancelled"));
                    return Ending::Cancelled;
                }
            }
        }
    }

    /// After the agent: commit leftovers, then fail, cancel or review.
    async fn conclude(&self, id: i64, agent: &str, wt: &Path, ending: Ending, attached: bool) -> Result<Again, RunError> {
        if wt.exists() {
            let git = self.ctx.git.clone();
            let dir = wt.to_path_buf();
            let msg = format!("capcom: uncommitted changes left by {agent} (task {id})");
            match blocking(move || worktree::commit_leftovers(git.as_ref(), &dir, &msg)).await? {
                Ok(Some(sha)) => self.event(id, "autocommit", &format!("committed what the agent left uncommitted ({})", &sha[..sha.len().min(7)]), None),
                Ok(None) => {}
                Err(e) => self.event(id, "autocommit", &format!("could not commit leftovers: {e}"), None),
            }
        }
        // A remote run may end while it waits on the user (needs_attention).
        let running = &[TaskState::Running, TaskState::NeedsAttention];
        match ending {
            Ending::Cancelled => {
                self.to(id, &[TaskState::Running, TaskState::NeedsAttention, TaskState::Checking], TaskState::Cancelled, Some("cancelled; its agent was stopped"));
            }
            Ending::TimedOut { log_tail } => {
                let reason = format!("timed out after {}; the agent was stopped", self.ctx.config.get().dispatch.timeout);
                self.event(id, "failed", &reason, Some(serde_json::json!({"log_tail": log_tail})));
                self.to(id, running, TaskState::Failed, Some(&reason));
            }
            Ending::Failed { reason, log_tail } => {
                let interrupted = reason.starts_with("interrupted");
                if interrupted && attached && self.ctx.config.get().dispatch.retry_interrupted && !self.retried_before(id) {
                    self.event(id, "retry", "the agent was interrupted while capcom was down; retrying once", Some(serde_json::json!({"interrupted": true})));
                    let again = self.to(id, running, TaskState::Queued, Some("interrupted; retrying once"));
                    return Ok(if again { Again::Retry } else { Again::No });
                }
                self.event(id, "failed", &reason, Some(serde_json::json!({"log_tail": log_tail})));
                self.to(id, running, TaskState::Failed, Some(&reason));
            }
            Ending::Finished { summary } => {
                if let Some(s) = summary.filter(|s| !s.trim().is_empty()) {
                    self.event(id, "finished", &s, None);
                } else {
                    self.event(id, "finished", "the agent finished", None);
                }
                if !self.to(id, running, TaskState::Checking, Some("reviewing")) {
                    return Ok(Again::No);
                }
                crash_point("checking");
                let task = self.store().task(id)?;
                self.review(&task).await?;
            }
        }
        Ok(Again::No)
    }

    fn retried_before(&self, id: i64) -> bool {
        self.store()
            .events(id)
            .map(|evs| evs.iter().any(|e| e.kind == "retry" && e.data.as_ref().is_some_and(|d| d["interrupted"] == true)))
            .unwrap_or(false)
    }

    /// Review a task in `checking`, and record the verdict. Work that lives in a PR
    /// (a remote agent's, or one already handed over) is followed on GitHub; a green
    /// local review in a repo reviewed on GitHub is pushed and opened as a PR.
    async fn review(&self, task: &Task) -> Result<(), RunError> {
        let id = task.id;
        let repo = self.repo_for(task)?;
        if let (Some(n), Some(_)) = (task.pr, repo.github_slug()) {
            if pr::followed(self.store(), id) {
                self.nudge.notify_one();
                return Ok(());
            }
            if !self.local_agent(task) {
                self.follow_on_github(id, n);
                return Ok(());
            }
        }
        let Some(wt) = task.worktree.as_deref().map(PathBuf::from).filter(|p| p.exists()) else {
            self.to(id, &[TaskState::Checking], TaskState::Failed, Some("its worktree is gone, so it cannot be reviewed"));
            return Ok(());
        };
        // A merge-train update a stopped daemon left half done is undone before the review.
        {
            let (git, dir) = (self.ctx.git.clone(), wt.clone());
            if let Some(how) = blocking(move || worktree::abort_in_progress(git.as_ref(), &dir)).await? {
                self.event(id, "train", &format!("aborted a {} left half done", how.as_str()), None);
            }
        }
        let config = self.ctx.config.get();
        let review = Review {
            store: self.store(),
            git: self.ctx.git.clone(),
            config: &config,
            repo: &repo,
            task,
            worktree: &wt,
            check_timeout: self.timeout(),
        };
        match review.run().await {
            Ok(outcome) => {
                let _ = self.store().update_task(id, &TaskUpdate { head_sha: Some(outcome.head.clone()), ..TaskUpdate::default() });
                if outcome.state == TaskState::Ready && repo.reviews_on_github() {
                    let task = self.store().task(id)?;
                    match self.publish(&task, &repo, &outcome).await {
                        Ok(n) => self.follow_on_github(id, n),
                        Err(e) => {
                            let reason = format!("the local review passed, but {e}");
                            self.event(id, "pr", &reason, None);
                            self.to(id, &[TaskState::Checking], TaskState::NeedsAttention, Some(&reason));
                        }
                    }
                    return Ok(());
                }
                // Conflicts with the other ready tasks are foretold before this one is said to
                // be ready, so whoever reads "ready" also reads what it collides with.
                if outcome.state == TaskState::Ready {
                    self.predict_conflicts(id, &repo, &outcome.head).await;
                }
                self.to(id, &[TaskState::Checking], outcome.state, Some(&outcome.reason));
            }
            Err(e) => {
                self.to(id, &[TaskState::Checking], TaskState::Failed, Some(&format!("the review could not run: {e}")));
            }
        }
        Ok(())
    }

    /// A task just became ready: check it against every other ready task of its repo.
    async fn predict_conflicts(&self, id: i64, repo: &Repo, head: &str) {
        let others: Vec<Task> = self
            .store()
            .tasks_in(&[TaskState::Ready])
            .unwrap_or_default()
            .into_iter()
            .filter(|t| t.id != id && t.repo.as_deref() == Some(repo.name.as_str()) && t.head_sha.is_some())
            .collect();
        predict_conflicts(self.ctx.git.clone(), self.store(), id, repo, head, &others).await;
    }

    /// A task found `running` after a restart: decide from the facts on disk
    /// ([`recover::decide`]) whether its agent never started (start it again), is still going
    /// or ended unwatched (watch it again), or ended and that was recorded (carry on from there).
    async fn attach(&self, id: i64, cancel: CancelToken) -> Result<Again, RunError> {
        let task = self.store().task(id)?;
        if task.state != TaskState::Running {
            return Ok(Again::No);
        }
        let agent = task.agent.clone().unwrap_or_default();
        let wt = task.worktree.as_deref().map(PathBuf::from).unwrap_or_default();
        let run = self.latest_run(&task)?;
        let facts = self.facts(&task, run.as_ref()).await?;
        let recovery = recover::decide(&facts);
        let found = found_words(&facts);
        tracing::info!(task = id, %found, recovery = recovery.as_str(), "reconciled a running task after a restart");
        self.event(
            id,
            "recovered",
            &format!("after a restart: {found}; {}", recovery.as_str()),
            Some(serde_json::json!({"found": found, "recovery": recovery.as_str()})),
        );
        let run_log = run.as_ref().and_then(|r| r.log_path.as_deref()).map(|l| local::read_tail(Path::new(l))).unwrap_or_default();
        match recovery {
            recover::Recovery::Restart => {
                if let Some(r) = run.as_ref().filter(|r| r.ended_at.is_none()) {
                    let _ = self.store().finish_run(r.id, None, Some("the daemon stopped before the agent started"));
                }
                let again = self.to(id, &[TaskState::Running], TaskState::Queued, Some("the daemon stopped before its agent started; starting it again"));
                Ok(if again { Again::Restart } else { Again::No })
            }
            recover::Recovery::Finished { summary } => self.conclude(id, &agent, &wt, Ending::Finished { summary }, true).await,
            recover::Recovery::Failed { reason } => {
                self.conclude(id, &agent, &wt, Ending::Failed { reason, log_tail: run_log }, true).await
            }
            recover::Recovery::Unknown => {
                let reason = "interrupted: the agent started, but no process or status was found to say how it ended".to_string();
                if let Some(r) = &run {
                    let _ = self.store().finish_run(r.id, None, Some(&reason));
                }
                self.conclude(id, &agent, &wt, Ending::Failed { reason, log_tail: run_log }, true).await
            }
            recover::Recovery::Reattach { pid } => {
                let Some(run) = run else { return Ok(Again::No) };
                self.reattach(id, run, pid, &wt, cancel).await
            }
        }
    }

    /// The task's run of its current `running` spell: the latest run, if it began after the
    /// task last turned `running` from `queued` or `scheduled` (an older one is a past run's).
    fn latest_run(&self, task: &Task) -> Result<Option<Run>, RunError> {
        let since = self
            .store()
            .events(task.id)?
            .into_iter()
            .rev()
            .find(|e| {
                e.kind == "state"
                    && e.data.as_ref().is_some_and(|d| d["to"] == "running" && matches!(d["from"].as_str(), Some("queued" | "scheduled")))
            })
            .map(|e| e.at);
        let run = self.store().runs(task.id)?.into_iter().last();
        Ok(run.filter(|r| since.as_deref().is_none_or(|s| r.started_at.as_str() >= s) || r.ended_at.is_none()))
    }

    /// What the disk says of a task found `running`.
    async fn facts(&self, task: &Task, run: Option<&Run>) -> Result<recover::Facts, RunError> {
        let proc = |pid: Option<i64>, start: Option<i64>| pid.and_then(|p| u32::try_from(p).ok()).map(|p| (p, start.and_then(|s| u64::try_from(s).ok())));
        let run_facts = run.map(|r| {
            let log = r.log_path.as_deref().map(PathBuf::from);
            let local = self.ctx.config.get().agents.get(&r.agent).is_none_or(|a| a.kind == "local");
            recover::RunFacts {
                ended: r.ended_at.as_ref().map(|_| (r.exit_code, r.summary.clone())),
                local,
                pid: proc(r.pid, r.pid_start),
                pid_file: log.as_deref().and_then(|l| local::read_pid_file(l).or_else(|| local::find_supervisor(l))),
                status_file: log.as_deref().is_some_and(|l| local::status_path(l).exists()),
                log_written: log.as_deref().is_some_and(|l| std::fs::metadata(l).is_ok_and(|m| m.len() > 0)),
            }
        });
        let base = self
            .store()
            .events(task.id)?
            .into_iter()
            .rev()
            .find(|e| e.kind == "worktree")
            .and_then(|e| e.data.and_then(|d| d["base_sha"].as_str().map(String::from)));
        let commits = match (task.worktree.as_deref().map(PathBuf::from).filter(|w| w.exists()), base) {
            (Some(wt), Some(base)) => {
                let git = self.ctx.git.clone();
                blocking(move || git.ok(&wt, &["rev-list", "--count", &format!("{base}..HEAD")]))
                    .await?
                    .ok()
                    .and_then(|n| n.trim().parse().ok())
                    .unwrap_or(0)
            }
            _ => 0,
        };
        Ok(recover::Facts { run: run_facts, commits })
    }

    /// Watch the open run of a task again (a local agent by `pid`, recorded now if only its
    /// supervisor's pid file had it), then carry on as if it had been watched all along.
    async fn reattach(&self, id: i64, run: Run, pid: Option<recover::Proc>, wt: &Path, cancel: CancelToken) -> Result<Again, RunError> {
        let backend = match self.ctx.agents.get(&run.agent) {
            Ok(b) => b,
            Err(e) => {
                let _ = self.store().finish_run(run.id, None, Some(&e));
                let ending = Ending::Failed { reason: format!("interrupted: {e}"), log_tail: String::new() };
                return self.conclude(id, &run.agent, wt, ending, true).await;
            }
        };
        if run.pid.is_none()
            && let Some((p, start)) = pid
        {
            let _ = self.store().set_run_process(run.id, i64::from(p), start.and_then(|s| i64::try_from(s).ok()));
        }
        let rref = RunRef {
            task_id: id,
            pid: pid.map(|p| p.0),
            pid_start: pid.and_then(|p| p.1),
            remote_id: run.remote_id.clone(),
            session_id: run.session_id.clone(),
            log_path: run.log_path.as_deref().map(PathBuf::from),
            workdir: run.worktree.as_deref().map(PathBuf::from),
        };
        let events = match backend.observe(&rref).await {
            Ok(rx) => rx,
            Err(e) => {
                let reason = format!("interrupted: cannot re-attach ({e})");
                let _ = self.store().finish_run(run.id, None, Some(&reason));
                return self.conclude(id, &run.agent, wt, Ending::Failed { reason, log_tail: String::new() }, true).await;
            }
        };
        self.event(id, "reattached", "capcom restarted and is watching this agent again", None);
        let started = parse_time(&run.started_at).unwrap_or_else(Utc::now);
        let elapsed = (Utc::now() - started).to_std().unwrap_or_default();
        let deadline = tokio::time::Instant::now() + self.timeout().saturating_sub(elapsed);
        let ending = self.watch(id, run.id, backend.as_ref(), &rref, events, cancel, deadline).await;
        self.conclude(id, &run.agent, wt, ending, true).await
    }
}

/// What a restart found, in words (the `recovered` event; the kill table in tests/crash.rs).
fn found_words(f: &recover::Facts) -> String {
    let Some(r) = &f.run else { return "no run recorded".into() };
    let mut parts = Vec::new();
    match &r.ended {
        Some((Some(c), _)) => parts.push(format!("the run ended with status {c}")),
        Some((None, _)) => parts.push("the run ended in failure".to_string()),
        None => parts.push("an open run".to_string()),
    }
    if r.local {
        parts.push(if r.pid.is_some() { "its pid recorded" } else { "no pid recorded" }.to_string());
        parts.push(if r.pid_file.is_some() { "the supervisor's pid file" } else { "no pid file" }.to_string());
        parts.push(if r.status_file { "an exit status file" } else { "no exit status file" }.to_string());
    }
    parts.push(format!("{} commit(s) since the base", f.commits));
    parts.join(", ")
}

/// How a run is recorded (`runs.kind`): the first start, a retry, or a follow-up.
fn run_kind(kind: &JobKind) -> &'static str {
    match kind {
        JobKind::Retry => "retry",
        JobKind::FollowUp(_) => "follow_up",
        _ => "start",
    }
}

/// Merge a ready task's head with each of `others`, in git's plumbing only (`merge-tree`,
/// no working copy). A conflict is recorded on both tasks as a `conflict` event naming the
/// files, so the status can say it before a merge does. Returns the conflicting pairs.
pub async fn predict_conflicts(git: Arc<dyn Git>, store: &Store, id: i64, repo: &Repo, head: &str, others: &[Task]) -> usize {
    let mut found = 0;
    for other in others {
        let (git, dir, a, b) = (git.clone(), PathBuf::from(&repo.path), head.to_string(), other.head_sha.clone().unwrap_or_default());
        let out = blocking(move || git.run(&dir, &["merge-tree", "--write-tree", "--name-only", "--no-messages", &a, &b])).await;
        let Ok(Ok(out)) = out else { continue };
        if out.code != 1 {
            continue;
        }
        found += 1;
        let mut files: Vec<String> = out.stdout.lines().skip(1).map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
        files.dedup();
        let list = if files.is_empty() { "the same lines".to_string() } else { files.join(", ") };
        let msg = format!("tasks {} and {id} both change {list}; merging one will need the other rebased", other.id);
        let data = serde_json::json!({"tasks": [other.id, id], "files": files});
        for t in [id, other.id] {
            if let Err(e) = store.add_event(Some(t), "conflict", &msg, Some(&data)) {
                tracing::warn!(task = t, error = %e, "cannot record an event");
            }
        }
    }
    found
}

/// Wait (bounded) for a cancelled run's terminal event; its log tail if it failed. What the
/// run spent is still recorded.
async fn drain_tail(events: &mut mpsc::Receiver<AgentEvent>, store: &Store, run_id: i64) -> Option<String> {
    let wait = async {
        while let Some(e) = events.recv().await {
            if let AgentEvent::Spent { cost_usd, usage, cpu_ms } = e {
                let _ = store.set_run_spend(run_id, &crate::store::RunSpend { cost_usd, usage, cpu_ms });
                continue;
            }
            if let AgentEvent::Failed { log_tail, .. } = e {
                return Some(log_tail);
            }
            if e.is_terminal() {
                return None;
            }
        }
        None
    };
    tokio::time::timeout(Duration::from_secs(10), wait).await.ok().flatten()
}

#[async_trait]
impl Runner for Dispatcher {
    async fn run(&self, job: Job, cancel: CancelToken) {
        let id = job.task;
        if let Err(e) = self.run_job(job, cancel).await {
            let reason = e.to_string();
            tracing::warn!(task = id, %reason, "dispatch failed");
            self.to(id, &[TaskState::Queued, TaskState::Scheduled, TaskState::Running, TaskState::Checking], TaskState::Failed, Some(&reason));
        }
    }
}
