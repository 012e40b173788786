//! What the remote agents (Copilot coding agent, Jules, Cursor cloud agents,
//! Codex cloud) have in common, and the one [`AgentBackend`] they all sit behind.
//!
//! Each vendor module implements [`RemoteAgent`]: launch a run, look at it once,
//! send a follow-up, stop it. [`RemoteBackend`] turns that into the event stream
//! the dispatcher consumes: a watcher task polls `look` every `poll` interval and
//! emits `Started`, progress lines, `PrOpened`, then exactly one terminal event.
//! A run waiting on the user (Jules' plan approval, a question) is reported as
//! `NeedsAttention` and keeps being watched; `Resumed` follows when it works again.
//! [`AgentBackend::answer`] replies to it through the vendor's follow-up call.

use super::backend::{AgentBackend, AgentEvent, BackendError, Launched, RunRef, StartRequest};
use crate::github::HttpError;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RemoteError {
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The agent's configuration cannot work (no GitHub repo, no environment, ...).
    #[error("{0}")]
    Config(String),
    /// A CLI-driven agent (Codex cloud) failed or printed something unreadable.
    #[error("{0}")]
    Cli(String),
}

impl RemoteError {
    /// Errors that will not go away by polling again.
    pub fn is_permanent(&self) -> bool {
        match self {
            RemoteError::Http(e) => matches!(
                e,
                HttpError::Unauthorized { .. }
                    | HttpError::NotFound { .. }
                    | HttpError::Unprocessable { .. }
                    | HttpError::Invalid { .. }
            ),
            RemoteError::Config(_) => true,
            RemoteError::Cli(_) => false,
        }
    }
}

impl From<RemoteError> for BackendError {
    fn from(e: RemoteError) -> Self {
        match e {
            RemoteError::Http(HttpError::Offline { .. }) => BackendError::Transport(e.to_string()),
            other => BackendError::Transport(other.to_string()),
        }
    }
}

/// A patch from a cloud agent that did not go into the task's worktree.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    /// It does not apply, even three-way: the files it could not change.
    #[error("the patch does not apply to {}", if files.is_empty() { "the task's branch".to_string() } else { files.join(", ") })]
    Conflict { files: Vec<String> },
    /// The worktree has changes of its own; nothing was applied.
    #[error("the task's worktree has uncommitted changes, so the patch was not applied")]
    Dirty,
    #[error("{0}")]
    Git(String),
}

/// What [`apply_patch`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Applied to the index and the files.
    Applied,
    /// The worktree already holds it (its reverse applies): a restart after applying it.
    AlreadyThere,
    /// The patch was empty.
    Nothing,
}

