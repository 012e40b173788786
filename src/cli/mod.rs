//! The command line: clap commands, each a thin client of the daemon's API
//! (except `daemon`, `parse`, `transcribe`, `models` and `doctor`, which work alone).

pub mod client;
mod doctor;
mod init;
mod hooks;
pub mod install;
mod parse;
mod stats;
mod voice_out;
mod voice;

use crate::config::{self, DataDir};
use crate::store::Task;
use clap::{Parser, Subcommand};
use client::{Client, ClientError};
use std::path::PathBuf;

/// Named exit codes (DESIGN.md's CLI contract).
pub mod exit {
    pub const OK: u8 = 0;
    pub const ERROR: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const NOT_RUNNING: u8 = 3;
}

#[derive(Parser, Debug)]
#[command(name = "capcom", version, about = "Voice-driven dispatch for a fleet of coding agents")]
pub struct Cli {
    /// Config file (default: ~/.config/capcom/config.toml)
    #[arg(long, global = true, env = "CAPCOM_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data dir: database, audio, worktrees, logs, API token (default: ~/.local/share/capcom)
    #[arg(long, global = true, env = "CAPCOM_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon: tray, hotkey and mic, API and dispatcher
    Daemon {
        /// API and dispatcher only: no audio, hotkey or tray
        #[arg(long)]
        headless: bool,
    },
    /// Act on TEXT as if it were spoken
    Brief {
        /// What you would say, e.g. "bump tailwind in the site repo, tests must pass"
        #[arg(value_name = "TEXT", required = true)]
        text: Vec<String>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Understanding only: print the Intent, act on nothing
    Parse {
        /// The words to understand
        #[arg(value_name = "TEXT", required = true)]
        text: Vec<String>,
        /// Print the Intent JSON (the contract in ARCHITECTURE.md) instead of a summary
        #[arg(long)]
        json: bool,
        /// Print which words decided the intent and each task's kind, repo, agent, scope and criteria
        #[arg(long, conflicts_with = "json")]
        explain: bool,
    },
    /// List tasks
    Tasks {
        /// Include merged and cancelled tasks
        #[arg(long)]
        all: bool,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// One task: runs, events, checks, scope flags, branch/PR
    Task {
        /// The task's number
        #[arg(value_name = "TASK")]
        id: i64,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// The "what's finished?" answer
    Status {
        /// finished (the default), running, failed or all
        #[arg(long)]
        filter: Option<String>,
        /// Say the answer out loud
        #[arg(long)]
        speak: bool,
        /// Write the spoken answer to a WAV file
        #[arg(long, value_name = "FILE.wav")]
        out: Option<PathBuf>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Ask to merge a task; prints the question and a confirmation code
    Merge {
        /// A task number, or words that name it ("the tailwind one")
        #[arg(value_name = "TASK")]
        task: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Confirm the pending question
    Confirm {
        /// The code the question printed (optional: the pending question is confirmed)
        code: Option<String>,
        /// Merge even though no automated check ran on the change (the stronger confirmation)
        #[arg(long)]
        no_checks: bool,
    },
    /// Answer the question a held task waits on ("Which files?"), or its agent's question.
    /// `capcom answer 3 "only the components folder"`; `capcom answer 3 "dispatch it anyway"`
    /// starts it as it stands
    Answer {
        /// The task's number (or words that name it)
        #[arg(value_name = "TASK")]
        task: String,
        /// The answer, as you would say it
        #[arg(value_name = "TEXT", required = true)]
        text: Vec<String>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Cancel a task
    Cancel {
        /// A task number, or words that name it
        #[arg(value_name = "TASK")]
        task: String,
    },
    /// The changelog of finished work. Without --text or --out it publishes an episode
    /// (audio in the changelog folder and the podcast feed)
    Changelog {
        /// How far back: "24h", "3d", "90m"
        #[arg(long, default_value = "24h")]
        since: String,
        /// Print the script only; publish nothing
        #[arg(long)]
        text: bool,
        /// Write the audio to this WAV file instead of publishing
        #[arg(long, value_name = "FILE.wav")]
        out: Option<PathBuf>,
        /// Print JSON (the script, and the episode's files when one was published)
        #[arg(long)]
        json: bool,
    },
    /// Transcribe a WAV file the way the daemon would
    Transcribe {
        /// A WAV file (any rate, mono or stereo)
        #[arg(value_name = "FILE.wav")]
        file: PathBuf,
        /// A model name from `capcom models list`, or a path to a ggml model file
        #[arg(long)]
        model: Option<String>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
        /// auto: clips up to 2.5 s as commands first; command: always the
        /// commands grammar first; free: no grammar (default from [voice] command_mode)
        #[arg(long, value_enum)]
        mode: Option<crate::transcribe::DecodeMode>,
        /// Leave the vocabulary out of Whisper's prompt
        #[arg(long)]
        no_prompt: bool,
    },
    /// Speech models
    Models {
        #[command(subcommand)]
        action: ModelsAction,
    },
    /// Utterances: time, duration, transcript, audio file. Recordings older than
    /// [store] keep_audio (30 days by default) are deleted; `capcom history delete` deletes by hand
    History {
        #[command(subcommand)]
        action: Option<HistoryAction>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Write a first config for the git repo around PATH (default: the current directory):
    /// its base branch, checks from its manifests, the agents on PATH, its GitHub remote.
    /// An existing config gets the repo added, and is never overwritten without --force
    Init {
        /// A folder inside the repo (default: the current directory)
        #[arg(value_name = "PATH")]
        path: Option<PathBuf>,
        /// Write a new config over an existing one (the old one is kept as config.toml.bak)
        #[arg(long)]
        force: bool,
        /// Print every key with its default and what it does (the built-in reference), write nothing
        #[arg(long, conflicts_with_all = ["path", "force"])]
        defaults: bool,
    },
    /// The repos in your config: `repos add PATH`, `repos list`, `repos remove NAME`
    /// (the file is edited in place; its comments stay)
    Repos {
        #[command(subcommand)]
        action: Option<ReposAction>,
        /// Print JSON (for the list)
        #[arg(long)]
        json: bool,
    },
    /// Check mic, display, model, agents, tokens and the API
    Doctor {
        /// Print the checks as JSON
        #[arg(long)]
        json: bool,
    },
    /// Remove the worktrees of merged, cancelled and long-failed tasks, and folders no task owns
    Gc {
        /// Only list what would be removed, with sizes
        #[arg(long)]
        dry_run: bool,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// What tasks cost and how they went: green on the first try, median time to ready,
    /// cost per task, runs, follow-ups and CPU time
    Stats {
        /// Split the figures by agent or by task kind
        #[arg(long, value_name = "agent|kind")]
        by: Option<String>,
        /// Only tasks created in this period ("7d", "24h") or since an RFC 3339 time
        #[arg(long, value_name = "DUR")]
        since: Option<String>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Internal: run an agent's argv and record its exit status (the daemon uses this)
    #[command(name = "__supervise", hide = true)]
    Supervise {
        /// Where to write the exit status
        #[arg(long)]
        status: PathBuf,
        /// Keep the first and last halves of this many bytes of output
        #[arg(long, default_value_t = 0)]
        max_log: u64,
        /// The agent's argv
        #[arg(last = true, required = true)]
        argv: Vec<String>,
    },
    /// Pair a phone: print a link with a one-time code (valid 5 minutes) and its QR code
    Pair {
        #[arg(long)]
        json: bool,
    },
    /// Paired devices (phones, browsers); `capcom devices revoke NAME` locks one out
    Devices {
        #[command(subcommand)]
        action: Option<DevicesAction>,
        #[arg(long)]
        json: bool,
    },
    /// Remote control of the running daemon's recording, for a desktop shortcut
    /// where the global hotkey cannot work (Wayland)
    Listen {
        /// Start recording, or stop and transcribe if recording
        #[arg(long, conflicts_with_all = ["pause", "resume", "start", "stop"])]
        toggle: bool,
        /// Start recording (nothing when it records already): bind it to a key's press
        #[arg(long, conflicts_with_all = ["pause", "resume", "stop"])]
        start: bool,
        /// Stop recording and transcribe (nothing when it is not recording): bind it to the key's release
        #[arg(long, conflicts_with_all = ["pause", "resume"])]
        stop: bool,
        /// Pause listening: the hotkey and the microphone stay off until resumed (the tray shows it)
        #[arg(long, conflicts_with = "resume")]
        pause: bool,
        /// Resume listening after --pause (or the tray's "Pause listening")
        #[arg(long)]
        resume: bool,
    },
    /// Forward one hook payload from an agent you run yourself (Claude Code, Codex, Gemini,
    /// Copilot CLI) to the daemon. Agents run this; `capcom hooks install AGENT` sets it up.
    /// Always exits 0 within a second; does nothing when the daemon is not running
    Hook {
        /// claude, codex, gemini or copilot
        agent: String,
        /// The event's name (Copilot), or the payload itself (Codex passes it last)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Let capcom hear the agents you run yourself: add (or remove) capcom's hooks in the
    /// agent's own settings file, keeping everything else in it
    Hooks {
        #[command(subcommand)]
        action: HooksAction,
    },
    /// The agent sessions you run yourself that capcom has heard: which wait for you, which finished
    Sessions {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script (capcom.sh run installs them where each shell looks)
    Completions {
        /// bash, zsh, fish, elvish or powershell
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Write the man page, capcom.1 (capcom.sh run installs it in ~/.local/share/man/man1)
    Man {
        /// Folder to write capcom.1 into; without it the page goes to stdout
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum HistoryAction {
    /// Delete utterances: their transcripts and recordings (tasks keep their brief)
    #[command(group = clap::ArgGroup::new("which").required(true).args(["id", "before"]))]
    Delete {
        /// The utterance's number, from `capcom history`
        #[arg(value_name = "ID")]
        id: Option<i64>,
        /// Everything recorded before this: a date (2026-11-01, local midnight), a time
        /// (2026-11-01T09:00:00Z) or a period back from now (30d)
        #[arg(long, value_name = "DATE")]
        before: Option<String>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ReposAction {
    /// Add the git repo at PATH: name, base branch, GitHub remote and checks found in it
    Add {
        #[arg(value_name = "PATH")]
        path: PathBuf,
        /// What you call it (default: the folder's name)
        #[arg(long)]
        name: Option<String>,
        /// The branch tasks start from and merge into (default: origin's HEAD, main or master)
        #[arg(long)]
        base: Option<String>,
    },
    /// List the configured repos
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a repo from the config (its tasks, branches and worktrees stay)
    Remove {
        #[arg(value_name = "NAME")]
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum HooksAction {
    /// Add capcom's hooks: claude (~/.claude/settings.json), codex (~/.codex/config.toml
    /// `notify`), gemini (~/.gemini/settings.json) or copilot (~/.copilot/hooks/capcom.json)
    Install {
        /// claude, codex, gemini or copilot
        agent: String,
        /// The project's settings instead of yours (DIR/.claude/settings.json, …)
        #[arg(long, value_name = "DIR")]
        project: Option<PathBuf>,
        /// Print the change; write nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove capcom's hooks (only capcom's)
    Uninstall {
        /// claude, codex, gemini or copilot
        agent: String,
        /// The project's settings instead of yours
        #[arg(long, value_name = "DIR")]
        project: Option<PathBuf>,
        /// Print the change; write nothing
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum DevicesAction {
    /// Revoke a device's token (by name or id); the page on it stops working at once
    Revoke { name: String },
}

#[derive(Subcommand, Debug)]
pub enum ModelsAction {
    /// List the models in the manifest and which are installed
    List {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Download a model
    Fetch {
        /// A name from `capcom models list`, e.g. base.en
        name: String,
    },
    /// Convert a CTranslate2 (faster-whisper) Whisper model directory into a
    /// whisper.cpp model in the models folder
    Import {
        /// The directory holding model.bin, config.json and vocabulary.txt or tokenizer.json
        dir: PathBuf,
        /// Quantize the weights to q8_0 (smaller and faster, about a point more WER)
        #[arg(long = "q8_0", alias = "q8")]
        q8_0: bool,
        /// File name in the models folder (default ggml-<size>[.en][-q8_0].bin)
        #[arg(long)]
        name: Option<String>,
    },
}

/// Run a parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> u8 {
    if let Command::Supervise { status, max_log, argv } = &cli.command {
        // No logging, config or runtime: this process only waits for the agent.
        return crate::dispatch::local::supervise(status, *max_log, argv);
    }
    // An agent's hook: no logging, config or runtime setup; exit 0 within a second, whatever happens.
    if let Command::Hook { agent, args } = &cli.command {
        return hooks::hook(&DataDir::resolve(cli.data_dir.as_deref()), agent, args);
    }
    if let Command::Hooks { action } = &cli.command {
        let data = DataDir::resolve(cli.data_dir.as_deref());
        return match action {
            HooksAction::Install { agent, project, dry_run } => hooks::install_cmd(&data, agent, project.as_deref(), *dry_run, false),
            HooksAction::Uninstall { agent, project, dry_run } => hooks::install_cmd(&data, agent, project.as_deref(), *dry_run, true),
        };
    }
    // Generated from the command line's own definition: no config, data dir or daemon.
    if matches!(cli.command, Command::Completions { .. } | Command::Man { .. }) {
        // `capcom completions bash | head` ends quietly.
        // SAFETY: restores the default action for SIGPIPE before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match &cli.command {
        Command::Completions { shell } => return install::completions(*shell, &mut std::io::stdout()),
        Command::Man { out } => return install::man(out.as_deref()),
        // These write the config file, so they work when there is none, or one that does not load.
        Command::Init { defaults: true, .. } => {
            print!("{}", config::DEFAULT_TOML);
            return exit::OK;
        }
        Command::Init { path, force, .. } => return init::run_init(cli.config.as_deref(), path.as_deref(), *force),
        Command::Repos { action: Some(ReposAction::Add { path, name, base }), .. } => {
            return init::repos_add(cli.config.as_deref(), path, name.as_deref(), base.as_deref());
        }
        Command::Repos { action: Some(ReposAction::Remove { name }), .. } => return init::repos_remove(cli.config.as_deref(), name),
        _ => {}
    }
    // The first line a user reads is capcom's own, not ALSA's device probing.
    crate::capture::mic::quiet_alsa();
    let data = DataDir::resolve(cli.data_dir.as_deref());
    let is_daemon = matches!(cli.command, Command::Daemon { .. });
    // Held until this function returns: one daemon per data dir.
    let mut _daemon_lock = None;
    if is_daemon {
        // The data dir first, private, then the lock, then the logs inside it.
        let tightened = match crate::private::make_private(data.root()) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("capcom: {e}");
                return exit::ERROR;
            }
        };
        match crate::private::lock_daemon(data.root()) {
            Ok(l) => _daemon_lock = Some(l),
            Err(e) => {
                eprintln!("capcom: {e}");
                return exit::ERROR;
            }
        }
        if let Err(e) = crate::logging::init_daemon(&data.daemon_logs()) {
            eprintln!("capcom: {e}");
            return exit::ERROR;
        }
        tightened.log();
    } else {
        // A reader that goes away (`capcom parse --json … | head`) ends the output quietly.
        // SAFETY: restores the default action for SIGPIPE before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
        crate::logging::init_cli();
    }
    let loaded = match config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(l) => l,
        // A config that does not load is what `doctor` is for: it reports it with the rest.
        Err(e) if matches!(cli.command, Command::Doctor { .. }) => {
            let Command::Doctor { json } = cli.command else { return exit::ERROR };
            let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("capcom: cannot start the async runtime: {e}");
                    return exit::ERROR;
                }
            };
            let loaded = config::Loaded { config: config::Config::default(), source: None, warnings: Vec::new() };
            return rt.block_on(doctor::run_with(&loaded, Some(e.to_string()), &data, json));
        }
        Err(e) => {
            eprintln!("capcom: {e}");
            return exit::ERROR;
        }
    };
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("capcom: cannot start the async runtime: {e}");
            return exit::ERROR;
        }
    };
    // The daemon follows the file it read (or the user's file, once there is one).
    let explicit_config = cli.config.clone();
    let config_file = cli.config.clone().or_else(config::default_path);
    let code = rt.block_on(dispatch(cli.command, loaded, data, explicit_config, config_file));
    crate::logging::flush();
    code
}

async fn dispatch(command: Command, loaded: config::Loaded, data: DataDir, explicit_config: Option<PathBuf>, config_file: Option<PathBuf>) -> u8 {
    match command {
        Command::Daemon { headless } => {
            let config_file = config_file.map(|path| crate::daemon::ConfigFile { explicit: explicit_config, path });
            let opts = crate::daemon::Options { config: loaded.config, data, headless, config_file };
            match crate::daemon::run(opts, crate::daemon::shutdown_signal()).await {
                Ok(()) => exit::OK,
                Err(e) => {
                    eprintln!("capcom daemon: {e:#}");
                    exit::ERROR
                }
            }
        }
        Command::Tasks { all, json } => with_client(&data, |c| async move {
            let tasks: Vec<Task> = c.get(&format!("/v1/tasks?all={all}")).await?;
            if json {
                print_json(&tasks);
            } else {
                print_tasks(&tasks);
            }
            Ok(exit::OK)
        })
        .await,
        Command::Task { id, json } => with_client(&data, |c| async move {
            let detail: serde_json::Value = c.get(&format!("/v1/tasks/{id}")).await?;
            if json {
                print_json(&detail);
            } else {
                print_task_detail(&detail);
            }
            Ok(exit::OK)
        })
        .await,
        Command::Gc { dry_run, json } => with_client(&data, |c| async move {
            let v: serde_json::Value = c.post("/v1/gc", &serde_json::json!({ "dry_run": dry_run })).await?;
            if json {
                print_json(&v);
                return Ok(exit::OK);
            }
            let items = v["items"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                println!("Nothing to clean up.");
            }
            let total: u64 = items.iter().filter_map(|i| i["bytes"].as_u64()).sum();
            for i in &items {
                let bytes = i["bytes"].as_u64().unwrap_or(0);
                println!("{} {} ({}, {:.1} MB)", if dry_run { "would remove" } else { "removed" }, i["path"].as_str().unwrap_or("?"), i["why"].as_str().unwrap_or(""), bytes as f64 / 1e6);
            }
            if !items.is_empty() {
                println!("{:.1} MB {}", total as f64 / 1e6, if dry_run { "can be freed: run `capcom gc` to remove them" } else { "freed" });
            }
            Ok(exit::OK)
        })
        .await,
        Command::Stats { by, since, json } => {
            if let Err(e) = crate::report::stats::By::parse(by.as_deref().unwrap_or("")) {
                eprintln!("capcom: {e}");
                return exit::USAGE;
            }
            with_client(&data, |c| async move { stats::run(c, by.as_deref(), since.as_deref(), json).await }).await
        }
        Command::History { action: Some(HistoryAction::Delete { id, before, json }), .. } => with_client(&data, |c| async move {
            let r: crate::daemon::retention::Removed =
                c.post("/v1/history/delete", &serde_json::json!({ "id": id, "before": before })).await?;
            if json {
                print_json(&r);
            } else if r.utterances.is_empty() {
                println!("Nothing recorded before {}; nothing deleted.", before.as_deref().unwrap_or("then"));
            } else {
                println!(
                    "Deleted {} utterance(s) and {} recording(s) ({:.1} MB).",
                    r.utterances.len(),
                    r.files,
                    r.bytes as f64 / 1e6
                );
            }
            for f in &r.failed {
                eprintln!("capcom: could not delete {f}");
            }
            Ok(if r.failed.is_empty() { exit::OK } else { exit::ERROR })
        })
        .await,
        Command::History { action: None, json } => with_client(&data, |c| async move {
            let rows: Vec<crate::store::Utterance> = c.get("/v1/history").await?;
            if json {
                print_json(&rows);
            } else if rows.is_empty() {
                println!("Nothing said yet.");
            } else {
                for u in rows {
                    println!(
                        "{:>4}  {}  {:>5.1}s  {}  {}",
                        u.id,
                        u.created_at,
                        u.duration_ms as f64 / 1000.0,
                        match u.transcript.as_deref() {
                            None => "(not transcribed)",
                            Some("") => "(nothing heard)",
                            Some(t) => t,
                        },
                        match (u.audio_path.as_deref(), u.source.as_str()) {
                            (Some(p), _) => p,
                            (None, "voice") => "(recording deleted)",
                            (None, _) => "-",
                        }
                    );
                }
            }
            Ok(exit::OK)
        })
        .await,
        Command::Doctor { json } => doctor::run(&loaded, &data, json).await,
        Command::Repos { action: None, json } => init::repos_list(&loaded, json),
        Command::Repos { action: Some(ReposAction::List { json }), json: j } => init::repos_list(&loaded, json || j),
        Command::Sessions { json } => with_client(&data, |c| async move { hooks::sessions(c, json).await }).await,
        Command::Hook { .. } | Command::Hooks { .. } => exit::OK, // handled in `run`
        Command::Parse { text, json, explain } => parse::run(&loaded.config, &data, &text.join(" "), json, explain).await,
        Command::Status { filter, speak, out, json } => {
            let cfg = loaded.config.clone();
            with_client(&data, |c| async move { voice_out::status(c, &cfg, filter, speak, out.as_deref(), json).await }).await
        }
        Command::Changelog { since, text, out, json } => {
            let cfg = loaded.config.clone();
            with_client(&data, |c| async move { voice_out::changelog(c, &cfg, &since, text, out.as_deref(), json).await }).await
        }
        Command::Brief { text, json } => {
            let text = text.join(" ");
            if text.trim().is_empty() {
                eprintln!("capcom: say something: `capcom brief TEXT`");
                return exit::USAGE;
            }
            with_client(&data, |c| async move {
                let answer: serde_json::Value = c.post_once("/v1/brief", &serde_json::json!({ "text": text })).await?;
                print_answer(&answer, json);
                Ok(answer_code(&answer))
            })
            .await
        }
        Command::Merge { task, json } => with_client(&data, |c| async move {
            let answer: serde_json::Value = c.post("/v1/merge", &serde_json::json!({ "task": task })).await?;
            let p = &answer["pending"];
            if answer["ok"] != true || p.is_null() {
                eprintln!("capcom: {}", answer["say"].as_str().unwrap_or("refused"));
                return Ok(exit::ERROR);
            }
            if json {
                let mut out = serde_json::json!({
                    "question": p["question"], "code": p["code"], "task": p["task"],
                    "head": p["head"], "expires_at": p["expires_at"],
                });
                if !p["pr"].is_null() {
                    out["pr"] = p["pr"].clone();
                }
                print_json(&out);
            } else {
                println!("{}", p["question"].as_str().unwrap_or(""));
                println!(
                    "Confirm with `capcom confirm {}` before {} (head {}).",
                    p["code"].as_str().unwrap_or(""),
                    p["expires_at"].as_str().unwrap_or("it expires"),
                    p["head"].as_str().map(|h| &h[..h.len().min(7)]).unwrap_or("?")
                );
            }
            Ok(exit::OK)
        })
        .await,
        Command::Confirm { code, no_checks } => with_client(&data, |c| async move {
            let answer: serde_json::Value =
                c.post("/v1/confirm", &serde_json::json!({ "code": code, "no_checks": no_checks })).await?;
            print_answer(&answer, false);
            Ok(answer_code(&answer))
        })
        .await,
        Command::Pair { json } => with_client(&data, |c| async move {
            let p: crate::web::Pairing = c.post("/v1/pair", &serde_json::json!({})).await?;
            if json {
                print_json(&p);
                return Ok(exit::OK);
            }
            if let Some(why) = &p.local_only {
                // No QR code: a phone that scans it would open its own loopback address.
                eprintln!("capcom: {why}.");
                println!("Open on this computer: {}", p.url);
                println!("Or type the code {} on the page. It works once, until {}.", p.code, p.expires_at.with_timezone(&chrono::Local).format("%H:%M:%S"));
                return Ok(exit::OK);
            }
            match crate::web::qr::terminal(&p.url) {
                Ok(q) => println!("{q}"),
                Err(e) => eprintln!("capcom: {e}"),
            }
            println!("Open on the phone: {}", p.url);
            println!("Or type the code {} on the page. It works once, until {}.", p.code, p.expires_at.with_timezone(&chrono::Local).format("%H:%M:%S"));
            if p.url.starts_with("http://") && !p.url.starts_with("http://127.") && !p.url.starts_with("http://localhost") && !p.url.starts_with("http://[::1]") {
                println!("Note: browsers allow the microphone only over HTTPS (or on this computer); see README, \"Listen on your phone\".");
            }
            Ok(exit::OK)
        })
        .await,
        Command::Devices { action, json } => with_client(&data, |c| async move {
            if let Some(DevicesAction::Revoke { name }) = action {
                let path = format!("/v1/devices/{}/revoke", crate::report::feed::encode_segment(&name));
                let _: serde_json::Value = c.post(&path, &serde_json::json!({})).await?;
                println!("Revoked {name}: its token no longer opens the page.");
                return Ok(exit::OK);
            }
            let devices: Vec<crate::store::Device> = c.get("/v1/devices").await?;
            if json {
                print_json(&devices);
            } else if devices.is_empty() {
                println!("No paired devices. `capcom pair` pairs one.");
            } else {
                for d in devices {
                    let status = match (&d.revoked_at, &d.last_seen) {
                        (Some(r), _) => format!("revoked {r}"),
                        (None, Some(s)) => format!("last seen {s}"),
                        (None, None) => "never used".to_string(),
                    };
                    println!("{:>3}  {:<24} paired {}  {}", d.id, d.name, d.created_at, status);
                }
            }
            Ok(exit::OK)
        })
        .await,
        Command::Answer { task, text, json } => with_client(&data, |c| async move {
            let answer: serde_json::Value =
                c.post("/v1/answer", &serde_json::json!({ "task": task, "text": text.join(" ") })).await?;
            print_answer(&answer, json);
            Ok(answer_code(&answer))
        })
        .await,
        Command::Cancel { task } => with_client(&data, |c| async move {
            let answer: serde_json::Value = c.post("/v1/cancel", &serde_json::json!({ "task": task })).await?;
            print_answer(&answer, false);
            Ok(answer_code(&answer))
        })
        .await,
        Command::Transcribe { file, model, json, mode, no_prompt } => {
            voice::transcribe(&loaded, &data, &file, model.as_deref(), json, mode, no_prompt).await
        }
        Command::Models { action: ModelsAction::List { json } } => voice::models_list(&loaded, &data, json),
        Command::Models { action: ModelsAction::Fetch { name } } => voice::models_fetch(&loaded, &data, &name).await,
        Command::Models { action: ModelsAction::Import { dir, q8_0, name } } => {
            voice::models_import(&loaded, &data, &dir, q8_0, name.as_deref()).await
        }
        Command::Listen { toggle: true, .. } => voice::listen_toggle(&data),
        Command::Listen { start: true, .. } => voice::listen_signal(&data, crate::daemon::voice::start_signal(), "start"),
        Command::Listen { stop: true, .. } => voice::listen_signal(&data, crate::daemon::voice::stop_signal(), "stop"),
        Command::Listen { pause, resume, .. } if pause || resume => with_client(&data, |c| async move {
            let v: serde_json::Value = c.post("/v1/listen", &serde_json::json!({ "paused": pause })).await?;
            if v["paused"] == true {
                println!("listening paused: the hotkey and the microphone are off until `capcom listen --resume`");
            } else {
                println!("listening resumed");
            }
            Ok(exit::OK)
        })
        .await,
        Command::Listen { .. } => {
            eprintln!("capcom: say what to do: `capcom listen --start` / `--stop` start and stop recording in the daemon (bind them to a key's press and release), --toggle does either; --pause and --resume turn listening off and on");
            exit::USAGE
        }
        other => {
            eprintln!("capcom: `{}` is not available yet", command_name(&other));
            exit::ERROR
        }
    }
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Daemon { .. } => "daemon",
        Command::Brief { .. } => "brief",
        Command::Parse { .. } => "parse",
        Command::Tasks { .. } => "tasks",
        Command::Task { .. } => "task",
        Command::Status { .. } => "status",
        Command::Merge { .. } => "merge",
        Command::Confirm { .. } => "confirm",
        Command::Cancel { .. } => "cancel",
        Command::Answer { .. } => "answer",
        Command::Changelog { .. } => "changelog",
        Command::Transcribe { .. } => "transcribe",
        Command::Models { .. } => "models",
        Command::History { .. } => "history",
        Command::Doctor { .. } => "doctor",
        Command::Init { .. } => "init",
        Command::Repos { .. } => "repos",
        Command::Gc { .. } => "gc",
        Command::Stats { .. } => "stats",
        Command::Supervise { .. } => "__supervise",
        Command::Listen { .. } => "listen",
        Command::Completions { .. } => "completions",
        Command::Man { .. } => "man",
        Command::Pair { .. } => "pair",
        Command::Devices { .. } => "devices",
        Command::Hook { .. } => "hook",
        Command::Hooks { .. } => "hooks",
        Command::Sessions { .. } => "sessions",
    }
}

/// Connect to the daemon and run `f`; map "not running" to exit 3.
pub async fn with_client<F, Fut>(data: &DataDir, f: F) -> u8
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = Result<u8, ClientError>>,
{
    let result = match Client::connect(data) {
        Ok(c) => f(c).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(code) => code,
        Err(e @ ClientError::NotRunning(_)) => {
            eprintln!("capcom: {e}");
            exit::NOT_RUNNING
        }
        Err(e @ ClientError::Usage(_)) => {
            eprintln!("capcom: {e}");
            exit::USAGE
        }
        Err(e) => {
            eprintln!("capcom: {e}");
            exit::ERROR
        }
    }
}

/// Print a coordinator answer: the sentence on stdout (stderr when refused), or the JSON.
fn print_answer(answer: &serde_json::Value, json: bool) {
    if json {
        print_json(answer);
        return;
    }
    let say = answer["say"].as_str().unwrap_or("");
    if answer["ok"] == true {
        println!("{say}");
    } else {
        eprintln!("capcom: {say}");
    }
}

fn answer_code(answer: &serde_json::Value) -> u8 {
    if answer["ok"] == true { exit::OK } else { exit::ERROR }
}

pub fn print_json<T: serde::Serialize>(v: &T) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("capcom: cannot print JSON: {e}"),
    }
}

fn print_tasks(tasks: &[Task]) {
    if tasks.is_empty() {
        println!("No tasks.");
        return;
    }
    println!("{:>4}  {:<16} {:<10} {:<40} REASON", "ID", "STATE", "AGENT", "TITLE");
    for t in tasks {
        let title: String = t.title.chars().take(40).collect();
        println!(
            "{:>4}  {:<16} {:<10} {:<40} {}",
            t.id,
            t.state.as_str(),
            t.agent.as_deref().unwrap_or("-"),
            title,
            t.reason.as_deref().unwrap_or("")
        );
    }
}

fn print_task_detail(d: &serde_json::Value) {
    let t = &d["task"];
    let s = |v: &serde_json::Value| v.as_str().map(String::from).unwrap_or_else(|| "-".into());
    println!("Task {}: {}", t["id"], s(&t["title"]));
    println!("  state:   {}{}", s(&t["state"]), t["reason"].as_str().map(|r| format!(" ({r})")).unwrap_or_default());
    println!("  agent:   {}", s(&t["agent"]));
    println!("  repo:    {}", s(&t["repo"]));
    println!("  branch:  {}", s(&t["branch"]));
    if let Some(pr) = t["pr"].as_u64() {
        println!("  pr:      #{pr}");
    }
    let spec = &t["spec"];
    if let Some(items) = spec["acceptance"].as_array() {
        for a in items {
            println!("  accept:  {} [{}]", s(&a["text"]), a["check"].as_str().unwrap_or("manual"));
        }
    }
    if let Some(line) = stats::spend_line(&d["spend"]) {
        println!("  spent:   {line}");
    }
    if let Some(runs) = d["runs"].as_array() {
        for r in runs {
            println!(
                "  run {}:  {} {}pid {} exit {} cost {} wall {} cpu {} log {}",
                r["id"],
                s(&r["agent"]),
                r["kind"].as_str().map(|k| format!("({}) ", k.replace('_', "-"))).unwrap_or_default(),
                r["pid"],
                r["exit_code"],
                r["cost_usd"].as_f64().map(stats::usd).unwrap_or_else(|| "-".into()),
                r["wall_ms"].as_i64().map(stats::ms).unwrap_or_else(|| "-".into()),
                r["cpu_ms"].as_i64().map(stats::ms).unwrap_or_else(|| "-".into()),
                s(&r["log_path"])
            );
            if let Some(sum) = r["summary"].as_str() {
                println!("           {sum}");
            }
        }
    }
    let events = d["events"].as_array().cloned().unwrap_or_default();
    let of = |kind: &str| events.iter().filter(move |e| e["kind"] == kind).cloned().collect::<Vec<_>>();
    // The latest review only.
    let last_review = events.iter().rposition(|e| e["kind"] == "review").unwrap_or(0);
    let recent = |kind: &str| events[last_review..].iter().filter(|e| e["kind"] == kind).cloned().collect::<Vec<_>>();
    if !recent("check").is_empty() || !recent("manual").is_empty() {
        println!("  checks:");
        for c in recent("check") {
            let data = &c["data"];
            let mark = if data["ok"] == true { "ok  " } else { "FAIL" };
            println!(
                "    {mark} {:<12} exit {:<4} {} ms",
                s(&data["name"]),
                data["exit"].as_i64().map(|e| e.to_string()).unwrap_or_else(|| "-".into()),
                data["duration_ms"]
            );
            if data["ok"] != true {
                for line in data["tail"].as_str().unwrap_or("").lines() {
                    println!("         | {line}");
                }
            }
        }
        for m in recent("manual") {
            println!("    manual {}", s(&m["message"]).trim_start_matches("manual: "));
        }
    }
    for e in recent("scope") {
        let v: Vec<String> = e["data"]["violations"].as_array().into_iter().flatten().filter_map(|p| p.as_str().map(String::from)).collect();
        if v.is_empty() {
            println!("  scope:   ok");
        } else {
            println!("  scope:   {} outside: {}", v.len(), v.join(", "));
        }
    }
    for e in recent("secret") {
        println!("  secrets: {}", s(&e["message"]));
    }
    for e in recent("diffstat") {
        println!("  diffstat: {}", s(&e["message"]));
    }
    if !events.is_empty() {
        println!("  events:");
        let progress = of("progress").len();
        let mut shown_progress = 0;
        for e in &events {
            if e["kind"] == "progress" {
                shown_progress += 1;
                if progress > 10 && shown_progress <= progress - 10 {
                    continue;
                }
            }
            println!("    {}  {:<13} {}", s(&e["at"]), s(&e["kind"]), s(&e["message"]));
        }
    }
    if let Some(tail) = d["log_tail"].as_str().filter(|t| !t.trim().is_empty()) {
        println!("  log tail:");
        for line in tail.lines() {
            println!("    | {line}");
        }
    }
}
