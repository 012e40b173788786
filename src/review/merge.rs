//! The merge gate: only a confirmation merges, it names its task, it is bound to
//! the head SHA it asked about, and it expires (`[dispatch] confirm_ttl`).
//!
//! `propose` makes a [`Pending`] (question, short code, head, expiry); the
//! coordinator keeps it. `confirm` merges only when the confirmation is live, the
//! task is `ready`, the branch head still equals the SHA asked about, and the base
//! merges without conflict (a conflict moves the task to `needs_attention`). Every
//! other refusal says why and changes nothing.
//!
//! The new base commit is made with plumbing (`git merge-tree --write-tree`,
//! `git commit-tree`) and the base branch is moved with `git update-ref NEW OLD`, which
//! fails if the branch moved meanwhile. If the base branch is checked out in one of the
//! user's worktrees (the main one or a linked one), that checkout must have no tracked
//! changes, and its index and files move with the ref, as git itself does for a push to
//! a checked-out branch with `receive.denyCurrentBranch = updateInstead`: a two-way
//! `git read-tree -m -u OLD NEW`. It is tried first with `-n` (nothing written); when it
//! would overwrite an untracked or changed file, nothing is merged and the reason names it.
//!
//! The merge is made crash-safe the way a database makes a two-step commit: the intent
//! (old and new commit, the checkouts) is written to the store before the ref moves, and
//! the bookkeeping (checkouts, worktree, branch, `merged`) is finished after. On start,
//! [`Gate::finish_interrupted`] finishes a merge whose ref moved: a `ready` task whose
//! base holds its intent's commit, or its head, becomes `merged` with that commit.
//!
//! A task whose work is a pull request on GitHub (its repo has `github = "o/n"` and
//! the task has a PR) is asked about and merged through the API instead: the
//! question is bound to the PR's head SHA with its checks green, and the merge is
//! `PUT /pulls/{n}/merge` with that SHA, so a push in between is refused (409) by
//! GitHub as well as by the gate. Branch protection and required reviews (405) are
//! reported, never bypassed. [`Gate::ask`] and [`Gate::merge`] pick the way.

use super::gate;
use crate::config::{Config, Repo};
use crate::git::{self as worktree, Git};
use crate::github::{GitHub, RepoSlug};
use crate::store::{Store, Task, TaskState};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::time::Instant;

/// What "confirm" will do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    #[default]
    Merge,
    /// Merge every task in `batch`, each through the gate with its own head.
    MergeAll,
    /// Cancel `task` (its agent is stopped).
    Cancel,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Merge => "merge",
            Action::MergeAll => "merge_all",
            Action::Cancel => "cancel",
        }
    }

    fn is_merge(&self) -> bool {
        *self == Action::Merge
    }
}

/// A question waiting for "confirm": one owner (the coordinator), one use, an expiry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pending {
    pub question: String,
    pub code: String,
    pub task: i64,
    /// The head SHA a merge is bound to (empty for a cancel).
    pub head: String,
    /// The base branch's commit when asked (local merges): the head was reviewed against it.
    /// A question whose base moved is withdrawn and asked again.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub base: String,
    /// The change asked about, as `git patch-id --stable` of `git diff -U0 base...head`. In a
    /// merge train a head rebased by the train itself is still this change when its patch-id
    /// matches and its re-run checks are green.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    /// The pull request the question is about, when the merge goes through GitHub.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pr: Option<u64>,
    #[serde(skip_serializing_if = "Action::is_merge")]
    pub action: Action,
    /// With `MergeAll`: one head-bound question per task.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub batch: Vec<Pending>,
    /// No automated check ran on this change: a plain "confirm" does not merge it, only
    /// the stronger "confirm without checks" (`capcom confirm --no-checks CODE`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_checks: bool,
    /// Set by the coordinator when the user gave that stronger confirmation.
    #[serde(skip)]
    pub without_checks: bool,
    pub expires_at: DateTime<Utc>,
    #[serde(skip)]
    pub deadline: Instant,
}

impl Pending {
    /// A question with a fresh code, valid for `ttl`; a merge sets its `head` (and `pr`).
    pub fn about(action: Action, task: i64, question: String, now: DateTime<Utc>, clock: Instant, ttl: std::time::Duration) -> Pending {
        Pending {
            question,
            code: new_code(),
            task,
            head: String::new(),
            base: String::new(),
            patch: None,
            pr: None,
            action,
            batch: Vec::new(),
            no_checks: false,
            without_checks: false,
            expires_at: now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(30)),
            deadline: clock + ttl,
        }
    }
}

/// What the merge question says about work no automated check ran on.
pub const NO_CHECK_RAN: &str = "No automated check ran on this change.";

/// Why nothing was merged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    pub reason: String,
    /// The task was moved to `needs_attention` (a merge conflict).
    pub needs_attention: bool,
    /// The base moved since the head was reviewed (or since the question): bring the task
    /// up to date, check it again and ask again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
}

impl Refusal {
    fn no(reason: impl Into<String>) -> Refusal {
        Refusal { reason: reason.into(), needs_attention: false, stale: false }
    }
    fn stale(reason: impl Into<String>) -> Refusal {
        Refusal { reason: reason.into(), needs_attention: false, stale: true }
    }
}

