//! The merge gate's decision, with no I/O: given the pending question, the confirmation as
//! given (its code and the time), the task, its last review (checks, scope, secrets), the heads
//! as they are now and the user's checkouts, either a [`Plan`] to merge or a [`Refusal`] that
//! says why. [`super::merge::Gate`] reads those facts (git, the store, GitHub), calls [`local`]
//! or [`pull_request`], and carries out the plan; nothing here reads or writes anything, so
//! every rule is table-tested and property-tested without git, a daemon or tokio.
//!
//! The rules, in the order a refusal is given:
//! 1. the confirmation is live: its code matches when one is given, and it is before the
//!    deadline (a question that expires at T is refused at T);
//! 2. a question about untested work is answered only by "confirm without checks";
//! 3. the task is `ready`;
//! 4. the heads: the task's branch and the base exist; a local question asked against a base
//!    that moved since is stale; the branch head is the one asked about (only a merge train may
//!    put its own rebase of the same change there);
//! 5. the last review is of exactly that head, its checks are green (an empty set is not green
//!    unless the repo waives it or the user said "confirm without checks"), and it found no file
//!    out of scope and no secret;
//! 6. local: the merge method is known, no checkout of the base has changes of its own, and a
//!    fast-forward is possible when asked for; on GitHub: the PR is open, unmerged, green and
//!    without conflicts (a draft is marked ready first).

use super::merge::{Method, Pending, Refusal};
use crate::github::PrReport;
use crate::store::{Task, TaskState};
use std::path::PathBuf;
use tokio::time::Instant;

const NO_CHECK_RAN_ON: &str = "No automated check ran on the change of";

fn no(reason: impl Into<String>) -> Refusal {
    Refusal { reason: reason.into(), needs_attention: false, stale: false }
}

fn stale(reason: impl Into<String>) -> Refusal {
    Refusal { reason: reason.into(), needs_attention: false, stale: true }
}

pub fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// The confirmation as given: the question it answers, the code said or typed, and now.
#[derive(Debug, Clone, Copy)]
pub struct Confirmation<'a> {
    pub pending: &'a Pending,
    pub code: Option<&'a str>,
    pub now: Instant,
}

/// The last review of a task's work (its `review_result` event), as far as the gate reads it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reviewed {
    /// The head the review ran on.
    pub head: String,
    pub checks_total: u64,
    pub checks_ok: u64,
    /// Files changed outside the task's scope.
    pub scope_violations: Vec<String>,
    /// Secrets found that bar this merge (with a squash merge, one only the history holds does not).
    pub secrets: usize,
}

/// What a local merge reads before it decides.
#[derive(Debug, Clone)]
pub struct Local<'a> {
    pub task: &'a Task,
    /// The base branch's name.
    pub base_branch: &'a str,
    /// The task branch's commit now; `None` when the branch is gone.
    pub head: Option<&'a str>,
    /// The base branch's commit now; `None` when it is gone.
    pub base: Option<&'a str>,
    /// In a merge train: the base commit the train's own last merge made.
    pub train_base: Option<&'a str>,
    /// In a merge train whose merge moved the base: the head is the train's rebase of the change
    /// asked about (same patch-id, on the current base, reviewed green). Read only in that case.
    pub same_change: bool,
    pub review: Option<&'a Reviewed>,
    /// `[[repos]] require_checks`: work no check ran on needs "confirm without checks".
    pub require_checks: bool,
    /// `[dispatch] merge_method`.
    pub method: &'a str,
    /// The checkouts of the base branch: where, and the commit its files are at (`None`: it has
    /// changes of its own).
    pub checkouts: &'a [(PathBuf, Option<String>)],
    /// The base is an ancestor of the head (a fast-forward is possible).
    pub fast_forward: bool,
}

/// A local merge to carry out.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub method: Method,
    /// The base commit the merge starts from (and `update-ref` expects).
    pub old: String,
    /// The head being merged.
    pub head: String,
}

/// A merge through GitHub to carry out.
#[derive(Debug, Clone, PartialEq)]
pub struct PrPlan {
    /// The head SHA `PUT /pulls/{n}/merge` is bound to.
    pub head: String,
    /// The PR is a draft: mark it ready for review first.
    pub mark_ready: bool,
}

/// A wrong code or an expired question refuses before anything is read.
pub fn live(pending: &Pending, code: Option<&str>, now: Instant) -> Result<(), Refusal> {
    if let Some(c) = code.map(str::trim).filter(|c| !c.is_empty())
        && c != pending.code
    {
        return Err(no(format!("Code {c} does not match the pending confirmation; nothing merged")));
    }
    if now >= pending.deadline {
        return Err(no(format!(
            "The confirmation for task {} expired; nothing merged. Ask again with `capcom merge {}`",
            pending.task, pending.task
        )));
    }
    Ok(())
}

/// A question about untested work is answered only by the stronger confirmation.
pub fn checks_waived(pending: &Pending) -> Result<(), Refusal> {
    if pending.no_checks && !pending.without_checks {
        return Err(no(format!(
            "{NO_CHECK_RAN_ON} task {}, so a plain confirm doesn't merge it. Say \"confirm without checks\", \
             or run `capcom confirm --no-checks {}`; nothing merged",
            pending.task, pending.code
        )));
    }
    Ok(())
}

/// Why a task may not be merged now, if it may not.
pub fn not_ready(task: &Task) -> Option<String> {
    if task.state == TaskState::Ready {
        return None;
    }
    let why = task.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
    Some(match task.state {
        TaskState::NeedsAttention => format!("Task {} needs attention{why}", task.id),
        TaskState::Merged => format!("Task {} is already merged", task.id),
        s => format!("Task {} is {s}, not ready{why}", task.id),
    })
}

