//! Hearing the agents the user runs themselves: `capcom hook AGENT` (run by the agent, for
//! each event), `capcom hooks install|uninstall AGENT` (capcom's entries in the agent's own
//! settings file) and `capcom sessions` (what was heard).

use super::client::{Client, ClientError};
use super::exit;
use crate::config::DataDir;
use crate::hooks::install::{self, HookCommand, InstallError, NewText};
use crate::hooks::{self, Agent};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long `capcom hook` may take, all told: an agent must never wait on capcom.
const HOOK_BUDGET: Duration = Duration::from_millis(1000);
/// `hooks.log` is started afresh (the old one kept as `hooks.log.1`) beyond this size.
const LOG_MAX: u64 = 256 * 1024;

/// `capcom hook AGENT [EVENT | PAYLOAD]`: forward one hook payload to the daemon. Always
/// exits 0 and within about a second: with no daemon it does nothing; a payload it refuses
/// is noted in `<data dir>/logs/hooks.log` (the reason only, never the payload).
pub fn hook(data: &DataDir, agent: &str, args: &[String]) -> u8 {
    let (tx, rx) = std::sync::mpsc::channel();
    let (d, a, args) = (data.clone(), agent.to_string(), args.to_vec());
    std::thread::spawn(move || {
        let _ = tx.send(forward(&d, &a, &args));
    });
    match rx.recv_timeout(HOOK_BUDGET) {
        Ok(Ok(())) => {}
        Ok(Err(reason)) => note(data, agent, &reason),
        Err(_) => note(data, agent, "gave up after 1 s (the payload did not arrive, or the daemon did not answer)"),
    }
    // The reader thread may still wait on stdin; the process ends here either way.
    exit::OK
}

fn forward(data: &DataDir, agent: &str, args: &[String]) -> Result<(), String> {
    let agent = Agent::parse(agent).ok_or_else(|| format!("unknown agent {agent:?}: use claude, codex, gemini or copilot"))?;
    // Codex passes the payload as its last argument; the others send it on stdin and may name
    // the event as an argument (Copilot's `agentStop` payload does not name itself).
    let (payload, hint) = match agent {
        Agent::Codex => (args.last().map(|a| a.as_bytes().to_vec()).unwrap_or_default(), None),
        _ => {
            let mut buf = Vec::new();
            std::io::stdin()
                .take(hooks::MAX_PAYLOAD as u64 + 1)
                .read_to_end(&mut buf)
                .map_err(|e| format!("cannot read the payload: {e}"))?;
            (buf, args.first().cloned())
        }
    };
    if payload.len() > hooks::MAX_PAYLOAD {
        return Err(format!("refused a payload of more than {} bytes", hooks::MAX_PAYLOAD));
    }
    hooks::parse(agent, &payload, hint.as_deref()).map_err(|e| format!("refused a payload: {e}"))?;
    if !data.addr().exists() {
        return Ok(()); // no daemon: nothing to tell
    }
    let body: serde_json::Value = serde_json::from_slice(&payload).map_err(|e| e.to_string())?;
    let path = match &hint {
        Some(h) if h.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => format!("/v1/hooks/{agent}?event={h}"),
        _ => format!("/v1/hooks/{agent}"),
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let client = match Client::connect(data) {
            Ok(c) => c,
            Err(ClientError::NotRunning(_)) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        };
        match tokio::time::timeout(HOOK_BUDGET, client.post::<serde_json::Value>(&path, &body)).await {
            Ok(Ok(_)) | Ok(Err(ClientError::NotRunning(_))) => Ok(()),
            Ok(Err(e)) => Err(format!("the daemon refused it: {e}")),
            Err(_) => Err("the daemon did not answer within 1 s".into()),
        }
    })
}

/// One line in `<data dir>/logs/hooks.log`, when the data dir exists. Best effort.
fn note(data: &DataDir, agent: &str, reason: &str) {
    if !data.root().is_dir() {
        return;
    }
    let dir = data.logs();
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join("hooks.log");
    if std::fs::metadata(&file).is_ok_and(|m| m.len() > LOG_MAX) {
        let _ = std::fs::rename(&file, dir.join("hooks.log.1"));
    }
    let line = format!("{} capcom hook {agent}: {reason}\n", crate::store::now_str());
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(&file) {
        let _ = f.write_all(line.as_bytes());
    }
}

/// `capcom sessions [--json]`.
pub async fn sessions(c: Client, json: bool) -> Result<u8, ClientError> {
    let rows: Vec<crate::store::OutsideSession> = c.get("/v1/sessions").await?;
    if json {
        super::print_json(&rows);
        return Ok(exit::OK);
    }
    if rows.is_empty() {
        println!("No sessions heard yet. `capcom hooks install claude` (or codex, gemini, copilot) lets capcom hear the agents you run yourself.");
        return Ok(exit::OK);
    }
    for s in rows {
        let place = s.repo.clone().or(s.folder.clone()).unwrap_or_else(|| "-".into());
        println!(
            "{:<11} {:<8} {:<20} {:<34} {}  {}",
            if s.waiting { "WAITS" } else if s.finished_at.is_some() { "finished" } else { "working" },
            s.agent,
            place,
            s.last_event,
            s.updated_at,
            s.last_message.as_deref().unwrap_or("")
        );
    }
    Ok(exit::OK)
}

