//! The store: SQLite (bundled) in WAL mode under the data dir.
//!
//! Tables: utterances, tasks (whole spec as JSON + state + reason), runs,
//! events (per task, timestamped) and an audit log. Every state change
//! writes the task row and its event in one transaction.

mod devices;
mod idempotency;
mod push;
mod retention;
mod schema;
mod sessions;

use crate::understand::TaskSpec;
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::HashMap;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

pub use devices::{Device, PairRefusal, secret_hash};
pub use idempotency::{Claim, KEY_TTL_HOURS, MAX_KEY, check_key};
pub use retention::{Clip, Selection};
pub use push::{Subscription as PushSubscription, SubscriptionKeys as PushKeys};
pub use schema::MIGRATIONS;
pub use sessions::{Heard, MAX_SESSIONS, OutsideSession};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("cannot open the store at {path}: {message}")]
    Open { path: String, message: String },
    #[error("stored JSON is invalid: {0}")]
    Json(#[from] serde_json::Error),
    #[error("task {0} not found")]
    NoTask(i64),
    #[error("task {id} is {actual}, not {expected}")]
    WrongState { id: i64, expected: String, actual: String },
    #[error("the store was written by a newer capcom (schema {found}, this build knows {known})")]
    TooNew { found: i64, known: i64 },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// DESIGN.md's task states, plus `held` (not ready: waiting for the user's answer).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Held,
    #[default]
    Queued,
    Scheduled,
    Running,
    Checking,
    Ready,
    NeedsAttention,
    Failed,
    Merged,
    Cancelled,
}

