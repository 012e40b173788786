//! `capcom transcribe`, `capcom models list|fetch` and `capcom listen --toggle`.
//! The first two work without a daemon; `transcribe` runs the daemon's own
//! path: resample to 16 kHz mono, the energy gate, then the warm model.

use super::{exit, print_json};
use crate::capture::{gate, resample, wav};
use crate::config::{DataDir, Loaded};
use crate::transcribe::{self, DecodeMode, Mode, Settings, Transcriber, models};
use std::path::Path;

pub async fn transcribe(
    loaded: &Loaded,
    data: &DataDir,
    file: &Path,
    model: Option<&str>,
    json: bool,
    mode: Option<DecodeMode>,
    no_prompt: bool,
) -> u8 {
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
    let mut settings = Settings::from_config(cfg);
    if no_prompt {
        settings.prompt.clear();
    }
    let result = tokio::task::spawn_blocking(move || {
        let t = Transcriber::load(&path, name.as_deref(), settings)?;
        t.hear(&samples, Mode::Free, mode)
    })
    .await;
    match result {
        Ok(Ok(h)) => {
            if json {
                let mut v = match &h.transcript {
                    Some(t) => serde_json::to_value(t).unwrap_or_default(),
                    None => serde_json::json!({ "text": "", "duration_s": duration_s, "segments": [], "audio_ctx": 0, "timings": null }),
                };
                v["gate"] = serde_json::to_value(&h.gate).unwrap_or_default();
                v["vad"] = serde_json::to_value(&h.vad).unwrap_or_default();
                if let Some(r) = &h.rejected {
                    v["rejected"] = serde_json::json!(r);
                    v["rejected_text"] = v["text"].clone();
                    v["text"] = serde_json::json!("");
                }
                if let Some(said) = &h.ask_back {
                    v["ask_back"] = serde_json::json!(said);
                }
                print_json(&v);
            } else if h.rejected.is_none() {
                println!("{}", h.text());
            }
            match &h.rejected {
                Some(r) => {
                    match &h.ask_back {
                        Some(said) => eprintln!("capcom: {} ({r})", transcribe::nearmiss::question(said)),
                        None => eprintln!("capcom: didn't catch that in {}: {r}", file.display()),
                    }
                    exit::ERROR
                }
                None => exit::OK,
            }
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

/// One row of `capcom models list --json`: a catalog model or another model file in the folder.
#[derive(Debug, serde::Serialize)]
struct ModelRow {
    /// The catalog name, or the size class the file's header names (`tiny.en`) for other files.
    name: String,
    /// `catalog` (from the manifest) or `file` (imported or copied by hand).
    source: &'static str,
    path: String,
    bytes: u64,
    weights: String,
    installed: bool,
    /// For a file outside the catalog: what the validator found wrong with it.
    problem: Option<String>,
    /// Whether `[voice] model` names it.
    configured: bool,
}

fn model_rows(loaded: &Loaded, data: &DataDir) -> Vec<ModelRow> {
    let dir = data.models();
    let configured = loaded.config.voice.model.trim();
    let mut rows: Vec<ModelRow> = models::manifest()
        .models
        .iter()
        .map(|m| ModelRow {
            name: m.name.clone(),
            source: "catalog",
            path: models::installed_path(&dir, m).display().to_string(),
            bytes: m.size,
            weights: m.weights.clone(),
            installed: models::is_installed(&dir, m),
            problem: None,
            configured: m.name.eq_ignore_ascii_case(configured),
        })
        .collect();
    for (path, info) in imported_models(&dir) {
        let file_name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let configured = !file_name.is_empty() && configured.ends_with(&file_name);
        let path_text = path.display().to_string();
        rows.push(match info {
            Ok(i) => ModelRow {
                name: format!("{}{}", i.size_class, if i.multilingual { "" } else { ".en" }),
                source: "file",
                path: path_text,
                bytes: i.file_bytes,
                weights: i.weights.to_string(),
                installed: true,
                problem: None,
                configured,
            },
            Err(e) => ModelRow {
                name: "?".into(),
                source: "file",
                path: path_text,
                bytes: std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
                weights: String::new(),
                installed: false,
                problem: Some(e.problem.to_string()),
                configured,
            },
        });
    }
    rows
}

pub fn models_list(loaded: &Loaded, data: &DataDir, json: bool) -> u8 {
    let dir = data.models();
    let configured = loaded.config.voice.model.trim();
    let rows = model_rows(loaded, data);
    if json {
        print_json(&serde_json::json!({
            "dir": dir.display().to_string(),
            "configured": configured,
            "models": rows,
        }));
        return exit::OK;
    }
    println!("{:<2}{:<22} {:>9} {:>8}  {:<10} FILE", "", "NAME", "SIZE", "WEIGHTS", "INSTALLED");
    let mark = |r: &ModelRow| if r.configured { "* " } else { "  " };
    for r in rows.iter().filter(|r| r.source == "catalog") {
        println!(
            "{}{:<22} {:>6.0} MB {:>8}  {:<10} {}",
            mark(r),
            r.name,
            r.bytes as f64 / 1e6,
            r.weights,
            if r.installed { "yes" } else { "-" },
            r.path
        );
    }
    let files: Vec<&ModelRow> = rows.iter().filter(|r| r.source == "file").collect();
    if !files.is_empty() {
        println!("\nImported or other model files:");
        for r in files {
            match &r.problem {
                None => println!("{}{:<22} {:>6.0} MB {:>8}  {:<10} {}", mark(r), r.name, r.bytes as f64 / 1e6, r.weights, "valid", r.path),
                Some(p) => println!("{}{:<22} {:>9} {:>8}  {:<10} {} ({p})", mark(r), "?", "", "", "INVALID", r.path),
            }
        }
    }
    if models::find(configured).is_none() {
        println!("\n[voice] model is a path: {configured}");
    }
    println!(
        "\nModels live in {}. `capcom models fetch NAME` downloads one, `capcom models import DIR` converts a faster-whisper model; `*` marks [voice] model.",
        dir.display()
    );
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

/// Model files in the models folder that the manifest does not name, with
/// what the validator says of each.
fn imported_models(dir: &Path) -> Vec<(std::path::PathBuf, Result<transcribe::ModelInfo, transcribe::ModelError>)> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    let known: Vec<&str> = models::manifest().models.iter().map(|m| m.file.as_str()).collect();
    let mut out: Vec<_> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .filter(|p| !p.file_name().is_some_and(|n| known.contains(&n.to_string_lossy().as_ref())))
        .map(|p| {
            let v = transcribe::validate(&p, None);
            (p, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// `capcom models import DIR [--q8_0] [--name NAME]`.
pub async fn models_import(loaded: &Loaded, data: &DataDir, dir: &Path, q8_0: bool, name: Option<&str>) -> u8 {
    let (dir2, out, name2) = (dir.to_path_buf(), data.models(), name.map(str::to_string));
    eprintln!("converting {} ({})…", dir.display(), if q8_0 { "q8_0" } else { "f16" });
    let r = tokio::task::spawn_blocking(move || transcribe::import::import(&dir2, &out, q8_0, name2.as_deref())).await;
    match r {
        Ok(Ok(m)) => {
            println!(
                "installed {} ({}, {}, {} bytes, {} tensors; validated)",
                m.path.display(),
                m.info.size_class,
                m.info.weights,
                m.info.file_bytes,
                m.info.tensors
            );
            if loaded.config.voice.model.trim() != m.path.display().to_string() {
                println!("to use it, set [voice] model = \"{}\"", m.path.display());
            }
            exit::OK
        }
        Ok(Err(e)) => {
            eprintln!("capcom: models import: {e}");
            exit::ERROR
        }
        Err(e) => {
            eprintln!("capcom: models import failed: {e}");
            exit::ERROR
        }
    }
}

/// Send SIGUSR1 to the running daemon: start or stop recording.
/// `capcom listen --start` / `--stop`: the daemon starts or stops recording, when that
/// changes anything (so a compositor's press and release bindings may repeat safely).
pub fn listen_signal(data: &DataDir, signal: i32, what: &str) -> u8 {
    let pid = match std::fs::read_to_string(data.pid()).ok().and_then(|s| s.trim().parse::<i32>().ok()) {
        Some(p) if p > 1 => p,
        _ => {
            eprintln!("capcom: the daemon is not running (no {}); start it with `capcom daemon`", data.pid().display());
            return exit::NOT_RUNNING;
        }
    };
    // A real-time signal ends a process that does not watch it: never send one to a pid the
    // daemon left behind and another program now has.
    if !is_capcom_daemon(pid) {
        eprintln!("capcom: the daemon is not running (pid {pid} in {} is not a capcom daemon); start it with `capcom daemon`", data.pid().display());
        return exit::NOT_RUNNING;
    }
    // SAFETY: kill(2) with a pid read from the daemon's own pid file and a real-time signal
    // number the daemon watches; no memory is involved.
    if unsafe { libc::kill(pid, signal) } == 0 {
        return exit::OK;
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::ESRCH) => {
            eprintln!("capcom: the daemon (pid {pid}) is not running; start it with `capcom daemon`");
            exit::NOT_RUNNING
        }
        _ => {
            eprintln!("capcom: cannot tell the daemon (pid {pid}) to {what} recording: {}", std::io::Error::last_os_error());
            exit::ERROR
        }
    }
}

/// Whether `pid` is a running `capcom daemon` (its command line, from /proc).
fn is_capcom_daemon(pid: i32) -> bool {
    let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let args: Vec<String> = raw.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    let program = args.first().and_then(|a| std::path::Path::new(a).file_name().map(|n| n.to_string_lossy().into_owned()));
    program.is_some_and(|p| p.starts_with("capcom")) && args.iter().any(|a| a == "daemon")
}

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