/// The user's home folder.
fn home() -> Result<PathBuf, String> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from).ok_or_else(|| "HOME is not set; cannot find the agents' settings".into())
}

/// Where capcom's hooks for `agent` live (the project's, or the user's).
pub fn settings_file(agent: Agent, project: Option<&Path>) -> Result<PathBuf, String> {
    install::settings_path(agent, &home()?, project, |k| std::env::var(k).ok().filter(|v| !v.is_empty())).map_err(|e| e.to_string())
}

/// `capcom hooks install|uninstall AGENT [--project DIR] [--dry-run]`.
pub fn install_cmd(data: &DataDir, agent: &str, project: Option<&Path>, dry_run: bool, remove: bool) -> u8 {
    let Some(agent) = Agent::parse(agent) else {
        eprintln!("capcom: unknown agent {agent:?}: use claude, codex, gemini or copilot");
        return exit::USAGE;
    };
    match install_inner(data, agent, project, dry_run, remove) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("capcom: {e}");
            exit::ERROR
        }
    }
}

fn install_inner(data: &DataDir, agent: Agent, project: Option<&Path>, dry_run: bool, remove: bool) -> Result<(), String> {
    if let Some(p) = project
        && !p.is_dir()
    {
        return Err(format!("{} is not a folder", p.display()));
    }
    let path = settings_file(agent, project)?;
    let shown = path.display().to_string();
    let existing = match std::fs::read_to_string(&path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("cannot read {shown}: {e}")),
    };
    // The agent starts capcom by its full path, with this data dir, whatever its PATH and
    // environment are.
    let program = std::env::current_exe().and_then(|p| p.canonicalize()).map_err(|e| format!("cannot tell where capcom is installed: {e}"))?;
    let data_root = std::path::absolute(data.root()).unwrap_or_else(|_| data.root().to_path_buf());
    let cmd = HookCommand::new(&program.display().to_string(), Some(&data_root));
    let change = if remove {
        install::uninstall(agent, &shown, existing.as_deref())
    } else {
        install::install(agent, &shown, existing.as_deref(), &cmd)
    }
    .map_err(|e: InstallError| e.to_string())?;
    let Some(NewText(after)) = change else {
        if remove {
            println!("{shown} has no hooks of capcom's; nothing changed.");
        } else {
            println!("capcom's {} hooks are already in {shown}; nothing changed.", agent.spoken());
        }
        return Ok(());
    };
    let before = existing.clone().unwrap_or_default();
    if dry_run {
        match &after {
            Some(text) => print!("Would {} {shown}:\n{}", if existing.is_some() { "change" } else { "create" }, install::diff(&before, text)),
            None => println!("Would remove {shown} (capcom's own file)."),
        }
        return Ok(());
    }
    let backup = match &existing {
        Some(_) => Some(back_up(&path)?),
        None => None,
    };
    match &after {
        Some(text) => write_keeping_mode(&path, text)?,
        None => std::fs::remove_file(&path).map_err(|e| format!("cannot remove {shown}: {e}"))?,
    }
    let verb = match (remove, &after) {
        (true, None) => format!("Removed {shown}"),
        (true, Some(_)) => format!("Removed capcom's {} hooks from {shown}", agent.spoken()),
        (false, _) => format!("Added capcom's {} hooks to {shown}", agent.spoken()),
    };
    match backup.flatten() {
        Some(b) => println!("{verb} (the file as it was before capcom first changed it: {}).", b.display()),
        None => println!("{verb}."),
    }
    if !remove {
        println!("Sessions started from now on are heard; `capcom sessions` lists them.");
    }
    Ok(())
}

/// Copy the file to `<file>.capcom-backup` before capcom's first change to it; later changes
/// keep that first copy. Returns the backup's path.
fn back_up(path: &Path) -> Result<Option<PathBuf>, String> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".capcom-backup");
    let backup = path.with_file_name(name);
    if !backup.exists() {
        std::fs::copy(path, &backup).map_err(|e| format!("cannot back up {} to {}: {e}; nothing was changed", path.display(), backup.display()))?;
    }
    Ok(Some(backup))
}

/// Write through a temporary file and a rename, keeping the file's permissions.
fn write_keeping_mode(path: &Path, text: &str) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".capcom-tmp");
    let tmp = path.with_file_name(tmp_name);
    std::fs::write(&tmp, text).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// `capcom doctor`'s line: which agents have capcom's hooks (user settings, and this
/// folder's project settings).
pub fn installed_summary() -> (bool, String) {
    let cwd = std::env::current_dir().ok();
    let mut with = Vec::new();
    for agent in Agent::ALL {
        let mut files = vec![settings_file(agent, None).ok()];
        if agent != Agent::Codex {
            files.push(cwd.as_deref().and_then(|d| settings_file(agent, Some(d)).ok()));
        }
        let found = files.into_iter().flatten().any(|f| std::fs::read_to_string(f).is_ok_and(|t| install::is_installed(agent, &t)));
        if found {
            with.push(agent.as_str());
        }
    }
    if with.is_empty() {
        (false, "none installed: capcom hears only the tasks it starts (`capcom hooks install claude`, or codex, gemini, copilot, lets it hear the sessions you run yourself)".into())
    } else {
        (true, format!("capcom hears {} sessions you run yourself", with.join(", ")))
    }
}
