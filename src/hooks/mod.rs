//! Hooks of the agents the user runs themselves: Claude Code, Codex CLI, Gemini CLI and
//! Copilot CLI sessions capcom did not start. `parse` reads one hook payload into a
//! `HookEvent` (only the fields capcom keeps); `install` edits capcom's entries in each
//! agent's own settings file. Pure: bytes or text in, data or text out. The CLI
//! (`capcom hook`, `capcom hooks install`) and the daemon (`daemon::sessions`) do the I/O.
//!
//! What each agent sends (from its own documentation):
//! - Claude Code (<https://code.claude.com/docs/en/hooks>): a JSON object on stdin with
//!   `session_id`, `cwd`, `transcript_path` and `hook_event_name`. `Notification` adds
//!   `message`, `title` and `notification_type` (`permission_prompt`, `idle_prompt`,
//!   `elicitation_dialog`, `auth_success`); `Stop` adds `stop_hook_active` and
//!   `last_assistant_message`; `SubagentStop` adds `agent_id` and `agent_type`.
//! - Codex CLI (openai/codex `codex-rs/core/src/user_notification.rs`, the `notify` key of
//!   `~/.codex/config.toml`): the program in `notify` gets one JSON argument, last on its
//!   command line: `{"type":"agent-turn-complete","thread-id","turn-id","cwd",
//!   "input-messages","last-assistant-message"}` (newer builds also send `agent-turn-start`).
//! - Gemini CLI (google-gemini/gemini-cli `docs/hooks/reference.md`): JSON on stdin with
//!   `session_id`, `transcript_path`, `cwd`, `hook_event_name`, `timestamp`. `AfterAgent`
//!   adds `prompt`, `prompt_response` and `stop_hook_active`; `Notification` adds
//!   `notification_type` (`ToolPermission`), `message` and `details`.
//! - Copilot CLI (github/docs `content/copilot/reference/hooks-reference.md`): camelCase
//!   payloads with `sessionId`, `timestamp`, `cwd`; `agentStop` adds `transcriptPath` and
//!   `stopReason`; `notification` adds `hook_event_name: "Notification"`, `message`,
//!   `title` and `notification_type` (`permission_prompt`, `elicitation_dialog`,
//!   `agent_idle`, …). The PascalCase names (`Stop`, `Notification`) send snake_case fields.
//!
//! Privacy: a `HookEvent` holds the agent, the session id, the folder, the event's name, the
//! last message (at most `MAX_MESSAGE` characters) and what the event means. Prompts,
//! transcripts (`transcript_path` is never opened), tool inputs and details are dropped here.

pub mod install;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The largest payload capcom accepts from a hook.
pub const MAX_PAYLOAD: usize = 64 * 1024;
/// The longest last message kept, in characters.
pub const MAX_MESSAGE: usize = 500;
/// The longest session id accepted.
const MAX_SESSION_ID: usize = 200;
/// The longest folder accepted.
const MAX_FOLDER: usize = 4096;

/// An agent whose hooks capcom hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Agent {
    Claude,
    Codex,
    Gemini,
    Copilot,
}

impl Agent {
    pub const ALL: [Agent; 4] = [Agent::Claude, Agent::Codex, Agent::Gemini, Agent::Copilot];

    /// "claude" (or "claude-code"), "codex", "gemini", "copilot".
    pub fn parse(name: &str) -> Option<Agent> {
        match name.trim().to_ascii_lowercase().as_str() {
            "claude" | "claude-code" => Some(Agent::Claude),
            "codex" | "codex-cli" => Some(Agent::Codex),
            "gemini" | "gemini-cli" => Some(Agent::Gemini),
            "copilot" | "copilot-cli" => Some(Agent::Copilot),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Agent::Claude => "claude",
            Agent::Codex => "codex",
            Agent::Gemini => "gemini",
            Agent::Copilot => "copilot",
        }
    }

    /// Its name as said.
    pub fn spoken(self) -> &'static str {
        match self {
            Agent::Claude => "Claude",
            Agent::Codex => "Codex",
            Agent::Gemini => "Gemini",
            Agent::Copilot => "Copilot",
        }
    }
}

impl std::fmt::Display for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an event means for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Meaning {
    /// The agent waits for the user: a permission prompt or a question.
    NeedsPermission,
    /// The agent asks the user something (an elicitation dialog).
    Asks,
    /// The agent finished its turn.
    Finished,
    /// A notice that changes nothing (idle for a while, signed in): the waiting flag stays.
    Notice,
    /// The session moved on (any other event): it no longer waits.
    Activity,
}

impl Meaning {
    pub fn waits(self) -> bool {
        matches!(self, Meaning::NeedsPermission | Meaning::Asks)
    }
}

/// One hook payload, reduced to what capcom keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookEvent {
    pub agent: Agent,
    pub session_id: String,
    /// The session's working folder (absolute), when the payload names one.
    pub folder: Option<String>,
    /// The event as the agent named it: "Notification:permission_prompt", "Stop",
    /// "agent-turn-complete", "agentStop".
    pub event: String,
    pub meaning: Meaning,
    /// The notification's message or the last assistant message, cleaned and capped.
    pub message: Option<String>,
}

