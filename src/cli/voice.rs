//! `capcom transcribe`, `capcom models list|fetch` and `capcom listen --toggle`.
//! The first two work without a daemon; `transcribe` runs the daemon's own
//! path: resample to 16 kHz mono, the energy gate, then the warm model.

use super::{exit, print_json};
use crate::capture::{gate, resample, wav};
use crate::config::{DataDir, Loaded};
use crate::transcribe::{self, Mode, Settings, Transcriber, models};
use std::path::Path;

pub async fn transcribe(loaded: &Loaded, data: &DataDir, file: &Path, model: Option<&str>, json: bool) -> u8 {
    let cfg = &loaded.config;
    let spec = model.unwrap_or(&cfg.voice.model).to_string();
    let (path, name) = match transcribe::resolve_model(&spec, data) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("capcom: {e}");
            return exit::ERROR;
        }
    };
    let audio = match wav::read(file) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("capcom: {e}");
            return exit::ERROR;
        }
    };
    let samples = match resample::to_16k_mono(&audio.samples, audio.rate, audio.channels) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("capcom: {}: {e}", file.display());
            return exit::ERROR;
        }
    };
    let duration_s = samples.len() as f64 / 16_000.0;
    let verdict = gate::judge(&samples, &gate::Gate::from_config(&cfg.voice));
    if !verdict.heard {
        let reason = verdict.reason.clone().unwrap_or_default();
        if json {
            print_json(&serde_json::json!({
                "text": "", "nothing_heard": true, "reason": reason, "gate": verdict, "duration_s": duration_s,
                "segments": [], "audio_ctx": 0, "timings": null,
            }));
        }
        eprintln!("capcom: nothing heard in {} ({reason}); not sent to Whisper", file.display());
        return exit::ERROR;
    }
    let settings = Settings::from_config(cfg);
    let result = tokio::task::spawn_blocking(move || {
        let t = Transcriber::load(&path, name.as_deref(), settings)?;
        t.transcribe_blocking(&samples, Mode::Free)
    })
    .await;
    match result {
        Ok(Ok(t)) => {
            if json {
                let mut v = serde_json::to_value(&t).unwrap_or_default();
                v["gate"] = serde_json::to_value(&verdict).unwrap_or_default();
                print_json(&v);
            } else {
                println!("{}", t.text);
            }
            exit::OK
        }
        Ok(Err(e)) => {
            eprintln!("capcom: {e}");
            exit::ERROR
        }
        Err(e) => {
            eprintln!("capcom: transcription failed: {e}");
            exit::ERROR
        }
    }
}

pub fn models_list(loaded: &Loaded, data: &DataDir) -> u8 {
    let dir = data.models();
    let configured = loaded.config.voice.model.trim();
    println!("{:<2}{:<22} {:>9} {:>8}  {:<10} FILE", "", "NAME", "SIZE", "WEIGHTS", "INSTALLED");
    for m in &models::manifest().models {
        let mark = if m.name.eq_ignore_ascii_case(configured) { "* " } else { "  " };
        let installed = if models::is_installed(&dir, m) { "yes" } else { "-" };
        println!(
            "{mark}{:<22} {:>6.0} MB {:>8}  {:<10} {}",
            m.name,
            m.size as f64 / 1e6,
            m.weights,
            installed,
            models::installed_path(&dir, m).display()
        );
    }
    if models::find(configured).is_none() {
        println!("\n[voice] model is a path: {configured}");
    }
    println!("\nModels live in {}. `capcom models fetch NAME` downloads one; `*` marks [voice] model.", dir.display());
    exit::OK
}

pub async fn models_fetch(loaded: &Loaded, data: &DataDir, name: &str) -> u8 {
    let Some(entry) = models::find(name) else {
        eprintln!("capcom: {}", models::FetchError::Unknown(name.to_string()));
        return exit::USAGE;
    };
    let http = match reqwest::Client::builder().connect_timeout(std::time::Duration::from_secs(15)).build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("capcom: cannot start an HTTP client: {e}");
            return exit::ERROR;
        }
    };
    eprintln!("fetching {} ({:.0} MB) from {}", entry.name, entry.size as f64 / 1e6, entry.url());
    let mut bar = models::Bar::new(&entry.name);
    match models::fetch(entry, &data.models(), &http, &mut bar).await {
        Ok(path) => {
            println!("installed {} (sha256 verified)", path.display());
            if !entry.name.eq_ignore_ascii_case(loaded.config.voice.model.trim()) {
                println!("to use it, set [voice] model = \"{}\"", entry.name);
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("capcom: {e}");
            exit::ERROR
        }
    }
}

/// Send SIGUSR1 to the running daemon: start or stop recording.
pub fn listen_toggle(data: &DataDir) -> u8 {
    let pid = match std::fs::read_to_string(data.pid()).ok().and_then(|s| s.trim().parse::<i32>().ok()) {
        Some(p) if p > 1 => p,
        _ => {
            eprintln!("capcom: the daemon is not running (no {}); start it with `capcom daemon`", data.pid().display());
            return exit::NOT_RUNNING;
        }
    };
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGUSR1) {
        Ok(()) => {
            println!("toggled recording in the daemon (pid {pid})");
            exit::OK
        }
        Err(nix::errno::Errno::ESRCH) => {
            eprintln!("capcom: the daemon (pid {pid}) is not running; start it with `capcom daemon`");
            exit::NOT_RUNNING
        }
        Err(e) => {
            eprintln!("capcom: cannot signal the daemon (pid {pid}): {e}");
            exit::ERROR
        }
    }
}
