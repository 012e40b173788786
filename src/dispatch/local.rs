//! Local CLI agents: one child process group per run, in the task's worktree.
//!
//! - The argv comes from a preset or the agent's `command`; `{prompt}`,
//!   `{prompt_file}` and `{workdir}` (and `{session}` when resuming) are replaced as
//!   whole arguments. No shell is involved.
//! - The child gets its own process group; stdout and stderr go straight into the
//!   run's log file (so the agent survives a daemon restart without a broken pipe),
//!   and a watcher tails the file into [`AgentEvent`]s.
//! - With a supervisor (the `capcom` binary itself, `capcom __supervise`), the exit
//!   status is written next to the log, so a restarted daemon still learns how a run
//!   that ended unwatched went.
//! - Cancel sends SIGTERM to the whole group, then SIGKILL.

use super::backend::{AgentBackend, AgentEvent, BackendError, Launched, RunRef, StartRequest, tail_lines};
pub use crate::process::{kill_group, proc_start_time, process_alive};
use super::presets::{Done, LocalSpec, StreamFormat, StreamState, exit_reason, parse_line};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

/// The longest prompt passed as one argument; a longer one is passed as its file.
pub const MAX_PROMPT_ARG: usize = 120 * 1024;

/// How often the watcher reads the log and checks the process.
const POLL: Duration = Duration::from_millis(100);

pub struct LocalBackend {
    name: String,
    spec: LocalSpec,
    env: AgentEnv,
    /// `capcom` binary to run agents under (`capcom __supervise`), if any.
    supervisor: Option<PathBuf>,
}

/// What a local agent's process gets from capcom besides its argv.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentEnv {
    /// Variables added (`[agents.X] env`).
    pub extra: BTreeMap<String, String>,
    /// When not empty, only these variables (globs) of the daemon's environment pass, plus [`BASIC_ENV`].
    pub allow: Vec<String>,
    /// Variables (globs) that never pass.
    pub deny: Vec<String>,
    /// The run's log keeps its first and last halves of this many bytes (0: no cap).
    pub max_log: u64,
    /// "bwrap", or empty for no sandbox.
    pub sandbox: String,
    /// More writable paths inside the sandbox (`~/` is the home dir).
    pub sandbox_write: Vec<String>,
}

impl AgentEnv {
    pub fn from_agent(agent: &crate::config::Agent, dispatch: &crate::config::Dispatch) -> AgentEnv {
        AgentEnv {
            extra: agent.env.clone(),
            allow: agent.env_allow.clone(),
            deny: agent.env_deny.clone(),
            max_log: dispatch.max_log_mib.saturating_mul(1 << 20),
            sandbox: agent.sandbox.trim().to_string(),
            sandbox_write: agent.sandbox_write.clone(),
        }
    }
}

/// Variables every program needs; they pass an `env_allow` list.
pub const BASIC_ENV: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "LC_*", "TERM", "TZ", "TMPDIR", "XDG_*",
];

/// `*` matches any run of characters; everything else is literal.
fn env_glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((pre, rest)) => {
            name.starts_with(pre) && {
                let tail = &name[pre.len()..];
                (0..=tail.len()).any(|i| tail.is_char_boundary(i) && env_glob(rest, &tail[i..]))
            }
        }
    }
}

/// Which of `vars` a local agent may see: capcom's own tokens (`own`) never, `deny` never,
/// and with an `allow` list only those and the basics.
pub fn agent_env_passes(name: &str, env: &AgentEnv, own: &[String]) -> bool {
    if own.iter().any(|o| o == name) || env.deny.iter().any(|d| env_glob(d, name)) {
        return false;
    }
    env.allow.is_empty()
        || env.allow.iter().any(|a| env_glob(a, name))
        || BASIC_ENV.iter().any(|b| env_glob(b, name))
}

impl LocalBackend {
    pub fn new(name: &str, spec: LocalSpec, env: AgentEnv, supervisor: Option<PathBuf>) -> LocalBackend {
        LocalBackend { name: name.to_string(), spec, env, supervisor }
    }

    pub fn spec(&self) -> &LocalSpec {
        &self.spec
    }

    /// The argv for a request, with every placeholder replaced as a whole argument.
    pub fn argv(&self, req: &StartRequest, prompt_file: &Path) -> Result<Vec<String>, BackendError> {
        let template = match (&req.resume, &self.spec.resume_argv) {
            (Some(_), Some(r)) => r,
            (Some(_), None) => return Err(BackendError::NoResume(self.name.clone())),
            (None, _) => &self.spec.argv,
        };
        // Linux refuses one argument over 128 KiB (MAX_ARG_STRLEN) with "Argument list too
        // long", and any NUL: such a prompt goes through its file (always written), which the
        // argument then names.
        let prompt_arg = if req.prompt.len() > MAX_PROMPT_ARG || req.prompt.contains('\0') {
            format!(
                "Your task is in the file {} (too long to pass as an argument). Read all of it first, then do what it says.",
                prompt_file.display()
            )
        } else {
            req.prompt.clone()
        };
        let argv: Vec<String> = template
            .iter()
            .map(|a| match a.as_str() {
                "{prompt}" => prompt_arg.clone(),
                "{prompt_file}" => prompt_file.to_string_lossy().into_owned(),
                "{workdir}" => req.workdir.to_string_lossy().into_owned(),
                "{session}" => req.resume.clone().unwrap_or_default(),
                other => other.to_string(),
            })
            .collect();
        if argv.is_empty() || argv[0].is_empty() {
            return Err(BackendError::Start { agent: self.name.clone(), message: "the command is empty".into() });
        }
        Ok(argv)
    }

