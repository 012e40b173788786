//! The voice loop of `capcom daemon` (not `--headless`):
//! hotkey → capture → store → transcribe → coordinator.
//!
//! * Key events go through the pure [`HotkeyLogic`], from the path `[hotkey] backend`
//!   picks (`capture::hotkey`: X11, the desktop portal, the keyboards). The CLI reaches the
//!   running daemon by signal: SIGUSR1 (`capcom listen --toggle`) toggles recording,
//!   SIGRTMIN+1 (`--start`) starts it and SIGRTMIN+2 (`--stop`) stops it, each only when that
//!   changes something; compositors bind the last two to a key's press and release.
//!   The pre-roll applies to all of them: the microphone is open, the ring is full.
//! * The microphone stays open while the daemon runs (pre-roll, no open delay).
//! * Every clip is written to `<data dir>/audio` and recorded in the store
//!   before anything else happens to it; the gate's verdict, the transcript
//!   and its timings are added afterwards.
//! * A missing or broken speech model does not stop the daemon: it says how
//!   to get one, keeps recording utterances, and loads the model as soon as
//!   the file is there.
//! * Short cues mark start and stop (`[voice] cues`), and a low double tone
//!   says "didn't catch that" when a clip is rejected: no voice in it, noise,
//!   or text the decoder invented (see `transcribe::Transcriber::hear`). A
//!   rejected clip is stored with its reason and never acted on.
//! * With `[voice] streaming`, a free-speech recording is transcribed while
//!   the key is held (the recorder's tap feeds `transcribe::stream::Live`),
//!   so at release only the part after the last pause is decoded; with a
//!   core to spare the whole clip is decoded again then, and the better
//!   scored text kept (`transcribe::stream::Redecode`).
//! * Otherwise (`[voice] pieces_while_held`, on by default) the tap feeds
//!   `transcribe::ahead::Ahead`: each 28 s piece of a brief longer than one
//!   window is decoded as soon as it is final, so at release only the last
//!   piece is; the text is the one decoding after release gives.

use super::Services;
use super::coordinator::{CoordinatorHandle, HotkeyEdge, Msg, Stage};
use crate::capture::{
    self, Action, AudioInput, CaptureEvent, Chord, Clip, HotkeyLogic, HotkeyMsg, KeySource, RecMsg, gate,
    recorder::spawn_consumer,
};
use crate::transcribe::{self, LiveHearing, Mode, SpeechModel, Transcriber, WhisperModel};
use chrono::Utc;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// A short sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cue {
    Start,
    Stop,
    Cancel,
    /// A clip was heard but rejected (no voice, noise, a decoder loop).
    DidNotCatch,
}

/// The speaker, for cues.
pub trait Cues: Send + Sync {
    fn play(&self, cue: Cue);
}

/// The outside systems the voice loop talks to.
pub struct Devices {
    pub mic: Box<dyn AudioInput>,
    pub keys: Box<dyn KeySource>,
    pub cues: Option<Box<dyn Cues>>,
    /// Told the push-to-talk key once a path bound it (the tray's tooltip shows it).
    pub bound: Option<watch::Sender<Option<String>>>,
}

/// The signal `capcom listen --start` sends (SIGRTMIN+1).
pub fn start_signal() -> i32 {
    libc::SIGRTMIN() + 1
}

/// The signal `capcom listen --stop` sends (SIGRTMIN+2).
pub fn stop_signal() -> i32 {
    libc::SIGRTMIN() + 2
}

/// A signal stream, or None (logged) when it cannot be watched.
fn watch_signal(raw: i32, what: &str) -> Option<tokio::signal::unix::Signal> {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(raw)) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("cannot watch the signal for {what}: {e}");
            None
        }
    }
}

