//! The merge train. After a merge into a base branch, every other `ready` task of that
//! repo is brought up to date in its own worktree (`[dispatch] update`: rebase onto the new
//! base, or merge it in), and its acceptance checks, scope guard and secret scan run again
//! on the new head. It returns to `ready`, or to `needs_attention` with the conflicting files
//! or the red check named. A conflict is aborted at once: a worktree is never left
//! mid-rebase (and one a killed daemon left so is aborted before its next review).
//!
//! In a repo reviewed on GitHub, the new base is fetched from the repo's remote, a green
//! update is pushed to the task's pull request (`--force-with-lease`) and the task goes back
//! to following that PR's checks. Work a remote agent keeps in its own PR is left to GitHub.
//!
//! With `[dispatch] resolve_conflicts = true`, a task whose update conflicts is handed back
//! to its (local) agent with a follow-up naming the files; otherwise it waits for the user.

use super::{DispatchHandle, resolve_repo, worktree};
use crate::config::Repo;
use crate::review::{Review, pr};
use crate::store::{Task, TaskState, TaskUpdate};
use serde::Serialize;
use std::path::PathBuf;

/// How bringing one task up to date went.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Step {
    /// The base was already in its branch.
    UpToDate,
    /// Updated and checked again: ready, at this head.
    Green { head: String },
    /// Updated and pushed to its pull request; GitHub's checks run on it now.
    Pushed { head: String, pr: u64 },
    /// The update conflicted in these files (aborted; the branch is as it was).
    Conflict { files: Vec<String>, handed_back: bool },
    /// Updated, but the review found a problem (a red check, scope, a secret).
    Red { reason: String },
    /// Not touched, and why.
    Skipped { why: String },
}

/// One task's turn in the train.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Update {
    pub task: i64,
    pub title: String,
    pub base: String,
    #[serde(flatten)]
    pub step: Step,
}

impl Update {
    /// One sentence for the user.
    pub fn said(&self) -> String {
        let who = format!("Task {}, '{}',", self.task, self.title);
        let base = &self.base;
        match &self.step {
            Step::UpToDate => format!("{who} is already up to date with {base}."),
            Step::Green { .. } => format!("{who} was brought up to date with {base} and its checks are green again."),
            Step::Pushed { pr, .. } => {
                format!("{who} was brought up to date with {base} and pushed to pull request {pr}; its checks run again on GitHub.")
            }
            Step::Conflict { files, handed_back } => {
                let then = if *handed_back { "I asked its agent to resolve them" } else { "it needs your attention" };
                format!("{who} conflicts with {base} in {}: {then}.", files.join(", "))
            }
            Step::Red { reason } => format!("{who} was brought up to date with {base}, but {}: it needs attention.", lower_first(reason)),
            Step::Skipped { why } => format!("{who} was not brought up to date: {why}."),
        }
    }

