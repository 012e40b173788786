//! The coordinator's stage machine, driven with injected messages on a paused clock.

use super::*;
use crate::config::{Config, DataDir};
use crate::report::{Cut, Output, Pcm, PlaybackError, Speaker, TtsError};
use crate::store::Store;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn services(dir: &std::path::Path) -> Services {
    Services {
        config: Arc::new(Config::default()),
        data: DataDir::new(dir),
        store: Store::open(&dir.join("capcom.db")).unwrap(),
        speaker: None,
    }
}

fn pending(task: i64, ttl: Duration) -> Pending {
    Pending {
        question: format!("Merge task {task}, 'Upgrade Tailwind', into main? Checks green, 3 files changed."),
        code: "4821".into(),
        task,
        head: "0123456789abcdef".into(),
        base: String::new(),
        patch: None,
        pr: None,
        action: Default::default(),
        batch: Vec::new(),
        no_checks: false,
        without_checks: false,
        expires_at: chrono::Utc::now() + chrono::Duration::from_std(ttl).unwrap(),
        deadline: tokio::time::Instant::now() + ttl,
    }
}

/// A speaker that makes one second of tone per sentence, without a sound engine.
struct Tone;
impl Speaker for Tone {
    fn synthesize(&self, _text: &str) -> Result<Pcm, TtsError> {
        Ok(Pcm::new(vec![0.2; 16_000], 16_000))
    }
    fn name(&self) -> String {
        "tone".into()
    }
}

/// An output that "plays" until cut, counting how many clips ran to their end.
#[derive(Default)]
struct Blocking {
    finished: AtomicUsize,
}
impl Output for Blocking {
    fn play(&self, _pcm: &Pcm, cut: Cut<'_>) -> Result<(), PlaybackError> {
        let end = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < end {
            if cut.is_cut() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.finished.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn name(&self) -> String {
        "blocking".into()
    }
}

#[tokio::test]
async fn push_to_talk_moves_the_stage() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Coordinator::new(services(dir.path()));
    let steps: Vec<(Msg, Stage)> = vec![
        (Msg::Hotkey(HotkeyEdge::Pressed), Stage::Recording),
        (Msg::Hotkey(HotkeyEdge::Released), Stage::Transcribing),
        (Msg::Transcript { utterance_id: 1, text: "what's finished".into() }, Stage::Idle),
        (Msg::Hotkey(HotkeyEdge::Pressed), Stage::Recording),
        (Msg::Hotkey(HotkeyEdge::Cancelled), Stage::Idle),
        (Msg::Hotkey(HotkeyEdge::Pressed), Stage::Recording),
        (Msg::Hotkey(HotkeyEdge::Released), Stage::Transcribing),
        (Msg::VoiceIdle { reason: "nothing heard".into() }, Stage::Idle),
        // a stray release does not invent a stage
        (Msg::Hotkey(HotkeyEdge::Released), Stage::Idle),
    ];
    for (i, (msg, want)) in steps.into_iter().enumerate() {
        c.handle(msg).await;
        assert_eq!(c.stage(), &want, "step {i}");
    }
    assert!(c.last_said.is_some(), "the status question was answered");
}

#[tokio::test(start_paused = true)]
async fn a_confirmation_that_nobody_answers_expires_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Coordinator::new(services(dir.path()));
    c.ask(pending(4, Duration::from_secs(30))).await;
    c.stage = Stage::AwaitingConfirmation;
    tokio::time::advance(Duration::from_secs(29)).await;
    c.handle(Msg::Tick).await;
    assert!(c.dialogue.pending().is_some(), "not yet");
    tokio::time::advance(Duration::from_secs(2)).await;
    c.handle(Msg::Tick).await;
    assert!(c.dialogue.pending().is_none());
    assert_eq!(c.stage(), &Stage::Idle);
    let said = crate::report::script::refusal(&crate::report::Refusal::Expired { action: "merge".into() });
    assert_eq!(c.last_said.as_deref(), Some(said.as_str()), "the expiry is said out loud");
    let audit = c.services.store.audit_log(5).unwrap();
    assert_eq!(audit[0].action, "confirm_expired");
}

#[tokio::test]
async fn a_spoken_no_denies_the_pending_merge() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Coordinator::new(services(dir.path()));
    c.ask(pending(4, Duration::from_secs(30))).await;
    c.stage = Stage::AwaitingConfirmation;
    c.handle(Msg::Hotkey(HotkeyEdge::Pressed)).await;
    c.handle(Msg::Hotkey(HotkeyEdge::Released)).await;
    c.handle(Msg::Transcript { utterance_id: 7, text: "no, cancel that".into() }).await;
    assert!(c.dialogue.pending().is_none(), "a deny drops the question");
    assert_eq!(c.stage(), &Stage::Idle);
    assert!(c.last_said.as_deref().unwrap_or("").contains('4'), "{:?}", c.last_said);
}

