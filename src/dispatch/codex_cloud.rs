//! Codex cloud (`kind = "codex-cloud"`), driven through the Codex CLI: there is
//! no public REST API. Every call is an argv vector (never a shell), the task
//! text is one argument:
//!
//! - `codex cloud exec --env ENV PROMPT` starts a task and prints its id or URL;
//! - `codex cloud status ID` and `codex cloud list --json` report its status
//!   (pending → working; ready / applied → done; error → failed);
//! - `codex cloud diff ID` shows the result and `codex cloud apply ID`, run in the
//!   task's worktree, brings it there, so local review and the local merge gate
//!   see it like any local agent's work.
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

/// `codex cloud list --json`: `{"tasks": [...]}` or a bare array.
pub fn parse_list(stdout: &str) -> Result<Vec<CloudTask>, String> {
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).map_err(|e| format!("`codex cloud list --json` printed no JSON: {e}"))?;
    let list = match v {
        serde_json::Value::Array(_) => v,
        serde_json::Value::Object(mut o) => o.remove("tasks").ok_or("`codex cloud list --json` has no `tasks`")?,
        _ => return Err("`codex cloud list --json` printed neither a list nor an object".into()),
    };
    serde_json::from_value(list).map_err(|e| format!("`codex cloud list --json` lists tasks capcom cannot read: {e}"))
}

/// `codex cloud status ID`: JSON when the CLI prints it, else the first status word in its text.
pub fn parse_status(id: &str, stdout: &str) -> Option<CloudTask> {
    if let Ok(mut t) = serde_json::from_str::<CloudTask>(stdout.trim())
        && !t.status.is_empty()
    {
        if t.id.is_empty() {
            t.id = id.to_string();
        }
        return Some(t);
    }
    const WORDS: [&str; 8] = ["applied", "ready", "completed", "error", "failed", "cancelled", "pending", "running"];
    let lower = stdout.to_ascii_lowercase();
    let word = lower
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .find(|w| WORDS.contains(w))?;
    Some(CloudTask { id: id.to_string(), status: word.to_string(), ..CloudTask::default() })
}

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
    /// Where each task's result goes (`codex cloud apply` runs there).
    workdirs: Mutex<HashMap<String, PathBuf>>,
    abandoned: Mutex<HashSet<String>>,
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
        }
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

    /// Run `codex ARGS…` (in `dir` when given) and return its stdout; a non-zero exit is an error
    /// carrying the last lines of stderr.
    async fn run(&self, args: &[&str], dir: Option<&Path>) -> Result<String, RemoteError> {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(args).envs(&self.env).stdin(std::process::Stdio::null()).kill_on_drop(true);
        if let Some(d) = dir {
            cmd.current_dir(d);
        }
        let what = format!("codex {}", args.first().copied().unwrap_or("")).trim().to_string()
            + &args.get(1).map(|a| format!(" {a}")).unwrap_or_default();
        let out = match tokio::time::timeout(self.timeout, cmd.output()).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => {
                return Err(RemoteError::Cli(format!("cannot run `{}`: {e}", self.program.display())));
            }
            Err(_) => return Err(RemoteError::Cli(format!("`{what}` did not answer within {:?}", self.timeout))),
        };
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail = super::backend::tail_lines(&stderr, 5, 1000);
            return Err(RemoteError::Cli(format!(
                "`{what}` failed ({}): {}",
                out.status.code().map(|c| c.to_string()).unwrap_or_else(|| "killed".into()),
                if tail.trim().is_empty() { "no message".into() } else { tail }
            )));
        }
        Ok(stdout)
    }

    /// `codex cloud exec --env ENV PROMPT` → the task id.
    pub async fn exec(&self, prompt: &str) -> Result<String, RemoteError> {
        let mut args = vec!["cloud", "exec", "--env", self.env_id.as_str()];
        if prompt.starts_with('-') {
            args.push("--");
        }
        args.push(prompt);
        let out = self.run(&args, None).await?;
        parse_task_id(&out).ok_or_else(|| RemoteError::Cli(format!("`codex cloud exec` printed no task id: {}", out.trim())))
    }

    /// The task's status, from `codex cloud status ID`, else from `codex cloud list --json`.
    pub async fn status(&self, id: &str) -> Result<CloudTask, RemoteError> {
        check_id(id)?;
        let out = self.run(&["cloud", "status", id], None).await?;
        if let Some(t) = parse_status(id, &out) {
            return Ok(t);
        }
        self.list()
            .await?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| RemoteError::Cli(format!("Codex cloud does not list task {id}")))
    }

    /// `codex cloud list --json`
    pub async fn list(&self) -> Result<Vec<CloudTask>, RemoteError> {
        let out = self.run(&["cloud", "list", "--json"], None).await?;
        parse_list(&out).map_err(RemoteError::Cli)
    }

    /// `codex cloud diff ID`: the unified diff of the result.
    pub async fn diff(&self, id: &str) -> Result<String, RemoteError> {
        check_id(id)?;
        self.run(&["cloud", "diff", id], None).await
    }

    /// `codex cloud apply ID`, run in `workdir`.
    pub async fn apply(&self, id: &str, workdir: &Path) -> Result<(), RemoteError> {
        check_id(id)?;
        self.run(&["cloud", "apply", id], Some(workdir)).await.map(|_| ())
    }
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
        let id = self.exec(&task_text(req)).await?;
        if !req.workdir.as_os_str().is_empty() {
            self.workdirs.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), req.workdir.clone());
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
                let dir = self.workdirs.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned();
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
        let next = self.exec(text).await?;
        let dir = self.workdirs.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned();
        if let Some(d) = dir {
            self.workdirs.lock().unwrap_or_else(|p| p.into_inner()).insert(next.clone(), d);
        }
        Ok(next)
    }

    /// A follow-up is a new cloud task, not the same session.
    fn resumes(&self) -> bool {
        false
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
        assert_eq!(parse_status("t1", r#"{"status":"pending"}"#).unwrap().id, "t1");
        assert!(parse_status("t1", "???").is_none());
        assert!(valid_id("task_e_1") && !valid_id("-x") && !valid_id("a b") && !valid_id(""));
    }
}
