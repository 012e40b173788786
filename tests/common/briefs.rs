//! The understanding corpus (`tests/fixtures/briefs.toml`), loaded once for the
//! corpus test and the parse benchmark: the config, the tasks references resolve
//! against, "now", and the cases (each caller reads the fields it needs).

use capcom::config::Config;
use capcom::understand::{Pending, TaskKind, TaskRef};
use chrono::{DateTime, FixedOffset};
use serde::Deserialize;
use serde::de::DeserializeOwned;

#[derive(Deserialize)]
struct File<C> {
    now: String,
    config: toml::Value,
    tasks: Vec<FixtureTask>,
    case: Vec<C>,
}

#[derive(Deserialize)]
struct FixtureTask {
    id: i64,
    title: String,
    kind: String,
    agent: Option<String>,
    repo: Option<String>,
    state: String,
    pr: Option<u64>,
}

/// A question capcom is waiting on when a case is said.
#[derive(Deserialize, Clone)]
pub struct PendingCase {
    pub action: String,
    pub question: String,
    pub task: Option<i64>,
}

impl PendingCase {
    pub fn to_pending(&self) -> Pending {
        Pending { action: self.action.clone(), question: self.question.clone(), task: self.task }
    }
}

pub struct Corpus<C> {
    pub config: Config,
    pub tasks: Vec<TaskRef>,
    pub now: DateTime<FixedOffset>,
    pub cases: Vec<C>,
}

pub fn load<C: DeserializeOwned>() -> Corpus<C> {
    let f: File<C> = toml::from_str(include_str!("../fixtures/briefs.toml")).expect("fixture parses");
    let config: Config = f.config.try_into().expect("fixture config");
    let tasks = f
        .tasks
        .into_iter()
        .map(|t| TaskRef {
            id: t.id,
            title: t.title,
            kind: TaskKind::parse(&t.kind).expect("known kind"),
            agent: t.agent,
            repo: t.repo,
            state: t.state,
            pr: t.pr,
        })
        .collect();
    Corpus { config, tasks, now: DateTime::parse_from_rfc3339(&f.now).expect("now"), cases: f.case }
}