/// Apply a cloud agent's unified diff to the task's worktree, index included, so review
/// and the autocommit see it like a local agent's work: `git apply --index --3way`, three-way
/// so a patch made on an older base still applies wherever git can merge it (`base`, the
/// commit the agent worked from, is fetched first when the repo lacks it). A patch that does
/// not apply changes nothing and names its files.
pub fn apply_patch(git: &dyn crate::git::Git, workdir: &std::path::Path, patch: &str, base: Option<&str>) -> Result<Applied, PatchError> {
    if patch.trim().is_empty() {
        return Ok(Applied::Nothing);
    }
    let patch = if patch.ends_with('\n') { patch.to_string() } else { format!("{patch}\n") };
    let err = |e: crate::git::GitError| PatchError::Git(e.to_string());
    let run = |args: &[&str]| git.run_input(workdir, args, patch.as_bytes()).map_err(err);
    // Straight onto the worktree: all or nothing.
    let straight = run(&["apply", "--index", "--whitespace=nowarn"])?;
    if straight.code == 0 {
        return Ok(Applied::Applied);
    }
    // Already there (an earlier look applied it, then capcom restarted)?
    if run(&["apply", "--cached", "--check", "-R"])?.code == 0 {
        return Ok(Applied::AlreadyThere);
    }
    let mut files = named_in(&straight.stderr);
    // Three-way, from the commit the agent worked on, when the worktree holds nothing of its
    // own to lose: a failed three-way attempt is undone with a hard reset.
    let _ = git.run(workdir, &["update-index", "-q", "--refresh"]);
    let clean = git.run(workdir, &["diff-index", "--quiet", "HEAD", "--"]).map_err(err)?.code == 0;
    if !clean {
        return Err(if files.is_empty() { PatchError::Dirty } else { PatchError::Conflict { files } });
    }
    if let Some(b) = base.filter(|b| crate::dispatch::codex_cloud::valid_id(b))
        && git.run(workdir, &["cat-file", "-e", &format!("{b}^{{commit}}")]).map_err(err)?.code != 0
    {
        let _ = git.run(workdir, &["fetch", "--quiet", "--no-tags", "origin", b]);
    }
    let out = run(&["apply", "--index", "--3way", "--whitespace=nowarn"])?;
    if out.code == 0 {
        return Ok(Applied::Applied);
    }
    // The files it could not apply: unmerged paths after the three-way attempt, and the paths
    // `git apply` names in its errors. Then everything goes back to HEAD.
    if let Ok(o) = git.run(workdir, &["diff", "--name-only", "--diff-filter=U"]) {
        files.extend(o.stdout.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from));
    }
    files.extend(named_in(&out.stderr));
    files.sort();
    files.dedup();
    let _ = git.run(workdir, &["reset", "--quiet", "--hard", "HEAD"]);
    Err(PatchError::Conflict { files })
}

/// The paths `git apply` names in its errors ("error: patch failed: PATH:LINE",
/// "error: PATH: does not exist in index", "U PATH").
fn named_in(stderr: &str) -> Vec<String> {
    let mut files = Vec::new();
    for line in stderr.lines() {
        let line = line.trim();
        let named = line
            .strip_prefix("error: patch failed: ")
            .and_then(|r| r.rsplit_once(':').map(|(p, _)| p))
            .or_else(|| line.strip_prefix("error: ").and_then(|r| r.split_once(": ")).map(|(p, _)| p))
            .or_else(|| line.strip_prefix("U ").map(str::trim));
        if let Some(p) = named.filter(|p| !p.is_empty() && !p.contains(' ')) {
            files.push(p.to_string());
        }
    }
    files.sort();
    files.dedup();
    files
}

/// A pull request an agent opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrLink {
    pub number: u64,
    pub url: String,
}

impl PrLink {
    /// `https://github.com/o/r/pull/41` → 41.
    pub fn from_url(url: &str) -> Option<PrLink> {
        let tail = url.trim_end_matches('/').rsplit_once("/pull/")?.1;
        let digits: String = tail.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse().ok().map(|number| PrLink { number, url: url.to_string() })
    }
}

/// Where a remote run stands.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteState {
    /// Queued, planning or working. `detail` is the vendor's state for the record.
    Working { detail: String },
    /// Waiting on the user: a plan to approve, a question to answer.
    NeedsAttention { question: String },
    /// Done; the PR it opened, if any.
    Done { summary: String, pr: Option<PrLink> },
    Failed { reason: String },
}

impl RemoteState {
    pub fn is_terminal(&self) -> bool {
        matches!(self, RemoteState::Done { .. } | RemoteState::Failed { .. })
    }
}

/// One look at a run: its state, new progress lines, and a PR once it exists.
#[derive(Debug, Clone, PartialEq)]
pub struct Look {
    pub state: RemoteState,
    pub progress: Vec<String>,
    pub pr: Option<PrLink>,
}

impl Look {
    pub fn state(state: RemoteState) -> Look {
        Look { state, progress: Vec::new(), pr: None }
    }
}

/// A started remote run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Handle {
    /// The vendor's id (session, agent, issue number, task id).
    pub id: String,
    /// A page a person can open.
    pub url: Option<String>,
}

