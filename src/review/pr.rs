//! GitHub as the place work is reviewed (`[[repos]] review = "github"`).
//!
//! - [`body`]: a pull request's text from the task spec and the local review (pure).
//! - [`publish`]: push a locally reviewed branch and open its PR, or find the one
//!   that is already open.
//! - [`settle`]: one poll of a PR → the task's state and a reason fit to be said (pure).
//! - [`review_head`]: capcom's own review of a PR's head, the same for every agent:
//!   the PR is fetched (`git fetch REMOTE pull/N/head`) and the scope guard and the
//!   blob secret scan run on every commit of it, as for a local task.
//! - [`Follower`]: follows every task handed to GitHub (a `pr_follow` event is the
//!   hand-over): its checks on the current head, capcom's own review of that head,
//!   conflicts, a merge or close on GitHub. Conditional requests make an unchanged PR
//!   cost no rate limit.
//!
//! The merge itself belongs to the merge gate ([`super::merge`]), bound to the
//! head SHA the user confirmed.

use crate::config::{Config, Repo};
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

/// The event [`review_head`] records: `{pr, head, clean, violations, secrets}`.
pub const REVIEW_EVENT: &str = "pr_review";

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
    // GitHub's own merge rules for the base branch: every required check passed on this head,
    // the branch not behind, nothing else blocking.
    let missing = r.missing_required();
    let base = if r.base.is_empty() { "the base branch" } else { r.base.as_str() };
    if r.mergeable_state.as_deref() == Some("behind") {
        return s(TaskState::Checking, format!("pull request {n}: {base} moved; capcom will update the branch"));
    }
    if let Some(name) = missing.first() {
        if quiet_for < grace {
            return s(TaskState::Checking, format!("pull request {n}: waiting for the required check {name}"));
        }
        return s(TaskState::NeedsAttention, format!("pull request {n} is blocked: a required check is missing: {name}"));
    }
    match r.mergeable_state.as_deref() {
        Some("blocked") => return s(TaskState::NeedsAttention, format!("pull request {n} is blocked: it needs an approving review")),
        Some("unstable") => {
            return s(TaskState::Checking, format!("pull request {n}: GitHub reports a check on it that has not passed yet"));
        }
        _ => {}
    }
    let draft = if r.draft { " (a draft)" } else { "" };
    let queue = if r.rules.merge_queue { format!("; {base} merges through its merge queue") } else { String::new() };
    s(TaskState::Ready, format!("pull request {n}{draft}: {}{queue}", r.verdict.spoken()))
}

/// Why GitHub's rules keep a PR from merging now, if they do (the merge gate asks and merges
/// only when this is `None`): a required check that has not passed on the head, a branch
/// behind its base, a PR GitHub reports blocked.
pub fn rules_refusal(r: &PrReport) -> Option<String> {
    let n = r.number;
    let base = if r.base.is_empty() { "the base branch" } else { r.base.as_str() };
    if let Some(name) = r.missing_required().first() {
        return Some(format!("Pull request {n} is blocked: a required check is missing: {name}"));
    }
    match r.mergeable_state.as_deref() {
        Some("behind") => Some(format!("Pull request {n} is behind {base}; capcom will update the branch, then its checks run again")),
        Some("blocked") => Some(format!("Pull request {n} is blocked: it needs an approving review")),
        Some("dirty") => Some(format!("Pull request {n} has conflicts with its base branch")),
        _ => None,
    }
}

/// The event the merge gate writes when it puts a PR in a merge queue (`{pr, head}`).
pub const QUEUE_EVENT: &str = "merge_queue";

/// What capcom's own review found on one head of a PR.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadReview {
    pub head: String,
    /// `None` when the scope and the secret scan found nothing; else the reason, in the words
    /// a local review uses ("1 file outside the scope: app/page.txt; a possible …").
    pub problem: Option<String>,
}

fn remote_of(repo: &Repo) -> String {
    if repo.remote.trim().is_empty() { "origin".to_string() } else { repo.remote.clone() }
}