    fn spawn(&self, req: &StartRequest) -> Result<(tokio::process::Child, u32, Option<u64>), BackendError> {
        let start_err = |message: String| BackendError::Start { agent: self.name.clone(), message };
        let prompt_dir = req.workdir.join(".capcom");
        std::fs::create_dir_all(&prompt_dir).map_err(|e| start_err(format!("{}: {e}", prompt_dir.display())))?;
        let prompt_file = prompt_dir.join("prompt.md");
        std::fs::write(&prompt_file, &req.prompt).map_err(|e| start_err(format!("{}: {e}", prompt_file.display())))?;
        let mut argv = self.argv(req, &prompt_file)?;
        match self.env.sandbox.as_str() {
            "" | "none" => {}
            "bwrap" => argv = bwrap_argv(&req.workdir, &self.env.sandbox_write, argv).map_err(start_err)?,
            other => return Err(start_err(format!("unknown sandbox `{other}` (use \"bwrap\" or leave it empty)"))),
        }
        if let Some(dir) = req.log_path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| start_err(format!("{}: {e}", dir.display())))?;
        }
        let _ = std::fs::remove_file(status_path(&req.log_path));
        let _ = std::fs::remove_file(pid_path(&req.log_path));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&req.log_path)
            .map_err(|e| start_err(format!("cannot open the log {}: {e}", req.log_path.display())))?;
        let log2 = log.try_clone().map_err(|e| start_err(e.to_string()))?;

        let mut cmd = match &self.supervisor {
            Some(exe) => {
                let mut c = tokio::process::Command::new(exe);
                c.arg("__supervise").arg("--status").arg(status_path(&req.log_path));
                if self.env.max_log > 0 {
                    c.arg("--max-log").arg(self.env.max_log.to_string());
                }
                c.arg("--").args(&argv);
                c
            }
            None => {
                let mut c = tokio::process::Command::new(&argv[0]);
                c.args(&argv[1..]);
                c
            }
        };
        cmd.current_dir(&req.workdir)
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0)
            .kill_on_drop(false)
            .env("CAPCOM_TASK_ID", req.task_id.to_string());
        // capcom's own tokens, and what the agent's env_allow / env_deny keep out, never reach it.
        let own = crate::private::own_env();
        cmd.env_clear();
        for (k, v) in std::env::vars_os() {
            if let Some(name) = k.to_str()
                && name != "CAPCOM_CONFIG"
                && agent_env_passes(name, &self.env, &own)
            {
                cmd.env(&k, v);
            }
        }
        cmd.env("CAPCOM_TASK_ID", req.task_id.to_string());
        for (k, v) in &self.env.extra {
            cmd.env(k, v);
        }
        crate::private::user_umask(cmd.as_std_mut());
        crate::process::background(cmd.as_std_mut());
        let child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                start_err(format!("`{}` is not installed or not on PATH", argv[0]))
            } else {
                start_err(format!("cannot run `{}`: {e}", argv[0]))
            }
        })?;
        let pid = child.id().ok_or_else(|| start_err("the process ended before it could be watched".into()))?;
        Ok((child, pid, proc_start_time(pid)))
    }
}

#[async_trait]
impl AgentBackend for LocalBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn supports_resume(&self) -> bool {
        self.spec.resume_argv.is_some()
    }

    async fn start(&self, req: StartRequest) -> Result<Launched, BackendError> {
        let (child, pid, pid_start) = self.spawn(&req)?;
        let run = RunRef {
            task_id: req.task_id,
            pid: Some(pid),
            pid_start,
            remote_id: None,
            session_id: req.resume.clone(),
            log_path: Some(req.log_path.clone()),
            workdir: Some(req.workdir.clone()),
        };
        let (tx, rx) = mpsc::channel(256);
        let _ = tx.try_send(AgentEvent::Started { pid: Some(pid), session_id: req.resume.clone() });
        let watcher = Watcher {
            log: req.log_path.clone(),
            format: self.spec.format,
            preset: self.spec.preset.clone(),
            pid,
            pid_start,
            quiet_until: 0,
        };
        tokio::spawn(watcher.run(Exit::Child(child), tx));
        Ok(Launched { run, events: rx })
    }

    async fn observe(&self, run: &RunRef) -> Result<mpsc::Receiver<AgentEvent>, BackendError> {
        let (Some(pid), Some(log)) = (run.pid, run.log_path.clone()) else {
            return Err(BackendError::UnknownRun(format!("task {} has no local process recorded", run.task_id)));
        };
        let quiet_until = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        let (tx, rx) = mpsc::channel(256);
        let watcher = Watcher {
            log,
            format: self.spec.format,
            preset: self.spec.preset.clone(),
            pid,
            pid_start: run.pid_start,
            quiet_until,
        };
        tokio::spawn(watcher.run(Exit::Pid, tx));
        Ok(rx)
    }

    async fn follow_up(&self, previous: &RunRef, mut req: StartRequest) -> Result<Launched, BackendError> {
        req.resume = if self.supports_resume() { previous.session_id.clone() } else { None };
        if req.workdir.as_os_str().is_empty()
            && let Some(w) = &previous.workdir {
                req.workdir = w.clone();
            }
        self.start(req).await
    }

    async fn cancel(&self, run: &RunRef) -> Result<(), BackendError> {
        let Some(pid) = run.pid else { return Ok(()) };
        kill_group(pid, run.pid_start).await;
        Ok(())
    }
}

