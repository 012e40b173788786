//! `capcom doctor`: one line per check, ok / warn / fail, with the fix.

use super::client::Client;
use super::exit;
use crate::config::{DataDir, Loaded};
use crate::dispatch::presets::{find_on_path, preset_program};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub level: Level,
    pub name: String,
    pub detail: String,
    pub fix: Option<String>,
}

impl crate::transcribe::SystemCheck {
    fn into_check(self) -> Check {
        check(if self.ok { Level::Ok } else { Level::Warn }, "whisper.cpp", self.detail, self.fix.as_deref())
    }
}

fn check(level: Level, name: &str, detail: impl Into<String>, fix: Option<&str>) -> Check {
    Check { level, name: name.into(), detail: detail.into(), fix: fix.map(String::from) }
}

/// Debian packages capcom builds and runs with.
pub const APT_PACKAGES: &[&str] = &[
    "libasound2-dev",
    "libxi-dev",
    "libxtst-dev",
    "cmake",
    "libclang-dev",
    "pkg-config",
    "build-essential",
    "espeak-ng",
    "libespeak-ng-dev",
];

pub async fn run(loaded: &Loaded, data: &DataDir, json: bool) -> u8 {
    run_with(loaded, None, data, json).await
}

/// `doctor` when the config file did not load: `broken` is why; the rest is checked on the
/// built-in defaults.
pub async fn run_with(loaded: &Loaded, broken: Option<String>, data: &DataDir, json: bool) -> u8 {
    let mut checks = collect(loaded, data).await;
    if let Some(why) = broken {
        checks.retain(|c| !(c.name == "config" && c.detail.starts_with("no config file")));
        checks.insert(0, check(Level::Fail, "config", format!("{why}; the rest is checked on the built-in defaults"), Some("fix that line; `capcom init --defaults` prints every key with its default")));
    }
    let worst = if checks.iter().any(|c| c.level == Level::Fail) {
        Level::Fail
    } else if checks.iter().any(|c| c.level == Level::Warn) {
        Level::Warn
    } else {
        Level::Ok
    };
    if json {
        super::print_json(&serde_json::json!({ "worst": worst, "checks": checks }));
        return if worst == Level::Fail { exit::ERROR } else { exit::OK };
    }
    for c in &checks {
        let tag = match c.level {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        match &c.fix {
            Some(fix) => println!("[{tag}] {}: {} — fix: {fix}", c.name, c.detail),
            None => println!("[{tag}] {}: {}", c.name, c.detail),
        }
    }
    if worst == Level::Fail { exit::ERROR } else { exit::OK }
}

pub async fn collect(loaded: &Loaded, data: &DataDir) -> Vec<Check> {
    let mut out = Vec::new();
    let cfg = &loaded.config;

    // config
    out.extend(config_checks(loaded, data));

    // data dir and store
    match std::fs::create_dir_all(data.root()) {
        Ok(()) => out.push(check(Level::Ok, "data dir", data.root().display().to_string(), None)),
        Err(e) => out.push(check(
            Level::Fail,
            "data dir",
            format!("{}: {e}", data.root().display()),
            Some("pass a writable --data-dir or set CAPCOM_DATA_DIR"),
        )),
    }
    match crate::store::Store::open(&data.db()) {
        Ok(s) => out.push(check(
            Level::Ok,
            "store",
            format!("{} (schema {})", data.db().display(), s.schema_version().unwrap_or(0)),
            None,
        )),
        Err(e) => out.push(check(Level::Fail, "store", e.to_string(), Some("move the file aside; a new one is created"))),
    }

    // API
    match Client::connect(data) {
        Ok(c) => match c.get::<serde_json::Value>("/v1/state").await {
            Ok(v) => out.push(check(
                Level::Ok,
                "api",
                // `/v1/state` carries the stage as `{"stage": "idle", …}`.
                format!("daemon at {} ({})", c.base(), v["stage"]["stage"].as_str().or(v["stage"].as_str()).unwrap_or("?").replace('_', " ")),
                None,
            )),
            Err(e) => out.push(check(Level::Warn, "api", e.to_string(), Some("start it with `capcom daemon`"))),
        },
        Err(e) => out.push(check(Level::Warn, "api", e.to_string(), Some("start it with `capcom daemon`"))),
    }

    // exposure: who can reach the API and the phone page
    out.push(exposure(cfg, data));

    // the hotkey: one line naming the path in use, or the exact fix for this desktop
    out.push(hotkey_check(cfg, data));

    // audio input
    out.push(audio_input_check(&cfg.voice.input_device));

    // speech model
    out.push(model_check(&cfg.voice.model, data));
    out.push(crate::transcribe::system_check(cfg.voice.threads).into_check());

    // agents: the ones tasks go to must be installed; built-in routes fall back to installed ones
    let used = used_agents(cfg);
    for f in crate::dispatch::routing::fallbacks(cfg, &crate::dispatch::routing::on_path) {
        out.push(check(Level::Warn, "routing", f, Some("install that agent, or `capcom init` to write routes to the agents you have")));
    }
    for (name, agent) in &cfg.agents {
        if agent.kind == "local" && !used.contains(name) && !crate::dispatch::routing::on_path(cfg, name) {
            out.push(check(Level::Ok, &format!("agent {name}"), "not installed; no task goes to it", None));
        } else if agent.kind == "local" {
            let program = agent.command.first().map(String::as_str).or_else(|| preset_program(&agent.preset));
            match program {
                Some(p) => match find_on_path(p) {
                    Some(path) => out.push(check(Level::Ok, &format!("agent {name}"), path.display().to_string(), None)),
                    None => out.push(check(
                        Level::Warn,
                        &format!("agent {name}"),
                        format!("`{p}` is not on PATH"),
                        Some("install it, or name an installed agent in [dispatch] default_agent and [[routes]] (`capcom init --force` writes both from what is installed)"),
                    )),
                },
                None => out.push(check(
                    Level::Fail,
                    &format!("agent {name}"),
                    format!("unknown preset `{}` and no command", agent.preset),
                    Some("set preset = claude|codex|gemini|aider|cursor-cli, or command = [...]"),
                )),
            }
        }
    }
    // repos: each must be a git repo with its base branch, and its checks' programs on PATH
    out.extend(repo_checks(cfg));
    // what capcom can and cannot confine
    out.push(check(
        Level::Ok,
        "agent isolation",
        "each local agent runs on its own branch and worktree; cancel and timeout end every process it started, \
         even those that leave its process group. Agents run with your rights and can write outside their worktree",
        None,
    ));
    // privacy of the data dir, and what it holds
    out.push(privacy_check(data));
    out.push(disk_check(data));
    out.push(recordings_check(cfg, data));

    // remote agents and GitHub: one cheap authenticated call each
    for c in crate::dispatch::remote::remote_checks(cfg).await {
        use crate::dispatch::remote::CheckLevel;
        let level = match c.level {
            CheckLevel::Ok => Level::Ok,
            CheckLevel::Warn => Level::Warn,
            CheckLevel::Fail => Level::Fail,
        };
        out.push(Check { level, name: c.name, detail: c.detail, fix: c.fix });
    }

    // hooks of agents the user runs themselves
    // (optional: without them capcom hears only the tasks it starts)
    let (_, detail) = super::hooks::installed_summary();
    out.push(check(Level::Ok, "agent hooks", detail, None));

    // apt packages
    let missing: Vec<&str> = APT_PACKAGES.iter().copied().filter(|p| !dpkg_installed(p)).collect();
    if missing.is_empty() {
        out.push(check(Level::Ok, "packages", "all build and speech packages installed", None));
    } else {
        out.push(check(
            Level::Warn,
            "packages",
            format!("missing: {}", missing.join(" ")),
            Some(&format!("sudo apt-get install {}", missing.join(" "))),
        ));
    }
    out
}

/// The agents tasks go to: the default (after fallback) and, unless they are the built-in
/// ones, the routes' agents.
fn used_agents(cfg: &crate::config::Config) -> Vec<String> {
    use crate::dispatch::routing;
    let mut used = vec![routing::default_agent(cfg, &routing::on_path)];
    for r in &cfg.routes {
        if !cfg.origin.routes_builtin || routing::on_path(cfg, &r.agent) {
            used.push(r.agent.clone());
        }
    }
    used
}

/// The push-to-talk path: what the running daemon bound (`<data dir>/hotkey.json`), else what
/// `[hotkey] backend` would use in this session, and the fix when nothing works.
pub fn hotkey_check(cfg: &crate::config::Config, data: &DataDir) -> Check {
    use crate::capture::hotkey::{Session, diagnose};
    let chord = match crate::capture::Chord::parse(&cfg.voice.hotkey) {
        Ok(c) => c.to_string(),
        Err(e) => return check(Level::Fail, "hotkey", e, Some("set [voice] hotkey, e.g. \"Ctrl+Alt+Space\" or \"F9\"")),
    };
    let session = Session::from_env();
    let d = diagnose(&cfg.hotkey, &session, &chord);
    let running = data.addr().exists();
    let bound = running
        .then(|| std::fs::read_to_string(data.root().join("hotkey.json")).ok())
        .flatten()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
    match bound {
        Some(b) if b["path"].is_string() => check(
            Level::Ok,
            "hotkey",
            format!(
                "the daemon's push-to-talk is bound through {}: hold {} to talk ({:?} mode)",
                b["path"].as_str().unwrap_or("?"),
                b["trigger"].as_str().unwrap_or(&chord),
                cfg.voice.mode
            ),
            None,
        ),
        Some(b) => check(
            Level::Warn,
            "hotkey",
            format!("the daemon has no global hotkey: {}", b["error"].as_str().unwrap_or("?")),
            d.fix.as_deref().or(Some("bind `capcom listen --start` to a key's press and `capcom listen --stop` to its release")),
        ),
        None => check(if d.works { Level::Ok } else { Level::Warn }, "hotkey", format!("{} ({:?} mode)", d.detail, cfg.voice.mode), d.fix.as_deref()),
    }
}

/// Which config file was read (or that there is none), what was wrong in it, and what the
/// running daemon made of its latest change.
pub fn config_checks(loaded: &Loaded, data: &DataDir) -> Vec<Check> {
    let mut out = Vec::new();
    match &loaded.source {
        Some(p) => out.push(check(Level::Ok, "config", format!("read {}", p.display()), None)),
        None => out.push(check(
            Level::Warn,
            "config",
            format!(
                "no config file: built-in defaults; run `capcom init`{}",
                crate::config::default_path().map(|p| format!(" (it writes {})", p.display())).unwrap_or_default()
            ),
            Some("run `capcom init` inside your repo"),
        )),
    }
    for w in &loaded.warnings {
        out.push(check(Level::Warn, "config", w.clone(), Some("edit the file; `capcom init --defaults` prints every key with its default")));
    }
    // The daemon writes this when the file changes under it (and removes it at start).
    let running = data.addr().exists();
    if let Some(status) = running
        .then(|| std::fs::read_to_string(data.config_status()).ok())
        .flatten()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    {
        let file = status["file"].as_str().unwrap_or("the config file");
        if status["ok"] == false {
            out.push(check(
                Level::Warn,
                "config (daemon)",
                format!(
                    "the running daemon could not take the change to {file}: {}; it keeps the config it had",
                    status["error"].as_str().unwrap_or("?")
                ),
                Some("fix the file; the daemon takes it as soon as it loads"),
            ));
        } else if let Some(restart) = status["restart"].as_array().filter(|r| !r.is_empty()) {
            let names: Vec<&str> = restart.iter().filter_map(|v| v.as_str()).collect();
            out.push(check(
                Level::Warn,
                "config (daemon)",
                format!("the running daemon took the change to {file}, but {} only take effect at its next start", names.join(", ")),
                Some("restart the daemon (`systemctl --user restart capcom`, or stop and start `capcom daemon`)"),
            ));
        } else {
            out.push(check(Level::Ok, "config (daemon)", format!("the running daemon uses the latest {file}"), None));
        }
    }
    out
}

/// One line per `[[repos]]` entry, and a failure when there is none.
pub fn repo_checks(cfg: &crate::config::Config) -> Vec<Check> {
    use crate::dispatch::worktree::{GitCli, check_repo};
    if cfg.repos.is_empty() {
        return vec![check(
            Level::Fail,
            "repos",
            "no repo is configured, so no brief can be dispatched",
            Some("run `capcom init` inside your repo, or `capcom repos add PATH`"),
        )];
    }
    let mut out = Vec::new();
    for r in &cfg.repos {
        let name = format!("repo {}", r.name);
        match check_repo(&GitCli, std::path::Path::new(&r.path), &r.base) {
            Err(e) => out.push(check(Level::Fail, &name, e, Some("fix [[repos]] path and base in your config"))),
            Ok(sha) => {
                let mut missing = Vec::new();
                let mut names: Vec<&String> = cfg.checks.keys().chain(r.checks.keys()).collect();
                names.sort();
                names.dedup();
                for n in names {
                    let Some(cmd) = crate::review::checks::command_for(cfg, Some(r), n) else { continue };
                    if let Some(program) = cmd.argv().and_then(|a| a.into_iter().next())
                        && find_on_path(&program).is_none()
                        && !std::path::Path::new(&r.path).join(&program).is_file()
                    {
                        missing.push(format!("check `{n}` needs `{program}`, which is not on PATH"));
                    }
                }
                if missing.is_empty() {
                    out.push(check(Level::Ok, &name, format!("{} on {} ({})", r.path, r.base, &sha[..sha.len().min(7)]), None));
                } else {
                    out.push(check(Level::Warn, &name, missing.join("; "), Some("install the program, or change the check in [checks]")));
                }
            }
        }
    }
    out
}

/// Disk used by worktrees, audio and logs.
fn disk_check(data: &DataDir) -> Check {
    use crate::dispatch::gc::disk_usage;
    let mb = |p: std::path::PathBuf| disk_usage(&p) as f64 / 1e6;
    let (wt, audio, logs) = (mb(data.worktrees()), mb(data.audio()), mb(data.logs()));
    let detail = format!("worktrees {wt:.1} MB, audio {audio:.1} MB, logs {logs:.1} MB");
    if wt > 5000.0 {
        check(Level::Warn, "disk", detail, Some("`capcom gc --dry-run` lists worktrees that can go; `capcom gc` removes them"))
    } else {
        check(Level::Ok, "disk", detail, None)
    }
}

/// The recordings kept in the audio folder, and for how long (`[store] keep_audio`).
fn recordings_check(cfg: &crate::config::Config, data: &DataDir) -> Check {
    let dir = data.audio();
    let (mut files, mut bytes) = (0u64, 0u64);
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.flatten() {
            if let Ok(m) = e.metadata()
                && m.is_file()
                && e.path().extension().is_some_and(|x| x == "wav")
            {
                files += 1;
                bytes += m.len();
            }
        }
    }
    let keep = match cfg.store.keep_audio {
        crate::config::Keep::Forever => "kept forever ([store] keep_audio)".to_string(),
        k => format!("each kept {k} ([store] keep_audio)"),
    };
    let detail = format!("{files} recording(s), {:.1} MB in {}; {keep}", bytes as f64 / 1e6, dir.display());
    if cfg.store.keep_audio == crate::config::Keep::Forever && bytes > 1_000_000_000 {
        check(Level::Warn, "recordings", detail, Some("set [store] keep_audio = \"30d\", or `capcom history delete --before DATE`"))
    } else {
        check(Level::Ok, "recordings", detail, None)
    }
}

