//! Codex cloud (`kind = "codex-cloud"`), driven through the Codex CLI: there is
//! no public REST API. Every call is an argv vector (never a shell), the task
//! text is one argument:
//!
//! - `codex cloud exec --env ENV --branch BASE PROMPT`, run in the task's checkout,
//!   starts a task on the repo's base branch and prints its URL;
//! - `codex cloud list --json --env ENV --limit 20` (paged with `--cursor`) reports
//!   its status as JSON; a task not listed there is read with `codex cloud status ID`,
//!   which prints `[PENDING] title` and **exits 1 for every status but READY**, so its
//!   output is read whatever the exit code (openai/codex `codex-rs/cloud-tasks/src/lib.rs`,
//!   `run_status_command`; statuses pending, ready, applied, error from
//!   `codex-rs/cloud-tasks-client/src/api.rs`): pending → working; ready / applied →
//!   done; error → failed;
//! - `codex cloud diff ID` prints the result as a unified diff, which capcom applies
//!   to the task's worktree with `git apply --index --3way` ([`super::remote::apply_patch`]),
//!   so local review and the local merge gate see it like any local agent's work.
//!
//! Every `codex` call runs in a private scratch directory of its task (mode 0700, under
//! the system's temp dir, removed with the backend), never in the worktree and never in
//! the daemon's own directory: the CLI appends diagnostics, the account id included, to
//! `error.log` in its current directory on `codex cloud` calls (openai/codex
//! `codex-rs/cloud-tasks/src/util.rs`, `append_error_log`). Nothing the CLI writes for
//! itself can reach the task's branch that way.
//!
//! The CLI has no cancel: cancelling stops capcom watching and keeps the result
//! out of the worktree; the cloud task itself runs to its end.

use super::backend::StartRequest;
use super::remote::{Cursor, Handle, Look, RemoteAgent, RemoteError, RemoteState, task_text};
use async_trait::async_trait;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// A task as `codex cloud list --json` / `status` describe it.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(default)]
pub struct CloudTask {
    #[serde(alias = "task_id")]
    pub id: String,
    pub title: String,
    pub status: String,
    pub url: Option<String>,
    pub updated_at: Option<String>,
    pub summary: Option<serde_json::Value>,
}

impl CloudTask {
    /// "3 files, +40 −12" from a summary object, or its text.
    pub fn summary_text(&self) -> Option<String> {
        match self.summary.as_ref()? {
            serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            serde_json::Value::Object(o) => {
                let n = |k: &str| o.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
                let files = n("files_changed");
                (files > 0 || n("lines_added") > 0).then(|| {
                    format!("{files} file{}, +{} −{}", if files == 1 { "" } else { "s" }, n("lines_added"), n("lines_removed"))
                })
            }
            _ => None,
        }
    }
}

/// The CLI's status word → capcom's view (before the result is applied).
pub fn map_status(task: &CloudTask) -> RemoteState {
    let s = task.status.to_ascii_lowercase();
    match s.as_str() {
        "pending" | "queued" | "running" | "in_progress" | "" => {
            RemoteState::Working { detail: if s.is_empty() { "pending".into() } else { s } }
        }
        "ready" | "completed" | "applied" | "done" | "success" => {
            let what = if task.title.is_empty() { "the task".to_string() } else { format!("\"{}\"", task.title) };
            let summary = match task.summary_text() {
                Some(sum) => format!("Codex cloud finished {what}: {sum}"),
                None => format!("Codex cloud finished {what}"),
            };
            RemoteState::Done { summary, pr: None }
        }
        "error" | "failed" | "cancelled" | "canceled" => RemoteState::Failed {
            reason: match task.summary_text() {
                Some(sum) => format!("Codex cloud reports {s}: {sum}"),
                None => format!("Codex cloud reports {s}"),
            },
        },
        other => RemoteState::Working { detail: other.to_string() },
    }
}

