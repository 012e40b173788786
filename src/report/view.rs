//! [`TaskView`]: the plain data the spoken scripts are written from.
//!
//! The scripts never see the store. The daemon reads a task, its runs and its
//! events, and [`TaskView::from_store`] folds them into one value. Tests build
//! views by hand.

use crate::store::{Event, Run, Task, TaskState};
use crate::understand::TaskKind;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One acceptance check's latest result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckView {
    pub name: String,
    pub ok: bool,
}

impl CheckView {
    pub fn new(name: &str, ok: bool) -> CheckView {
        CheckView { name: name.to_string(), ok }
    }
}

/// What a task's runs spent, added up: what the agents reported (cost, tokens) and what
/// capcom measured (wall and CPU time), with how many runs and follow-ups it took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Spend {
    /// Runs of the task (starts, retries and follow-ups).
    pub runs: u64,
    pub follow_ups: u64,
    pub retries: u64,
    /// The sum of the costs the agents reported, in US dollars; `None` when no run reported one.
    pub cost_usd: Option<f64>,
    /// How many runs reported a cost (when fewer than `runs`, `cost_usd` is a lower bound).
    pub runs_with_cost: u64,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// Wall time of the ended runs, added up.
    pub wall_ms: Option<i64>,
    /// CPU time (user + sys) of the agents' process trees, added up; local agents only.
    pub cpu_ms: Option<i64>,
}

impl Spend {
    /// Add up a task's runs.
    pub fn of_runs(runs: &[Run]) -> Spend {
        let mut s = Spend::default();
        fn add_i(slot: &mut Option<i64>, v: Option<i64>) {
            if let Some(v) = v {
                *slot = Some(slot.unwrap_or(0) + v.max(0));
            }
        }
        for r in runs {
            s.runs += 1;
            match r.kind.as_deref() {
                Some("follow_up") => s.follow_ups += 1,
                Some("retry") => s.retries += 1,
                _ => {}
            }
            if let Some(c) = r.cost_usd.filter(|c| c.is_finite() && *c >= 0.0) {
                s.cost_usd = Some(s.cost_usd.unwrap_or(0.0) + c);
                s.runs_with_cost += 1;
            }
            if let Some(u) = &r.usage {
                s.input_tokens = Some(s.input_tokens.unwrap_or(0) + u.input_tokens);
                s.output_tokens = Some(s.output_tokens.unwrap_or(0) + u.output_tokens);
            }
            add_i(&mut s.wall_ms, r.wall_ms);
            add_i(&mut s.cpu_ms, r.cpu_ms);
        }
        s
    }

    /// Every run reported a cost.
    pub fn cost_complete(&self) -> bool {
        self.cost_usd.is_some() && self.runs_with_cost == self.runs
    }
}

/// Everything a script may say about one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskView {
    pub id: i64,
    pub title: String,
    pub kind: TaskKind,
    pub state: TaskState,
    /// Why it needs attention or failed (from the task row).
    pub reason: Option<String>,
    pub agent: Option<String>,
    pub repo: Option<String>,
    pub branch: Option<String>,
    pub pr: Option<u64>,
    /// The latest result of each check, in the order they first ran.
    pub checks: Vec<CheckView>,
    /// Paths that broke the task's scope.
    pub scope_violations: Vec<String>,
    /// How many possible secrets the scan flagged.
    pub secrets: usize,
    pub files_changed: Option<u64>,
    pub insertions: Option<u64>,
    pub deletions: Option<u64>,
    /// Changed paths (from the diff stat). Never read out; grouped into "three files in components".
    pub paths: Vec<String>,
    pub created: Option<DateTime<Utc>>,
    /// When the agent started (first run).
    pub started: Option<DateTime<Utc>>,
    /// When the agent finished (last run's end).
    pub finished: Option<DateTime<Utc>>,
    /// When the task last changed (merge time for merged tasks).
    pub updated: Option<DateTime<Utc>>,
    /// The agent's latest progress line.
    pub last_progress: Option<String>,
    /// Tasks whose overlapping scope it waits for, and where (from the latest `waiting` event).
    pub waiting_for: Vec<i64>,
    pub waiting_at: Option<String>,
    /// Ready tasks it is predicted to conflict with, and the files (from `conflict` events).
    pub conflicts: Vec<(i64, Vec<String>)>,
    /// The agent's own summary of what it did.
    pub summary: Option<String>,
    /// Commit messages (first lines), oldest first.
    pub commits: Vec<String>,
    /// What its runs cost and took.
    #[serde(default)]
    pub spend: Spend,
}