/// A merge that happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Merged {
    pub task: i64,
    pub base: String,
    pub old: String,
    pub new: String,
    pub method: String,
    /// Something the user should know (their checkout of the base branch).
    pub note: Option<String>,
    /// The pull request merged through GitHub.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pr: Option<u64>,
    /// The pull request was put in its base branch's merge queue, not merged yet: GitHub
    /// merges it when the queue's checks pass (the task stays `checking` until then).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub queued: bool,
}

/// Merge methods for local merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    FastForward,
    Merge,
    Squash,
}

impl Method {
    pub fn parse(s: &str) -> Option<Method> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "fast-forward" | "ff" | "ff-only" => Some(Method::FastForward),
            "merge" | "merge-commit" => Some(Method::Merge),
            "squash" => Some(Method::Squash),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Method::FastForward => "fast-forward",
            Method::Merge => "merge",
            Method::Squash => "squash",
        }
    }
}

/// What the gate needs (cheap to clone; owned, so it can run on a blocking thread).
#[derive(Clone)]
pub struct Gate {
    pub store: Store,
    pub git: Arc<dyn Git>,
    pub config: Arc<Config>,
    /// For tasks whose work is a pull request.
    pub github: Option<Arc<GitHub>>,
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// The short spoken/typed code for a confirmation.
pub fn new_code() -> String {
    format!("{:04}", rand::random_range(1000..10000u32))
}

impl Gate {
    fn repo_of(&self, task: &Task) -> Result<Repo, Refusal> {
        let name = task.repo.as_deref().or(task.spec.repo.as_deref());
        let repo = match name {
            Some(n) => self.config.repo(n).cloned(),
            None if self.config.repos.len() == 1 => self.config.repos.first().cloned(),
            None => None,
        };
        repo.ok_or_else(|| Refusal::no(format!("task {} has no configured repo to merge into", task.id)))
    }

    fn load(&self, id: i64) -> Result<Task, Refusal> {
        self.store.task(id).map_err(|e| Refusal::no(e.to_string()))
    }

    /// Why a task may not be merged now, if it may not.
    fn not_ready(&self, task: &Task) -> Option<String> {
        gate::not_ready(task)
    }

    fn branch_head(&self, repo_path: &Path, task: &Task) -> Result<String, Refusal> {
        let branch = task.branch.as_deref().ok_or_else(|| Refusal::no(format!("task {} has no branch", task.id)))?;
        worktree::rev(self.git.as_ref(), repo_path, &format!("refs/heads/{branch}"))
            .map_err(|_| Refusal::no(format!("the branch {branch} of task {} is gone", task.id)))
    }

    /// Ask: the question, a code, the head SHA it is about, an expiry.
    pub fn propose(&self, task_id: i64, now: DateTime<Utc>, clock: Instant) -> Result<Pending, Refusal> {
        let task = self.load(task_id)?;
        if let Some(why) = self.not_ready(&task) {
            return Err(Refusal::no(why));
        }
        let repo = self.repo_of(&task)?;
        let recorded = task.head_sha.clone().ok_or_else(|| Refusal::no(format!("task {task_id} has no reviewed head")))?;
        let head = self.branch_head(Path::new(&repo.path), &task)?;
        if head != recorded {
            return Err(Refusal::no(format!(
                "Task {task_id}'s branch has commits that were not reviewed (reviewed {}, now {}); retry or follow up first",
                short(&recorded),
                short(&head)
            )));
        }
        // Only a head reviewed against the current base is asked about.
        let repo_path = Path::new(&repo.path);
        let base = worktree::rev(self.git.as_ref(), repo_path, &format!("refs/heads/{}", repo.base))
            .map_err(|_| Refusal::no(format!("the base branch {} is gone", repo.base)))?;
        if !self.is_ancestor(repo_path, &base, &head) {
            return Err(Refusal::stale(format!(
                "{} moved since task {task_id} was reviewed, so it needs bringing up to date and checking again first",
                repo.base
            )));
        }
        let patch = worktree::patch_id(self.git.as_ref(), repo_path, &base, &head).ok().flatten();
        let ttl = self.config.dispatch.confirm_ttl.get();
        let (checks_total, files) = self.review_counts(task_id);
        let files = if files == 1 { "1 file changed".to_string() } else { format!("{files} files changed") };
        if checks_total == 0 && repo.require_checks {
            let mut p = Pending { head, base, patch, no_checks: true, ..Pending::about(Action::Merge, task_id, String::new(), now, clock, ttl) };
            p.question = format!(
                "Merge task {task_id}, '{}', into {}? {NO_CHECK_RAN} {}. To merge it untested, say \"confirm without checks\" \
                 or run `capcom confirm --no-checks {}`.",
                task.title,
                repo.base,
                upper_first(&files),
                p.code
            );
            return Ok(p);
        }
        let summary = if checks_total == 0 { format!("{NO_CHECK_RAN} {}", upper_first(&files)) } else { format!("Checks green, {files}") };
        let question = format!("Merge task {task_id}, '{}', into {}? {summary}.", task.title, repo.base);
        Ok(Pending { head, base, patch, ..Pending::about(Action::Merge, task_id, question, now, clock, ttl) })
    }

