//! Typed configuration: built-in defaults → user file → environment overrides.
//!
//! Every section and key is documented in `config/default.toml`. Every struct
//! carries `#[serde(default)]`, so a user file only states what it changes.
//! A broken file is reported as `FILE:LINE: message`; unknown keys are
//! returned as warnings rather than dropped in silence.

mod slug;
pub use slug::RepoSlug;
mod duration;
pub mod edit;
pub mod live;
mod paths;

pub use duration::{Dur, Keep};
pub use live::Live;
pub use paths::DataDir;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The default listen address of the local API.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7471";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}:{line}: {message}")]
    Parse { path: String, line: usize, message: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("cannot read config file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("environment override {var}: {message}")]
    Env { var: String, message: String },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Config {
    /// Schema version of the config file, for future migrations.
    pub version: u32,
    pub voice: Voice,
    pub speech: Speech,
    pub api: Api,
    pub repos: Vec<Repo>,
    pub checks: BTreeMap<String, CheckCmd>,
    pub agents: BTreeMap<String, Agent>,
    pub github: Github,
    pub routes: Vec<Route>,
    pub dispatch: Dispatch,
    pub review: Review,
    pub workflows: Vec<Workflow>,
    pub understand: Understand,
    pub store: StoreCfg,
    pub hotkey: HotkeyCfg,
    /// Which settings came from the built-in defaults rather than the user's file (not a key).
    #[serde(skip)]
    pub origin: Origin,
}

/// What the user's file (or the environment) left to the built-in defaults. Built-in
/// routes and the built-in default agent name agents the user may not have installed;
/// routing falls back from those to an installed agent (`dispatch::routing`), never from
/// the user's own choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Origin {
    /// `[[routes]]` are the built-in ones.
    pub routes_builtin: bool,
    /// `[dispatch] default_agent` is the built-in one.
    pub default_agent_builtin: bool,
}

/// `[hotkey]`: how the push-to-talk key reaches capcom.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct HotkeyCfg {
    /// "auto" | "portal" | "x11" | "evdev" | "none".
    pub backend: String,
    /// For "evdev": keyboards to read (`/dev/input/event*` paths); empty means every keyboard.
    pub evdev_devices: Vec<String>,
}

impl Default for HotkeyCfg {
    fn default() -> Self {
        HotkeyCfg { backend: "auto".into(), evdev_devices: Vec::new() }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            version: 1,
            voice: Voice::default(),
            speech: Speech::default(),
            api: Api::default(),
            repos: Vec::new(),
            checks: BTreeMap::new(),
            agents: BTreeMap::new(),
            github: Github::default(),
            routes: Vec::new(),
            dispatch: Dispatch::default(),
            review: Review::default(),
            workflows: Vec::new(),
            understand: Understand::default(),
            store: StoreCfg::default(),
            hotkey: HotkeyCfg::default(),
            origin: Origin::default(),
        }
    }
}

/// `[store]`: what the data dir keeps, and for how long.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct StoreCfg {
    /// How long each utterance's WAV is kept; `Keep::Forever` keeps them all.
    pub keep_audio: Keep,
}

