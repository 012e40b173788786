//! Git, behind one small trait ([`Git`]) with one real implementation ([`GitCli`]:
//! the `git` program, always through an argv, never a shell), and the worktree
//! operations built on it: a branch `capcom/<id>-<slug>` from the repo's base, a
//! `git worktree add` under `<data dir>/worktrees`, `.capcom/` kept out of commits,
//! and the auto-commit of what an agent left uncommitted.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run git: {0}")]
    Spawn(String),
    #[error("git {args} failed in {dir}: {message}")]
    Failed { args: String, dir: String, code: Option<i32>, message: String },
    /// A configured repo that cannot be used, said plainly.
    #[error("{0}")]
    Repo(String),
}

impl GitError {
    pub fn code(&self) -> Option<i32> {
        match self {
            GitError::Failed { code, .. } => *code,
            GitError::Spawn(_) | GitError::Repo(_) => None,
        }
    }
}

/// The output of one git command.
#[derive(Debug, Clone, Default)]
pub struct GitOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Git as an outside system. `run` never fails on a non-zero exit (the caller
/// decides); `ok` does.
pub trait Git: Send + Sync {
    fn run(&self, dir: &Path, args: &[&str]) -> Result<GitOutput, GitError>;

    /// Run and require exit 0; the trimmed stdout.
    fn ok(&self, dir: &Path, args: &[&str]) -> Result<String, GitError> {
        let out = self.run(dir, args)?;
        if out.code != 0 {
            return Err(GitError::Failed {
                args: args.join(" "),
                dir: dir.display().to_string(),
                code: Some(out.code),
                message: out.stderr.trim().lines().last().unwrap_or("").to_string(),
            });
        }
        Ok(out.stdout.trim_end().to_string())
    }

    /// Run with `input` on stdin (`git patch-id`). Never fails on a non-zero exit.
    fn run_input(&self, dir: &Path, args: &[&str], input: &[u8]) -> Result<GitOutput, GitError> {
        let _ = (dir, input);
        Err(GitError::Spawn(format!("git {} needs input, which this git cannot take", args.join(" "))))
    }
}

/// The `git` program.
#[derive(Debug, Clone, Default)]
pub struct GitCli;

/// Identity for commits capcom makes when the repo has none configured.
fn fallback_identity(dir: &Path) -> bool {
    static NEED: OnceLock<bool> = OnceLock::new();
    *NEED.get_or_init(|| {
        let has = |key: &str| {
            Command::new("git")
                .args(["config", "--get", key])
                .current_dir(dir)
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .map(|o| o.status.success() && !o.stdout.trim_ascii().is_empty())
                .unwrap_or(false)
        };
        !(has("user.email") && has("user.name"))
    })
}

impl GitCli {
    fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new("git");
        cmd.current_dir(dir).args(args).stdin(Stdio::null());
        // Never ask questions, never page, never localise messages we parse.
        cmd.env("GIT_TERMINAL_PROMPT", "0").env("GIT_PAGER", "cat").env("LC_ALL", "C");
        // Files git writes in a repo or worktree get the user's modes, not the daemon's private ones.
        crate::private::user_umask(&mut cmd);
        if fallback_identity(dir) {
            for (k, v) in [
                ("GIT_AUTHOR_NAME", "capcom"),
                ("GIT_AUTHOR_EMAIL", "capcom@localhost"),
                ("GIT_COMMITTER_NAME", "capcom"),
                ("GIT_COMMITTER_EMAIL", "capcom@localhost"),
            ] {
                if std::env::var_os(k).is_none() {
                    cmd.env(k, v);
                }
            }
        }
        cmd
    }
}