    fn is_ancestor(&self, repo: &Path, ancestor: &str, of: &str) -> bool {
        self.git.run(repo, &["merge-base", "--is-ancestor", ancestor, of]).is_ok_and(|o| o.code == 0)
    }

    /// In a merge train: the task's head is not the one asked about, but the train rebased it
    /// itself. It is the same change when it sits on the current base, its patch-id equals the
    /// one asked about, and the review of exactly this head ran its checks green.
    fn same_change(&self, repo: &Path, task: &Task, pending: &Pending, base: &str, head: &str) -> bool {
        let Some(asked) = pending.patch.as_deref() else { return false };
        if task.head_sha.as_deref() != Some(head) || !self.is_ancestor(repo, base, head) {
            return false;
        }
        let review = self
            .store
            .events(task.id)
            .ok()
            .and_then(|evs| evs.iter().rev().find(|e| e.kind == "review_result").and_then(|e| e.data.clone()));
        let Some(r) = review else { return false };
        let total = r["checks_total"].as_u64().unwrap_or(0);
        let green = r["state"] == "ready" && r["checks_ok"].as_u64() == Some(total) && (total > 0 || (pending.no_checks && pending.without_checks));
        if r["head"].as_str() != Some(head) || !green {
            return false;
        }
        worktree::patch_id(self.git.as_ref(), repo, base, head).ok().flatten().as_deref() == Some(asked)
    }

    /// Whether the base branch a local merge question was asked against has moved since
    /// (for a merge of all ready, any of its questions). Nothing is read for a PR's question.
    pub fn base_moved(&self, pending: &Pending) -> bool {
        if pending.action == Action::MergeAll {
            return pending.batch.iter().any(|p| self.base_moved(p));
        }
        if pending.base.is_empty() {
            return false;
        }
        let Ok(task) = self.load(pending.task) else { return false };
        let Ok(repo) = self.repo_of(&task) else { return false };
        worktree::rev(self.git.as_ref(), Path::new(&repo.path), &format!("refs/heads/{}", repo.base)).is_ok_and(|b| b != pending.base)
    }

    /// The number of automated checks the last review ran and the files it saw changed.
    fn review_counts(&self, task_id: i64) -> (u64, u64) {
        let data = self
            .store
            .events(task_id)
            .ok()
            .and_then(|evs| evs.iter().rev().find(|e| e.kind == "review_result").and_then(|e| e.data.clone()));
        match data {
            Some(d) => (d["checks_total"].as_u64().unwrap_or(0), d["diffstat"]["files"].as_u64().unwrap_or(0)),
            None => (0, 0),
        }
    }

    /// A question about untested work is answered only by the stronger confirmation.
    pub fn checks_waived(pending: &Pending) -> Result<(), Refusal> {
        gate::checks_waived(pending)
    }

    /// A wrong code or an expired question refuses before anything is read.
    pub fn live(pending: &Pending, code: Option<&str>, clock: Instant) -> Result<(), Refusal> {
        gate::live(pending, code, clock)
    }

    /// The last review of a task (its `review_result` event), as the gate reads it. With a
    /// squash merge a secret only the branch's history holds is no bar (as in the review).
    fn last_review(&self, task_id: i64, repo: &Repo) -> Option<gate::Reviewed> {
        let r = self
            .store
            .events(task_id)
            .ok()
            .and_then(|evs| evs.iter().rev().find(|e| e.kind == "review_result").and_then(|e| e.data.clone()))?;
        let squash = self.config.dispatch.merge_method == "squash" && !repo.reviews_on_github();
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default()
        };
        let secrets = r["secrets"].as_array().map(|a| a.iter().filter(|f| !(squash && f["history_only"] == true)).count());
        Some(gate::Reviewed {
            head: r["head"].as_str().unwrap_or_default().to_string(),
            checks_total: r["checks_total"].as_u64().unwrap_or(0),
            checks_ok: r["checks_ok"].as_u64().unwrap_or(0),
            scope_violations: strings(&r["violations"]),
            secrets: secrets.unwrap_or(0),
        })
    }

    /// Confirm: merge if and only if every condition holds.
    pub fn confirm(&self, pending: &Pending, code: Option<&str>, clock: Instant) -> Result<Merged, Refusal> {
        self.confirm_in_train(pending, code, clock, None)
    }

    /// Confirm one task of a merge train. `train_base` is the base commit the train's own
    /// last merge made: the base may have moved to it since the question, and the task's head
    /// may be the train's rebase of the change asked about (see [`Gate::same_change`]).
    pub fn confirm_in_train(&self, pending: &Pending, code: Option<&str>, clock: Instant, train_base: Option<&str>) -> Result<Merged, Refusal> {
        self.confirm_checked(pending, code, clock, train_base, None)
    }

