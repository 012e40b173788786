//! The figures behind `capcom stats` and `GET /v1/stats`: how often agents get a task green
//! on the first try, how long a task takes to be ready, what tasks cost, and how many runs,
//! follow-ups and CPU time they took. Pure: a function of tasks, runs and `state` events.
//!
//! Definitions (per task with at least one run):
//! - **reviewed**: it reached `ready`, `needs_attention` or `failed` at least once;
//! - **green on the first try**: it reached `ready` before a second run started;
//! - **time to ready**: from its first run's start to the first time it was `ready`;
//! - **cost per task**: the reported costs added up, over the tasks with a reported cost.

use super::view::Spend;
use crate::store::{Event, Run, Task};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How the figures are split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Agent,
    Kind,
}

impl By {
    /// `agent` or `kind`; empty is no split.
    pub fn parse(text: &str) -> Result<Option<By>, String> {
        match text.trim() {
            "" | "all" | "none" => Ok(None),
            "agent" | "agents" => Ok(Some(By::Agent)),
            "kind" | "kinds" => Ok(Some(By::Kind)),
            other => Err(format!("cannot split stats by `{other}`: use agent or kind")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            By::Agent => "agent",
            By::Kind => "kind",
        }
    }
}

/// One row of figures: every task, or the tasks of one agent or kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Figures {
    /// `all`, an agent's name, or a task kind.
    pub key: String,
    /// Tasks with at least one run.
    pub tasks: u64,
    pub reviewed: u64,
    pub green_first_try: u64,
    /// `green_first_try / reviewed`; `None` before any task was reviewed.
    pub green_first_try_rate: Option<f64>,
    /// Tasks that were `ready` at least once, and the median time it took them.
    pub ready: u64,
    pub median_ready_ms: Option<i64>,
    pub runs: u64,
    pub follow_ups: u64,
    pub retries: u64,
    /// Reported costs added up (US dollars), and over how many tasks.
    pub cost_usd: Option<f64>,
    pub tasks_with_cost: u64,
    pub cost_per_task_usd: Option<f64>,
    pub wall_ms: i64,
    /// CPU time of the agents' process trees (local agents only).
    pub cpu_ms: Option<i64>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
}

/// What `GET /v1/stats` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Stats {
    /// Tasks created at or after this time (all tasks when `None`).
    pub since: Option<DateTime<Utc>>,
    /// `agent`, `kind`, or `None`.
    pub by: Option<String>,
    pub total: Figures,
    /// One row per agent or kind, most tasks first; empty without `by`.
    pub groups: Vec<Figures>,
}

/// What one task contributes.
struct TaskFigures {
    key_agent: String,
    key_kind: String,
    reviewed: bool,
    green_first_try: bool,
    ready_ms: Option<i64>,
    spend: Spend,
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

fn task_figures(task: &Task, runs: &[&Run], states: &[&Event]) -> TaskFigures {
    let to = |e: &Event| e.data.as_ref().and_then(|d| d.get("to")).and_then(|t| t.as_str()).map(str::to_string);
    let first_ready = states.iter().filter(|e| to(e).as_deref() == Some("ready")).filter_map(|e| parse_time(&e.at)).min();
    let reviewed = states.iter().any(|e| matches!(to(e).as_deref(), Some("ready" | "needs_attention" | "failed")));
    let started: Vec<DateTime<Utc>> = runs.iter().filter_map(|r| parse_time(&r.started_at)).collect();
    let green_first_try = match (first_ready, started.get(1)) {
        (Some(_), None) => true,
        (Some(ready), Some(second)) => ready <= *second,
        (None, _) => false,
    };
    let ready_ms = match (first_ready, started.first()) {
        (Some(ready), Some(first)) => Some((ready - *first).num_milliseconds().max(0)),
        _ => None,
    };
    let owned: Vec<Run> = runs.iter().map(|r| (*r).clone()).collect();
    let key_kind = serde_json::to_value(task.spec.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_else(|| "other".into());
    let key_agent = task
        .agent
        .clone()
        .or_else(|| runs.first().map(|r| r.agent.clone()))
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "unknown".into());
    TaskFigures { key_agent, key_kind, reviewed, green_first_try, ready_ms, spend: Spend::of_runs(&owned) }
}

fn median(mut xs: Vec<i64>) -> Option<i64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_unstable();
    let n = xs.len();
    Some(if n % 2 == 1 { xs[n / 2] } else { (xs[n / 2 - 1] + xs[n / 2]) / 2 })
}