/// The agent's argv under bubblewrap: everything read-only but the worktree, the repo's git
/// dir (commits land there), a private /tmp and `extra`; the agent dies with its supervisor.
pub fn bwrap_argv(workdir: &Path, extra: &[String], argv: Vec<String>) -> Result<Vec<String>, String> {
    use super::worktree::Git;
    let Some(bwrap) = super::presets::find_on_path("bwrap") else {
        return Err("sandbox = \"bwrap\" needs bubblewrap: `bwrap` is not installed or not on PATH".into());
    };
    let common = super::worktree::GitCli
        .ok(workdir, &["rev-parse", "--path-format=absolute", "--git-common-dir"])
        .map_err(|e| format!("cannot find the repo's git dir for the sandbox: {e}"))?;
    let home = std::env::var("HOME").unwrap_or_default();
    let mut out: Vec<String> = vec![bwrap.to_string_lossy().into_owned()];
    for a in ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"] {
        out.push(a.into());
    }
    // The private /tmp hides the host's; a program that lives there is still reachable, read-only.
    let program = argv.first().and_then(|p| super::presets::find_on_path(p)).and_then(|p| p.canonicalize().ok());
    if let Some(dir) = program.as_deref().and_then(Path::parent).filter(|d| d.starts_with("/tmp"))
    {
        let d = dir.to_string_lossy().into_owned();
        out.extend(["--ro-bind".to_string(), d.clone(), d]);
    }
    let mut writable = vec![workdir.to_string_lossy().into_owned(), common];
    for p in extra {
        let p = match p.strip_prefix("~/") {
            Some(rest) if !home.is_empty() => format!("{home}/{rest}"),
            _ => p.clone(),
        };
        if Path::new(&p).exists() {
            writable.push(p);
        }
    }
    for w in writable {
        out.extend(["--bind".to_string(), w.clone(), w]);
    }
    out.extend(["--die-with-parent".into(), "--chdir".into(), workdir.to_string_lossy().into_owned(), "--".into()]);
    out.extend(argv);
    Ok(out)
}

/// The exit status file a supervisor writes next to the log.
pub fn status_path(log: &Path) -> PathBuf {
    let mut s = log.as_os_str().to_owned();
    s.push(".status");
    PathBuf::from(s)
}

/// The file a supervisor writes its own pid and start time into before it starts the agent,
/// so a daemon that stopped before recording the pid can still find the run's process.
pub fn pid_path(log: &Path) -> PathBuf {
    let mut s = log.as_os_str().to_owned();
    s.push(".pid");
    PathBuf::from(s)
}

/// The supervisor's pid file: its pid and start time.
pub fn read_pid_file(log: &Path) -> Option<(u32, Option<u64>)> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(pid_path(log)).ok()?).ok()?;
    let pid = u32::try_from(v.get("pid")?.as_u64()?).ok()?;
    Some((pid, v.get("start").and_then(|s| s.as_u64())))
}

/// The run's supervisor as the kernel knows it, found by its command line
/// (`capcom __supervise --status <log>.status …`): a daemon stopped right after the spawn
/// returned, before the supervisor wrote its pid file, can still find it. A spawn returns only
/// once the supervisor has been exec'd, so its command line is there from the first instant.
pub fn find_supervisor(log: &Path) -> Option<(u32, Option<u64>)> {
    let status = status_path(log);
    let want = status.as_os_str().as_encoded_bytes();
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
        let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        let supervising = args.iter().any(|a| *a == b"__supervise".as_slice())
            && args.windows(2).any(|w| w[0] == b"--status".as_slice() && w[1] == want);
        if supervising && crate::process::process_alive(pid, None) {
            return Some((pid, crate::process::proc_start_time(pid)));
        }
    }
    None
}

/// How a run ended, as far as it can be known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
    Unknown,
}

