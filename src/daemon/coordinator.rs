//! The coordinator: the one owner of session state.
//!
//! Hotkey events, transcripts, API calls, timers and the speech queue all
//! arrive as [`Msg`]s on one channel and are handled one at a time, so no two
//! sources can race on the stage (idle, recording, transcribing, awaiting
//! confirmation, speaking). The conversation (the pending question, held tasks' questions,
//! the grace window) is the pure [`Dialogue`]: the coordinator turns what happens into its
//! events and carries out its effects.

use super::Services;
use super::answer::Answer;
use super::dialogue::{Dialogue, Effect, Event};
use crate::dispatch::{Agents, Ctx, DispatchHandle};
use crate::report::SpeechQueue;
use crate::review::merge::Pending;
use serde::Serialize;
use std::sync::Arc;
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
    /// The question waiting for "confirm", if any.
    pub question: Option<String>,
    /// Listening is paused: the hotkey and the microphone are off until resumed.
    pub paused: bool,
}

/// What the coordinator publishes after every message: the voice loop and the tray
/// follow it (a watch channel), so a short press shows as "recording" at once.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Published {
    pub stage: Option<Stage>,
    pub paused: bool,
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
    /// Act on words as if spoken (or on an intent already understood).
    /// `utterance`: the brief's text already stored (with its idempotency key, `idem.rs`).
    Brief { text: String, intent: Option<crate::understand::Intent>, utterance: Option<i64>, reply: oneshot::Sender<Answer> },
    /// Ask to merge a task (an id or a reference); the confirmation stays pending here.
    Merge { task: String, reply: oneshot::Sender<Answer> },
    /// Confirm the pending question.
    Confirm { code: Option<String>, no_checks: bool, reply: oneshot::Sender<Answer> },
    /// Cancel a task (an id or a reference).
    Cancel { task: String, reply: oneshot::Sender<Answer> },
    /// Answer the question a task waits on (a held task's, or its agent's).
    Answer { task: String, text: String, reply: oneshot::Sender<Answer> },
    /// Push-to-talk: Idle → Recording → Transcribing. A press while speaking cuts the speech (barge-in).
    Hotkey(HotkeyEdge),
    /// A stored utterance was transcribed: understood, acted on, and answered out loud.
    Transcript { utterance_id: i64, text: String },
    /// A stored clip from the phone page was transcribed: acted on like `Transcript`, the answer
    /// returned to the page (which plays it) instead of said here.
    Heard { utterance_id: i64, text: String, reply: oneshot::Sender<Answer> },
    /// The voice loop ended without a transcript (nothing heard, no model).
    VoiceIdle { reason: String },
    /// The speech queue finished (or dropped) the job it was given.
    SpeechDone { job: u64 },
    /// A one-line notice (a task became ready); said only when the user is not busy.
    Notice(String),
    /// Time passed; expires a pending question whose time is up.
    Tick,
    /// While a merge question is pending: if its base branch moved, the question is
    /// withdrawn and asked again about the head brought up to date.
    BaseCheck,
    /// Play an audio file (the latest changelog, from the tray).
    PlayFile(std::path::PathBuf),
    /// A remote agent's run changed (a verified webhook): its watcher looks now.
    AgentChanged(String),
    /// Pause (`Some(true)`), resume (`Some(false)`) or toggle (`None`) listening; replies
    /// whether listening is paused now.
    SetPaused { paused: Option<bool>, reply: oneshot::Sender<bool> },
    /// The user's config file changed and loaded cleanly: the next brief, merge or task uses it.
    Config(Arc<crate::config::Config>),
    /// What the running merge train did (it runs beside the conversation).
    Train(crate::dispatch::train::News),
}

