//! Scope leases: a task that is running, checking or ready holds its scope (its include
//! paths, or the whole repo when it has none) in its repo. A new task whose scope
//! overlaps one of them does not start blindly: with `[dispatch] overlap = "queue"` (the
//! default) it waits in `queued` and starts when the holder is merged, cancelled or fails;
//! with `"ask"` it is held with a question; `"allow"` starts it anyway. A task the user
//! released with "anyway" ignores the leases.

use crate::config::Config;
use crate::store::{Store, Task, TaskState};
use std::sync::{Arc, Mutex};

/// States whose scope is held.
pub const HOLDING: &[TaskState] = &[TaskState::Running, TaskState::Checking, TaskState::Ready];

/// How a new task meets an overlapping one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    Queue,
    Ask,
    Allow,
}

impl Overlap {
    pub fn parse(s: &str) -> Overlap {
        match s.trim() {
            "ask" => Overlap::Ask,
            "allow" => Overlap::Allow,
            _ => Overlap::Queue,
        }
    }
}

/// A task in the way, and where the two scopes meet.
#[derive(Debug, Clone, PartialEq)]
pub struct Blocker {
    pub task: i64,
    pub title: String,
    pub state: TaskState,
    pub at: String,
}

fn repo_of<'a>(config: &'a Config, t: &'a Task) -> Option<&'a str> {
    t.repo.as_deref().or(t.spec.repo.as_deref()).or_else(|| (config.repos.len() == 1).then(|| config.repos[0].name.as_str()))
}

/// Did the user say to start this task whatever it overlaps?
pub fn released(store: &Store, id: i64) -> bool {
    store.events(id).map(|evs| evs.iter().any(|e| e.kind == "anyway")).unwrap_or(false)
}

/// The tasks holding a scope that `task`'s overlaps, among `others` (plus those being
/// started right now, in `claims`).
pub fn blockers(config: &Config, task: &Task, others: &[Task], claims: &[Claim]) -> Vec<Blocker> {
    let Some(repo) = repo_of(config, task) else { return Vec::new() };
    let mut out = Vec::new();
    for o in others.iter().filter(|o| o.id != task.id && HOLDING.contains(&o.state)) {
        if repo_of(config, o) != Some(repo) {
            continue;
        }
        if let Some(at) = crate::review::scope::overlap(&task.spec.scope, &o.spec.scope) {
            out.push(Blocker { task: o.id, title: o.title.clone(), state: o.state, at });
        }
    }
    for c in claims.iter().filter(|c| c.task != task.id && c.repo == repo) {
        if out.iter().any(|b: &Blocker| b.task == c.task) {
            continue;
        }
        if let Some(at) = crate::review::scope::overlap(&task.spec.scope, &c.scope) {
            out.push(Blocker { task: c.task, title: c.title.clone(), state: TaskState::Running, at });
        }
    }
    out.sort_by_key(|b| b.task);
    out
}

/// Is this task waiting (queued) or held (asked) for an overlapping one?
pub fn is_waiting(task: &Task) -> bool {
    matches!(task.state, TaskState::Queued | TaskState::Held) && task.reason.as_deref().is_some_and(|r| r.contains(" overlaps task "))
}

/// What the user is told about a waiting task.
pub fn waiting_reason(task: i64, blockers: &[Blocker]) -> String {
    let Some(first) = blockers.first() else { return String::new() };
    let which: Vec<String> = blockers.iter().map(|b| format!("task {}", b.task)).collect();
    let whom = if which.len() == 1 { which[0].clone() } else { format!("{} and {}", which[..which.len() - 1].join(", "), which[which.len() - 1]) };
    let where_ = if first.at == "the whole repo" { "the whole repo".to_string() } else { first.at.clone() };
    format!(
        "Task {task} overlaps {whom} in {where_}: it starts when {} merged or cancelled. Say \"run task {task} anyway\" to start it now.",
        if blockers.len() == 1 { format!("{whom} is") } else { "they are".to_string() }
    )
}