/// `codex cloud list --json`: `{"tasks": [...], "cursor": …}` or a bare array.
pub fn parse_list(stdout: &str) -> Result<Vec<CloudTask>, String> {
    parse_page(stdout).map(|(tasks, _)| tasks)
}

/// `codex cloud list --json` → its tasks and the cursor of the next page, if any.
pub fn parse_page(stdout: &str) -> Result<(Vec<CloudTask>, Option<String>), String> {
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).map_err(|e| format!("`codex cloud list --json` printed no JSON: {e}"))?;
    let (list, cursor) = match v {
        serde_json::Value::Array(_) => (v, None),
        serde_json::Value::Object(mut o) => {
            let cursor = o.get("cursor").and_then(|c| c.as_str()).filter(|c| !c.is_empty()).map(String::from);
            (o.remove("tasks").ok_or("`codex cloud list --json` has no `tasks`")?, cursor)
        }
        _ => return Err("`codex cloud list --json` printed neither a list nor an object".into()),
    };
    let tasks = serde_json::from_value(list).map_err(|e| format!("`codex cloud list --json` lists tasks capcom cannot read: {e}"))?;
    Ok((tasks, cursor))
}

/// `codex cloud status ID`: JSON when the CLI prints it; else its text, whose first
/// line is `[STATUS] title` (then the environment and a diff summary); else the
/// first status word in the text.
pub fn parse_status(id: &str, stdout: &str) -> Option<CloudTask> {
    if let Ok(mut t) = serde_json::from_str::<CloudTask>(stdout.trim())
        && !t.status.is_empty()
    {
        if t.id.is_empty() {
            t.id = id.to_string();
        }
        return Some(t);
    }
    for line in stdout.lines().map(strip_ansi) {
        let line = line.trim();
        if let Some((word, title)) = line.strip_prefix('[').and_then(|rest| rest.split_once(']')) {
            let word = word.trim().to_ascii_lowercase();
            if ["pending", "ready", "applied", "error"].contains(&word.as_str()) {
                return Some(CloudTask { id: id.to_string(), title: title.trim().to_string(), status: word, ..CloudTask::default() });
            }
        }
    }
    const WORDS: [&str; 8] = ["applied", "ready", "completed", "error", "failed", "cancelled", "pending", "running"];
    let lower = stdout.to_ascii_lowercase();
    let word = lower
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .find(|w| WORDS.contains(w))?;
    Some(CloudTask { id: id.to_string(), status: word.to_string(), ..CloudTask::default() })
}

/// Text without ANSI colour codes (the CLI colours its status when it thinks it may).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// What one CLI call printed, and how it exited.
#[derive(Debug, Clone)]
struct CliOutput {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl CliOutput {
    fn failure(&self, what: &str) -> RemoteError {
        let tail = super::backend::tail_lines(&self.stderr, 5, 1000);
        RemoteError::Cli(format!(
            "`{what}` failed ({}): {}",
            self.code.map(|c| c.to_string()).unwrap_or_else(|| "killed".into()),
            if tail.trim().is_empty() { "no message".into() } else { tail }
        ))
    }
}

/// Tasks listed per page (the CLI allows 1 to 20) and pages read before falling back to `status`.
const LIST_LIMIT: &str = "20";
const LIST_PAGES: usize = 5;

/// The task id in what `codex cloud exec` printed: JSON `id`/`task_id`, a
/// `task_…` token, or the last path segment of a `…/tasks/ID` URL.
pub fn parse_task_id(stdout: &str) -> Option<String> {
    if let Ok(t) = serde_json::from_str::<CloudTask>(stdout.trim())
        && valid_id(&t.id)
    {
        return Some(t.id);
    }
    for token in stdout.split_whitespace() {
        let token = token.trim_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '/' || c == ':' || c == '.'));
        if let Some((_, rest)) = token.rsplit_once("/tasks/") {
            let id = rest.split(['/', '?', '#']).next().unwrap_or("");
            if valid_id(id) {
                return Some(id.to_string());
            }
        }
        if token.starts_with("task_") && valid_id(token) {
            return Some(token.to_string());
        }
    }
    None
}

