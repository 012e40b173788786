//! The voice session as a pure state machine: events in, effects out.
//!
//! The coordinator owns one [`Session`] and is the only thing that feeds it.
//! It executes the returned [`Effect`]s (start the mic, stop speech, act on a
//! transcript, speak). Nothing here does I/O or reads a clock; time comes in
//! with the events, so tests drive it with a paused clock or plain instants.

use tokio::time::{Duration, Instant};

/// The stage of the voice session. Exactly one at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Idle,
    Recording,
    Transcribing,
    AwaitingConfirmation,
    Speaking,
}

/// A question capcom asked and is waiting on ("Merge task four…? Say confirm to merge.").
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// "merge", "merge_all" or "cancel".
    pub action: String,
    pub text: String,
    pub task: Option<i64>,
    pub deadline: Instant,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The hotkey logic decided to start recording.
    RecordStart,
    /// The hotkey logic decided the utterance is complete.
    RecordStop,
    /// Esc, or a press too short to count.
    RecordCancel,
    /// The clip was silence or too short: "nothing heard".
    NothingHeard,
    /// The recogniser produced text.
    Transcribed(String),
    /// The coordinator acted on a transcript (or a typed brief) and has an answer to say;
    /// `ask` is set when the answer is a question that waits for confirm/deny.
    Answer { say: String, ask: Option<Question> },
    /// The speech queue finished (or was stopped).
    SpeechDone,
    /// Time passed.
    Tick(Instant),
    /// A notice (a task became ready, say) would like to be spoken.
    Notice(String),
}

/// What the coordinator must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    StartRecording,
    StopRecording {
        /// Decode with the confirmation grammar: a question is pending.
        confirmation: bool,
    },
    CancelRecording,
    /// Barge-in: cut speech now.
    StopSpeech,
    /// Understand and act on these words (with the pending question as context).
    Act(String),
    Speak(String),
    /// The pending question expired unanswered.
    Expired(Question),
}

#[derive(Debug, Clone)]
pub struct Session {
    phase: Phase,
    pending: Option<Question>,
    /// Notices that arrived while the user was busy; said when the session is idle.
    held_notices: Vec<String>,
}

impl Default for Session {
    fn default() -> Self {
        Session::new()
    }
}

impl Session {
    pub fn new() -> Session {
        Session { phase: Phase::Idle, pending: None, held_notices: Vec::new() }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn pending(&self) -> Option<&Question> {
        self.pending.as_ref()
    }

    /// Take the pending question (a confirm or deny answered it).
    pub fn take_pending(&mut self) -> Option<Question> {
        let q = self.pending.take();
        if self.phase == Phase::AwaitingConfirmation {
            self.phase = Phase::Idle;
        }
        q
    }

    /// Ask a question outside the voice path (`capcom merge`): it waits like a spoken one.
    pub fn ask(&mut self, q: Question) {
        self.pending = Some(q);
        if self.phase == Phase::Idle {
            self.phase = Phase::AwaitingConfirmation;
        }
    }

    /// The next moment a [`Event::Tick`] matters, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.as_ref().map(|q| q.deadline)
    }

    fn rest(&self) -> Phase {
        if self.pending.is_some() { Phase::AwaitingConfirmation } else { Phase::Idle }
    }

    pub fn handle(&mut self, event: Event) -> Vec<Effect> {
        use Phase::*;
        match (self.phase, event) {
            (Speaking, Event::RecordStart) => {
                self.phase = Recording;
                vec![Effect::StopSpeech, Effect::StartRecording]
            }
            (Idle | AwaitingConfirmation, Event::RecordStart) => {
                self.phase = Recording;
                vec![Effect::StartRecording]
            }
            (Recording, Event::RecordStop) => {
                self.phase = Transcribing;
                vec![Effect::StopRecording { confirmation: self.pending.is_some() }]
            }
            (Recording, Event::RecordCancel) => {
                self.phase = self.rest();
                vec![Effect::CancelRecording]
            }
            (Transcribing, Event::NothingHeard) => {
                self.phase = self.rest();
                self.flush_notices()
            }
            (Transcribing, Event::Transcribed(text)) => {
                // Stay in Transcribing ("thinking") until the answer comes back.
                if text.trim().is_empty() {
                    self.phase = self.rest();
                    return self.flush_notices();
                }
                vec![Effect::Act(text)]
            }
            (_, Event::Answer { say, ask }) => {
                if let Some(q) = ask {
                    self.pending = Some(q);
                }
                if self.phase == Recording {
                    // Never talk over the user: the answer waits in the notice line.
                    self.held_notices.push(say);
                    return vec![];
                }
                if say.trim().is_empty() {
                    self.phase = self.rest();
                    return vec![];
                }
                self.phase = Speaking;
                vec![Effect::Speak(say)]
            }
            (Speaking, Event::SpeechDone) => {
                self.phase = self.rest();
                self.flush_notices()
            }
            (phase, Event::Tick(now)) => {
                let expired = self.pending.as_ref().is_some_and(|q| now >= q.deadline);
                if !expired {
                    return vec![];
                }
                let q = self.pending.take().expect("checked above");
                let mut fx = vec![Effect::Expired(q)];
                if phase == AwaitingConfirmation {
                    self.phase = Idle;
                }
                fx.extend(self.flush_notices());
                fx
            }
            (Idle | AwaitingConfirmation, Event::Notice(text)) => {
                self.phase = Speaking;
                vec![Effect::Speak(text)]
            }
            (_, Event::Notice(text)) => {
                self.held_notices.push(text);
                vec![]
            }
            // Anything else is stale (a stop with no recording, speech done after barge-in…).
            _ => vec![],
        }
    }

