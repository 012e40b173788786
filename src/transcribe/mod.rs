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

pub mod ggml;
pub mod grammar;
pub mod models;
pub mod testmodel;
pub mod validate;

mod engine;

pub use engine::EngineError;
pub use validate::{ModelError, ModelInfo, Problem, validate};

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
/// Extra encoder frames beyond the clip, so the last word is not cut.
pub const AUDIO_CTX_MARGIN: i32 = 64;
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
    pub threads: usize,
    pub full_window: bool,
    pub language: String,
    /// The vocabulary prompt for free-form briefs.
    pub prompt: String,
}

impl Settings {
    pub fn from_config(cfg: &Config) -> Settings {
        Settings {
            threads: if cfg.voice.threads == 0 { physical_cores() } else { cfg.voice.threads },
            full_window: cfg.voice.full_window,
            language: if cfg.voice.language.trim().is_empty() { "en".into() } else { cfg.voice.language.clone() },
            prompt: vocabulary_prompt(cfg),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings { threads: physical_cores(), full_window: false, language: "en".into(), prompt: String::new() }
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
    ((frames + 31) / 32 * 32).min(full)
}

/// The most text tokens one 30 s window may produce: about 7 per second of
/// audio (fast speech is ~4), plus room for a short answer.
pub fn token_cap(duration_s: f64) -> usize {
    12 + (duration_s.clamp(0.0, 30.0) * 7.0).ceil() as usize
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
}

impl Transcriber {
    /// Validate and load the model at `path`. `fetch_name` is its manifest name, if any.
    pub fn load(path: &Path, fetch_name: Option<&str>, settings: Settings) -> Result<Transcriber, TranscribeError> {
        let t = Instant::now();
        let info = validate(path, fetch_name)?;
        let engine = Engine::load(path)?;
        let load_ms = t.elapsed().as_secs_f64() * 1000.0;
        let commands = Grammar::parse(grammar::COMMANDS)?;
        let confirm = Grammar::parse(grammar::CONFIRM)?;
        let (ct, yt) = (commands.rule_table(), confirm.rule_table());
        tracing::info!(model = %path.display(), weights = info.weights, size = info.size_class, load_ms = load_ms as u64, threads = settings.threads, "speech model loaded");
        Ok(Transcriber {
            engine: Mutex::new(engine),
            info,
            settings,
            load_ms: Mutex::new(Some(load_ms)),
            commands: (commands, ct),
            confirm: (confirm, yt),
        })
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
        let t = Instant::now();
        let duration_s = samples.len() as f64 / SAMPLE_RATE as f64;
        let audio_ctx = if library_defaults { 1500 } else { audio_ctx_for(duration_s, self.settings.full_window) };
        let (grammar, prompt) = match mode {
            Mode::Free => (None, self.settings.prompt.as_str()),
            Mode::Commands => (Some((&self.commands.0, &self.commands.1, GRAMMAR_PENALTY)), grammar::COMMANDS_PROMPT),
            Mode::Confirm => (Some((&self.confirm.0, &self.confirm.1, GRAMMAR_PENALTY)), grammar::CONFIRM_PROMPT),
        };
        // whisper.cpp skips input shorter than one second; pad with silence
        let padded: Vec<f32>;
        let min_len = SAMPLE_RATE as usize * 11 / 10;
        let input: &[f32] = if samples.len() < min_len {
            let mut v = samples.to_vec();
            v.resize(min_len, 0.0);
            padded = v;
            &padded
        } else {
            samples
        };
        let req = DecodeRequest {
            threads: self.settings.threads as i32,
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
        };
        let decoded = {
            let mut engine = self.engine.lock().unwrap_or_else(|p| p.into_inner());
            engine.decode(input, &req)?
        };
        let raw: String = decoded.segments.iter().map(|s| s.2.as_str()).collect();
        let in_grammar = grammar.map(|(g, _, _)| g.accepts(&raw));
        let load_ms = self.load_ms.lock().unwrap_or_else(|p| p.into_inner()).take().unwrap_or(0.0);
        Ok(Transcript {
            text: raw.trim().to_string(),
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
        })
    }
}

/// The speech model as the daemon sees it.
#[async_trait::async_trait]
pub trait SpeechModel: Send + Sync {
    /// Transcribe 16 kHz mono samples.
    async fn transcribe(&self, samples: Arc<Vec<f32>>, mode: Mode) -> Result<Transcript, TranscribeError>;
    /// A short description for logs and the tray.
    fn describe(&self) -> String;
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

    fn describe(&self) -> String {
        let i = self.0.info();
        format!("{} ({}, {})", i.path.display(), i.size_class, i.weights)
    }
}

#[cfg(test)]
mod tests;