fn output(out: std::process::Output) -> GitOutput {
    GitOutput {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Git for GitCli {
    fn run(&self, dir: &Path, args: &[&str]) -> Result<GitOutput, GitError> {
        let out = self.command(dir, args).output().map_err(|e| GitError::Spawn(e.to_string()))?;
        Ok(output(out))
    }

    fn run_input(&self, dir: &Path, args: &[&str], input: &[u8]) -> Result<GitOutput, GitError> {
        use std::io::Write;
        let mut cmd = self.command(dir, args);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| GitError::Spawn(e.to_string()))?;
        let mut stdin = child.stdin.take().ok_or_else(|| GitError::Spawn("no stdin".into()))?;
        let input = input.to_vec();
        // Written from a thread of its own, so a large input cannot deadlock against a full stdout pipe.
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().map_err(|e| GitError::Spawn(e.to_string()))?;
        let _ = writer.join();
        Ok(output(out))
    }
}

/// `capcom/<id>-<slug>`: the slug is the title in lowercase ASCII words, at most 40 chars.
pub fn branch_name(task_id: i64, title: &str) -> String {
    // Whole words up to 40 characters: a branch is read and said, and a word cut in half
    // ("upgrade-tailw") reads as a typo. Only a first word longer than that is cut.
    const MAX: usize = 40;
    let mut slug = String::new();
    for word in title.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()) {
        let word = word.to_ascii_lowercase();
        if slug.is_empty() {
            slug = word.chars().take(MAX).collect();
            continue;
        }
        if slug.len() + 1 + word.len() > MAX {
            break;
        }
        slug.push('-');
        slug.push_str(&word);
    }
    if slug.is_empty() { format!("capcom/{task_id}") } else { format!("capcom/{task_id}-{slug}") }
}

/// A task's worktree.
#[derive(Debug, Clone, PartialEq)]
pub struct Worktree {
    pub path: PathBuf,
    pub branch: String,
    /// The base commit it was made from.
    pub base_sha: String,
}

/// What is wrong with a configured repo, said plainly; else its base branch's commit.
pub fn check_repo(git: &dyn Git, repo: &Path, base: &str) -> Result<String, String> {
    match std::fs::metadata(repo) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("the repo path {} does not exist (check [[repos]] path)", repo.display()));
        }
        Err(e) => return Err(format!("the repo path {} cannot be read: {e}", repo.display())),
        Ok(m) if !m.is_dir() => return Err(format!("the repo path {} is not a folder", repo.display())),
        Ok(_) => {}
    }
    match git.run(repo, &["rev-parse", "--git-dir"]) {
        Ok(o) if o.code == 0 => {}
        Ok(_) => return Err(format!("{} is not a git repository (run `git init` there, or fix [[repos]] path)", repo.display())),
        Err(e) => return Err(e.to_string()),
    }
    git.ok(repo, &["rev-parse", "--verify", "--quiet", &format!("{base}^{{commit}}")])
        .map_err(|_| format!("the base branch `{base}` does not exist in {}", repo.display()))
}

/// Make a fresh worktree for a task: branch `branch` reset to `base`, checked out at
/// `path`. Anything left at `path` from an earlier attempt is removed first.
pub fn create(git: &dyn Git, repo: &Path, base: &str, branch: &str, path: &Path) -> Result<Worktree, GitError> {
    let base_sha = check_repo(git, repo, base).map_err(GitError::Repo)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| GitError::Spawn(format!("{}: {e}", parent.display())))?;
    }
    let p = path.to_string_lossy();
    {
        // `git worktree add` is not safe to run concurrently on one repository (each
        // reads the others' half-made admin dirs), so the bookkeeping is serialised;
        // the expensive part, checking out the files, is not.
        let _guard = repo_lock(repo);
        remove_locked(git, repo, path);
        git.ok(repo, &["worktree", "add", "--quiet", "--no-checkout", "-B", branch, &p, &base_sha])?;
        exclude_capcom_dir(git, repo)?;
    }
    git.ok(path, &["-c", "checkout.workers=0", "reset", "--quiet", "--hard", &base_sha])?;
    Ok(Worktree { path: path.to_path_buf(), branch: branch.to_string(), base_sha })
}

/// One lock per repository path, for git's worktree bookkeeping. Each lock is made
/// once and lives for the process (one per configured repository).
fn repo_lock(repo: &Path) -> std::sync::MutexGuard<'static, ()> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, &'static Mutex<()>>>> = OnceLock::new();
    let key = repo.canonicalize().unwrap_or_else(|_| repo.to_path_buf());
    let lock: &'static Mutex<()> = {
        let mut map = LOCKS.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key).or_insert_with(|| Box::leak(Box::new(Mutex::new(()))))
    };
    lock.lock().unwrap_or_else(|p| p.into_inner())
}

/// Remove a worktree (forcefully: it is capcom's) and prune. Never fails loudly.
pub fn remove(git: &dyn Git, repo: &Path, path: &Path) {
    let _guard = repo_lock(repo);
    remove_locked(git, repo, path);
}