    /// Say what was held back, once the user is not recording or being answered.
    fn flush_notices(&mut self) -> Vec<Effect> {
        if self.held_notices.is_empty() || !matches!(self.phase, Phase::Idle | Phase::AwaitingConfirmation) {
            return vec![];
        }
        let text = std::mem::take(&mut self.held_notices).join(" ");
        self.phase = Phase::Speaking;
        vec![Effect::Speak(text)]
    }
}

/// How long a question waits by default.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;

    fn question(at: Instant) -> Question {
        Question { action: "merge".into(), text: "Merge task four?".into(), task: Some(4), deadline: at + DEFAULT_TTL }
    }

    #[test]
    fn a_spoken_command_goes_record_transcribe_act_speak_idle() {
        let mut s = Session::new();
        let steps: Vec<(Event, Vec<Effect>, Phase)> = vec![
            (Event::RecordStart, vec![Effect::StartRecording], Phase::Recording),
            (Event::RecordStop, vec![Effect::StopRecording { confirmation: false }], Phase::Transcribing),
            (Event::Transcribed("what's finished".into()), vec![Effect::Act("what's finished".into())], Phase::Transcribing),
            (Event::Answer { say: "Two tasks finished.".into(), ask: None }, vec![Effect::Speak("Two tasks finished.".into())], Phase::Speaking),
            (Event::SpeechDone, vec![], Phase::Idle),
        ];
        for (ev, fx, phase) in steps {
            let label = format!("{ev:?}");
            assert_eq!(s.handle(ev), fx, "{label}");
            assert_eq!(s.phase(), phase, "{label}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_question_that_nobody_answers_expires_and_says_so() {
        let mut s = Session::new();
        let t0 = Instant::now();
        s.handle(Event::Answer { say: "Merge task four? Say confirm to merge.".into(), ask: Some(question(t0)) });
        s.handle(Event::SpeechDone);
        assert_eq!(s.phase(), Phase::AwaitingConfirmation);
        tokio::time::advance(Duration::from_secs(29)).await;
        assert_eq!(s.handle(Event::Tick(Instant::now())), vec![]);
        tokio::time::advance(Duration::from_secs(2)).await;
        let fx = s.handle(Event::Tick(Instant::now()));
        assert!(matches!(&fx[..], [Effect::Expired(q)] if q.task == Some(4)), "{fx:?}");
        assert_eq!(s.phase(), Phase::Idle);
        assert!(s.pending().is_none());
    }

    #[test]
    fn a_deny_takes_the_question_away() {
        let mut s = Session::new();
        let t0 = Instant::now();
        s.ask(question(t0));
        assert_eq!(s.phase(), Phase::AwaitingConfirmation);
        // The answer is spoken: the recording is decoded with the confirmation grammar.
        s.handle(Event::RecordStart);
        assert_eq!(s.handle(Event::RecordStop), vec![Effect::StopRecording { confirmation: true }]);
        assert_eq!(s.handle(Event::Transcribed("no".into())), vec![Effect::Act("no".into())]);
        // The coordinator read it as a deny and took the question.
        assert!(s.take_pending().is_some());
        s.handle(Event::Answer { say: "Okay, task four stays unmerged.".into(), ask: None });
        s.handle(Event::SpeechDone);
        assert_eq!(s.phase(), Phase::Idle);
    }

    #[test]
    fn the_hotkey_during_speech_barges_in() {
        let mut s = Session::new();
        s.handle(Event::Answer { say: "A long answer. With many sentences.".into(), ask: None });
        assert_eq!(s.phase(), Phase::Speaking);
        assert_eq!(s.handle(Event::RecordStart), vec![Effect::StopSpeech, Effect::StartRecording]);
        assert_eq!(s.phase(), Phase::Recording);
        // The speech queue reports it stopped; that must not end the recording.
        assert_eq!(s.handle(Event::SpeechDone), vec![]);
        assert_eq!(s.phase(), Phase::Recording);
    }

    #[test]
    fn the_hotkey_while_awaiting_confirmation_records_the_answer_and_keeps_the_question() {
        let mut s = Session::new();
        let t0 = Instant::now();
        s.ask(question(t0));
        s.handle(Event::RecordStart);
        assert_eq!(s.phase(), Phase::Recording);
        assert!(s.pending().is_some(), "recording the answer keeps the question");
        // Esc: back to waiting, not to idle.
        assert_eq!(s.handle(Event::RecordCancel), vec![Effect::CancelRecording]);
        assert_eq!(s.phase(), Phase::AwaitingConfirmation);
        // Nothing heard: still waiting.
        s.handle(Event::RecordStart);
        s.handle(Event::RecordStop);
        s.handle(Event::NothingHeard);
        assert_eq!(s.phase(), Phase::AwaitingConfirmation);
    }

    #[test]
    fn notices_never_talk_over_the_user() {
        let mut s = Session::new();
        s.handle(Event::RecordStart);
        assert_eq!(s.handle(Event::Notice("Task two is ready.".into())), vec![]);
        s.handle(Event::RecordStop);
        assert_eq!(s.handle(Event::NothingHeard), vec![Effect::Speak("Task two is ready.".into())]);
        assert_eq!(s.phase(), Phase::Speaking);
        s.handle(Event::SpeechDone);
        assert_eq!(s.handle(Event::Notice("Task three failed.".into())), vec![Effect::Speak("Task three failed.".into())]);
    }

    #[test]
    fn stale_events_change_nothing() {
        let mut s = Session::new();
        for ev in [Event::RecordStop, Event::RecordCancel, Event::SpeechDone, Event::NothingHeard, Event::Transcribed("x".into())] {
            assert_eq!(s.handle(ev), vec![]);
            assert_eq!(s.phase(), Phase::Idle);
        }
    }
}
