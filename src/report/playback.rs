//! The speech queue: speak sentence by sentence, cut at once on barge-in.
//!
//! [`SpeechQueue::speak`] splits a script into sentences. A synthesis thread
//! turns them into audio one by one while a playback thread plays them, so the
//! first sentence is heard while the rest are still being synthesized.
//! [`SpeechQueue::stop`] (the hotkey) drops everything queued and cuts the
//! clip that is playing.
//!
//! Audio goes out through the [`Output`] trait: [`RodioOutput`] on a real
//! device, [`NullOutput`] when there is none (the text still reaches the
//! listener as [`SpeechEvent::Sentence`]), and fakes in tests.

use super::text::split_sentences;
use super::tts::{Pcm, Speaker};
use std::num::NonZero;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum PlaybackError {
    #[error("no audio output device: {0}")]
    NoDevice(String),
    #[error("audio output failed: {0}")]
    Output(String),
}

/// Tells a playing clip it has been cut (barge-in). Poll [`Cut::is_cut`] while playing.
#[derive(Clone, Copy)]
pub struct Cut<'a> {
    generation: &'a AtomicU64,
    expected: u64,
}

impl<'a> Cut<'a> {
    /// Cut as soon as `generation` no longer holds `expected`.
    pub fn new(generation: &'a AtomicU64, expected: u64) -> Cut<'a> {
        Cut { generation, expected }
    }

    pub fn is_cut(&self) -> bool {
        self.generation.load(Ordering::SeqCst) != self.expected
    }
}

/// Somewhere to play audio.
pub trait Output: Send + Sync {
    /// Play one clip, blocking until it has played or `cut` says stop; then return at once.
    fn play(&self, pcm: &Pcm, cut: Cut<'_>) -> Result<(), PlaybackError>;
    /// A short description for logs.
    fn name(&self) -> String;
}

/// Plays nothing. Used when there is no audio device: speech becomes text only.
#[derive(Debug, Default)]
pub struct NullOutput;

impl Output for NullOutput {
    fn play(&self, _pcm: &Pcm, _cut: Cut<'_>) -> Result<(), PlaybackError> {
        Ok(())
    }
    fn name(&self) -> String {
        "no audio output".into()
    }
}

/// The default audio device through rodio.
///
/// The device stream lives on its own thread (cpal streams may not move between
/// threads); clips go to its mixer.
pub struct RodioOutput {
    mixer: rodio::mixer::Mixer,
    /// Dropping this ends the device thread, which closes the stream.
    _keep: mpsc::Sender<()>,
    description: String,
}

impl RodioOutput {
    /// Open the default output device.
    pub fn open_default() -> Result<RodioOutput, PlaybackError> {
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(rodio::mixer::Mixer, String), String>>();
        let (keep_tx, keep_rx) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("capcom-audio-out".into())
            .spawn(move || match open_sink() {
                Ok(mut sink) => {
                    sink.log_on_drop(false);
                    let cfg = sink.config();
                    let desc = format!("default device, {} Hz, {} channels", cfg.sample_rate(), cfg.channel_count());
                    let _ = ready_tx.send(Ok((sink.mixer().clone(), desc)));
                    // Hold the stream open until the output is dropped.
                    let _ = keep_rx.recv();
                    drop(sink);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                }
            })
            .map_err(|e| PlaybackError::NoDevice(e.to_string()))?;
        match ready_rx.recv() {
            Ok(Ok((mixer, description))) => {
                Ok(RodioOutput { mixer, _keep: keep_tx, description })
            }
            Ok(Err(e)) => Err(PlaybackError::NoDevice(e)),
            Err(_) => Err(PlaybackError::NoDevice("the audio thread stopped while opening the device".into())),
        }
    }
}

impl Output for RodioOutput {
    fn play(&self, pcm: &Pcm, cut: Cut<'_>) -> Result<(), PlaybackError> {
        if pcm.samples.is_empty() || cut.is_cut() {
            return Ok(());
        }
        let rate = NonZero::new(pcm.sample_rate).ok_or_else(|| PlaybackError::Output("sample rate is zero".into()))?;
        let player = rodio::Player::connect_new(&self.mixer);
        player.append(rodio::buffer::SamplesBuffer::new(NonZero::<u16>::MIN, rate, pcm.samples.clone()));
        // Wait for the clip to end, with a deadline well past its length in case the device stalls.
        let deadline = Instant::now() + pcm.duration() + Duration::from_secs(5);
        while !player.empty() && !cut.is_cut() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        // Stops the clip within the mixer's next few milliseconds.
        player.stop();
        Ok(())
    }