async fn next_signal(s: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match s.as_mut() {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// What the daemon's hotkey path is, for `capcom doctor` (`<data dir>/hotkey.json`).
fn record_hotkey(services: &Services, status: serde_json::Value) {
    if let Err(e) = super::write_atomic(&services.data.root().join("hotkey.json"), status.to_string().as_bytes()) {
        tracing::debug!(error = %e, "cannot record the hotkey status");
    }
}

impl Devices {
    /// The real microphone, keyboard and speaker.
    pub fn real(cfg: &crate::config::Config) -> Devices {
        Devices {
            mic: Box::new(capture::mic::CpalInput { device: cfg.voice.input_device.clone() }),
            keys: Box::new(capture::hotkey::Keys::from_config(cfg)),
            cues: cfg.voice.cues.then(|| Box::new(RodioCues::start()) as Box<dyn Cues>),
            bound: None,
        }
    }
}

/// The speech model, loaded when it can be.
struct ModelSlot {
    model: tokio::sync::Mutex<Option<Arc<dyn SpeechModel>>>,
    services: Services,
    last_error: std::sync::Mutex<Option<String>>,
}

impl ModelSlot {
    /// The model if it is loaded already (never waits for a load).
    fn loaded(&self) -> Option<Arc<dyn SpeechModel>> {
        self.model.try_lock().ok().and_then(|m| m.clone())
    }

    /// The model, loading it first if needed. Logs (once per distinct
    /// problem) what is wrong and how to fix it.
    async fn get(&self) -> Option<Arc<dyn SpeechModel>> {
        let mut slot = self.model.lock().await;
        if let Some(m) = slot.as_ref() {
            return Some(m.clone());
        }
        let cfg = self.services.config.clone();
        let data = self.services.data.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let (path, name) = transcribe::resolve_model(&cfg.voice.model, &data)?;
            Transcriber::load(&path, name.as_deref(), transcribe::Settings::from_config(&cfg))
        })
        .await;
        match loaded {
            Ok(Ok(t)) => {
                let m: Arc<dyn SpeechModel> = Arc::new(WhisperModel(Arc::new(t)));
                *slot = Some(m.clone());
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
                Some(m)
            }
            Ok(Err(e)) => {
                let msg = e.to_string();
                let mut last = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
                if last.as_deref() != Some(&msg) {
                    tracing::warn!("{msg}. Utterances are still recorded; they are transcribed once a model loads.");
                    *last = Some(msg);
                }
                None
            }
            Err(e) => {
                tracing::error!("loading the speech model failed: {e}");
                None
            }
        }
    }
}

/// A recorded clip waiting for the store and the model.
struct Job {
    clip: Clip,
    mode: Mode,
    /// The transcription that ran while the key was held, if any.
    live: Option<Box<dyn LiveHearing>>,
    /// When the key came up, as the voice loop saw it (`None`: the recording ended by itself).
    released: Option<chrono::DateTime<Utc>>,
}