fn remove_locked(git: &dyn Git, repo: &Path, path: &Path) {
    if path.exists() {
        let p = path.to_string_lossy();
        if git.ok(repo, &["worktree", "remove", "--force", "--force", &p]).is_err() {
            let _ = std::fs::remove_dir_all(path);
        }
    }
    let _ = git.run(repo, &["worktree", "prune"]);
}

/// Keep `.capcom/` (task.json, the prompt file) out of every commit, through the
/// repository's shared `info/exclude`.
pub fn exclude_capcom_dir(git: &dyn Git, repo: &Path) -> Result<(), GitError> {
    let common = git.ok(repo, &["rev-parse", "--path-format=absolute", "--git-common-dir"])?;
    let info = PathBuf::from(common).join("info");
    let file = info.join("exclude");
    let current = std::fs::read_to_string(&file).unwrap_or_default();
    if current.lines().any(|l| l.trim() == "/.capcom/") {
        return Ok(());
    }
    let io = |e: std::io::Error| GitError::Spawn(format!("{}: {e}", file.display()));
    std::fs::create_dir_all(&info).map_err(io)?;
    let mut text = current;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("# capcom's per-task files\n/.capcom/\n");
    std::fs::write(&file, text).map_err(io)
}

/// Write `.capcom/<name>` in a worktree.
pub fn write_capcom_file(worktree: &Path, name: &str, contents: &[u8]) -> std::io::Result<PathBuf> {
    let dir = worktree.join(".capcom");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(name);
    std::fs::write(&path, contents)?;
    Ok(path)
}

/// Commit whatever the agent left uncommitted. Returns the new commit, if one was made.
pub fn commit_leftovers(git: &dyn Git, worktree: &Path, message: &str) -> Result<Option<String>, GitError> {
    let status = git.ok(worktree, &["status", "--porcelain"])?;
    if status.trim().is_empty() {
        return Ok(None);
    }
    git.ok(worktree, &["add", "-A"])?;
    let staged = git.run(worktree, &["diff", "--cached", "--quiet"])?;
    if staged.code == 0 {
        return Ok(None);
    }
    git.ok(worktree, &["commit", "--quiet", "--no-verify", "-m", message])?;
    Ok(Some(git.ok(worktree, &["rev-parse", "HEAD"])?))
}

/// The commit a ref points at.
pub fn rev(git: &dyn Git, dir: &Path, rev: &str) -> Result<String, GitError> {
    git.ok(dir, &["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")])
}

/// How a task's branch is brought up to date with its base (`[dispatch] update`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateHow {
    /// `git rebase BASE`: the branch's own commits replayed on the new base.
    Rebase,
    /// `git merge BASE`: the new base merged into the branch.
    Merge,
}

impl UpdateHow {
    pub fn parse(s: &str) -> UpdateHow {
        if s.trim().eq_ignore_ascii_case("merge") { UpdateHow::Merge } else { UpdateHow::Rebase }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateHow::Rebase => "rebase",
            UpdateHow::Merge => "merge",
        }
    }
}

/// What bringing a branch up to date did.
#[derive(Debug, Clone, PartialEq)]
pub enum Updated {
    /// The base is already in the branch.
    UpToDate,
    /// The branch now holds the base; its new head.
    Moved { head: String },
    /// The update stopped on conflicts in these files and was aborted: the branch is as it was.
    Conflict { files: Vec<String> },
}

/// A rebase or merge left half done in a worktree (a daemon killed mid-update), if any.
pub fn in_progress(git: &dyn Git, wt: &Path) -> Option<UpdateHow> {
    let exists = |name: &str| {
        git.ok(wt, &["rev-parse", "--git-path", name]).ok().is_some_and(|p| {
            let p = PathBuf::from(p);
            if p.is_absolute() { p.exists() } else { wt.join(p).exists() }
        })
    };
    if exists("rebase-merge") || exists("rebase-apply") {
        Some(UpdateHow::Rebase)
    } else if exists("MERGE_HEAD") {
        Some(UpdateHow::Merge)
    } else {
        None
    }
}

