//! The Intent contract (`capcom parse --json`), as DESIGN.md fixes it.
//! Fields that do not apply are `null` or `[]`.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum IntentKind {
    Dispatch,
    Status,
    Changelog,
    Merge,
    Confirm,
    Deny,
    Cancel,
    FollowUp,
    Retry,
    Workflow,
    Repeat,
    Help,
    Unknown,
}

impl IntentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IntentKind::Dispatch => "dispatch",
            IntentKind::Status => "status",
            IntentKind::Changelog => "changelog",
            IntentKind::Merge => "merge",
            IntentKind::Confirm => "confirm",
            IntentKind::Deny => "deny",
            IntentKind::Cancel => "cancel",
            IntentKind::FollowUp => "follow_up",
            IntentKind::Retry => "retry",
            IntentKind::Workflow => "workflow",
            IntentKind::Repeat => "repeat",
            IntentKind::Help => "help",
            IntentKind::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TaskKind {
    DependencyUpgrade,
    BugFix,
    Feature,
    Refactor,
    Css,
    Copy,
    Docs,
    Test,
    Security,
    Audit,
    Infra,
    #[default]
    Other,
}

impl TaskKind {
    pub const ALL: [TaskKind; 12] = [
        TaskKind::DependencyUpgrade,
        TaskKind::BugFix,
        TaskKind::Feature,
        TaskKind::Refactor,
        TaskKind::Css,
        TaskKind::Copy,
        TaskKind::Docs,
        TaskKind::Test,
        TaskKind::Security,
        TaskKind::Audit,
        TaskKind::Infra,
        TaskKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::DependencyUpgrade => "dependency-upgrade",
            TaskKind::BugFix => "bug-fix",
            TaskKind::Feature => "feature",
            TaskKind::Refactor => "refactor",
            TaskKind::Css => "css",
            TaskKind::Copy => "copy",
            TaskKind::Docs => "docs",
            TaskKind::Test => "test",
            TaskKind::Security => "security",
            TaskKind::Audit => "audit",
            TaskKind::Infra => "infra",
            TaskKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<TaskKind> {
        TaskKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum StatusFilter {
    Finished,
    Running,
    Failed,
    All,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Scope {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Criterion {
    pub text: String,
    /// A check name from `[checks]`; `None` means a person judges it.
    pub check: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Readiness {
    pub ready: bool,
    pub score: f32,
    pub problems: Vec<String>,
    /// One spoken clarifying question for the biggest problem.
    pub question: Option<String>,
}

impl Default for Readiness {
    fn default() -> Self {
        Readiness { ready: true, score: 1.0, problems: Vec::new(), question: None }
    }
}

/// One scoped task, as understood from a brief. Stored whole, as JSON, with each task.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct TaskSpec {
    pub title: String,
    pub kind: TaskKind,
    pub repo: Option<String>,
    pub agent: Option<String>,
    pub scope: Scope,
    pub acceptance: Vec<Criterion>,
    pub constraints: Vec<String>,
    pub deliverables: Vec<String>,
    pub schedule: Option<DateTime<FixedOffset>>,
    pub readiness: Readiness,
    /// The words of the brief this task came from, verbatim.
    pub brief: String,
    /// Scope words that name no path inside the repo ("../../etc", "/etc/nginx"): the task
    /// is held with a question about them, and they never reach the agent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scope_unplaced: Vec<String>,
}

/// What a reference ("the tailwind one", "PR 41", "task 3") points at.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Target {
    pub task: Option<i64>,
    pub pr: Option<u64>,
    /// The words the user used for it.
    pub text: Option<String>,
    /// "all ready", "everything": the reference covers every matching task.
    pub all: bool,
    /// With `all`: the tasks it covers, as far as the parser's context knew them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Intent {
    pub intent: IntentKind,
    pub tasks: Vec<TaskSpec>,
    pub target: Option<Target>,
    pub filter: Option<StatusFilter>,
    pub since: Option<DateTime<FixedOffset>>,
    pub instruction: Option<String>,
    pub workflow: Option<String>,
    /// Why the intent is `unknown`, or what made a reference fail.
    pub reason: Option<String>,
    /// A question to ask back (ambiguous reference, vague brief).
    pub question: Option<String>,
    /// The parser's confidence, 0..1.
    pub confidence: f32,
}

impl Default for Intent {
    fn default() -> Self {
        Intent {
            intent: IntentKind::Unknown,
            tasks: Vec::new(),
            target: None,
            filter: None,
            since: None,
            instruction: None,
            workflow: None,
            reason: None,
            question: None,
            confidence: 0.0,
        }
    }
}

impl Intent {
    pub fn of(kind: IntentKind) -> Intent {
        Intent { intent: kind, confidence: 1.0, ..Intent::default() }
    }
}