/// What the answer to a brief says about a task that will wait for overlapping ones:
/// "queued behind task 1 (both change components)".
pub fn queued_behind(blockers: &[Blocker]) -> Option<String> {
    let first = blockers.first()?;
    let ids: Vec<String> = blockers.iter().map(|b| b.task.to_string()).collect();
    let whom = match ids.len() {
        1 => format!("task {}", ids[0]),
        n => format!("tasks {} and {}", ids[..n - 1].join(", "), ids[n - 1]),
    };
    let what = match (first.at.as_str(), blockers.len()) {
        ("the whole repo", 1) => "either may change anything in the repo".to_string(),
        ("the whole repo", _) => "any of them may change anything in the repo".to_string(),
        (at, 1) => format!("both change {at}"),
        (at, _) => format!("they change {at} too"),
    };
    Some(format!("queued behind {whom} ({what})"))
}

/// The same for a task about to be queued, from the tasks holding scopes now: `None` when
/// nothing is in its way, `[dispatch] overlap = "allow"` or the user released it.
pub fn behind(config: &Config, store: &Store, task: &Task) -> Option<String> {
    if Overlap::parse(&config.dispatch.overlap) == Overlap::Allow || released(store, task.id) {
        return None;
    }
    let holding = store.tasks_in(HOLDING).unwrap_or_default();
    let queued = store.tasks_in(&[TaskState::Queued]).unwrap_or_default();
    queued_behind(&blockers(config, task, &ahead_of(task, holding, queued), &[]))
}

/// The tasks that will hold a scope by the time `task` starts: those holding one now, and those
/// queued before it that wait for nothing. Such a task is still `queued` while its worktree is
/// made (a second or more on a large repo), or while its own grace window runs, yet it starts
/// first and holds its scope when `task`'s turn comes: the answer to a brief must count it,
/// or it says "starts now" of a task that then waits.
pub fn ahead_of(task: &Task, holding: Vec<Task>, queued: Vec<Task>) -> Vec<Task> {
    let mut out = holding;
    out.extend(queued.into_iter().filter(|o| o.id < task.id && !is_waiting(o)).map(|mut o| {
        o.state = TaskState::Running;
        o
    }));
    out
}

/// A task being started right now: it holds its scope before its state says so.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub task: i64,
    pub repo: String,
    pub title: String,
    pub scope: crate::understand::Scope,
}

/// The claims of tasks being started, shared by every job of one dispatcher.
#[derive(Clone, Default)]
pub struct Claims(Arc<Mutex<Vec<Claim>>>);

/// Drops its claim when the start is over (the task's state holds the scope from then on).
pub struct ClaimGuard {
    claims: Claims,
    task: i64,
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        self.claims.0.lock().unwrap_or_else(|p| p.into_inner()).retain(|c| c.task != self.task);
    }
}

impl Claims {
    /// Check the leases and claim `task`'s scope in one step: the blockers, or a guard.
    pub fn try_claim(&self, config: &Config, store: &Store, task: &Task) -> Result<ClaimGuard, Vec<Blocker>> {
        let mut claims = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let others = store.tasks_in(HOLDING).unwrap_or_default();
        let found = blockers(config, task, &others, &claims);
        if !found.is_empty() {
            return Err(found);
        }
        if let Some(repo) = repo_of(config, task) {
            claims.push(Claim { task: task.id, repo: repo.to_string(), title: task.title.clone(), scope: task.spec.scope.clone() });
        }
        Ok(ClaimGuard { claims: self.clone(), task: task.id })
    }

    /// Start without looking (a follow-up, `overlap = "allow"`, a released task), still claiming.
    pub fn claim(&self, config: &Config, task: &Task) -> ClaimGuard {
        if let Some(repo) = repo_of(config, task) {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).push(Claim {
                task: task.id,
                repo: repo.to_string(),
                title: task.title.clone(),
                scope: task.spec.scope.clone(),
            });
        }
        ClaimGuard { claims: self.clone(), task: task.id }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::understand::{Scope, TaskSpec};

    fn task(id: i64, state: TaskState, repo: &str, include: &[&str]) -> Task {
        let spec = TaskSpec {
            title: format!("t{id}"),
            repo: Some(repo.into()),
            scope: Scope { include: include.iter().map(|s| s.to_string()).collect(), exclude: vec![] },
            ..TaskSpec::default()
        };
        Task { id, title: format!("t{id}"), state, repo: Some(repo.into()), spec, ..Task::default() }
    }

