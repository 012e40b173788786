//! Worktrees do not eat the disk. A task's worktree goes when the task is merged or
//! cancelled, or failed longer ago than `[dispatch] keep_failed`; folders under
//! `<data dir>/worktrees` that no task owns go too, and the local branches of merged
//! tasks. A worktree is never removed while its task is live (queued, running,
//! checking, ready, needing attention or held), and what an agent left uncommitted is
//! committed to the task's branch before its worktree goes.

use super::worktree::{self, Git};
use crate::config::{Config, DataDir};
use crate::store::{Store, Task, TaskState};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One thing `capcom gc` removes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sweep {
    /// The owning task, if any.
    pub task: Option<i64>,
    pub path: PathBuf,
    pub why: String,
    /// Bytes on disk.
    pub bytes: u64,
}

/// Bytes `path` takes on disk, counted as `du` counts them: the blocks allocated to every
/// file, folder and symlink under it (symlinks not followed), a hard-linked file once. A
/// worktree of many small files takes a block each, far more than the sum of their lengths;
/// git's shared objects live in the repo, not under a worktree, so they are not counted here.
pub fn disk_usage(path: &Path) -> u64 {
    let mut seen = std::collections::HashSet::new();
    allocated(path, &mut seen)
}

fn allocated(path: &Path, seen: &mut std::collections::HashSet<(u64, u64)>) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    if meta.nlink() > 1 && !meta.is_dir() && !seen.insert((meta.dev(), meta.ino())) {
        return 0;
    }
    let own = meta.blocks() * 512;
    if !meta.is_dir() {
        return own;
    }
    own + std::fs::read_dir(path).map(|rd| rd.flatten().map(|e| allocated(&e.path(), seen)).sum::<u64>()).unwrap_or(0)
}

/// Why a task's worktree may go now, if it may.
pub fn reason_to_remove(task: &Task, now: DateTime<Utc>, keep_failed: chrono::Duration) -> Option<String> {
    match task.state {
        TaskState::Merged => Some(format!("task {} is merged", task.id)),
        TaskState::Cancelled => Some(format!("task {} was cancelled", task.id)),
        TaskState::Failed => {
            let at = DateTime::parse_from_rfc3339(&task.updated_at).ok()?.with_timezone(&Utc);
            (now - at >= keep_failed).then(|| format!("task {} failed more than {} days ago", task.id, keep_failed.num_days().max(0)))
        }
        _ => None,
    }
}

/// What to remove now. A merged task whose worktree is gone but whose branch is left (a
/// merge or clean-up stopped between the two, e.g. the daemon was killed) is listed too.
pub fn plan(git: &dyn Git, store: &Store, config: &Config, data: &DataDir, now: DateTime<Utc>) -> Vec<Sweep> {
    let keep = chrono::Duration::from_std(config.dispatch.keep_failed.get()).unwrap_or(chrono::Duration::days(3));
    let tasks = store.tasks(true).unwrap_or_default();
    let mut out = Vec::new();
    let mut owned: Vec<PathBuf> = Vec::new();
    for t in &tasks {
        let Some(wt) = t.worktree.as_deref().map(PathBuf::from) else { continue };
        owned.push(wt.clone());
        if !wt.exists() {
            if t.state == TaskState::Merged
                && let Some(b) = t.branch.as_deref()
                && let Ok(repo) = super::resolve_repo(config, t.repo.as_deref().or(t.spec.repo.as_deref()))
                && worktree::rev(git, Path::new(&repo.path), &format!("refs/heads/{b}")).is_ok()
            {
                out.push(Sweep { task: Some(t.id), bytes: 0, path: wt, why: format!("task {} is merged; its branch {b} was left", t.id) });
            }
            continue;
        }
        if let Some(why) = reason_to_remove(t, now, keep) {
            out.push(Sweep { task: Some(t.id), bytes: disk_usage(&wt), path: wt, why });
        }
    }
    if let Ok(rd) = std::fs::read_dir(data.worktrees()) {
        for e in rd.flatten() {
            let p = e.path();
            // A worktree being made right now has no owner recorded yet: leave young ones alone.
            let young = e.metadata().ok().and_then(|m| m.modified().ok()).and_then(|m| m.elapsed().ok()).is_none_or(|age| age.as_secs() < 600);
            if p.is_dir() && !owned.iter().any(|o| o == &p) && !young {
                out.push(Sweep { task: None, bytes: disk_usage(&p), path: p, why: "no task owns it".into() });
            }
        }
    }
    out
}