/// Ids go into argv: letters, digits, `_` and `-`, and never a leading `-`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && !id.starts_with('-')
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub struct CodexCloud {
    program: PathBuf,
    env_id: String,
    env: BTreeMap<String, String>,
    timeout: Duration,
    /// Where each task's result goes (`codex cloud apply` runs there), and its base branch.
    workdirs: Mutex<HashMap<String, (PathBuf, String)>>,
    abandoned: Mutex<HashSet<String>>,
    /// Where the CLI runs: one private directory per task under this root.
    scratch: PathBuf,
}

impl Drop for CodexCloud {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

impl CodexCloud {
    pub fn new(program: impl Into<PathBuf>, env_id: &str) -> CodexCloud {
        CodexCloud {
            program: program.into(),
            env_id: env_id.to_string(),
            env: BTreeMap::new(),
            timeout: Duration::from_secs(120),
            workdirs: Mutex::new(HashMap::new()),
            abandoned: Mutex::new(HashSet::new()),
            scratch: std::env::temp_dir().join(format!("capcom-codex-{}-{:016x}", std::process::id(), rand::random::<u64>())),
        }
    }

    /// The private directory the CLI runs in for the task whose worktree is `workdir`
    /// (or for calls about no task in particular), made 0700 on first use.
    fn scratch_for(&self, workdir: Option<&Path>) -> Result<PathBuf, RemoteError> {
        use std::os::unix::fs::DirBuilderExt;
        let name = workdir.and_then(|w| w.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "_".into());
        let dir = self.scratch.join(name);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| RemoteError::Cli(format!("cannot make a scratch directory for the Codex CLI at {}: {e}", dir.display())))?;
        Ok(dir)
    }

    /// The worktree a task's result goes to, when known.
    fn workdir_of(&self, id: &str) -> Option<PathBuf> {
        self.workdirs.lock().unwrap_or_else(|p| p.into_inner()).get(id).map(|(d, _)| d.clone())
    }

    /// From `[agents.NAME]`: `environment` (required), `command[0]` as the program
    /// (default `codex` on PATH), `env` for the process.
    pub fn from_config(agent: &crate::config::Agent) -> Result<CodexCloud, RemoteError> {
        if agent.environment.trim().is_empty() {
            return Err(RemoteError::Config(
                "a codex-cloud agent needs `environment = \"ENV_ID\"` (see `codex cloud` for your environments)".into(),
            ));
        }
        let program = agent.command.first().cloned().unwrap_or_else(|| "codex".into());
        let mut c = CodexCloud::new(program, &agent.environment);
        c.env = agent.env.clone();
        Ok(c)
    }

    /// How long one CLI call may take.
    pub fn with_timeout(mut self, t: Duration) -> CodexCloud {
        self.timeout = t;
        self
    }