/// Read a supervisor's status file.
pub fn read_status(log: &Path) -> Option<ExitStatus> {
    let text = std::fs::read_to_string(status_path(log)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    if let Some(c) = v.get("code").and_then(|c| c.as_i64()) {
        return Some(ExitStatus::Code(c as i32));
    }
    v.get("signal").and_then(|s| s.as_i64()).map(|s| ExitStatus::Signal(s as i32))
}

/// The CPU time (user + sys, ms) of the agent's whole process tree, as its supervisor measured it.
pub fn read_status_cpu(log: &Path) -> Option<i64> {
    let text = std::fs::read_to_string(status_path(log)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("cpu_ms").and_then(|c| c.as_i64()).filter(|c| *c >= 0)
}

/// Why the supervisor could not start the agent, if that is how the run ended.
pub fn read_status_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(status_path(log)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("error").and_then(|e| e.as_str()).map(String::from)
}

enum Exit {
    Child(tokio::process::Child),
    Pid,
}

struct Watcher {
    log: PathBuf,
    format: StreamFormat,
    preset: String,
    pid: u32,
    pid_start: Option<u64>,
    /// Lines before this offset were already reported (re-attach): parse them for
    /// state, but send no progress for them.
    quiet_until: u64,
}

impl Watcher {
    async fn run(self, mut exit: Exit, tx: mpsc::Sender<AgentEvent>) {
        let mut tail = LogTail::default();
        let mut state = StreamState::default();
        let mut sent_session: Option<String> = None;
        let status = loop {
            if !self.pump(&mut tail, &mut state, &tx, &mut sent_session).await {
                return;
            }
            let ended = match &mut exit {
                Exit::Child(child) => match child.try_wait() {
                    Ok(Some(st)) => Some(exit_of(st)),
                    Ok(None) => None,
                    Err(_) => (!process_alive(self.pid, self.pid_start)).then_some(ExitStatus::Unknown),
                },
                Exit::Pid => (!process_alive(self.pid, self.pid_start)).then_some(ExitStatus::Unknown),
            };
            if let Some(st) = ended {
                break st;
            }
            tokio::time::sleep(POLL).await;
        };
        // Strays the agent left in its group do not outlive it. Only for a child we
        // reaped just now: after a restart the group id may long since be reused.
        if matches!(exit, Exit::Child(_)) {
            kill_strays(self.pid);
        }
        let _ = self.pump(&mut tail, &mut state, &tx, &mut sent_session).await;
        if let Some(rest) = tail.flush() {
            let _ = self.line(&rest, &mut state, &tx, &mut sent_session, true).await;
        }
        let status = read_status(&self.log).unwrap_or(status);
        let cpu_ms = read_status_cpu(&self.log);
        if state.cost_usd.is_some() || state.usage.is_some() || cpu_ms.is_some() {
            let spent = AgentEvent::Spent { cost_usd: state.cost_usd, usage: state.usage, cpu_ms };
            if tx.send(spent).await.is_err() {
                return;
            }
        }
        let log_tail = read_tail(&self.log);
        let end = match read_status_error(&self.log) {
            // The supervisor could not start the program at all: say why, not "status 127".
            Some(reason) => AgentEvent::Failed { reason, log_tail },
            None => terminal(status, &state, &self.preset, log_tail),
        };
        let _ = tx.send(end).await;
    }

    /// Read what the log gained; false when the receiver is gone.
    async fn pump(
        &self,
        tail: &mut LogTail,
        state: &mut StreamState,
        tx: &mpsc::Sender<AgentEvent>,
        sent_session: &mut Option<String>,
    ) -> bool {
        for (offset, line) in tail.read(&self.log) {
            let loud = offset >= self.quiet_until;
            if !self.line(&line, state, tx, sent_session, loud).await {
                return false;
            }
        }
        !tx.is_closed()
    }

    async fn line(
        &self,
        line: &str,
        state: &mut StreamState,
        tx: &mpsc::Sender<AgentEvent>,
        sent_session: &mut Option<String>,
        loud: bool,
    ) -> bool {
        let info = parse_line(self.format, line, state);
        if !loud {
            return true;
        }
        if let Some(s) = &state.session_id
            && sent_session.as_ref() != Some(s) {
                *sent_session = Some(s.clone());
                if tx.send(AgentEvent::Started { pid: Some(self.pid), session_id: Some(s.clone()) }).await.is_err() {
                    return false;
                }
            }
        if let Some((number, url)) = info.pr
            && tx.send(AgentEvent::PrOpened { number, url }).await.is_err() {
                return false;
            }
        if let Some(p) = info.progress {
            let p = crate::logging::redact(&p);
            if tx.send(AgentEvent::Progress(p)).await.is_err() {
                return false;
            }
        }
        true
    }
}

fn kill_strays(pid: u32) {
    use nix::sys::signal::{Signal, killpg};
    if let Ok(raw) = i32::try_from(pid)
        && raw > 1 {
            let _ = killpg(nix::unistd::Pid::from_raw(raw), Signal::SIGKILL);
        }
}

fn exit_of(st: std::process::ExitStatus) -> ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => ExitStatus::Code(c),
        (None, Some(s)) => ExitStatus::Signal(s),
        _ => ExitStatus::Unknown,
    }
}

