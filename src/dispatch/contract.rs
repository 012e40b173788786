//! The contract every [`AgentBackend`] must meet, as one shared test suite.
//!
//! A backend's tests provide a [`Fixture`] (a backend plus requests whose agent
//! will succeed, fail or hang: a scripted stand-in for local agents, a local mock
//! server for remote ones) and invoke the macro once:
//!
//! ```ignore
//! capcom::agent_backend_contract!(local_claude_like, my_fixture());
//! ```
//!
//! which expands to one `#[tokio::test]` per case below. Like ripgrep's matcher
//! tests, every engine runs the same cases. This module is test support: its
//! functions assert (panic) on a broken contract.

use super::backend::{AgentBackend, AgentEvent, RunRef, StartRequest};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// What the stand-in agent should do with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Do a little work and finish with a summary.
    Succeed,
    /// Fail (non-zero exit, or a failed remote state).
    Fail,
    /// Never finish by itself.
    Hang,
}

#[async_trait]
pub trait Fixture: Send + Sync {
    fn backend(&self) -> Arc<dyn AgentBackend>;
    /// A request whose agent behaves as asked.
    fn request(&self, behaviour: Behaviour) -> StartRequest;
    /// Whether any part of the run is still at work (local: a process of its group;
    /// remote: the service says so).
    async fn still_running(&self, run: &RunRef) -> bool;
}

/// A guard against a hung test, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(60);

/// Collect events until the stream ends.
pub async fn drain(rx: &mut mpsc::Receiver<AgentEvent>) -> Vec<AgentEvent> {
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout(PATIENCE, rx.recv()).await {
            Ok(Some(e)) => out.push(e),
            Ok(None) => return out,
            Err(_) => panic!("the event stream did not end within {PATIENCE:?}; so far: {out:?}"),
        }
    }
}

fn assert_one_terminal_last(events: &[AgentEvent]) {
    let terminals = events.iter().filter(|e| e.is_terminal()).count();
    assert_eq!(terminals, 1, "exactly one terminal event expected: {events:?}");
    assert!(events.last().is_some_and(AgentEvent::is_terminal), "the terminal event must come last: {events:?}");
}

pub async fn success_ends_with_finished(f: &dyn Fixture) {
    let b = f.backend();
    let mut launched = b.start(f.request(Behaviour::Succeed)).await.expect("start");
    let events = drain(&mut launched.events).await;
    assert!(matches!(events.first(), Some(AgentEvent::Started { .. })), "first event must be Started: {events:?}");
    assert_one_terminal_last(&events);
    match events.last() {
        Some(AgentEvent::Finished { summary, .. }) => {
            assert!(summary.as_deref().is_some_and(|s| !s.trim().is_empty()), "a finished run has a summary: {events:?}")
        }
        other => panic!("expected Finished, got {other:?}"),
    }
    assert!(!f.still_running(&launched.run).await, "nothing of a finished run may keep running");
}

pub async fn failure_ends_with_failed(f: &dyn Fixture) {
    let b = f.backend();
    let mut launched = b.start(f.request(Behaviour::Fail)).await.expect("start");
    let events = drain(&mut launched.events).await;
    assert_one_terminal_last(&events);
    match events.last() {
        Some(AgentEvent::Failed { reason, .. }) => assert!(!reason.trim().is_empty(), "a failure has a reason"),
        other => panic!("expected Failed, got {other:?}"),
    }
}

pub async fn cancel_stops_the_run(f: &dyn Fixture) {
    let b = f.backend();
    let mut launched = b.start(f.request(Behaviour::Hang)).await.expect("start");
    let first = tokio::time::timeout(PATIENCE, launched.events.recv()).await.expect("an event").expect("open stream");
    assert!(matches!(first, AgentEvent::Started { .. }), "first event must be Started: {first:?}");
    assert!(f.still_running(&launched.run).await, "a hanging agent is running before cancel");
    b.cancel(&launched.run).await.expect("cancel");
    let events = drain(&mut launched.events).await;
    assert!(matches!(events.last(), Some(AgentEvent::Failed { .. })), "a cancelled run ends Failed: {events:?}");
    assert_eq!(events.iter().filter(|e| e.is_terminal()).count(), 1);
    assert!(!f.still_running(&launched.run).await, "nothing of a cancelled run may keep running");
    b.cancel(&launched.run).await.expect("cancelling twice is fine");
}

pub async fn observe_reattaches(f: &dyn Fixture) {
    let b = f.backend();
    let launched = b.start(f.request(Behaviour::Hang)).await.expect("start");
    let run = launched.run.clone();
    // The first watcher goes away, as it would with a daemon restart.
    drop(launched.events);
    let mut rx = b.observe(&run).await.expect("observe");
    assert!(f.still_running(&run).await, "the run outlives its first watcher");
    b.cancel(&run).await.expect("cancel");
    let events = drain(&mut rx).await;
    assert_one_terminal_last(&events);
    assert!(!f.still_running(&run).await);
}

pub async fn follow_up_continues(f: &dyn Fixture) {
    let b = f.backend();
    let mut first = b.start(f.request(Behaviour::Succeed)).await.expect("start");
    let events = drain(&mut first.events).await;
    let session = match events.last() {
        Some(AgentEvent::Finished { session_id, .. }) => session_id.clone(),
        other => panic!("expected Finished, got {other:?}"),
    };
    let mut previous = first.run.clone();
    previous.session_id = session.clone();
    let mut again = b.follow_up(&previous, f.request(Behaviour::Succeed)).await.expect("follow-up");
    let events = drain(&mut again.events).await;
    assert_one_terminal_last(&events);
    match events.last() {
        Some(AgentEvent::Finished { session_id, .. }) => {
            if b.supports_resume() {
                assert!(session.is_some(), "a backend that resumes reports a session id");
                assert_eq!(session_id, &session, "a follow-up resumes the same session");
            }
        }
        other => panic!("expected Finished, got {other:?}"),
    }
}

/// One `#[tokio::test]` per contract case, for the fixture expression `$fixture`
/// (evaluated afresh in each test).
#[macro_export]
macro_rules! agent_backend_contract {
    ($name:ident, $fixture:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            use $crate::dispatch::contract as c;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn success_ends_with_finished() {
                let f = $fixture;
                c::success_ends_with_finished(&f).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn failure_ends_with_failed() {
                let f = $fixture;
                c::failure_ends_with_failed(&f).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cancel_stops_the_run() {
                let f = $fixture;
                c::cancel_stops_the_run(&f).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn observe_reattaches() {
                let f = $fixture;
                c::observe_reattaches(&f).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn follow_up_continues() {
                let f = $fixture;
                c::follow_up_continues(&f).await;
            }
        }
    };
}