/// Per-watcher memory between looks (activities already reported, ...).
#[derive(Debug, Clone, Default)]
pub struct Cursor {
    pub seen: std::collections::HashSet<String>,
    pub pr_reported: bool,
    pub last_question: Option<String>,
}

impl Cursor {
    /// True the first time `key` is seen.
    pub fn first(&mut self, key: &str) -> bool {
        self.seen.insert(key.to_string())
    }
}

#[async_trait]
pub trait RemoteAgent: Send + Sync + 'static {
    /// The vendor, in words ("Jules").
    fn vendor(&self) -> &str;
    async fn launch(&self, req: &StartRequest) -> Result<Handle, RemoteError>;
    async fn look(&self, id: &str, cursor: &mut Cursor) -> Result<Look, RemoteError>;
    /// Continue the same run with an instruction. Returns the id to watch (usually the same).
    async fn follow_up(&self, id: &str, text: &str) -> Result<String, RemoteError>;
    /// Stop the run at the vendor. Stopping an ended run is `Ok`.
    async fn stop(&self, id: &str) -> Result<(), RemoteError>;
    /// What a cancel did, in words: "Jules run 7 was stopped". A vendor whose stop
    /// may not stop the work says so.
    fn stopped_words(&self, id: &str) -> String {
        format!("{} run {id} was stopped", self.vendor())
    }
    /// Whether a follow-up continues the same session (else it is a new run).
    fn resumes(&self) -> bool {
        true
    }
    /// The session a run id belongs to; follow-ups of one session share it.
    fn session_of(&self, id: &str) -> String {
        id.to_string()
    }
    /// The task's worktree for run `id` (at launch, a follow-up, and a re-attach after a
    /// restart): agents whose result is a patch (Codex cloud, a Jules change set) apply it there.
    fn attach_workdir(&self, id: &str, workdir: &std::path::Path) {
        let _ = (id, workdir);
    }
}

/// How a watcher polls.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub poll: Duration,
    /// Give up (and stop the run) after this long; `None` leaves it to the dispatcher.
    pub timeout: Option<Duration>,
    /// Consecutive transient errors (offline, 5xx after retries) before the run counts as failed.
    pub max_errors: u32,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions { poll: Duration::from_secs(60), timeout: None, max_errors: 10 }
    }
}

