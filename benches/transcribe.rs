//! Key-release-to-transcript latency with a model of base.en's dimensions
//! (generated, random weights: the same compute as base.en), 2 threads, for
//! 3 s and 10 s clips: capcom's settings (audio_ctx scaled to the clip, token
//! cap, no temperature fallback) next to whisper.cpp's defaults (30 s window),
//! and next to capcom's settings with the full window. Then the daemon's idle
//! CPU and RSS with that model loaded, from /proc.
//!
//! Run: `cargo bench --bench transcribe` (release). `CAPCOM_BENCH_RUNS=N`
//! changes the repetitions (default 3).
//!
//! First, and by default only, the real model section (`benches/real/mod.rs`):
//! Whisper tiny.en imported from its CTranslate2 package, espeak-ng clips,
//! quiet and under two CPU hogs. `CAPCOM_BENCH_RANDOM=1` adds the section
//! below; `CAPCOM_BENCH_RANDOM_ONLY=1` runs only it.

use capcom::capture::gate;
use capcom::transcribe::testmodel::TestModel;
use capcom::transcribe::{Mode, Settings, Transcriber};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn clip(seconds: f64) -> Vec<f32> {
    // a voice-like signal: gliding harmonics under a syllable-rate envelope
    let n = (seconds * 16_000.0) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / 16_000.0;
            let f0 = 120.0 + 40.0 * (t * 1.3).sin();
            let env = (0.5 + 0.5 * (t * 2.0 * std::f64::consts::PI * 4.0).sin()).powi(2);
            let v: f64 = (1..6).map(|h| (2.0 * std::f64::consts::PI * f0 * h as f64 * t).sin() / h as f64).sum();
            (0.2 * env * v) as f32
        })
        .collect()
}

/// CPU seconds this process has used (user + system), to tell work from
/// waiting on a loaded machine.
fn cpu_seconds() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn model_path() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target").join("bench-models");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("ggml-base-sized-random.bin");
    if !p.exists() {
        let t = Instant::now();
        TestModel::base_sized().write(&p).unwrap();
        eprintln!("generated {} in {:.1} s", p.display(), t.elapsed().as_secs_f64());
    }
    p
}

#[path = "../tests/common/skip.rs"]
mod skip;
#[path = "../tests/common/speech.rs"]
#[allow(dead_code)]
mod speech;

mod real;