/// The terminal event for how a run ended and what its stream said.
pub fn terminal(status: ExitStatus, state: &StreamState, preset: &str, log_tail: String) -> AgentEvent {
    let finished = || AgentEvent::Finished {
        summary: state.final_summary(),
        session_id: state.session_id.clone(),
        cost_usd: state.cost_usd,
    };
    match status {
        ExitStatus::Code(0) => match &state.done {
            Some(Done::Error(m)) => AgentEvent::Failed { reason: format!("the agent reported an error: {m}"), log_tail },
            _ => finished(),
        },
        ExitStatus::Code(c) => AgentEvent::Failed { reason: exit_reason(preset, c), log_tail },
        ExitStatus::Signal(s) => AgentEvent::Failed { reason: format!("the agent was killed by signal {s}"), log_tail },
        ExitStatus::Unknown => match &state.done {
            Some(Done::Success) => finished(),
            Some(Done::Error(m)) => AgentEvent::Failed { reason: format!("the agent reported an error: {m}"), log_tail },
            None => AgentEvent::Failed {
                reason: "interrupted: the agent stopped while capcom was not watching, and how it ended is unknown".into(),
                log_tail,
            },
        },
    }
}

/// The last lines of a log, redacted.
pub fn read_tail(log: &Path) -> String {
    const MAX: u64 = 8192;
    let Ok(mut f) = std::fs::File::open(log) else { return String::new() };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(MAX)));
    let mut buf = Vec::new();
    let _ = f.take(MAX).read_to_end(&mut buf);
    crate::logging::redact(&tail_lines(&String::from_utf8_lossy(&buf), 30, MAX as usize))
}

/// Incremental line reader over a growing file.
#[derive(Default)]
struct LogTail {
    offset: u64,
    partial: Vec<u8>,
    partial_at: u64,
}

impl LogTail {
    /// Complete new lines, each with the offset where it starts.
    fn read(&mut self, path: &Path) -> Vec<(u64, String)> {
        let Ok(mut f) = std::fs::File::open(path) else { return Vec::new() };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        if f.take(4 << 20).read_to_end(&mut buf).is_err() || buf.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut at = self.offset;
        self.offset += buf.len() as u64;
        for b in buf {
            if self.partial.is_empty() {
                self.partial_at = at;
            }
            at += 1;
            if b == b'\n' {
                let line = String::from_utf8_lossy(&self.partial).into_owned();
                out.push((self.partial_at, line));
                self.partial.clear();
            } else if self.partial.len() < 1 << 20 {
                self.partial.push(b);
            }
        }
        out
    }

    fn flush(&mut self) -> Option<String> {
        if self.partial.is_empty() {
            return None;
        }
        let s = String::from_utf8_lossy(&self.partial).into_owned();
        self.partial.clear();
        Some(s)
    }
}