/// capcom's own review of pull request `n` at `head`, whoever opened it: fetch the PR's head
/// and the base branch from the repo's remote (`pull/N/head` is the ref GitHub keeps for every
/// PR), then run the scope guard on the files the PR changes and the blob secret scan on every
/// commit of the PR. The result is recorded as a [`REVIEW_EVENT`] plus the `scope` and
/// `secret` events a local review records. `Err` when the PR could not be fetched, or its
/// fetched head is not `head` (it moved: read it again).
pub fn review_head(git: &dyn Git, store: &Store, config: &Config, repo: &Repo, task: &Task, n: u64, head: &str) -> Result<HeadReview, String> {
    let dir = PathBuf::from(&repo.path);
    let remote = remote_of(repo);
    let pr_ref = format!("refs/capcom/pull/{n}/head");
    let base_ref = format!("refs/capcom/pull/{n}/base");
    let specs = [format!("+refs/pull/{n}/head:{pr_ref}"), format!("+refs/heads/{}:{base_ref}", repo.base)];
    let out = git
        .run(&dir, &["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", &remote, &specs[0], &specs[1]])
        .map_err(|e| e.to_string())?;
    if out.code != 0 {
        let line = out.stderr.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("").to_string();
        return Err(format!("cannot fetch pull request {n} from {remote} to review it: {line}"));
    }
    let fetched = git.ok(&dir, &["rev-parse", "--verify", &format!("{pr_ref}^{{commit}}")]).map_err(|e| e.to_string())?;
    if fetched != head {
        return Err(format!("pull request {n} moved while it was read (now {})", fetched.get(..7).unwrap_or(&fetched)));
    }
    let base = git.ok(&dir, &["merge-base", &base_ref, head]).map_err(|e| format!("pull request {n} shares no history with {}: {e}", repo.base))?;
    let changed = git.ok(&dir, &["diff", "--name-only", "--no-renames", "-z", &base, head]).map_err(|e| e.to_string())?;
    let changed: Vec<String> = changed.split('\0').filter(|s| !s.is_empty()).map(String::from).collect();
    let violations = crate::review::scope::violations(&task.spec.scope, &changed);
    let (allow, _) = crate::review::secrets::compile_allow(&config.review.secret_allow);
    let found = crate::review::secrets::scan_branch(git, &dir, &base, head, &allow).map_err(|e| e.to_string())?;
    let mut problems = Vec::new();
    let scope_msg = if violations.is_empty() {
        "every change is inside the scope".to_string()
    } else {
        let shown: Vec<String> = violations.iter().take(5).cloned().collect();
        let more = if violations.len() > 5 { format!(" and {} more", violations.len() - 5) } else { String::new() };
        let files = if violations.len() == 1 { "1 file".to_string() } else { format!("{} files", violations.len()) };
        format!("{files} outside the scope: {}{more}", shown.join(", "))
    };
    if !violations.is_empty() {
        problems.push(scope_msg.clone());
    }
    // Every commit of a PR stays readable on GitHub (`pull/N/head`), whatever the merge
    // method: a key in its history is a finding even when a later commit removed it.
    let secret_msg = crate::review::secrets_message(&found, false);
    if !found.is_empty() {
        problems.push(secret_msg.clone());
    }
    let tag = serde_json::json!({"pr": n, "head": head});
    let _ = store.add_event(Some(task.id), "scope", &format!("pull request {n}: {scope_msg}"), Some(&serde_json::json!({"violations": violations, "pr": n, "head": head, "include": task.spec.scope.include, "exclude": task.spec.scope.exclude})));
    let _ = store.add_event(Some(task.id), "secret", &format!("pull request {n}: {secret_msg}"), Some(&serde_json::json!({"findings": found, "pr": n, "head": head})));
    let problem = (!problems.is_empty()).then(|| {
        let r = problems.join("; ");
        let mut c = r.chars();
        c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or(r)
    });
    let msg = match &problem {
        None => format!("capcom reviewed pull request {n} at {}: scope and secrets clean", head.get(..7).unwrap_or(head)),
        Some(p) => format!("capcom reviewed pull request {n} at {}: {p}", head.get(..7).unwrap_or(head)),
    };
    let mut data = tag;
    data["clean"] = serde_json::json!(problem.is_none());
    data["problem"] = serde_json::json!(problem);
    let _ = store.add_event(Some(task.id), REVIEW_EVENT, &msg, Some(&data));
    Ok(HeadReview { head: head.to_string(), problem })
}

