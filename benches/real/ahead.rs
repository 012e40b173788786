//! Long briefs (about 35, 50 and 90 s), release-to-text: every piece decoded after
//! release (one-shot, `pieces_while_held = false`) against the pieces decoded while the
//! key is held (`transcribe::ahead`, the default), audio fed in real time, quiet and
//! under two CPU hogs; beside faster-whisper's decode of the same WAV under the same
//! hogs (`scripts/faster_whisper_bench.py --decode`, run when `CAPCOM_BENCH_PYTHON`
//! names a Python with faster-whisper installed). Each row gives the load at its end.

use super::{Hogs, LOADS, loadavg};
use crate::speech::{self, Clip};
use capcom::transcribe::ahead::Ahead;
use capcom::transcribe::{Mode, Settings, Transcriber};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

pub fn run(model: &Path, cfg: &capcom::config::Config, root: &Path) {
    let dir = root.join("ahead");
    std::fs::create_dir_all(&dir).unwrap();
    let short: Vec<(&str, Vec<f32>)> = speech::BRIEFS.iter().map(|b| (*b, speech::speak(b, "en-us", 175, &dir))).collect();
    let mut clips = Vec::new();
    for target in [35.0, 50.0, 90.0] {
        let (mut text, mut samples) = (String::new(), Vec::new());
        for (b, s) in short.iter().cycle() {
            if samples.len() as f64 >= target * 16_000.0 {
                break;
            }
            text.push_str(b);
            text.push(' ');
            samples.extend_from_slice(s);
        }
        clips.push(Clip { name: format!("{target:.0}s"), text, samples });
    }
    let files: Vec<String> = clips
        .iter()
        .map(|c| {
            let f = dir.join(format!("{}.wav", c.name));
            capcom::capture::wav::write_16k_mono(&f, &c.samples).unwrap();
            f.display().to_string()
        })
        .collect();
    let settings = Settings::from_config(cfg);
    let prompt = settings.prompt.clone();
    let t = Arc::new(Transcriber::load(model, None, settings).unwrap());
    let _ = t.hear(&short[0].1, Mode::Free, None);
    let python = std::env::var("CAPCOM_BENCH_PYTHON").ok();
    println!();
    println!("long briefs, release-to-text (s): every piece decoded after release, pieces decoded while the key is held (the default), and faster-whisper's decode of the whole clip (int8, greedy, the same prompt); threads per clip, audio fed in real time:");
    println!("| clip | load (1/5/15 min at the row's end) | after release s | while held s | pieces held | same text | faster-whisper s | WER capcom | WER faster-whisper |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (name, n, nice) in LOADS.iter().take(2) {
        let hogs = Hogs::start(*n, *nice);
        let peer = python.as_deref().map(|py| faster_whisper(py, &files, &prompt)).unwrap_or_default();
        for (i, c) in clips.iter().enumerate() {
            let s = Instant::now();
            let one = t.hear(&c.samples, Mode::Free, None).unwrap();
            let one_s = s.elapsed().as_secs_f64();
            let (held, held_s) = feed(&t, &c.samples);
            let pieces = held.transcript.as_ref().map(|t| t.held_pieces).unwrap_or(0);
            let wer = |text: &str| {
                let (e, n) = speech::word_errors(&c.text, text);
                100.0 * e as f64 / n.max(1) as f64
            };
            let (fw_s, fw_wer) = peer.get(i).map(|(s, text)| (format!("{s:.2}"), format!("{:.1} %", wer(text)))).unwrap_or(("–".into(), "–".into()));
            println!(
                "| {:.1} s | {name}, {} | {one_s:.2} | {held_s:.2} | {pieces} | {} | {fw_s} | {:.1} % | {fw_wer} |",
                c.seconds(), loadavg(), if held.text() == one.text() { "yes" } else { "no" }, wer(one.text())
            );
        }
        drop(hogs);
    }
}

/// Feed `samples` to an [`Ahead`] in real time (100 ms chunks, as the recorder's tap
/// sends them), release, and time the wait for the text.
fn feed(t: &Arc<Transcriber>, samples: &[f32]) -> (capcom::transcribe::Hearing, f64) {
    let (tx, rx) = std::sync::mpsc::channel();
    t.mark_cpu();
    let ahead = Ahead::start(t.clone(), rx).unwrap();
    super::feed_in_real_time(samples, tx);
    let released = Instant::now();
    let h = ahead.finish(samples, Mode::Free).unwrap();
    (h, released.elapsed().as_secs_f64())
}

/// faster-whisper's decode seconds and text for each file, from the peer script.
fn faster_whisper(python: &str, files: &[String], prompt: &str) -> Vec<(f64, String)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts").join("faster_whisper_bench.py");
    let out = Command::new(python).arg(script).arg("--threads").arg("2").arg("--prompt").arg(prompt).arg("--decode").args(files).output();
    let Some(out) = out.ok().filter(|o| o.status.success()) else {
        println!("(faster-whisper did not run with {python})");
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| (v["seconds"].as_f64().unwrap_or(f64::NAN), v["text"].as_str().unwrap_or_default().to_string()))
        .collect()
}