    fn name(&self) -> String {
        self.description.clone()
    }
}

/// Open the default device with stream errors sent to the log (the first as a warning, the
/// rest at debug level) instead of rodio's default of printing every one to stderr.
fn open_sink() -> Result<rodio::MixerDeviceSink, rodio::DeviceSinkError> {
    let count = Arc::new(AtomicU64::new(0));
    let on_error = move |e: rodio::CpalError| {
        if count.fetch_add(1, Ordering::Relaxed) == 0 {
            tracing::warn!("audio output error: {e} (repeats are logged at debug level)");
        } else {
            tracing::debug!("audio output error: {e}");
        }
    };
    rodio::DeviceSinkBuilder::from_default_device()
        .and_then(|b| b.with_error_callback(on_error).open_sink_or_fallback())
        .or_else(|_| rodio::DeviceSinkBuilder::open_default_sink())
}

/// The default device, or [`NullOutput`] with a clear warning when there is none.
/// Never fails: without audio, capcom still answers in text.
pub fn open_output() -> Arc<dyn Output> {
    match RodioOutput::open_default() {
        Ok(o) => {
            tracing::info!("speech output: {}", o.name());
            Arc::new(o)
        }
        Err(e) => {
            tracing::warn!("{e}; spoken answers will be text only");
            Arc::new(NullOutput)
        }
    }
}

/// What the queue reports to its listener.
#[derive(Debug, Clone, PartialEq)]
pub enum SpeechEvent {
    /// A sentence starts playing (or, with no speaker, is "said" as text).
    Sentence { job: u64, index: usize, text: String },
    /// Every sentence of a job was played.
    Finished { job: u64 },
    /// `stop()` cut speech; queued sentences were dropped.
    Stopped,
    /// A sentence could not be synthesized or played; the text still went to the listener.
    Error { job: u64, message: String },
}

pub type Listener = Arc<dyn Fn(SpeechEvent) + Send + Sync>;

enum Item {
    Text { job: u64, generation: u64, sentences: Vec<String> },
    Clip { job: u64, generation: u64, pcm: Pcm },
}

struct Ready {
    job: u64,
    generation: u64,
    index: usize,
    last: bool,
    text: String,
    pcm: Option<Pcm>,
}

struct Shared {
    speaker: Option<Arc<dyn Speaker>>,
    output: Arc<dyn Output>,
    generation: AtomicU64,
    next_job: AtomicU64,
    /// Sentences queued and not yet played or dropped.
    pending: Mutex<usize>,
    idle: Condvar,
    listener: Option<Listener>,
}

impl Shared {
    fn emit(&self, e: SpeechEvent) {
        if let Some(l) = &self.listener {
            l(e);
        }
    }

    fn done(&self, n: usize) {
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        *p = p.saturating_sub(n);
        if *p == 0 {
            self.idle.notify_all();
        }
    }

    fn current(&self, generation: u64) -> bool {
        self.generation.load(Ordering::SeqCst) == generation
    }
}

/// A queue of things to say. Cheap to share (`Arc` inside); threads end when it is dropped.
pub struct SpeechQueue {
    shared: Arc<Shared>,
    tx: Mutex<mpsc::Sender<Item>>,
}

impl SpeechQueue {
    /// `speaker: None` means text only: sentences go to the listener, nothing is played.
    pub fn new(speaker: Option<Arc<dyn Speaker>>, output: Arc<dyn Output>, listener: Option<Listener>) -> SpeechQueue {
        let shared = Arc::new(Shared {
            speaker,
            output,
            generation: AtomicU64::new(0),
            next_job: AtomicU64::new(1),
            pending: Mutex::new(0),
            idle: Condvar::new(),
            listener,
        });
        let (tx, rx) = mpsc::channel::<Item>();
        // Synthesis runs at most a few sentences ahead of playback.
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Ready>(4);
        let s = shared.clone();
        std::thread::Builder::new()
            .name("capcom-speech-synth".into())
            .spawn(move || synth_loop(&s, rx, ready_tx))
            .expect("spawning a thread only fails when the process is out of resources");
        let s = shared.clone();
        std::thread::Builder::new()
            .name("capcom-speech-play".into())
            .spawn(move || play_loop(&s, ready_rx))
            .expect("spawning a thread only fails when the process is out of resources");
        SpeechQueue { shared, tx: Mutex::new(tx) }
    }