#[tokio::test]
async fn a_hotkey_press_while_awaiting_confirmation_keeps_the_question() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Coordinator::new(services(dir.path()));
    c.ask(pending(4, Duration::from_secs(30))).await;
    c.stage = Stage::AwaitingConfirmation;
    c.handle(Msg::Hotkey(HotkeyEdge::Pressed)).await;
    assert_eq!(c.stage(), &Stage::Recording);
    c.handle(Msg::Hotkey(HotkeyEdge::Cancelled)).await;
    assert_eq!(c.stage(), &Stage::AwaitingConfirmation);
    c.handle(Msg::Hotkey(HotkeyEdge::Pressed)).await;
    c.handle(Msg::Hotkey(HotkeyEdge::Released)).await;
    c.handle(Msg::VoiceIdle { reason: "nothing heard".into() }).await;
    assert_eq!(c.stage(), &Stage::AwaitingConfirmation);
    assert!(c.dialogue.pending().is_some());
    let (tx, rx) = oneshot::channel();
    c.handle(Msg::Snapshot(tx)).await;
    assert!(rx.await.unwrap().question.unwrap().contains("Merge task 4"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hotkey_during_speech_barges_in() {
    let dir = tempfile::tempdir().unwrap();
    let output = Arc::new(Blocking::default());
    let queue = Arc::new(SpeechQueue::new(Some(Arc::new(Tone)), output.clone(), None));
    let (tx, mut rx) = mpsc::channel(16);
    let mut c = Coordinator::new(services(dir.path())).with_speech(queue.clone(), tx);
    c.say("First sentence. Second sentence. Third sentence.".into());
    assert_eq!(c.stage(), &Stage::Speaking);
    c.handle(Msg::Hotkey(HotkeyEdge::Pressed)).await;
    assert_eq!(c.stage(), &Stage::Recording);
    assert!(queue.wait_idle(Some(Duration::from_secs(10))), "speech stopped");
    assert_eq!(output.finished.load(Ordering::SeqCst), 0, "no sentence played to its end");
    // The queue's late "done" must not end the recording.
    let done = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
    c.handle(done).await;
    assert_eq!(c.stage(), &Stage::Recording);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_wait_while_the_user_is_recording() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Arc::new(SpeechQueue::new(Some(Arc::new(Tone)), Arc::new(crate::report::NullOutput), None));
    let (tx, _rx) = mpsc::channel(16);
    let mut c = Coordinator::new(services(dir.path())).with_speech(queue, tx);
    c.handle(Msg::Hotkey(HotkeyEdge::Pressed)).await;
    c.handle(Msg::Notice("Task two is ready to merge.".into())).await;
    assert_eq!(c.stage(), &Stage::Recording, "not spoken over the user");
    assert!(c.last_said.is_none());
    c.handle(Msg::Hotkey(HotkeyEdge::Released)).await;
    c.handle(Msg::VoiceIdle { reason: "nothing heard".into() }).await;
    assert_eq!(c.stage(), &Stage::Speaking);
    assert_eq!(c.last_said.as_deref(), Some("Task two is ready to merge."));
}

#[tokio::test]
async fn paused_the_hotkey_does_nothing_and_followers_see_each_change() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Coordinator::new(services(dir.path()));
    let mut seen = c.subscribe();
    assert_eq!(*seen.borrow_and_update(), Published { stage: Some(Stage::Idle), paused: false });

    // a press shows as recording at once
    c.handle(Msg::Hotkey(HotkeyEdge::Pressed)).await;
    assert!(seen.has_changed().unwrap());
    assert_eq!(seen.borrow_and_update().stage, Some(Stage::Recording));

    // pausing mid-recording drops the recording; the answer says paused
    let (tx, rx) = oneshot::channel();
    c.handle(Msg::SetPaused { paused: Some(true), reply: tx }).await;
    assert!(rx.await.unwrap());
    assert_eq!(*seen.borrow_and_update(), Published { stage: Some(Stage::Idle), paused: true });

    // paused: presses are ignored, and nothing new is published
    c.handle(Msg::Hotkey(HotkeyEdge::Pressed)).await;
    assert_eq!(c.stage(), &Stage::Idle);
    assert!(!seen.has_changed().unwrap());
    let (tx, rx) = oneshot::channel();
    c.handle(Msg::Snapshot(tx)).await;
    assert!(rx.await.unwrap().paused);

    // pausing twice stays paused; a toggle resumes
    for (ask, want) in [(Some(true), true), (None, false), (None, true), (Some(false), false)] {
        let (tx, rx) = oneshot::channel();
        c.handle(Msg::SetPaused { paused: ask, reply: tx }).await;
        assert_eq!(rx.await.unwrap(), want, "{ask:?}");
        assert_eq!(seen.borrow_and_update().paused, want);
    }
    c.handle(Msg::Hotkey(HotkeyEdge::Pressed)).await;
    assert_eq!(c.stage(), &Stage::Recording, "resumed, the hotkey records again");
}