    /// Still ready to merge after its turn.
    pub fn ready(&self) -> bool {
        matches!(self.step, Step::UpToDate | Step::Green { .. })
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The follow-up that hands a conflict back to the agent.
pub fn resolve_instruction(base: &str, how: worktree::UpdateHow, files: &[String]) -> String {
    let verb = match how {
        worktree::UpdateHow::Rebase => format!("rebase this branch onto {base}"),
        worktree::UpdateHow::Merge => format!("merge {base} into this branch"),
    };
    format!(
        "Resolve the conflicts with {base} in these files: {}. Bring the branch up to date ({verb}), keep the intent of both \
         sides, and commit the result; do not leave a rebase or merge in progress.",
        files.join(", ")
    )
}

impl DispatchHandle {
    /// Bring every `ready` task of `repo` (a repo name) up to date, one after another,
    /// except `except` (the task just merged). Outcomes in task order.
    pub async fn update_ready(&self, repo: &str, except: &[i64]) -> Vec<Update> {
        let _turn = self.train.lock().await;
        let tasks: Vec<Task> = self
            .ctx
            .store
            .tasks_in(&[TaskState::Ready])
            .unwrap_or_default()
            .into_iter()
            .filter(|t| !except.contains(&t.id) && resolve_repo(&self.ctx.config.get(), t.repo.as_deref().or(t.spec.repo.as_deref())).is_ok_and(|r| r.name == repo))
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(self.update_locked(t.id).await);
        }
        out
    }

    /// Bring one `ready` task up to date with its base and check it again.
    pub async fn update_task(&self, id: i64) -> Update {
        let _turn = self.train.lock().await;
        self.update_locked(id).await
    }

    async fn update_locked(&self, id: i64) -> Update {
        let store = self.ctx.store.clone();
        let task = match store.task(id) {
            Ok(t) => t,
            Err(e) => return Update { task: id, title: String::new(), base: String::new(), step: Step::Skipped { why: e.to_string() } },
        };
        let mut up = Update { task: id, title: task.title.clone(), base: String::new(), step: Step::UpToDate };
        let repo = match resolve_repo(&self.ctx.config.get(), task.repo.as_deref().or(task.spec.repo.as_deref())) {
            Ok(r) => r.clone(),
            Err(e) => return Update { step: Step::Skipped { why: e }, ..up },
        };
        up.base = repo.base.clone();
        if task.state != TaskState::Ready {
            return Update { step: Step::Skipped { why: format!("it is {}", task.state) }, ..up };
        }
        let Some(wt) = task.worktree.as_deref().map(PathBuf::from).filter(|p| p.exists()) else {
            let why = if task.pr.is_some() { "its work lives in its pull request, which GitHub keeps up to date" } else { "its worktree is gone" };
            return Update { step: Step::Skipped { why: why.into() }, ..up };
        };
        let on_github = repo.reviews_on_github() && task.pr.is_some();
        let onto = match self.base_commit(&repo, on_github).await {
            Ok(b) => b,
            Err(e) => return Update { step: Step::Skipped { why: e }, ..up },
        };
        let how = worktree::UpdateHow::parse(&self.ctx.config.get().dispatch.update);
        let git = self.ctx.git.clone();
        {
            let (git, wt, onto) = (git.clone(), wt.clone(), onto.clone());
            let current = tokio::task::spawn_blocking(move || {
                worktree::abort_in_progress(git.as_ref(), &wt);
                git.run(&wt, &["merge-base", "--is-ancestor", &onto, "HEAD"]).is_ok_and(|o| o.code == 0)
            })
            .await
            .unwrap_or(false);
            if current {
                return up;
            }
        }
        let checking = format!("bringing it up to date with {}", repo.base);
        if store.transition(id, Some(&[TaskState::Ready]), TaskState::Checking, Some(&checking)).is_err() {
            return Update { step: Step::Skipped { why: "it changed state meanwhile".into() }, ..up };
        }
        let message = format!("capcom: bring task {id} up to date with {}", repo.base);
        let result = {
            let (git, wt, onto) = (git.clone(), wt.clone(), onto.clone());
            tokio::task::spawn_blocking(move || {
                let dirty = git.ok(&wt, &["status", "--porcelain"]).map(|s| !s.trim().is_empty()).unwrap_or(true);
                if dirty {
                    return Err("its worktree has uncommitted changes; commit or discard them first".to_string());
                }
                let old = worktree::rev(git.as_ref(), &wt, "HEAD").map_err(|e| e.to_string())?;
                worktree::update_branch(git.as_ref(), &wt, &onto, how, &message).map(|u| (old, u)).map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|e| Err(e.to_string()))
        };
        let data = |extra: serde_json::Value| {
            let mut d = serde_json::json!({"base": onto, "how": how.as_str()});
            if let (Some(d), Some(e)) = (d.as_object_mut(), extra.as_object()) {
                d.extend(e.clone());
            }
            d
        };
        let (old, updated) = match result {
            Ok(r) => r,
            Err(why) => {
                let reason = format!("It could not be brought up to date with {}: {why}", repo.base);
                let _ = store.add_event(Some(id), "train", &reason, Some(&data(serde_json::json!({"error": why}))));
                let _ = store.transition(id, Some(&[TaskState::Checking]), TaskState::NeedsAttention, Some(&reason));
                return Update { step: Step::Skipped { why }, ..up };
            }
        };
        match updated {
            worktree::Updated::UpToDate => {
                let _ = store.transition(id, Some(&[TaskState::Checking]), TaskState::Ready, task.reason.as_deref());
                up
            }
            worktree::Updated::Conflict { files } => {
                let list = if files.is_empty() { "the same lines".to_string() } else { files.join(", ") };
                let verb = if how == worktree::UpdateHow::Rebase { "Rebasing onto" } else { "Merging" };
                let reason = format!("{verb} {} conflicts in {list}; the branch is as it was", repo.base);
                let _ = store.add_event(Some(id), "train", &reason, Some(&data(serde_json::json!({"conflicts": files, "head": old}))));
                let _ = store.transition(id, Some(&[TaskState::Checking]), TaskState::NeedsAttention, Some(&reason));
                let handed_back = self.ctx.config.get().dispatch.resolve_conflicts
                    && self.hand_back(&task, &resolve_instruction(&repo.base, how, &files)).await;
                Update { step: Step::Conflict { files, handed_back }, ..up }
            }
            worktree::Updated::Moved { head } => {
                let msg = format!("brought up to date with {} by {} ({} → {})", repo.base, how.as_str(), short(&old), short(&head));
                let _ = store.add_event(Some(id), "train", &msg, Some(&data(serde_json::json!({"old_head": old, "head": head}))));
                let step = self.recheck(id, &repo, &wt, on_github).await;
                Update { step, ..up }
            }
        }
    }

    /// The commit to bring tasks up to date with: the local base branch, or for a repo
    /// reviewed on GitHub, the base fetched from its remote.
    async fn base_commit(&self, repo: &Repo, remote: bool) -> Result<String, String> {
        let (git, dir, base) = (self.ctx.git.clone(), PathBuf::from(&repo.path), repo.base.clone());
        let remote_name = if repo.remote.trim().is_empty() { "origin".to_string() } else { repo.remote.clone() };
        tokio::task::spawn_blocking(move || {
            if remote {
                let tracking = format!("refs/remotes/{remote_name}/{base}");
                let spec = format!("+refs/heads/{base}:{tracking}");
                git.ok(&dir, &["fetch", "--quiet", "--no-tags", &remote_name, &spec]).map_err(|e| format!("cannot fetch {base} from {remote_name}: {e}"))?;
                worktree::rev(git.as_ref(), &dir, &tracking).map_err(|e| e.to_string())
            } else {
                worktree::rev(git.as_ref(), &dir, &format!("refs/heads/{base}")).map_err(|_| format!("the base branch {base} is gone"))
            }
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()))
    }

    /// Review the updated head again (checks, scope guard, secret scan) and record the verdict.
    async fn recheck(&self, id: i64, repo: &Repo, wt: &std::path::Path, on_github: bool) -> Step {
        let store = &self.ctx.store;
        let Ok(task) = store.task(id) else { return Step::Skipped { why: "it is gone".into() } };
        let config = self.ctx.config.get();
        let review = Review {
            store,
            git: self.ctx.git.clone(),
            config: &config,
            repo,
            task: &task,
            worktree: wt,
            check_timeout: config.dispatch.timeout.get(),
        };
        let outcome = match review.run().await {
            Ok(o) => o,
            Err(e) => {
                let reason = format!("the review could not run again after bringing it up to date: {e}");
                let _ = store.transition(id, Some(&[TaskState::Checking]), TaskState::NeedsAttention, Some(&reason));
                return Step::Red { reason };
            }
        };
        let _ = store.update_task(id, &TaskUpdate { head_sha: Some(outcome.head.clone()), ..TaskUpdate::default() });
        if outcome.state != TaskState::Ready {
            let _ = store.transition(id, Some(&[TaskState::Checking]), TaskState::NeedsAttention, Some(&outcome.reason));
            return Step::Red { reason: outcome.reason };
        }
        if on_github && let Some(n) = task.pr {
            let branch = task.branch.clone().unwrap_or_default();
            if let Err(e) = pr::push(self.ctx.git.clone(), repo, &branch).await {
                let reason = format!("it was brought up to date with {}, but {e}", repo.base);
                let _ = store.transition(id, Some(&[TaskState::Checking]), TaskState::NeedsAttention, Some(&reason));
                return Step::Red { reason };
            }
            let _ = store.add_event(Some(id), "pushed", &format!("pushed the updated branch to PR #{n}"), None);
            let _ = store.add_event(Some(id), pr::FOLLOW_EVENT, &format!("following pull request {n} on GitHub"), Some(&serde_json::json!({"number": n})));
            let reason = format!("pull request {n}: waiting for GitHub checks");
            let _ = store.transition(id, Some(&[TaskState::Checking]), TaskState::Checking, Some(&reason));
            self.nudge.notify_one();
            return Step::Pushed { head: outcome.head, pr: n };
        }
        let reason = format!("Brought up to date with {}. {}", repo.base, outcome.reason);
        let _ = store.transition(id, Some(&[TaskState::Checking]), TaskState::Ready, Some(&reason));
        Step::Green { head: outcome.head }
    }

    /// Hand a conflict back to a local agent as a follow-up; false when it cannot take one.
    async fn hand_back(&self, task: &Task, instruction: &str) -> bool {
        let config = self.ctx.config.get();
        let agent = task.agent.as_deref().or(task.spec.agent.as_deref()).unwrap_or(&config.dispatch.default_agent);
        let local = config.agents.get(agent).is_none_or(|a| a.kind == "local");
        if !local || self.ctx.agents.get(agent).is_err() {
            return false;
        }
        match self.follow_up(task.id, instruction).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(task = task.id, error = %e, "could not hand the conflict back to the agent");
                false
            }
        }
    }
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outcome_is_said_in_one_sentence() {
        let up = |step| Update { task: 4, title: "Red button".into(), base: "main".into(), step };
        let cases = [
            (Step::UpToDate, "Task 4, 'Red button', is already up to date with main."),
            (Step::Green { head: "abc".into() }, "Task 4, 'Red button', was brought up to date with main and its checks are green again."),
            (
                Step::Conflict { files: vec!["a.txt".into(), "b.txt".into()], handed_back: false },
                "Task 4, 'Red button', conflicts with main in a.txt, b.txt: it needs your attention.",
            ),
            (
                Step::Conflict { files: vec!["a.txt".into()], handed_back: true },
                "Task 4, 'Red button', conflicts with main in a.txt: I asked its agent to resolve them.",
            ),
            (
                Step::Red { reason: "Check `test` failed (exit 1)".into() },
                "Task 4, 'Red button', was brought up to date with main, but check `test` failed (exit 1): it needs attention.",
            ),
            (Step::Pushed { head: "abc".into(), pr: 7 }, "Task 4, 'Red button', was brought up to date with main and pushed to pull request 7; its checks run again on GitHub."),
        ];
        for (step, said) in cases {
            let u = up(step);
            assert_eq!(u.said(), said);
        }
        assert!(up(Step::Green { head: "x".into() }).ready());
        assert!(!up(Step::Red { reason: "x".into() }).ready());
    }

    #[test]
    fn the_follow_up_names_the_files_and_the_way() {
        let s = resolve_instruction("main", worktree::UpdateHow::Rebase, &["components/button.txt".into()]);
        assert!(s.starts_with("Resolve the conflicts with main in these files: components/button.txt."), "{s}");
        assert!(s.contains("rebase this branch onto main"), "{s}");
        assert!(resolve_instruction("dev", worktree::UpdateHow::Merge, &["a".into()]).contains("merge dev into this branch"));
    }
}