    /// Run `codex ARGS…` in the scratch directory of the task whose worktree is `workdir`:
    /// what it printed and how it exited. Only a CLI that cannot be started or does not
    /// answer in time is an error here.
    async fn call(&self, args: &[&str], workdir: Option<&Path>) -> Result<CliOutput, RemoteError> {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(args).envs(&self.env).stdin(std::process::Stdio::null()).kill_on_drop(true);
        cmd.current_dir(self.scratch_for(workdir)?);
        let out = match tokio::time::timeout(self.timeout, cmd.output()).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => {
                return Err(RemoteError::Cli(format!("cannot run `{}`: {e}", self.program.display())));
            }
            Err(_) => return Err(RemoteError::Cli(format!("`{}` did not answer within {:?}", what(args), self.timeout))),
        };
        Ok(CliOutput {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Run `codex ARGS…` (in the scratch directory of `dir`'s task) and return its stdout; a
    /// non-zero exit is an error carrying the last lines of stderr.
    async fn run(&self, args: &[&str], dir: Option<&Path>) -> Result<String, RemoteError> {
        let out = self.call(args, dir).await?;
        if out.code != Some(0) {
            return Err(out.failure(&what(args)));
        }
        Ok(out.stdout)
    }

    /// `codex cloud exec --env ENV --branch BASE PROMPT` for the task whose worktree is
    /// `dir` (the CLI runs in that task's scratch directory; the environment and the branch
    /// say which repo and base) → the task id. An empty `base` leaves the branch to the CLI.
    pub async fn exec_on(&self, prompt: &str, base: &str, dir: Option<&Path>) -> Result<String, RemoteError> {
        let mut args = vec!["cloud", "exec", "--env", self.env_id.as_str()];
        let base = base.trim();
        if !base.is_empty() {
            if base.starts_with('-') {
                return Err(RemoteError::Config(format!("`{base}` is not a branch name")));
            }
            args.extend(["--branch", base]);
        }
        if prompt.starts_with('-') {
            args.push("--");
        }
        args.push(prompt);
        let out = self.run(&args, dir).await?;
        parse_task_id(&out).ok_or_else(|| RemoteError::Cli(format!("`codex cloud exec` printed no task id: {}", out.trim())))
    }

    /// `codex cloud exec --env ENV PROMPT` → the task id (the CLI picks the branch).
    pub async fn exec(&self, prompt: &str) -> Result<String, RemoteError> {
        self.exec_on(prompt, "", None).await
    }

    /// The task's status: from `codex cloud list --json` (this environment, a few pages),
    /// else from `codex cloud status ID`, read whatever its exit code (it exits 1 for
    /// every status but READY).
    pub async fn status(&self, id: &str) -> Result<CloudTask, RemoteError> {
        check_id(id)?;
        if let Ok(Some(t)) = self.find_listed(id).await {
            return Ok(t);
        }
        let args = ["cloud", "status", id];
        let out = self.call(&args, self.workdir_of(id).as_deref()).await?;
        match parse_status(id, &out.stdout) {
            Some(t) => Ok(t),
            None if out.code == Some(0) => Err(RemoteError::Cli(format!(
                "`codex cloud status {id}` printed no status: {}",
                super::backend::tail_lines(&out.stdout, 3, 300)
            ))),
            None => Err(out.failure(&what(&args))),
        }
    }

    /// The task, if `codex cloud list --json --env ENV` lists it within a few pages.
    async fn find_listed(&self, id: &str) -> Result<Option<CloudTask>, RemoteError> {
        let mut cursor: Option<String> = None;
        for _ in 0..LIST_PAGES {
            let (tasks, next) = self.list_page(cursor.as_deref()).await?;
            if let Some(t) = tasks.into_iter().find(|t| t.id == id) {
                return Ok(Some(t));
            }
            match next {
                Some(c) if !c.starts_with('-') => cursor = Some(c),
                _ => break,
            }
        }
        Ok(None)
    }

    /// One page of `codex cloud list --json --env ENV --limit 20 [--cursor C]`.
    pub async fn list_page(&self, cursor: Option<&str>) -> Result<(Vec<CloudTask>, Option<String>), RemoteError> {
        let mut args = vec!["cloud", "list", "--json", "--env", self.env_id.as_str(), "--limit", LIST_LIMIT];
        if let Some(c) = cursor {
            args.extend(["--cursor", c]);
        }
        let out = self.run(&args, None).await?;
        parse_page(&out).map_err(RemoteError::Cli)
    }

    /// `codex cloud list --json --env ENV --limit 20` (the first page).
    pub async fn list(&self) -> Result<Vec<CloudTask>, RemoteError> {
        self.list_page(None).await.map(|(tasks, _)| tasks)
    }

    /// `codex cloud diff ID`: the unified diff of the result.
    pub async fn diff(&self, id: &str) -> Result<String, RemoteError> {
        check_id(id)?;
        self.run(&["cloud", "diff", id], self.workdir_of(id).as_deref()).await
    }

    /// Bring the result into `workdir`: `codex cloud diff ID` (in the task's scratch
    /// directory), then `git apply --index --3way` in the worktree. A result already there
    /// (a restart after it was applied) is not applied twice.
    pub async fn apply(&self, id: &str, workdir: &Path) -> Result<(), RemoteError> {
        check_id(id)?;
        let out = self.call(&["cloud", "diff", id], Some(workdir)).await?;
        if out.code != Some(0) {
            return Err(out.failure("codex cloud diff"));
        }
        let (dir, patch) = (workdir.to_path_buf(), out.stdout);
        let applied = tokio::task::spawn_blocking(move || super::remote::apply_patch(&crate::git::GitCli, &dir, &patch, None))
            .await
            .map_err(|e| RemoteError::Cli(e.to_string()))?;
        applied.map(|_| ()).map_err(|e| RemoteError::Cli(e.to_string()))
    }
}

/// "codex cloud status" for the messages.
fn what(args: &[&str]) -> String {
    std::iter::once("codex").chain(args.iter().copied().take(2)).collect::<Vec<_>>().join(" ")
}

fn check_id(id: &str) -> Result<(), RemoteError> {
    if valid_id(id) { Ok(()) } else { Err(RemoteError::Config(format!("`{id}` is not a Codex cloud task id"))) }
}

#[async_trait]
impl RemoteAgent for CodexCloud {
    fn vendor(&self) -> &str {
        "Codex cloud"
    }

    async fn launch(&self, req: &StartRequest) -> Result<Handle, RemoteError> {
        let dir = Some(req.workdir.as_path()).filter(|d| !d.as_os_str().is_empty());
        let id = self.exec_on(&task_text(req), &req.base, dir).await?;
        if let Some(d) = dir {
            self.workdirs.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), (d.to_path_buf(), req.base.clone()));
        }
        Ok(Handle { id, url: None })
    }

    async fn look(&self, id: &str, _cursor: &mut Cursor) -> Result<Look, RemoteError> {
        if self.abandoned.lock().unwrap_or_else(|p| p.into_inner()).contains(id) {
            return Ok(Look::state(RemoteState::Failed { reason: format!("cancelled: capcom stopped watching Codex cloud task {id}") }));
        }
        let task = self.status(id).await?;
        let state = map_status(&task);
        let already_applied = task.status.eq_ignore_ascii_case("applied");
        let state = match state {
            RemoteState::Done { summary, pr } if !already_applied => {
                let dir = self.workdirs.lock().unwrap_or_else(|p| p.into_inner()).get(id).map(|(d, _)| d.clone());
                match dir {
                    Some(d) => match self.apply(id, &d).await {
                        Ok(()) => RemoteState::Done { summary: format!("{summary}; applied to the task's worktree"), pr },
                        Err(e) => RemoteState::Failed { reason: format!("Codex cloud finished but its diff did not apply: {e}") },
                    },
                    None => RemoteState::Done {
                        summary: format!("{summary}; bring it in with `codex cloud apply {id}`"),
                        pr,
                    },
                }
            }
            other => other,
        };
        Ok(Look::state(state))
    }

    async fn follow_up(&self, id: &str, text: &str) -> Result<String, RemoteError> {
        // The CLI cannot continue a cloud task: a follow-up is a new task with the
        // instruction, and its result goes into the same worktree.
        let known = self.workdirs.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned();
        let next = match &known {
            Some((d, base)) => self.exec_on(text, base, Some(d)).await?,
            None => self.exec(text).await?,
        };
        if let Some(k) = known {
            self.workdirs.lock().unwrap_or_else(|p| p.into_inner()).insert(next.clone(), k);
        }
        Ok(next)
    }

    /// A follow-up is a new cloud task, not the same session.
    fn resumes(&self) -> bool {
        false
    }

    fn attach_workdir(&self, id: &str, workdir: &Path) {
        let mut map = self.workdirs.lock().unwrap_or_else(|p| p.into_inner());
        let base = map.get(id).map(|(_, b)| b.clone()).unwrap_or_default();
        map.insert(id.to_string(), (workdir.to_path_buf(), base));
    }

    async fn stop(&self, id: &str) -> Result<(), RemoteError> {
        check_id(id)?;
        self.abandoned.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_string());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_are_found_in_exec_output() {
        assert_eq!(parse_task_id(r#"{"id":"task_e_68f0a1"}"#).as_deref(), Some("task_e_68f0a1"));
        assert_eq!(
            parse_task_id("Submitted: https://chatgpt.com/codex/tasks/task_e_abc123\n").as_deref(),
            Some("task_e_abc123")
        );
        assert_eq!(parse_task_id("created task_e_9f (env web)").as_deref(), Some("task_e_9f"));
        assert_eq!(parse_task_id("error: not logged in"), None);
        assert_eq!(parse_task_id("https://x/tasks/--rm"), None);
    }

    #[test]
    fn statuses_map_and_lists_parse() {
        let list = parse_list(
            r#"{"tasks":[{"id":"task_e_1","title":"Bump deps","status":"ready","url":"https://chatgpt.com/codex/tasks/task_e_1",
                "updated_at":"2026-11-21T10:00:00Z","summary":{"files_changed":3,"lines_added":40,"lines_removed":12}},
               {"id":"task_e_2","title":"Docs","status":"pending"},{"id":"task_e_3","status":"error"}]}"#,
        )
        .unwrap();
        assert_eq!(list.len(), 3);
        match map_status(&list[0]) {
            RemoteState::Done { summary, .. } => assert!(summary.contains("3 files, +40 −12"), "{summary}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(map_status(&list[1]), RemoteState::Working { .. }));
        assert!(matches!(map_status(&list[2]), RemoteState::Failed { .. }));
        assert!(parse_list("not json").is_err());
        assert!(parse_list(r#"{"nope":1}"#).is_err());
        assert!(parse_list(r#"[{"id":5}]"#).is_err());
        assert_eq!(parse_status("t1", "Task t1: READY (3 files)").unwrap().status, "ready");
        // What the real `codex cloud status` prints (lib.rs `format_task_status_lines`), coloured or not.
        for (text, want) in [
            ("[PENDING] Fix the error page\nenv_web  •  2m ago\nno diff\n", "pending"),
            ("[READY] Bump deps\nenv_web  •  just now\n+40/-12 • 3 files\n", "ready"),
            ("[APPLIED] Bump deps\nenv_web  •  1h ago\n+40/-12 • 3 files\n", "applied"),
            ("[ERROR] Ready the release\nenv_web  •  5m ago\nno diff\n", "error"),
            ("\u{1b}[32m[READY]\u{1b}[0m Pending work\n", "ready"),
        ] {
            let t = parse_status("t1", text).unwrap();
            assert_eq!(t.status, want, "{text}");
        }
        assert_eq!(parse_status("t1", "[ERROR] Ready the release\n").unwrap().title, "Ready the release");
        let (tasks, cursor) = parse_page(r#"{"tasks":[{"id":"task_e_1","status":"ready"}],"cursor":"abc"}"#).unwrap();
        assert_eq!((tasks.len(), cursor.as_deref()), (1, Some("abc")));
        assert_eq!(parse_page(r#"{"tasks":[],"cursor":null}"#).unwrap().1, None);
        assert_eq!(parse_status("t1", r#"{"status":"pending"}"#).unwrap().id, "t1");
        assert!(parse_status("t1", "???").is_none());
        assert!(valid_id("task_e_1") && !valid_id("-x") && !valid_id("a b") && !valid_id(""));
    }
}