/// Run until `stop` turns true.
pub async fn run(services: Services, coordinator: CoordinatorHandle, mut stop: watch::Receiver<bool>, devices: Devices) {
    let cfg = services.config.clone();
    let diagnosis = capture::hotkey::diagnose(&cfg.hotkey, &capture::hotkey::Session::from_env(), &cfg.voice.hotkey);
    match &diagnosis.fix {
        Some(fix) if !diagnosis.works => tracing::warn!("{}; {fix}", diagnosis.detail),
        _ => tracing::info!("hotkey: {}", diagnosis.detail),
    }
    let mut logic = match Chord::parse(&cfg.voice.hotkey) {
        Ok(chord) => {
            tracing::info!(hotkey = %chord, mode = ?cfg.voice.mode, "push-to-talk ready");
            HotkeyLogic::new(chord, cfg.voice.mode, cfg.voice.min_press.0)
        }
        Err(e) => {
            tracing::warn!("{e}; using F9 instead ([voice] hotkey)");
            HotkeyLogic::new(Chord { modifiers: vec![], key: rdev::Key::F9 }, cfg.voice.mode, cfg.voice.min_press.0)
        }
    };

    let slot = Arc::new(ModelSlot {
        model: tokio::sync::Mutex::new(None),
        services: services.clone(),
        last_error: std::sync::Mutex::new(None),
    });
    {
        // load now, so the first utterance does not wait for it
        let slot = slot.clone();
        tokio::spawn(async move {
            let _ = slot.get().await;
        });
    }

    let (rec_tx, rec_rx) = std::sync::mpsc::channel::<RecMsg>();
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<CaptureEvent>();
    let consumer = match spawn_consumer(rec_rx, ev_tx, cfg.voice.pre_roll.0, cfg.voice.max_utterance.0) {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::error!("cannot start the audio thread: {e}; voice input is off");
            None
        }
    };
    // Listening paused (tray, `capcom listen --pause`): the microphone is closed and key
    // presses do not record until it is resumed.
    let mut published = coordinator.watch();
    let mut paused = published.borrow_and_update().paused;
    let mut following = true;
    let mic_input = devices.mic;
    let mut mic_stop = Arc::new(AtomicBool::new(false));
    let mut mic = if paused { None } else { open_mic(mic_input.as_ref(), &rec_tx, &mic_stop) };
    let (key_tx, mut key_rx) = mpsc::unbounded_channel::<HotkeyMsg>();
    let bound_tx = devices.bound;
    let _ = std::fs::remove_file(services.data.root().join("hotkey.json"));
    if let Err(e) = devices.keys.spawn(key_tx) {
        tracing::warn!("global hotkey unavailable: {e}; `capcom listen --start` / `--stop` (or --toggle) still work");
        record_hotkey(&services, serde_json::json!({ "path": null, "error": e }));
    }
    let mut start_sig = watch_signal(start_signal(), "`capcom listen --start`");
    let mut stop_sig = watch_signal(stop_signal(), "`capcom listen --stop`");
    let mut usr1 = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("cannot watch SIGUSR1 (remote toggle): {e}");
            None
        }
    };

    let (job_tx, job_rx) = mpsc::channel::<Job>(32);
    let cues: Option<Arc<dyn Cues>> = devices.cues.map(Arc::from);
    let worker = tokio::spawn(work(services.clone(), coordinator.clone(), slot.clone(), job_rx, cues.clone()));
    let cue = |c: Cue| {
        if let Some(p) = cues.as_ref() {
            p.play(c);
        }
    };
    let origin = Instant::now();
    let mut mode = Mode::Free;
    let mut live: Option<Box<dyn LiveHearing>> = None;
    let mut released: Option<chrono::DateTime<Utc>> = None;
    let (mut keys_alive, mut audio_alive) = (true, true);

    loop {
        let action = tokio::select! {
            _ = super::coordinator::stopped(&mut stop) => break,
            msg = key_rx.recv(), if keys_alive => match msg {
                Some(HotkeyMsg::Key(ev)) => logic.step(ev),
                // the desktop's own clock has another origin: edges are timed here
                Some(HotkeyMsg::Edge { down, .. }) => logic.edge(down, origin.elapsed()),
                Some(HotkeyMsg::Bound { path, trigger }) => {
                    tracing::info!(path = %path, key = %trigger, "push-to-talk bound: hold {trigger} to talk");
                    record_hotkey(&services, serde_json::json!({ "path": path, "trigger": trigger }));
                    if let Some(tx) = bound_tx.as_ref() {
                        tx.send_replace(Some(trigger));
                    }
                    None
                }
                Some(HotkeyMsg::Failed(why)) => {
                    tracing::warn!("{why}; `capcom listen --start` / `--stop` (or --toggle) still work");
                    record_hotkey(&services, serde_json::json!({ "path": null, "error": why }));
                    None
                }
                None => {
                    // the listener is gone; keep serving the toggle signal
                    keys_alive = false;
                    None
                }
            },
            Some(()) = async { match usr1.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => {
                Some(logic.toggle(origin.elapsed()))
            }
            Some(()) = next_signal(&mut start_sig) => logic.start(origin.elapsed()),
            Some(()) = next_signal(&mut stop_sig) => logic.stop(origin.elapsed()),
            changed = published.changed(), if following => {
                if changed.is_err() {
                    following = false;
                    None
                } else {
                    let now = published.borrow_and_update().paused;
                    if now != paused {
                        paused = now;
                        if paused {
                            if logic.is_recording() {
                                // what was being said when paused is dropped, not acted on
                                logic.recording_ended();
                                let _ = rec_tx.send(RecMsg::Cancel);
                                coordinator.send(Msg::Hotkey(HotkeyEdge::Cancelled)).await;
                            }
                            mic_stop.store(true, std::sync::atomic::Ordering::Relaxed);
                            if let Some(h) = mic.take() {
                                let _ = tokio::task::spawn_blocking(move || h.join()).await;
                            }
                            tracing::info!("microphone closed (listening paused)");
                        } else {
                            mic_stop = Arc::new(AtomicBool::new(false));
                            mic = open_mic(mic_input.as_ref(), &rec_tx, &mic_stop);
                        }
                    }
                    None
                }
            }
            ev = ev_rx.recv(), if audio_alive => {
                match ev {
                    Some(CaptureEvent::Clip(clip)) => {
                        if logic.is_recording() {
                            // ended by itself: max_utterance or a lost device
                            logic.recording_ended();
                            coordinator.send(Msg::Hotkey(HotkeyEdge::Released)).await;
                            tracing::info!(end = ?clip.end, "recording ended without a key");
                        }
                        cue(Cue::Stop);
                        if job_tx.send(Job { clip, mode, live: live.take(), released: released.take() }).await.is_err() {
                            tracing::error!("the transcription worker is gone");
                        }
                    }
                    Some(CaptureEvent::Opened(what)) => tracing::debug!(device = %what, "audio input ready"),
                    Some(CaptureEvent::Lost(why)) => tracing::warn!(reason = %why, "audio input lost; what was being recorded is kept"),
                    None => {
                        tracing::error!("the audio thread stopped; voice input is off");
                        audio_alive = false;
                    }
                }
                None
            }
        };
        let Some(action) = action else { continue };
        if paused {
            // The key logic still follows the keys (so a held chord is released cleanly), but
            // nothing records while paused.
            if action == Action::Start {
                logic.recording_ended();
                tracing::info!("listening is paused: the hotkey does nothing until `capcom listen --resume` or the tray resumes it");
            }
            continue;
        }
        match action {
            Action::Start => {
                mode = match coordinator.snapshot().await.map(|s| s.stage) {
                    Some(Stage::AwaitingConfirmation) => Mode::Confirm,
                    _ => Mode::Free,
                };
                // transcribe while the key is held (free speech only; the
                // tap is set before the recording starts, so it gets all of it)
                live = None;
                if let Some(model) = slot.loaded() {
                    model.recording_started();
                }
                if (cfg.voice.streaming || cfg.voice.pieces_while_held) && mode == Mode::Free
                    && let Some(model) = slot.loaded()
                {
                    let (tap_tx, tap_rx) = std::sync::mpsc::channel();
                    live = if cfg.voice.streaming { model.live(tap_rx) } else { model.ahead(tap_rx) };
                    if live.is_some() {
                        let _ = rec_tx.send(RecMsg::Tap(tap_tx));
                    }
                }
                released = None;
                let _ = rec_tx.send(RecMsg::Start(Utc::now()));
                coordinator.send(Msg::Hotkey(HotkeyEdge::Pressed)).await;
                cue(Cue::Start);
                tracing::debug!(?mode, "recording");
            }
            Action::Stop => {
                released = Some(Utc::now());
                let _ = rec_tx.send(RecMsg::Stop);
                coordinator.send(Msg::Hotkey(HotkeyEdge::Released)).await;
            }
            Action::TooShort => {
                live = None;
                let _ = rec_tx.send(RecMsg::Cancel);
                coordinator.send(Msg::Hotkey(HotkeyEdge::Cancelled)).await;
                tracing::info!("press shorter than [voice] min_press ({}); ignored", cfg.voice.min_press);
            }
            Action::Cancel => {
                live = None;
                let _ = rec_tx.send(RecMsg::Cancel);
                coordinator.send(Msg::Hotkey(HotkeyEdge::Cancelled)).await;
                cue(Cue::Cancel);
                tracing::info!("recording cancelled (Esc)");
            }
        }
    }

    // drain: stop the microphone, finish the clips already recorded
    mic_stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = rec_tx.send(RecMsg::Shutdown);
    drop(job_tx);
    if tokio::time::timeout(Duration::from_secs(30), worker).await.is_err() {
        tracing::warn!("transcription did not finish within 30 s; the audio is in the store");
    }
    let _ = tokio::task::spawn_blocking(move || {
        if let Some(h) = consumer {
            let _ = h.join();
        }
        if let Some(h) = mic {
            let _ = h.join();
        }
    })
    .await;
}