impl Default for StoreCfg {
    fn default() -> Self {
        StoreCfg { keep_audio: Keep::For(Dur::from_secs(30 * 86400)) }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum HotkeyMode {
    #[default]
    Hold,
    Toggle,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Voice {
    pub hotkey: String,
    pub mode: HotkeyMode,
    /// Input device name; empty means the system default.
    pub input_device: String,
    /// A manifest name (e.g. "base.en") or a path to a ggml model file.
    pub model: String,
    pub language: String,
    /// Extra words for the recogniser's prompt and for correction.
    pub vocabulary: Vec<String>,
    pub min_press: Dur,
    pub max_utterance: Dur,
    pub pre_roll: Dur,
    /// Whisper threads; 0 chooses them per clip from the cores other work leaves free.
    pub threads: usize,
    /// Decode with the full 30 s encoder window instead of one scaled to the clip.
    pub full_window: bool,
    /// Short audible cues when recording starts and stops.
    pub cues: bool,
    /// RMS floor (0..1) under which a clip counts as "nothing heard".
    pub energy_floor: f32,
    /// Minimum voiced length for a clip to be transcribed.
    pub min_speech: Dur,
    /// Put the vocabulary (repos, agents, checks, `vocabulary`) in Whisper's
    /// initial prompt for briefs. On by default: on the bench's varied clip
    /// set it had the lowest word error rate of none, names only and the full
    /// vocabulary (`cargo bench --bench transcribe`, prompt section).
    pub vocabulary_prompt: bool,
    /// Decode short clips (up to 2.5 s) with the commands grammar first.
    pub command_mode: bool,
    /// Transcribe while the key is held (the audio up to each pause is decoded
    /// once), so only the rest is decoded at release. Off by default: on a
    /// quiet machine the whole clip is decoded again at release (slower than
    /// one decode), and on a busy one the streamed text alone was less
    /// accurate (`cargo bench --bench transcribe`, README).
    pub streaming: bool,
    /// Decode each piece of a brief longer than one 30 s window while the key is
    /// still held, as soon as the piece is final, so only the last piece is left at
    /// release. The text is the same as decoding after release. On by default.
    pub pieces_while_held: bool,
}

impl Default for Voice {
    fn default() -> Self {
        Voice {
            hotkey: "Ctrl+Alt+Space".into(),
            mode: HotkeyMode::Hold,
            input_device: String::new(),
            model: "base.en".into(),
            language: "en".into(),
            vocabulary: Vec::new(),
            min_press: Dur::from_millis(250),
            max_utterance: Dur::from_secs(120),
            pre_roll: Dur::from_millis(300),
            threads: 0,
            full_window: false,
            cues: true,
            energy_floor: 0.005,
            min_speech: Dur::from_millis(200),
            vocabulary_prompt: true,
            command_mode: true,
            streaming: false,
            pieces_while_held: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Speech {
    /// "espeak-ng" (linked), "command" (argv in `command`) or "none".
    pub engine: String,
    pub voice: String,
    /// Words per minute.
    pub rate: u32,
    /// 0.0 .. 1.0
    pub volume: f32,
    /// argv for the "command" engine; `{text_file}` and `{out}` are substituted.
    pub command: Vec<String>,
    /// Where changelog audio goes; empty means `<data dir>/changelogs`.
    pub changelog_dir: String,
    /// Local time ("07:30") to build a changelog every day; empty disables it.
    pub changelog_at: String,
    /// Spoken notices: "ready", "attention", "all" or "none".
    pub announce: String,
}

impl Default for Speech {
    fn default() -> Self {
        Speech {
            engine: "espeak-ng".into(),
            voice: "en-us".into(),
            rate: 175,
            volume: 1.0,
            command: Vec::new(),
            changelog_dir: String::new(),
            changelog_at: String::new(),
            announce: "attention".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Api {
    /// host:port; port 0 picks a free port (the bound address is written to the data dir).
    pub listen: String,
    /// The URL a phone uses to reach the API (for the podcast feed); empty means `http://<bound address>`.
    pub public_url: String,
    /// The contact Web Push services may write to about this sender (VAPID `sub`): a
    /// `mailto:` or `https:` URL; empty means `mailto:capcom@localhost`.
    pub push_contact: String,
}

impl Default for Api {
    fn default() -> Self {
        Api { listen: DEFAULT_LISTEN.into(), public_url: String::new(), push_contact: String::new() }
    }
}

/// A check command: a string split like a shell would (no shell runs it) or an argv list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum CheckCmd {
    Line(String),
    Argv(Vec<String>),
}

impl CheckCmd {
    pub fn argv(&self) -> Option<Vec<String>> {
        match self {
            CheckCmd::Line(s) => shlex::split(s).filter(|v| !v.is_empty()),
            CheckCmd::Argv(v) if !v.is_empty() => Some(v.clone()),
            CheckCmd::Argv(_) => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Repo {
    pub name: String,
    pub path: String,
    pub base: String,
    /// "owner/name" on GitHub, if the repo lives there.
    pub github: Option<String>,
    /// "local" (merge locally) or "github" (push, open a PR, merge through the API).
    pub review: String,
    /// The git remote a "github" review pushes task branches to.
    pub remote: String,
    pub aliases: Vec<String>,
    /// Per-repo check commands; they override `[checks]` by name.
    pub checks: BTreeMap<String, CheckCmd>,
    /// A local merge of work no automated check ran on needs the stronger confirmation
    /// ("confirm without checks"); `false` opts this repo out.
    pub require_checks: bool,
}

impl Repo {
    /// `github = "owner/name"`, when it is set and well formed.
    pub fn github_slug(&self) -> Option<RepoSlug> {
        self.github.as_deref().and_then(RepoSlug::parse)
    }

    /// Work is reviewed on GitHub: push, open a PR, follow its checks, merge through the API.
    pub fn reviews_on_github(&self) -> bool {
        self.review == "github" && self.github_slug().is_some()
    }
}

impl Default for Repo {
    fn default() -> Self {
        Repo {
            name: String::new(),
            path: String::new(),
            base: "main".into(),
            github: None,
            review: "local".into(),
            remote: "origin".into(),
            aliases: Vec::new(),
            checks: BTreeMap::new(),
            require_checks: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Agent {
    /// local | github-copilot | jules | cursor | codex-cloud
    pub kind: String,
    /// For local agents: claude | codex | gemini | aider | cursor-cli, or empty for a custom `command`.
    pub preset: String,
    /// argv template; `{prompt}`, `{prompt_file}` and `{workdir}` are whole-argument substitutions.
    pub command: Vec<String>,
    /// Claude Code's permission mode (acceptEdits, bypassPermissions, ...).
    pub permission_mode: String,
    /// Base URL of a remote agent's API.
    pub api_url: String,
    /// Name of the environment variable that holds the token.
    pub token_env: String,
    /// Extra environment for the agent process.
    pub env: BTreeMap<String, String>,
    /// Codex cloud environment id.
    pub environment: String,
    /// Copilot coding agent: instructions sent with each assignment (`custom_instructions`).
    pub instructions: String,
    /// Jules: present a plan and wait for "approve the plan" before working.
    pub plan_approval: bool,
    /// Cursor: the variable holding the webhook secret. With `[api] public_url` set,
    /// Cursor calls `<public_url>/v1/webhooks/cursor` on status changes (signed).
    pub webhook_secret_env: String,
    /// Local agents: when not empty, only these variables (globs like `ANTHROPIC_*`) of the
    /// daemon's environment reach the agent, plus the basics (PATH, HOME, USER, LANG, TERM, …).
    pub env_allow: Vec<String>,
    /// Local agents: variables (globs) that never reach the agent. capcom's own tokens
    /// (`[github] token_env`, remote agents' `token_env`, webhook secrets) never do anyway.
    pub env_deny: Vec<String>,
    /// Local agents: "bwrap" runs the agent under bubblewrap, with the file system read-only
    /// except its worktree, the repo's git dir, a private /tmp and `sandbox_write`. Empty: none.
    pub sandbox: String,
    /// More paths a sandboxed agent may write (its own config, e.g. "~/.claude").
    pub sandbox_write: Vec<String>,
}

impl Default for Agent {
    fn default() -> Self {
        Agent {
            kind: "local".into(),
            preset: String::new(),
            command: Vec::new(),
            permission_mode: "acceptEdits".into(),
            api_url: String::new(),
            token_env: String::new(),
            env: BTreeMap::new(),
            environment: String::new(),
            instructions: String::new(),
            plan_approval: false,
            webhook_secret_env: String::new(),
            env_allow: Vec::new(),
            env_deny: Vec::new(),
            sandbox: String::new(),
            sandbox_write: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Github {
    pub api_url: String,
    pub token_env: String,
    /// merge | squash | rebase
    pub merge_method: String,
    /// How often PRs and checks are polled.
    pub poll: Dur,
    /// How long a PR may go with no check run and no commit status on its head before
    /// its task needs attention ("no checks have run"). An empty set of checks is never green.
    pub checks_grace: Dur,
    /// How long a task assigned to the Copilot coding agent may go without Copilot starting
    /// (no pull request, no `copilot_work_started`) before it needs attention.
    pub copilot_start_grace: Dur,
}

impl Default for Github {
    fn default() -> Self {
        Github {
            api_url: "https://api.github.com".into(),
            token_env: "GITHUB_TOKEN".into(),
            merge_method: "squash".into(),
            poll: Dur::from_secs(60),
            checks_grace: Dur::from_secs(600),
            copilot_start_grace: Dur::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Route {
    /// A task kind from the Intent contract (css, docs, dependency-upgrade, ...).
    pub kind: String,
    pub agent: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Dispatch {
    pub max_parallel: usize,
    pub default_agent: String,
    /// An agent run longer than this is killed and the task fails.
    pub timeout: Dur,
    /// fast-forward | merge | squash, for local merges.
    pub merge_method: String,
    /// How long a merge confirmation stays valid.
    pub confirm_ttl: Dur,
    /// A dispatched task waits this long before its agent starts, so "undo that" or "actually
    /// give that to Jules" costs nothing; zero starts agents at once.
    pub grace: Dur,
    /// Retry once a task whose agent vanished while the daemon was down.
    pub retry_interrupted: bool,
    /// A run's log keeps its first and last halves of this many MiB.
    pub max_log_mib: u64,
    /// Progress lines recorded as task events per run.
    pub max_progress_events: usize,
    /// A new task whose scope overlaps a running or ready one: "queue" (wait), "ask" or "allow".
    pub overlap: String,
    /// A failed task's worktree is kept this long, then removed.
    pub keep_failed: Dur,
    /// The repo a brief that names none goes to (with several repos; one repo is the default
    /// anyway). Unset: such a brief is held with "Which repo: …?".
    pub default_repo: Option<String>,
    /// How the merge train brings a ready task up to date after a merge into its base:
    /// "rebase" (default) or "merge" (the base merged into the task's branch).
    pub update: String,
    /// On a train conflict, hand the task back to its agent with a follow-up naming the
    /// files (local agents); otherwise it waits for the user in `needs_attention`.
    pub resolve_conflicts: bool,
    /// Local agents and checks run this much nicer (lower CPU priority) than capcom, 0–19,
    /// so transcription stays fast while they build; 0 runs them at capcom's own priority.
    pub agent_nice: i32,
}

impl Default for Dispatch {
    fn default() -> Self {
        Dispatch {
            max_parallel: 3,
            default_agent: "claude".into(),
            timeout: Dur::from_secs(30 * 60),
            merge_method: "merge".into(),
            confirm_ttl: Dur::from_secs(30),
            grace: Dur::from_secs(8),
            retry_interrupted: false,
            max_log_mib: 8,
            max_progress_events: 200,
            overlap: "queue".into(),
            keep_failed: Dur::from_secs(3 * 86400),
            default_repo: None,
            update: "rebase".into(),
            resolve_conflicts: false,
            agent_nice: 10,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Review {
    /// Regexes; an added line that matches one is never reported as a secret.
    pub secret_allow: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Workflow {
    pub name: String,
    pub triggers: Vec<String>,
    pub steps: Vec<WorkflowStep>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct WorkflowStep {
    /// status | changelog | brief | remote
    pub kind: String,
    /// For status: finished | running | failed | all. For changelog: a period ("24h").
    /// For brief: the brief text. For remote: "open_prs" or "ci_failures".
    pub arg: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Understand {
    pub llm: Option<Llm>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Llm {
    /// OpenAI-compatible base URL, e.g. http://127.0.0.1:11434/v1
    pub url: String,
    pub model: String,
    pub token_env: String,
    pub timeout: Dur,
    /// Rule-parser confidence under which the LLM is consulted.
    pub threshold: f32,
}

impl Default for Llm {
    fn default() -> Self {
        Llm {
            url: String::new(),
            model: String::new(),
            token_env: String::new(),
            timeout: Dur::from_secs(5),
            threshold: 0.5,
        }
    }
}

/// A loaded configuration plus what loading noticed.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// The file it came from, if any.
    pub source: Option<PathBuf>,
    /// Unknown keys and other non-fatal findings, e.g. "capcom.toml: unknown key `voice.hotkye`".
    pub warnings: Vec<String>,
}

/// The user config file when none is given: `$XDG_CONFIG_HOME/capcom/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("capcom").join("config.toml"))
}

/// Load the layered config. `explicit` is `--config` or `CAPCOM_CONFIG`; it must exist.
/// Without it the XDG file is used when present. `env` is the environment to read
/// overrides from (`CAPCOM__SECTION__KEY=value`).
pub fn load(
    explicit: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Loaded, ConfigError> {
    let (path, required) = match explicit {
        Some(p) => (Some(p.to_path_buf()), true),
        None => (default_path(), false),
    };
    let mut value = defaults_table();
    let mut source = None;
    let mut text = String::new();
    // The user's own keys (file and environment), layered over nothing: what they chose.
    let mut own = toml::Table::new();
    if let Some(p) = path {
        match std::fs::read_to_string(&p) {
            Ok(t) => {
                let table = parse_table(&t, &p.display().to_string())?;
                merge(&mut own, table.clone());
                merge(&mut value, table);
                source = Some(p);
                text = t;
            }
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ConfigError::Read { path: p.display().to_string(), source: e }),
        }
    }
    let env: Vec<(String, String)> = env.into_iter().collect();
    apply_env(&mut value, env.iter().cloned())?;
    apply_env(&mut own, env)?;
    let name = source.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "(defaults)".into());
    let (mut config, warnings) = from_table(value, &name, &text)?;
    config.origin = origin_of(&own);
    Ok(Loaded { config, source, warnings })
}

/// What the user's own keys leave to the built-in defaults.
fn origin_of(own: &toml::Table) -> Origin {
    let default_agent_set = own
        .get("dispatch")
        .and_then(|d| d.as_table())
        .is_some_and(|d| d.contains_key("default_agent"));
    Origin { routes_builtin: !own.contains_key("routes"), default_agent_builtin: !default_agent_set }
}

/// Parse TOML text (as a file named `name`, layered over the defaults) into a config, with warnings.
pub fn from_str(text: &str, name: &str) -> Result<(Config, Vec<String>), ConfigError> {
    let mut value = defaults_table();
    let own = parse_table(text, name)?;
    merge(&mut value, own.clone());
    let (mut config, warnings) = from_table(value, name, text)?;
    config.origin = origin_of(&own);
    Ok((config, warnings))
}

/// The shipped, documented defaults (`config/default.toml`), compiled in.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

fn defaults_table() -> toml::Table {
    // The shipped file is tested to parse; fall back to the serde defaults if it ever did not.
    DEFAULT_TOML.parse::<toml::Table>().unwrap_or_default()
}

/// Layer `over` onto `base`: tables merge key by key, everything else (arrays included) is replaced.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn parse_table(text: &str, name: &str) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>().map_err(|e| ConfigError::Parse {
        path: name.to_string(),
        line: e.span().map(|s| line_of(text, s.start)).unwrap_or(1),
        message: e.message().trim().to_string(),
    })
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|b| **b == b'\n').count() + 1
}

fn from_table(table: toml::Table, name: &str, text: &str) -> Result<(Config, Vec<String>), ConfigError> {
    let mut unknown = Vec::new();
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(toml::Value::Table(table), &mut track);
    let config: Config = serde_ignored::deserialize(de, |path| unknown.push(path.to_string())).map_err(|e: toml::de::Error| {
        let key = key_path(&track.path());
        let message = type_error(e.message().trim());
        match line_of_key(text, &key) {
            Some(line) => ConfigError::Parse { path: name.to_string(), line, message: format!("key {key}: {message}") },
            None => ConfigError::Invalid { path: name.to_string(), message: format!("key {key}: {message}") },
        }
    })?;
    let mut warnings: Vec<String> =
        unknown.into_iter().map(|k| format!("{name}: unknown key `{k}` (ignored)")).collect();
    for problem in config.validate() {
        warnings.push(format!("{name}: {problem}"));
    }
    Ok((config, warnings))
}

/// `repos[0].path` → `repos.path`: the key as a person writes it in the file.
fn key_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let parts: Vec<String> = path
        .iter()
        .filter_map(|s| match s {
            Segment::Map { key } | Segment::Enum { variant: key } => Some(key.clone()),
            Segment::Seq { .. } | Segment::Unknown => None,
        })
        .collect();
    parts.join(".")
}

/// serde's "invalid type: string \"three\", expected usize" in a person's words.
fn type_error(message: &str) -> String {
    let Some(rest) = message.strip_prefix("invalid type: ").or_else(|| message.strip_prefix("invalid value: ")) else {
        return message.to_string();
    };
    let Some((got, expected)) = rest.split_once(", expected ") else { return message.to_string() };
    let got = got
        .strip_prefix("string ")
        .or_else(|| got.strip_prefix("integer "))
        .or_else(|| got.strip_prefix("floating point "))
        .or_else(|| got.strip_prefix("boolean "))
        .map(|g| g.trim_matches('`').to_string())
        .map(|g| if got.starts_with("string ") { g } else { g.trim_matches('"').to_string() })
        .unwrap_or_else(|| got.to_string());
    let expected = match expected.trim() {
        "usize" | "u8" | "u16" | "u32" | "u64" | "i32" | "i64" | "isize" => "a number".to_string(),
        "f32" | "f64" => "a number".to_string(),
        "a boolean" => "true or false".to_string(),
        "a string" => "a quoted string".to_string(),
        "a sequence" => "a list like [\"a\", \"b\"]".to_string(),
        other => other.to_string(),
    };
    format!("expected {expected}, got {got}")
}

/// The line of `key` (`section.sub.name`) in the user's file, if it is written there.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let (section, leaf) = match key.rsplit_once('.') {
        Some((s, l)) => (s, l),
        None => ("", key),
    };
    let mut current = String::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(h) = line.strip_prefix("[[").and_then(|h| h.split("]]").next()) {
            current = h.trim().to_string();
            continue;
        }
        if let Some(h) = line.strip_prefix('[').and_then(|h| h.split(']').next()) {
            current = h.trim().to_string();
            continue;
        }
        let Some((k, _)) = line.split_once('=') else { continue };
        let k = k.trim().trim_matches('"');
        // `[dispatch]` then `max_parallel = …`, or a dotted key in an outer table.
        let full = if current.is_empty() { k.to_string() } else { format!("{current}.{k}") };
        if full == key || (current == section && k == leaf) {
            return Some(i + 1);
        }
    }
    None
}

/// `CAPCOM__DISPATCH__MAX_PARALLEL=5` sets `dispatch.max_parallel = 5`. The value is
/// read as a TOML value when it parses as one, else as a string.
fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    for (var, raw) in env {
        let Some(rest) = var.strip_prefix("CAPCOM__") else { continue };
        let keys: Vec<String> = rest.split("__").map(|k| k.to_ascii_lowercase()).collect();
        if keys.iter().any(|k| k.is_empty()) {
            return Err(ConfigError::Env { var, message: "empty key segment".into() });
        }
        let value = format!("v = {raw}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or(toml::Value::String(raw.clone()));
        let mut cur = &mut *table;
        for k in &keys[..keys.len() - 1] {
            let entry = cur.entry(k.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(t) => cur = t,
                _ => return Err(ConfigError::Env { var, message: format!("`{k}` is not a section") }),
            }
        }
        cur.insert(keys[keys.len() - 1].clone(), value);
    }
    Ok(())
}

impl Config {
    /// Non-fatal consistency problems: routes to unknown agents, repos without paths, ...
    pub fn validate(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.repos {
            if r.name.is_empty() {
                out.push("a [[repos]] entry has no name".to_string());
            }
            if r.path.is_empty() {
                out.push(format!("repo `{}` has no path", r.name));
            }
            match r.review.as_str() {
                "local" => {}
                "github" if r.github_slug().is_none() => out.push(format!(
                    "repo `{}` has review = \"github\" but no github = \"owner/name\"; its tasks will be merged locally",
                    r.name
                )),
                "github" => {}
                other => out.push(format!("repo `{}`: review = \"{other}\" is not \"local\" or \"github\"; using \"local\"", r.name)),
            }
        }
        for route in &self.routes {
            if !self.agents.contains_key(&route.agent) {
                out.push(format!("route for `{}` names unknown agent `{}`", route.kind, route.agent));
            }
        }
        if !matches!(self.dispatch.update.as_str(), "rebase" | "merge") {
            out.push(format!("dispatch.update = \"{}\" is not \"rebase\" or \"merge\"; using \"rebase\"", self.dispatch.update));
        }
        if !(0..=19).contains(&self.dispatch.agent_nice) {
            out.push(format!("dispatch.agent_nice is {}: use 0 (capcom's own priority) to 19 (the lowest)", self.dispatch.agent_nice));
        }
        if self.dispatch.max_parallel == 0 {
            out.push("dispatch.max_parallel is 0: nothing would ever start".to_string());
        }
        if !matches!(self.hotkey.backend.as_str(), "auto" | "portal" | "x11" | "evdev" | "none") {
            out.push(format!(
                "hotkey.backend = \"{}\" is not one of \"auto\", \"portal\", \"x11\", \"evdev\", \"none\"; using \"auto\"",
                self.hotkey.backend
            ));
        }
        for (name, a) in self.agents.iter().filter(|(_, a)| a.kind == "cursor" && !a.webhook_secret_env.is_empty()) {
            // Cursor requires a webhook secret of at least 32 characters (Cursor docs, "Webhooks").
            if let Ok(secret) = std::env::var(&a.webhook_secret_env)
                && !secret.is_empty()
                && secret.chars().count() < 32
            {
                out.push(format!(
                    "agent `{name}`: the webhook secret in ${} has {} characters; Cursor requires at least 32, so the webhook stays off",
                    a.webhook_secret_env,
                    secret.chars().count()
                ));
            }
        }
        if !self.agents.is_empty() && !self.agents.contains_key(&self.dispatch.default_agent) {
            out.push(format!("dispatch.default_agent `{}` is not a configured agent", self.dispatch.default_agent));
        }
        out
    }

    /// A repo by name or alias, case-insensitively.
    /// The environment variables that hold capcom's own tokens: GitHub's, the remote agents',
    /// webhook secrets and the refiner's. A local agent's `token_env` is its own key, not capcom's.
    pub fn own_token_vars(&self) -> Vec<String> {
        let mut v = vec![self.github.token_env.clone()];
        for a in self.agents.values() {
            if a.kind != "local" {
                v.push(a.token_env.clone());
            }
            v.push(a.webhook_secret_env.clone());
        }
        if let Some(llm) = &self.understand.llm {
            v.push(llm.token_env.clone());
        }
        v.retain(|n| !n.trim().is_empty());
        v.sort();
        v.dedup();
        v
    }

    pub fn repo(&self, name: &str) -> Option<&Repo> {
        self.repos.iter().find(|r| {
            r.name.eq_ignore_ascii_case(name) || r.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
        })
    }

    /// Every check name known, globally or in any repo.
    pub fn check_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.checks.keys().cloned().collect();
        for r in &self.repos {
            names.extend(r.checks.keys().cloned());
        }
        names.sort();
        names.dedup();
        names
    }
}

#[cfg(test)]
mod tests;
