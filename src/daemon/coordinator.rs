//! The coordinator: the one owner of session state.
//!
//! Hotkey events, transcripts, API calls and agent events all arrive as
//! [`Msg`]s on one channel and are handled one at a time, so no two sources
//! can race on the stage (idle, recording, transcribing, awaiting
//! confirmation, speaking).

use super::Services;
use super::actions::Answer;
use crate::dispatch::{Agents, Ctx, DispatchHandle};
use crate::review::merge::PendingMerge;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// The session stage. Exactly one at a time.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    Idle,
    Recording,
    Transcribing,
    AwaitingConfirmation,
    Speaking,
}

/// A read-only view for the API and the tray.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub stage: Stage,
}

/// Messages the coordinator handles, in arrival order.
pub enum Msg {
    Snapshot(oneshot::Sender<Snapshot>),
    /// Act on words as if spoken (or on an intent already understood).
    Brief { text: String, intent: Option<crate::understand::Intent>, reply: oneshot::Sender<Answer> },
    /// Ask to merge a task (an id or a reference); the confirmation stays pending here.
    Merge { task: String, reply: oneshot::Sender<Answer> },
    /// Confirm the pending question.
    Confirm { code: Option<String>, reply: oneshot::Sender<Answer> },
    /// Cancel a task (an id or a reference).
    Cancel { task: String, reply: oneshot::Sender<Answer> },
}

pub struct Coordinator {
    pub(super) services: Services,
    pub(super) stage: Stage,
    /// The merge question waiting for "confirm" (with `Stage::AwaitingConfirmation`).
    pub(super) pending: Option<PendingMerge>,
    /// The dispatcher (scheduler, agents, review); set once the coordinator runs.
    pub(super) dispatch: Option<DispatchHandle>,
}

/// The `capcom` binary, to supervise local agents (`capcom __supervise`), when this
/// process is it (not a test binary).
fn supervisor() -> Option<std::path::PathBuf> {
    std::env::current_exe().ok().filter(|p| p.file_name().is_some_and(|n| n == "capcom"))
}

/// A cheap handle for sending messages to the coordinator.
#[derive(Clone)]
pub struct CoordinatorHandle {
    tx: mpsc::Sender<Msg>,
    task: std::sync::Arc<tokio::sync::Mutex<Option<JoinHandle<()>>>>,
}

impl Coordinator {
    pub fn new(services: Services) -> Coordinator {
        Coordinator { services, stage: Stage::Idle, pending: None, dispatch: None }
    }

    /// Run the coordinator on its own task until `stop` turns true.
    pub fn spawn(services: Services, mut stop: watch::Receiver<bool>) -> CoordinatorHandle {
        let (tx, mut rx) = mpsc::channel::<Msg>(256);
        let mut me = Coordinator::new(services);
        let dispatch_stop = stop.clone();
        let task = tokio::spawn(async move {
            let s = &me.services;
            let ctx = Ctx {
                config: s.config.clone(),
                data: s.data.clone(),
                store: s.store.clone(),
                git: std::sync::Arc::new(crate::dispatch::worktree::GitCli),
                agents: Agents::from_config(&s.config, supervisor()),
            };
            me.dispatch = Some(DispatchHandle::start(ctx, dispatch_stop).await);
            loop {
                tokio::select! {
                    msg = rx.recv() => match msg {
                        Some(m) => me.handle(m).await,
                        None => break,
                    },
                    _ = stopped(&mut stop) => break,
                }
            }
            me.drain();
        });
        CoordinatorHandle { tx, task: std::sync::Arc::new(tokio::sync::Mutex::new(Some(task))) }
    }

    pub fn stage(&self) -> &Stage {
        &self.stage
    }

    async fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Snapshot(reply) => {
                let _ = reply.send(Snapshot { stage: self.stage.clone() });
            }
            Msg::Brief { text, intent, reply } => {
                let answer = self.brief(text, intent).await;
                let _ = reply.send(answer);
            }
            Msg::Merge { task, reply } => {
                let answer = match self.resolve(&task) {
                    Ok(id) => self.merge(id).await,
                    Err(q) => Answer::refused("merge", q),
                };
                let _ = reply.send(answer);
            }
            Msg::Confirm { code, reply } => {
                let answer = self.confirm(code).await;
                let _ = reply.send(answer);
            }
            Msg::Cancel { task, reply } => {
                let answer = match self.resolve(&task) {
                    Ok(id) => self.cancel(id).await,
                    Err(q) => Answer::refused("cancel", q),
                };
                let _ = reply.send(answer);
            }
        }
    }

    /// Leave state recoverable: everything durable is already in the store.
    fn drain(&mut self) {
        let _ = &self.services;
        self.stage = Stage::Idle;
    }
}

/// Resolves once the stop flag is true (or its sender is gone).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

impl CoordinatorHandle {
    pub async fn send(&self, msg: Msg) -> bool {
        self.tx.send(msg).await.is_ok()
    }

    pub async fn snapshot(&self) -> Option<Snapshot> {
        let (tx, rx) = oneshot::channel();
        self.send(Msg::Snapshot(tx)).await;
        rx.await.ok()
    }

    /// Wait for the coordinator task to finish (after the stop signal).
    pub async fn join(&self) {
        if let Some(t) = self.task.lock().await.take() {
            let _ = t.await;
        }
    }
}