/// `capcom __supervise --status FILE [--max-log BYTES] -- ARGV...`: run ARGV, copy its
/// output to this process's stdout (the run's log) keeping the first and last halves of
/// `max_log` bytes, wait, write its exit status and the CPU time of its whole process tree
/// (`cpu_ms`: user + sys of every descendant it or we reaped) to FILE, exit with the same status.
///
/// The supervisor is the child subreaper of everything the agent starts: a process that
/// leaves the agent's process group (`setsid`, a double fork) is still its descendant.
/// SIGTERM (cancel, timeout) and the agent's own exit end the whole tree, not only the group.
pub fn supervise(status_file: &Path, max_log: u64, argv: &[String]) -> u8 {
    use nix::sys::signal::{SigSet, Signal};
    use std::os::unix::process::ExitStatusExt;
    use std::sync::{Arc, Mutex};
    let Some((prog, args)) = argv.split_first() else {
        eprintln!("capcom __supervise: no command");
        return 2;
    };
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER only changes who inherits orphans.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
    let mut signals = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        signals.add(s);
    }
    // Blocked here and in the threads below; the agent starts with a clean mask (std resets it).
    let _ = signals.thread_block();

    // First of all, where this run's process can be found (see `pid_path`).
    if let Some(log) = status_file.to_str().and_then(|s| s.strip_suffix(".status")) {
        let me = std::process::id();
        let json = serde_json::json!({ "pid": me, "start": proc_start_time(me) });
        let (pid_file, tmp) = (pid_path(Path::new(log)), status_file.with_extension("pid.tmp"));
        if std::fs::write(&tmp, json.to_string()).is_ok() {
            let _ = std::fs::rename(&tmp, &pid_file);
        }
    }
    let write_status = |json: serde_json::Value| {
        let tmp = status_file.with_extension("status.tmp");
        if std::fs::write(&tmp, json.to_string()).is_ok() {
            let _ = std::fs::rename(&tmp, status_file);
        }
    };
    let log = Arc::new(Mutex::new(CappedLog::new(std::io::stdout(), max_log)));
    let mut cmd = std::process::Command::new(prog);
    cmd.args(args);
    let reader = match std::io::pipe() {
        Ok((reader, writer)) => {
            let w2 = writer.try_clone().ok();
            cmd.stdout(writer);
            if let Some(w2) = w2 {
                cmd.stderr(w2);
            }
            Some(reader)
        }
        Err(_) => None,
    };
    let child = cmd.spawn();
    drop(cmd); // our copies of the pipe's write end
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            let msg = if e.kind() == std::io::ErrorKind::NotFound {
                format!("capcom: `{prog}` is not installed or not on PATH")
            } else {
                format!("capcom: cannot run `{prog}`: {e}")
            };
            eprintln!("{msg}");
            let code = if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
            write_status(serde_json::json!({ "code": code, "error": msg.trim_start_matches("capcom: ") }));
            return code as u8;
        }
    };
    let copier = reader.map(|mut r| {
        let log = log.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match r.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        let _ = log.lock().unwrap_or_else(|p| p.into_inner()).write(&buf[..n]);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
        })
    });
    let me = std::process::id();
    std::thread::spawn(move || {
        if signals.wait().is_ok() {
            // Cancel or timeout: the whole tree, politely first.
            kill_tree(me, nix::sys::signal::Signal::SIGTERM);
            std::thread::sleep(Duration::from_secs(1));
            kill_tree(me, nix::sys::signal::Signal::SIGKILL);
        }
    });
    let waited = child.wait();
    // What the agent left running (in its group or not) ends with it.
    kill_tree(me, nix::sys::signal::Signal::SIGKILL);
    reap_children();
    // Every descendant is reaped by now (the agent by `wait`, its orphans by us: we are
    // their subreaper), so the children's usage covers the whole tree.
    let cpu_ms = children_cpu_ms();
    if let Some(c) = copier {
        let _ = c.join();
    }
    log.lock().unwrap_or_else(|p| p.into_inner()).finish();
    let (mut json, code) = match waited {
        Ok(st) => match (st.code(), st.signal()) {
            (Some(c), _) => (serde_json::json!({ "code": c }), c.clamp(0, 255) as u8),
            (None, Some(s)) => (serde_json::json!({ "signal": s }), (128 + s).clamp(0, 255) as u8),
            _ => (serde_json::json!({ "code": 1 }), 1),
        },
        Err(e) => {
            eprintln!("capcom: cannot wait for `{prog}`: {e}");
            (serde_json::json!({ "code": 1 }), 1)
        }
    };
    if let Some(ms) = cpu_ms {
        json["cpu_ms"] = serde_json::json!(ms);
    }
    write_status(json);
    code
}

/// Reap every child that has ended (orphans we inherited as their subreaper).
fn reap_children() {
    while let Ok(st) = nix::sys::wait::waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
        if st == nix::sys::wait::WaitStatus::StillAlive {
            break;
        }
    }
}

/// User + system CPU time, in ms, of every child (and their descendants) this process reaped.
fn children_cpu_ms() -> Option<i64> {
    // SAFETY: an all-zero `rusage` is valid, and getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) } != 0 {
        return None;
    }
    let ms = |t: libc::timeval| (t.tv_sec as i64) * 1000 + (t.tv_usec as i64) / 1000;
    Some(ms(ru.ru_utime) + ms(ru.ru_stime))
}

/// Every live descendant of `root` (by parent pid, read from /proc).
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else { continue };
            // After ')': state, then ppid.
            if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok()) {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for &(child, parent) in &parent_of {
            if parent == p && child != root && !out.contains(&child) {
                out.push(child);
                frontier.push(child);
            }
        }
    }
    out
}