fn figures(key: &str, tasks: &[&TaskFigures]) -> Figures {
    let mut f = Figures { key: key.to_string(), tasks: tasks.len() as u64, ..Figures::default() };
    let mut ready = Vec::new();
    let add_u = |slot: &mut Option<u64>, v: Option<u64>| {
        if let Some(v) = v {
            *slot = Some(slot.unwrap_or(0) + v);
        }
    };
    for t in tasks {
        f.reviewed += t.reviewed as u64;
        f.green_first_try += t.green_first_try as u64;
        ready.extend(t.ready_ms);
        let s = &t.spend;
        f.runs += s.runs;
        f.follow_ups += s.follow_ups;
        f.retries += s.retries;
        if let Some(c) = s.cost_usd {
            f.cost_usd = Some(f.cost_usd.unwrap_or(0.0) + c);
            f.tasks_with_cost += 1;
        }
        f.wall_ms += s.wall_ms.unwrap_or(0);
        if let Some(c) = s.cpu_ms {
            f.cpu_ms = Some(f.cpu_ms.unwrap_or(0) + c);
        }
        add_u(&mut f.input_tokens, s.input_tokens);
        add_u(&mut f.output_tokens, s.output_tokens);
    }
    f.ready = ready.len() as u64;
    f.median_ready_ms = median(ready);
    f.green_first_try_rate = (f.reviewed > 0).then(|| f.green_first_try as f64 / f.reviewed as f64);
    f.cost_per_task_usd = f.cost_usd.filter(|_| f.tasks_with_cost > 0).map(|c| c / f.tasks_with_cost as f64);
    f
}

