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
