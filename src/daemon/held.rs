//! Held tasks as a conversation: the question capcom asked about a brief it could not
//! dispatch yet, and the reply that answers it.
//!
//! After capcom says "Task 3, 'Add dark mode', is on hold: Which files?", the next thing
//! the user says is read as the answer to that question (`understand` sees a `clarify`
//! pending question), so "the components folder" completes task 3 instead of becoming a
//! task of its own, and "dispatch it anyway" releases it as it stands. The question stays
//! open for [`ASKED_TTL`](super::dialogue::ASKED_TTL) and for one reply; a status answer
//! that names a held task opens it again. `capcom answer TASK TEXT` (`POST /v1/answer`)
//! answers any held task at any time. Which task was asked about is the dialogue's state
//! ([`super::dialogue::Dialogue::asked`]); what the store says of it is looked up here.

use super::answer::Answer;
use super::coordinator::Coordinator;
use super::dialogue::Asked;
use crate::store::{Task, TaskState};
use crate::understand::{self, Intent, IntentKind};

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

impl Coordinator {
    /// The clarifying question the next words answer, if one is open (and no merge or cancel
    /// question is: those come first).
    pub(super) fn clarify_pending(&self) -> Option<understand::Pending> {
        if self.dialogue.pending().is_some() {
            return None;
        }
        let a = self.dialogue.asked_open(now())?;
        // The task may have been answered, released or cancelled since.
        let t = self.services.store.task(a.task).ok().filter(|t| t.state == TaskState::Held)?;
        Some(understand::Pending { action: "clarify".into(), question: t.reason.unwrap_or_else(|| a.question.clone()), task: Some(t.id) })
    }

    /// The held task a yes ("dispatch it anyway") or a no is about, when no merge or cancel
    /// question is pending: the one just asked about, else the only held task.
    pub(super) fn held_for_yes_no(&self, text: &str) -> Option<Task> {
        if self.dialogue.pending().is_some() {
            return None;
        }
        if let Some(p) = self.clarify_pending() {
            return p.task.and_then(|id| self.services.store.task(id).ok());
        }
        // Without an open question only an explicit "anyway" reaches a held task.
        if !text.to_lowercase().contains("anyway") {
            return None;
        }
        let held = self.services.store.tasks_in(&[TaskState::Held]).ok()?;
        match held.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        }
    }

    /// Several held tasks and an "anyway" that names none: ask which.
    pub(super) fn which_held(&self) -> Option<String> {
        let held = self.services.store.tasks_in(&[TaskState::Held]).ok()?;
        if held.len() < 2 {
            return None;
        }
        let names: Vec<String> = held.iter().map(|t| format!("task {}, '{}'", t.id, t.title)).collect();
        Some(format!("Which one: {}? Say \"dispatch task {} anyway\", for example.", names.join(", or "), held[0].id))
    }

    /// "No" to a held task's question: it stays held, nothing else changes.
    pub(super) fn keep_held(&mut self, task: &Task) -> Answer {
        self.dialogue.asked = None;
        Answer::ok(
            "deny",
            format!(
                "Okay, task {} stays on hold. Answer its question when you're ready, say \"dispatch task {} anyway\", or cancel it.",
                task.id, task.id
            ),
        )
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
        self.note_asked(&answer);
        answer
    }

    /// Remember the question an answer asked (a held task's), or forget the last one once
    /// it has had its reply.
    pub(super) fn note_asked(&mut self, answer: &Answer) {
        let held = answer.tasks.iter().rev().find(|q| q.state == TaskState::Held);
        self.dialogue.asked = held.map(|q| Asked { task: q.id, question: q.question.clone().unwrap_or_default(), at: now() });
    }

    /// After a status answer: a held task it spoke of is the question the next words answer
    /// (the one task asked about, or the only held task).
    pub(super) fn ask_again_after_status(&mut self, intent: &Intent) {
        if intent.intent != IntentKind::Status || self.dialogue.pending().is_some() {
            return;
        }
        let store = &self.services.store;
        let named = intent.target.as_ref().and_then(|t| t.task).and_then(|id| store.task(id).ok());
        let task = match named {
            Some(t) => Some(t).filter(|t| t.state == TaskState::Held),
            None => match store.tasks_in(&[TaskState::Held]).unwrap_or_default().as_slice() {
                [one] => Some(one.clone()),
                _ => None,
            },
        };
        if let Some(t) = task {
            self.dialogue.asked = Some(Asked { task: t.id, question: t.reason.clone().unwrap_or_default(), at: now() });
        }
    }
}
