//! GitHub as the place work is reviewed (`[[repos]] review = "github"`).
//!
//! - [`body`]: a pull request's text from the task spec and the local review (pure).
//! - [`publish`]: push a locally reviewed branch and open its PR, or find the one
//!   that is already open.
//! - [`settle`]: one poll of a PR → the task's state and a reason fit to be said (pure).
//! - [`Follower`]: follows every task handed to GitHub (a `pr_follow` event is the
//!   hand-over): its checks on the current head, conflicts, a merge or close on
//!   GitHub. Conditional requests make an unchanged PR cost no rate limit.
//!
//! The merge itself belongs to the merge gate ([`super::merge`]), bound to the
//! head SHA the user confirmed.

use crate::config::Repo;
use crate::git::Git;
use crate::github::{CheckResult, GitHub, HttpError, NewPull, PrReport, PullRequest, RepoSlug, Verdict};
use crate::review::Outcome;
use crate::store::{Store, Task, TaskState, TaskUpdate};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

/// The event that hands a task to the [`Follower`].
pub const FOLLOW_EVENT: &str = "pr_follow";

/// Paths listed in a PR body before "and N more".
const BODY_PATHS: usize = 20;

/// Backticks would end the code span a path sits in.
fn code(s: &str) -> String {
    format!("`{}`", s.replace('`', "'"))
}

/// The pull request's body: scope, acceptance criteria, constraints, the checks run
/// locally, the diff stat. `checks` are the local review's check lines.
pub fn body(task: &Task, outcome: &Outcome, checks: &[String]) -> String {
    let spec = &task.spec;
    let mut b = String::new();
    let _ = writeln!(b, "Task {} ({}), dispatched by capcom.", task.id, spec.kind.as_str());
    if !spec.scope.include.is_empty() || !spec.scope.exclude.is_empty() {
        b.push_str("\n### Scope\n");
        for p in &spec.scope.include {
            let _ = writeln!(b, "- in: {}", code(p));
        }
        for p in &spec.scope.exclude {
            let _ = writeln!(b, "- not: {}", code(p));
        }
    }
    if !spec.acceptance.is_empty() {
        b.push_str("\n### Acceptance criteria\n");
        for c in &spec.acceptance {
            match c.check.as_deref().filter(|n| !n.trim().is_empty()) {
                Some(n) => {
                    let _ = writeln!(b, "- {} (check {})", c.text, code(n));
                }
                None => {
                    let _ = writeln!(b, "- {}", c.text);
                }
            }
        }
    }
    if !spec.constraints.is_empty() {
        b.push_str("\n### Constraints\n");
        for c in &spec.constraints {
            let _ = writeln!(b, "- {c}");
        }
    }
    b.push_str("\n### Checks run locally\n");
    if checks.is_empty() {
        b.push_str("- none configured for this task\n");
    }
    for c in checks {
        let _ = writeln!(b, "- {c}");
    }
    if outcome.manual > 0 {
        let _ = writeln!(b, "- {} criteria to check by hand", outcome.manual);
    }
    let d = &outcome.diffstat;
    let _ = writeln!(
        b,
        "\n### Changes\n{} file{} changed, {} insertion{}(+), {} deletion{}(-)",
        d.files,
        if d.files == 1 { "" } else { "s" },
        d.insertions,
        if d.insertions == 1 { "" } else { "s" },
        d.deletions,
        if d.deletions == 1 { "" } else { "s" },
    );
    for p in d.paths.iter().take(BODY_PATHS) {
        let _ = writeln!(b, "- {}", code(p));
    }
    if d.paths.len() > BODY_PATHS {
        let _ = writeln!(b, "- and {} more", d.paths.len() - BODY_PATHS);
    }
    b
}

/// Where a PR leaves its task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub state: TaskState,
    pub reason: String,
}