/// Watch one run until it ends, is cancelled, times out, or nobody listens.
pub async fn watch_run(
    agent: Arc<dyn RemoteAgent>,
    id: String,
    opts: WatchOptions,
    mut cancelled: watch::Receiver<bool>,
    poked: Arc<Notify>,
    tx: mpsc::Sender<AgentEvent>,
) {
    let vendor = agent.vendor().to_string();
    let started = tokio::time::Instant::now();
    let mut cursor = Cursor::default();
    let mut errors = 0u32;
    let mut last_detail = String::new();
    let session = agent.session_of(&id);
    if tx.send(AgentEvent::Started { pid: None, session_id: Some(session.clone()) }).await.is_err() {
        return;
    }
    let fail = |reason: String| AgentEvent::Failed { reason, log_tail: String::new() };
    loop {
        if *cancelled.borrow() {
            let _ = tx.send(fail(format!("cancelled: {}", agent.stopped_words(&id)))).await;
            return;
        }
        match agent.look(&id, &mut cursor).await {
            Ok(look) => {
                errors = 0;
                for line in look.progress {
                    if tx.send(AgentEvent::Progress(line)).await.is_err() {
                        return;
                    }
                }
                if let Some(pr) = look.pr.or_else(|| match &look.state {
                    RemoteState::Done { pr, .. } => pr.clone(),
                    _ => None,
                }) && !cursor.pr_reported
                {
                    cursor.pr_reported = true;
                    if tx.send(AgentEvent::PrOpened { number: pr.number, url: pr.url }).await.is_err() {
                        return;
                    }
                }
                match look.state {
                    RemoteState::Done { summary, .. } => {
                        let summary = if summary.trim().is_empty() { format!("{vendor} finished") } else { summary };
                        let _ = tx
                            .send(AgentEvent::Finished { summary: Some(summary), session_id: Some(session.clone()), cost_usd: None })
                            .await;
                        return;
                    }
                    RemoteState::Failed { reason } => {
                        let _ = tx.send(fail(reason)).await;
                        return;
                    }
                    RemoteState::NeedsAttention { question } => {
                        if cursor.last_question.as_deref() != Some(question.as_str()) {
                            cursor.last_question = Some(question.clone());
                            if tx.send(AgentEvent::NeedsAttention { question }).await.is_err() {
                                return;
                            }
                        }
                    }
                    RemoteState::Working { detail } => {
                        if cursor.last_question.take().is_some() && tx.send(AgentEvent::Resumed).await.is_err() {
                            return;
                        }
                        last_detail = detail;
                    }
                }
            }
            Err(e) if e.is_permanent() => {
                let _ = tx.send(fail(e.to_string())).await;
                return;
            }
            // A rate limit is no failure: say so, wait at least what the service asked (and a
            // minute), then look again. It does not count towards `max_errors`.
            Err(RemoteError::Http(HttpError::RateLimited { service, wait })) => {
                let wait = wait.max(Duration::from_secs(60));
                let line = format!("{service} rate limit reached; waiting {} s before looking at the {vendor} run again", wait.as_secs());
                if tx.send(AgentEvent::Progress(line)).await.is_err() {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = cancelled.changed() => {}
                    _ = tx.closed() => return,
                }
            }
            Err(e) => {
                errors += 1;
                if errors >= opts.max_errors.max(1) {
                    let _ = tx.send(fail(format!("{vendor} kept failing: {e}"))).await;
                    return;
                }
                if tx.send(AgentEvent::Progress(format!("{vendor} unreachable, retrying: {e}"))).await.is_err() {
                    return;
                }
            }
        }
        if let Some(limit) = opts.timeout
            && started.elapsed() + opts.poll > limit
        {
            let _ = agent.stop(&id).await;
            let state = if last_detail.is_empty() { String::new() } else { format!(", still {last_detail}") };
            let _ = tx.send(fail(format!("timed out after {}{state}", crate::config::Dur(limit)))).await;
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(opts.poll) => {}
            _ = poked.notified() => {}
            _ = cancelled.changed() => {}
            _ = tx.closed() => return,
        }
    }
}

/// A [`RemoteAgent`] behind the [`AgentBackend`] trait.
pub struct RemoteBackend {
    name: String,
    agent: Arc<dyn RemoteAgent>,
    opts: WatchOptions,
    /// The ids being watched now; an entry goes when its last watcher ends.
    watched: Arc<Mutex<HashMap<String, Watched>>>,
    generation: std::sync::atomic::AtomicU64,
}

/// What the watchers of one remote id share.
struct Watched {
    /// Set to stop them.
    cancel: watch::Sender<bool>,
    /// Wakes them for a look now (a webhook said the run changed).
    poke: Arc<Notify>,
    watchers: usize,
    /// A follow-up starts a new generation; an older watcher ending leaves it alone.
    generation: u64,
}

