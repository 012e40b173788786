//! Review of an agent's finished work, in a fixed order, each step recorded as a
//! task event: acceptance checks ("check"), the scope guard ("scope"), a secret
//! scan of the added lines ("secret") and a diff stat ("diffstat"), then the verdict
//! ("review": `ready` or `needs_attention` with a reason a person can read aloud).
//! The merge gate's decision is [`gate`] (pure), its reads and effects [`merge`]; review on GitHub (push, PR, its checks) in [`pr`].

pub mod checks;
pub mod gate;
pub mod merge;
pub mod pr;
pub mod scope;
pub mod secrets;

use crate::config::{Config, Repo};
use crate::git::{Git, GitError};
use crate::store::{Store, StoreError, Task, TaskState};
use serde::Serialize;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the review was interrupted: {0}")]
    Join(String),
}

/// The diff stat (the data of a "diffstat" event).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct DiffStat {
    pub files: usize,
    pub insertions: u64,
    pub deletions: u64,
    pub paths: Vec<String>,
}

/// The verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub state: TaskState,
    pub reason: String,
    pub head: String,
    pub base: String,
    pub checks_total: usize,
    pub checks_ok: usize,
    pub manual: usize,
    pub violations: Vec<String>,
    pub secrets: Vec<secrets::Finding>,
    pub diffstat: DiffStat,
}

/// Everything a review needs.
pub struct Review<'a> {
    pub store: &'a Store,
    pub git: Arc<dyn Git>,
    pub config: &'a Config,
    pub repo: &'a Repo,
    pub task: &'a Task,
    pub worktree: &'a Path,
    /// Per check command.
    pub check_timeout: Duration,
}

async fn git_blocking(git: &Arc<dyn Git>, dir: &Path, args: &[&str]) -> Result<String, ReviewError> {
    let git = git.clone();
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        git.ok(&dir, &refs)
    })
    .await
    .map_err(|e| ReviewError::Join(e.to_string()))?
    .map_err(ReviewError::from)
}

fn list(items: &[String], max: usize) -> String {
    if items.len() <= max {
        return items.join(", ");
    }
    format!("{} and {} more", items[..max].join(", "), items.len() - max)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {many}") }
}