/// The data dir and the store must not be readable by others.
fn privacy_check(data: &DataDir) -> Check {
    use std::os::unix::fs::PermissionsExt;
    let wide: Vec<String> = [data.root().to_path_buf(), data.db(), data.logs(), data.audio()]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok().map(|m| (p, m.permissions().mode() & 0o777)))
        .filter(|(_, mode)| mode & 0o077 != 0)
        .map(|(p, mode)| format!("{} is {mode:o}", p.display()))
        .collect();
    if wide.is_empty() {
        check(Level::Ok, "privacy", "the data dir is private to you", None)
    } else {
        check(Level::Warn, "privacy", wide.join(", "), Some("start the daemon once: it makes the data dir private (0700, files 0600)"))
    }
}

fn dpkg_installed(pkg: &str) -> bool {
    std::process::Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

fn audio_input_check(wanted: &str) -> Check {
    use cpal::traits::{DeviceTrait, HostTrait};
    let host = cpal::default_host();
    let device = if wanted.is_empty() {
        host.default_input_device()
    } else {
        host.input_devices().ok().and_then(|mut it| {
            it.find(|d| d.description().map(|n| n.name() == wanted).unwrap_or(false))
        })
    };
    match device {
        Some(d) => {
            let name = d.description().map(|n| n.name().to_string()).unwrap_or_else(|_| "unnamed device".into());
            match d.default_input_config() {
                Ok(c) => check(Level::Ok, "microphone", format!("{name} ({} Hz, {} ch)", c.sample_rate(), c.channels()), None),
                Err(e) => check(Level::Warn, "microphone", format!("{name}: {e}"), Some("check the device in your sound settings")),
            }
        }
        None if wanted.is_empty() => check(
            Level::Warn,
            "microphone",
            "no input device",
            Some("plug in a microphone or start PulseAudio/PipeWire; `capcom brief` works without one"),
        ),
        None => check(
            Level::Warn,
            "microphone",
            format!("input device `{wanted}` not found"),
            Some("set [voice] input_device to a listed device, or empty for the default"),
        ),
    }
}

fn model_check(model: &str, data: &DataDir) -> Check {
    use crate::transcribe::{Problem, resolve_model, validate};
    let (path, name) = match resolve_model(model, data) {
        Ok(v) => v,
        Err(e) => {
            return check(
                Level::Fail,
                "speech model",
                e.to_string(),
                Some("set [voice] model to a name from `capcom models list`, or to a path"),
            );
        }
    };
    match validate(&path, name.as_deref()) {
        Ok(info) => check(
            Level::Ok,
            "speech model",
            format!(
                "{} ({}, {} weights, {:.0} MB)",
                path.display(),
                info.size_class,
                info.weights,
                info.file_bytes as f64 / 1e6
            ),
            None,
        ),
        Err(e) if e.problem == Problem::Missing => {
            let fix = name.map(|n| format!("capcom models fetch {n}")).unwrap_or(e.fix);
            check(Level::Warn, "speech model", format!("{} is missing", path.display()), Some(&fix))
        }
        Err(e) => check(Level::Fail, "speech model", format!("{}: {}", path.display(), e.problem), Some(&e.fix)),
    }
}

/// What the daemon exposes: loopback only, the LAN over HTTPS, or a public URL; and how many devices are paired.
fn exposure(cfg: &crate::config::Config, data: &DataDir) -> Check {
    // the running daemon's bound address when there is one, else what the config asks for
    let running = std::fs::read_to_string(data.addr()).ok().map(|a| a.trim().to_string()).filter(|a| !a.is_empty());
    let listen = running.as_deref().unwrap_or(cfg.api.listen.trim());
    let public = cfg.api.public_url.trim();
    let devices = crate::store::Store::open(&data.db())
        .and_then(|s| s.devices())
        .map(|d| d.iter().filter(|d| d.revoked_at.is_none()).count())
        .unwrap_or(0);
    let paired = format!("{devices} paired device(s) (`capcom devices`)");
    let beyond = listen.parse::<std::net::SocketAddr>().map(crate::web::tls::needs_tls).unwrap_or(true);
    match (beyond, public.is_empty()) {
        (false, true) => check(
            Level::Ok,
            "exposure",
            format!("loopback only ({listen}): the page and the feed are reachable from this computer; {paired}"),
            Some("to use a phone, set [api] public_url behind Tailscale Serve or Caddy, or [api] listen = \"0.0.0.0:7471\" (README, \"Listen on your phone\")"),
        ),
        (false, false) => check(
            Level::Ok,
            "exposure",
            format!("loopback ({listen}) behind {public}: whatever reaches that URL reaches the page (device tokens) and the feed (its token); {paired}"),
            None,
        ),
        (true, _) => {
            let fp = std::fs::read(data.root().join("tls.crt"))
                .ok()
                .and_then(|pem| {
                    use tokio_rustls::rustls::pki_types::{CertificateDer, pem::PemObject};
                    CertificateDer::from_pem_slice(&pem).ok()
                })
                .map(|c| format!("certificate SHA-256 {}", crate::web::tls::fingerprint(c.as_ref())))
                .unwrap_or_else(|| "a self-signed certificate is made on first start".into());
            check(
                Level::Warn,
                "exposure",
                format!("HTTPS on {listen}, beyond loopback: the page (device tokens), the feed (its token) and the API (the API token) answer the network; {fp}; {paired}"),
                Some("revoke lost phones with `capcom devices revoke NAME`; listen on 127.0.0.1 to close it"),
            )
        }
    }
}