pub struct Coordinator {
    pub(super) services: Services,
    pub(super) stage: Stage,
    /// The conversation: the question waiting for "confirm" (with `Stage::AwaitingConfirmation`),
    /// the held task asked about last, the tasks in their grace window.
    pub(super) dialogue: Dialogue,
    /// The dispatcher (scheduler, agents, review); set once the coordinator runs.
    pub(super) dispatch: Option<DispatchHandle>,
    /// Where a recording returns to when it yields nothing (e.g. a pending confirmation).
    before_voice: Stage,
    /// Speech out; `None` when headless or speech is off (answers stay text).
    speech: Option<Arc<SpeechQueue>>,
    /// The job being spoken, so a stale "done" from a cut job is ignored.
    speaking_job: Option<u64>,
    /// What was said last, for "say that again".
    pub(super) last_said: Option<String>,
    /// Notices that arrived while the user was busy.
    held_notices: Vec<String>,
    /// The coordinator's own inbox, for the speech queue's "done" messages.
    pub(super) inbox: Option<mpsc::Sender<Msg>>,
    /// Listening paused: hotkey presses are ignored and the voice loop closes the microphone.
    pub(super) paused: bool,
    /// The stage and pause state, published after each message.
    published: watch::Sender<Published>,
    /// The merge train running now, if any (one at a time; see `actions.rs`).
    pub(super) train: Option<super::actions::Riding>,
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
    published: watch::Receiver<Published>,
}

impl Coordinator {
    pub fn new(services: Services) -> Coordinator {
        let grace = services.config.dispatch.grace.get();
        Coordinator {
            services,
            stage: Stage::Idle,
            dialogue: Dialogue::new(grace),
            dispatch: None,
            before_voice: Stage::Idle,
            speech: None,
            speaking_job: None,
            last_said: None,
            held_notices: Vec::new(),
            inbox: None,
            paused: false,
            published: watch::Sender::new(Published { stage: Some(Stage::Idle), paused: false }),
            train: None,
        }
    }

    /// Follow the stage and pause state as they change.
    pub fn subscribe(&self) -> watch::Receiver<Published> {
        self.published.subscribe()
    }

    /// Tell the followers, if anything they see changed.
    fn publish(&self) {
        let now = Published { stage: Some(self.stage.clone()), paused: self.paused };
        self.published.send_if_modified(|p| {
            if *p == now {
                false
            } else {
                *p = now;
                true
            }
        });
    }

    /// Give the coordinator a voice. Its queue reports back through `inbox`.
    pub fn with_speech(mut self, speech: Arc<SpeechQueue>, inbox: mpsc::Sender<Msg>) -> Coordinator {
        self.speech = Some(speech);
        self.inbox = Some(inbox);
        self
    }