    #[test]
    fn who_blocks_whom() {
        let config = Config::default();
        let others = vec![
            task(1, TaskState::Running, "site", &["components/"]),
            task(2, TaskState::Ready, "site", &["app/"]),
            task(3, TaskState::Merged, "site", &["components/"]),
            task(4, TaskState::Running, "api", &["components/"]),
            task(5, TaskState::NeedsAttention, "site", &["components/"]),
        ];
        let ids = |t: &Task| blockers(&config, t, &others, &[]).iter().map(|b| b.task).collect::<Vec<_>>();
        assert_eq!(ids(&task(9, TaskState::Queued, "site", &["components/button.js"])), vec![1], "only running/ready, same repo");
        assert_eq!(ids(&task(9, TaskState::Queued, "site", &["docs/"])), Vec::<i64>::new(), "disjoint");
        assert_eq!(ids(&task(9, TaskState::Queued, "site", &[])), vec![1, 2], "no scope overlaps everything");
        let claims = vec![Claim { task: 7, repo: "site".into(), title: "t7".into(), scope: Scope { include: vec!["docs/".into()], exclude: vec![] } }];
        assert_eq!(blockers(&config, &task(9, TaskState::Queued, "site", &["docs/a.md"]), &others, &claims)[0].task, 7, "a start in flight holds too");
    }

    #[test]
    fn a_brief_whose_task_waits_says_whom_it_waits_behind_and_where() {
        let b = |task: i64, at: &str| Blocker { task, title: "x".into(), state: TaskState::Running, at: at.into() };
        let cases: Vec<(Vec<Blocker>, Option<&str>)> = vec![
            (vec![], None),
            (vec![b(1, "components/")], Some("queued behind task 1 (both change components/)")),
            (vec![b(1, "components")], Some("queued behind task 1 (both change components)")),
            (vec![b(1, "app/"), b(3, "app/")], Some("queued behind tasks 1 and 3 (they change app/ too)")),
            (vec![b(2, "the whole repo")], Some("queued behind task 2 (either may change anything in the repo)")),
            (vec![b(2, "the whole repo"), b(4, "the whole repo"), b(5, "x")], Some("queued behind tasks 2, 4 and 5 (any of them may change anything in the repo)")),
        ];
        for (blockers, said) in cases {
            assert_eq!(queued_behind(&blockers).as_deref(), said, "{blockers:?}");
        }
    }

    #[test]
    fn a_task_queued_just_before_holds_its_scope_for_the_answer_to_the_next_brief() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("capcom.db")).unwrap();
        let config = Config::default();
        let spec = |title: &str, include: &str| TaskSpec {
            title: title.into(),
            repo: Some("site".into()),
            scope: Scope { include: vec![include.into()], exclude: vec![] },
            ..TaskSpec::default()
        };
        let mk = |title: &str, include: &str| store.create_task(&spec(title, include), TaskState::Queued, None, None, "test").unwrap();
        // (task made, what its brief's answer says): the first is still having its worktree made
        let first = mk("restyle the button", "components/");
        let second = mk("shadow on the card", "components/");
        let docs = mk("fix the docs", "docs/");
        assert_eq!(behind(&config, &store, &first), None, "nothing before it");
        assert_eq!(behind(&config, &store, &second).as_deref(), Some("queued behind task 1 (both change components)"));
        assert_eq!(behind(&config, &store, &docs), None, "a disjoint scope");
        // a task that itself waits holds nothing; nor does one queued after
        let waiting = store
            .create_task(&spec("another", "app/"), TaskState::Queued, Some("Task 4 overlaps task 9 in app: it starts when task 9 is merged or cancelled."), None, "test")
            .unwrap();
        let later = mk("after it", "app/");
        assert_eq!(behind(&config, &store, &later), None, "task {} waits itself", waiting.id);
        assert_eq!(behind(&config, &store, &waiting), None, "task {} came after", later.id);
    }

    #[test]
    fn the_reason_names_the_holder_and_the_way_out() {
        let b = vec![Blocker { task: 3, title: "x".into(), state: TaskState::Running, at: "components".into() }];
        assert_eq!(
            waiting_reason(7, &b),
            "Task 7 overlaps task 3 in components: it starts when task 3 is merged or cancelled. Say \"run task 7 anyway\" to start it now."
        );
    }
}
