//! Held tasks as a conversation: the question capcom asked about a brief it could not
//! dispatch yet, and the reply that answers it.
//!
//! After capcom says "Task 3, 'Add dark mode', is on hold: Which files?", the next thing
//! the user says is read as the answer to that question (`understand` sees a `clarify`
//! pending question), so "the components folder" completes task 3 instead of becoming a
//! task of its own, and "dispatch it anyway" releases it as it stands. The question stays
//! open for [`ASKED_TTL`](super::dialogue::ASKED_TTL) and for one reply; a status answer
//! that names a held task opens it again. `capcom answer TASK TEXT` (`POST /v1/answer`)
//! answers any held task at any time. Which task was asked about, and which held task a
//! reply is about, are the pure dialogue's decisions ([`super::dialogue::Dialogue::clarifying`],
//! [`super::dialogue::Dialogue::yes_no_about`], [`super::dialogue::which_held`], the
//! `AskedHeld`, `Replied` and `Status` events); this file reads the held tasks from the store
//! for them and carries out what they decide.

use super::answer::Answer;
use super::coordinator::Coordinator;
use super::dialogue::{self, Event, HeldTask};
use crate::store::{Task, TaskState};
use crate::understand::{self, Intent, IntentKind};

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// The held tasks as the store has them now (none when it cannot be read).
fn held_now(store: &crate::store::Store) -> Vec<HeldTask> {
    store
        .tasks_in(&[TaskState::Held])
        .unwrap_or_default()
        .into_iter()
        .map(|t| HeldTask { id: t.id, title: t.title, question: t.reason })
        .collect()
}

impl Coordinator {
    /// The clarifying question the next words answer, if one is open (and no merge or cancel
    /// question is: those come first). The task may have been answered, released or
    /// cancelled since it was asked about: only a task still held counts.
    pub(super) fn clarify_pending(&self) -> Option<understand::Pending> {
        let held = held_now(&self.services.store);
        let (t, question) = self.dialogue.clarifying(now(), &held)?;
        Some(understand::Pending { action: "clarify".into(), question, task: Some(t.id) })
    }

    /// The held task a yes ("dispatch it anyway") or a no is about (the dialogue decides).
    pub(super) fn held_for_yes_no(&self, text: &str) -> Option<Task> {
        let held = held_now(&self.services.store);
        let t = self.dialogue.yes_no_about(text, now(), &held)?;
        self.services.store.task(t.id).ok()
    }

    /// Several held tasks and an "anyway" that names none: ask which.
    pub(super) fn which_held(&self) -> Option<String> {
        dialogue::which_held(&held_now(&self.services.store))
    }

    /// "No" to a held task's question: it stays held, nothing else changes.
    pub(super) async fn keep_held(&mut self, task: &Task) -> Answer {
        self.step(Event::Replied).await;
        Answer::ok("deny", dialogue::kept_held(task.id))
    }

    /// `capcom answer TASK TEXT`: the user's answer to a task that waits for one. A held
    /// task takes it as the answer to its question; a task whose agent asked something
    /// (a remote run waiting on the user) sends it to the agent.
    pub(super) async fn answer(&mut self, task: &str, text: String) -> Answer {
        let text = text.trim().to_string();
        if text.is_empty() {
            return Answer::refused("answer", "An answer needs words: `capcom answer TASK TEXT`.");
        }
        let id = match self.resolve(task) {
            Ok(id) => id,
            Err(q) => return Answer::refused("answer", q),
        };
        let store = self.services.store.clone();
        let t = match store.task(id) {
            Ok(t) => t,
            Err(e) => return Answer::refused("answer", e.to_string()),
        };
        // What the user said is stored before anything acts on it.
        if let Ok(u) = store.insert_utterance(0, None, "text") {
            let _ = store.set_transcript(u, &text, None);
        }
        let mut answer = match t.state {
            TaskState::Held => self.release_held(t, &text).await,
            TaskState::NeedsAttention if store.runs(id).unwrap_or_default().iter().any(|r| r.ended_at.is_none()) => {
                match self.dispatcher() {
                    Ok(d) => match d.follow_up(id, &text).await {
                        Ok(s) => Answer::ok("answer", s),
                        Err(e) => Answer::refused("answer", e),
                    },
                    Err(e) => Answer::refused("answer", e),
                }
            }
            other => Answer::refused(
                "answer",
                format!("Task {id} is not waiting for an answer (it is {other}). To tell its agent more, say \"follow up on task {id}\" with what to do."),
            ),
        };
        answer.intent = "answer".into();
        self.note_asked(&answer).await;
        answer
    }

    /// Remember the question an answer asked (a held task's), or forget the last one once
    /// it has had its reply.
    pub(super) async fn note_asked(&mut self, answer: &Answer) {
        let event = match answer.tasks.iter().rev().find(|q| q.state == TaskState::Held) {
            Some(q) => Event::AskedHeld { task: q.id, question: q.question.clone().unwrap_or_default() },
            None => Event::Replied,
        };
        self.step(event).await;
    }

    /// After a status answer: a held task it spoke of is the question the next words answer
    /// (the one task asked about, or the only held task; the dialogue decides).
    pub(super) async fn ask_again_after_status(&mut self, intent: &Intent) {
        if intent.intent != IntentKind::Status {
            return;
        }
        let named = intent.target.as_ref().and_then(|t| t.task);
        let held = held_now(&self.services.store);
        self.step(Event::Status { named, held }).await;
    }
}
