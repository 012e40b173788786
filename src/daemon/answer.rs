//! What the coordinator answers to a brief, merge, confirm, cancel or answer: data only,
//! shared by the coordinator, the API, the phone page and the CLI.

use crate::review::merge::{Merged, Pending};
use crate::store::TaskState;
use crate::understand::Intent;
use serde::Serialize;

/// One task a brief queued (or held).
#[derive(Debug, Clone, Serialize)]
pub struct Queued {
    pub id: i64,
    pub title: String,
    pub state: TaskState,
    pub agent: Option<String>,
    /// Why that agent: "you asked for jules", "the route for css tasks", "the default agent".
    pub why: Option<String>,
    pub repo: Option<String>,
    /// For a held task: the question to answer.
    pub question: Option<String>,
    pub scheduled_at: Option<String>,
}

/// The answer to a brief, merge, confirm or cancel.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Answer {
    pub ok: bool,
    pub intent: String,
    /// One readable (speakable) answer.
    pub say: String,
    pub tasks: Vec<Queued>,
    pub pending: Option<Pending>,
    pub merged: Option<Merged>,
    /// The parsed intent, for a brief.
    pub parsed: Option<Intent>,
}

impl Answer {
    pub fn ok(intent: &str, say: impl Into<String>) -> Answer {
        Answer { ok: true, intent: intent.into(), say: say.into(), ..Answer::default() }
    }
    pub fn no(intent: &str, say: impl Into<String>) -> Answer {
        Answer { ok: false, intent: intent.into(), say: say.into(), ..Answer::default() }
    }
    /// A refusal or a question back.
    pub fn refused(intent: &str, say: impl Into<String>) -> Answer {
        Answer::no(intent, say)
    }
}