    /// Run the coordinator on its own task until `stop` turns true. With `speech`, answers
    /// to spoken requests are said out loud.
    pub fn spawn(services: Services, mut stop: watch::Receiver<bool>, speech: Option<Arc<SpeechQueue>>) -> CoordinatorHandle {
        let (tx, mut rx) = mpsc::channel::<Msg>(256);
        let mut me = Coordinator::new(services);
        if let Some(s) = speech {
            me = me.with_speech(s, tx.clone());
        } else {
            // Notices from work finished off the loop (the merge train) come back here.
            me.inbox = Some(tx.clone());
        }
        let dispatch_stop = stop.clone();
        let published = me.subscribe();
        let task = tokio::spawn(async move {
            let s = &me.services;
            let ctx = Ctx {
                config: s.config.clone().into(),
                data: s.data.clone(),
                store: s.store.clone(),
                git: std::sync::Arc::new(crate::dispatch::worktree::GitCli),
                agents: Agents::from_config(&s.config, supervisor()),
                github: match crate::github::GitHub::from_config(&s.config.github) {
                    Ok(gh) => Some(std::sync::Arc::new(gh)),
                    Err(e) => {
                        tracing::warn!(error = %e, "no GitHub client: PRs will not be opened or followed");
                        None
                    }
                },
            };
            // A merge that capcom stopped in the middle of is finished before anything else
            // reads the tasks (its base ref already moved; see `Gate::finish_interrupted`).
            let gate = crate::review::merge::Gate { store: ctx.store.clone(), git: ctx.git.clone(), config: ctx.config.get(), github: ctx.github.clone() };
            if let Err(e) = tokio::task::spawn_blocking(move || gate.finish_interrupted()).await {
                tracing::error!(error = %e, "finishing interrupted merges failed");
            }
            me.dispatch = Some(DispatchHandle::start(ctx, dispatch_stop).await);
            me.resume_windows().await;
            // Kept across turns of the loop: a steady stream of messages must not starve it.
            let mut base_tick = tokio::time::interval(std::time::Duration::from_secs(1));
            base_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let deadline = me.dialogue.next_deadline().map(tokio::time::Instant::from_std);
                let base_bound = me.dialogue.pending().is_some_and(|p| !p.base.is_empty() || p.batch.iter().any(|b| !b.base.is_empty()));
                tokio::select! {
                    msg = rx.recv() => match msg {
                        Some(m) => me.handle(m).await,
                        None => break,
                    },
                    _ = sleep_until(deadline) => me.handle(Msg::Tick).await,
                    _ = base_tick.tick(), if base_bound => me.handle(Msg::BaseCheck).await,
                    _ = stopped(&mut stop) => break,
                }
            }
            me.drain();
            // Followers see the coordinator gone.
            me.published.send_modify(|p| p.stage = None);
        });
        CoordinatorHandle { tx, task: std::sync::Arc::new(tokio::sync::Mutex::new(Some(task))), published }
    }

    pub fn stage(&self) -> &Stage {
        &self.stage
    }

    pub async fn handle(&mut self, msg: Msg) {
        self.handle_inner(msg).await;
        self.publish();
    }

    async fn handle_inner(&mut self, msg: Msg) {
        match msg {
            Msg::Snapshot(reply) => {
                let question = self.dialogue.pending().map(|p| p.question.clone());
                let _ = reply.send(Snapshot { stage: self.stage.clone(), question, paused: self.paused });
            }
            Msg::SetPaused { paused, reply } => {
                let now = paused.unwrap_or(!self.paused);
                if now != self.paused {
                    self.paused = now;
                    if now && self.stage == Stage::Recording {
                        // the clip being recorded is dropped by the voice loop
                        self.stage = self.before_voice.clone();
                    }
                    tracing::info!(paused = now, "listening {}", if now { "paused: the hotkey and the microphone are off" } else { "resumed" });
                    let _ = self.services.store.audit(if now { "listen_pause" } else { "listen_resume" }, None, "user", None);
                }
                let _ = reply.send(now);
            }
            Msg::Config(config) => {
                if let Some(d) = &self.dispatch {
                    d.reconfigure(config.clone());
                }
                self.dialogue.grace = config.dispatch.grace.get();
                self.services.config = config;
            }
            Msg::Brief { text, intent, utterance, reply } => {
                let answer = self.brief(text, intent, utterance).await;
                self.reply(answer, reply);
            }
            Msg::Merge { task, reply } => {
                let answer = match self.resolve(&task) {
                    Ok(id) => self.merge(id).await,
                    Err(q) => Answer::refused("merge", q),
                };
                let _ = reply.send(answer);
            }
            Msg::Confirm { code, no_checks, reply } => {
                let answer = self.confirm(code, no_checks).await;
                self.reply(answer, reply);
            }
            Msg::Cancel { task, reply } => {
                let answer = match self.resolve(&task) {
                    Ok(id) => self.cancel(id).await,
                    Err(q) => Answer::refused("cancel", q),
                };
                let _ = reply.send(answer);
            }
            Msg::Answer { task, text, reply } => {
                let answer = self.answer(&task, text).await;
                let _ = reply.send(answer);
            }
            Msg::Hotkey(edge) => self.hotkey(edge),
            Msg::Transcript { utterance_id, text } => {
                if self.stage == Stage::Transcribing {
                    self.stage = self.rest();
                }
                tracing::info!(utterance_id, "acting on a transcript");
                let answer = self.brief(text, None, Some(utterance_id)).await;
                self.say(answer.say);
            }
            Msg::Heard { utterance_id, text, reply } => {
                tracing::info!(utterance_id, "acting on a transcript from the page");
                let answer = self.brief(text, None, Some(utterance_id)).await;
                self.last_said = Some(answer.say.clone());
                let _ = reply.send(answer);
            }
            Msg::VoiceIdle { reason } => {
                if matches!(self.stage, Stage::Recording | Stage::Transcribing) {
                    self.stage = self.before_voice.clone();
                }
                tracing::debug!(%reason, "voice input produced no transcript");
                self.flush_notices();
            }
            Msg::SpeechDone { job } => {
                if self.speaking_job == Some(job) {
                    self.speaking_job = None;
                    if self.stage == Stage::Speaking {
                        self.stage = self.rest();
                    }
                    self.flush_notices();
                }
            }
            Msg::Notice(text) => self.notice(text),
            Msg::PlayFile(path) => match (self.speech.clone(), self.inbox.clone()) {
                (Some(speech), Some(inbox)) if matches!(self.stage, Stage::Idle | Stage::AwaitingConfirmation) => {
                    match crate::report::tts::read_wav(&path) {
                        Ok(pcm) => {
                            let job = speech.play(pcm);
                            self.speaking_job = Some(job);
                            self.stage = Stage::Speaking;
                            tokio::task::spawn_blocking(move || {
                                speech.wait_idle(None);
                                let _ = inbox.blocking_send(Msg::SpeechDone { job });
                            });
                        }
                        Err(e) => tracing::warn!(error = %e, path = %path.display(), "cannot play"),
                    }
                }
                _ => tracing::info!(path = %path.display(), "not playing now (busy, or no audio output)"),
            },
            Msg::AgentChanged(id) => {
                if let Some(d) = &self.dispatch {
                    d.ctx().agents.poke(&id);
                }
            }
            Msg::BaseCheck => {
                if let Some(answer) = self.withdraw_if_base_moved().await {
                    self.say(answer.say);
                }
            }
            Msg::Tick => {
                self.step(Event::Tick).await;
            }
            Msg::Train(news) => self.train_news(news),
        }
        // A train that started on this message answers its request when it ends (see `reply`);
        // one started by voice has said that it started.
        if let Some(t) = self.train.as_mut() {
            t.reply_due = false;
        }
    }

    /// A notice: said when the user is not busy, else held until they are.
    pub(super) fn notice(&mut self, text: String) {
        if matches!(self.stage, Stage::Idle | Stage::AwaitingConfirmation) {
            self.say(text);
        } else {
            self.held_notices.push(text);
        }
    }

    /// Step the dialogue. What is due is carried out here (an agent whose grace window closed
    /// starts; a question whose time ran out is said to have expired); the effects of the
    /// event itself are returned to the caller.
    pub(super) async fn step(&mut self, event: Event) -> Vec<Effect> {
        let now = tokio::time::Instant::now().into_std();
        let mut rest = Vec::new();
        for effect in self.dialogue.step(event, now) {
            match effect {
                Effect::Start(id) => self.start(id).await,
                Effect::Expired { task, action } => {
                    if self.stage == Stage::AwaitingConfirmation {
                        self.stage = Stage::Idle;
                    }
                    let _ = self.services.store.audit("confirm_expired", Some(task), "timer", None);
                    let text = crate::report::script::refusal(&crate::report::Refusal::Expired { action: action.as_str().into() });
                    let kind = if action == crate::review::merge::Action::Cancel { "cancel" } else { "merge" };
                    let _ = self.services.store.add_event(Some(task), kind, &text, None);
                    if self.stage == Stage::Idle {
                        self.say(text);
                    } else {
                        self.held_notices.push(text);
                    }
                }
                Effect::Wait { task, wait, unsure } | Effect::Correct { task, wait, unsure, .. } | Effect::Split { task, wait, unsure } => {
                    self.record_window(task, wait, unsure);
                    rest.push(effect);
                }
                other => rest.push(other),
            }
        }
        rest
    }

    /// Write down when a task's grace window closes, so that neither a restart of the daemon
    /// nor the dispatcher's queue starts it before then (`dispatch::grace_until`).
    pub(super) fn record_window(&self, task: i64, wait: std::time::Duration, unsure: bool) {
        let until = chrono::Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
        let data = serde_json::json!({"until": crate::store::time_str(until), "unsure": unsure});
        let said = format!("its agent starts at {}", until.with_timezone(&chrono::Local).format("%H:%M:%S"));
        if let Err(e) = self.services.store.add_event(Some(task), crate::dispatch::GRACE_EVENT, &said, Some(&data)) {
            tracing::warn!(task, error = %e, "cannot record the grace window");
        }
    }

    /// After a restart: tasks still in their grace window wait out the rest of it, and
    /// "undo that" still drops the last brief's. Tasks of one utterance are one brief.
    async fn resume_windows(&mut self) {
        let store = self.services.store.clone();
        let now = chrono::Utc::now();
        // (utterance, first task) → (tasks, time left, unsure)
        type Brief = (Vec<i64>, std::time::Duration, bool);
        let mut briefs: std::collections::BTreeMap<(Option<i64>, i64), Brief> = Default::default();
        let mut by_utterance: std::collections::HashMap<Option<i64>, i64> = Default::default();
        for t in store.tasks_in(&[crate::store::TaskState::Queued]).unwrap_or_default() {
            let Some(until) = crate::dispatch::window_open(&store, &t, now) else { continue };
            let unsure = store
                .events(t.id)
                .unwrap_or_default()
                .iter()
                .rev()
                .find(|e| e.kind == crate::dispatch::GRACE_EVENT)
                .and_then(|e| e.data.as_ref()?.get("unsure")?.as_bool())
                .unwrap_or(false);
            let left = (until - now).to_std().unwrap_or_default();
            // Briefs in the order they were given (by their first task), so "undo that" takes the last.
            let first = *by_utterance.entry(t.utterance_id).or_insert(t.id);
            let b = briefs.entry((t.utterance_id, first)).or_insert((Vec::new(), left, unsure));
            b.0.push(t.id);
            b.1 = b.1.max(left);
        }
        let mut briefs: Vec<_> = briefs.into_iter().map(|((_, first), b)| (first, b)).collect();
        briefs.sort_by_key(|(first, _)| *first);
        for (_, (tasks, left, unsure)) in briefs {
            tracing::info!(?tasks, left_s = left.as_secs(), "tasks still in their grace window after a restart");
            self.step(Event::Resumed { tasks, left, unsure }).await;
        }
    }

    /// A task's grace window closed (or there is none): its agent starts, if it is still queued.
    async fn start(&mut self, id: i64) {
        let Some(d) = self.dispatch.clone() else { return };
        match self.services.store.task(id) {
            Ok(t) if t.state == crate::store::TaskState::Queued => d.submit(&t).await,
            Ok(t) => tracing::debug!(task = id, state = %t.state, "not started: no longer queued"),
            Err(e) => tracing::warn!(task = id, error = %e, "cannot start"),
        }
    }

    /// Ask a confirmation question: it waits for "confirm".
    pub(super) async fn ask(&mut self, p: Pending) {
        self.step(Event::Ask(p)).await;
        self.stage = Stage::AwaitingConfirmation;
    }

    /// Where the session rests when nothing is going on.
    fn rest(&self) -> Stage {
        if self.dialogue.pending().is_some() { Stage::AwaitingConfirmation } else { Stage::Idle }
    }

    fn hotkey(&mut self, edge: HotkeyEdge) {
        if self.paused && edge == HotkeyEdge::Pressed {
            tracing::debug!("listening is paused; the press is ignored");
            return;
        }
        match (edge, &self.stage) {
            (HotkeyEdge::Pressed, Stage::Recording) => {}
            (HotkeyEdge::Pressed, Stage::Speaking) => {
                // Barge-in: the user wants the floor.
                if let Some(s) = &self.speech {
                    s.stop();
                }
                self.speaking_job = None;
                self.before_voice = self.rest();
                self.stage = Stage::Recording;
            }
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

    /// Say `text` (when the coordinator has a voice), moving to `Speaking` until the queue is done.
    pub(super) fn say(&mut self, text: String) {
        if text.trim().is_empty() {
            return;
        }
        self.last_said = Some(text.clone());
        let (Some(speech), Some(inbox)) = (self.speech.clone(), self.inbox.clone()) else {
            tracing::info!(say = %text, "answer");
            return;
        };
        if self.stage == Stage::Recording {
            self.held_notices.push(text);
            return;
        }
        let job = speech.speak(&text);
        self.speaking_job = Some(job);
        self.stage = Stage::Speaking;
        tokio::task::spawn_blocking(move || {
            speech.wait_idle(None);
            let _ = inbox.blocking_send(Msg::SpeechDone { job });
        });
    }

    fn flush_notices(&mut self) {
        if self.held_notices.is_empty() || !matches!(self.stage, Stage::Idle | Stage::AwaitingConfirmation) {
            return;
        }
        let text = std::mem::take(&mut self.held_notices).join(" ");
        self.say(text);
    }

    /// Leave state recoverable: everything durable is already in the store.
    fn drain(&mut self) {
        if let Some(s) = &self.speech {
            s.stop();
        }
        self.stage = Stage::Idle;
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
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

    /// Follow the stage and pause state; `stage` is `None` once the coordinator stopped.
    pub fn watch(&self) -> watch::Receiver<Published> {
        self.published.clone()
    }

    /// Pause, resume or toggle (`None`) listening; whether it is paused now.
    pub async fn set_paused(&self, paused: Option<bool>) -> Option<bool> {
        let (tx, rx) = oneshot::channel();
        self.send(Msg::SetPaused { paused, reply: tx }).await;
        rx.await.ok()
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
mod tests;