    /// Confirm one task of a speculative merge train: as [`Gate::confirm_in_train`], and the
    /// commit the merge makes must hold exactly `checked_tree`, the tree the train checked
    /// (the combined tip of this task and the ones merged before it). Any other tree is
    /// refused before the base moves.
    pub fn confirm_checked(
        &self,
        pending: &Pending,
        code: Option<&str>,
        clock: Instant,
        train_base: Option<&str>,
        checked_tree: Option<&str>,
    ) -> Result<Merged, Refusal> {
        // A wrong code or an expired question refuses before anything is read.
        let c = gate::Confirmation { pending, code, now: clock };
        Self::live(pending, code, clock)?;
        Self::checks_waived(pending)?;
        // The facts the gate decides on (gate.rs), read here.
        let task = self.load(pending.task)?;
        let repo = self.repo_of(&task)?;
        let repo_path = PathBuf::from(&repo.path);
        let base_ref = format!("refs/heads/{}", repo.base);
        let git = self.git.as_ref();
        let head = task.branch.as_deref().and_then(|b| worktree::rev(git, &repo_path, &format!("refs/heads/{b}")).ok());
        let base = worktree::rev(git, &repo_path, &base_ref).ok();
        let same_change = match (&head, &base, train_base) {
            (Some(h), Some(b), Some(t)) if t == b && *h != pending.head => self.same_change(&repo_path, &task, pending, b, h),
            _ => false,
        };
        let fast_forward = match (&base, &head) {
            (Some(b), Some(h)) => self.is_ancestor(&repo_path, b, h),
            _ => false,
        };
        // The user's checkouts of the base: each must hold no changes of its own. Its files may
        // still be those of a base capcom moved away from (an earlier merge); that is no change.
        let checkouts: Vec<(PathBuf, Option<String>)> =
            self.checkouts_of(&repo_path, &base_ref).into_iter().map(|wt| { let at = self.files_at(&wt, &base_ref); (wt, at) }).collect();
        let review = self.last_review(task.id, &repo);
        let plan = gate::local(&c, &gate::Local {
            task: &task,
            base_branch: &repo.base,
            head: head.as_deref(),
            base: base.as_deref(),
            train_base,
            same_change,
            review: review.as_ref(),
            require_checks: repo.require_checks,
            method: &self.config.dispatch.merge_method,
            checkouts: &checkouts,
            fast_forward,
        })?;
        let checkouts: Vec<(PathBuf, String)> = checkouts.into_iter().filter_map(|(p, at)| Some((p, at?))).collect();
        let gate::Plan { method, old, head } = plan;
        let title = format!("{} (capcom task {})", task.title, task.id);
        let new = match method {
            Method::FastForward => head.clone(),
            Method::Merge | Method::Squash => {
                let tree = self.merge_tree(&repo_path, &task, &repo.base, &old, &head)?;
                let msg = match method {
                    Method::Merge => format!("Merge {}: {title}", task.branch.as_deref().unwrap_or("branch")),
                    _ => title.clone(),
                };
                let mut args = vec!["commit-tree", tree.as_str(), "-p", old.as_str()];
                if method == Method::Merge {
                    args.extend(["-p", head.as_str()]);
                }
                args.extend(["-m", msg.as_str()]);
                git.ok(&repo_path, &args).map_err(|e| Refusal::no(format!("cannot make the merge commit: {e}")))?
            }
        };
        if let Some(checked) = checked_tree {
            let tree = git.ok(&repo_path, &["rev-parse", &format!("{new}^{{tree}}")]).map_err(|e| Refusal::no(format!("cannot read the merged tree: {e}")))?;
            if tree.trim() != checked {
                return Err(Refusal::no(format!(
                    "Task {}'s merge into {} would not be the tree the train checked ({} against {}); nothing merged",
                    task.id,
                    repo.base,
                    short(tree.trim()),
                    short(checked)
                )));
            }
        }
        // Each checkout of the base must take the new commit's files the way `git checkout`
        // would (a two-way `read-tree -m -u`), or nothing is merged. Tried first without
        // writing anything, so a refusal leaves every checkout and the base as they were.
        for (wt, at) in &checkouts {
            if let Err(why) = self.update_checkout(wt, at, &new, true) {
                return Err(Refusal::no(format!(
                    "{} is checked out in {} and its files cannot be brought to the merged commit: {why}. Nothing merged",
                    repo.base,
                    wt.display()
                )));
            }
        }
        // The intent goes to the store before the ref moves: a crash after the move is
        // finished on the next start (see [`Gate::finish_interrupted`]).
        let intent = Intent {
            base_ref: base_ref.clone(),
            old: old.clone(),
            new: new.clone(),
            head: head.clone(),
            method: method.as_str().into(),
            checkouts: checkouts.iter().map(|(p, at)| (p.display().to_string(), at.clone())).collect(),
        };
        let data = serde_json::to_value(&intent).ok();
        self.store
            .add_event(Some(task.id), INTENT, &format!("merging into {} as {}", repo.base, short(&new)), data.as_ref())
            .map_err(|e| Refusal::no(format!("cannot record the merge before making it: {e}; nothing merged")))?;
        let reflog = format!("capcom: merge task {} ({})", task.id, method.as_str());
        git.ok(&repo_path, &["update-ref", "-m", &reflog, &base_ref, &new, &old]).map_err(|_| {
            Refusal::no(format!("{} moved while merging; nothing merged. Ask again", repo.base))
        })?;
        crate::process::crash_point("merge-after-ref");
        let note = self.finish_merge(&repo_path, &repo, &task, &intent, false);
        Ok(Merged { task: task.id, base: repo.base.clone(), old, new, method: method.as_str().into(), note, pr: None, queued: false })
    }