/// The review must be of `head`, green, in scope and free of secrets.
fn reviewed_green(task: &Task, head: &str, review: Option<&Reviewed>, zero_checks_ok: bool) -> Result<(), Refusal> {
    let id = task.id;
    let Some(r) = review else {
        return Err(no(format!("Task {id} has no review of its head {}; nothing merged", short(head))));
    };
    if r.head != head {
        return Err(no(format!(
            "Task {id} was reviewed at {}, not at its head {}; nothing merged. Retry it to review the new head",
            short(&r.head),
            short(head)
        )));
    }
    if !r.scope_violations.is_empty() {
        return Err(no(format!("Task {id} changed files outside its scope: {}; nothing merged", r.scope_violations.join(", "))));
    }
    if r.secrets > 0 {
        return Err(no(format!("A secret was found in task {id}'s change; nothing merged")));
    }
    if r.checks_ok < r.checks_total {
        return Err(no(format!(
            "Task {id}'s checks are not green ({} of {} passed); nothing merged",
            r.checks_ok, r.checks_total
        )));
    }
    if r.checks_total == 0 && !zero_checks_ok {
        return Err(no(format!("{NO_CHECK_RAN_ON} task {id}; nothing merged")));
    }
    Ok(())
}

/// Decide a local merge.
pub fn local(c: &Confirmation, f: &Local) -> Result<Plan, Refusal> {
    let (pending, task) = (c.pending, f.task);
    live(pending, c.code, c.now)?;
    checks_waived(pending)?;
    if let Some(why) = not_ready(task) {
        return Err(no(format!("{why}; nothing merged")));
    }
    let head = match (f.head, task.branch.as_deref()) {
        (Some(h), _) => h,
        (None, None) => return Err(no(format!("task {} has no branch; nothing merged", task.id))),
        (None, Some(b)) => return Err(no(format!("the branch {b} of task {} is gone; nothing merged", task.id))),
    };
    let Some(old) = f.base else {
        return Err(no(format!("the base branch {} is gone; nothing merged", f.base_branch)));
    };
    let moved_by_train = f.train_base.is_some_and(|b| b == old);
    if !pending.base.is_empty() && old != pending.base && !moved_by_train {
        return Err(stale(format!(
            "{} moved since you were asked about task {} (it was at {}, now {}); nothing merged",
            f.base_branch,
            task.id,
            short(&pending.base),
            short(old)
        )));
    }
    let same_head = head == pending.head && task.head_sha.as_deref() == Some(pending.head.as_str());
    if !same_head && !(moved_by_train && f.same_change) {
        return Err(no(format!(
            "Task {}'s branch moved since you were asked (asked about {}, now {}); nothing merged",
            task.id,
            short(&pending.head),
            short(head)
        )));
    }
    let zero_checks_ok = !f.require_checks || pending.without_checks;
    reviewed_green(task, head, f.review, zero_checks_ok)?;
    let method = Method::parse(f.method).ok_or_else(|| {
        no(format!("[dispatch] merge_method `{}` is not fast-forward, merge or squash; nothing merged", f.method))
    })?;
    if let Some((wt, _)) = f.checkouts.iter().find(|(_, at)| at.is_none()) {
        return Err(no(format!(
            "{} is checked out in {} with uncommitted changes; commit or stash them first. Nothing merged",
            f.base_branch,
            wt.display()
        )));
    }
    if method == Method::FastForward && !f.fast_forward {
        return Err(no(format!(
            "{} has moved on since the task started, so a fast-forward is impossible; nothing merged \
             (set [dispatch] merge_method to \"merge\" or \"squash\", or retry the task)",
            f.base_branch
        )));
    }
    Ok(Plan { method, old: old.to_string(), head: head.to_string() })
}

/// Why a PR may not be merged now, from a fresh read of it.
pub fn pr_refusal(task_id: i64, r: &PrReport) -> Option<String> {
    let n = r.number;
    if r.merged {
        return Some(format!("Pull request {n} is already merged"));
    }
    if r.state == "closed" {
        return Some(format!("Pull request {n} is closed"));
    }
    if !r.verdict.is_green() {
        return Some(format!("Task {task_id}'s pull request {n} is not green: {}", r.verdict.spoken()));
    }
    if r.mergeable == Some(false) {
        return Some(format!("Pull request {n} has conflicts with its base branch"));
    }
    None
}

/// The merge methods `PUT /pulls/{n}/merge` takes (REST reference, "Merge a pull request").
pub const GITHUB_METHODS: [&str; 3] = ["merge", "squash", "rebase"];

/// Decide a merge through GitHub, from a fresh read of the PR (`r`) and `[github] merge_method`.
pub fn pull_request(c: &Confirmation, task: &Task, r: &PrReport, method: &str) -> Result<PrPlan, Refusal> {
    let pending = c.pending;
    live(pending, c.code, c.now)?;
    checks_waived(pending)?;
    if let Some(why) = not_ready(task) {
        return Err(no(format!("{why}; nothing merged")));
    }
    let n = r.number;
    if pending.pr != Some(n) {
        return Err(no(format!("The question was not about pull request {n}; nothing merged")));
    }
    if pending.head.is_empty() || r.head_sha != pending.head {
        return Err(no(format!(
            "Pull request {n} changed since you were asked (asked about {}, now {}); nothing merged",
            short(&pending.head),
            short(&r.head_sha)
        )));
    }
    if let Some(why) = pr_refusal(task.id, r) {
        return Err(no(format!("{why}; nothing merged")));
    }
    if !GITHUB_METHODS.contains(&method) {
        return Err(no(format!("[github] merge_method `{method}` is not merge, squash or rebase; nothing merged")));
    }
    Ok(PrPlan { head: r.head_sha.clone(), mark_ready: r.draft })
}

#[cfg(test)]
mod tests;
