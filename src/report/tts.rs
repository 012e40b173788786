//! Text to speech behind the [`Speaker`] trait.
//!
//! - [`Espeak`]: espeak-ng linked through libespeak-ng (no subprocess per sentence).
//!   espeak-ng keeps global state and is not thread-safe, so one worker thread
//!   owns it for the whole process and every request goes through it in turn.
//! - [`CommandSpeaker`]: any program that reads text and writes a WAV (piper and
//!   friends), run from an argv, never through a shell.
//!
//! Errors are values; nothing here panics on bad input or a missing engine.

use crate::config::Speech;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Mono audio.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pcm {
    /// Samples in -1.0 ..= 1.0.
    pub samples: Vec<f32>,
    pub sample_rate: u32,
}

impl Pcm {
    pub fn new(samples: Vec<f32>, sample_rate: u32) -> Pcm {
        Pcm { samples, sample_rate }
    }

    pub fn from_i16(samples: &[i16], sample_rate: u32) -> Pcm {
        Pcm { samples: samples.iter().map(|&s| s as f32 / 32768.0).collect(), sample_rate }
    }

    /// `ms` milliseconds of silence.
    pub fn silence(ms: u32, sample_rate: u32) -> Pcm {
        Pcm { samples: vec![0.0; (sample_rate as u64 * ms as u64 / 1000) as usize], sample_rate }
    }

    pub fn to_i16(&self) -> Vec<i16> {
        self.samples.iter().map(|&s| (s.clamp(-1.0, 1.0) * 32767.0).round() as i16).collect()
    }