    /// After the base ref moved: bring the checkouts of the base to the new commit, tidy the
    /// task's worktree and branch, record `merged`. Run right after the move, and again on
    /// the next start when a crash came between the move and the end of this.
    fn finish_merge(&self, repo_path: &Path, repo: &Repo, task: &Task, intent: &Intent, after_restart: bool) -> Option<String> {
        let git = self.git.as_ref();
        let mut left: Vec<String> = Vec::new();
        for (wt, at) in &intent.checkouts {
            let wt = PathBuf::from(wt);
            if !wt.exists() {
                continue;
            }
            if *at == intent.new {
                continue;
            }
            // After a restart, only a checkout still holding the files it held then is brought
            // forward (right after the move, the dry run a moment ago said it was).
            if after_restart && self.files_at(&wt, &intent.base_ref).as_deref() != Some(at.as_str()) {
                left.push(format!(
                    "{} is checked out in {} with files capcom did not expect there; to bring them up to date, run there: git read-tree -m -u {} HEAD",
                    repo.base,
                    wt.display(),
                    at
                ));
                continue;
            }
            if let Err(why) = self.update_checkout(&wt, at, &intent.new, false) {
                tracing::warn!(checkout = %wt.display(), %why, "the merged files could not be written to a checkout of the base");
                left.push(format!(
                    "{} is checked out in {} and its files could not be updated ({why}); to bring them up to date, run there: git read-tree -m -u {} HEAD",
                    repo.base,
                    wt.display(),
                    at
                ));
            }
        }
        if let Some(wt) = task.worktree.as_deref() {
            worktree::remove(git, repo_path, Path::new(wt));
        }
        if let Some(b) = task.branch.as_deref() {
            let _ = git.run(repo_path, &["branch", "-D", b]);
        }
        let detail = format!(
            "{} {} → {} ({}), head {}{}",
            repo.base,
            short(&intent.old),
            short(&intent.new),
            intent.method,
            short(&intent.head),
            if after_restart { ", finished after a restart" } else { "" }
        );
        let reason = format!("merged into {} as {}", repo.base, short(&intent.new));
        if let Err(e) = self.store.transition(task.id, Some(&[TaskState::Ready]), TaskState::Merged, Some(&reason)) {
            tracing::error!(task = task.id, error = %e, "merged, but the task state could not be recorded");
        }
        let _ = self.store.audit("merge", Some(task.id), if after_restart { "capcom" } else { "user" }, Some(&detail));
        let note = (!left.is_empty()).then(|| left.join("; "));
        if let Some(n) = &note {
            let _ = self.store.add_event(Some(task.id), "merge", n, None);
        }
        note
    }

    /// Bring a checkout of the base whose index and files are at `at` to `new`: git's own
    /// two-way merge (`read-tree -m -u`, as `git checkout` and a push with
    /// `receive.denyCurrentBranch = updateInstead` do). It refuses, touching nothing, when a
    /// file it would write is changed or untracked there. `dry_run` only asks whether it would.
    fn update_checkout(&self, wt: &Path, at: &str, new: &str, dry_run: bool) -> Result<(), String> {
        let mut args = vec!["read-tree", "-m", "-u"];
        if dry_run {
            args.push("-n");
        }
        args.extend([at, new]);
        let out = self.git.run(wt, &args).map_err(|e| e.to_string())?;
        if out.code == 0 {
            return Ok(());
        }
        let lines: Vec<&str> = out.stderr.lines().map(str::trim).filter(|l| l.starts_with("error:")).collect();
        let said = if lines.is_empty() { out.stderr.trim().to_string() } else { lines.join(" ") };
        Err(said.replace("error: ", "").trim().to_string())
    }