/// Start the microphone thread (it keeps the input open until `stop` is set).
fn open_mic(input: &dyn AudioInput, sink: &std::sync::mpsc::Sender<RecMsg>, stop: &Arc<AtomicBool>) -> Option<std::thread::JoinHandle<()>> {
    match input.spawn(sink.clone(), stop.clone()) {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::error!("cannot start the microphone thread: {e}");
            None
        }
    }
}

/// Clips one at a time: store, gate, transcribe, tell the coordinator.
async fn work(
    services: Services,
    coordinator: CoordinatorHandle,
    slot: Arc<ModelSlot>,
    mut jobs: mpsc::Receiver<Job>,
    cues: Option<Arc<dyn Cues>>,
) {
    // a command asked back about ("Did you say stop the CSS agent?") and when
    let mut asked: Option<(String, std::time::Instant)> = None;
    while let Some(job) = jobs.recv().await {
        match handle_clip(&services, &slot, job).await {
            Ok(Outcome::Transcript { utterance_id, mut text }) => {
                // a yes to the question asked back acts on the command asked about
                if let Some((said, at)) = asked.take()
                    && at.elapsed() < ASK_BACK_WINDOW
                    && transcribe::nearmiss::is_yes(&text)
                {
                    tracing::info!(utterance_id, command = %said, "yes to the command asked back");
                    text = said;
                }
                coordinator.send(Msg::Transcript { utterance_id, text }).await;
            }
            Ok(Outcome::AskBack { said, question }) => {
                coordinator.send(Msg::VoiceIdle { reason: format!("asked back: {said}") }).await;
                coordinator.send(Msg::Notice(question)).await;
                asked = Some((said, std::time::Instant::now()));
            }
            Ok(Outcome::Rejected(reason)) => {
                if let Some(c) = cues.as_ref() {
                    c.play(Cue::DidNotCatch);
                }
                coordinator.send(Msg::VoiceIdle { reason }).await;
            }
            Ok(Outcome::Idle(reason)) => {
                coordinator.send(Msg::VoiceIdle { reason }).await;
            }
            Err(e) => {
                tracing::error!("voice input: {e:#}");
                coordinator.send(Msg::VoiceIdle { reason: e.to_string() }).await;
            }
        }
    }
}