impl TaskState {
    pub const ALL: [TaskState; 10] = [
        TaskState::Held,
        TaskState::Queued,
        TaskState::Scheduled,
        TaskState::Running,
        TaskState::Checking,
        TaskState::Ready,
        TaskState::NeedsAttention,
        TaskState::Failed,
        TaskState::Merged,
        TaskState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Held => "held",
            TaskState::Queued => "queued",
            TaskState::Scheduled => "scheduled",
            TaskState::Running => "running",
            TaskState::Checking => "checking",
            TaskState::Ready => "ready",
            TaskState::NeedsAttention => "needs_attention",
            TaskState::Failed => "failed",
            TaskState::Merged => "merged",
            TaskState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<TaskState> {
        TaskState::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Merged and cancelled tasks are closed; `tasks` hides them unless `--all`.
    pub fn is_closed(self) -> bool {
        matches!(self, TaskState::Merged | TaskState::Cancelled)
    }

    /// An agent may be working on it.
    pub fn is_active(self) -> bool {
        matches!(self, TaskState::Running | TaskState::Checking)
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Task {
    pub id: i64,
    pub title: String,
    pub state: TaskState,
    pub reason: Option<String>,
    pub agent: Option<String>,
    pub repo: Option<String>,
    pub branch: Option<String>,
    pub worktree: Option<String>,
    pub pr: Option<u64>,
    pub head_sha: Option<String>,
    pub utterance_id: Option<i64>,
    pub scheduled_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub spec: TaskSpec,
}

impl Task {
    /// What the parser needs to resolve a reference to this task.
    pub fn to_ref(&self) -> crate::understand::TaskRef {
        crate::understand::TaskRef {
            id: self.id,
            title: self.title.clone(),
            kind: self.spec.kind,
            agent: self.agent.clone(),
            repo: self.repo.clone(),
            state: self.state.as_str().to_string(),
            pr: self.pr,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Run {
    pub id: i64,
    pub task_id: i64,
    pub agent: String,
    pub branch: Option<String>,
    pub worktree: Option<String>,
    pub pid: Option<i64>,
    /// Process start time (clock ticks since boot, from /proc), to tell a reused pid apart.
    pub pid_start: Option<i64>,
    pub session_id: Option<String>,
    pub remote_id: Option<String>,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub exit_code: Option<i64>,
    pub log_path: Option<String>,
    pub cost_usd: Option<f64>,
    pub summary: Option<String>,
    /// Why the run started: `start`, `retry` or `follow_up` (`None` for runs recorded before schema 3
    /// whose kind could not be told).
    #[serde(default)]
    pub kind: Option<String>,
    /// The tokens the agent reported, where its stream gives them.
    #[serde(default)]
    pub usage: Option<Usage>,
    /// Wall time from start to end.
    #[serde(default)]
    pub wall_ms: Option<i64>,
    /// CPU time (user + sys) of the agent's whole process tree, measured by its supervisor.
    #[serde(default)]
    pub cpu_ms: Option<i64>,
}

/// Tokens an agent reported for one run, the same way for every vendor.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(default)]
pub struct Usage {
    /// Every input token, read from a prompt cache or not.
    pub input_tokens: u64,
    /// The part of `input_tokens` read from a prompt cache.
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
}

impl Usage {
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.cached_input_tokens += other.cached_input_tokens;
        self.output_tokens += other.output_tokens;
    }

    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }
}

/// What a run spent, as the agent and its supervisor reported it; every part optional.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RunSpend {
    pub cost_usd: Option<f64>,
    pub usage: Option<Usage>,
    pub cpu_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub id: i64,
    pub task_id: Option<i64>,
    pub at: String,
    pub kind: String,
    pub message: String,
    pub data: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Utterance {
    pub id: i64,
    pub created_at: String,
    pub duration_ms: i64,
    pub audio_path: Option<String>,
    /// "voice" or "text" (a `capcom brief`).
    pub source: String,
    pub transcript: Option<String>,
    pub timings: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub action: String,
    pub task_id: Option<i64>,
    pub actor: String,
    pub detail: Option<String>,
}

/// Fields of a task other than its state that the dispatcher fills in.
#[derive(Debug, Clone, Default)]
pub struct TaskUpdate {
    pub agent: Option<String>,
    pub repo: Option<String>,
    pub branch: Option<String>,
    pub worktree: Option<String>,
    pub pr: Option<u64>,
    pub head_sha: Option<String>,
    pub spec: Option<TaskSpec>,
}

pub fn now_str() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn time_str(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A shared handle on the database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
    /// Counts task writes (create, transition, update) made through this handle and its
    /// clones, so the tray follows tasks without polling.
    task_writes: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Store {
    /// Open (or create) the store at `path` and apply pending migrations.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        }
        let conn = Connection::open(path).map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let store = Store {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_path_buf(),
            task_writes: Arc::new(tokio::sync::watch::Sender::new(0)),
        };
        store.migrate()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Changes whenever a task is created or changed through this store.
    pub fn task_writes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.task_writes.subscribe()
    }

    fn task_written(&self) {
        self.task_writes.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn db(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back).
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Apply every migration newer than the database's `user_version`. Safe to call again.
    pub fn migrate(&self) -> Result<i64> {
        let mut conn = self.db();
        let known = MIGRATIONS.len() as i64;
        let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if current > known {
            return Err(StoreError::TooNew { found: current, known });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(known)
    }

    pub fn schema_version(&self) -> Result<i64> {
        Ok(self.db().query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    // ---- utterances -------------------------------------------------------

    /// Record what the user said (audio first: the transcript comes later).
    pub fn insert_utterance(&self, duration_ms: i64, audio_path: Option<&str>, source: &str) -> Result<i64> {
        let conn = self.db();
        conn.execute(
            "INSERT INTO utterances (created_at, duration_ms, audio_path, source) VALUES (?1, ?2, ?3, ?4)",
            params![now_str(), duration_ms, audio_path, source],
        )?;
        Ok(conn.last_insert_rowid())
    }

    pub fn set_transcript(&self, id: i64, transcript: &str, timings: Option<&serde_json::Value>) -> Result<()> {
        let timings = timings.map(|t| t.to_string());
        self.db().execute(
            "UPDATE utterances SET transcript = ?2, timings = ?3 WHERE id = ?1",
            params![id, transcript, timings],
        )?;
        Ok(())
    }

    pub fn utterances(&self, limit: usize) -> Result<Vec<Utterance>> {
        let conn = self.db();
        let mut stmt = conn.prepare(
            "SELECT id, created_at, duration_ms, audio_path, source, transcript, timings
             FROM utterances ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok(Utterance {
                id: r.get(0)?,
                created_at: r.get(1)?,
                duration_ms: r.get(2)?,
                audio_path: r.get(3)?,
                source: r.get(4)?,
                transcript: r.get(5)?,
                timings: r.get::<_, Option<String>>(6)?.and_then(|s| serde_json::from_str(&s).ok()),
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    // ---- tasks ------------------------------------------------------------

    /// Create a task in `state`, with a "created" event and an audit entry, atomically.
    pub fn create_task(
        &self,
        spec: &TaskSpec,
        state: TaskState,
        reason: Option<&str>,
        utterance_id: Option<i64>,
        actor: &str,
    ) -> Result<Task> {
        let mut conn = self.db();
        let tx = conn.transaction()?;
        let now = now_str();
        let spec_json = serde_json::to_string(spec)?;
        let scheduled = spec.schedule.map(|s| time_str(s.with_timezone(&Utc)));
        tx.execute(
            "INSERT INTO tasks (spec, title, state, reason, agent, repo, utterance_id, scheduled_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
            params![spec_json, spec.title, state.as_str(), reason, spec.agent, spec.repo, utterance_id, scheduled, now],
        )?;
        let id = tx.last_insert_rowid();
        insert_event(&tx, Some(id), "created", &format!("{} ({})", spec.title, state), None)?;
        insert_audit(&tx, "dispatch", Some(id), actor, Some(&spec.title))?;
        tx.commit()?;
        drop(conn);
        self.task_written();
        self.task(id)
    }

    pub fn task(&self, id: i64) -> Result<Task> {
        self.db()
            .query_row(&format!("SELECT {TASK_COLS} FROM tasks WHERE id = ?1"), [id], task_from_row)
            .optional()?
            .ok_or(StoreError::NoTask(id))?
    }

    /// Open tasks (or all with `all`), oldest first.
    pub fn tasks(&self, all: bool) -> Result<Vec<Task>> {
        let conn = self.db();
        let sql = if all {
            format!("SELECT {TASK_COLS} FROM tasks ORDER BY id")
        } else {
            format!("SELECT {TASK_COLS} FROM tasks WHERE state NOT IN ('merged', 'cancelled') ORDER BY id")
        };
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map([], task_from_row)?;
        rows.map(|r| r?).collect()
    }

    /// The live board's tasks: every task but the merged and cancelled ones last changed
    /// before `cutoff`; and how many of those were left out.
    pub fn board_tasks(&self, cutoff: DateTime<Utc>) -> Result<(Vec<Task>, usize)> {
        let conn = self.db();
        let cutoff = time_str(cutoff);
        let mut stmt = conn.prepare(&format!(
            "SELECT {TASK_COLS} FROM tasks WHERE state NOT IN ('merged', 'cancelled') OR updated_at >= ?1 ORDER BY id"
        ))?;
        let tasks: Vec<Task> = stmt.query_map([&cutoff], task_from_row)?.map(|r| r?).collect::<Result<_>>()?;
        let hidden: i64 = conn.query_row(
            "SELECT COUNT(*) FROM tasks WHERE state IN ('merged', 'cancelled') AND updated_at < ?1",
            [&cutoff],
            |r| r.get(0),
        )?;
        Ok((tasks, usize::try_from(hidden).unwrap_or(0)))
    }

    /// A page of every task, newest first: at most `limit` with an id below `before` (all when `None`).
    pub fn tasks_page(&self, before: Option<i64>, limit: usize) -> Result<Vec<Task>> {
        let conn = self.db();
        let mut stmt = conn.prepare(&format!("SELECT {TASK_COLS} FROM tasks WHERE id < ?1 ORDER BY id DESC LIMIT ?2"))?;
        let rows = stmt.query_map(params![before.unwrap_or(i64::MAX), i64::try_from(limit).unwrap_or(i64::MAX)], task_from_row)?;
        rows.map(|r| r?).collect()
    }

    /// Changes whenever anything is written to the database, by this process or another: the
    /// writes made on this connection (`total_changes()`) and the commits of other connections
    /// (`PRAGMA data_version`). Costs one short query, so a watcher can look often and rebuild
    /// only when it moved.
    pub fn change_stamp(&self) -> Result<(i64, i64)> {
        let conn = self.db();
        let version: i64 = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        let changes: i64 = conn.query_row("SELECT total_changes()", [], |r| r.get(0))?;
        Ok((version, changes))
    }

    /// The tasks in any of `states`, by id. Filtered in SQL: the dispatcher asks every second,
    /// and reading (and parsing) every task ever made each time cost a core's percent per
    /// thousand tasks.
    pub fn tasks_in(&self, states: &[TaskState]) -> Result<Vec<Task>> {
        if states.is_empty() {
            return Ok(Vec::new());
        }
        let conn = self.db();
        let marks = vec!["?"; states.len()].join(", ");
        let mut stmt = conn.prepare(&format!("SELECT {TASK_COLS} FROM tasks WHERE state IN ({marks}) ORDER BY id"))?;
        let names: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
        let rows = stmt.query_map(rusqlite::params_from_iter(names), task_from_row)?;
        rows.map(|r| r?).collect()
    }

    /// Move a task to `to` with a reason, recording an event, in one transaction.
    /// With `from`, the move happens only if the task is in one of those states.
    pub fn transition(&self, id: i64, from: Option<&[TaskState]>, to: TaskState, reason: Option<&str>) -> Result<Task> {
        let mut conn = self.db();
        let tx = conn.transaction()?;
        let actual: Option<String> =
            tx.query_row("SELECT state FROM tasks WHERE id = ?1", [id], |r| r.get(0)).optional()?;
        let actual = actual.ok_or(StoreError::NoTask(id))?;
        if let Some(from) = from
            && !from.iter().any(|s| s.as_str() == actual) {
                return Err(StoreError::WrongState {
                    id,
                    expected: from.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" or "),
                    actual,
                });
            }
        tx.execute(
            "UPDATE tasks SET state = ?2, reason = ?3, updated_at = ?4 WHERE id = ?1",
            params![id, to.as_str(), reason, now_str()],
        )?;
        let msg = match reason {
            Some(r) => format!("{actual} → {to}: {r}"),
            None => format!("{actual} → {to}"),
        };
        insert_event(&tx, Some(id), "state", &msg, Some(&serde_json::json!({"from": actual, "to": to, "reason": reason})))?;
        tx.commit()?;
        drop(conn);
        self.task_written();
        self.task(id)
    }

    /// Fill in dispatcher fields (only the `Some` ones).
    pub fn update_task(&self, id: i64, u: &TaskUpdate) -> Result<Task> {
        {
            let conn = self.db();
            let spec = u.spec.as_ref().map(serde_json::to_string).transpose()?;
            let title = u.spec.as_ref().map(|s| s.title.clone());
            let n = conn.execute(
                "UPDATE tasks SET
                    agent = COALESCE(?2, agent), repo = COALESCE(?3, repo), branch = COALESCE(?4, branch),
                    worktree = COALESCE(?5, worktree), pr = COALESCE(?6, pr), head_sha = COALESCE(?7, head_sha),
                    spec = COALESCE(?8, spec), title = COALESCE(?9, title), updated_at = ?10
                 WHERE id = ?1",
                params![id, u.agent, u.repo, u.branch, u.worktree, u.pr.map(|p| p as i64), u.head_sha, spec, title, now_str()],
            )?;
            if n == 0 {
                return Err(StoreError::NoTask(id));
            }
        }
        self.task_written();
        self.task(id)
    }

    // ---- runs -------------------------------------------------------------

    pub fn start_run(&self, run: &Run) -> Result<i64> {
        let conn = self.db();
        conn.execute(
            "INSERT INTO runs (task_id, agent, branch, worktree, pid, pid_start, session_id, remote_id, started_at, log_path, kind)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                run.task_id, run.agent, run.branch, run.worktree, run.pid, run.pid_start,
                run.session_id, run.remote_id, now_str(), run.log_path, run.kind
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Set the process of a run once it is spawned.
    pub fn set_run_process(&self, run_id: i64, pid: i64, pid_start: Option<i64>) -> Result<()> {
        self.db().execute("UPDATE runs SET pid = ?2, pid_start = ?3 WHERE id = ?1", params![run_id, pid, pid_start])?;
        Ok(())
    }

    pub fn set_run_session(&self, run_id: i64, session_id: Option<&str>, remote_id: Option<&str>, cost_usd: Option<f64>) -> Result<()> {
        self.db().execute(
            "UPDATE runs SET session_id = COALESCE(?2, session_id), remote_id = COALESCE(?3, remote_id),
                             cost_usd = COALESCE(?4, cost_usd) WHERE id = ?1",
            params![run_id, session_id, remote_id, cost_usd],
        )?;
        Ok(())
    }

    /// End a run: its end time, exit code, summary, and its wall time (end minus start).
    pub fn finish_run(&self, run_id: i64, exit_code: Option<i64>, summary: Option<&str>) -> Result<()> {
        self.db().execute(
            "UPDATE runs SET ended_at = ?2, exit_code = ?3, summary = COALESCE(?4, summary),
                             wall_ms = MAX(0, CAST(ROUND((julianday(?2) - julianday(started_at)) * 86400000.0) AS INTEGER))
             WHERE id = ?1",
            params![run_id, now_str(), exit_code, summary],
        )?;
        Ok(())
    }

    /// Record what a run spent (only the parts that are known; known parts are never erased).
    pub fn set_run_spend(&self, run_id: i64, spend: &RunSpend) -> Result<()> {
        let usage = spend.usage.map(|u| serde_json::to_string(&u)).transpose()?;
        self.db().execute(
            "UPDATE runs SET cost_usd = COALESCE(?2, cost_usd), usage = COALESCE(?3, usage), cpu_ms = COALESCE(?4, cpu_ms)
             WHERE id = ?1",
            params![run_id, spend.cost_usd, usage, spend.cpu_ms],
        )?;
        Ok(())
    }

    /// Every run, oldest first (for the figures in `capcom stats`).
    pub fn all_runs(&self) -> Result<Vec<Run>> {
        let conn = self.db();
        let mut stmt = conn.prepare(&format!("SELECT {RUN_COLS} FROM runs ORDER BY id"))?;
        let rows = stmt.query_map([], run_from_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Every task's `state` events, oldest first (for the figures in `capcom stats`).
    pub fn state_events(&self) -> Result<Vec<Event>> {
        let conn = self.db();
        let mut stmt = conn.prepare(
            "SELECT id, task_id, at, kind, message, data FROM events WHERE kind = 'state' AND task_id IS NOT NULL ORDER BY id",
        )?;
        let rows = stmt.query_map([], event_from_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    pub fn runs(&self, task_id: i64) -> Result<Vec<Run>> {
        let conn = self.db();
        let mut stmt = conn.prepare(&format!("SELECT {RUN_COLS} FROM runs WHERE task_id = ?1 ORDER BY id"))?;
        let rows = stmt.query_map([task_id], run_from_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Every run and every task event, grouped by task (each group by id): what folding every
    /// task into a view needs, in two queries instead of two per task.
    pub fn runs_and_events_by_task(&self) -> Result<(HashMap<i64, Vec<Run>>, HashMap<i64, Vec<Event>>)> {
        let conn = self.db();
        let mut runs: HashMap<i64, Vec<Run>> = HashMap::new();
        let mut stmt = conn.prepare(&format!("SELECT {RUN_COLS} FROM runs ORDER BY task_id, id"))?;
        for r in stmt.query_map([], run_from_row)? {
            let r = r?;
            runs.entry(r.task_id).or_default().push(r);
        }
        let mut events: HashMap<i64, Vec<Event>> = HashMap::new();
        let mut stmt = conn.prepare("SELECT id, task_id, at, kind, message, data FROM events WHERE task_id IS NOT NULL ORDER BY task_id, id")?;
        for e in stmt.query_map([], event_from_row)? {
            let e = e?;
            if let Some(t) = e.task_id {
                events.entry(t).or_default().push(e);
            }
        }
        Ok((runs, events))
    }

    /// Runs that have not ended: what a restart must reconcile.
    pub fn open_runs(&self) -> Result<Vec<Run>> {
        let conn = self.db();
        let mut stmt = conn.prepare(&format!("SELECT {RUN_COLS} FROM runs WHERE ended_at IS NULL ORDER BY id"))?;
        let rows = stmt.query_map([], run_from_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    // ---- events and audit --------------------------------------------------

    pub fn add_event(&self, task_id: Option<i64>, kind: &str, message: &str, data: Option<&serde_json::Value>) -> Result<i64> {
        let conn = self.db();
        insert_event(&conn, task_id, kind, message, data)
    }

    pub fn events(&self, task_id: i64) -> Result<Vec<Event>> {
        let conn = self.db();
        let mut stmt =
            conn.prepare("SELECT id, task_id, at, kind, message, data FROM events WHERE task_id = ?1 ORDER BY id")?;
        let rows = stmt.query_map([task_id], event_from_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Events of every task since a time (RFC 3339), oldest first.
    pub fn events_since(&self, since: &str) -> Result<Vec<Event>> {
        let conn = self.db();
        let mut stmt =
            conn.prepare("SELECT id, task_id, at, kind, message, data FROM events WHERE at >= ?1 ORDER BY id")?;
        let rows = stmt.query_map([since], event_from_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    pub fn audit(&self, action: &str, task_id: Option<i64>, actor: &str, detail: Option<&str>) -> Result<i64> {
        let conn = self.db();
        insert_audit(&conn, action, task_id, actor, detail)
    }

    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        let conn = self.db();
        let mut stmt =
            conn.prepare("SELECT id, at, action, task_id, actor, detail FROM audit ORDER BY id DESC LIMIT ?1")?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok(AuditEntry {
                id: r.get(0)?,
                at: r.get(1)?,
                action: r.get(2)?,
                task_id: r.get(3)?,
                actor: r.get(4)?,
                detail: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }
}

const TASK_COLS: &str = "id, title, state, reason, agent, repo, branch, worktree, pr, head_sha, utterance_id, \
                         scheduled_at, created_at, updated_at, spec";

fn task_from_row(r: &Row) -> rusqlite::Result<Result<Task>> {
    let state: String = r.get(2)?;
    let spec: String = r.get(14)?;
    let spec = match serde_json::from_str(&spec) {
        Ok(s) => s,
        Err(e) => return Ok(Err(e.into())),
    };
    Ok(Ok(Task {
        id: r.get(0)?,
        title: r.get(1)?,
        state: TaskState::parse(&state).unwrap_or(TaskState::NeedsAttention),
        reason: r.get(3)?,
        agent: r.get(4)?,
        repo: r.get(5)?,
        branch: r.get(6)?,
        worktree: r.get(7)?,
        pr: r.get::<_, Option<i64>>(8)?.map(|p| p as u64),
        head_sha: r.get(9)?,
        utterance_id: r.get(10)?,
        scheduled_at: r.get(11)?,
        created_at: r.get(12)?,
        updated_at: r.get(13)?,
        spec,
    }))
}

const RUN_COLS: &str = "id, task_id, agent, branch, worktree, pid, pid_start, session_id, remote_id, started_at, \
                        ended_at, exit_code, log_path, cost_usd, summary, kind, usage, wall_ms, cpu_ms";

fn run_from_row(r: &Row) -> rusqlite::Result<Run> {
    Ok(Run {
        id: r.get(0)?,
        task_id: r.get(1)?,
        agent: r.get(2)?,
        branch: r.get(3)?,
        worktree: r.get(4)?,
        pid: r.get(5)?,
        pid_start: r.get(6)?,
        session_id: r.get(7)?,
        remote_id: r.get(8)?,
        started_at: r.get(9)?,
        ended_at: r.get(10)?,
        exit_code: r.get(11)?,
        log_path: r.get(12)?,
        cost_usd: r.get(13)?,
        summary: r.get(14)?,
        kind: r.get(15)?,
        usage: r.get::<_, Option<String>>(16)?.and_then(|s| serde_json::from_str(&s).ok()),
        wall_ms: r.get(17)?,
        cpu_ms: r.get(18)?,
    })
}

fn event_from_row(r: &Row) -> rusqlite::Result<Event> {
    Ok(Event {
        id: r.get(0)?,
        task_id: r.get(1)?,
        at: r.get(2)?,
        kind: r.get(3)?,
        message: r.get(4)?,
        data: r.get::<_, Option<String>>(5)?.and_then(|s| serde_json::from_str(&s).ok()),
    })
}

fn insert_event(
    conn: &Connection,
    task_id: Option<i64>,
    kind: &str,
    message: &str,
    data: Option<&serde_json::Value>,
) -> Result<i64> {
    conn.execute(
        "INSERT INTO events (task_id, at, kind, message, data) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![task_id, now_str(), kind, message, data.map(|d| d.to_string())],
    )?;
    Ok(conn.last_insert_rowid())
}

fn insert_audit(conn: &Connection, action: &str, task_id: Option<i64>, actor: &str, detail: Option<&str>) -> Result<i64> {
    conn.execute(
        "INSERT INTO audit (at, action, task_id, actor, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![now_str(), action, task_id, actor, detail],
    )?;
    Ok(conn.last_insert_rowid())
}

#[cfg(test)]
mod tests;