/// A PR report → the task's state. `quiet_for` is how long polls in a row have seen
/// no check at all on this head; `grace` is `[github] checks_grace`. A just-opened PR
/// has no checks yet, so it waits in `checking`; after the grace, a PR on which nothing
/// ran needs attention: an empty set of checks is never green.
pub fn settle(r: &PrReport, quiet_for: Duration, grace: Duration) -> Settled {
    let n = r.number;
    let s = |state, reason: String| Settled { state, reason };
    if r.merged {
        return s(TaskState::Merged, format!("pull request {n} was merged on GitHub"));
    }
    if r.state == "closed" {
        return s(TaskState::NeedsAttention, format!("pull request {n} was closed without merging"));
    }
    match &r.verdict {
        v @ Verdict::Failing { .. } => {
            return s(TaskState::NeedsAttention, format!("pull request {n}: {}", v.spoken()));
        }
        Verdict::NeedsApproval { runs } => {
            return s(
                TaskState::NeedsAttention,
                format!("Actions on PR {n} wait for your approval on GitHub ({})", runs.join(", ")),
            );
        }
        _ if r.mergeable == Some(false) || r.mergeable_state.as_deref() == Some("dirty") => {
            return s(TaskState::NeedsAttention, format!("pull request {n} has conflicts with its base branch"));
        }
        v @ Verdict::Pending { .. } => return s(TaskState::Checking, format!("pull request {n}: {}", v.spoken())),
        Verdict::NoChecks if quiet_for < grace => {
            return s(TaskState::Checking, format!("pull request {n}: waiting for checks to report"));
        }
        Verdict::NoChecks => {
            return s(
                TaskState::NeedsAttention,
                format!("no checks have run on PR {n}; untested work can't be merged"),
            );
        }
        Verdict::Green { .. } => {}
    }
    let draft = if r.draft { " (a draft)" } else { "" };
    s(TaskState::Ready, format!("pull request {n}{draft}: {}", r.verdict.spoken()))
}

/// Push the task's branch to the repo's remote (`--force-with-lease`: a retry may
/// rewrite capcom's own branch, never commits someone else pushed meanwhile).
pub async fn push(git: Arc<dyn Git>, repo: &Repo, branch: &str) -> Result<(), String> {
    let dir = PathBuf::from(&repo.path);
    let remote = if repo.remote.trim().is_empty() { "origin".to_string() } else { repo.remote.clone() };
    let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
    let r = remote.clone();
    let out = tokio::task::spawn_blocking(move || git.run(&dir, &["push", "--porcelain", "--force-with-lease", &r, &refspec]))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    if out.code == 0 {
        return Ok(());
    }
    let detail = out.stderr.lines().chain(out.stdout.lines()).map(str::trim).find(|l| l.starts_with('!') || l.contains("error"));
    Err(format!("could not push {branch} to {remote}: {}", detail.unwrap_or(out.stderr.trim())))
}

/// Push a locally reviewed branch and open its PR (or find the open one).
pub async fn publish(
    git: Arc<dyn Git>,
    gh: &GitHub,
    repo: &Repo,
    slug: &RepoSlug,
    task: &Task,
    body: String,
) -> Result<PullRequest, String> {
    let branch = task.branch.clone().ok_or_else(|| format!("task {} has no branch to push", task.id))?;
    push(git, repo, &branch).await?;
    if let Some(n) = task.pr {
        return gh.pull(slug, n).await.map_err(|e| e.to_string());
    }
    let new = NewPull { title: task.title.clone(), head: branch.clone(), base: repo.base.clone(), body, draft: false };
    match gh.create_pull(slug, &new).await {
        Ok(pr) => Ok(pr),
        // 422 "A pull request already exists": use it.
        Err(HttpError::Unprocessable { message, .. }) => match gh.open_pull_for_branch(slug, &branch).await {
            Ok(Some(pr)) => Ok(pr),
            Ok(None) => Err(format!("GitHub refused the pull request: {message}")),
            Err(e) => Err(e.to_string()),
        },
        Err(e) => Err(e.to_string()),
    }
}

/// Whether the task's latest hand-over is to GitHub (not a local review since).
pub fn followed(store: &Store, id: i64) -> bool {
    store
        .events(id)
        .map(|evs| evs.iter().rev().find(|e| e.kind == FOLLOW_EVENT || e.kind == "review").is_some_and(|e| e.kind == FOLLOW_EVENT))
        .unwrap_or(false)
}

/// Follows the PRs of tasks handed to GitHub.
pub struct Follower {
    store: Store,
    config: crate::config::Live,
    gh: Arc<GitHub>,
    /// Per task: the head last seen and since when polls in a row saw no checks on it.
    quiet: HashMap<i64, (String, Option<Instant>)>,
    /// Per task: the check results last recorded.
    recorded: HashMap<i64, Vec<CheckResult>>,
    /// Per task: the last error recorded, so a lasting outage is one event.
    errors: HashMap<i64, String>,
}