impl RemoteBackend {
    pub fn new(name: &str, agent: Arc<dyn RemoteAgent>, opts: WatchOptions) -> RemoteBackend {
        RemoteBackend {
            name: name.into(),
            agent,
            opts,
            watched: Arc::new(Mutex::new(HashMap::new())),
            generation: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// How many remote ids are being watched now.
    pub fn watching(&self) -> usize {
        self.watched.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn agent(&self) -> &Arc<dyn RemoteAgent> {
        &self.agent
    }

    fn spawn_watch(&self, id: &str) -> mpsc::Receiver<AgentEvent> {
        let (tx, rx) = mpsc::channel(64);
        let (cancel_rx, poked, generation) = {
            let mut map = self.watched.lock().unwrap_or_else(|p| p.into_inner());
            let w = map.entry(id.to_string()).or_insert_with(|| Watched {
                cancel: watch::channel(false).0,
                poke: Arc::new(Notify::new()),
                watchers: 0,
                generation: self.generation.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            });
            w.watchers += 1;
            (w.cancel.subscribe(), w.poke.clone(), w.generation)
        };
        let (agent, opts, watched, id) = (self.agent.clone(), self.opts.clone(), self.watched.clone(), id.to_string());
        tokio::spawn(async move {
            watch_run(agent, id.clone(), opts, cancel_rx, poked, tx).await;
            let mut map = watched.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(w) = map.get_mut(&id).filter(|w| w.generation == generation) {
                w.watchers = w.watchers.saturating_sub(1);
                if w.watchers == 0 {
                    map.remove(&id);
                }
            }
        });
        rx
    }

    fn run_ref(&self, task_id: i64, id: &str) -> RunRef {
        RunRef {
            task_id,
            remote_id: Some(id.to_string()),
            session_id: Some(self.agent.session_of(id)),
            ..RunRef::default()
        }
    }
}

fn run_id(run: &RunRef) -> Result<String, BackendError> {
    run.remote_id
        .clone()
        .or_else(|| run.session_id.clone())
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| BackendError::UnknownRun(format!("task {} has no remote id", run.task_id)))
}

#[async_trait]
impl AgentBackend for RemoteBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn supports_resume(&self) -> bool {
        self.agent.resumes()
    }

    async fn start(&self, req: StartRequest) -> Result<Launched, BackendError> {
        let handle = self.agent.launch(&req).await.map_err(|e| BackendError::Start {
            agent: self.name.clone(),
            message: e.to_string(),
        })?;
        if !req.workdir.as_os_str().is_empty() {
            self.agent.attach_workdir(&handle.id, &req.workdir);
        }
        let events = self.spawn_watch(&handle.id);
        Ok(Launched { run: self.run_ref(req.task_id, &handle.id), events })
    }

    async fn observe(&self, run: &RunRef) -> Result<mpsc::Receiver<AgentEvent>, BackendError> {
        let id = run_id(run)?;
        if let Some(w) = run.workdir.as_deref().filter(|w| !w.as_os_str().is_empty()) {
            self.agent.attach_workdir(&id, w);
        }
        Ok(self.spawn_watch(&id))
    }

    async fn follow_up(&self, previous: &RunRef, req: StartRequest) -> Result<Launched, BackendError> {
        let id = run_id(previous)?;
        let next = self.agent.follow_up(&id, &req.prompt).await.map_err(|e| BackendError::Start {
            agent: self.name.clone(),
            message: e.to_string(),
        })?;
        if !req.workdir.as_os_str().is_empty() {
            self.agent.attach_workdir(&next, &req.workdir);
        }
        // A fresh cancel flag: the earlier run's cancellation must not stop this one.
        self.watched.lock().unwrap_or_else(|p| p.into_inner()).remove(&next);
        let events = self.spawn_watch(&next);
        Ok(Launched { run: self.run_ref(req.task_id, &next), events })
    }

    async fn cancel(&self, run: &RunRef) -> Result<(), BackendError> {
        let id = run_id(run)?;
        if let Some(w) = self.watched.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
            let _ = w.cancel.send(true);
        }
        self.agent.stop(&id).await.map_err(BackendError::from)
    }

    async fn answer(&self, run: &RunRef, text: &str) -> Result<(), BackendError> {
        let id = run_id(run)?;
        self.agent.follow_up(&id, text).await.map(|_| ()).map_err(BackendError::from)
    }

    fn poke(&self, remote_id: &str) {
        if let Some(w) = self.watched.lock().unwrap_or_else(|p| p.into_inner()).get(remote_id) {
            w.poke.notify_one();
        }
    }
}