/// The figures for `tasks` (with their runs and `state` events, in any order), counting the
/// tasks created at or after `since`, split `by` agent or kind.
pub fn compute(tasks: &[Task], runs: &[Run], state_events: &[Event], by: Option<By>, since: Option<DateTime<Utc>>) -> Stats {
    let mut runs_of: BTreeMap<i64, Vec<&Run>> = BTreeMap::new();
    for r in runs {
        runs_of.entry(r.task_id).or_default().push(r);
    }
    let mut states_of: BTreeMap<i64, Vec<&Event>> = BTreeMap::new();
    for e in state_events.iter().filter(|e| e.kind == "state") {
        if let Some(id) = e.task_id {
            states_of.entry(id).or_default().push(e);
        }
    }
    let mut per_task: Vec<TaskFigures> = Vec::new();
    for t in tasks {
        if let Some(since) = since
            && parse_time(&t.created_at).is_none_or(|c| c < since)
        {
            continue;
        }
        let Some(rs) = runs_of.get_mut(&t.id) else { continue };
        rs.sort_by_key(|r| r.id);
        let states = states_of.get(&t.id).map(Vec::as_slice).unwrap_or(&[]);
        per_task.push(task_figures(t, rs, states));
    }
    let all: Vec<&TaskFigures> = per_task.iter().collect();
    let total = figures("all", &all);
    let mut groups = Vec::new();
    if let Some(by) = by {
        let mut keyed: BTreeMap<&str, Vec<&TaskFigures>> = BTreeMap::new();
        for t in &per_task {
            let key = match by {
                By::Agent => t.key_agent.as_str(),
                By::Kind => t.key_kind.as_str(),
            };
            keyed.entry(key).or_default().push(t);
        }
        groups = keyed.into_iter().map(|(k, ts)| figures(k, &ts)).collect();
        groups.sort_by(|a: &Figures, b: &Figures| b.tasks.cmp(&a.tasks).then_with(|| a.key.cmp(&b.key)));
    }
    Stats { since, by: by.map(|b| b.as_str().to_string()), total, groups }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{TaskState, Usage};
    use crate::understand::{TaskKind, TaskSpec};

    fn task(id: i64, agent: &str, kind: TaskKind, created: &str) -> Task {
        Task {
            id,
            title: format!("task {id}"),
            state: TaskState::Ready,
            agent: Some(agent.into()),
            created_at: created.into(),
            updated_at: created.into(),
            spec: TaskSpec { kind, ..TaskSpec::default() },
            ..Task::default()
        }
    }

    fn run(id: i64, task_id: i64, kind: &str, started: &str, cost: Option<f64>, cpu: Option<i64>, wall: i64) -> Run {
        Run {
            id,
            task_id,
            agent: "x".into(),
            kind: Some(kind.into()),
            started_at: started.into(),
            ended_at: Some(started.into()),
            cost_usd: cost,
            cpu_ms: cpu,
            wall_ms: Some(wall),
            usage: cost.map(|_| Usage { input_tokens: 1000, cached_input_tokens: 0, output_tokens: 100 }),
            ..Run::default()
        }
    }

    fn state(id: i64, task_id: i64, at: &str, to: &str) -> Event {
        Event {
            id,
            task_id: Some(task_id),
            at: at.into(),
            kind: "state".into(),
            message: String::new(),
            data: Some(serde_json::json!({"from": "checking", "to": to})),
        }
    }

    /// Task 1 (claude, css): green at once, 10 min, $0.40. Task 2 (claude, bug-fix): red, a
    /// follow-up, then green; 30 min to ready, $1.00 over two runs. Task 3 (aider, css): no cost,
    /// failed. Task 4: never ran. Task 5: created long ago.
    fn scene() -> (Vec<Task>, Vec<Run>, Vec<Event>) {
        let tasks = vec![
            task(1, "claude", TaskKind::Css, "2026-11-30T08:00:00.000Z"),
            task(2, "claude", TaskKind::BugFix, "2026-11-30T08:00:00.000Z"),
            task(3, "aider", TaskKind::Css, "2026-11-30T08:00:00.000Z"),
            task(4, "claude", TaskKind::Css, "2026-11-30T08:00:00.000Z"),
            task(5, "claude", TaskKind::Css, "2026-11-01T08:00:00.000Z"),
        ];
        let runs = vec![
            run(1, 1, "start", "2026-11-30T08:00:00.000Z", Some(0.40), Some(20_000), 600_000),
            run(2, 2, "start", "2026-11-30T08:00:00.000Z", Some(0.25), Some(5_000), 300_000),
            run(3, 2, "follow_up", "2026-11-30T08:20:00.000Z", Some(0.75), Some(7_000), 400_000),
            run(4, 3, "start", "2026-11-30T08:00:00.000Z", None, Some(1_000), 60_000),
            run(5, 5, "start", "2026-11-01T08:00:00.000Z", Some(9.0), None, 60_000),
        ];
        let events = vec![
            state(1, 1, "2026-11-30T08:10:00.000Z", "ready"),
            state(2, 2, "2026-11-30T08:05:00.000Z", "needs_attention"),
            state(3, 2, "2026-11-30T08:30:00.000Z", "ready"),
            state(4, 3, "2026-11-30T08:01:00.000Z", "failed"),
            state(5, 5, "2026-11-01T08:05:00.000Z", "ready"),
        ];
        (tasks, runs, events)
    }

    #[test]
    fn figures_over_every_task_since_a_time() {
        let (tasks, runs, events) = scene();
        let since = parse_time("2026-11-30T00:00:00.000Z");
        let s = compute(&tasks, &runs, &events, None, since);
        let t = &s.total;
        assert_eq!((t.tasks, t.reviewed, t.green_first_try, t.ready), (3, 3, 1, 2));
        assert_eq!(t.green_first_try_rate, Some(1.0 / 3.0));
        assert_eq!(t.median_ready_ms, Some((10 * 60_000 + 30 * 60_000) / 2));
        assert_eq!((t.runs, t.follow_ups, t.retries), (4, 1, 0));
        assert!((t.cost_usd.unwrap() - 1.40).abs() < 1e-9);
        assert_eq!(t.tasks_with_cost, 2);
        assert!((t.cost_per_task_usd.unwrap() - 0.70).abs() < 1e-9);
        assert_eq!(t.cpu_ms, Some(33_000));
        assert_eq!(t.wall_ms, 1_360_000);
        assert_eq!(t.input_tokens, Some(3000));
        assert!(s.groups.is_empty());

        // Without `since`, the old task counts too.
        let s = compute(&tasks, &runs, &events, None, None);
        assert_eq!((s.total.tasks, s.total.green_first_try), (4, 2));
    }

    #[test]
    fn figures_split_by_agent_and_by_kind() {
        let (tasks, runs, events) = scene();
        let since = parse_time("2026-11-30T00:00:00.000Z");
        let s = compute(&tasks, &runs, &events, Some(By::Agent), since);
        assert_eq!(s.by.as_deref(), Some("agent"));
        let keys: Vec<&str> = s.groups.iter().map(|g| g.key.as_str()).collect();
        assert_eq!(keys, ["claude", "aider"]);
        let claude = &s.groups[0];
        assert_eq!((claude.tasks, claude.green_first_try, claude.follow_ups), (2, 1, 1));
        assert!((claude.cost_per_task_usd.unwrap() - 0.70).abs() < 1e-9);
        let aider = &s.groups[1];
        assert_eq!((aider.cost_usd, aider.cost_per_task_usd, aider.green_first_try_rate), (None, None, Some(0.0)));

        let s = compute(&tasks, &runs, &events, Some(By::Kind), since);
        let keys: Vec<(&str, u64)> = s.groups.iter().map(|g| (g.key.as_str(), g.tasks)).collect();
        assert_eq!(keys, [("css", 2), ("bug-fix", 1)]);
        assert!((s.groups[0].cost_per_task_usd.unwrap() - 0.40).abs() < 1e-9);
    }

    #[test]
    fn split_names_are_checked() {
        assert_eq!(By::parse("agent"), Ok(Some(By::Agent)));
        assert_eq!(By::parse("kind"), Ok(Some(By::Kind)));
        assert_eq!(By::parse(""), Ok(None));
        assert!(By::parse("repo").unwrap_err().contains("agent or kind"));
        let empty = compute(&[], &[], &[], Some(By::Kind), None);
        assert_eq!((empty.total.tasks, empty.total.green_first_try_rate, empty.total.median_ready_ms), (0, None, None));
    }
}
