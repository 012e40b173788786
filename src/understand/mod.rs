//! Understanding: transcript + context → [`Intent`].
//!
//! Pure: no I/O, no clock reads, no async. The caller passes in "now"
//! (with its UTC offset) and everything else the parser may consult.

pub mod intent;

pub use intent::*;

use crate::config::Config;
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

/// A task the user may refer to ("the tailwind one", "task 3", "the second one").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct TaskRef {
    pub id: i64,
    pub title: String,
    pub kind: TaskKind,
    pub agent: Option<String>,
    pub repo: Option<String>,
    /// A task state name (DESIGN.md's task states).
    pub state: String,
    pub pr: Option<u64>,
}

/// A question capcom asked and is waiting on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Pending {
    /// "merge", "cancel", "merge_all", "clarify" ...
    pub action: String,
    pub question: String,
    pub task: Option<i64>,
}

/// Everything the parser may consult besides the words.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub config: &'a Config,
    /// Open and recent tasks, newest last.
    pub tasks: &'a [TaskRef],
    pub pending: Option<&'a Pending>,
    pub now: DateTime<FixedOffset>,
}