/// Signal every descendant of `root`, repeating until none is left for SIGKILL (a fork
/// racing the walk is caught by the next pass).
fn kill_tree(root: u32, sig: nix::sys::signal::Signal) {
    use nix::unistd::Pid;
    let passes = if sig == nix::sys::signal::Signal::SIGKILL { 5 } else { 1 };
    for _ in 0..passes {
        let all = descendants(root);
        if all.is_empty() {
            return;
        }
        for pid in all {
            if let Ok(raw) = i32::try_from(pid) {
                let _ = nix::sys::signal::kill(Pid::from_raw(raw), sig);
            }
        }
        // Reap what we inherited, so the next walk does not see zombies.
        while let Ok(st) = nix::sys::wait::waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
            if st == nix::sys::wait::WaitStatus::StillAlive {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A log that keeps its first and last halves of `max` bytes: the head is written as it
/// comes, the rest is held in a window of the last `max / 2` bytes and written by
/// [`CappedLog::finish`], after a line saying how much was left out.
pub struct CappedLog<W: std::io::Write> {
    out: W,
    head_left: u64,
    tail: std::collections::VecDeque<u8>,
    tail_cap: usize,
    dropped: u64,
    capped: bool,
}

impl<W: std::io::Write> CappedLog<W> {
    pub fn new(out: W, max: u64) -> CappedLog<W> {
        CappedLog {
            out,
            head_left: if max == 0 { u64::MAX } else { max / 2 },
            tail: std::collections::VecDeque::new(),
            tail_cap: usize::try_from(max / 2).unwrap_or(usize::MAX),
            dropped: 0,
            capped: max > 0,
        }
    }

    pub fn write(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        if self.head_left > 0 {
            let n = data.len().min(usize::try_from(self.head_left).unwrap_or(usize::MAX));
            self.out.write_all(&data[..n])?;
            self.out.flush()?;
            self.head_left -= n as u64;
            data = &data[n..];
        }
        if data.is_empty() || !self.capped {
            return Ok(());
        }
        self.tail.extend(data);
        if self.tail.len() > self.tail_cap {
            let excess = self.tail.len() - self.tail_cap;
            self.tail.drain(..excess);
            self.dropped += excess as u64;
        }
        Ok(())
    }

    pub fn finish(&mut self) {
        let mut tail: Vec<u8> = self.tail.drain(..).collect();
        if self.dropped > 0 {
            // Start the kept tail at a whole line.
            if let Some(nl) = tail.iter().position(|&b| b == b'\n') {
                self.dropped += (nl + 1) as u64;
                tail.drain(..=nl);
            }
            let _ = writeln!(
                self.out,
                "\n[capcom: {} bytes of output were left out here; the log keeps its first and last parts ([dispatch] max_log_mib)]",
                self.dropped
            );
        }
        let _ = self.out.write_all(&tail);
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A daemon killed right after the spawn, before the supervisor wrote its pid file, finds
    /// the supervisor by its command line, and only the one supervising this run's log.
    #[test]
    fn a_supervisor_is_found_by_its_command_line_before_its_pid_file_exists() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("run-7.log");
        let other = dir.path().join("run-8.log");
        assert_eq!(find_supervisor(&log), None);
        // argv as `capcom __supervise --status <log>.status -- …` has it (one process that keeps its
        // argv and forks nothing: perl, from Debian's essential perl-base, ignores the extra words)
        let mut child = std::process::Command::new("perl")
            .args(["-e", "sleep 30", "__supervise", "--status"])
            .arg(status_path(&log))
            .spawn()
            .unwrap();
        // The kernel fills in /proc/PID/cmdline as the exec finishes, a moment after the spawn
        // returns (a daemon restarting is far later than that): wait for it, bounded.
        let mut found = None;
        for _ in 0..200 {
            found = find_supervisor(&log);
            if found.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let (pid, start) = found.expect("found by its command line");
        assert_eq!(pid, child.id());
        assert_eq!(start, crate::process::proc_start_time(child.id()));
        assert_eq!(find_supervisor(&other), None, "another run's log");
        assert!(read_pid_file(&log).is_none(), "no pid file was written");
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(find_supervisor(&log), None, "an ended supervisor is not found");
    }

    #[test]
    fn start_time_of_this_process_is_read() {
        let me = std::process::id();
        assert!(proc_start_time(me).is_some());
        assert!(process_alive(me, proc_start_time(me)));
        assert!(!process_alive(me, proc_start_time(me).map(|s| s + 1)), "a different start time is a different process");
        assert!(!process_alive(u32::MAX - 1, None));
    }

    #[test]
    fn terminal_events_follow_the_exit_and_the_stream() {
        let mut st = StreamState::default();
        assert!(matches!(terminal(ExitStatus::Code(0), &st, "claude", String::new()), AgentEvent::Finished { .. }));
        assert!(matches!(terminal(ExitStatus::Code(2), &st, "claude", String::new()), AgentEvent::Failed { .. }));
        assert!(matches!(terminal(ExitStatus::Unknown, &st, "claude", String::new()),
            AgentEvent::Failed { ref reason, .. } if reason.starts_with("interrupted")));
        st.done = Some(Done::Error("quota".into()));
        assert!(matches!(terminal(ExitStatus::Code(0), &st, "codex", String::new()),
            AgentEvent::Failed { ref reason, .. } if reason.contains("quota")));
        st.done = Some(Done::Success);
        assert!(matches!(terminal(ExitStatus::Unknown, &st, "claude", String::new()), AgentEvent::Finished { .. }));
    }

    #[test]
    fn placeholders_are_whole_arguments_only() {
        let spec = LocalSpec {
            preset: String::new(),
            argv: vec!["agent".into(), "{prompt}".into(), "--dir={workdir}".into(), "{workdir}".into(), "{prompt_file}".into()],
            resume_argv: None,
            format: StreamFormat::Plain,
        };
        let b = LocalBackend::new("x", spec, AgentEnv::default(), None);
        let req = StartRequest {
            prompt: "it's \"quoted\"; rm -rf / $(x)".into(),
            workdir: PathBuf::from("/w"),
            ..StartRequest::default()
        };
        let argv = b.argv(&req, Path::new("/w/.capcom/prompt.md")).unwrap();
        assert_eq!(argv, ["agent", "it's \"quoted\"; rm -rf / $(x)", "--dir={workdir}", "/w", "/w/.capcom/prompt.md"]);
        let resume = StartRequest { resume: Some("s".into()), ..req };
        assert!(matches!(b.argv(&resume, Path::new("p")), Err(BackendError::NoResume(_))));
    }

    #[test]
    fn a_prompt_too_long_for_one_argument_is_passed_as_its_file() {
        let spec = LocalSpec { preset: String::new(), argv: vec!["agent".into(), "-p".into(), "{prompt}".into()], resume_argv: None, format: StreamFormat::Plain };
        let b = LocalBackend::new("x", spec, AgentEnv::default(), None);
        for (prompt, whole) in [("short".to_string(), true), ("x".repeat(MAX_PROMPT_ARG), true), ("x".repeat(200 * 1024), false), ("a\0b".to_string(), false)] {
            let req = StartRequest { prompt: prompt.clone(), workdir: PathBuf::from("/w"), ..StartRequest::default() };
            let argv = b.argv(&req, Path::new("/w/.capcom/prompt.md")).unwrap();
            if whole {
                assert_eq!(argv[2], prompt);
            } else {
                assert!(argv[2].contains("/w/.capcom/prompt.md") && argv[2].len() < 1024, "{}", &argv[2][..argv[2].len().min(80)]);
            }
        }
    }

    #[test]
    fn a_capped_log_keeps_its_head_and_tail_whole_lines() {
        // (total written, cap) → the head is the first cap/2 bytes, the tail starts at a line.
        let mut text = String::new();
        for i in 0..1000 {
            text.push_str(&format!("line {i:04}\n"));
        }
        let mut out = Vec::new();
        {
            let mut log = CappedLog::new(&mut out, 200);
            for chunk in text.as_bytes().chunks(7) {
                log.write(chunk).unwrap();
            }
            log.finish();
        }
        let got = String::from_utf8(out).unwrap();
        assert!(got.starts_with(&text[..100]), "{got}");
        assert!(got.contains("bytes of output were left out"), "{got}");
        assert!(got.ends_with("line 0999\n"), "{got}");
        assert!(got.len() < 400, "{} bytes kept", got.len());
        let after = got.split("max_log_mib)]\n").nth(1).unwrap();
        assert!(after.starts_with("line "), "the tail starts at a whole line: {after:?}");

        // Under the cap everything is kept, in order, with no marker.
        let mut out = Vec::new();
        {
            let mut log = CappedLog::new(&mut out, 1 << 20);
            log.write(text.as_bytes()).unwrap();
            log.finish();
        }
        assert_eq!(String::from_utf8(out).unwrap(), text);

        // No cap at all.
        let mut out = Vec::new();
        {
            let mut log = CappedLog::new(&mut out, 0);
            log.write(text.as_bytes()).unwrap();
            log.finish();
        }
        assert_eq!(out.len(), text.len());
    }

    #[test]
    fn agent_environment_table() {
        let own = vec!["GITHUB_TOKEN".to_string(), "JULES_API_KEY".to_string()];
        let open = AgentEnv::default();
        let strict = AgentEnv { allow: vec!["ANTHROPIC_*".into()], deny: vec!["AWS_*".into()], ..AgentEnv::default() };
        let deny = AgentEnv { deny: vec!["AWS_*".into(), "NPM_TOKEN".into()], ..AgentEnv::default() };
        let cases: &[(&str, &AgentEnv, bool)] = &[
            ("GITHUB_TOKEN", &open, false),
            ("JULES_API_KEY", &open, false),
            ("ANTHROPIC_API_KEY", &open, true),
            ("HOME", &open, true),
            ("GITHUB_TOKEN", &strict, false),
            ("ANTHROPIC_API_KEY", &strict, true),
            ("PATH", &strict, true),
            ("LC_ALL", &strict, true),
            ("OPENAI_API_KEY", &strict, false),
            ("AWS_SECRET_ACCESS_KEY", &strict, false),
            ("AWS_SECRET_ACCESS_KEY", &deny, false),
            ("NPM_TOKEN", &deny, false),
            ("NPM_TOKEN_2", &deny, true),
            ("EDITOR", &deny, true),
        ];
        for (name, env, want) in cases {
            assert_eq!(agent_env_passes(name, env, &own), *want, "{name} with {env:?}");
        }
    }

    #[test]
    fn log_tail_reads_whole_lines_incrementally() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("log");
        std::fs::write(&p, "one\ntw").unwrap();
        let mut t = LogTail::default();
        assert_eq!(t.read(&p), vec![(0, "one".to_string())]);
        std::fs::write(&p, "one\ntwo\nthree\n").unwrap();
        assert_eq!(t.read(&p), vec![(4, "two".to_string()), (8, "three".to_string())]);
        assert!(t.read(&p).is_empty());
        assert_eq!(t.flush(), None);
    }
}
