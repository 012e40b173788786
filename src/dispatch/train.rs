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
use crate::config::Config;
use crate::review::merge::{Gate, Merged, Method, Pending};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::mpsc;

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
        self.update_ready_locked(repo, except).await
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

// ---------------------------------------------------------------------------
// "Merge all ready", once confirmed: the train runs off the coordinator's loop, one at a
// time, and tells the coordinator what it does as [`News`]. Merges go one by one through the
// gate, but the checks run speculatively, as merge queues do: the ready tasks are stacked in
// order, each prefix's combined tip is built with real git merges (plumbing only: nothing is
// checked out but a scratch worktree per tip), up to `[dispatch] max_parallel` tips are
// checked at once, and the longest green prefix is merged, each merge bound to the tree that
// was checked. A red tip drops only the task that broke it (every tip before it was green),
// and the train goes on from the base it has reached. Check runs grow with the task count,
// not with its square.

/// What a running train is doing now.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "doing", content = "tasks", rename_all = "snake_case")]
pub enum Doing {
    Starting,
    /// Checking the combined tips of these tasks, each on top of the ones before it.
    Checking(Vec<i64>),
    /// Merging this task.
    Merging(i64),
    /// Bringing the other ready tasks up to date with the new base.
    Updating,
    /// Asked to stop: it stops before the next merge.
    Stopping,
}

/// Where a train stands (what a status question is answered with while it runs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    pub total: usize,
    pub base: String,
    pub merged: Vec<i64>,
    pub dropped: Vec<i64>,
    pub doing: Doing,
}

fn tasks_said(ids: &[i64]) -> String {
    let names: Vec<String> = ids.iter().map(i64::to_string).collect();
    match names.len() {
        0 => "no task".into(),
        1 => format!("task {}", names[0]),
        n => format!("tasks {} and {}", names[..n - 1].join(", "), names[n - 1]),
    }
}

impl Progress {
    pub fn new(total: usize, base: &str) -> Progress {
        Progress { total, base: base.to_string(), merged: Vec::new(), dropped: Vec::new(), doing: Doing::Starting }
    }

    /// One or two sentences: "Merging 3 of 5 into main: task 4 is being checked on top of the
    /// ones before it. Merged so far: tasks 1 and 2."
    pub fn said(&self) -> String {
        let at = (self.merged.len() + self.dropped.len() + 1).min(self.total.max(1));
        let (total, base) = (self.total, &self.base);
        let now = match &self.doing {
            Doing::Starting => format!("The merge train into {base} is starting with {total} tasks."),
            Doing::Checking(ids) if ids.len() == 1 => {
                format!("Merging {at} of {total} into {base}: task {} is being checked on top of the ones before it.", ids[0])
            }
            Doing::Checking(ids) => format!(
                "Merging {at} of {total} into {base}: {} are being checked, each on top of the ones before it.",
                tasks_said(ids)
            ),
            Doing::Merging(id) => format!("Merging {at} of {total} into {base}: task {id} is going in now."),
            Doing::Updating => format!("The merge train into {base} is bringing the other ready tasks up to date."),
            Doing::Stopping => format!("The merge train into {base} stops before its next merge."),
        };
        let mut out = vec![now];
        if !self.merged.is_empty() {
            out.push(format!("Merged so far: {}.", tasks_said(&self.merged)));
        }
        if !self.dropped.is_empty() {
            out.push(format!("Left out: {}.", tasks_said(&self.dropped)));
        }
        out.join(" ")
    }
}

/// What a train tells the coordinator.
#[derive(Debug, Clone, PartialEq)]
pub enum News {
    Progress(Progress),
    /// A task merged (said as it lands).
    Landed { merged: Merged, title: String, at: usize, total: usize },
    /// A task was left out of the train, and why (said at once).
    Dropped { task: i64, title: String, reason: String },
    Done(Finished),
}