/// The one-paragraph task text remote agents receive: the rendered prompt, or
/// the title when there is none.
pub fn task_text(req: &StartRequest) -> String {
    if req.prompt.trim().is_empty() { req.title.clone() } else { req.prompt.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pr_numbers_come_from_urls() {
        assert_eq!(PrLink::from_url("https://github.com/o/r/pull/41").unwrap().number, 41);
        assert_eq!(PrLink::from_url("https://github.com/o/r/pull/41/").unwrap().number, 41);
        assert_eq!(PrLink::from_url("https://ghe.corp/o/r/pull/7#issuecomment-1").unwrap().number, 7);
        assert!(PrLink::from_url("https://github.com/o/r/issues/41").is_none());
        assert!(PrLink::from_url("").is_none());
    }
}

/// The backend for a remote `[agents.NAME]` entry (`kind` github-copilot, jules,
/// cursor or codex-cloud), polling at `[github] poll`. A missing token is not an
/// error here: starting a task then fails with "token missing or wrong: set $VAR".
pub fn backend_for(
    name: &str,
    agent: &crate::config::Agent,
    config: &crate::config::Config,
) -> Result<Arc<dyn AgentBackend>, String> {
    let remote: Arc<dyn RemoteAgent> = match agent.kind.as_str() {
        "github-copilot" => {
            let mut gh_cfg = config.github.clone();
            if !agent.api_url.is_empty() {
                gh_cfg.api_url = agent.api_url.clone();
            }
            if !agent.token_env.is_empty() {
                gh_cfg.token_env = agent.token_env.clone();
            }
            let gh = crate::github::GitHub::from_config(&gh_cfg).map_err(|e| format!("agent `{name}`: {e}"))?;
            Arc::new(
                super::copilot::Copilot::new(Arc::new(gh))
                    .with_instructions(&agent.instructions)
                    .with_start_grace(config.github.copilot_start_grace.get()),
            )
        }
        "jules" => Arc::new(
            super::jules::Jules::from_config(agent)
                .map_err(|e| format!("agent `{name}`: {e}"))?
                .with_plan_approval(agent.plan_approval),
        ),
        "cursor" => {
            let mut c = super::cursor::CursorAgents::from_config(agent).map_err(|e| format!("agent `{name}`: {e}"))?;
            let public = config.api.public_url.trim().trim_end_matches('/');
            if let (Some(secret), false) = (crate::github::http::token_from_env(&agent.webhook_secret_env), public.is_empty()) {
                match super::cursor::webhook_secret_problem(&agent.webhook_secret_env, secret.expose()) {
                    // Cursor refuses a launch whose webhook secret is too short: launch without it.
                    Some(why) => tracing::warn!(agent = %name, "{why}; the webhook stays off and capcom polls"),
                    None => c = c.with_webhook(&format!("{public}{}", super::cursor::WEBHOOK_PATH), secret),
                }
            }
            Arc::new(c)
        }
        "codex-cloud" => {
            Arc::new(super::codex_cloud::CodexCloud::from_config(agent).map_err(|e| format!("agent `{name}`: {e}"))?)
        }
        other => return Err(format!("agent `{name}` has an unknown kind `{other}`")),
    };
    let opts = WatchOptions { poll: config.github.poll.get().max(Duration::from_secs(1)), ..WatchOptions::default() };
    Ok(Arc::new(RemoteBackend::new(name, remote, opts)))
}

/// How a doctor finding reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckLevel {
    Ok,
    Warn,
    Fail,
}

/// One `capcom doctor` line about a remote agent or GitHub.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteCheck {
    pub level: CheckLevel,
    pub name: String,
    pub detail: String,
    pub fix: Option<String>,
}

fn finding(level: CheckLevel, name: &str, detail: impl Into<String>, fix: Option<String>) -> RemoteCheck {
    RemoteCheck { level, name: name.to_string(), detail: detail.into(), fix }
}