/// What capcom's own review of pull request `n` at `head` found, when it ran: `Ok` when
/// nothing, else the problem in words. `None` when no review of that head is recorded.
pub fn review_of(store: &Store, task: i64, n: u64, head: &str) -> Option<Result<(), String>> {
    let last = store.events(task).ok().and_then(|evs| {
        evs.into_iter().rev().find(|e| e.kind == REVIEW_EVENT && e.data.as_ref().is_some_and(|d| d["pr"] == n && d["head"] == head))
    })?;
    let d = last.data?;
    Some(if d["clean"] == true { Ok(()) } else { Err(d["problem"].as_str().unwrap_or("capcom's review of it found a problem").to_string()) })
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
    /// For capcom's own review of each PR head.
    git: Arc<dyn Git>,
    /// Per task: the last head reviewed and what the review found.
    reviews: HashMap<i64, HeadReview>,
    /// Per task: the head `update-branch` was asked for (once per head), and why it failed.
    updated: HashMap<i64, (String, Option<String>)>,
}

impl Follower {
    pub fn new(store: Store, config: impl Into<crate::config::Live>, gh: Arc<GitHub>) -> Follower {
        Follower {
            store,
            config: config.into(),
            gh,
            quiet: HashMap::new(),
            recorded: HashMap::new(),
            errors: HashMap::new(),
            git: Arc::new(crate::git::GitCli),
            reviews: HashMap::new(),
            updated: HashMap::new(),
        }
    }

