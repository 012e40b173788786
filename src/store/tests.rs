use super::*;
use crate::understand::{TaskKind, TaskSpec};

fn spec(title: &str) -> TaskSpec {
    TaskSpec { title: title.into(), kind: TaskKind::Css, ..TaskSpec::default() }
}

#[test]
fn migrations_apply_twice_without_harm() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("capcom.db");
    let s = Store::open(&path).unwrap();
    let t = s.create_task(&spec("one"), TaskState::Queued, None, None, "test").unwrap();
    assert_eq!(s.migrate().unwrap(), MIGRATIONS.len() as i64);
    drop(s);
    let s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
    assert_eq!(s.task(t.id).unwrap().title, "one");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("capcom.db");
    Store::open(&path).unwrap();
    let c = Connection::open(&path).unwrap();
    c.pragma_update(None, "user_version", 99).unwrap();
    drop(c);
    assert!(matches!(Store::open(&path), Err(StoreError::TooNew { found: 99, .. })));
}

#[test]
fn transition_checks_the_from_state_and_records_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("c.db")).unwrap();
    let t = s.create_task(&spec("two"), TaskState::Queued, None, None, "test").unwrap();
    let err = s.transition(t.id, Some(&[TaskState::Running]), TaskState::Ready, None).unwrap_err();
    assert!(matches!(err, StoreError::WrongState { .. }), "{err}");
    assert_eq!(s.task(t.id).unwrap().state, TaskState::Queued);
    let t2 = s.transition(t.id, Some(&[TaskState::Queued]), TaskState::Running, Some("started")).unwrap();
    assert_eq!(t2.state, TaskState::Running);
    let ev = s.events(t.id).unwrap();
    assert_eq!(ev.last().unwrap().kind, "state");
    assert!(ev.last().unwrap().message.contains("queued → running"));
}

#[test]
fn closed_tasks_are_hidden_unless_all() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("c.db")).unwrap();
    let a = s.create_task(&spec("a"), TaskState::Queued, None, None, "test").unwrap();
    s.create_task(&spec("b"), TaskState::Queued, None, None, "test").unwrap();
    s.transition(a.id, None, TaskState::Cancelled, Some("user")).unwrap();
    assert_eq!(s.tasks(false).unwrap().len(), 1);
    assert_eq!(s.tasks(true).unwrap().len(), 2);
}

#[test]
fn utterance_then_transcript() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("c.db")).unwrap();
    let id = s.insert_utterance(2500, Some("audio/1.wav"), "voice").unwrap();
    assert_eq!(s.utterances(10).unwrap()[0].transcript, None);
    s.set_transcript(id, "what's finished", Some(&serde_json::json!({"encode_ms": 12}))).unwrap();
    let u = &s.utterances(10).unwrap()[0];
    assert_eq!(u.transcript.as_deref(), Some("what's finished"));
    assert_eq!(u.duration_ms, 2500);
}

#[test]
fn runs_open_until_finished() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("c.db")).unwrap();
    let t = s.create_task(&spec("r"), TaskState::Queued, None, None, "test").unwrap();
    let r = s.start_run(&Run { task_id: t.id, agent: "claude".into(), ..Run::default() }).unwrap();
    s.set_run_process(r, 4242, Some(17)).unwrap();
    assert_eq!(s.open_runs().unwrap().len(), 1);
    s.finish_run(r, Some(0), Some("done")).unwrap();
    assert!(s.open_runs().unwrap().is_empty());
    assert_eq!(s.runs(t.id).unwrap()[0].summary.as_deref(), Some("done"));
    assert_eq!(s.audit_log(10).unwrap()[0].action, "dispatch");
}