/// Remove what `plan` found: commit leftovers first, then the worktree; the local branch
/// of a merged task too. Returns what was done, one line each.
pub fn sweep(git: &dyn Git, store: &Store, config: &Config, items: &[Sweep]) -> Vec<String> {
    let mut done = Vec::new();
    for item in items {
        let task = item.task.and_then(|id| store.task(id).ok());
        // Re-read: the task may have come back to life (a retry) since the plan.
        if let Some(t) = &task
            && !matches!(t.state, TaskState::Merged | TaskState::Cancelled | TaskState::Failed)
        {
            continue;
        }
        let repo = task
            .as_ref()
            .and_then(|t| super::resolve_repo(config, t.repo.as_deref().or(t.spec.repo.as_deref())).ok())
            .map(|r| PathBuf::from(&r.path))
            .or_else(|| repo_of_worktree(git, &item.path));
        // Leftovers are committed only in a whole worktree of the task's own repo: one whose
        // removal was cut short (its `.git` file gone) would let git find an enclosing repo.
        let whole = repo.as_ref().is_some_and(|r| is_worktree_of(git, &item.path, r));
        if let (Some(t), true) = (&task, whole) {
            let msg = format!("capcom: work left in the worktree of task {} when it was cleaned up", t.id);
            if let Ok(Some(sha)) = worktree::commit_leftovers(git, &item.path, &msg) {
                let _ = store.add_event(Some(t.id), "autocommit", &format!("committed what was left uncommitted ({})", &sha[..sha.len().min(7)]), None);
            }
        }
        match &repo {
            Some(r) => worktree::remove(git, r, &item.path),
            None => {
                let _ = std::fs::remove_dir_all(&item.path);
            }
        }
        if let (Some(t), Some(r)) = (&task, &repo) {
            if t.state == TaskState::Merged
                && let Some(b) = t.branch.as_deref()
            {
                let _ = git.run(r, &["branch", "-D", b]);
            }
            let _ = store.add_event(Some(t.id), "cleanup", &format!("worktree removed: {}", item.why), None);
        }
        done.push(format!("removed {} ({})", item.path.display(), item.why));
    }
    done
}

/// Whether `wt` is the top of a worktree of `repo` (not a folder inside some other repo).
fn is_worktree_of(git: &dyn Git, wt: &Path, repo: &Path) -> bool {
    let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let top = git.ok(wt, &["rev-parse", "--show-toplevel"]).map(PathBuf::from);
    let owner = repo_of_worktree(git, wt);
    top.is_ok_and(|t| canon(&t) == canon(wt)) && owner.is_some_and(|o| canon(&o) == canon(repo))
}

/// The repository a worktree belongs to, from its `.git` file.
fn repo_of_worktree(git: &dyn Git, wt: &Path) -> Option<PathBuf> {
    let common = git.ok(wt, &["rev-parse", "--path-format=absolute", "--git-common-dir"]).ok()?;
    let common = PathBuf::from(common);
    // <repo>/.git → <repo>; a bare repo is its own dir.
    Some(if common.file_name().is_some_and(|n| n == ".git") { common.parent()?.to_path_buf() } else { common })
}

#[cfg(test)]
mod tests {
    /// `capcom doctor` and `capcom gc` say what `du` says: a worktree of 300 small files
    /// took 8 MB on disk while the lengths of its files added up to 3 KB.
    #[test]
    fn disk_usage_counts_what_du_counts() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("wt");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        for i in 0..300 {
            std::fs::write(root.join(if i % 2 == 0 { "a" } else { "a/b" }).join(format!("f{i}.js")), "x = 1;\n").unwrap();
        }
        std::fs::write(root.join("big.bin"), vec![7u8; 200_000]).unwrap();
        std::fs::hard_link(root.join("big.bin"), root.join("big-again.bin")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("outside")).unwrap();
        let du = std::process::Command::new("du").args(["-s", "-B1"]).arg(&root).output().unwrap();
        let du: u64 = String::from_utf8_lossy(&du.stdout).split_whitespace().next().unwrap().parse().unwrap();
        assert_eq!(super::disk_usage(&root), du);
        assert_eq!(super::disk_usage(&root.join("nothing-here")), 0);
    }

    use super::*;

    #[test]
    fn which_worktrees_may_go() {
        let now = Utc::now();
        let keep = chrono::Duration::days(3);
        let mut t = Task { id: 1, ..Task::default() };
        // (state, age in hours, removable)
        let cases = [
            (TaskState::Merged, 0, true),
            (TaskState::Cancelled, 0, true),
            (TaskState::Failed, 1, false),
            (TaskState::Failed, 80, true),
            (TaskState::Running, 500, false),
            (TaskState::Ready, 500, false),
            (TaskState::NeedsAttention, 500, false),
            (TaskState::Held, 500, false),
            (TaskState::Queued, 500, false),
        ];
        for (state, hours, want) in cases {
            t.state = state;
            t.updated_at = (now - chrono::Duration::hours(hours)).to_rfc3339();
            assert_eq!(reason_to_remove(&t, now, keep).is_some(), want, "{state} {hours}h");
        }
    }
}