    /// capcom's own review of an open PR's current head, once per head.
    async fn review(&mut self, task: &Task, report: &PrReport) -> Result<HeadReview, String> {
        if let Some(r) = self.reviews.get(&task.id).filter(|r| r.head == report.head_sha) {
            return Ok(r.clone());
        }
        let name = task.repo.as_deref().or(task.spec.repo.as_deref()).unwrap_or_default();
        let config = self.config.get();
        let repo = config.repo(name).cloned().ok_or_else(|| format!("task {} has no configured repo", task.id))?;
        let (git, store, config, task2, n, head) =
            (self.git.clone(), self.store.clone(), config.clone(), task.clone(), report.number, report.head_sha.clone());
        let r = tokio::task::spawn_blocking(move || review_head(git.as_ref(), &store, &config, &repo, &task2, n, &head))
            .await
            .map_err(|e| e.to_string())??;
        self.reviews.insert(task.id, r.clone());
        Ok(r)
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
            // A task someone else moved to `checking` meanwhile (the merge train bringing it up
            // to date) is theirs until they hand it back with a new `pr_follow`; every
            // `checking` reason the follower and the hand-over write starts "pull request".
            if task.state == TaskState::Checking && !task.reason.as_deref().unwrap_or("").starts_with("pull request") {
                continue;
            }
            looked += 1;
            match self.gh.report_with_rules(&slug, n).await {
                Ok(report) => {
                    self.errors.remove(&task.id);
                    let open = !report.merged && report.state != "closed" && !report.head_sha.is_empty();
                    if open && self.queued(&task, &report) {
                        self.follow_queue(&task, &slug, &report).await;
                        continue;
                    }
                    let review = if open { Some(self.review(&task, &report).await) } else { None };
                    let stuck = if open && report.mergeable_state.as_deref() == Some("behind") {
                        self.update_branch(&task, &slug, &report).await
                    } else {
                        None
                    };
                    self.apply_reviewed(&task, &report, review, stuck);
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

    /// Whether the gate put this PR's current head in its merge queue (and it is still open).
    fn queued(&self, task: &Task, report: &PrReport) -> bool {
        self.store
            .events(task.id)
            .ok()
            .and_then(|evs| evs.into_iter().rev().find(|e| e.kind == QUEUE_EVENT || e.kind == FOLLOW_EVENT))
            .is_some_and(|e| e.kind == QUEUE_EVENT && e.data.is_some_and(|d| d["pr"] == report.number && d["head"] == report.head_sha.as_str()))
    }

    /// A PR in the merge queue: the task stays `checking` until GitHub merges it (the next
    /// read says merged) or the queue drops it, which needs attention.
    async fn follow_queue(&mut self, task: &Task, slug: &RepoSlug, report: &PrReport) {
        let n = report.number;
        let (state, reason) = match self.gh.in_merge_queue(slug, n).await {
            Ok(true) => (TaskState::Checking, format!("pull request {n} is in the merge queue")),
            Ok(false) => (TaskState::NeedsAttention, format!("pull request {n} left the merge queue without merging")),
            Err(e) => {
                tracing::warn!(task = task.id, error = %e, "cannot read the merge queue");
                return;
            }
        };
        // The task as it is now, not as this tick read it before asking GitHub: the gate moves
        // it `ready` → `checking` right after queueing it, and the queue can drop the PR before
        // that read is answered. Moving it from the state read earlier would fail, while the
        // event below said the queue was done, and the PR would be followed as before: `ready`
        // again, though it left the queue unmerged.
        let Ok(task) = self.store.task(task.id) else { return };
        if task.state == state && task.reason.as_deref() == Some(reason.as_str()) {
            return;
        }
        if task.state == TaskState::Checking && !task.reason.as_deref().unwrap_or("").starts_with("pull request") {
            return;
        }
        match self.store.transition(task.id, Some(&[task.state]), state, Some(&reason)) {
            Ok(_) if state == TaskState::NeedsAttention => {
                // The queue is done with this head: the PR is followed as before.
                let _ = self.store.add_event(Some(task.id), FOLLOW_EVENT, &reason, Some(&serde_json::json!({"pr": n})));
            }
            Ok(_) => {}
            // moved meanwhile: the next read decides
            Err(e) => tracing::debug!(task = task.id, error = %e, "the task moved while its merge queue was read"),
        }
    }

    /// A PR `behind` its base: ask GitHub to merge the base into it, once per head. The new
    /// head's checks are then followed like any other. Why it could not be updated, if so.
    async fn update_branch(&mut self, task: &Task, slug: &RepoSlug, report: &PrReport) -> Option<String> {
        if let Some((head, failed)) = self.updated.get(&task.id)
            && *head == report.head_sha
        {
            return failed.clone();
        }
        let n = report.number;
        let base = if report.base.is_empty() { "the base branch" } else { report.base.as_str() };
        let (msg, data, failed) = match self.gh.update_branch(slug, n, &report.head_sha).await {
            Ok(()) => (
                format!("{base} moved: asked GitHub to update pull request {n}'s branch"),
                serde_json::json!({"pr": n, "head": report.head_sha}),
                None,
            ),
            Err(e) => {
                let why = format!("{base} moved, and GitHub could not update pull request {n}'s branch: {e}");
                (why.clone(), serde_json::json!({"pr": n, "error": e.to_string()}), Some(why))
            }
        };
        self.updated.insert(task.id, (report.head_sha.clone(), failed.clone()));
        let _ = self.store.add_event(Some(task.id), "pr_update", &msg, Some(&data));
        failed
    }

    /// One read of a PR → its task. `review` is capcom's own review of the PR's head (scope,
    /// secrets): a finding, or a head it could not review, keeps the task from `ready`.
    /// `stuck` says why a PR behind its base could not be updated.
    fn apply_reviewed(&mut self, task: &Task, report: &PrReport, review: Option<Result<HeadReview, String>>, stuck: Option<String>) {
        let id = task.id;
        let now = Instant::now();
        let quiet = self.quiet.entry(id).or_insert_with(|| (report.head_sha.clone(), None));
        if quiet.0 != report.head_sha {
            *quiet = (report.head_sha.clone(), None);
        }
        let waiting = report.verdict == Verdict::NoChecks || (report.verdict.is_green() && !report.missing_required().is_empty());
        let quiet_for = if waiting {
            now.duration_since(*quiet.1.get_or_insert(now))
        } else {
            quiet.1 = None;
            Duration::ZERO
        };
        let mut settled = settle(report, quiet_for, self.config.get().github.checks_grace.get());
        if matches!(settled.state, TaskState::Ready | TaskState::Checking) {
            match review {
                Some(Ok(HeadReview { problem: Some(p), .. })) => {
                    settled = Settled { state: TaskState::NeedsAttention, reason: format!("pull request {}: {p}", report.number) };
                }
                // A head that moved while it was read is read again on the next poll; a PR that
                // cannot be fetched at all is said.
                Some(Err(e)) if e.contains("moved while it was read") => {
                    settled = Settled { state: TaskState::Checking, reason: e };
                }
                Some(Err(e)) => settled = Settled { state: TaskState::NeedsAttention, reason: e },
                _ => {}
            }
        }
        if let Some(why) = stuck.filter(|_| settled.state == TaskState::Checking) {
            settled = Settled { state: TaskState::NeedsAttention, reason: why };
        }
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