impl Follower {
    pub fn new(store: Store, config: impl Into<crate::config::Live>, gh: Arc<GitHub>) -> Follower {
        Follower { store, config: config.into(), gh, quiet: HashMap::new(), recorded: HashMap::new(), errors: HashMap::new() }
    }

    fn slug_of(&self, task: &Task) -> Option<RepoSlug> {
        let name = task.repo.as_deref().or(task.spec.repo.as_deref())?;
        self.config.get().repo(name)?.github_slug()
    }

    /// Poll every followed task once. Returns how many were looked at.
    pub async fn poll_once(&mut self) -> usize {
        let open = [TaskState::Checking, TaskState::Ready, TaskState::NeedsAttention];
        let tasks = match self.store.tasks_in(&open) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the tasks to follow on GitHub");
                return 0;
            }
        };
        let mut looked = 0;
        for task in tasks {
            let (Some(n), Some(slug)) = (task.pr, self.slug_of(&task)) else { continue };
            if !followed(&self.store, task.id) {
                continue;
            }
            looked += 1;
            match self.gh.report(&slug, n).await {
                Ok(report) => {
                    self.errors.remove(&task.id);
                    self.apply(&task, &report);
                }
                Err(e) => {
                    let msg = format!("cannot read pull request {n}: {e}");
                    if self.errors.get(&task.id) != Some(&msg) {
                        tracing::warn!(task = task.id, "{msg}");
                        let _ = self.store.add_event(Some(task.id), "pr_error", &msg, None);
                        self.errors.insert(task.id, msg);
                    }
                }
            }
        }
        looked
    }

    fn apply(&mut self, task: &Task, report: &PrReport) {
        let id = task.id;
        let now = Instant::now();
        let quiet = self.quiet.entry(id).or_insert_with(|| (report.head_sha.clone(), None));
        if quiet.0 != report.head_sha {
            *quiet = (report.head_sha.clone(), None);
        }
        let quiet_for = if report.verdict == Verdict::NoChecks {
            now.duration_since(*quiet.1.get_or_insert(now))
        } else {
            quiet.1 = None;
            Duration::ZERO
        };
        let settled = settle(report, quiet_for, self.config.get().github.checks_grace.get());
        if task.head_sha.as_deref() != Some(report.head_sha.as_str()) && !report.head_sha.is_empty() {
            let _ = self.store.update_task(id, &TaskUpdate { head_sha: Some(report.head_sha.clone()), ..TaskUpdate::default() });
        }
        if self.recorded.get(&id) != Some(&report.checks) {
            let before = self.recorded.get(&id).cloned().unwrap_or_default();
            for c in report.checks.iter().filter(|c| !before.contains(c)) {
                let msg = format!("GitHub check `{}` {}", c.name, if c.ok { "passed" } else { "failed" });
                let data = serde_json::json!({"name": c.name, "ok": c.ok, "source": "github", "head": report.head_sha});
                let _ = self.store.add_event(Some(id), "check", &msg, Some(&data));
            }
            self.recorded.insert(id, report.checks.clone());
        }
        if settled.state == task.state && task.reason.as_deref() == Some(settled.reason.as_str()) {
            return;
        }
        let data = serde_json::json!({"pr": report.number, "head": report.head_sha, "verdict": report.verdict, "mergeable": report.mergeable});
        let _ = self.store.add_event(Some(id), "pr_checks", &settled.reason, Some(&data));
        match self.store.transition(id, Some(&[task.state]), settled.state, Some(&settled.reason)) {
            Ok(_) => {
                if settled.state == TaskState::Merged {
                    let _ = self.store.audit("merge", Some(id), "github", Some(&settled.reason));
                }
            }
            Err(e) => tracing::debug!(task = id, error = %e, "the task moved while its PR was read"),
        }
        if settled.state.is_closed() {
            self.quiet.remove(&id);
            self.recorded.remove(&id);
        }
    }

    /// Poll every `[github] poll`, and at once when nudged (a PR was just opened).
    pub async fn run(mut self, nudge: Arc<Notify>, mut stop: watch::Receiver<bool>) {
        let every = self.config.get().github.poll.get().max(std::time::Duration::from_millis(100));
        loop {
            self.poll_once().await;
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = nudge.notified() => {}
                r = stop.changed() => if r.is_err() || *stop.borrow() { return },
            }
        }
    }
}

#[cfg(test)]
mod tests;