fn main() {
    // the real tiny.en model, spoken clips, quiet and with two CPU hogs
    if std::env::var("CAPCOM_BENCH_RANDOM_ONLY").is_err() {
        real::run();
        if std::env::var("CAPCOM_BENCH_RANDOM").is_err() {
            println!("\n(set CAPCOM_BENCH_RANDOM=1 for the random-weight base.en-sized section and the idle daemon)");
            return;
        }
    }
    let runs: usize = std::env::var("CAPCOM_BENCH_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(3).max(1);
    let path = model_path();
    let gate = gate::Gate { floor: 0.005, min_speech: Duration::from_millis(200) };
    let t = Instant::now();
    let fast = Transcriber::load(&path, None, Settings { threads: 2, full_window: false, ..Settings::default() }).unwrap();
    println!("model: base.en dimensions (512 wide, 6+6 layers, f16), random weights; load {:.0} ms; 2 threads", t.elapsed().as_secs_f64() * 1000.0);
    let full = Transcriber::load(&path, None, Settings { threads: 2, full_window: true, ..Settings::default() }).unwrap();

    // warm-up: first runs allocate compute buffers
    let _ = fast.transcribe_blocking(&clip(3.0), Mode::Free);
    let _ = full.transcribe_with_library_defaults(&clip(3.0));

    println!();
    println!(
        "{:<6} {:>11} {:>7} {:>11} {:>13} {:>7} {:>9} {:>9} {:>6}",
        "clip", "capcom s", "tokens", "full-win s", "defaults s", "tokens", "x defaults", "x full-win", "ctx"
    );
    for secs in [3.0, 10.0] {
        let samples = clip(secs);
        let mut ours = Vec::new();
        let mut ours_cpu = Vec::new();
        let (mut ctx, mut tokens) = (0, 0);
        for _ in 0..runs {
            let c = cpu_seconds();
            let t = Instant::now(); // key release: the samples are complete
            let v = gate::judge(&samples, &gate);
            assert!(v.heard);
            let out = fast.transcribe_blocking(&samples, Mode::Free).unwrap();
            ours.push(t.elapsed().as_secs_f64());
            ours_cpu.push(cpu_seconds() - c);
            ctx = out.audio_ctx;
            tokens = out.text_tokens;
        }
        let mut fw = Vec::new();
        for _ in 0..runs.min(2) {
            let t = Instant::now();
            full.transcribe_blocking(&samples, Mode::Free).unwrap();
            fw.push(t.elapsed().as_secs_f64());
        }
        let mut base = Vec::new();
        let mut base_cpu = Vec::new();
        let mut base_tokens = 0;
        for _ in 0..runs.min(2) {
            let c = cpu_seconds();
            let t = Instant::now();
            let out = full.transcribe_with_library_defaults(&samples).unwrap();
            base.push(t.elapsed().as_secs_f64());
            base_cpu.push(cpu_seconds() - c);
            base_tokens = out.text_tokens;
        }
        let (o, f, b) = (median(ours), median(fw), median(base));
        println!(
            "{:<6} {:>11.3} {:>7} {:>11.3} {:>13.3} {:>7} {:>9.3} {:>9.3} {:>6}",
            format!("{secs:.0} s"), o, tokens, f, b, base_tokens, o / b, o / f, ctx
        );
        println!("       CPU seconds (2 threads): capcom {:.3}, defaults {:.3}", median(ours_cpu), median(base_cpu));
    }
    println!("capcom: audio_ctx scaled to the clip, token cap, no temperature fallback;");
    println!("full-win: the same with the 30 s window; defaults: whisper-rs FullParams::new(Greedy {{ best_of: 1 }}).");
    println!("targets: 3 s clip <= 0.35 s, and <= 0.15 x the default full-window time");

    // a pending confirmation: a 2 s answer decoded with the confirm grammar
    let answer = clip(2.0);
    let mut g = Vec::new();
    let mut text = String::new();
    for _ in 0..runs {
        let t = Instant::now();
        let out = fast.transcribe_blocking(&answer, Mode::Confirm).unwrap();
        g.push(t.elapsed().as_secs_f64());
        text = out.text;
    }
    println!("2 s clip, confirm grammar: {:.3} s ({text:?})", median(g));

    idle_daemon(&path);
}

/// Start `capcom daemon` with the model, let it settle, then read its CPU
/// time and RSS from /proc over 10 s.
fn idle_daemon(model: &Path) {
    let bin = env!("CARGO_BIN_EXE_capcom");
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(bin)
        .arg("daemon")
        .env("CAPCOM_DATA_DIR", dir.path())
        .env("CAPCOM__API__LISTEN", "127.0.0.1:0")
        .env("CAPCOM__VOICE__MODEL", model)
        .env("CAPCOM__VOICE__THREADS", "2")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let logs = dir.path().join("logs");
    let t = Instant::now();
    let loaded = loop {
        let found = std::fs::read_dir(&logs)
            .map(|d| d.flatten().any(|e| std::fs::read_to_string(e.path()).map(|s| s.contains("speech model loaded")).unwrap_or(false)))
            .unwrap_or(false);
        if found || t.elapsed() > Duration::from_secs(60) {
            break found;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_secs(3));
    let ticks = |pid: u32| -> f64 {
        let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let after = &s[s.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = after.split_whitespace().collect();
        (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0 // utime + stime, USER_HZ=100
    };
    let rss_kb = |pid: u32| -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    let (c0, w0) = (ticks(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(10));
    let (c1, w1) = (ticks(pid), Instant::now());
    let cpu = (c1 - c0) / (w1 - w0).as_secs_f64() * 100.0;
    let display = std::env::var("DISPLAY").unwrap_or_default();
    println!();
    println!(
        "daemon idle (model {}loaded, DISPLAY={:?}): CPU {:.2}% of one core over 10 s, RSS {:.1} MiB",
        if loaded { "" } else { "NOT " },
        display,
        cpu,
        rss_kb(pid) as f64 / 1024.0
    );
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGTERM);
    let _ = child.wait();
}
