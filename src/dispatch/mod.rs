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
//! - this module: routing, planning a brief's tasks, the [`Dispatcher`] (the
//!   scheduler's runner: worktree → agent → events → auto-commit → review), and
//!   restart reconciliation.

pub mod backend;
pub mod codex_cloud;
pub mod contract;
pub mod copilot;
pub mod cursor;
pub mod gc;
pub mod jules;
pub mod lease;
pub mod local;
pub mod presets;
pub mod prompt;
pub mod remote;
pub mod scheduler;
pub mod train;
/// Git lives below dispatch and review, which both use it; the old path stays.
pub use crate::git as worktree;

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

/// The agents by name, built from `[agents.*]`. A preset name that is not
/// configured (e.g. the default `claude`) is available with the preset's defaults.
#[derive(Clone, Default)]
pub struct Agents {
    map: BTreeMap<String, Arc<dyn AgentBackend>>,
    problems: BTreeMap<String, String>,
    supervisor: Option<PathBuf>,
    /// For presets used without an `[agents.X]` table.
    preset_env: local::AgentEnv,
}

impl Agents {
    pub fn from_config(config: &Config, supervisor: Option<PathBuf>) -> Agents {
        let preset_env = local::AgentEnv::from_agent(&crate::config::Agent::default(), &config.dispatch);
        let mut a = Agents { supervisor: supervisor.clone(), preset_env, ..Agents::default() };
        for (name, agent) in &config.agents {
            if agent.kind != "local" {
                match remote::backend_for(name, agent, config) {
                    Ok(b) => {
                        a.map.insert(name.clone(), b);
                    }
                    Err(e) => {
                        a.problems.insert(name.clone(), e);
                    }
                }
                continue;
            }
            match presets::resolve(name, agent) {
                Ok(spec) => {
                    let b = local::LocalBackend::new(name, spec, local::AgentEnv::from_agent(agent, &config.dispatch), supervisor.clone());
                    a.map.insert(name.clone(), Arc::new(b));
                }
                Err(e) => {
                    a.problems.insert(name.clone(), e);
                }
            }
        }
        a
    }

    /// Add or replace a backend (remote backends, tests).
    pub fn insert(&mut self, name: &str, backend: Arc<dyn AgentBackend>) {
        self.problems.remove(name);
        self.map.insert(name.to_string(), backend);
    }

    /// A vendor says a run changed (a verified webhook): every backend watching that id looks now.
    pub fn poke(&self, remote_id: &str) {
        for b in self.map.values() {
            b.poke(remote_id);
        }
    }

    pub fn get(&self, name: &str) -> Result<Arc<dyn AgentBackend>, String> {
        if let Some(b) = self.map.get(name) {
            return Ok(b.clone());
        }
        if let Some(p) = self.problems.get(name) {
            return Err(p.clone());
        }
        match presets::preset(name, "acceptEdits") {
            Some(spec) => Ok(Arc::new(local::LocalBackend::new(name, spec, self.preset_env.clone(), self.supervisor.clone()))),
            None => Err(format!("no agent named `{name}` is configured")),
        }
    }
}

/// Which agent takes a task, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Routed {
    pub agent: String,
    pub why: String,
}

/// The brief's choice, then `[[routes]]` by kind, then `[dispatch] default_agent`.
pub fn route(spec: &TaskSpec, config: &Config) -> Routed {
    if let Some(a) = spec.agent.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        return Routed { agent: a.to_string(), why: format!("you asked for {a}") };
    }
    if let Some(r) = config.routes.iter().find(|r| r.kind == spec.kind.as_str()) {
        return Routed { agent: r.agent.clone(), why: format!("the route for {} tasks", spec.kind.as_str()) };
    }
    Routed { agent: config.dispatch.default_agent.clone(), why: "the default agent".into() }
}