/// How long a question asked back waits for its yes.
const ASK_BACK_WINDOW: Duration = Duration::from_secs(30);

enum Outcome {
    Transcript { utterance_id: i64, text: String },
    Idle(String),
    /// Heard, but not something to act on: "didn't catch that".
    Rejected(String),
    /// A short near-miss of a command ([`transcribe::nearmiss`]): not acted
    /// on, asked back about.
    AskBack { said: String, question: String },
}

async fn handle_clip(services: &Services, slot: &ModelSlot, job: Job) -> anyhow::Result<Outcome> {
    use anyhow::Context as _;
    let Job { clip, mode, live, released } = job;
    let cfg = &services.config;
    let samples = Arc::new(clip.samples);
    let verdict = gate::judge(&samples, &gate::Gate::from_config(&cfg.voice));

    // 1. the audio and its row, before anything acts on it
    let dir = services.data.audio();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = format!("{}-{:04x}.wav", clip.started_at.format("%Y%m%dT%H%M%S%.3fZ"), rand::random::<u16>());
    let path = dir.join(name);
    {
        let (p, s) = (path.clone(), samples.clone());
        tokio::task::spawn_blocking(move || capture::wav::write_16k_mono(&p, &s)).await??;
    }
    let duration_ms = (samples.len() as f64 / 16.0).round() as i64;
    let utterance_id = services.store.insert_utterance(duration_ms, Some(&path.display().to_string()), "voice")?;
    tracing::info!(utterance_id, duration_ms, audio = %path.display(), end = ?clip.end, "utterance stored");
    let mut info = serde_json::json!({
        "gate": verdict,
        "end": clip.end,
        "pre_roll_ms": clip.pre_roll as f64 / 16.0,
        // the key's edges as the voice loop saw them: the clip is the pre-roll plus what the
        // microphone delivered between them
        "key": {"down": clip.started_at, "up": released},
        "expected": mode,
    });

    // 2. the gate (again inside `hear`; checked here so silence needs no model)
    if !verdict.heard {
        let reason = verdict.reason.clone().unwrap_or_default();
        info["nothing_heard"] = serde_json::json!(true);
        services.store.set_transcript(utterance_id, "", Some(&info))?;
        tracing::info!(utterance_id, %reason, "nothing heard; not sent to Whisper");
        return Ok(Outcome::Idle(format!("nothing heard: {reason}")));
    }

    // 3. the model: voice detector, decode, checks against invented text
    let Some(model) = slot.get().await else {
        return Ok(Outcome::Idle("no speech model; the audio is stored".into()));
    };
    let heard = match live {
        Some(live) => {
            let s = samples.clone();
            tokio::task::spawn_blocking(move || live.finish(&s, mode)).await??
        }
        None => model.hear(samples, mode).await?,
    };
    info["vad"] = serde_json::to_value(&heard.vad)?;
    if let Some(s) = &heard.stream {
        info["stream"] = serde_json::to_value(s)?;
    }
    if let Some(t) = &heard.transcript {
        info["mode"] = serde_json::json!(t.mode);
        info["timings"] = serde_json::to_value(&t.timings)?;
        info["audio_ctx"] = serde_json::json!(t.audio_ctx);
        info["model"] = serde_json::json!(t.model);
        info["segments"] = serde_json::to_value(&t.segments)?;
        info["no_speech_prob"] = serde_json::json!(t.no_speech_prob);
        info["avg_logprob"] = serde_json::json!(t.avg_logprob);
        info["fallback"] = serde_json::json!(t.fallback);
        if t.held_pieces > 0 {
            info["pieces_while_held"] = serde_json::json!(t.held_pieces);
        }
        if let Some(f) = t.free_score {
            info["free_score"] = serde_json::to_value(f)?;
        }
        if let Some(g) = t.in_grammar {
            info["in_grammar"] = serde_json::json!(g);
        }
    }
    if let Some(reason) = &heard.rejected {
        info["rejected"] = serde_json::json!(reason);
        if let Some(t) = &heard.transcript {
            info["rejected_text"] = serde_json::json!(t.text);
        }
        if let Some(said) = &heard.ask_back {
            info["ask_back"] = serde_json::json!(said);
        }
        services.store.set_transcript(utterance_id, "", Some(&info))?;
        if let Some(said) = &heard.ask_back {
            let question = transcribe::nearmiss::question(said);
            tracing::info!(utterance_id, %reason, %question, "a near-miss of a command; asked back, not acted on");
            return Ok(Outcome::AskBack { said: said.clone(), question });
        }
        tracing::info!(utterance_id, %reason, "didn't catch that; not acted on");
        return Ok(Outcome::Rejected(format!("didn't catch that: {reason}")));
    }
    let text = heard.text().to_string();
    services.store.set_transcript(utterance_id, &text, Some(&info))?;
    let total_ms = heard.transcript.as_ref().map(|t| t.timings.total_ms as u64).unwrap_or(0);
    tracing::info!(utterance_id, text = %text, total_ms, "transcribed");
    Ok(Outcome::Transcript { utterance_id, text })
}

