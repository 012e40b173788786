//! Speech to text with whisper.cpp, fast on short clips.
//!
//! * [`Transcriber`] loads a model once (after [`validate`] has checked the
//!   file, since whisper.cpp aborts on some bad ones) and keeps it warm;
//!   inference runs on a blocking thread.
//! * Short clips do not pay for Whisper's 30 s window: `audio_ctx` follows
//!   the clip length plus a margin ([`audio_ctx_for`]), unless
//!   `[voice] full_window` asks for the full window.
//! * Text tokens are capped in proportion to the clip ([`token_cap`]) so a
//!   hallucinating decoder stops early.
//! * The initial prompt lists the user's vocabulary: repo names and aliases,
//!   agent names, check names and `[voice] vocabulary` ([`vocabulary_prompt`]).
//! * [`Mode::Commands`] and [`Mode::Confirm`] decode with a GBNF grammar
//!   (`grammars/*.gbnf`, see [`grammar`]) and a matching prompt.
//!
//! The speech model is an outside system, so the daemon sees it through the
//! [`SpeechModel`] trait; [`WhisperModel`] is the one real implementation.

pub mod ahead;
pub mod cpu;
pub mod ggml;
pub mod grammar;
pub mod import;
pub mod long;
pub mod models;
pub mod nearmiss;
pub mod stream;
pub mod testmodel;
pub mod validate;

mod engine;

pub use engine::{EngineError, FreeScore};
pub use validate::{ModelError, ModelInfo, Problem, validate};

use crate::capture;
use crate::config::{Config, DataDir};
use engine::{DecodeRequest, Engine};
use grammar::{Grammar, GrammarError, RuleTable};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Whisper's input rate.
pub const SAMPLE_RATE: u32 = 16_000;
/// Encoder frames per second of audio (one frame per 20 ms).
pub const FRAMES_PER_SECOND: f64 = 50.0;
/// Extra encoder frames beyond the clip. 64 (1.3 s) let whisper loop on
/// short clips ("Yeah. Yeah. Yeah."); 128 stopped every loop on the
/// spoken clip set (`tests/speech.rs`).
pub const AUDIO_CTX_MARGIN: i32 = 128;
/// The smallest encoder window used (about 5 s).
pub const MIN_AUDIO_CTX: i32 = 256;
/// Silence appended to every clip so the last word is not cut off.
pub const END_PAD_SECONDS: f64 = 0.4;
/// Clips up to this long are decoded as commands first ([`DecodeMode::Auto`]).
pub const COMMAND_MAX_SECONDS: f64 = 2.5;
/// A grammar decode whose mean token log-probability is below this falls
/// back to free decoding.
pub const GRAMMAR_MIN_LOGPROB: f32 = -0.9;
/// A grammar decode falls back to free decoding when the model, without the
/// grammar, finds its text this unlikely: a mean log-probability per token
/// below the first, or any token below the second ([`FreeScore`]). A grammar
/// only ranks its own phrases, so any speech comes out as one of them.
/// Measured on espeak-ng clips at three voices (tiny.en): spoken commands
/// score a mean of −1.14 at worst with no token below −2.9; short orders
/// that are no command ("Add a login page." heard as "Don't.", "Rename the
/// main function." as "Read the changelog.") −1.5 at best, most below −2.5,
/// with a token below −4 in nearly all ("Don't merge it yet." as "Don't
/// merge it." has its "." at −6.8).
pub const GRAMMAR_MIN_FREE_MEAN: f32 = -1.4;
pub const GRAMMAR_MIN_FREE_TOKEN: f32 = -4.5;

/// Is a grammar decode poor enough that the clip is decoded freely instead?
pub fn grammar_decode_is_poor(t: &Transcript) -> bool {
    t.in_grammar != Some(true)
        || t.avg_logprob < GRAMMAR_MIN_LOGPROB
        || t.free_score.is_some_and(|f| f.mean < GRAMMAR_MIN_FREE_MEAN || f.min < GRAMMAR_MIN_FREE_TOKEN)
}
/// OpenAI's rule: a window is silence when P(no speech) exceeds this and the
/// text's mean log-probability is below [`NO_SPEECH_LOGPROB`].
pub const NO_SPEECH_THRESHOLD: f32 = 0.6;
pub const NO_SPEECH_LOGPROB: f32 = -1.0;
/// How strongly whisper.cpp pushes tokens that leave the grammar down.
pub const GRAMMAR_PENALTY: f32 = 100.0;
/// Grammar decoding forces speech into the grammar's phrases, so it is only
/// used on clips short enough to be an answer or a command; a longer clip
/// while a confirmation is pending is a new brief and decodes freely.
pub const GRAMMAR_MAX_SECONDS: f64 = 4.0;

/// The mode to decode a clip of `duration_s` with, given what is expected.
pub fn mode_for_clip(expected: Mode, duration_s: f64) -> Mode {
    if expected != Mode::Free && duration_s > GRAMMAR_MAX_SECONDS { Mode::Free } else { expected }
}