    /// On start: a `ready` task whose merge was under way when capcom stopped. When its base
    /// already holds the merge (the intent's commit, or the task's head for a merge or a
    /// fast-forward), the merge is finished: checkouts, tidy-up, `merged` with the commit
    /// found. When the base never moved, nothing happened and the task stays `ready`.
    /// Returns the tasks found merged.
    pub fn finish_interrupted(&self) -> Vec<(i64, String)> {
        let mut done = Vec::new();
        let Ok(tasks) = self.store.tasks_in(&[TaskState::Ready]) else { return done };
        for task in tasks {
            if task.pr.is_some() {
                continue;
            }
            let Ok(repo) = self.repo_of(&task) else { continue };
            let repo_path = PathBuf::from(&repo.path);
            let base_ref = format!("refs/heads/{}", repo.base);
            let Ok(base) = worktree::rev(self.git.as_ref(), &repo_path, &base_ref) else { continue };
            let intent: Option<Intent> = self.store.events(task.id).ok().and_then(|evs| {
                evs.iter().rev().find(|e| e.kind == INTENT).and_then(|e| e.data.clone()).and_then(|d| serde_json::from_value(d).ok())
            });
            let intent = match intent {
                Some(i) if i.base_ref == base_ref && self.is_ancestor(&repo_path, &i.new, &base) => i,
                _ => {
                    // No intent (or one whose ref never moved): merged when the base holds
                    // the head itself.
                    let Some(head) = task.head_sha.clone() else { continue };
                    if !self.is_ancestor(&repo_path, &head, &base) {
                        continue;
                    }
                    let first = self
                        .git
                        .ok(&repo_path, &["rev-list", "--ancestry-path", "--reverse", &format!("{head}..{base}")])
                        .ok()
                        .and_then(|l| l.lines().next().map(String::from));
                    let new = first.unwrap_or_else(|| head.clone());
                    let old = self.git.ok(&repo_path, &["rev-parse", &format!("{new}^1")]).unwrap_or_default();
                    Intent { base_ref: base_ref.clone(), old, new, head, method: "found".into(), checkouts: Vec::new() }
                }
            };
            tracing::info!(task = task.id, commit = %intent.new, "the base already holds this task's merge: finishing it after a restart");
            let _ = self.store.add_event(
                Some(task.id),
                "merge",
                &format!("found merged into {} as {} after a restart", repo.base, short(&intent.new)),
                None,
            );
            let _ = self.finish_merge(&repo_path, &repo, &task, &intent, true);
            done.push((task.id, intent.new.clone()));
        }
        done
    }

    /// The PR a task's work lives in, when its repo is on GitHub.
    fn on_github(&self, task: &Task) -> Option<(Repo, RepoSlug, u64)> {
        let repo = self.repo_of(task).ok()?;
        let slug = repo.github_slug()?;
        Some((repo, slug, task.pr?))
    }

    fn client(&self) -> Result<&GitHub, Refusal> {
        self.github.as_deref().ok_or_else(|| Refusal::no("no GitHub client is configured (see [github]); nothing merged"))
    }

    /// Ask about a task: through GitHub when its work is a PR, else locally.
    pub async fn ask(&self, task_id: i64, now: DateTime<Utc>, clock: Instant) -> Result<Pending, Refusal> {
        let task = self.load(task_id)?;
        if let Some(why) = self.not_ready(&task) {
            return Err(Refusal::no(why));
        }
        let Some((repo, slug, n)) = self.on_github(&task) else {
            let gate = self.clone();
            return tokio::task::spawn_blocking(move || gate.propose(task_id, now, clock))
                .await
                .unwrap_or_else(|e| Err(Refusal::no(format!("the merge gate failed: {e}"))));
        };
        let gh = self.client()?;
        let r = gh.report_with_rules(&slug, n).await.map_err(|e| Refusal::no(format!("I can't read pull request {n}: {e}")))?;
        let _ = self.store.update_task(task_id, &crate::store::TaskUpdate { head_sha: Some(r.head_sha.clone()), ..Default::default() });
        if let Some(why) = Self::pr_refusal(task_id, &r) {
            return Err(Refusal::no(why));
        }
        // capcom's own review (scope, secrets) of exactly this head, as for a local task.
        if let Some(why) = crate::review::pr::rules_refusal(&r) {
            return Err(Refusal::no(why));
        }
        self.pr_reviewed(&task, &repo, n, &r.head_sha).await.map_err(|why| Refusal::no(upper_first(&why)))?;
        let files = self
            .store
            .events(task_id)
            .ok()
            .and_then(|evs| evs.iter().rev().find(|e| e.kind == "review_result").and_then(|e| e.data.clone()))
            .and_then(|d| d["diffstat"]["files"].as_u64());
        let files = match files {
            Some(1) => ", 1 file changed".to_string(),
            Some(f) => format!(", {f} files changed"),
            None => String::new(),
        };
        let checks = upper_first(&r.verdict.spoken());
        let draft = match (r.draft, r.rules.merge_queue) {
            (true, true) => " It is a draft: confirming marks it ready for review, then puts it in the merge queue.",
            (true, false) => " It is a draft: confirming marks it ready for review, then merges it.",
            (false, true) => " It goes through the merge queue: confirming puts it there, and GitHub merges it when the queue's checks pass.",
            (false, false) => "",
        };
        let question =
            format!("Merge task {task_id}, '{}', pull request {n}, into {}? {checks}{files}.{draft}", task.title, repo.base);
        let ttl = self.config.dispatch.confirm_ttl.get();
        Ok(Pending { head: r.head_sha, pr: Some(n), ..Pending::about(Action::Merge, task_id, question, now, clock, ttl) })
    }

    /// capcom's own review (scope guard, secret scan of every commit) of the PR's `head`, the
    /// one review every agent's work gets: read from the store when the follower already ran
    /// it on this head, else run now. `Err` names the finding.
    async fn pr_reviewed(&self, task: &Task, repo: &Repo, n: u64, head: &str) -> Result<(), String> {
        if let Some(done) = crate::review::pr::review_of(&self.store, task.id, n, head) {
            return done;
        }
        let (git, store, config, repo, task, head) =
            (self.git.clone(), self.store.clone(), self.config.clone(), repo.clone(), task.clone(), head.to_string());
        let r = tokio::task::spawn_blocking(move || crate::review::pr::review_head(git.as_ref(), &store, &config, &repo, &task, n, &head))
            .await
            .map_err(|e| e.to_string())??;
        r.problem.map_or(Ok(()), Err)
    }