/// Clips recorded elsewhere (the phone page's push-to-talk), handled by the same steps as a
/// hotkey clip: stored first (WAV and row), gated, transcribed by the local model. The caller
/// hands the transcript to the coordinator. The model is loaded on first use.
#[derive(Clone)]
pub struct ClipHandler {
    services: Services,
    slot: Arc<ModelSlot>,
}

/// What became of a clip: its utterance and transcript, or why there is none.
pub struct ClipOutcome {
    pub utterance_id: Option<i64>,
    pub transcript: Option<String>,
    pub reason: Option<String>,
}

impl ClipHandler {
    pub fn new(services: Services) -> ClipHandler {
        let slot = Arc::new(ModelSlot { model: tokio::sync::Mutex::new(None), services: services.clone(), last_error: std::sync::Mutex::new(None) });
        ClipHandler { services, slot }
    }

    /// 16 kHz mono samples, recorded from `started_at` (free speech, not a confirmation).
    pub async fn handle(&self, samples: Vec<f32>, started_at: chrono::DateTime<Utc>) -> anyhow::Result<ClipOutcome> {
        let clip = Clip { samples, started_at, pre_roll: 0, end: capture::recorder::EndReason::Released };
        match handle_clip(&self.services, &self.slot, Job { clip, mode: Mode::Free, live: None, released: None }).await? {
            Outcome::Transcript { utterance_id, text } => {
                Ok(ClipOutcome { utterance_id: Some(utterance_id), transcript: Some(text), reason: None })
            }
            // Not acted on: nothing heard, or heard but not words to act on ("didn't catch that").
            Outcome::Idle(reason) | Outcome::Rejected(reason) | Outcome::AskBack { question: reason, .. } => {
                let id = self.services.store.utterances(1)?.first().map(|u| u.id);
                Ok(ClipOutcome { utterance_id: id, transcript: None, reason: Some(reason) })
            }
        }
    }
}