/// What kind of speech is expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// A free-form brief.
    #[default]
    Free,
    /// A short command (`grammars/commands.gbnf`).
    Commands,
    /// An answer to a pending confirmation (`grammars/confirm.gbnf`).
    Confirm,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Segment {
    pub t0: f64,
    pub t1: f64,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Timings {
    /// Time spent loading the model for this request (0 when it was warm).
    pub load_ms: f64,
    /// From the call to the first decoder step: mel spectrogram and encoder.
    pub encode_ms: f64,
    /// From the first decoder step to the transcript.
    pub decode_ms: f64,
    pub total_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Transcript {
    pub text: String,
    pub segments: Vec<Segment>,
    pub duration_s: f64,
    /// Encoder frames used; 1500 is the full 30 s window.
    pub audio_ctx: i32,
    pub timings: Timings,
    pub mode: Mode,
    /// With a grammar: whether the text is a complete sentence of it.
    pub in_grammar: Option<bool>,
    /// Text tokens decoded (the longest window).
    pub text_tokens: usize,
    pub model: String,
    /// P(no speech) at the start of the window (OpenAI's definition).
    #[serde(default)]
    pub no_speech_prob: f32,
    /// Mean log-probability of the text tokens.
    #[serde(default)]
    pub avg_logprob: f32,
    /// With a grammar: the log-probabilities the model gives the text (its
    /// tokens and its end) without the grammar. After a fallback: those of
    /// the grammar's text that was set aside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_score: Option<FreeScore>,
    /// Threads the decode ran on.
    #[serde(default)]
    pub threads: usize,
    /// What chose them with `[voice] threads = 0` ([`cpu`]): the other busy
    /// cores over a window; absent when they were configured, or when a
    /// decode already running in this process made it one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads_basis: Option<cpu::Decision>,
    /// A grammar decode that scored poorly and was decoded again freely.
    #[serde(default)]
    pub fallback: bool,
    /// The decoder started to repeat itself; it was stopped there and the
    /// repeated phrase kept once ([`collapse_repeats`]).
    #[serde(default)]
    pub looped: bool,
    /// A window that held speech but decoded to almost nothing ([`long::too_few_words`]):
    /// where, and how little. Such a transcript is rejected, never acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<String>,
    /// Pieces of a long clip decoded while the key was still held ([`ahead`]);
    /// only the rest was decoded after release.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub held_pieces: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, thiserror::Error)]
pub enum TranscribeError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("{0}")]
    Engine(#[from] EngineError),
    #[error("built-in grammar: {0}")]
    Grammar(#[from] GrammarError),
    #[error("{0}")]
    Resolve(String),
    #[error("the transcription thread failed: {0}")]
    Join(String),
}

/// Decoding settings from `[voice]` and the rest of the config.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Threads per decode; 0 chooses them per decode from the cores other
    /// work leaves free ([`cpu`]).
    pub threads: usize,
    pub full_window: bool,
    pub language: String,
    /// The vocabulary prompt for free-form briefs (empty when switched off).
    pub prompt: String,
    /// How clips are decoded by default.
    pub decode: DecodeMode,
    /// A clip longer than one window: each piece after the first is prompted
    /// with the text of the piece before it (whisper's own conditioning on
    /// previous text). Off: measured no better (benches/transcribe.rs).
    pub condition_previous: bool,
    pub gate: capture::gate::Gate,
    pub vad: capture::vad::Vad,
}

impl Settings {
    pub fn from_config(cfg: &Config) -> Settings {
        Settings {
            threads: cfg.voice.threads,
            full_window: cfg.voice.full_window,
            language: if cfg.voice.language.trim().is_empty() { "en".into() } else { cfg.voice.language.clone() },
            prompt: if cfg.voice.vocabulary_prompt { vocabulary_prompt(cfg) } else { String::new() },
            decode: if cfg.voice.command_mode { DecodeMode::Auto } else { DecodeMode::Free },
            condition_previous: false,
            gate: capture::gate::Gate::from_config(&cfg.voice),
            vad: capture::vad::Vad { floor: cfg.voice.energy_floor.max(0.0) * 0.8, ..Default::default() },
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            threads: 0,
            full_window: false,
            language: "en".into(),
            prompt: String::new(),
            decode: DecodeMode::Auto,
            condition_previous: false,
            gate: capture::gate::Gate::from_config(&crate::config::Voice::default()),
            vad: capture::vad::Vad::default(),
        }
    }
}

/// Whisper threads when `[voice] threads = 0` and the CPU's recent load is
/// unknown: one fewer than the physical cores, at least one. whisper.cpp's
/// thread pool spin-waits, so with every core busy a thread that loses its
/// core stalls the others (measured: a 16 s brief took 7.7–39 s with two
/// threads and two busy processes on two cores, 2.7–5.3 s with one thread).
pub fn default_threads() -> usize {
    physical_cores().saturating_sub(1).max(1)
}

/// whisper.cpp's build and CPU features (`whisper_print_system_info`).
pub fn system_info() -> String {
    let p = unsafe { whisper_rs::whisper_rs_sys::whisper_print_system_info() };
    if p.is_null() {
        return String::new();
    }
    unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().trim().to_string()
}

/// What `capcom doctor` says about whisper.cpp: its SIMD paths against the CPU's.
pub struct SystemCheck {
    pub ok: bool,
    pub detail: String,
    pub fix: Option<String>,
}

pub fn system_check(threads_setting: usize) -> SystemCheck {
    let info = system_info();
    let threads = if threads_setting == 0 {
        format!("threads chosen per decode: up to {} (the physical cores), fewer while other work keeps them busy", physical_cores())
    } else {
        format!("{threads_setting} thread(s)")
    };
    let flags = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| c.lines().find(|l| l.starts_with("flags")).map(|l| l.to_string()))
        .unwrap_or_default();
    let cpu_has = |f: &str| flags.split_whitespace().any(|x| x == f);
    // whisper.cpp prints "AVX2 = 1 | FMA = 1 | F16C = 1 | ..." per backend
    let built = |f: &str| info.contains(&format!("{f} = 1"));
    let missing: Vec<&str> =
        [("avx2", "AVX2"), ("fma", "FMA"), ("f16c", "F16C")].iter().filter(|(c, b)| cpu_has(c) && !built(b)).map(|(_, b)| *b).collect();
    let detail = format!("{threads}; {info}");
    if missing.is_empty() {
        SystemCheck { ok: true, detail, fix: None }
    } else {
        SystemCheck {
            ok: false,
            detail: format!("the CPU has {} but this build does not use it; {detail}", missing.join(", ")),
            fix: Some("build capcom on this machine (cargo build --release) so ggml detects the CPU".into()),
        }
    }
}

/// Physical CPU cores (not hyper-threads), from /proc/cpuinfo; falls back to
/// the logical count.
pub fn physical_cores() -> usize {
    let logical = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else { return logical };
    let mut cores = std::collections::HashSet::new();
    let mut phys = String::new();
    for line in info.lines() {
        let Some((k, v)) = line.split_once(':') else { continue };
        match k.trim() {
            "physical id" => phys = v.trim().to_string(),
            "core id" => {
                cores.insert((phys.clone(), v.trim().to_string()));
            }
            _ => {}
        }
    }
    if cores.is_empty() { logical } else { cores.len().min(logical).max(1) }
}

/// Encoder frames for a clip of `duration_s`: the clip plus a margin, at most
/// the full window (1500). Clips of 30 s or more use the full window: whisper
/// moves through long audio in 30 s steps and would skip what a smaller
/// window left out.
pub fn audio_ctx_for(duration_s: f64, full_window: bool) -> i32 {
    let full = 1500;
    if full_window || duration_s >= 30.0 {
        return full;
    }
    let frames = (duration_s.max(0.0) * FRAMES_PER_SECOND).ceil() as i32 + AUDIO_CTX_MARGIN;
    // a multiple of 32 keeps ggml's matrix shapes friendly
    ((frames + 31) / 32 * 32).clamp(MIN_AUDIO_CTX, full)
}

/// How a clip is decoded: `capcom transcribe --mode`, and the daemon's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum DecodeMode {
    /// Clips up to [`COMMAND_MAX_SECONDS`] as commands (with free decoding as
    /// the fallback), longer ones freely.
    #[default]
    Auto,
    /// Always the commands grammar first.
    Command,
    /// Never a grammar (except a pending confirmation's).
    Free,
}