impl TaskView {
    /// A view with only the essentials set; the rest empty. Handy in tests and for new tasks.
    pub fn new(id: i64, title: &str, state: TaskState) -> TaskView {
        TaskView {
            id,
            title: title.to_string(),
            kind: TaskKind::Other,
            state,
            reason: None,
            agent: None,
            repo: None,
            branch: None,
            pr: None,
            checks: Vec::new(),
            scope_violations: Vec::new(),
            secrets: 0,
            files_changed: None,
            insertions: None,
            deletions: None,
            paths: Vec::new(),
            created: None,
            started: None,
            finished: None,
            updated: None,
            last_progress: None,
            waiting_for: Vec::new(),
            waiting_at: None,
            conflicts: Vec::new(),
            summary: None,
            commits: Vec::new(),
            spend: Spend::default(),
        }
    }

    /// Fold a task, its runs and its events (any order) into a view.
    ///
    /// Event kinds read: `check` `{name, ok}`, `scope` `{violations:[..]}`, `secret`
    /// (`{findings:[..]}` or `{count}`; one flag when neither), `diffstat`
    /// `{files, insertions, deletions, paths:[..]}`, `pr` `{number}`, `progress` (message),
    /// `commit` (message or `{messages:[..]}`) and `summary` (message). Unknown kinds are ignored.
    pub fn from_store(task: &Task, runs: &[Run], events: &[Event]) -> TaskView {
        let mut v = TaskView::new(task.id, &task.title, task.state);
        v.kind = task.spec.kind;
        v.reason = task.reason.clone().filter(|r| !r.trim().is_empty());
        v.agent = task.agent.clone().or_else(|| task.spec.agent.clone());
        v.repo = task.repo.clone().or_else(|| task.spec.repo.clone());
        v.branch = task.branch.clone();
        v.pr = task.pr;
        v.created = parse_time(&task.created_at);
        v.updated = parse_time(&task.updated_at);

        v.spend = Spend::of_runs(runs);
        let mut runs: Vec<&Run> = runs.iter().collect();
        runs.sort_by(|a, b| a.started_at.cmp(&b.started_at));
        v.started = runs.first().and_then(|r| parse_time(&r.started_at));
        if let Some(last) = runs.last() {
            v.finished = last.ended_at.as_deref().and_then(parse_time);
            if v.agent.is_none() && !last.agent.is_empty() {
                v.agent = Some(last.agent.clone());
            }
            if v.branch.is_none() {
                v.branch = last.branch.clone();
            }
        }
        v.summary = runs
            .iter()
            .rev()
            .filter_map(|r| r.summary.as_deref())
            .map(str::trim)
            .find(|s| !s.is_empty())
            .map(str::to_string);

        let mut events: Vec<&Event> = events.iter().collect();
        events.sort_by(|a, b| a.at.cmp(&b.at).then(a.id.cmp(&b.id)));
        // Later events replace earlier ones: a check that ran again, a scan that came out clean.
        for e in events {
            let data = e.data.as_ref();
            match e.kind.as_str() {
                "check" => {
                    let Some(d) = data else { continue };
                    let Some(name) = d.get("name").and_then(|n| n.as_str()) else { continue };
                    let ok = d.get("ok").and_then(|o| o.as_bool()).unwrap_or(false);
                    match v.checks.iter_mut().find(|c| c.name == name) {
                        Some(c) => c.ok = ok,
                        None => v.checks.push(CheckView::new(name, ok)),
                    }
                }
                "waiting" => {
                    let d = data.cloned().unwrap_or_default();
                    v.waiting_for = d["blockers"].as_array().map(|a| a.iter().filter_map(|x| x.as_i64()).collect()).unwrap_or_default();
                    v.waiting_at = d["at"].as_str().map(str::to_string);
                }
                "conflict" => {
                    let d = data.cloned().unwrap_or_default();
                    let files: Vec<String> = d["files"].as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default();
                    for other in d["tasks"].as_array().into_iter().flatten().filter_map(|x| x.as_i64()).filter(|t| *t != v.id) {
                        v.conflicts.retain(|(t, _)| *t != other);
                        v.conflicts.push((other, files.clone()));
                    }
                }
                "scope" => {
                    v.scope_violations = data
                        .and_then(|d| d.get("violations"))
                        .and_then(|a| a.as_array())
                        .map(|a| a.iter().filter_map(|p| p.as_str().map(str::to_string)).collect())
                        .unwrap_or_default();
                }
                "secret" => {
                    v.secrets = match data {
                        Some(d) => {
                            if let Some(a) = d.get("findings").and_then(|f| f.as_array()) {
                                a.len()
                            } else if let Some(n) = d.get("count").and_then(|c| c.as_u64()) {
                                n as usize
                            } else {
                                1
                            }
                        }
                        None => 1,
                    };
                }
                "diffstat" => {
                    let Some(d) = data else { continue };
                    v.files_changed = d.get("files").and_then(|n| n.as_u64());
                    v.insertions = d.get("insertions").and_then(|n| n.as_u64());
                    v.deletions = d.get("deletions").and_then(|n| n.as_u64());
                    v.paths = d
                        .get("paths")
                        .and_then(|a| a.as_array())
                        .map(|a| a.iter().filter_map(|p| p.as_str().map(str::to_string)).collect())
                        .unwrap_or_default();
                    if v.files_changed.is_none() && !v.paths.is_empty() {
                        v.files_changed = Some(v.paths.len() as u64);
                    }
                }
                "pr" => {
                    if let Some(n) = data.and_then(|d| d.get("number")).and_then(|n| n.as_u64()) {
                        v.pr = Some(n);
                    }
                }
                "progress" => {
                    let line = e.message.trim();
                    if !line.is_empty() {
                        v.last_progress = Some(line.to_string());
                    }
                }
                "commit" => {
                    let listed: Vec<String> = data
                        .and_then(|d| d.get("messages"))
                        .and_then(|a| a.as_array())
                        .map(|a| a.iter().filter_map(|m| m.as_str().map(first_line)).collect())
                        .unwrap_or_default();
                    if listed.is_empty() {
                        let line = first_line(&e.message);
                        if !line.is_empty() {
                            v.commits.push(line);
                        }
                    } else {
                        v.commits.extend(listed);
                    }
                }
                "summary" => {
                    let s = e.message.trim();
                    if !s.is_empty() && v.summary.is_none() {
                        v.summary = Some(s.to_string());
                    }
                }
                _ => {}
            }
        }
        v.commits.dedup();
        v
    }

    /// All checks ran and passed (and at least one ran).
    pub fn checks_green(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.ok)
    }

    /// Names of the red checks.
    pub fn red_checks(&self) -> Vec<String> {
        self.checks.iter().filter(|c| !c.ok).map(|c| c.name.clone()).collect()
    }

    /// How long the agent worked: first start to last end, or to `now` while running.
    pub fn elapsed(&self, now: DateTime<Utc>) -> Option<std::time::Duration> {
        let start = self.started.or(self.created)?;
        let end = if self.state.is_active() { now } else { self.finished.or(self.updated).unwrap_or(now) };
        (end - start).to_std().ok()
    }

    /// When the task's work ended, for "since" filtering: merge time for merged tasks,
    /// the agent's finish otherwise.
    pub fn done_at(&self) -> Option<DateTime<Utc>> {
        match self.state {
            TaskState::Merged | TaskState::Cancelled => self.updated.or(self.finished),
            _ => self.finished.or(self.updated),
        }
    }
}

fn first_line(s: &str) -> String {
    s.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("").to_string()
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}