/// Why a task of the train was not merged.
#[derive(Debug, Clone, PartialEq)]
pub enum NotMerged {
    /// The gate refused it (its branch moved, …), in the gate's words.
    Refused(String),
    /// Left out: its combined tip was red or did not merge; why.
    LeftOut(String),
    /// The user stopped the train before its turn.
    Stopped,
}

/// How a train ended.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Finished {
    /// Per task of the batch, in the order it was decided: merged, or why not.
    pub results: Vec<(i64, Result<(), NotMerged>)>,
    pub merged: Vec<Merged>,
    /// The user stopped it.
    pub stopped: bool,
    /// Check commands run on combined tips.
    pub checks_run: usize,
    /// What bringing the other ready tasks up to date did (said after the outcome).
    pub updates: Vec<String>,
}

impl News {
    /// What the coordinator says for it, as it happens (`None`: nothing).
    pub fn said(&self) -> Option<String> {
        match self {
            News::Landed { merged, title, at, total } => {
                Some(format!("Merged task {}, '{title}', into {} ({at} of {total}).", merged.task, merged.base))
            }
            News::Dropped { task, title, reason } => Some(format!("Task {task}, '{title}', is left out of the merge train: {}.", reason.trim_end_matches('.'))),
            News::Progress(_) | News::Done(_) => None,
        }
    }
}

/// "Stop the train", "stop merging", "halt the merge train": the running train stops before
/// its next merge. Only asked when a train runs; pure.
pub fn asks_to_stop(text: &str) -> bool {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let stop = words.iter().any(|w| matches!(*w, "stop" | "halt" | "pause" | "abort" | "cancel"));
    let train = words.iter().any(|w| matches!(*w, "train" | "merging" | "merges"));
    stop && train
}

/// One checked tip: the task on top, and its check result (`Err`: why it is red).
pub type TipResult = (i64, Result<(), String>);

/// Of tips checked in order (each on top of the one before), how many lead green, and the
/// task that broke the first red one (every tip before it was green), with why.
pub fn longest_green(results: &[TipResult]) -> (usize, Option<(i64, String)>) {
    for (i, (task, r)) in results.iter().enumerate() {
        if let Err(why) = r {
            return (i, Some((*task, why.clone())));
        }
    }
    (results.len(), None)
}

/// The checks a combined tip runs: each named check of its tasks once, in order, that has
/// a command (a criterion a person judges runs nothing here).
fn check_names(config: &Config, repo: &Repo, tasks: &[&Task]) -> Vec<(String, crate::config::CheckCmd)> {
    let mut out: Vec<(String, crate::config::CheckCmd)> = Vec::new();
    for t in tasks {
        for c in &t.spec.acceptance {
            let Some(name) = c.check.as_deref().map(str::trim).filter(|n| !n.is_empty()) else { continue };
            if out.iter().any(|(n, _)| n == name) {
                continue;
            }
            if let Some(cmd) = crate::review::checks::command_for(config, Some(repo), name) {
                out.push((name.to_string(), cmd.clone()));
            }
        }
    }
    out
}

/// git's worktree list is one file per worktree under the repo's git dir, and adding one
/// while another is added, removed or pruned can read a half-written entry: scratch
/// worktrees are added and removed one at a time (their checks run side by side).
static SCRATCH: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A combined tip built in scratch: the commit and its tree.
#[derive(Debug, Clone)]
struct Tip {
    task: i64,
    commit: String,
    tree: String,
}