/// A transcript that must not be acted on, and why ("no voice", "repetition").
pub fn rejection(t: &Transcript) -> Option<String> {
    if t.text.trim().is_empty() || !t.text.chars().any(|c| c.is_alphanumeric()) {
        return Some("no words".into());
    }
    if let Some(lost) = &t.lost {
        return Some(format!("speech lost in decoding: {lost}"));
    }
    // a loop is itself a sign of no speech (measured: 50 Hz hum decodes as "Go, go, go, …")
    if t.no_speech_prob > NO_SPEECH_THRESHOLD && (t.avg_logprob < NO_SPEECH_LOGPROB || t.looped) {
        return Some(format!("no speech (p {:.2}, mean log-probability {:.2})", t.no_speech_prob, t.avg_logprob));
    }
    if let Some(r) = repetition(&t.text) {
        return Some(format!("repetition loop: {r}"));
    }
    // measured: breath-like bursts decode (without the voice detector) as "It's a good thing."
    // at p 0.38 and a mean log-probability of -2.22; spoken briefs and commands score above -1
    if t.avg_logprob < UNSURE_LOGPROB && t.no_speech_prob > UNSURE_NO_SPEECH {
        return Some(format!(
            "unsure of every word (mean log-probability {:.2}, p(no speech) {:.2})",
            t.avg_logprob, t.no_speech_prob
        ));
    }
    if t.looped && t.avg_logprob < LOOPED_MIN_LOGPROB {
        return Some(format!("the decoder looped, unsure of its words (mean log-probability {:.2})", t.avg_logprob));
    }
    None
}

/// Text decoded this unsure of its words, where the model also leaned
/// towards no speech, is taken as invented.
pub const UNSURE_LOGPROB: f32 = -1.5;
pub const UNSURE_NO_SPEECH: f32 = 0.2;

/// A decode that looped is kept (once) only when it was this sure of its words.
pub const LOOPED_MIN_LOGPROB: f32 = -0.7;