/// A database as schema 2 left it: tasks, runs (a start, a follow-up, a retry, one still open),
/// events and a paired device, written with schema 2's own SQL.
fn schema_two_db(path: &std::path::Path) {
    let mut c = Connection::open(path).unwrap();
    for (i, sql) in MIGRATIONS[..2].iter().enumerate() {
        let tx = c.transaction().unwrap();
        tx.execute_batch(sql).unwrap();
        tx.pragma_update(None, "user_version", (i + 1) as i64).unwrap();
        tx.commit().unwrap();
    }
    let spec_json = serde_json::to_string(&spec("old work")).unwrap();
    c.execute_batch(&format!(
        "INSERT INTO tasks (id, spec, title, state, agent, created_at, updated_at)
             VALUES (1, '{spec_json}', 'old work', 'ready', 'claude', '2026-11-20T08:00:00.000Z', '2026-11-20T09:00:00.000Z');
         INSERT INTO runs (id, task_id, agent, started_at, ended_at, exit_code, cost_usd, summary) VALUES
             (1, 1, 'claude', '2026-11-20T08:00:00.000Z', '2026-11-20T08:12:30.500Z', 0, 0.25, 'first'),
             (2, 1, 'claude', '2026-11-20T08:20:00.000Z', '2026-11-20T08:21:00.000Z', 0, 0.05, 'second'),
             (3, 1, 'claude', '2026-11-20T08:30:00.000Z', '2026-11-20T08:31:00.000Z', 1, NULL, 'third'),
             (4, 1, 'claude', '2026-11-20T08:40:00.000Z', NULL, NULL, NULL, NULL);
         INSERT INTO events (task_id, at, kind, message) VALUES
             (1, '2026-11-20T08:15:00.000Z', 'follow_up', 'also fix the docs'),
             (1, '2026-11-20T08:25:00.000Z', 'retry', 'retrying');
         INSERT INTO devices (name, token_hash, created_at) VALUES ('phone', 'abc', '2026-11-20T08:00:00.000Z');"
    ))
    .unwrap();
}

#[test]
fn schema_two_becomes_three_and_keeps_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("capcom.db");
    schema_two_db(&path);
    let s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
    assert_eq!(s.task(1).unwrap().title, "old work");
    let runs = s.runs(1).unwrap();
    assert_eq!(runs.len(), 4);
    let kinds: Vec<Option<&str>> = runs.iter().map(|r| r.kind.as_deref()).collect();
    assert_eq!(kinds, [Some("start"), Some("follow_up"), Some("retry"), Some("retry")]);
    let walls: Vec<Option<i64>> = runs.iter().map(|r| r.wall_ms).collect();
    assert_eq!(walls, [Some(750_500), Some(60_000), Some(60_000), None]);
    assert_eq!(runs[0].cost_usd, Some(0.25));
    assert_eq!(runs[0].summary.as_deref(), Some("first"));
    assert!(runs.iter().all(|r| r.cpu_ms.is_none() && r.usage.is_none()));
    assert_eq!(s.events(1).unwrap().len(), 2);
    assert_eq!(s.devices().unwrap().len(), 1);

    // The open run ends under schema 3 with its wall time and what it spent.
    s.set_run_spend(4, &RunSpend { cost_usd: Some(0.5), usage: Some(Usage { input_tokens: 10, cached_input_tokens: 4, output_tokens: 2 }), cpu_ms: Some(1200) }).unwrap();
    s.set_run_spend(4, &RunSpend::default()).unwrap();
    s.finish_run(4, Some(0), None).unwrap();
    let r = &s.runs(1).unwrap()[3];
    assert_eq!((r.cost_usd, r.cpu_ms), (Some(0.5), Some(1200)));
    assert_eq!(r.usage, Some(Usage { input_tokens: 10, cached_input_tokens: 4, output_tokens: 2 }));
    assert!(r.wall_ms.is_some_and(|w| w > 0), "{r:?}");
    drop(s);
    // Opening again changes nothing.
    let s = Store::open(&path).unwrap();
    assert_eq!(s.runs(1).unwrap()[0].wall_ms, Some(750_500));
}