/// Abort a rebase or merge left half done in a worktree; what was aborted.
pub fn abort_in_progress(git: &dyn Git, wt: &Path) -> Option<UpdateHow> {
    let how = in_progress(git, wt)?;
    let _ = match how {
        UpdateHow::Rebase => git.run(wt, &["rebase", "--abort"]),
        UpdateHow::Merge => git.run(wt, &["merge", "--abort"]),
    };
    Some(how)
}

/// Bring the branch checked out in `wt` up to date with `onto` (a commit), by rebase or
/// merge. A conflict is aborted at once, so the worktree is never left mid-rebase: the
/// branch and files are as they were, and the conflicting files are named. The worktree
/// must hold no uncommitted changes.
pub fn update_branch(git: &dyn Git, wt: &Path, onto: &str, how: UpdateHow, message: &str) -> Result<Updated, GitError> {
    let before = rev(git, wt, "HEAD")?;
    if git.run(wt, &["merge-base", "--is-ancestor", onto, &before])?.code == 0 {
        return Ok(Updated::UpToDate);
    }
    let quiet = ["-c", "rebase.autoStash=false", "-c", "rebase.autoSquash=false", "-c", "rebase.updateRefs=false", "-c", "commit.gpgSign=false"];
    let mut args: Vec<&str> = quiet.to_vec();
    match how {
        UpdateHow::Rebase => args.extend(["rebase", "--quiet", "--no-verify", onto]),
        UpdateHow::Merge => args.extend(["merge", "--quiet", "--no-verify", "--no-edit", "-m", message, onto]),
    }
    let out = git.run(wt, &args)?;
    if out.code == 0 && in_progress(git, wt).is_none() {
        return Ok(Updated::Moved { head: rev(git, wt, "HEAD")? });
    }
    let listed = git.run(wt, &["diff", "--name-only", "--diff-filter=U", "-z"]).map(|o| o.stdout).unwrap_or_default();
    let mut files: Vec<String> = listed.split('\0').filter(|f| !f.is_empty()).map(String::from).collect();
    files.sort();
    files.dedup();
    abort_in_progress(git, wt);
    // Whatever the abort did, the branch goes back to where it was.
    if rev(git, wt, "HEAD").ok().as_deref() != Some(before.as_str()) || in_progress(git, wt).is_some() {
        let _ = git.run(wt, &["reset", "--quiet", "--hard", &before]);
    }
    if files.is_empty() && out.code != 0 {
        return Err(GitError::Failed {
            args: args.join(" "),
            dir: wt.display().to_string(),
            code: Some(out.code),
            message: out.stderr.trim().lines().last().unwrap_or("").to_string(),
        });
    }
    Ok(Updated::Conflict { files })
}