    /// Why a PR may not be merged now, from a fresh read of it.
    fn pr_refusal(task_id: i64, r: &crate::github::PrReport) -> Option<String> {
        gate::pr_refusal(task_id, r)
    }

    /// Merge on "confirm": through `PUT /pulls/{n}/merge` with the confirmed head
    /// when the question was about a PR, else locally.
    pub async fn merge(&self, pending: &Pending, code: Option<&str>, clock: Instant) -> Result<Merged, Refusal> {
        let Some(n) = pending.pr else {
            let (gate, p, code) = (self.clone(), pending.clone(), code.map(String::from));
            return tokio::task::spawn_blocking(move || gate.confirm(&p, code.as_deref(), clock))
                .await
                .unwrap_or_else(|e| Err(Refusal::no(format!("the merge gate failed: {e}"))));
        };
        Self::live(pending, code, clock)?;
        let task = self.load(pending.task)?;
        if let Some(why) = self.not_ready(&task) {
            return Err(Refusal::no(format!("{why}; nothing merged")));
        }
        let (repo, slug, _) = self.on_github(&task).ok_or_else(|| Refusal::no(format!("task {} has no pull request", task.id)))?;
        let gh = self.client()?;
        let r = gh.report_with_rules(&slug, n).await.map_err(|e| Refusal::no(format!("I can't read pull request {n}: {e}; nothing merged")))?;
        // The decision, on this fresh read (gate.rs).
        let c = gate::Confirmation { pending, code, now: clock };
        let plan = gate::pull_request(&c, &task, &r, &self.config.github.merge_method)?;
        // GitHub's own rules for the base (required checks, reviews), then capcom's own review of
        // this head: the one review every agent's work gets.
        if let Some(why) = crate::review::pr::rules_refusal(&r) {
            return Err(Refusal::no(format!("{why}; nothing merged")));
        }
        self.pr_reviewed(&task, &repo, n, &r.head_sha).await.map_err(|why| Refusal::no(format!("{}; nothing merged", upper_first(&why))))?;
        if plan.mark_ready {
            gh.mark_ready_for_review(&r.node_id).await.map_err(|e| {
                Refusal::no(format!("Pull request {n} is a draft and could not be marked ready for review: {e}; nothing merged"))
            })?;
            let _ = self.store.add_event(Some(task.id), "pr_ready", &format!("pull request {n} marked ready for review"), None);
        }
        if r.rules.merge_queue {
            return self.enqueue(gh, &task, &repo, &r, &pending.head).await;
        }
        let done = gh.merge(&slug, n, &pending.head).await.map_err(|e| Refusal::no(format!("{}; nothing merged", upper_first(&e.spoken()))))?;
        let method = self.config.github.merge_method.clone();
        let reason = format!("merged pull request {n} on GitHub as {}", short(&done.sha));
        if let Err(e) = self.store.transition(task.id, Some(&[TaskState::Ready]), TaskState::Merged, Some(&reason)) {
            tracing::error!(task = task.id, error = %e, "merged, but the task state could not be recorded");
        }
        let detail = format!("PR #{n} ({method}), head {}, merge commit {}", short(&pending.head), short(&done.sha));
        let _ = self.store.audit("merge", Some(task.id), "user", Some(&detail));
        let repo_path = PathBuf::from(&repo.path);
        if let Some(wt) = task.worktree.as_deref() {
            worktree::remove(self.git.as_ref(), &repo_path, Path::new(wt));
        }
        if let Some(b) = task.branch.as_deref() {
            let _ = self.git.run(&repo_path, &["branch", "-D", b]);
        }
        Ok(Merged {
            task: task.id,
            base: repo.base.clone(),
            old: String::new(),
            new: done.sha,
            method,
            note: Some(format!("Pull request {n} is merged on GitHub; pull {} to bring it here.", repo.base)),
            pr: Some(n),
            queued: false,
        })
    }

    /// On a base branch that requires a merge queue the REST merge is refused: put the PR in
    /// the queue instead, bound to the confirmed head (`expectedHeadOid`). The task is
    /// `checking` until GitHub merges it or the queue drops it (the PR follower says which).
    async fn enqueue(&self, gh: &GitHub, task: &Task, repo: &Repo, r: &crate::github::PrReport, head: &str) -> Result<Merged, Refusal> {
        let n = r.number;
        gh.enqueue(&r.node_id, head)
            .await
            .map_err(|e| Refusal::no(format!("GitHub did not put pull request {n} in the merge queue: {e}; nothing merged")))?;
        let reason = format!("pull request {n} is in the merge queue");
        let data = serde_json::json!({"pr": n, "head": head});
        let _ = self.store.add_event(Some(task.id), crate::review::pr::QUEUE_EVENT, &format!("put pull request {n} in the merge queue of {}", repo.base), Some(&data));
        if let Err(e) = self.store.transition(task.id, Some(&[TaskState::Ready]), TaskState::Checking, Some(&reason)) {
            tracing::error!(task = task.id, error = %e, "queued, but the task state could not be recorded");
        }
        let _ = self.store.audit("merge_queue", Some(task.id), "user", Some(&format!("PR #{n}, head {}", short(head))));
        Ok(Merged {
            task: task.id,
            base: repo.base.clone(),
            old: String::new(),
            new: String::new(),
            method: "merge queue".into(),
            note: Some("GitHub merges it when the merge queue's checks pass; I'll say when it is merged or if the queue drops it.".to_string()),
            pr: Some(n),
            queued: true,
        })
    }