/// Keep a phrase once where the decoder said it again right after itself:
/// "Merge task 4, Merge task 4" → "Merge task 4"; a word said three or more
/// times in a row is kept once. Words compare without case and punctuation.
pub fn collapse_repeats(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let norm: Vec<String> =
        words.iter().map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase()).collect();
    let mut keep: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let mut skipped = false;
        for n in (1..=8usize).rev() {
            let need = if n == 1 { 3 } else { 2 };
            if i + n * need > words.len() {
                continue;
            }
            let unit = &norm[i..i + n];
            if (1..need).all(|k| &norm[i + k * n..i + (k + 1) * n] == unit) {
                // keep one copy, then skip every further copy
                keep.extend(&words[i..i + n]);
                let mut j = i + n;
                while j + n <= words.len() && &norm[j..j + n] == unit {
                    j += n;
                }
                // a trailing partial copy is the loop's cut-off start
                let rest = words.len() - j;
                if rest < n && rest > 0 && norm[j..] == unit[..rest] {
                    j = words.len();
                }
                i = j;
                skipped = true;
                break;
            }
        }
        if !skipped {
            keep.push(words[i]);
            i += 1;
        }
    }
    let mut out = keep.join(" ");
    // the kept copy ends where its repeat began: ", " or "" → end it cleanly
    if out.ends_with(',') {
        out.pop();
        out.push('.');
    }
    out
}

/// A decoder loop in `text`: a phrase of 1–8 words said three times in a
/// row (a single word four times), or text that compresses too well (many
/// words, few distinct ones). Returns the repeated phrase.
pub fn repetition(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase())
        .filter(|w| !w.is_empty())
        .collect();
    for n in 1..=8usize {
        let need = if n == 1 { 4 } else { 3 };
        if words.len() < n * need {
            break;
        }
        for start in 0..=words.len() - n * need {
            let phrase = &words[start..start + n];
            if (1..need).all(|k| &words[start + k * n..start + (k + 1) * n] == phrase) {
                return Some(phrase.join(" "));
            }
        }
    }
    if words.len() >= 24 {
        let distinct: std::collections::HashSet<&String> = words.iter().collect();
        if (distinct.len() as f64) < words.len() as f64 * 0.3 {
            return Some(format!("{} words, {} distinct", words.len(), distinct.len()));
        }
    }
    None
}

/// The most text tokens one 30 s window may produce: about 7 per second of
/// audio (fast speech is ~4), plus room for a short answer.
pub fn token_cap(duration_s: f64) -> usize {
    12 + (duration_s.clamp(0.0, 30.0) * 7.0).ceil() as usize
}

/// The prompt for the next piece of a long clip: the vocabulary prompt, then
/// the end of the text before (at most 600 characters in all, whole words).
pub fn previous_text_prompt(vocabulary: &str, before: &str) -> String {
    let room = 600usize.saturating_sub(vocabulary.len() + 1);
    let mut tail: Vec<&str> = Vec::new();
    let mut len = 0;
    for w in before.split_whitespace().rev() {
        if len + w.len() + 1 > room {
            break;
        }
        len += w.len() + 1;
        tail.push(w);
    }
    tail.reverse();
    format!("{vocabulary} {}", tail.join(" ")).trim().to_string()
}

/// The initial prompt: the words the user is likely to say that Whisper would
/// otherwise spell its own way.
pub fn vocabulary_prompt(cfg: &Config) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut add = |w: &str| {
        let w = w.trim();
        if !w.is_empty() && !words.iter().any(|x| x.eq_ignore_ascii_case(w)) {
            words.push(w.to_string());
        }
    };
    for r in &cfg.repos {
        add(&r.name);
        for a in &r.aliases {
            add(a);
        }
    }
    for name in cfg.agents.keys() {
        add(name);
    }
    for c in cfg.check_names() {
        add(&c);
    }
    for v in &cfg.voice.vocabulary {
        add(v);
    }
    if words.is_empty() {
        return String::new();
    }
    // whisper keeps at most half its 448-token context of prompt
    let mut out = String::from("Glossary:");
    for w in words {
        if out.len() + w.len() + 2 > 600 {
            break;
        }
        out.push(' ');
        out.push_str(&w.replace(['\n', '\0'], " "));
        out.push(',');
    }
    out.pop();
    out.push('.');
    out
}