/// Quick, single-try calls: doctor reports, it does not wait out outages.
fn doctor_policy() -> crate::github::RetryPolicy {
    crate::github::RetryPolicy {
        max_retries: 0,
        max_rate_waits: 0,
        request_timeout: Some(Duration::from_secs(5)),
        ..crate::github::RetryPolicy::default()
    }
}

/// Turn a failed call into a finding: a bad token fails, being offline only warns.
fn from_error(name: &str, e: &RemoteError, env: &str, base: &str) -> RemoteCheck {
    match e {
        RemoteError::Http(HttpError::Unauthorized { .. }) => {
            finding(CheckLevel::Fail, name, e.to_string(), Some(format!("export {env}=<a valid token> before starting the daemon")))
        }
        RemoteError::Http(HttpError::Offline { .. }) => finding(
            CheckLevel::Warn,
            name,
            format!("offline? {e}"),
            Some(format!("check the network, or the api_url ({base})")),
        ),
        other => finding(CheckLevel::Warn, name, other.to_string(), None),
    }
}

fn token_env_or(agent: &crate::config::Agent, default: &str) -> String {
    if agent.token_env.is_empty() { default.to_string() } else { agent.token_env.clone() }
}

/// One cheap authenticated call per remote agent (and GitHub when a repo reviews
/// there): GitHub `GET /user`, Jules `GET /sessions?pageSize=1`, Cursor `GET /v0/me`;
/// Codex cloud: the CLI is on PATH and an environment is set. Never panics; offline warns.
pub async fn remote_checks(config: &crate::config::Config) -> Vec<RemoteCheck> {
    remote_checks_with(config, &crate::github::http::token_from_env).await
}