/// Cues through rodio, on a thread that owns the output stream.
pub struct RodioCues {
    tx: std::sync::Mutex<std::sync::mpsc::Sender<Cue>>,
}

impl RodioCues {
    pub fn start() -> RodioCues {
        let (tx, rx) = std::sync::mpsc::channel::<Cue>();
        let spawned = std::thread::Builder::new().name("capcom-cues".into()).spawn(move || {
            let mut sink: Option<rodio::MixerDeviceSink> = None;
            let mut warned = false;
            while let Ok(cue) = rx.recv() {
                if sink.is_none() {
                    match rodio::DeviceSinkBuilder::open_default_sink() {
                        Ok(mut s) => {
                            s.log_on_drop(false);
                            sink = Some(s);
                        }
                        Err(e) => {
                            if !warned {
                                tracing::warn!("no audio output for cues: {e}");
                                warned = true;
                            }
                            continue;
                        }
                    }
                }
                if let Some(s) = sink.as_ref() {
                    s.mixer().add(cue_sound(cue));
                }
            }
        });
        if let Err(e) = spawned {
            tracing::warn!("cannot start the cue thread: {e}");
        }
        RodioCues { tx: std::sync::Mutex::new(tx) }
    }
}

impl Cues for RodioCues {
    fn play(&self, cue: Cue) {
        let _ = self.tx.lock().unwrap_or_else(|p| p.into_inner()).send(cue);
    }
}