/// A manifest name or a path, as `[voice] model` and `--model` take it.
/// Returns the file and, for a manifest name, that name (for fetch advice).
pub fn resolve_model(spec: &str, data: &DataDir) -> Result<(PathBuf, Option<String>), TranscribeError> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err(TranscribeError::Resolve("no speech model configured: set [voice] model (e.g. \"base.en\")".into()));
    }
    let looks_like_path = spec.contains('/') || spec.ends_with(".bin") || spec.starts_with('~');
    if looks_like_path {
        let p = match spec.strip_prefix("~/") {
            Some(rest) => std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(rest),
            None => PathBuf::from(spec),
        };
        return Ok((p, None));
    }
    match models::find(spec) {
        Some(m) => Ok((data.models().join(&m.file), Some(m.name.clone()))),
        None => Err(TranscribeError::Resolve(format!(
            "unknown model `{spec}`; known: {} (or give a path to a ggml file)",
            models::manifest().models.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// A warm whisper.cpp model.
pub struct Transcriber {
    engine: Mutex<Engine>,
    info: ModelInfo,
    settings: Settings,
    load_ms: Mutex<Option<f64>>,
    commands: (Grammar, RuleTable),
    confirm: (Grammar, RuleTable),
    cpu: cpu::CpuWatch,
}

impl Transcriber {
    /// Validate and load the model at `path`. `fetch_name` is its manifest name, if any.
    pub fn load(path: &Path, fetch_name: Option<&str>, settings: Settings) -> Result<Transcriber, TranscribeError> {
        let t = Instant::now();
        let cpu = cpu::CpuWatch::default();
        // `main` took the process's first CPU sample; a library user's is taken here
        cpu::mark_process_start();
        let info = validate(path, fetch_name)?;
        let engine = Engine::load(path)?;
        let load_ms = t.elapsed().as_secs_f64() * 1000.0;
        let commands = Grammar::parse(grammar::COMMANDS)?;
        let confirm = Grammar::parse(grammar::CONFIRM)?;
        let (ct, yt) = (commands.rule_table(), confirm.rule_table());
        tracing::info!(model = %path.display(), weights = info.weights, size = info.size_class, load_ms = load_ms as u64, threads = %if settings.threads == 0 { "auto".to_string() } else { settings.threads.to_string() }, "speech model loaded");
        Ok(Transcriber {
            engine: Mutex::new(engine),
            info,
            settings,
            load_ms: Mutex::new(Some(load_ms)),
            commands: (commands, ct),
            confirm: (confirm, yt),
            cpu,
        })
    }

    /// Note the CPU's times now (the key was pressed): the next decode
    /// chooses its threads by what other work did since ([`cpu`]).
    pub fn mark_cpu(&self) {
        self.cpu.mark();
    }

    /// Threads for a decode starting now, while `others` more decodes run in
    /// this process (their time is this process's own, which the CPU watch
    /// leaves out, so they would not be seen): then one.
    fn threads_now(&self, others: usize) -> (usize, Option<cpu::Decision>) {
        if self.settings.threads > 0 {
            return (self.settings.threads, None);
        }
        if others > 0 {
            return (1, None);
        }
        match self.cpu.threads(physical_cores()) {
            Some(d) => (d.threads, Some(d)),
            None => (default_threads(), None),
        }
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Transcribe 16 kHz mono samples on this thread.
    pub fn transcribe_blocking(&self, samples: &[f32], mode: Mode) -> Result<Transcript, TranscribeError> {
        self.run(samples, mode, false)
    }

    /// The same clip with whisper.cpp's default parameters (full window, no
    /// cap, no prompt, temperature fallback): the benchmark's baseline.
    pub fn transcribe_with_library_defaults(&self, samples: &[f32]) -> Result<Transcript, TranscribeError> {
        self.run(samples, Mode::Free, true)
    }

    fn run(&self, samples: &[f32], mode: Mode, library_defaults: bool) -> Result<Transcript, TranscribeError> {
        self.run_with(samples, mode, &RunOptions { library_defaults, ..Default::default() })
    }

    /// Decode with the options a streaming pass or tail needs.
    pub(crate) fn run_with(&self, samples: &[f32], mode: Mode, opts: &RunOptions) -> Result<Transcript, TranscribeError> {
        if !opts.library_defaults && mode == Mode::Free {
            let cuts = long::cuts(samples);
            if !cuts.is_empty() {
                return self.run_pieces(samples, &cuts, opts);
            }
        }
        let mut t = self.run_window(samples, mode, opts)?;
        if !opts.library_defaults && mode == Mode::Free {
            t.lost = self.lost_speech(samples, &t.text, 0.0);
        }
        Ok(t)
    }

    /// A clip longer than one window, decoded piece by piece ([`long`]) and joined. A piece
    /// already decoded while the key was held (`opts.early`, [`ahead`]) is not decoded again.
    fn run_pieces(&self, samples: &[f32], cuts: &[usize], opts: &RunOptions) -> Result<Transcript, TranscribeError> {
        let t0 = Instant::now();
        let mut bounds = vec![0];
        bounds.extend_from_slice(cuts);
        bounds.push(samples.len());
        let mut all: Option<Transcript> = None;
        let (mut logprob_sum, mut tokens) = (0f64, 0usize);
        let mut chain = PieceChain::new(self, opts);
        let mut held = 0;
        for (i, w) in bounds.windows(2).enumerate() {
            let piece = &samples[w[0]..w[1]];
            let at = w[0] as f64 / SAMPLE_RATE as f64;
            let early = opts.early.get(i).filter(|e| e.start == w[0] && e.end == w[1] && e.hash == ahead::hash(piece));
            let (mut t, lost) = match early {
                Some(e) => {
                    held += 1;
                    chain.follow(&e.transcript.text);
                    (e.transcript.clone(), e.lost.clone())
                }
                None => chain.decode(self, piece, at)?,
            };
            let n = t.text.split_whitespace().count().max(1);
            logprob_sum += t.avg_logprob as f64 * n as f64;
            tokens += n;
            for s in &mut t.segments {
                s.t0 += at;
                s.t1 += at;
            }
            all = Some(match all.take() {
                None => Transcript { lost, ..t },
                Some(mut a) => {
                    a.text = format!("{} {}", a.text, t.text).trim().to_string();
                    a.segments.extend(t.segments);
                    a.audio_ctx = a.audio_ctx.max(t.audio_ctx);
                    a.text_tokens = a.text_tokens.max(t.text_tokens);
                    a.timings.encode_ms += t.timings.encode_ms;
                    a.timings.decode_ms += t.timings.decode_ms;
                    a.timings.load_ms += t.timings.load_ms;
                    a.looped |= t.looped;
                    a.lost = a.lost.or(lost);
                    a
                }
            });
        }
        let mut t = all.expect("at least two pieces");
        t.duration_s = samples.len() as f64 / SAMPLE_RATE as f64;
        t.avg_logprob = (logprob_sum / tokens.max(1) as f64) as f32;
        t.held_pieces = held;
        t.timings.total_ms = t0.elapsed().as_secs_f64() * 1000.0;
        Ok(t)
    }

    /// Whether a decode of `samples` lost its speech: how many seconds of voice, how few words.
    fn lost_speech(&self, samples: &[f32], text: &str, at: f64) -> Option<String> {
        let voiced = capture::gate::judge(samples, &self.settings.gate).voiced_ms;
        let words = text.split_whitespace().count();
        long::too_few_words(words, voiced).then(|| {
            format!("{:.0} s of speech from {at:.0} s decoded to {words} word(s)", voiced as f64 / 1000.0)
        })
    }

    /// One decode of at most one window.
    fn run_window(&self, samples: &[f32], mode: Mode, opts: &RunOptions) -> Result<Transcript, TranscribeError> {
        let library_defaults = opts.library_defaults;
        let t = Instant::now();
        let duration_s = samples.len() as f64 / SAMPLE_RATE as f64;
        let audio_ctx =
            if library_defaults { 1500 } else { audio_ctx_for(duration_s + END_PAD_SECONDS, self.settings.full_window) };
        let (grammar, prompt) = match mode {
            Mode::Free => (None, opts.prompt.as_deref().unwrap_or(self.settings.prompt.as_str())),
            Mode::Commands => (Some((&self.commands.0, &self.commands.1, GRAMMAR_PENALTY)), grammar::COMMANDS_PROMPT),
            Mode::Confirm => (Some((&self.confirm.0, &self.confirm.1, GRAMMAR_PENALTY)), grammar::CONFIRM_PROMPT),
        };
        // silence after the clip so its last word is not cut off; whisper.cpp
        // also skips input shorter than one second
        let min_len = SAMPLE_RATE as usize * 11 / 10;
        let pad = (END_PAD_SECONDS * SAMPLE_RATE as f64) as usize;
        let mut input = Vec::with_capacity((samples.len() + pad).max(min_len));
        input.extend_from_slice(samples);
        if !library_defaults {
            input.resize(samples.len() + pad, 0.0);
        }
        if input.len() < min_len {
            input.resize(min_len, 0.0);
        }
        let mut req = DecodeRequest {
            threads: 1,
            audio_ctx: if audio_ctx >= 1500 { 0 } else { audio_ctx },
            max_tokens: match (library_defaults, mode) {
                (true, _) => usize::MAX,
                (false, Mode::Free) => token_cap(duration_s),
                // commands are short, but a cut one is useless: leave room to finish
                (false, _) => token_cap(duration_s).max(48),
            },
            initial_prompt: prompt,
            language: &self.settings.language,
            grammar,
            library_defaults,
            abort: opts.abort.as_deref(),
        };
        // threads are chosen once the engine is ours: a decode waiting for it
        // (the release while a streaming chunk finishes) is not a rival
        let (decoded, threads, threads_basis) = {
            let mut engine = self.engine.lock().unwrap_or_else(|p| p.into_inner());
            let decoding = cpu::Decoding::start();
            let (threads, basis) = self.threads_now(decoding.others());
            req.threads = threads as i32;
            let decoded = engine.decode(&input, &req);
            self.cpu.mark();
            (decoded, threads, basis)
        };
        let decoded = decoded?;
        let raw: String = decoded.segments.iter().map(|s| s.2.as_str()).collect();
        let in_grammar = grammar.map(|(g, _, _)| g.accepts(&raw));
        let load_ms = self.load_ms.lock().unwrap_or_else(|p| p.into_inner()).take().unwrap_or(0.0);
        let text = if decoded.looped { collapse_repeats(raw.trim()) } else { raw.trim().to_string() };
        Ok(Transcript {
            text,
            segments: decoded
                .segments
                .into_iter()
                .map(|(t0, t1, text)| {
                    // without timestamp tokens whisper.cpp's segment times are only window bounds
                    let t1 = t1.clamp(0.0, duration_s);
                    Segment { t0: t0.clamp(0.0, t1), t1, text: text.trim().to_string() }
                })
                .collect(),
            duration_s,
            audio_ctx,
            timings: Timings {
                load_ms,
                encode_ms: decoded.encode_ms,
                decode_ms: decoded.decode_ms,
                total_ms: t.elapsed().as_secs_f64() * 1000.0,
            },
            mode,
            in_grammar,
            text_tokens: decoded.text_tokens,
            model: self.info.path.display().to_string(),
            no_speech_prob: decoded.no_speech_prob,
            avg_logprob: decoded.avg_logprob,
            free_score: decoded.free_score,
            threads,
            threads_basis,
            fallback: false,
            looped: decoded.looped,
            lost: None,
            held_pieces: 0,
        })
    }

    /// The whole path from a recorded clip to text the daemon may act on:
    /// the energy gate, the voice detector, command or free decoding (a poor
    /// grammar decode falls back to free decoding), then the checks against
    /// invented text ([`rejection`]). `expected` is [`Mode::Confirm`] while a
    /// question is pending, else [`Mode::Free`].
    pub fn hear(&self, samples: &[f32], expected: Mode, decode: Option<DecodeMode>) -> Result<Hearing, TranscribeError> {
        self.hear_with_early(samples, expected, decode, Vec::new())
    }

    /// [`Transcriber::hear`], given the pieces of a long clip decoded while the key was
    /// held ([`ahead`]): a piece whose audio is the same is not decoded again.
    pub(crate) fn hear_with_early(
        &self,
        samples: &[f32],
        expected: Mode,
        decode: Option<DecodeMode>,
        early: Vec<ahead::EarlyPiece>,
    ) -> Result<Hearing, TranscribeError> {
        let duration_s = samples.len() as f64 / SAMPLE_RATE as f64;
        let mut h = self.screen(samples);
        if h.rejected.is_some() {
            return Ok(h);
        }
        let decode = decode.unwrap_or(self.settings.decode);
        let first = match (expected, decode) {
            (Mode::Confirm, _) if duration_s <= GRAMMAR_MAX_SECONDS => Mode::Confirm,
            (_, DecodeMode::Command) => Mode::Commands,
            (_, DecodeMode::Auto) if duration_s <= COMMAND_MAX_SECONDS => Mode::Commands,
            _ => Mode::Free,
        };
        let mut t = self.run_with(samples, first, &RunOptions { early, ..Default::default() })?;
        let mut set_aside = None;
        if first != Mode::Free && grammar_decode_is_poor(&t) {
            let spent = t.timings.total_ms;
            let (tried, score, free) = (t.text.clone(), t.avg_logprob, t.free_score);
            if first == Mode::Commands && t.in_grammar == Some(true) {
                set_aside = Some(tried.clone());
            }
            t = self.run(samples, Mode::Free, false)?;
            t.fallback = true;
            t.free_score = free;
            t.timings.total_ms += spent;
            tracing::debug!(grammar_text = %tried, score, ?free, free_text = %t.text, "grammar decode scored poorly; decoded freely");
        }
        self.conclude(&mut h, t, set_aside.as_deref());
        Ok(h)
    }

    /// The checks against invented text, and a short free decode that is a
    /// near-miss of a command ([`nearmiss`]): of a command verb, or of the
    /// command a poorly scored grammar decode (`set_aside`) gave. Such a
    /// hearing is rejected, with the command to ask back about.
    pub(crate) fn conclude(&self, h: &mut Hearing, t: Transcript, set_aside: Option<&str>) {
        h.rejected = rejection(&t);
        if h.rejected.is_none()
            && t.mode == Mode::Free
            && let Some(said) = nearmiss::ask_back(&t.text, &self.commands.0)
                .or_else(|| {
                    // a free text that is itself a command is read as heard
                    let command = self.commands.0.accepts(&format!(" {}", t.text.trim()));
                    set_aside.filter(|_| !command).and_then(|g| nearmiss::ask_back_grammar(&t.text, g))
                })
        {
            h.rejected = Some(format!("heard {:?}, a near-miss of a command: asked back", t.text));
            h.ask_back = Some(said);
        }
        h.transcript = Some(t);
    }
}

/// How [`Transcriber::run_with`] decodes, beyond the mode.
#[derive(Default)]
pub(crate) struct RunOptions {
    pub library_defaults: bool,
    /// The initial prompt for free decoding instead of the vocabulary prompt.
    pub prompt: Option<String>,
    /// Stops the decode early when set.
    pub abort: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// Pieces of this clip decoded while the key was held ([`ahead`]), in order.
    pub early: Vec<ahead::EarlyPiece>,
}

/// The pieces of a long clip, decoded one after another with the options each needs:
/// the same whether a piece is decoded while the key is held ([`ahead`]) or after release.
pub(crate) struct PieceChain {
    base: String,
    opts: RunOptions,
    condition_previous: bool,
}

impl PieceChain {
    pub(crate) fn new(t: &Transcriber, opts: &RunOptions) -> PieceChain {
        PieceChain {
            base: opts.prompt.as_deref().unwrap_or(t.settings.prompt.as_str()).to_string(),
            opts: RunOptions { library_defaults: opts.library_defaults, prompt: opts.prompt.clone(), abort: opts.abort.clone(), early: Vec::new() },
            condition_previous: t.settings.condition_previous,
        }
    }

    /// Decode the next piece, which starts `at` seconds into the clip: its text, and
    /// whether it lost its speech.
    pub(crate) fn decode(&mut self, t: &Transcriber, piece: &[f32], at: f64) -> Result<(Transcript, Option<String>), TranscribeError> {
        let tr = t.run_window(piece, Mode::Free, &self.opts)?;
        self.follow(&tr.text);
        let lost = t.lost_speech(piece, &tr.text, at);
        Ok((tr, lost))
    }

    /// The next piece follows one whose text was `text`.
    pub(crate) fn follow(&mut self, text: &str) {
        if self.condition_previous {
            self.opts.prompt = Some(previous_text_prompt(&self.base, text));
        }
    }
}

impl Transcriber {
    /// The energy gate and the voice detector over a clip: a [`Hearing`]
    /// with `rejected` set when the clip holds no voice.
    fn screen(&self, samples: &[f32]) -> Hearing {
        let gate = capture::gate::judge(samples, &self.settings.gate);
        let mut h = Hearing { gate, vad: None, transcript: None, rejected: None, ask_back: None, stream: None };
        if !h.gate.heard {
            h.rejected = Some(format!("nothing heard: {}", h.gate.reason.clone().unwrap_or_default()));
            return h;
        }
        let vad = self.settings.vad.judge(samples);
        let voice = vad.voice;
        h.vad = Some(vad);
        if !voice {
            let v = h.vad.as_ref().map(|v| (v.voiced_ms, v.best_periodicity)).unwrap_or_default();
            h.rejected = Some(format!("no voice ({} ms voiced, best periodicity {:.2})", v.0, v.1));
        }
        h
    }
}

/// What [`Transcriber::hear`] made of a clip.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hearing {
    pub gate: capture::gate::Verdict,
    pub vad: Option<capture::vad::VadVerdict>,
    /// The decode, when the clip reached the model (kept even when rejected).
    pub transcript: Option<Transcript>,
    /// Why the clip must not be acted on; `None` means act on the text.
    pub rejected: Option<String>,
    /// With `rejected`: the command the text was a near-miss of ("Stop the
    /// CSS agent." for "Top the CSS agent."), to ask back about
    /// ([`nearmiss::question`]: "Did you say stop the CSS agent?").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask_back: Option<String>,
    /// What transcription while the key was held did ([`stream`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<stream::StreamReport>,
}

impl Hearing {
    /// The text to act on: empty when rejected.
    pub fn text(&self) -> &str {
        match (&self.rejected, &self.transcript) {
            (None, Some(t)) => &t.text,
            _ => "",
        }
    }
}

/// The speech model as the daemon sees it.
#[async_trait::async_trait]
pub trait SpeechModel: Send + Sync {
    /// Transcribe 16 kHz mono samples.
    async fn transcribe(&self, samples: Arc<Vec<f32>>, mode: Mode) -> Result<Transcript, TranscribeError>;
    /// Gate, voice detector, decode and the checks against invented text
    /// ([`Transcriber::hear`]).
    async fn hear(&self, samples: Arc<Vec<f32>>, expected: Mode) -> Result<Hearing, TranscribeError>;
    /// A short description for logs and the tray.
    fn describe(&self) -> String;
    /// A recording started: what the CPU does from now on decides the threads
    /// its decode gets ([`Transcriber::mark_cpu`]).
    fn recording_started(&self) {}
    /// Start transcribing a recording while it is made, from `audio` (the
    /// recorder's tap); `None` when this model cannot.
    fn live(&self, _audio: std::sync::mpsc::Receiver<Vec<f32>>) -> Option<Box<dyn LiveHearing>> {
        None
    }
    /// Decode the pieces of a long recording while it is made, from `audio` (the
    /// recorder's tap), each as soon as it is final ([`ahead::Ahead`]); `None` when this
    /// model cannot.
    fn ahead(&self, _audio: std::sync::mpsc::Receiver<Vec<f32>>) -> Option<Box<dyn LiveHearing>> {
        None
    }
}

/// A recording being transcribed while it is made ([`stream::Live`]).
pub trait LiveHearing: Send {
    /// The recording ended as `samples` (the whole clip): the transcript.
    fn finish(self: Box<Self>, samples: &[f32], expected: Mode) -> Result<Hearing, TranscribeError>;
}

impl LiveHearing for stream::Live {
    fn finish(self: Box<Self>, samples: &[f32], expected: Mode) -> Result<Hearing, TranscribeError> {
        stream::Live::finish(*self, samples, expected)
    }
}

impl LiveHearing for ahead::Ahead {
    fn finish(self: Box<Self>, samples: &[f32], expected: Mode) -> Result<Hearing, TranscribeError> {
        ahead::Ahead::finish(*self, samples, expected)
    }
}

/// whisper.cpp behind [`SpeechModel`]: inference runs on tokio's blocking pool.
#[derive(Clone)]
pub struct WhisperModel(pub Arc<Transcriber>);

#[async_trait::async_trait]
impl SpeechModel for WhisperModel {
    async fn transcribe(&self, samples: Arc<Vec<f32>>, mode: Mode) -> Result<Transcript, TranscribeError> {
        let t = self.0.clone();
        tokio::task::spawn_blocking(move || t.transcribe_blocking(&samples, mode))
            .await
            .map_err(|e| TranscribeError::Join(e.to_string()))?
    }

    async fn hear(&self, samples: Arc<Vec<f32>>, expected: Mode) -> Result<Hearing, TranscribeError> {
        let t = self.0.clone();
        tokio::task::spawn_blocking(move || t.hear(&samples, expected, None))
            .await
            .map_err(|e| TranscribeError::Join(e.to_string()))?
    }

    fn live(&self, audio: std::sync::mpsc::Receiver<Vec<f32>>) -> Option<Box<dyn LiveHearing>> {
        match stream::Live::start(self.0.clone(), audio) {
            Ok(l) => Some(Box::new(l)),
            Err(e) => {
                tracing::warn!("cannot start the streaming thread: {e}; the clip is decoded at release");
                None
            }
        }
    }

    fn ahead(&self, audio: std::sync::mpsc::Receiver<Vec<f32>>) -> Option<Box<dyn LiveHearing>> {
        match ahead::Ahead::start(self.0.clone(), audio) {
            Ok(a) => Some(Box::new(a)),
            Err(e) => {
                tracing::warn!("cannot start the thread that decodes long briefs while the key is held: {e}; the clip is decoded at release");
                None
            }
        }
    }

    fn recording_started(&self) {
        self.0.mark_cpu();
    }

    fn describe(&self) -> String {
        let i = self.0.info();
        format!("{} ({}, {})", i.path.display(), i.size_class, i.weights)
    }
}

#[cfg(test)]
mod tests;