    pub fn duration(&self) -> Duration {
        if self.sample_rate == 0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(self.samples.len() as f64 / self.sample_rate as f64)
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Root mean square level, 0 ..= 1.
    pub fn rms(&self) -> f32 {
        if self.samples.is_empty() {
            return 0.0;
        }
        (self.samples.iter().map(|s| s * s).sum::<f32>() / self.samples.len() as f32).sqrt()
    }

    pub fn peak(&self) -> f32 {
        self.samples.iter().fold(0.0f32, |m, s| m.max(s.abs()))
    }

    /// Append another clip; it is resampled (linearly) when its rate differs.
    pub fn append(&mut self, other: &Pcm) {
        if self.samples.is_empty() && self.sample_rate == 0 {
            self.sample_rate = other.sample_rate;
        }
        if other.sample_rate == self.sample_rate || other.sample_rate == 0 {
            self.samples.extend_from_slice(&other.samples);
        } else {
            self.samples.extend(resample_linear(&other.samples, other.sample_rate, self.sample_rate));
        }
    }
}

/// Plain linear resampling: good enough for speech going into a file or a speaker.
pub fn resample_linear(samples: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || samples.is_empty() || from == 0 || to == 0 {
        return samples.to_vec();
    }
    let out_len = (samples.len() as u64 * to as u64 / from as u64) as usize;
    let step = from as f64 / to as f64;
    (0..out_len)
        .map(|i| {
            let pos = i as f64 * step;
            let j = pos.floor() as usize;
            let frac = (pos - j as f64) as f32;
            let a = samples[j.min(samples.len() - 1)];
            let b = samples[(j + 1).min(samples.len() - 1)];
            a + (b - a) * frac
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    #[error("speech is turned off ([speech] engine = \"none\")")]
    Disabled,
    #[error("unknown speech engine {0:?}: use \"espeak-ng\", \"command\" or \"none\"")]
    UnknownEngine(String),
    #[error("espeak-ng could not start: {0} (is espeak-ng-data installed?)")]
    EspeakInit(String),
    #[error("espeak-ng has no voice {0:?} (espeak-ng --voices lists them)")]
    Voice(String),
    #[error("espeak-ng failed to synthesize: {0}")]
    Synth(String),
    #[error("[speech] command is empty: give the argv of a program that writes a WAV to {{out}}")]
    NoCommand,
    #[error("speech command {program:?} could not run: {message}")]
    Spawn { program: String, message: String },
    #[error("speech command {program:?} exited with {status}: {stderr}")]
    CommandFailed { program: String, status: String, stderr: String },
    #[error("speech command {program:?} took longer than {secs} s")]
    Timeout { program: String, secs: u64 },
    #[error("cannot read the speech command's WAV {path}: {message}")]
    Wav { path: String, message: String },
    #[error("speech I/O error: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, TtsError>;

/// Anything that turns text into audio.
pub trait Speaker: Send + Sync {
    fn synthesize(&self, text: &str) -> Result<Pcm>;

    /// A short name for logs ("espeak-ng", "command piper").
    fn name(&self) -> String;
}

/// The speaker `[speech]` asks for. `engine = "none"` gives [`TtsError::Disabled`].
pub fn from_config(speech: &Speech) -> Result<Arc<dyn Speaker>> {
    match speech.engine.trim() {
        "" | "espeak-ng" | "espeak" => Ok(Arc::new(Espeak::new(EspeakSettings::from_config(speech))?)),
        "command" => Ok(Arc::new(CommandSpeaker::new(speech.command.clone())?)),
        "none" => Err(TtsError::Disabled),
        other => Err(TtsError::UnknownEngine(other.to_string())),
    }
}

// ---------------------------------------------------------------------------
// espeak-ng, linked

#[derive(Debug, Clone, PartialEq)]
pub struct EspeakSettings {
    pub voice: String,
    /// Words per minute, 80 ..= 450.
    pub rate: u32,
    /// 0.0 ..= 2.0; 1.0 is espeak's normal volume.
    pub volume: f32,
}

impl Default for EspeakSettings {
    fn default() -> Self {
        EspeakSettings { voice: "en-us".to_string(), rate: 175, volume: 1.0 }
    }
}

impl EspeakSettings {
    pub fn from_config(s: &Speech) -> EspeakSettings {
        EspeakSettings {
            voice: if s.voice.trim().is_empty() { "en-us".to_string() } else { s.voice.trim().to_string() },
            rate: s.rate,
            volume: s.volume,
        }
    }
}

mod ffi {
    use std::os::raw::{c_char, c_int, c_short, c_uint, c_void};

    pub const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
    pub const INITIALIZE_DONT_EXIT: c_int = 0x8000;
    pub const POS_CHARACTER: c_int = 1;
    pub const CHARS_UTF8: c_uint = 1;
    pub const ENDPAUSE: c_uint = 0x1000;
    pub const PARAM_RATE: c_int = 1;
    pub const PARAM_VOLUME: c_int = 2;
    pub const EE_OK: c_int = 0;

    pub type SynthCallback = unsafe extern "C" fn(*mut c_short, c_int, *mut c_void) -> c_int;

    #[link(name = "espeak-ng")]
    unsafe extern "C" {
        pub fn espeak_Initialize(output: c_int, buflength: c_int, path: *const c_char, options: c_int) -> c_int;
        pub fn espeak_SetSynthCallback(cb: SynthCallback);
        pub fn espeak_SetVoiceByName(name: *const c_char) -> c_int;
        pub fn espeak_SetParameter(parameter: c_int, value: c_int, relative: c_int) -> c_int;
        pub fn espeak_Synth(
            text: *const c_void,
            size: usize,
            position: c_uint,
            position_type: c_int,
            end_position: c_uint,
            flags: c_uint,
            unique_identifier: *mut c_uint,
            user_data: *mut c_void,
        ) -> c_int;
    }
}

thread_local! {
    /// Samples the synth callback collects. Only the espeak worker thread touches it;
    /// in synchronous mode espeak calls back on the thread that called espeak_Synth.
    static COLLECTED: std::cell::RefCell<Vec<i16>> = const { std::cell::RefCell::new(Vec::new()) };
}

unsafe extern "C" fn collect_samples(
    wav: *mut std::os::raw::c_short,
    n: std::os::raw::c_int,
    _events: *mut std::os::raw::c_void,
) -> std::os::raw::c_int {
    if !wav.is_null() && n > 0 {
        // SAFETY: espeak hands us `n` valid samples at `wav` for the duration of the call.
        let chunk = unsafe { std::slice::from_raw_parts(wav, n as usize) };
        COLLECTED.with(|c| c.borrow_mut().extend_from_slice(chunk));
    }
    0
}

struct Job {
    text: String,
    settings: EspeakSettings,
    reply: mpsc::Sender<Result<Pcm>>,
}

/// The espeak worker's job queue and the engine's sample rate.
type Worker = (Mutex<mpsc::Sender<Job>>, u32);

/// The process-wide espeak worker, or why it could not start.
static WORKER: OnceLock<std::result::Result<Worker, String>> = OnceLock::new();

fn worker() -> Result<&'static Worker> {
    WORKER.get_or_init(start_worker).as_ref().map_err(|e| TtsError::EspeakInit(e.clone()))
}

fn start_worker() -> std::result::Result<Worker, String> {
    let (tx, rx) = mpsc::channel::<Job>();
    let (ready_tx, ready_rx) = mpsc::channel::<std::result::Result<u32, String>>();
    std::thread::Builder::new()
        .name("capcom-espeak".into())
        .spawn(move || {
            // SAFETY: espeak's globals are only touched from this thread.
            let rate = unsafe {
                ffi::espeak_Initialize(ffi::AUDIO_OUTPUT_SYNCHRONOUS, 0, std::ptr::null(), ffi::INITIALIZE_DONT_EXIT)
            };
            if rate <= 0 {
                let _ = ready_tx.send(Err(format!("espeak_Initialize returned {rate}")));
                return;
            }
            unsafe { ffi::espeak_SetSynthCallback(collect_samples) };
            let _ = ready_tx.send(Ok(rate as u32));
            let mut current_voice: Option<String> = None;
            for job in rx {
                let result = espeak_synth(&job.text, &job.settings, rate as u32, &mut current_voice);
                let _ = job.reply.send(result);
            }
        })
        .map_err(|e| format!("cannot start its thread: {e}"))?;
    match ready_rx.recv() {
        Ok(Ok(rate)) => Ok((Mutex::new(tx), rate)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("its thread stopped while starting".to_string()),
    }
}

/// Runs on the worker thread only.
fn espeak_synth(text: &str, s: &EspeakSettings, rate: u32, current_voice: &mut Option<String>) -> Result<Pcm> {
    if current_voice.as_deref() != Some(s.voice.as_str()) {
        let name = std::ffi::CString::new(s.voice.replace('\0', "")).map_err(|e| TtsError::Voice(e.to_string()))?;
        // SAFETY: a valid NUL-terminated string; worker thread.
        let rc = unsafe { ffi::espeak_SetVoiceByName(name.as_ptr()) };
        if rc != ffi::EE_OK {
            *current_voice = None;
            return Err(TtsError::Voice(s.voice.clone()));
        }
        *current_voice = Some(s.voice.clone());
    }
    let wpm = s.rate.clamp(80, 450) as i32;
    let volume = (s.volume.clamp(0.0, 2.0) * 100.0).round() as i32;
    // SAFETY: worker thread; plain integer parameters.
    unsafe {
        ffi::espeak_SetParameter(ffi::PARAM_RATE, wpm, 0);
        ffi::espeak_SetParameter(ffi::PARAM_VOLUME, volume, 0);
    }
    let clean: String = text.chars().filter(|c| *c != '\0').collect();
    if clean.trim().is_empty() {
        return Ok(Pcm::new(Vec::new(), rate));
    }
    let c_text = std::ffi::CString::new(clean).map_err(|e| TtsError::Synth(e.to_string()))?;
    COLLECTED.with(|c| c.borrow_mut().clear());
    let bytes = c_text.as_bytes_with_nul();
    // SAFETY: the text stays alive for the call; synchronous mode returns after all
    // callbacks ran, on this thread.
    let rc = unsafe {
        ffi::espeak_Synth(
            bytes.as_ptr().cast(),
            bytes.len(),
            0,
            ffi::POS_CHARACTER,
            0,
            ffi::CHARS_UTF8 | ffi::ENDPAUSE,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    let samples = COLLECTED.with(|c| std::mem::take(&mut *c.borrow_mut()));
    if rc != ffi::EE_OK {
        return Err(TtsError::Synth(format!("espeak_Synth returned {rc}")));
    }
    Ok(Pcm::from_i16(&samples, rate))
}

/// espeak-ng through libespeak-ng. Cheap to create; every instance shares the one worker.
pub struct Espeak {
    settings: EspeakSettings,
}

impl Espeak {
    /// Starts the shared worker if needed and checks the voice exists.
    pub fn new(settings: EspeakSettings) -> Result<Espeak> {
        worker()?;
        let e = Espeak { settings };
        // An empty text selects the voice without speaking: an unknown voice fails here.
        e.synthesize("")?;
        Ok(e)
    }

    /// The engine's output sample rate (22050 Hz for espeak-ng's voices).
    pub fn sample_rate(&self) -> u32 {
        worker().map(|w| w.1).unwrap_or(22050)
    }

    pub fn settings(&self) -> &EspeakSettings {
        &self.settings
    }
}

impl Speaker for Espeak {
    fn synthesize(&self, text: &str) -> Result<Pcm> {
        let (tx, _) = worker()?;
        let (reply_tx, reply_rx) = mpsc::channel();
        let job = Job { text: text.to_string(), settings: self.settings.clone(), reply: reply_tx };
        tx.lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job)
            .map_err(|_| TtsError::Synth("the espeak worker has stopped".into()))?;
        reply_rx.recv().map_err(|_| TtsError::Synth("the espeak worker has stopped".into()))?
    }

    fn name(&self) -> String {
        format!("espeak-ng ({})", self.settings.voice)
    }
}

// ---------------------------------------------------------------------------
// Any program that writes a WAV

/// Runs `argv` for each text. `{text_file}` and `{out}` are replaced in each
/// argument (a whole argument or part of one, e.g. `--out={out}`); when no
/// argument names `{text_file}`, the text goes in on stdin. No shell is involved.
pub struct CommandSpeaker {
    argv: Vec<String>,
    timeout: Duration,
}

impl CommandSpeaker {
    pub fn new(argv: Vec<String>) -> Result<CommandSpeaker> {
        if argv.is_empty() || argv[0].trim().is_empty() {
            return Err(TtsError::NoCommand);
        }
        Ok(CommandSpeaker { argv, timeout: Duration::from_secs(60) })
    }

    pub fn with_timeout(mut self, timeout: Duration) -> CommandSpeaker {
        self.timeout = timeout;
        self
    }
}

fn scratch_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("capcom-tts-{}-{:016x}", std::process::id(), rand::random::<u64>()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

impl Speaker for CommandSpeaker {
    fn synthesize(&self, text: &str) -> Result<Pcm> {
        let program = self.argv[0].clone();
        let dir = scratch_dir()?;
        let result = (|| {
            let text_file = dir.join("text.txt");
            let out = dir.join("out.wav");
            std::fs::write(&text_file, text)?;
            let uses_file = self.argv.iter().any(|a| a.contains("{text_file}"));
            let args: Vec<String> = self.argv[1..]
                .iter()
                .map(|a| a.replace("{text_file}", &text_file.to_string_lossy()).replace("{out}", &out.to_string_lossy()))
                .collect();
            let mut child = Command::new(&program)
                .args(&args)
                .stdin(if uses_file { Stdio::null() } else { Stdio::piped() })
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| TtsError::Spawn {
                    program: program.clone(),
                    message: if e.kind() == std::io::ErrorKind::NotFound { "not found on PATH".into() } else { e.to_string() },
                })?;
            if let Some(mut stdin) = child.stdin.take() {
                // A program that exits without reading is reported by its status below.
                let _ = stdin.write_all(text.as_bytes());
            }
            let mut stderr = child.stderr.take();
            let stderr_reader = std::thread::spawn(move || {
                let mut buf = String::new();
                if let Some(s) = stderr.as_mut() {
                    let _ = std::io::Read::read_to_string(s, &mut buf);
                }
                buf
            });
            let start = Instant::now();
            let status = loop {
                if let Some(status) = child.try_wait()? {
                    break status;
                }
                if start.elapsed() > self.timeout {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(TtsError::Timeout { program: program.clone(), secs: self.timeout.as_secs() });
                }
                std::thread::sleep(Duration::from_millis(5));
            };
            let err_text = stderr_reader.join().unwrap_or_default();
            if !status.success() {
                let tail: String = err_text.trim().lines().rev().take(3).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join(" / ");
                return Err(TtsError::CommandFailed { program: program.clone(), status: status.to_string(), stderr: tail });
            }
            read_wav(&out)
        })();
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    fn name(&self) -> String {
        format!("command {}", self.argv[0])
    }
}

/// Read a WAV (any bit depth, integer or float, any channel count) as mono [`Pcm`].
pub fn read_wav(path: &Path) -> Result<Pcm> {
    let wav_err = |e: hound::Error| TtsError::Wav { path: path.display().to_string(), message: e.to_string() };
    let reader = hound::WavReader::open(path).map_err(wav_err)?;
    let spec = reader.spec();
    let channels = spec.channels.max(1) as usize;
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.into_samples::<f32>().collect::<std::result::Result<_, _>>().map_err(wav_err)?,
        hound::SampleFormat::Int => {
            let scale = (1i64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 / scale))
                .collect::<std::result::Result<_, _>>()
                .map_err(wav_err)?
        }
    };
    let samples = if channels == 1 {
        interleaved
    } else {
        interleaved.chunks(channels).map(|c| c.iter().sum::<f32>() / c.len() as f32).collect()
    };
    Ok(Pcm::new(samples, spec.sample_rate))
}

/// Write mono 16-bit PCM as a WAV file.
pub fn write_wav(path: &Path, pcm: &Pcm) -> std::result::Result<(), hound::Error> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: pcm.sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)?;
    for s in pcm.to_i16() {
        w.write_sample(s)?;
    }
    w.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm_helpers() {
        let mut a = Pcm::new(vec![0.5, -0.5], 10);
        assert_eq!(a.rms(), 0.5);
        assert_eq!(a.peak(), 0.5);
        a.append(&Pcm::new(vec![0.0; 4], 20));
        assert_eq!(a.samples.len(), 4);
        assert_eq!(Pcm::silence(100, 22050).samples.len(), 2205);
        assert_eq!(Pcm::new(vec![0.0; 22050], 22050).duration(), Duration::from_secs(1));
        assert_eq!(Pcm::from_i16(&[16384], 8000).samples, vec![0.5]);
    }

    #[test]
    fn unknown_engine_and_empty_command_are_errors() {
        let s = Speech { engine: "festival".into(), ..Speech::default() };
        assert!(matches!(from_config(&s), Err(TtsError::UnknownEngine(_))));
        let s = Speech { engine: "command".into(), command: vec![], ..Speech::default() };
        assert!(matches!(from_config(&s), Err(TtsError::NoCommand)));
        let s = Speech { engine: "none".into(), ..Speech::default() };
        assert!(matches!(from_config(&s), Err(TtsError::Disabled)));
    }
}
