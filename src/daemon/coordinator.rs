//! The coordinator: the one owner of session state.
//!
//! Hotkey events, transcripts, API calls and agent events all arrive as
//! [`Msg`]s on one channel and are handled one at a time, so no two sources
//! can race on the stage (idle, recording, transcribing, awaiting
//! confirmation, speaking).

use super::Services;
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

/// A push-to-talk edge from the voice loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HotkeyEdge {
    /// Recording started.
    Pressed,
    /// Recording stopped; the clip goes to the store and the model.
    Released,
    /// Dropped (Esc, or a press shorter than `[voice] min_press`).
    Cancelled,
}

/// Messages the coordinator handles, in arrival order.
pub enum Msg {
    Snapshot(oneshot::Sender<Snapshot>),
    /// Push-to-talk: Idle → Recording → Transcribing.
    Hotkey(HotkeyEdge),
    /// A stored utterance was transcribed: Transcribing → Idle, then acted on.
    Transcript { utterance_id: i64, text: String },
    /// The voice loop ended without a transcript (nothing heard, no model).
    VoiceIdle { reason: String },
}

pub struct Coordinator {
    services: Services,
    stage: Stage,
    /// Where a recording returns to when it yields nothing (e.g. a pending confirmation).
    before_voice: Stage,
}

/// A cheap handle for sending messages to the coordinator.
#[derive(Clone)]
pub struct CoordinatorHandle {
    tx: mpsc::Sender<Msg>,
    task: std::sync::Arc<tokio::sync::Mutex<Option<JoinHandle<()>>>>,
}

impl Coordinator {
    pub fn new(services: Services) -> Coordinator {
        Coordinator { services, stage: Stage::Idle, before_voice: Stage::Idle }
    }

    /// Run the coordinator on its own task until `stop` turns true.
    pub fn spawn(services: Services, mut stop: watch::Receiver<bool>) -> CoordinatorHandle {
        let (tx, mut rx) = mpsc::channel::<Msg>(256);
        let mut me = Coordinator::new(services);
        let task = tokio::spawn(async move {
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
            Msg::Hotkey(edge) => self.hotkey(edge),
            Msg::Transcript { utterance_id, text } => {
                if self.stage == Stage::Transcribing {
                    self.stage = Stage::Idle;
                }
                // Acting on transcripts (the `capcom brief` path) plugs in here.
                tracing::info!(utterance_id, %text, "transcript");
            }
            Msg::VoiceIdle { reason } => {
                if matches!(self.stage, Stage::Recording | Stage::Transcribing) {
                    self.stage = self.before_voice.clone();
                }
                tracing::debug!(%reason, "voice input produced no transcript");
            }
        }
    }

    fn hotkey(&mut self, edge: HotkeyEdge) {
        match (edge, &self.stage) {
            (HotkeyEdge::Pressed, Stage::Recording) => {}
            (HotkeyEdge::Pressed, Stage::Transcribing) => self.stage = Stage::Recording,
            (HotkeyEdge::Pressed, other) => {
                self.before_voice = other.clone();
                self.stage = Stage::Recording;
            }
            (HotkeyEdge::Released, Stage::Recording) => self.stage = Stage::Transcribing,
            (HotkeyEdge::Cancelled, Stage::Recording) => self.stage = self.before_voice.clone(),
            _ => {}
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

#[cfg(test)]
mod voice_stage_tests {
    use super::*;
    use crate::config::{Config, DataDir};
    use crate::store::Store;
    use std::sync::Arc;

    fn coordinator(dir: &std::path::Path) -> Coordinator {
        let services = Services {
            config: Arc::new(Config::default()),
            data: DataDir::new(dir),
            store: Store::open(&dir.join("capcom.db")).unwrap(),
        };
        Coordinator::new(services)
    }

    #[tokio::test]
    async fn push_to_talk_moves_the_stage() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = coordinator(dir.path());
        let steps: Vec<(Msg, Stage)> = vec![
            (Msg::Hotkey(HotkeyEdge::Pressed), Stage::Recording),
            (Msg::Hotkey(HotkeyEdge::Released), Stage::Transcribing),
            (Msg::Transcript { utterance_id: 1, text: "status".into() }, Stage::Idle),
            (Msg::Hotkey(HotkeyEdge::Pressed), Stage::Recording),
            (Msg::Hotkey(HotkeyEdge::Cancelled), Stage::Idle),
            (Msg::Hotkey(HotkeyEdge::Pressed), Stage::Recording),
            (Msg::Hotkey(HotkeyEdge::Released), Stage::Transcribing),
            (Msg::VoiceIdle { reason: "nothing heard".into() }, Stage::Idle),
            // a stray release or transcript does not invent a stage
            (Msg::Hotkey(HotkeyEdge::Released), Stage::Idle),
            (Msg::Transcript { utterance_id: 2, text: "x".into() }, Stage::Idle),
        ];
        for (i, (msg, want)) in steps.into_iter().enumerate() {
            c.handle(msg).await;
            assert_eq!(c.stage(), &want, "step {i}");
        }
    }

    #[tokio::test]
    async fn a_pending_confirmation_survives_an_empty_recording() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = coordinator(dir.path());
        c.stage = Stage::AwaitingConfirmation;
        c.handle(Msg::Hotkey(HotkeyEdge::Pressed)).await;
        assert_eq!(c.stage(), &Stage::Recording);
        c.handle(Msg::Hotkey(HotkeyEdge::Released)).await;
        c.handle(Msg::VoiceIdle { reason: "nothing heard".into() }).await;
        assert_eq!(c.stage(), &Stage::AwaitingConfirmation);
        c.handle(Msg::Hotkey(HotkeyEdge::Pressed)).await;
        c.handle(Msg::Hotkey(HotkeyEdge::Cancelled)).await;
        assert_eq!(c.stage(), &Stage::AwaitingConfirmation);
    }
}