/// The repo a task works in: named, or the only one configured.
pub fn resolve_repo<'a>(config: &'a Config, name: Option<&str>) -> Result<&'a Repo, String> {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => config.repo(n).ok_or_else(|| {
            let known: Vec<&str> = config.repos.iter().map(|r| r.name.as_str()).collect();
            format!("Which repo is `{n}`? I know {}.", if known.is_empty() { "none".into() } else { known.join(", ") })
        }),
        // `[dispatch] default_repo`, or the only repo.
        None => match crate::understand::default_repo(config).and_then(|d| config.repo(&d)) {
            Some(r) => Ok(r),
            None => match config.repos.as_slice() {
            [only] => Ok(only),
            [] => Err("No repos are configured: add a [[repos]] entry to the config.".into()),
            many => Err(format!(
                "Which repo should this go to: {}?",
                many.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ")
            )),
            },
        },
    }
}

/// How a brief's task enters the system.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub state: TaskState,
    /// The question for a held task.
    pub reason: Option<String>,
    pub agent: Option<Routed>,
    pub repo: Option<String>,
    pub at: Option<DateTime<Utc>>,
}

/// Decide a new task's first state: held (not ready, unknown repo or agent, with
/// the question to ask), scheduled (a future start) or queued.
pub fn plan(spec: &TaskSpec, config: &Config, agents: &Agents, now: DateTime<Utc>) -> Plan {
    let routed = route(spec, config);
    let repo = resolve_repo(config, spec.repo.as_deref());
    let held = |reason: String, agent: Option<Routed>, repo: Option<String>| Plan {
        state: TaskState::Held,
        reason: Some(reason),
        agent,
        repo,
        at: None,
    };
    if !spec.readiness.ready {
        let q = spec
            .readiness
            .question
            .clone()
            .filter(|q| !q.trim().is_empty())
            .unwrap_or_else(|| format!("The brief is not ready: {}.", spec.readiness.problems.join("; ")));
        return held(q, Some(routed), repo.ok().map(|r| r.name.clone()));
    }
    let repo = match repo {
        Ok(r) => r.name.clone(),
        Err(q) => return held(q, Some(routed), None),
    };
    if let Err(e) = agents.get(&routed.agent) {
        return held(format!("{e}. Which agent should take it?"), None, Some(repo));
    }
    let at = spec.schedule.map(|s| s.with_timezone(&Utc));
    let state = if at.is_some_and(|t| t > now) { TaskState::Scheduled } else { TaskState::Queued };
    Plan { state, reason: None, agent: Some(routed), repo: Some(repo), at: at.filter(|t| *t > now) }
}