#[test]
fn new_runs_record_their_kind() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("c.db")).unwrap();
    let t = s.create_task(&spec("k"), TaskState::Queued, None, None, "test").unwrap();
    let r = s.start_run(&Run { task_id: t.id, agent: "codex".into(), kind: Some("follow_up".into()), ..Run::default() }).unwrap();
    s.finish_run(r, Some(0), None).unwrap();
    let run = &s.runs(t.id).unwrap()[0];
    assert_eq!(run.kind.as_deref(), Some("follow_up"));
    assert!(run.wall_ms.is_some_and(|w| w >= 0));
    assert_eq!(s.all_runs().unwrap().len(), 1);
}

#[test]
fn every_task_write_is_announced_to_followers_of_any_clone() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("c.db")).unwrap();
    let mut writes = s.clone().task_writes();
    let mut count = || {
        let changed = writes.has_changed().unwrap();
        writes.mark_unchanged();
        changed
    };
    assert!(!count());
    let t = s.create_task(&spec("one"), TaskState::Queued, None, None, "test").unwrap();
    assert!(count(), "create");
    s.transition(t.id, None, TaskState::Running, None).unwrap();
    assert!(count(), "transition");
    s.update_task(t.id, &TaskUpdate { branch: Some("b".into()), ..TaskUpdate::default() }).unwrap();
    assert!(count(), "update");
    // reads and refused writes announce nothing
    s.tasks(true).unwrap();
    let _ = s.transition(t.id, Some(&[TaskState::Queued]), TaskState::Ready, None);
    assert!(s.update_task(999, &TaskUpdate::default()).is_err());
    assert!(!count());
}

#[test]
fn the_board_reads_agree_with_the_per_task_reads() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("capcom.db")).unwrap();
    let mut ids = Vec::new();
    for (i, state) in [TaskState::Running, TaskState::Merged, TaskState::Queued, TaskState::Cancelled].into_iter().enumerate() {
        let t = s.create_task(&spec(&format!("task {i}")), TaskState::Queued, None, None, "test").unwrap();
        if i % 2 == 0 {
            s.start_run(&Run { task_id: t.id, agent: "claude".into(), ..Run::default() }).unwrap();
        }
        if state != TaskState::Queued {
            s.transition(t.id, None, state, Some("moved")).unwrap();
        }
        s.add_event(Some(t.id), "progress", "step", None).unwrap();
        ids.push(t.id);
    }
    s.add_event(None, "notice", "not a task's", None).unwrap();
    let (runs, events) = s.runs_and_events_by_task().unwrap();
    for id in &ids {
        assert_eq!(runs.get(id).cloned().unwrap_or_default(), s.runs(*id).unwrap(), "runs of {id}");
        assert_eq!(events.get(id).cloned().unwrap_or_default(), s.events(*id).unwrap(), "events of {id}");
    }
    let states = |v: Vec<Task>| v.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(states(s.tasks_in(&[TaskState::Queued, TaskState::Running]).unwrap()), [ids[0], ids[2]]);
    assert!(s.tasks_in(&[]).unwrap().is_empty());
    // merged and cancelled tasks leave the board once changed before the cutoff
    let (all, hidden) = s.board_tasks(chrono::Utc::now() - chrono::Duration::hours(1)).unwrap();
    assert_eq!((all.len(), hidden), (4, 0));
    let (live, hidden) = s.board_tasks(chrono::Utc::now() + chrono::Duration::hours(1)).unwrap();
    assert_eq!((states(live), hidden), (vec![ids[0], ids[2]], 2));
    assert_eq!(states(s.tasks_page(None, 3).unwrap()), [ids[3], ids[2], ids[1]]);
    assert_eq!(states(s.tasks_page(Some(ids[1]), 3).unwrap()), [ids[0]]);
    let before = s.change_stamp().unwrap();
    assert_eq!(s.change_stamp().unwrap(), before, "a read moves nothing");
    s.add_event(Some(ids[0]), "progress", "another", None).unwrap();
    assert_ne!(s.change_stamp().unwrap(), before);
}