/// Two short tones: rising for start, falling for stop, one low tone for cancel.
fn cue_sound(cue: Cue) -> rodio::buffer::SamplesBuffer {
    const RATE: u32 = 44_100;
    let tones: &[(f32, f32)] = match cue {
        Cue::Start => &[(660.0, 0.06), (880.0, 0.06)],
        Cue::Stop => &[(880.0, 0.06), (660.0, 0.06)],
        Cue::Cancel => &[(330.0, 0.15)],
        Cue::DidNotCatch => &[(330.0, 0.07), (0.0, 0.04), (330.0, 0.07)],
    };
    let mut samples = Vec::new();
    for &(freq, secs) in tones {
        let n = (RATE as f32 * secs) as usize;
        let fade = (RATE as f32 * 0.005) as usize;
        for i in 0..n {
            let env = (i.min(n - i) as f32 / fade as f32).min(1.0);
            samples.push(0.2 * env * (2.0 * std::f32::consts::PI * freq * i as f32 / RATE as f32).sin());
        }
    }
    rodio::buffer::SamplesBuffer::new(
        std::num::NonZero::new(1).expect("1 is not zero"),
        std::num::NonZero::new(RATE).expect("44100 is not zero"),
        samples,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::KeyEvent;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A microphone that records when it was opened and whether it was told to stop.
    #[derive(Default)]
    struct FakeMic {
        opened: AtomicUsize,
        stops: Mutex<Vec<Arc<AtomicBool>>>,
    }
    impl AudioInput for Arc<FakeMic> {
        fn spawn(&self, _sink: std::sync::mpsc::Sender<RecMsg>, stop: Arc<AtomicBool>) -> std::io::Result<std::thread::JoinHandle<()>> {
            self.opened.fetch_add(1, Ordering::SeqCst);
            self.stops.lock().unwrap().push(stop.clone());
            std::thread::Builder::new().spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        }
    }

    /// A keyboard the test types on.
    #[derive(Default)]
    struct FakeKeys(Mutex<Option<mpsc::UnboundedSender<HotkeyMsg>>>);
    impl KeySource for Arc<FakeKeys> {
        fn spawn(&self, tx: mpsc::UnboundedSender<HotkeyMsg>) -> Result<(), String> {
            *self.0.lock().unwrap() = Some(tx);
            Ok(())
        }
    }

    /// Wait (a guard against a hang, not a timing assertion) until `done` holds.
    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        for _ in 0..1000 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("never: {what}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pausing_closes_the_microphone_and_resuming_opens_it_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::config::Config::default();
        config.voice.hotkey = "F9".into();
        config.voice.cues = false;
        let services = Services {
            config: Arc::new(config),
            data: crate::config::DataDir::new(dir.path()),
            store: crate::store::Store::open(&dir.path().join("capcom.db")).unwrap(),
            speaker: None,
        };
        let (stop_tx, stop) = watch::channel(false);
        let coordinator = super::super::Coordinator::spawn(services.clone(), stop.clone(), None);
        let (mic, keys) = (Arc::new(FakeMic::default()), Arc::new(FakeKeys::default()));
        let devices = Devices { mic: Box::new(mic.clone()), keys: Box::new(keys.clone()), cues: None, bound: None };
        let voice = tokio::spawn(run(services, coordinator.clone(), stop, devices));
        until("the microphone opens", || mic.opened.load(Ordering::SeqCst) == 1).await;
        until("the keyboard is listened to", || keys.0.lock().unwrap().is_some()).await;
        let press = |down: bool, ms: u64| {
            let ev = KeyEvent { key: rdev::Key::F9, down, at: Duration::from_millis(ms) };
            keys.0.lock().unwrap().as_ref().unwrap().send(HotkeyMsg::Key(ev)).unwrap();
        };

        assert_eq!(coordinator.set_paused(Some(true)).await, Some(true));
        until("the microphone is told to stop", || mic.stops.lock().unwrap()[0].load(Ordering::SeqCst)).await;
        assert_eq!(mic.opened.load(Ordering::SeqCst), 1, "no microphone while paused");
        assert_eq!(coordinator.set_paused(Some(false)).await, Some(false));
        until("a new microphone opens", || mic.opened.load(Ordering::SeqCst) == 2).await;
        assert!(!mic.stops.lock().unwrap()[1].load(Ordering::SeqCst));

        // resumed, a press records again
        press(true, 5_000);
        let mut seen = coordinator.watch();
        let recording = seen.wait_for(|p| p.stage == Some(Stage::Recording));
        tokio::time::timeout(Duration::from_secs(20), recording).await.expect("recording after resume").unwrap();
        let _ = stop_tx.send(true);
        voice.await.unwrap();
        coordinator.join().await;
        assert!(mic.stops.lock().unwrap()[1].load(Ordering::SeqCst), "stopping the daemon closes the microphone");
    }

    #[test]
    fn cue_sounds_are_short_and_quiet() {
        use rodio::Source;
        for c in [Cue::Start, Cue::Stop, Cue::Cancel, Cue::DidNotCatch] {
            let s = cue_sound(c);
            let d = s.total_duration().unwrap();
            assert!(d < Duration::from_millis(200), "{d:?}");
            assert!(s.into_iter().all(|v| v.abs() <= 0.2));
        }
    }
}