    /// Queue a script. It is said sentence by sentence after whatever is queued
    /// before it. Returns its job id (for [`SpeechEvent`]s).
    pub fn speak(&self, text: &str) -> u64 {
        let sentences = split_sentences(text);
        let job = self.shared.next_job.fetch_add(1, Ordering::SeqCst);
        if sentences.is_empty() {
            self.shared.emit(SpeechEvent::Finished { job });
            return job;
        }
        *self.shared.pending.lock().unwrap_or_else(|p| p.into_inner()) += sentences.len();
        let generation = self.shared.generation.load(Ordering::SeqCst);
        self.send(Item::Text { job, generation, sentences });
        job
    }

    /// Queue ready-made audio (a changelog, a cue), cut by `stop()` like speech.
    pub fn play(&self, pcm: Pcm) -> u64 {
        let job = self.shared.next_job.fetch_add(1, Ordering::SeqCst);
        *self.shared.pending.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        let generation = self.shared.generation.load(Ordering::SeqCst);
        self.send(Item::Clip { job, generation, pcm });
        job
    }

    fn send(&self, item: Item) {
        let n = match &item {
            Item::Text { sentences, .. } => sentences.len(),
            Item::Clip { .. } => 1,
        };
        if self.tx.lock().unwrap_or_else(|p| p.into_inner()).send(item).is_err() {
            self.shared.done(n);
        }
    }

    /// Barge-in: cut what is playing now and drop everything queued.
    pub fn stop(&self) {
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
        self.shared.emit(SpeechEvent::Stopped);
    }

    /// Something is queued or playing.
    pub fn is_speaking(&self) -> bool {
        *self.shared.pending.lock().unwrap_or_else(|p| p.into_inner()) > 0
    }

    /// Block until everything queued was played or dropped, or `timeout` passed.
    /// Returns whether the queue is idle.
    pub fn wait_idle(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut p = self.shared.pending.lock().unwrap_or_else(|p| p.into_inner());
        while *p > 0 {
            match deadline {
                None => p = self.shared.idle.wait(p).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    p = self.shared.idle.wait_timeout(p, d - now).unwrap_or_else(|e| e.into_inner()).0;
                }
            }
        }
        true
    }

    /// The output in use (e.g. to tell the user speech is text only).
    pub fn output_name(&self) -> String {
        self.shared.output.name()
    }
}

fn synth_loop(s: &Shared, rx: mpsc::Receiver<Item>, ready: mpsc::SyncSender<Ready>) {
    for item in rx {
        match item {
            Item::Clip { job, generation, pcm } => {
                if !s.current(generation) {
                    s.done(1);
                    continue;
                }
                let r = Ready { job, generation, index: 0, last: true, text: String::new(), pcm: Some(pcm) };
                if ready.send(r).is_err() {
                    return;
                }
            }
            Item::Text { job, generation, sentences } => {
                let n = sentences.len();
                for (index, text) in sentences.into_iter().enumerate() {
                    if !s.current(generation) {
                        // Barge-in: drop the rest of this job without synthesizing it.
                        s.done(n - index);
                        break;
                    }
                    let pcm = match &s.speaker {
                        None => None,
                        Some(sp) => match sp.synthesize(&text) {
                            Ok(p) => Some(p),
                            Err(e) => {
                                s.emit(SpeechEvent::Error { job, message: e.to_string() });
                                None
                            }
                        },
                    };
                    let r = Ready { job, generation, index, last: index + 1 == n, text, pcm };
                    if ready.send(r).is_err() {
                        return;
                    }
                }
            }
        }
    }
}

fn play_loop(s: &Shared, rx: mpsc::Receiver<Ready>) {
    for r in rx {
        if !s.current(r.generation) {
            s.done(1);
            continue;
        }
        if !r.text.is_empty() {
            s.emit(SpeechEvent::Sentence { job: r.job, index: r.index, text: r.text.clone() });
        }
        if let Some(pcm) = &r.pcm
            && let Err(e) = s.output.play(pcm, Cut::new(&s.generation, r.generation))
        {
            s.emit(SpeechEvent::Error { job: r.job, message: e.to_string() });
        }
        if r.last && s.current(r.generation) {
            s.emit(SpeechEvent::Finished { job: r.job });
        }
        s.done(1);
    }
}