/// The identity of a change: `git patch-id --stable` of `git diff -U0 base...head`.
/// Without context lines, so the same change replayed onto a base that moved nearby
/// keeps its id (line numbers are ignored by patch-id). `None` for an empty change.
pub fn patch_id(git: &dyn Git, dir: &Path, base: &str, head: &str) -> Result<Option<String>, GitError> {
    let range = format!("{base}...{head}");
    let diff = git.run(dir, &["diff", "-U0", "--no-renames", "--no-color", "--no-ext-diff", &range])?;
    if diff.code != 0 {
        return Err(GitError::Failed { args: format!("diff {range}"), dir: dir.display().to_string(), code: Some(diff.code), message: diff.stderr.trim().to_string() });
    }
    if diff.stdout.trim().is_empty() {
        return Ok(None);
    }
    let out = git.run_input(dir, &["patch-id", "--stable"], diff.stdout.as_bytes())?;
    Ok(out.stdout.split_whitespace().next().map(String::from))
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    /// A repo with one commit on `main` and a few files.
    pub fn repo(dir: &Path) -> PathBuf {
        let repo = dir.join("repo");
        std::fs::create_dir_all(repo.join("components")).unwrap();
        std::fs::create_dir_all(repo.join("app")).unwrap();
        std::fs::write(repo.join("components/button.txt"), "button\n").unwrap();
        std::fs::write(repo.join("app/page.txt"), "page\n").unwrap();
        std::fs::write(repo.join("README.md"), "readme\n").unwrap();
        let g = GitCli;
        g.ok(&repo, &["init", "--quiet", "-b", "main"]).unwrap();
        g.ok(&repo, &["add", "-A"]).unwrap();
        g.ok(&repo, &["commit", "--quiet", "-m", "initial"]).unwrap();
        repo
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names_are_slugged() {
        assert_eq!(branch_name(4, "Upgrade Tailwind to v4!"), "capcom/4-upgrade-tailwind-to-v4");
        assert_eq!(branch_name(7, "  ---  "), "capcom/7");
        assert_eq!(branch_name(1, "ünïcode ✓ ok"), "capcom/1-n-code-ok");
        assert!(branch_name(2, &"x".repeat(200)).len() <= "capcom/2-".len() + 41);
        // Never cut mid-word: every part of the slug is a whole word of the title.
        let titles = [
            "Refactor the authentication middleware to support passkeys and magic links",
            "Upgrade Tailwind to the latest stable version and fix breaking changes",
            "Add a dark mode toggle to the settings page header component",
        ];
        for t in titles {
            let b = branch_name(9, t);
            let slug = b.strip_prefix("capcom/9-").unwrap();
            assert!(slug.len() <= 40, "{b}");
            let words: Vec<String> = t.split(' ').map(|w| w.to_ascii_lowercase()).collect();
            for part in slug.split('-') {
                assert!(words.iter().any(|w| w == part), "{b}: `{part}` is not a word of {t:?}");
            }
        }
        assert_eq!(branch_name(3, "Upgrade Tailwind to the latest stable version"), "capcom/3-upgrade-tailwind-to-the-latest-stable");
    }

    #[test]
    fn worktree_is_made_from_base_and_capcom_files_stay_out_of_commits() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = testutil::repo(tmp.path());
        let g = GitCli;
        let path = tmp.path().join("wt/1");
        let wt = create(&g, &repo, "main", "capcom/1-x", &path).unwrap();
        assert_eq!(wt.base_sha, rev(&g, &repo, "main").unwrap());
        assert!(path.join("components/button.txt").exists());
        write_capcom_file(&path, "task.json", b"{}").unwrap();
        std::fs::write(path.join("components/new.txt"), "new\n").unwrap();
        let c = commit_leftovers(&g, &path, "leftovers").unwrap();
        assert!(c.is_some());
        let files = g.ok(&path, &["show", "--name-only", "--format=", "HEAD"]).unwrap();
        assert_eq!(files.trim(), "components/new.txt");
        assert_eq!(commit_leftovers(&g, &path, "again").unwrap(), None, "nothing left: no commit");
        // A fresh worktree for a retry starts from base again.
        let wt2 = create(&g, &repo, "main", "capcom/1-x", &path).unwrap();
        assert_eq!(rev(&g, &path, "HEAD").unwrap(), wt2.base_sha);
        assert!(!path.join("components/new.txt").exists());
    }

    #[test]
    fn worktrees_made_concurrently_on_one_repo_all_succeed() {
        // Regression: parallel `git worktree add` read each other's half-made admin dirs.
        let tmp = tempfile::tempdir().unwrap();
        let repo = testutil::repo(tmp.path());
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let repo = repo.clone();
                let path = tmp.path().join(format!("wt/{i}"));
                std::thread::spawn(move || create(&GitCli, &repo, "main", &format!("capcom/{i}"), &path))
            })
            .collect();
        for h in handles {
            let wt = h.join().unwrap().unwrap();
            assert!(wt.path.join("components/button.txt").exists());
        }
    }

    fn commit_all(dir: &Path, msg: &str) -> String {
        let g = GitCli;
        g.ok(dir, &["add", "-A"]).unwrap();
        g.ok(dir, &["-c", "user.name=u", "-c", "user.email=u@example.com", "commit", "-qm", msg]).unwrap();
        rev(&g, dir, "HEAD").unwrap()
    }

    #[test]
    fn a_branch_is_brought_up_to_date_and_keeps_its_patch_id() {
        for how in [UpdateHow::Rebase, UpdateHow::Merge] {
            let tmp = tempfile::tempdir().unwrap();
            let repo = testutil::repo(tmp.path());
            let g = GitCli;
            let lines: String = (1..=20).map(|i| format!("line {i}\n")).collect();
            std::fs::write(repo.join("README.md"), &lines).unwrap();
            commit_all(&repo, "lines");
            let path = tmp.path().join("wt");
            create(&g, &repo, "main", "capcom/1-x", &path).unwrap();
            std::fs::write(path.join("README.md"), lines.replace("line 10\n", "line ten\n")).unwrap();
            let head = commit_all(&path, "task");
            let before = patch_id(&g, &path, "main", &head).unwrap().unwrap();
            // The base moves: a change two lines above (inside the diff's usual context) and a new file.
            std::fs::write(repo.join("README.md"), lines.replace("line 8\n", "line eight\n")).unwrap();
            std::fs::write(repo.join("app/new.txt"), "new\n").unwrap();
            let main = commit_all(&repo, "main moves");
            let Updated::Moved { head: new } = update_branch(&g, &path, &main, how, "up to date").unwrap() else { panic!("{how:?}") };
            assert_ne!(new, head);
            assert_eq!(patch_id(&g, &path, &main, &new).unwrap().as_deref(), Some(before.as_str()), "{how:?}: the same change");
            assert_eq!(update_branch(&g, &path, &main, how, "again").unwrap(), Updated::UpToDate);
            // A different change has a different id.
            std::fs::write(path.join("app/page.txt"), "more\n").unwrap();
            let more = commit_all(&path, "more");
            assert_ne!(patch_id(&g, &path, &main, &more).unwrap().as_deref(), Some(before.as_str()));
        }
    }

    /// A task's worktree at `<tmp>/wt` whose one commit and main's newer one
    /// change the same line: (worktree, task head, main head).
    fn conflicting(g: &GitCli, tmp: &Path) -> (std::path::PathBuf, String, String) {
        let repo = testutil::repo(tmp);
        let path = tmp.join("wt");
        create(g, &repo, "main", "capcom/1-x", &path).unwrap();
        std::fs::write(path.join("components/button.txt"), "red\n").unwrap();
        let head = commit_all(&path, "task");
        std::fs::write(repo.join("components/button.txt"), "blue\n").unwrap();
        let main = commit_all(&repo, "main moves");
        (path, head, main)
    }

    #[test]
    fn a_conflict_is_aborted_and_named_and_the_branch_stays_as_it_was() {
        for how in [UpdateHow::Rebase, UpdateHow::Merge] {
            let tmp = tempfile::tempdir().unwrap();
            let g = GitCli;
            let (path, head, main) = conflicting(&g, tmp.path());
            let r = update_branch(&g, &path, &main, how, "up to date").unwrap();
            assert_eq!(r, Updated::Conflict { files: vec!["components/button.txt".into()] }, "{how:?}");
            assert_eq!(in_progress(&g, &path), None, "{how:?}: never left half done");
            assert_eq!(rev(&g, &path, "HEAD").unwrap(), head);
            assert_eq!(std::fs::read_to_string(path.join("components/button.txt")).unwrap(), "red\n");
            assert!(g.ok(&path, &["status", "--porcelain"]).unwrap().is_empty());
        }
    }

    #[test]
    fn a_rebase_left_half_done_is_found_and_aborted() {
        let tmp = tempfile::tempdir().unwrap();
        let g = GitCli;
        let (path, head, _) = conflicting(&g, tmp.path());
        // What a daemon killed mid-rebase leaves behind.
        assert_ne!(g.run(&path, &["rebase", "main"]).unwrap().code, 0);
        assert_eq!(in_progress(&g, &path), Some(UpdateHow::Rebase));
        assert_eq!(abort_in_progress(&g, &path), Some(UpdateHow::Rebase));
        assert_eq!(in_progress(&g, &path), None);
        assert_eq!(rev(&g, &path, "HEAD").unwrap(), head);
    }

    #[test]
    fn a_missing_base_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = testutil::repo(tmp.path());
        let err = create(&GitCli, &repo, "develop", "capcom/1", &tmp.path().join("wt")).unwrap_err();
        assert!(err.to_string().contains("`develop` does not exist"), "{err}");
        // A path that is not there, or not a repo, says so (not "the base branch does not exist").
        let missing = tmp.path().join("nowhere");
        let err = create(&GitCli, &missing, "main", "capcom/2-x", &tmp.path().join("wt2")).unwrap_err().to_string();
        assert!(err.contains("does not exist (check [[repos]] path)"), "{err}");
        let plain = tmp.path().join("plain");
        std::fs::create_dir_all(&plain).unwrap();
        let err = create(&GitCli, &plain, "main", "capcom/3-x", &tmp.path().join("wt3")).unwrap_err().to_string();
        assert!(err.contains("is not a git repository"), "{err}");
    }
}