/// Why a payload was refused. Said plainly; the payload itself is never repeated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("the payload is {0} bytes; hooks may send at most {MAX_PAYLOAD}")]
    TooLarge(usize),
    #[error("the payload is empty")]
    Empty,
    #[error("the payload is not JSON: {0}")]
    NotJson(String),
    #[error("the payload is not a JSON object")]
    NotObject,
    #[error("the payload has no session id ({0})")]
    NoSession(&'static str),
    #[error("the session id is not a short single line of text")]
    BadSession,
}

/// Read one payload from `agent`. `event_hint` is the event named on `capcom hook`'s command
/// line (Copilot's camelCase `agentStop` payload does not name itself).
pub fn parse(agent: Agent, bytes: &[u8], event_hint: Option<&str>) -> Result<HookEvent, PayloadError> {
    if bytes.len() > MAX_PAYLOAD {
        return Err(PayloadError::TooLarge(bytes.len()));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(PayloadError::Empty);
    }
    let v: Value = serde_json::from_slice(bytes).map_err(|e| PayloadError::NotJson(e.to_string()))?;
    let Value::Object(o) = v else { return Err(PayloadError::NotObject) };
    let s = |k: &str| o.get(k).and_then(Value::as_str).map(str::trim).filter(|t| !t.is_empty());
    let hint = event_hint.map(str::trim).filter(|h| !h.is_empty());
    let (session, field, event, meaning, message) = match agent {
        Agent::Claude | Agent::Gemini => {
            let name = s("hook_event_name").or(hint).unwrap_or("unknown");
            let kind = s("notification_type");
            let (meaning, message) = match (agent, name, kind) {
                (Agent::Claude, "Notification", Some("permission_prompt")) => (Meaning::NeedsPermission, s("message")),
                (Agent::Claude, "Notification", Some("elicitation_dialog")) => (Meaning::Asks, s("message")),
                (Agent::Gemini, "Notification", Some("ToolPermission")) => (Meaning::NeedsPermission, s("message")),
                (_, "Notification", _) => (Meaning::Notice, None),
                (Agent::Claude, "Stop", _) => (Meaning::Finished, s("last_assistant_message")),
                (Agent::Gemini, "AfterAgent", _) => (Meaning::Finished, s("prompt_response")),
                _ => (Meaning::Activity, None),
            };
            let event = match kind {
                Some(k) if name == "Notification" => format!("Notification:{}", short(k, 40)),
                _ => short(name, 40),
            };
            (s("session_id"), "session_id", event, meaning, message)
        }
        Agent::Codex => {
            let kind = s("type").unwrap_or("unknown");
            let (meaning, message) = match kind {
                "agent-turn-complete" => (Meaning::Finished, s("last-assistant-message")),
                _ => (Meaning::Activity, None),
            };
            (s("thread-id"), "thread-id", short(kind, 40), meaning, message)
        }
        Agent::Copilot => {
            // camelCase (`agentStop`, `notification`) or the VS Code compatible PascalCase form.
            let name = s("hook_event_name").or(hint).unwrap_or_else(|| if o.contains_key("stopReason") { "agentStop" } else { "unknown" });
            let kind = s("notification_type");
            let (meaning, message) = match (name, kind) {
                ("Notification" | "notification", Some("permission_prompt")) => (Meaning::NeedsPermission, s("message")),
                ("Notification" | "notification", Some("elicitation_dialog")) => (Meaning::Asks, s("message")),
                ("Notification" | "notification", _) => (Meaning::Notice, None),
                ("agentStop" | "Stop", _) => (Meaning::Finished, None),
                _ => (Meaning::Activity, None),
            };
            let event = match kind {
                Some(k) if name.eq_ignore_ascii_case("notification") => format!("{name}:{}", short(k, 40)),
                _ => short(name, 40),
            };
            let session = s("sessionId").or(s("session_id"));
            (session, "sessionId", event, meaning, message)
        }
    };
    let session = session.ok_or(PayloadError::NoSession(field))?;
    if session.chars().count() > MAX_SESSION_ID || session.chars().any(char::is_control) {
        return Err(PayloadError::BadSession);
    }
    let folder = s("cwd")
        .filter(|f| f.starts_with('/') && f.len() <= MAX_FOLDER && !f.chars().any(char::is_control))
        .map(|f| f.trim_end_matches('/').to_string())
        .map(|f| if f.is_empty() { "/".to_string() } else { f });
    Ok(HookEvent {
        agent,
        session_id: session.to_string(),
        folder,
        event,
        meaning,
        message: message.map(cap_message).filter(|m| !m.is_empty()),
    })
}

/// One line of text at most `max` characters long, without control characters.
fn short(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// A message as kept: whitespace (newlines too) collapsed, control characters dropped, at
/// most `MAX_MESSAGE` characters (a cut one ends with "…").
pub fn cap_message(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let flat: String = flat.chars().filter(|c| !c.is_control()).collect();
    if flat.chars().count() <= MAX_MESSAGE {
        return flat;
    }
    let mut cut: String = flat.chars().take(MAX_MESSAGE - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests;
