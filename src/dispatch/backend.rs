//! The `AgentBackend` trait: the one interface every coding agent sits behind,
//! local CLI agents and remote (HTTP-polled) agents alike.
//!
//! A backend starts work on one task and hands back a [`Launched`]: a [`RunRef`]
//! (everything needed to find the run again, also after a daemon restart; it is
//! stored in the `runs` table) and a stream of [`AgentEvent`]s.
//!
//! The event stream contract (checked for every backend by [`crate::dispatch::contract`]):
//! - it yields zero or more `Started`, `Progress`, `PrOpened` and `Spent` events, then
//!   **exactly one** terminal event, `Finished` or `Failed`, and then it ends;
//! - after `cancel`, the stream still ends with a terminal event (`Failed`);
//! - `observe` re-attaches to a run by its `RunRef` and obeys the same contract.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use tokio::sync::mpsc;

/// What an agent reports while it works.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum AgentEvent {
    /// The agent is running. `pid` for local processes, `session_id` where known.
    Started { pid: Option<u32>, session_id: Option<String> },
    /// One readable line of progress.
    Progress(String),
    /// The agent opened a pull request.
    PrOpened { number: u64, url: String },
    /// The run waits on the user: a plan to approve, a question to answer. It is
    /// still alive; [`AgentBackend::answer`] replies.
    NeedsAttention { question: String },
    /// The run is working again after waiting on the user.
    Resumed,
    /// What the run spent, as far as the agent and its supervisor report it (sent before the
    /// terminal event; each part only where known).
    Spent { cost_usd: Option<f64>, usage: Option<crate::store::Usage>, cpu_ms: Option<i64> },
    /// Terminal: the agent says it is done.
    Finished { summary: Option<String>, session_id: Option<String>, cost_usd: Option<f64> },
    /// Terminal: the agent crashed, exited non-zero, was cancelled or vanished.
    Failed { reason: String, log_tail: String },
}

impl AgentEvent {
    pub fn is_terminal(&self) -> bool {
        matches!(self, AgentEvent::Finished { .. } | AgentEvent::Failed { .. })
    }
}

/// What a backend needs to start (or follow up on) one task.
#[derive(Debug, Clone, Default)]
pub struct StartRequest {
    pub task_id: i64,
    pub title: String,
    /// The rendered prompt (see `dispatch::prompt`), or a follow-up instruction.
    pub prompt: String,
    /// The task's git worktree; local agents run here. Remote agents may ignore it.
    pub workdir: PathBuf,
    /// The task's branch and the base it starts from.
    pub branch: String,
    pub base: String,
    /// "owner/name" on GitHub, for backends that work on the hosted repo.
    pub github: Option<String>,
    /// Where the agent's raw output goes (local) or a poll log (remote).
    pub log_path: PathBuf,
    /// Resume this agent session (a follow-up), where the backend supports it.
    pub resume: Option<String>,
}

/// Everything needed to find a run again. Stored in `runs` (pid, pid_start,
/// session_id, remote_id, log_path, worktree) so a restarted daemon can re-attach.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunRef {
    pub task_id: i64,
    /// Local process (group leader) id and its start time (/proc/PID/stat field 22).
    pub pid: Option<u32>,
    pub pid_start: Option<u64>,
    /// A remote agent's id (session, agent or issue number).
    pub remote_id: Option<String>,
    pub session_id: Option<String>,
    pub log_path: Option<PathBuf>,
    pub workdir: Option<PathBuf>,
}

/// A started run: where to find it, and its events.
pub struct Launched {
    pub run: RunRef,
    pub events: mpsc::Receiver<AgentEvent>,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("cannot start the agent `{agent}`: {message}")]
    Start { agent: String, message: String },
    #[error("agent `{0}` cannot resume a session; start it again instead")]
    NoResume(String),
    #[error("cannot reach the agent: {0}")]
    Transport(String),
    #[error("the run is unknown to this backend: {0}")]
    UnknownRun(String),
    #[error("agent `{0}` never waits for an answer; follow up once it has finished")]
    NoAnswer(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A coding agent. Implementations: `dispatch::local::LocalBackend` (CLI agents in a
/// worktree); remote agents (Copilot, Jules, Cursor, Codex cloud) poll an HTTP API
/// from a task of their own and feed the same event stream.
#[async_trait]
pub trait AgentBackend: Send + Sync {
    /// The configured agent name (`[agents.NAME]`).
    fn name(&self) -> &str;

    /// Whether `follow_up` continues the agent's own session (else it starts afresh
    /// in the same worktree with the instruction).
    fn supports_resume(&self) -> bool;

    /// Start work on a task.
    async fn start(&self, req: StartRequest) -> Result<Launched, BackendError>;

    /// Re-attach to a run started earlier (e.g. before a daemon restart): the stream
    /// carries what happens from now on and ends with a terminal event. A run that
    /// ended while nobody watched yields its terminal event at once; one that vanished
    /// yields `Failed` with a reason starting "interrupted".
    async fn observe(&self, run: &RunRef) -> Result<mpsc::Receiver<AgentEvent>, BackendError>;

    /// Send a follow-up instruction (`req.prompt`) to a finished run, in the same
    /// worktree / session (`previous.session_id`).
    async fn follow_up(&self, previous: &RunRef, req: StartRequest) -> Result<Launched, BackendError>;

    /// Stop a run. Idempotent: cancelling a run that already ended is `Ok`.
    async fn cancel(&self, run: &RunRef) -> Result<(), BackendError>;

    /// Answer a live run that waits on the user (after `NeedsAttention`): approve its
    /// plan or send the text. Agents that never wait say so.
    async fn answer(&self, run: &RunRef, text: &str) -> Result<(), BackendError> {
        let _ = (run, text);
        Err(BackendError::NoAnswer(self.name().to_string()))
    }

    /// The vendor says the run with this id changed (a verified webhook): look now
    /// instead of at the next poll. Unknown ids are ignored.
    fn poke(&self, remote_id: &str) {
        let _ = remote_id;
    }
}

pub use crate::process::tail_lines;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        let t = "a\nb\nc\nd\n";
        assert_eq!(tail_lines(t, 2, 100), "c\nd");
        assert_eq!(tail_lines(t, 10, 4), "c\nd");
        assert_eq!(tail_lines("", 3, 10), "");
    }

    #[test]
    fn tail_never_splits_a_character() {
        let t = "ééééé";
        let out = tail_lines(t, 5, 3);
        assert!(out.chars().all(|c| c == 'é'));
    }

    #[test]
    fn events_serialize_with_a_tag() {
        let e = AgentEvent::Progress("hi".into());
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v, serde_json::json!({"event": "progress", "data": "hi"}));
        assert!(!e.is_terminal());
        assert!(AgentEvent::Failed { reason: "x".into(), log_tail: String::new() }.is_terminal());
    }
}