impl DispatchHandle {
    /// Run a confirmed "merge all ready" (`batch`: one head-bound question per task, confirmed
    /// at `clock`) through `gate`, telling `news` what happens; `stop` ends it before the next
    /// merge. One train at a time.
    pub async fn ride(&self, gate: Gate, batch: Vec<Pending>, clock: tokio::time::Instant, news: mpsc::Sender<News>, stop: Arc<AtomicBool>) -> Finished {
        let turn = self.train.lock().await;
        let config = self.ctx.config.get();
        let store = self.ctx.store.clone();
        let total = batch.len();
        let base_name = {
            let bases: std::collections::BTreeSet<String> =
                batch.iter().filter_map(|p| store.task(p.task).ok()).filter_map(|t| self.repo_of(&t).map(|r| r.base)).collect();
            if bases.len() == 1 { bases.into_iter().next().unwrap_or_default() } else { "their base branches".into() }
        };
        let mut progress = Progress::new(total, &base_name);
        let mut fin = Finished::default();
        let mut landed_in: Vec<String> = Vec::new();
        // Per repo: the base commit this train's own last merge made.
        let mut train_base: HashMap<String, String> = HashMap::new();
        // Trees already checked green, with the checks that ran on them: a task's own
        // reviewed head (the gate merges only a head whose review was green).
        let mut green: HashMap<String, BTreeSet<String>> = HashMap::new();
        let method = Method::parse(&config.dispatch.merge_method);
        let width = config.dispatch.max_parallel.max(1);
        let mut queue: VecDeque<Pending> = batch.into();
        let tell = |n: News| {
            let news = news.clone();
            async move {
                let _ = news.send(n).await;
            }
        };
        tell(News::Progress(progress.clone())).await;
        // Scratch worktrees a stopped daemon left behind are forgotten by git first.
        self.clear_scratch().await;
        'train: while let Some(first) = queue.front().cloned() {
            if stop.load(Ordering::SeqCst) {
                fin.stopped = true;
                break;
            }
            let task = match store.task(first.task) {
                Ok(t) => t,
                Err(e) => {
                    queue.pop_front();
                    fin.results.push((first.task, Err(NotMerged::Refused(e.to_string()))));
                    continue;
                }
            };
            let Some(repo) = self.repo_of(&task) else {
                queue.pop_front();
                fin.results.push((first.task, Err(NotMerged::Refused(format!("Task {}'s repo is not configured; nothing merged", first.task)))));
                continue;
            };
            // A pull request (merged by GitHub) or a fast-forward train goes one by one: merge,
            // then bring the rest up to date and check them again.
            if first.pr.is_some() || method == Some(Method::FastForward) {
                queue.pop_front();
                progress.doing = Doing::Merging(first.task);
                tell(News::Progress(progress.clone())).await;
                let outcome = match (first.pr, train_base.get(&repo.name).cloned()) {
                    (None, Some(b)) => {
                        let (g, p) = (gate.clone(), first.clone());
                        tokio::task::spawn_blocking(move || g.confirm_in_train(&p, None, clock, Some(&b))).await.unwrap_or_else(|e| Err(refused(e)))
                    }
                    _ => gate.merge(&first, None, clock).await,
                };
                match outcome {
                    Ok(m) => {
                        if m.pr.is_none() {
                            train_base.insert(repo.name.clone(), m.new.clone());
                        }
                        progress.merged.push(m.task);
                        fin.results.push((m.task, Ok(())));
                        tell(News::Landed { merged: m.clone(), title: task.title.clone(), at: progress.merged.len() + progress.dropped.len(), total }).await;
                        fin.merged.push(m.clone());
                        if !m.queued {
                            let waiting: Vec<i64> = queue.iter().map(|p| p.task).collect();
                            for up in self.update_ready_locked(&repo.name, &[m.task]).await {
                                if up.step != Step::UpToDate && !waiting.contains(&up.task) {
                                    fin.updates.push(up.said());
                                }
                            }
                        }
                    }
                    Err(r) => {
                        progress.dropped.push(first.task);
                        fin.results.push((first.task, Err(NotMerged::Refused(r.reason))));
                    }
                }
                continue;
            }
            // The window: the next local tasks of this repo, up to max_parallel.
            let mut window: Vec<(Pending, Task)> = Vec::new();
            for p in queue.iter().take(width) {
                let Ok(t) = store.task(p.task) else { break };
                if p.pr.is_some() || self.repo_of(&t).is_none_or(|r| r.name != repo.name) {
                    break;
                }
                window.push((p.clone(), t));
            }
            for (p, t) in &window {
                if let Ok(tree) = self.tree_of(&repo, &p.head).await {
                    green.entry(tree).or_default().extend(check_names(&config, &repo, &[t]).into_iter().map(|(n, _)| n));
                }
            }
            // Build each prefix's combined tip on the base as it is now.
            let base = match self.base_commit(&repo, false).await {
                Ok(b) => b,
                Err(e) => {
                    for p in queue.drain(..) {
                        fin.results.push((p.task, Err(NotMerged::Refused(e.clone()))));
                    }
                    break;
                }
            };
            let mut tips: Vec<Tip> = Vec::new();
            let mut prev = base.clone();
            for (p, t) in &window {
                match self.build_tip(&repo, method, &prev, p, t).await {
                    Ok(tip) => {
                        prev = tip.commit.clone();
                        tips.push(tip);
                    }
                    Err(why) if tips.is_empty() => {
                        // It does not even merge onto the base as it is now: left out.
                        queue.pop_front();
                        self.drop_task(t, &why, &repo).await;
                        progress.dropped.push(t.id);
                        fin.results.push((t.id, Err(NotMerged::LeftOut(why.clone()))));
                        tell(News::Dropped { task: t.id, title: t.title.clone(), reason: why }).await;
                        continue 'train;
                    }
                    // Built again on the real base once the tips before it are merged.
                    Err(_) => break,
                }
            }
            // Check the tips at once (each on its own task, so they run side by side), and merge
            // each as soon as it and every tip before it are green.
            let names_of: Vec<Vec<(String, crate::config::CheckCmd)>> = (0..tips.len())
                .map(|i| check_names(&config, &repo, &window[..=i].iter().map(|(_, t)| t).collect::<Vec<&Task>>()))
                .collect();
            let mut running: VecDeque<tokio::task::JoinHandle<(Result<(), String>, usize)>> = tips
                .iter()
                .zip(&names_of)
                .enumerate()
                .map(|(slot, (tip, names))| {
                    let known = green.get(&tip.tree).is_some_and(|done| names.iter().all(|(n, _)| done.contains(n)));
                    let (me, repo, tip, names) = (self.clone(), repo.clone(), tip.clone(), names.clone());
                    tokio::spawn(async move { if known { (Ok(()), 0) } else { me.check_tip(&repo, &tip, slot, &names).await } })
                })
                .collect();
            let mut results: Vec<TipResult> = Vec::new();
            let mut done = 0;
            while let Some(handle) = running.pop_front() {
                progress.doing = Doing::Checking(tips[results.len()..].iter().map(|t| t.task).collect());
                tell(News::Progress(progress.clone())).await;
                let (r, ran) = handle.await.unwrap_or_else(|e| (Err(format!("its check could not run: {e}")), 0));
                fin.checks_run += ran;
                let tip = &tips[results.len()];
                if r.is_ok() {
                    green.entry(tip.tree.clone()).or_default().extend(names_of[results.len()].iter().map(|(n, _)| n.clone()));
                }
                results.push((tip.task, r));
                let (lead, broke) = longest_green(&results);
                // Merge the green ones in order, each through the gate and bound to its checked tree.
                while done < lead {
                    if stop.load(Ordering::SeqCst) {
                        fin.stopped = true;
                        fin.checks_run += self.drain(running).await;
                        break 'train;
                    }
                    let (tip, (p, t)) = (&tips[done], &window[done]);
                    done += 1;
                    queue.pop_front();
                    progress.doing = Doing::Merging(t.id);
                    tell(News::Progress(progress.clone())).await;
                    let (g, p2, b, tree) = (gate.clone(), p.clone(), train_base.get(&repo.name).cloned(), tip.tree.clone());
                    let outcome = tokio::task::spawn_blocking(move || g.confirm_checked(&p2, None, clock, b.as_deref(), Some(&tree)))
                        .await
                        .unwrap_or_else(|e| Err(refused(e)));
                    match outcome {
                        Ok(m) => {
                            train_base.insert(repo.name.clone(), m.new.clone());
                            if !landed_in.contains(&repo.name) {
                                landed_in.push(repo.name.clone());
                            }
                            let _ = store.add_event(
                                Some(t.id),
                                "train",
                                &format!("merged by the merge train; the combined tree {} was checked", short(&tip.tree)),
                                Some(&serde_json::json!({"tree": tip.tree, "tip": tip.commit, "new": m.new})),
                            );
                            progress.merged.push(t.id);
                            fin.results.push((t.id, Ok(())));
                            tell(News::Landed { merged: m.clone(), title: t.title.clone(), at: progress.merged.len() + progress.dropped.len(), total }).await;
                            fin.merged.push(m);
                        }
                        Err(r) => {
                            // Refused (its branch moved, the base moved under it, …): the tips
                            // after it hold its change, so they are built again.
                            progress.dropped.push(t.id);
                            fin.results.push((t.id, Err(NotMerged::Refused(r.reason.clone()))));
                            tell(News::Dropped { task: t.id, title: t.title.clone(), reason: r.reason }).await;
                            fin.checks_run += self.drain(running).await;
                            continue 'train;
                        }
                    }
                }
                if let Some((id, why)) = broke {
                    // Every tip before it was green: this task broke it. The tips after it
                    // hold its change; they are built again without it.
                    fin.checks_run += self.drain(std::mem::take(&mut running)).await;
                    let t = &window[results.len() - 1].1;
                    queue.retain(|p| p.task != id);
                    let on = if progress.merged.is_empty() { repo.base.clone() } else { format!("{} with {}", repo.base, tasks_said(&progress.merged)) };
                    let reason = format!("on top of {on}, {}", why.trim_end_matches('.'));
                    self.drop_task(t, &reason, &repo).await;
                    progress.dropped.push(id);
                    fin.results.push((id, Err(NotMerged::LeftOut(reason.clone()))));
                    tell(News::Dropped { task: id, title: t.title.clone(), reason }).await;
                    break;
                }
            }
        }
        if fin.stopped {
            for p in queue.drain(..) {
                fin.results.push((p.task, Err(NotMerged::Stopped)));
            }
        }
        // The other ready tasks are brought up to date with what the train merged.
        if !landed_in.is_empty() {
            progress.doing = Doing::Updating;
            tell(News::Progress(progress.clone())).await;
            let batch: Vec<i64> = fin.results.iter().map(|(id, _)| *id).collect();
            for repo in &landed_in {
                for up in self.update_ready_locked(repo, &[]).await {
                    if up.step != Step::UpToDate && !batch.contains(&up.task) {
                        fin.updates.push(up.said());
                    }
                }
            }
        }
        self.clear_scratch().await;
        drop(turn);
        tell(News::Done(fin.clone())).await;
        fin
    }

    /// Let checks made stale by a red tip or a refusal finish (their scratch worktrees are
    /// removed as they end), so no more than `max_parallel` run at once.
    async fn drain(&self, running: VecDeque<tokio::task::JoinHandle<(Result<(), String>, usize)>>) -> usize {
        let mut ran = 0;
        for h in running {
            ran += h.await.map(|(_, n)| n).unwrap_or(0);
        }
        ran
    }

    fn repo_of(&self, task: &Task) -> Option<Repo> {
        resolve_repo(&self.ctx.config.get(), task.repo.as_deref().or(task.spec.repo.as_deref())).ok().cloned()
    }

    async fn tree_of(&self, repo: &Repo, commit: &str) -> Result<String, String> {
        let (git, dir, spec) = (self.ctx.git.clone(), PathBuf::from(&repo.path), format!("{commit}^{{tree}}"));
        tokio::task::spawn_blocking(move || git.ok(&dir, &["rev-parse", &spec]).map_err(|e| e.to_string())).await.unwrap_or_else(|e| Err(e.to_string()))
    }

    /// The combined tip of `p`'s head on top of `onto`, made the way the gate's merge will
    /// make it (`git merge-tree`, then a commit with the same parents), or why it cannot be.
    async fn build_tip(&self, repo: &Repo, method: Option<Method>, onto: &str, p: &Pending, t: &Task) -> Result<Tip, String> {
        let (git, dir, onto, head, id, base) = (self.ctx.git.clone(), PathBuf::from(&repo.path), onto.to_string(), p.head.clone(), t.id, repo.base.clone());
        tokio::task::spawn_blocking(move || {
            let out = git
                .run(&dir, &["merge-tree", "--write-tree", "--name-only", "--no-messages", &onto, &head])
                .map_err(|e| format!("cannot merge it: {e}"))?;
            let mut lines = out.stdout.lines();
            let tree = lines.next().unwrap_or("").trim().to_string();
            match out.code {
                0 if !tree.is_empty() => {}
                1 => {
                    let mut files: Vec<String> = lines.map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
                    files.dedup();
                    let list = if files.is_empty() { "the same lines".to_string() } else { files.join(", ") };
                    return Err(format!("it conflicts with {base} in {list}"));
                }
                _ => return Err(format!("cannot merge it: {}", out.stderr.trim())),
            }
            let msg = format!("capcom merge train: task {id} on top of {}", short(&onto));
            let mut args = vec!["commit-tree", tree.as_str(), "-p", onto.as_str()];
            if method != Some(Method::Squash) {
                args.extend(["-p", head.as_str()]);
            }
            args.extend(["-m", msg.as_str()]);
            let commit = git.ok(&dir, &args).map_err(|e| format!("cannot make its combined commit: {e}"))?;
            Ok(Tip { task: id, commit, tree })
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()))
    }

    /// Run `checks` on a combined tip in a scratch worktree (removed after). Ok, or the first
    /// red check; and how many check commands ran.
    async fn check_tip(&self, repo: &Repo, tip: &Tip, slot: usize, checks: &[(String, crate::config::CheckCmd)]) -> (Result<(), String>, usize) {
        if checks.is_empty() {
            return (Ok(()), 0);
        }
        // One scratch worktree per place in the window, kept for the train's length: moving it
        // to the next tip touches only the files that differ.
        let scratch = self.ctx.data.root().join("train").join(format!("{}-{slot}", repo.name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect::<String>()));
        let (git, dir, path, commit) = (self.ctx.git.clone(), PathBuf::from(&repo.path), scratch.clone(), tip.commit.clone());
        let made = tokio::task::spawn_blocking(move || {
            let p = path.display().to_string();
            if path.join(".git").exists() {
                git.ok(&path, &["checkout", "--detach", "--force", "--quiet", &commit]).map_err(|e| e.to_string())?;
                // Exactly the tip's files: nothing a check before it left behind.
                return git.ok(&path, &["clean", "-ffdxq"]).map(|_| ()).map_err(|e| e.to_string());
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            let _one = SCRATCH.lock().unwrap_or_else(|e| e.into_inner());
            let _ = std::fs::remove_dir_all(&path);
            let _ = git.run(&dir, &["worktree", "prune"]);
            git.ok(&dir, &["worktree", "add", "--detach", "--quiet", &p, &commit]).map(|_| ()).map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        if let Err(e) = made {
            return (Err(format!("its combined tip could not be checked out: {e}")), 0);
        }
        let timeout = self.ctx.config.get().dispatch.timeout.get();
        let _ = self.ctx.store.add_event(Some(tip.task), "train", &format!("checking the combined tip {} with the tasks before it", short(&tip.tree)), Some(&serde_json::json!({"tree": tip.tree, "tip": tip.commit})));
        let mut result = Ok(());
        let mut ran = 0;
        for (name, cmd) in checks {
            ran += 1;
            let r = crate::review::checks::run(name, cmd, &scratch, timeout).await;
            if !r.ok {
                let what = match r.exit {
                    Some(code) => format!("check `{name}` failed (exit {code})"),
                    None if r.tail.contains("timed out") => format!("check `{name}` timed out"),
                    None => format!("check `{name}` could not run"),
                };
                let _ = self.ctx.store.add_event(Some(tip.task), "train", &format!("the combined tip {}: {what}", short(&tip.tree)), Some(&serde_json::to_value(&r).unwrap_or_default()));
                result = Err(what);
                break;
            }
        }
        (result, ran)
    }

    /// Remove the train's scratch worktrees (at its start, what a stopped daemon left; at its end, its own).
    async fn clear_scratch(&self) {
        let config = self.ctx.config.get();
        let scratch = self.ctx.data.root().join("train");
        for repo in config.repos.iter() {
            let (git, dir, scratch) = (self.ctx.git.clone(), PathBuf::from(&repo.path), scratch.clone());
            let _ = tokio::task::spawn_blocking(move || {
                let _one = SCRATCH.lock().unwrap_or_else(|e| e.into_inner());
                let _ = std::fs::remove_dir_all(&scratch);
                let _ = git.run(&dir, &["worktree", "prune"]);
            })
            .await;
        }
    }

    /// A task left out of the train needs attention, with why; a conflict goes back to its
    /// agent when `[dispatch] resolve_conflicts` says so.
    async fn drop_task(&self, task: &Task, why: &str, repo: &Repo) {
        let store = &self.ctx.store;
        let reason = format!("Left out of the merge train: {}", why.trim_end_matches('.'));
        let _ = store.add_event(Some(task.id), "train", &reason, Some(&serde_json::json!({"left_out": why})));
        let _ = store.transition(task.id, Some(&[TaskState::Ready]), TaskState::NeedsAttention, Some(&reason));
        if self.ctx.config.get().dispatch.resolve_conflicts && why.contains("conflicts with") {
            let files: Vec<String> = why.rsplit(" in ").next().unwrap_or("").split(", ").map(String::from).collect();
            let how = worktree::UpdateHow::parse(&self.ctx.config.get().dispatch.update);
            let _ = self.hand_back(task, &resolve_instruction(&repo.base, how, &files)).await;
        }
    }

    /// [`DispatchHandle::update_ready`] for a caller that already holds the train's turn.
    async fn update_ready_locked(&self, repo: &str, except: &[i64]) -> Vec<Update> {
        let tasks: Vec<Task> = self
            .ctx
            .store
            .tasks_in(&[TaskState::Ready])
            .unwrap_or_default()
            .into_iter()
            .filter(|t| !except.contains(&t.id) && self.repo_of(t).is_some_and(|r| r.name == repo))
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(self.update_locked(t.id).await);
        }
        out
    }
}

fn refused(e: impl std::fmt::Display) -> crate::review::merge::Refusal {
    crate::review::merge::Refusal { reason: e.to_string(), needs_attention: false, stale: false }
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
    fn the_longest_green_prefix_is_merged_and_the_first_red_names_the_task_that_broke_it() {
        let ok = |t: i64| (t, Ok(()));
        let red = |t: i64, why: &str| (t, Err(why.to_string()));
        type Case<'a> = (Vec<TipResult>, usize, Option<(i64, &'a str)>);
        let cases: Vec<Case> = vec![
            (vec![], 0, None),
            (vec![ok(1), ok(2), ok(3)], 3, None),
            (vec![ok(1), ok(2), red(3, "check `build` failed (exit 1)"), red(4, "x"), red(5, "x")], 2, Some((3, "check `build` failed (exit 1)"))),
            (vec![red(1, "a"), ok(2)], 0, Some((1, "a"))),
            // A green tip after a red one is not trusted: it holds the red one's change.
            (vec![ok(1), red(2, "b"), ok(3)], 1, Some((2, "b"))),
        ];
        for (results, lead, broke) in cases {
            let (l, b) = longest_green(&results);
            assert_eq!(l, lead, "{results:?}");
            assert_eq!(b, broke.map(|(t, w)| (t, w.to_string())), "{results:?}");
        }
    }

    #[test]
    fn progress_is_said_as_where_the_train_stands() {
        let p = |merged: Vec<i64>, dropped: Vec<i64>, doing| Progress { total: 5, base: "main".into(), merged, dropped, doing };
        let cases = [
            (p(vec![], vec![], Doing::Starting), "The merge train into main is starting with 5 tasks."),
            (
                p(vec![1, 2], vec![], Doing::Checking(vec![4])),
                "Merging 3 of 5 into main: task 4 is being checked on top of the ones before it. Merged so far: tasks 1 and 2.",
            ),
            (
                p(vec![], vec![], Doing::Checking(vec![1, 2, 3])),
                "Merging 1 of 5 into main: tasks 1, 2 and 3 are being checked, each on top of the ones before it.",
            ),
            (
                p(vec![1, 2], vec![3], Doing::Merging(4)),
                "Merging 4 of 5 into main: task 4 is going in now. Merged so far: tasks 1 and 2. Left out: task 3.",
            ),
            (p(vec![1], vec![], Doing::Stopping), "The merge train into main stops before its next merge. Merged so far: task 1."),
            (p(vec![1, 2, 4, 5], vec![3], Doing::Updating), "The merge train into main is bringing the other ready tasks up to date. Merged so far: tasks 1, 2, 4 and 5. Left out: task 3."),
        ];
        for (progress, said) in cases {
            assert_eq!(progress.said(), said);
        }
    }

    #[test]
    fn each_merge_and_each_task_left_out_is_said_once_as_it_happens() {
        let merged = Merged { task: 4, base: "main".into(), old: "a".into(), new: "b".into(), method: "merge".into(), note: None, pr: None, queued: false };
        let cases = [
            (News::Landed { merged, title: "Red button".into(), at: 3, total: 5 }, Some("Merged task 4, 'Red button', into main (3 of 5).")),
            (
                News::Dropped { task: 3, title: "Drop the API".into(), reason: "on top of main with tasks 1 and 2, check `build` failed (exit 1)".into() },
                Some("Task 3, 'Drop the API', is left out of the merge train: on top of main with tasks 1 and 2, check `build` failed (exit 1)."),
            ),
            (News::Progress(Progress::new(2, "main")), None),
            (News::Done(Finished::default()), None),
        ];
        for (news, said) in cases {
            assert_eq!(news.said().as_deref(), said);
        }
    }

    #[test]
    fn stop_the_train_is_heard_in_its_usual_words() {
        for yes in ["stop the train", "Stop the merge train.", "halt the train please", "stop merging", "cancel the train", "abort the merges"] {
            assert!(asks_to_stop(yes), "{yes}");
        }
        for no in ["stop task 3", "merge all ready", "what's the train doing", "cancel that", "stop"] {
            assert!(!asks_to_stop(no), "{no}");
        }
    }

    #[test]
    fn the_follow_up_names_the_files_and_the_way() {
        let s = resolve_instruction("main", worktree::UpdateHow::Rebase, &["components/button.txt".into()]);
        assert!(s.starts_with("Resolve the conflicts with main in these files: components/button.txt."), "{s}");
        assert!(s.contains("rebase this branch onto main"), "{s}");
        assert!(resolve_instruction("dev", worktree::UpdateHow::Merge, &["a".into()]).contains("merge dev into this branch"));
    }
}