    /// `git merge-tree --write-tree`: the merged tree, or a conflict (→ needs_attention).
    fn merge_tree(&self, repo: &Path, task: &Task, base: &str, old: &str, head: &str) -> Result<String, Refusal> {
        let out = self
            .git
            .run(repo, &["merge-tree", "--write-tree", "--name-only", "--no-messages", old, head])
            .map_err(|e| Refusal::no(format!("cannot merge: {e}")))?;
        let mut lines = out.stdout.lines();
        let tree = lines.next().unwrap_or("").trim().to_string();
        match out.code {
            0 if !tree.is_empty() => Ok(tree),
            1 => {
                let files: Vec<String> = lines.map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
                let mut files_unique = files.clone();
                files_unique.dedup();
                let reason = if files_unique.is_empty() {
                    format!("Merge conflict with {base}")
                } else {
                    format!("Merge conflict with {base} in {}", files_unique.join(", "))
                };
                let _ = self.store.transition(task.id, Some(&[TaskState::Ready]), TaskState::NeedsAttention, Some(&reason));
                let _ = self.store.add_event(Some(task.id), "merge", &reason, Some(&serde_json::json!({"conflicts": files_unique})));
                Err(Refusal { reason: format!("{reason}; nothing merged, the task needs attention"), needs_attention: true, stale: false })
            }
            _ => Err(Refusal::no(format!("cannot merge: {}", out.stderr.trim()))),
        }
    }

    /// The commit whose files a checkout of `base_ref` holds, when it holds nothing else:
    /// its branch head, or a head that capcom's own merges moved the branch away from
    /// (read from the branch's reflog). `None` when it has changes of its own.
    fn files_at(&self, wt: &Path, base_ref: &str) -> Option<String> {
        let git = self.git.as_ref();
        // Files on disk must equal the index, by content: refresh the index's stat data first,
        // so a file rewritten with the same bytes (a formatter, an editor's save) is no change.
        let _ = git.run(wt, &["update-index", "-q", "--refresh"]);
        if git.run(wt, &["diff-files", "--quiet"]).map(|o| o.code).unwrap_or(1) != 0 {
            return None;
        }
        let head = worktree::rev(git, wt, "HEAD").ok()?;
        let mut candidates = vec![head];
        if let Ok(log) = git.ok(wt, &["reflog", "show", "--format=%H %gs", base_ref]) {
            let entries: Vec<(&str, &str)> = log.lines().filter_map(|l| l.split_once(' ')).collect();
            for (i, (_, msg)) in entries.iter().enumerate() {
                if !msg.starts_with("capcom: merge task") {
                    break;
                }
                if let Some((before, _)) = entries.get(i + 1) {
                    candidates.push((*before).to_string());
                }
            }
        }
        candidates.into_iter().find(|c| git.run(wt, &["diff-index", "--cached", "--quiet", c]).is_ok_and(|o| o.code == 0))
    }

    /// Worktrees (the user's included) that have `base_ref` checked out.
    fn checkouts_of(&self, repo: &Path, base_ref: &str) -> Vec<PathBuf> {
        let Ok(list) = self.git.ok(repo, &["worktree", "list", "--porcelain"]) else { return Vec::new() };
        let mut out = Vec::new();
        let mut current: Option<PathBuf> = None;
        let mut bare = false;
        for line in list.lines() {
            if let Some(p) = line.strip_prefix("worktree ") {
                current = Some(PathBuf::from(p));
                bare = false;
            } else if line == "bare" {
                bare = true;
            } else if let Some(b) = line.strip_prefix("branch ")
                && b == base_ref && !bare
                    && let Some(p) = current.clone() {
                        out.push(p);
                    }
        }
        out
    }
}

/// The event a local merge writes before it moves the base ref.
pub const INTENT: &str = "merge_intent";

/// What a local merge is about to do, recorded before the base ref moves.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
struct Intent {
    base_ref: String,
    old: String,
    new: String,
    head: String,
    method: String,
    /// The checkouts of the base and the commit whose files each held.
    #[serde(default)]
    checkouts: Vec<(String, String)>,
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_parse() {
        assert_eq!(Method::parse("fast-forward"), Some(Method::FastForward));
        assert_eq!(Method::parse("Squash"), Some(Method::Squash));
        assert_eq!(Method::parse("merge"), Some(Method::Merge));
        assert_eq!(Method::parse("rebase"), None);
    }

    #[test]
    fn codes_are_four_digits() {
        for _ in 0..100 {
            let c = new_code();
            assert_eq!(c.len(), 4);
            assert!(c.chars().all(|ch| ch.is_ascii_digit()));
        }
    }
}