/// What the dispatcher needs.
#[derive(Clone)]
pub struct Ctx {
    pub config: Arc<Config>,
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

/// Whether a job goes on with a retry (an interrupted run, `retry_interrupted`).
enum Again {
    No,
    Retry,
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
        let name = task.agent.as_deref().or(task.spec.agent.as_deref()).unwrap_or(&self.ctx.config.dispatch.default_agent);
        self.ctx.config.agents.get(name).is_none_or(|a| a.kind == "local")
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
        self.ctx.config.dispatch.timeout.get()
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
            }
        }
    }

    fn repo_for(&self, task: &Task) -> Result<Repo, RunError> {
        resolve_repo(&self.ctx.config, task.repo.as_deref().or(task.spec.repo.as_deref()))
            .cloned()
            .map_err(RunError::Msg)
    }

    async fn launch(&self, id: i64, kind: &JobKind, cancel: CancelToken) -> Result<Again, RunError> {
        let task = self.store().task(id)?;
        if task.state != TaskState::Queued && task.state != TaskState::Scheduled {
            return Ok(Again::No); // cancelled or moved on while it waited
        }
        let repo = self.repo_for(&task)?;
        let agent_name = task.agent.clone().unwrap_or_else(|| route(&task.spec, &self.ctx.config).agent);
        let backend = self.ctx.agents.get(&agent_name)?;
        let follow_up = match kind {
            JobKind::FollowUp(text) => Some(text.clone()),
            _ => None,
        };
        // Scope leases: a new start waits for (or asks about) a task that holds an overlapping scope.
        let mode = lease::Overlap::parse(&self.ctx.config.dispatch.overlap);
        let _claim = if follow_up.is_some() || mode == lease::Overlap::Allow || lease::released(&self.store(), id) {
            self.claims.claim(&self.ctx.config, &task)
        } else {
            match self.claims.try_claim(&self.ctx.config, &self.store(), &task) {
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
                crate::review::checks::command_for(&self.ctx.config, Some(&repo), &n).and_then(|c| c.argv()).map(|argv| (n, argv.join(" ")))
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
        if let Some(pid) = launched.run.pid {
            let _ = self.store().set_run_process(run_id, pid as i64, launched.run.pid_start.map(|s| s as i64));
        }
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
        let mut sampler = ProgressSampler::new(self.ctx.config.dispatch.max_progress_events, PROGRESS_EVERY);
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
                let reason = format!("timed out after {}; the agent was stopped", self.ctx.config.dispatch.timeout);
                self.event(id, "failed", &reason, Some(serde_json::json!({"log_tail": log_tail})));
                self.to(id, running, TaskState::Failed, Some(&reason));
            }
            Ending::Failed { reason, log_tail } => {
                let interrupted = reason.starts_with("interrupted");
                if interrupted && attached && self.ctx.config.dispatch.retry_interrupted && !self.retried_before(id) {
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
        let review = Review {
            store: self.store(),
            git: self.ctx.git.clone(),
            config: &self.ctx.config,
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

    /// Re-attach to the open run of a task that was `running` when the daemon stopped.
    async fn attach(&self, id: i64, cancel: CancelToken) -> Result<Again, RunError> {
        let task = self.store().task(id)?;
        if task.state != TaskState::Running {
            return Ok(Again::No);
        }
        let run = self.store().runs(id)?.into_iter().rev().find(|r| r.ended_at.is_none());
        let agent = task.agent.clone().unwrap_or_default();
        let wt = task.worktree.as_deref().map(PathBuf::from).unwrap_or_default();
        let Some(run) = run else {
            let ending = Ending::Failed { reason: "interrupted: the daemon stopped before the agent started".into(), log_tail: String::new() };
            return self.conclude(id, &agent, &wt, ending, true).await;
        };
        let backend = match self.ctx.agents.get(&run.agent) {
            Ok(b) => b,
            Err(e) => {
                let _ = self.store().finish_run(run.id, None, Some(&e));
                let ending = Ending::Failed { reason: format!("interrupted: {e}"), log_tail: String::new() };
                return self.conclude(id, &agent, &wt, ending, true).await;
            }
        };
        let rref = RunRef {
            task_id: id,
            pid: run.pid.and_then(|p| u32::try_from(p).ok()),
            pid_start: run.pid_start.and_then(|p| u64::try_from(p).ok()),
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
                return self.conclude(id, &agent, &wt, Ending::Failed { reason, log_tail: String::new() }, true).await;
            }
        };
        self.event(id, "reattached", "capcom restarted and is watching this agent again", None);
        let started = parse_time(&run.started_at).unwrap_or_else(Utc::now);
        let elapsed = (Utc::now() - started).to_std().unwrap_or_default();
        let deadline = tokio::time::Instant::now() + self.timeout().saturating_sub(elapsed);
        let ending = self.watch(id, run.id, backend.as_ref(), &rref, events, cancel, deadline).await;
        self.conclude(id, &run.agent, &wt, ending, true).await
    }
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

/// The daemon's handle on dispatch: queue work, cancel, retry, follow up.
#[derive(Clone)]
pub struct DispatchHandle {
    ctx: Ctx,
    scheduler: SchedulerHandle,
    /// Wakes the PR follower.
    nudge: Arc<Notify>,
    /// One merge-train update at a time (they rebase worktrees and run checks).
    train: Arc<tokio::sync::Mutex<()>>,
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
        let scheduler = scheduler::spawn(runner, ctx.config.dispatch.max_parallel, stop.clone());
        let me = DispatchHandle { ctx, scheduler, nudge: follower_nudge, train: Arc::default() };
        me.reconcile().await;
        tokio::spawn(me.clone().start_waiting(stop.clone()));
        tokio::spawn(me.clone().clean_up_regularly(stop));
        me
    }

    /// What [`gc::plan`] finds now; `only` keeps one task's.
    pub fn gc_plan(&self, only: Option<i64>) -> Vec<gc::Sweep> {
        let items = gc::plan(self.ctx.git.as_ref(), &self.ctx.store, &self.ctx.config, &self.ctx.data, Utc::now());
        items.into_iter().filter(|i| only.is_none() || i.task == only).collect()
    }

    /// Remove what the plan lists (off the async threads: git and the file system are slow).
    pub async fn gc(&self, items: Vec<gc::Sweep>) -> Vec<String> {
        let (git, store, config) = (self.ctx.git.clone(), self.ctx.store.clone(), self.ctx.config.clone());
        tokio::task::spawn_blocking(move || gc::sweep(git.as_ref(), &store, &config, &items)).await.unwrap_or_default()
    }

    /// Every ten minutes, the worktrees of merged, cancelled and long-failed tasks go.
    async fn clean_up_regularly(self, mut stop: watch::Receiver<bool>) {
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
    async fn start_waiting(self, mut stop: watch::Receiver<bool>) {
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
                if snap.running.contains(&t.id) || snap.queued.contains(&t.id) || snap.scheduled.iter().any(|(i, _)| *i == t.id) {
                    continue;
                }
                if !lease::is_waiting(&t) {
                    continue;
                }
                if lease::released(&store, t.id) || lease::blockers(&self.ctx.config, &t, &holding, &[]).is_empty() {
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

    pub fn ctx(&self) -> &Ctx {
        &self.ctx
    }

    pub fn scheduler(&self) -> &SchedulerHandle {
        &self.scheduler
    }

    /// Queue a task that is `queued` or `scheduled`.
    pub async fn submit(&self, task: &Task) {
        let at = task.scheduled_at.as_deref().and_then(parse_time);
        let at = if task.state == TaskState::Scheduled { at } else { None };
        self.scheduler.enqueue(Job { task: task.id, kind: JobKind::Start }, at).await;
    }

    /// Every task left `running` or `checking` ends in a true state: a live agent
    /// is watched again, a finished one is reviewed, a vanished one fails as
    /// "interrupted" (or is retried once). Queued and scheduled tasks are queued again.
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
            let at = if t.state == TaskState::Scheduled { t.scheduled_at.as_deref().and_then(parse_time) } else { None };
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

    async fn cancel_only(&self, id: i64) -> Result<String, String> {
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
    fn live_run(&self, task: &Task) -> Option<Run> {
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

    fn event_follow_up(&self, id: i64, instruction: &str) {
        let _ = self.ctx.store.add_event(Some(id), "follow_up", instruction, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Agent, Route};
    use crate::understand::{Readiness, TaskKind};

    fn config() -> Config {
        let mut c = Config::default();
        c.agents.insert("claude".into(), Agent { preset: "claude".into(), ..Agent::default() });
        c.agents.insert("aider".into(), Agent { preset: "aider".into(), ..Agent::default() });
        c.agents.insert("jules".into(), Agent { kind: "jules".into(), ..Agent::default() });
        c.routes.push(Route { kind: "docs".into(), agent: "aider".into() });
        c.repos.push(Repo { name: "site".into(), path: "/tmp/site".into(), aliases: vec!["website".into()], ..Repo::default() });
        c
    }

    #[test]
    fn routing_prefers_the_brief_then_routes_then_the_default() {
        let c = config();
        let mut s = TaskSpec { kind: TaskKind::Docs, ..TaskSpec::default() };
        assert_eq!(route(&s, &c), Routed { agent: "aider".into(), why: "the route for docs tasks".into() });
        s.agent = Some("codex".into());
        assert_eq!(route(&s, &c).agent, "codex");
        assert_eq!(route(&s, &c).why, "you asked for codex");
        let other = TaskSpec { kind: TaskKind::Css, ..TaskSpec::default() };
        assert_eq!(route(&other, &c), Routed { agent: "claude".into(), why: "the default agent".into() });
    }

    #[test]
    fn planning_holds_what_is_not_ready_or_cannot_be_placed() {
        let c = config();
        let agents = Agents::from_config(&c, None);
        let now = Utc::now();
        let ok = TaskSpec { title: "t".into(), ..TaskSpec::default() };
        assert_eq!(plan(&ok, &c, &agents, now).state, TaskState::Queued);

        let vague = TaskSpec {
            readiness: Readiness { ready: false, score: 0.2, problems: vec!["no scope".into()], question: Some("Which files?".into()) },
            ..ok.clone()
        };
        let p = plan(&vague, &c, &agents, now);
        assert_eq!((p.state, p.reason.as_deref()), (TaskState::Held, Some("Which files?")));

        let remote = TaskSpec { agent: Some("jules".into()), ..ok.clone() };
        assert_eq!(plan(&remote, &c, &agents, now).state, TaskState::Queued);
        let odd = TaskSpec { agent: Some("odd".into()), ..ok.clone() };
        let mut c2 = c.clone();
        c2.agents.insert("odd".into(), Agent { kind: "carrier-pigeon".into(), ..Agent::default() });
        let p = plan(&odd, &c2, &Agents::from_config(&c2, None), now);
        assert_eq!(p.state, TaskState::Held);
        assert!(p.reason.unwrap().contains("unknown kind"));

        let unknown_repo = TaskSpec { repo: Some("api".into()), ..ok.clone() };
        assert!(plan(&unknown_repo, &c, &agents, now).reason.unwrap().contains("Which repo is `api`"));
        let alias = TaskSpec { repo: Some("website".into()), ..ok.clone() };
        assert_eq!(plan(&alias, &c, &agents, now).repo.as_deref(), Some("site"));

        let later = TaskSpec { schedule: Some((now + chrono::Duration::hours(2)).fixed_offset()), ..ok.clone() };
        let p = plan(&later, &c, &agents, now);
        assert_eq!(p.state, TaskState::Scheduled);
        assert!(p.at.is_some());
        let past = TaskSpec { schedule: Some((now - chrono::Duration::hours(2)).fixed_offset()), ..ok };
        assert_eq!(plan(&past, &c, &agents, now).state, TaskState::Queued);
    }

    #[test]
    fn unconfigured_preset_names_are_available() {
        let agents = Agents::from_config(&Config::default(), None);
        assert_eq!(agents.get("claude").unwrap().name(), "claude");
        assert!(agents.get("nobody").is_err());
    }
}

/// At most one progress event per this long, per run.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Which of a run's progress lines become task events: at most one per `every`, at
/// most `max` in all. A chatty agent's thousands of lines stay in its log, not the store.
#[derive(Debug)]
pub struct ProgressSampler {
    max: usize,
    every: Duration,
    kept: usize,
    last_kept: Option<std::time::Instant>,
    skipped: u64,
    last_skipped: Option<String>,
}

impl ProgressSampler {
    pub fn new(max: usize, every: Duration) -> ProgressSampler {
        ProgressSampler { max, every, kept: 0, last_kept: None, skipped: 0, last_skipped: None }
    }

    /// The line, if it is to be recorded now.
    pub fn offer(&mut self, line: String, now: std::time::Instant) -> Option<String> {
        let due = self.last_kept.is_none_or(|t| now.saturating_duration_since(t) >= self.every);
        if self.kept < self.max && due {
            self.kept += 1;
            self.last_kept = Some(now);
            self.last_skipped = None;
            return Some(line);
        }
        self.skipped += 1;
        self.last_skipped = Some(line);
        None
    }

    /// How many lines were left out, and the latest of them if it was not recorded.
    pub fn finish(&mut self) -> Option<(u64, String)> {
        let last = self.last_skipped.take()?;
        (self.skipped > 0).then_some((self.skipped, last))
    }
}

#[cfg(test)]
mod sampler_tests {
    use super::*;

    #[test]
    fn progress_is_bounded_and_spaced() {
        let t0 = std::time::Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut s = ProgressSampler::new(3, Duration::from_millis(500));
        // (time, line, recorded?)
        let table = [(0, "a", true), (10, "b", false), (499, "c", false), (500, "d", true), (900, "e", false), (1000, "f", true), (5000, "g", false)];
        for (t, line, want) in table {
            assert_eq!(s.offer(line.into(), ms(t)).is_some(), want, "{line} at {t} ms");
        }
        assert_eq!(s.finish(), Some((4, "g".to_string())));

        // 100,000 lines in a burst: at most `max` kept.
        let mut s = ProgressSampler::new(200, Duration::from_millis(500));
        let kept = (0..100_000u64).filter(|i| s.offer(format!("{i}"), ms(i / 10)).is_some()).count();
        assert!(kept <= 200, "{kept}");
        // Nothing skipped, nothing to add.
        let mut s = ProgressSampler::new(10, Duration::ZERO);
        assert!(s.offer("x".into(), ms(0)).is_some());
        assert_eq!(s.finish(), None);
    }
}