/// [`remote_checks`] with the tokens looked up by `token_from_env` (tests pass their own).
pub async fn remote_checks_with(
    config: &crate::config::Config,
    token_from_env: &(dyn Fn(&str) -> Option<crate::github::Secret> + Sync),
) -> Vec<RemoteCheck> {
    let mut out = Vec::new();
    let github_needed = config.repos.iter().any(|r| r.review == "github");
    let mut github_targets: Vec<(String, String, String)> = Vec::new();
    if github_needed {
        github_targets.push(("github".into(), config.github.api_url.clone(), config.github.token_env.clone()));
    }
    for (name, agent) in &config.agents {
        let label = format!("agent {name}");
        match agent.kind.as_str() {
            "github-copilot" => {
                let api = if agent.api_url.is_empty() { config.github.api_url.clone() } else { agent.api_url.clone() };
                github_targets.push((label, api, token_env_or(agent, &config.github.token_env)));
            }
            "jules" => {
                let env = token_env_or(agent, super::jules::DEFAULT_TOKEN_ENV);
                let Some(token) = token_from_env(&env) else {
                    out.push(finding(CheckLevel::Warn, &label, format!("${env} is not set"), Some(format!("export {env}=… (a Jules API key)"))));
                    continue;
                };
                match super::jules::Jules::new(&agent.api_url, Some(token), &env, doctor_policy()) {
                    Ok(j) => match j.ping().await {
                        Ok(()) => {
                            out.push(finding(CheckLevel::Ok, &label, format!("Jules API key in ${env} works"), None));
                            // Each GitHub repo must be connected to Jules (listed by `GET /sources`).
                            for slug in config.repos.iter().filter_map(|r| r.github_slug()) {
                                if let Err(e) = j.source_for(&slug).await {
                                    let fix = matches!(e, RemoteError::Config(_))
                                        .then(|| "install the Jules GitHub app for it at jules.google.com".to_string());
                                    out.push(finding(CheckLevel::Warn, &label, e.to_string(), fix));
                                }
                            }
                        }
                        Err(e) => out.push(from_error(&label, &e, &env, j.transport().base())),
                    },
                    Err(e) => out.push(finding(CheckLevel::Fail, &label, e.to_string(), Some("fix api_url".into()))),
                }
            }
            "cursor" => {
                let env = token_env_or(agent, super::cursor::DEFAULT_TOKEN_ENV);
                let Some(token) = token_from_env(&env) else {
                    out.push(finding(CheckLevel::Warn, &label, format!("${env} is not set"), Some(format!("export {env}=… (a Cursor API key)"))));
                    continue;
                };
                if !agent.webhook_secret_env.is_empty() {
                    let secret_env = &agent.webhook_secret_env;
                    match token_from_env(secret_env) {
                        None => out.push(finding(CheckLevel::Warn, &label, format!("${secret_env} (the webhook secret) is not set"), Some(format!("export {secret_env}=… (at least {} characters)", super::cursor::MIN_WEBHOOK_SECRET)))),
                        Some(s) => match super::cursor::webhook_secret_problem(secret_env, s.expose()) {
                            Some(why) => out.push(finding(CheckLevel::Fail, &label, why, Some(format!("put a secret of at least {} characters in ${secret_env}", super::cursor::MIN_WEBHOOK_SECRET)))),
                            None => out.push(finding(CheckLevel::Ok, &label, format!("the webhook secret in ${secret_env} is long enough"), None)),
                        },
                    }
                }
                match super::cursor::CursorAgents::new(&agent.api_url, Some(token), &env, doctor_policy()) {
                    Ok(c) => match c.me().await {
                        Ok(me) => {
                            let who = me.get("userEmail").and_then(|v| v.as_str()).unwrap_or("a Cursor user");
                            out.push(finding(CheckLevel::Ok, &label, format!("Cursor API key in ${env} belongs to {who}"), None))
                        }
                        Err(e) => out.push(from_error(&label, &e, &env, c.transport().base())),
                    },
                    Err(e) => out.push(finding(CheckLevel::Fail, &label, e.to_string(), Some("fix api_url".into()))),
                }
            }
            "codex-cloud" => {
                let program = agent.command.first().cloned().unwrap_or_else(|| "codex".into());
                let found = if program.contains('/') {
                    Some(std::path::PathBuf::from(&program)).filter(|p| p.is_file())
                } else {
                    std::env::var_os("PATH").and_then(|path| {
                        std::env::split_paths(&path).map(|d| d.join(&program)).find(|p| p.is_file())
                    })
                };
                match (found, agent.environment.trim().is_empty()) {
                    (None, _) => out.push(finding(CheckLevel::Warn, &label, format!("`{program}` is not on PATH"), Some("install the Codex CLI".into()))),
                    (Some(_), true) => out.push(finding(
                        CheckLevel::Fail,
                        &label,
                        "no `environment` set",
                        Some("set environment = \"ENV_ID\" under the agent".into()),
                    )),
                    (Some(p), false) => out.push(finding(
                        CheckLevel::Ok,
                        &label,
                        format!("{} (environment {})", p.display(), agent.environment),
                        None,
                    )),
                }
            }
            _ => {}
        }
    }
    for (label, api, env) in github_targets {
        let Some(token) = token_from_env(&env) else {
            out.push(finding(CheckLevel::Warn, &label, format!("${env} is not set"), Some(format!("export {env}=… (a GitHub token with repo access)"))));
            continue;
        };
        match crate::github::GitHub::new(&api, Some(token), &env, &config.github.merge_method, doctor_policy()) {
            Ok(gh) => match gh.whoami().await {
                Ok(user) => out.push(finding(CheckLevel::Ok, &label, format!("GitHub token in ${env} is {}", user.login), None)),
                Err(e) => out.push(from_error(&label, &RemoteError::Http(e), &env, &api)),
            },
            Err(e) => out.push(finding(CheckLevel::Fail, &label, e.to_string(), Some("fix [github] api_url".into()))),
        }
    }
    out
}