impl Review<'_> {
    /// Run the review and record every step. The caller moves the task to `state`.
    pub async fn run(&self) -> Result<Outcome, ReviewError> {
        let id = self.task.id;
        let wt = self.worktree;
        self.store.add_event(Some(id), "review", "reviewing the agent's work", None)?;
        let head = git_blocking(&self.git, wt, &["rev-parse", "HEAD"]).await?;
        let base_ref = format!("refs/heads/{}", self.repo.base);
        let base = git_blocking(&self.git, wt, &["merge-base", &base_ref, "HEAD"]).await?;

        // 1. Acceptance checks, each named check once.
        let mut problems: Vec<String> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let (mut total, mut ok, mut manual) = (0, 0, 0);
        for criterion in &self.task.spec.acceptance {
            let name = criterion.check.as_deref().map(str::trim).filter(|n| !n.is_empty());
            let cmd = name.and_then(|n| checks::command_for(self.config, Some(self.repo), n));
            match (name, cmd) {
                (Some(n), Some(cmd)) => {
                    if !seen.insert(n.to_string()) {
                        continue;
                    }
                    total += 1;
                    let r = checks::run(n, cmd, wt, self.check_timeout).await;
                    let msg = if r.ok {
                        format!("check `{n}` passed")
                    } else {
                        match r.exit {
                            Some(code) => format!("check `{n}` failed (exit {code})"),
                            None if r.tail.contains("timed out") => format!("check `{n}` timed out"),
                            None => format!("check `{n}` could not run"),
                        }
                    };
                    if r.ok {
                        ok += 1;
                    } else {
                        problems.push(msg.clone());
                    }
                    self.store.add_event(Some(id), "check", &msg, Some(&serde_json::to_value(&r).unwrap_or_default()))?;
                }
                (name, _) => {
                    manual += 1;
                    let note = match name {
                        Some(n) => format!("manual: {} (no command configured for check `{n}`)", criterion.text),
                        None => format!("manual: {}", criterion.text),
                    };
                    self.store.add_event(
                        Some(id),
                        "manual",
                        &note,
                        Some(&json!({"text": criterion.text, "check": name})),
                    )?;
                }
            }
        }

        // 2. Scope guard.
        let changed = git_blocking(&self.git, wt, &["diff", "--name-only", "--no-renames", "-z", &base, &head]).await?;
        let changed: Vec<String> = changed.split('\0').filter(|s| !s.is_empty()).map(String::from).collect();
        let violations = scope::violations(&self.task.spec.scope, &changed);
        let scope_msg = if violations.is_empty() {
            "every change is inside the scope".to_string()
        } else {
            format!("{} outside the scope: {}", plural(violations.len(), "file", "files"), list(&violations, 5))
        };
        self.store.add_event(
            Some(id),
            "scope",
            &scope_msg,
            Some(&json!({"violations": violations, "include": self.task.spec.scope.include, "exclude": self.task.spec.scope.exclude})),
        )?;
        if !violations.is_empty() {
            problems.push(scope_msg);
        }

        // 3. Secret scan of every blob the branch adds or changes, in every commit.
        let (allow, bad) = secrets::compile_allow(&self.config.review.secret_allow);
        for b in bad {
            tracing::warn!("{b}");
        }
        let found = {
            let (git, dir, base, head) = (self.git.clone(), wt.to_path_buf(), base.clone(), head.clone());
            tokio::task::spawn_blocking(move || secrets::scan_branch(git.as_ref(), &dir, &base, &head, &allow))
                .await
                .map_err(|e| ReviewError::Join(e.to_string()))??
        };
        // A squash merge (local review only: a GitHub review pushes every commit) leaves
        // the branch's history out of the base, so a key that only the history holds is no bar.
        let squash = self.config.dispatch.merge_method == "squash" && !self.repo.reviews_on_github();
        let blocking: Vec<&secrets::Finding> = found.iter().filter(|f| !(squash && f.history_only)).collect();
        let secret_msg = secrets_message(&found, squash);
        self.store.add_event(Some(id), "secret", &secret_msg, Some(&json!({"findings": found})))?;
        if !blocking.is_empty() {
            problems.push(secret_msg);
        }

        // 4. Diff stat.
        let numstat = git_blocking(&self.git, wt, &["diff", "--numstat", "--no-renames", &base, &head]).await?;
        let stat = parse_numstat(&numstat);
        self.store.add_event(
            Some(id),
            "diffstat",
            &format!("{} changed, +{} -{}", plural(stat.files, "file", "files"), stat.insertions, stat.deletions),
            Some(&serde_json::to_value(&stat).unwrap_or_default()),
        )?;
        if stat.files == 0 {
            problems.push("the agent changed nothing".to_string());
        }

        let (state, reason) = if problems.is_empty() {
            let checks = if total == 0 {
                "No automated checks".to_string()
            } else {
                "Checks green".to_string()
            };
            let hand = if manual > 0 { format!(", {} to judge by hand", plural(manual, "criterion", "criteria")) } else { String::new() };
            (TaskState::Ready, format!("{checks}, {} changed{hand}", plural(stat.files, "file", "files")))
        } else {
            let mut r = problems.join("; ");
            if let Some(first) = r.get(..1) {
                r = first.to_uppercase() + &r[1..];
            }
            (TaskState::NeedsAttention, r)
        };
        let outcome = Outcome {
            state,
            reason,
            head,
            base,
            checks_total: total,
            checks_ok: ok,
            manual,
            violations,
            secrets: found,
            diffstat: stat,
        };
        self.store.add_event(
            Some(id),
            "review_result",
            &format!("{}: {}", outcome.state, outcome.reason),
            Some(&serde_json::to_value(&outcome).unwrap_or_default()),
        )?;
        Ok(outcome)
    }
}

/// What the secret scan found, said without the values: the kind, path, line and commit.
pub fn secrets_message(found: &[secrets::Finding], squash: bool) -> String {
    let Some(f) = found.first() else { return "no secrets in what the branch adds".to_string() };
    let at = |f: &secrets::Finding| {
        let commit = f.commit.as_deref().map(|c| format!(" (commit {c})")).unwrap_or_default();
        let history = if f.history_only {
            if squash {
                ", removed later; the squash merge leaves it out of the base branch"
            } else {
                ", removed later but still in the branch's history: a merge would carry it into the base branch \
                 (rewrite the branch, or set [dispatch] merge_method = \"squash\")"
            }
        } else {
            ""
        };
        format!("{} in {} line {}{commit}{history}", f.kind, f.path, f.line)
    };
    if found.len() == 1 {
        format!("a possible {}", at(f))
    } else {
        format!("{} possible secrets, the first a {}", found.len(), at(f))
    }
}

/// `git diff --numstat` → files, insertions, deletions, paths (binary files count as files).
pub fn parse_numstat(text: &str) -> DiffStat {
    let mut s = DiffStat::default();
    for line in text.lines() {
        let mut parts = line.splitn(3, '\t');
        let (Some(a), Some(d), Some(p)) = (parts.next(), parts.next(), parts.next()) else { continue };
        s.files += 1;
        s.insertions += a.parse::<u64>().unwrap_or(0);
        s.deletions += d.parse::<u64>().unwrap_or(0);
        s.paths.push(p.to_string());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numstat_counts_binary_files_too() {
        let s = parse_numstat("3\t1\tsrc/a.rs\n-\t-\timg.png\n10\t0\tREADME.md\ngarbage\n");
        assert_eq!(s.files, 3);
        assert_eq!(s.insertions, 13);
        assert_eq!(s.deletions, 1);
        assert_eq!(s.paths, ["src/a.rs", "img.png", "README.md"]);
    }
}
