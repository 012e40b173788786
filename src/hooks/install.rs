//! capcom's entries in each agent's own settings file: added, found and removed, keeping
//! everything the user has (other keys, their own hooks for the same events, comments where
//! the format keeps them). Pure: the file's text in, the new text out; `cli::hooks` reads,
//! backs up and writes the files.
//!
//! Where each agent reads its hooks (from its own documentation):
//! - Claude Code: `hooks` in `~/.claude/settings.json`, or the project's
//!   `.claude/settings.json`; per event a list of `{matcher, hooks: [{type: "command",
//!   command, timeout}]}`, the command run by a shell (<https://code.claude.com/docs/en/hooks>).
//! - Codex CLI: `notify = ["program", "arg", …]` at the top of `~/.codex/config.toml`, one
//!   program only (openai/codex `docs/config.md`).
//! - Gemini CLI: `hooks` in `~/.gemini/settings.json` or the project's
//!   `.gemini/settings.json`, the same shape as Claude Code's with `name` and a `timeout` in
//!   milliseconds (google-gemini/gemini-cli `docs/hooks/reference.md`).
//! - Copilot CLI: every `*.json` in `~/.copilot/hooks/` (or the repository's `.github/hooks/`)
//!   is loaded and combined, `{version: 1, hooks: {agentStop: [{type: "command", bash,
//!   timeoutSec}], notification: […]}}` (github/docs
//!   `content/copilot/reference/hooks-reference.md`). capcom keeps its own file there,
//!   `capcom.json`, so the user's files are never touched.

use super::Agent;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// Seconds an agent waits for `capcom hook` (it gives up after one itself).
const TIMEOUT_S: u64 = 5;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstallError {
    #[error("{0} is not valid {1}: {2}. Fix it (or move it away) and run this again; nothing was changed")]
    Unreadable(String, &'static str, String),
    #[error("{0}: `{1}` is not {2}, so capcom cannot add its hooks there without changing yours. Nothing was changed")]
    WrongShape(String, String, &'static str),
    #[error(
        "{0} already has `notify = {1}`, your own program. Codex runs a single notify program, so capcom will not replace it: remove that line (or make your program call `capcom hook codex` with the same argument) and run this again"
    )]
    OtherNotify(String, String),
    #[error("{0} is not capcom's file; capcom will not overwrite it")]
    NotOurs(String),
    #[error("Codex reads `notify` from ~/.codex/config.toml only; run `capcom hooks install codex` without --project")]
    NoProjectFile,
}

/// How `capcom hook` is started from an agent: the program and the arguments before `hook`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookCommand {
    pub argv: Vec<String>,
}

impl HookCommand {
    /// `program [--data-dir DIR]`.
    pub fn new(program: &str, data_dir: Option<&Path>) -> HookCommand {
        let mut argv = vec![program.to_string()];
        if let Some(d) = data_dir {
            argv.push("--data-dir".into());
            argv.push(d.display().to_string());
        }
        HookCommand { argv }
    }

    fn args(&self, agent: Agent, event: Option<&str>) -> Vec<String> {
        let mut a = self.argv.clone();
        a.push("hook".into());
        a.push(agent.as_str().into());
        a.extend(event.map(String::from));
        a
    }

    /// The command line for a shell (each word quoted when it needs to be).
    pub fn shell(&self, agent: Agent, event: Option<&str>) -> String {
        self.args(agent, event).iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" ")
    }
}

/// A word as a POSIX shell reads it back unchanged.
fn shell_quote(word: &str) -> String {
    if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c)) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Whether a command line (a shell string) is capcom's hook for `agent`.
fn is_ours(command: &str, agent: Agent) -> bool {
    is_our_argv(&shell_words(command), agent)
}

/// A command line split into words the way a POSIX shell would, for the quoting `shell_quote`
/// and people write (single and double quotes, backslashes); anything else stays literal.
fn shell_words(line: &str) -> Vec<String> {
    let (mut words, mut cur, mut in_word) = (Vec::new(), String::new(), false);
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    cur.push(q);
                }
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => cur.extend(chars.next()),
                        _ => cur.push(q),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.extend(chars.next());
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

fn is_our_argv(words: &[String], agent: Agent) -> bool {
    let Some(first) = words.first() else { return false };
    let program = Path::new(first).file_name().and_then(|n| n.to_str()).unwrap_or("");
    program == "capcom" && words.windows(2).any(|w| w[0] == "hook" && w[1] == agent.as_str())
}

/// The settings file capcom's hooks for `agent` go in: the user's, or the project's.
pub fn settings_path(agent: Agent, home: &Path, project: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<PathBuf, InstallError> {
    Ok(match (agent, project) {
        (Agent::Claude, Some(p)) => p.join(".claude").join("settings.json"),
        (Agent::Claude, None) => home.join(".claude").join("settings.json"),
        (Agent::Codex, Some(_)) => return Err(InstallError::NoProjectFile),
        (Agent::Codex, None) => env("CODEX_HOME").map(PathBuf::from).unwrap_or_else(|| home.join(".codex")).join("config.toml"),
        (Agent::Gemini, Some(p)) => p.join(".gemini").join("settings.json"),
        (Agent::Gemini, None) => home.join(".gemini").join("settings.json"),
        (Agent::Copilot, Some(p)) => p.join(".github").join("hooks").join("capcom.json"),
        (Agent::Copilot, None) => env("COPILOT_HOME").map(PathBuf::from).unwrap_or_else(|| home.join(".copilot")).join("hooks").join("capcom.json"),
    })
}

/// What to write: the new text, or `None` to remove capcom's own file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewText(pub Option<String>);

/// The file with capcom's hooks added. `Ok(None)`: already there, nothing to change.
pub fn install(agent: Agent, file: &str, existing: Option<&str>, cmd: &HookCommand) -> Result<Option<NewText>, InstallError> {
    let before = existing.unwrap_or("");
    let after = match agent {
        Agent::Claude => edit_json_hooks(agent, file, before, Some(cmd))?,
        Agent::Gemini => edit_json_hooks(agent, file, before, Some(cmd))?,
        Agent::Codex => edit_codex(file, before, Some(cmd))?,
        Agent::Copilot => {
            if !before.trim().is_empty() && !copilot_is_ours(before) {
                return Err(InstallError::NotOurs(file.into()));
            }
            Some(copilot_file(cmd))
        }
    };
    Ok(after.filter(|a| a != before).map(|a| NewText(Some(a))))
}

/// The file with only capcom's hooks taken out. `Ok(None)`: none there, nothing to change.
pub fn uninstall(agent: Agent, file: &str, existing: Option<&str>) -> Result<Option<NewText>, InstallError> {
    let Some(before) = existing else { return Ok(None) };
    match agent {
        Agent::Claude | Agent::Gemini => Ok(edit_json_hooks(agent, file, before, None)?.filter(|a| a != before).map(|a| NewText(Some(a)))),
        Agent::Codex => Ok(edit_codex(file, before, None)?.filter(|a| a != before).map(|a| NewText(Some(a)))),
        Agent::Copilot if copilot_is_ours(before) => Ok(Some(NewText(None))),
        Agent::Copilot => Ok(None),
    }
}

/// Whether the file holds capcom's hooks for `agent` (for `capcom doctor`).
pub fn is_installed(agent: Agent, text: &str) -> bool {
    match agent {
        Agent::Claude | Agent::Gemini => serde_json::from_str::<Value>(text).ok().is_some_and(|v| {
            events(agent).iter().all(|(event, _)| {
                v.get("hooks").and_then(|h| h.get(event)).and_then(Value::as_array).is_some_and(|groups| {
                    groups.iter().any(|g| {
                        g.get("hooks").and_then(Value::as_array).is_some_and(|hs| {
                            hs.iter().any(|h| h.get("command").and_then(Value::as_str).is_some_and(|c| is_ours(c, agent)))
                        })
                    })
                })
            })
        }),
        Agent::Codex => text.parse::<toml_edit::DocumentMut>().ok().is_some_and(|d| d.get("notify").is_some_and(is_our_notify)),
        Agent::Copilot => copilot_is_ours(text),
    }
}

/// The events capcom listens to, with the event argument its command line carries.
fn events(agent: Agent) -> &'static [(&'static str, Option<&'static str>)] {
    match agent {
        Agent::Claude => &[("Notification", None), ("Stop", None)],
        Agent::Gemini => &[("Notification", None), ("AfterAgent", None)],
        Agent::Copilot => &[("agentStop", Some("agentStop")), ("notification", Some("notification"))],
        Agent::Codex => &[],
    }
}

fn hook_entry(agent: Agent, cmd: &HookCommand, event: Option<&str>) -> Value {
    match agent {
        // Gemini's timeout is in milliseconds, Claude's in seconds.
        Agent::Gemini => json!({"name": "capcom", "type": "command", "command": cmd.shell(agent, event), "timeout": TIMEOUT_S * 1000}),
        _ => json!({"type": "command", "command": cmd.shell(agent, event), "timeout": TIMEOUT_S}),
    }
}

/// Claude Code's and Gemini CLI's `hooks` object: add (with `cmd`) or remove (without)
/// capcom's entry per event. The user's groups and hooks stay as they are.
fn edit_json_hooks(agent: Agent, file: &str, before: &str, cmd: Option<&HookCommand>) -> Result<Option<String>, InstallError> {
    let mut root: Value = if before.trim().is_empty() {
        if cmd.is_none() {
            return Ok(None);
        }
        Value::Object(Map::new())
    } else {
        serde_json::from_str(before).map_err(|e| InstallError::Unreadable(file.into(), "JSON", e.to_string()))?
    };
    let Value::Object(obj) = &mut root else { return Err(InstallError::WrongShape(file.into(), "the file".into(), "a JSON object")) };
    if cmd.is_none() && !obj.contains_key("hooks") {
        return Ok(None);
    }
    let hooks = obj.entry("hooks").or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(hooks) = hooks else { return Err(InstallError::WrongShape(file.into(), "hooks".into(), "an object")) };
    let mut changed = false;
    for (event, arg) in events(agent) {
        if cmd.is_none() && !hooks.contains_key(*event) {
            continue;
        }
        let list = hooks.entry(event.to_string()).or_insert_with(|| Value::Array(Vec::new()));
        let Value::Array(groups) = list else { return Err(InstallError::WrongShape(file.into(), format!("hooks.{event}"), "a list")) };
        let command = |h: &Value| h.get("command").and_then(Value::as_str).map(String::from);
        match cmd {
            Some(cmd) => {
                let want = hook_entry(agent, cmd, *arg);
                let mut found = false;
                for g in groups.iter_mut() {
                    if let Some(Value::Array(hs)) = g.get_mut("hooks") {
                        for h in hs.iter_mut() {
                            if command(h).is_some_and(|c| is_ours(&c, agent)) {
                                if !found && *h != want {
                                    *h = want.clone();
                                    changed = true;
                                }
                                found = true;
                            }
                        }
                    }
                }
                if !found {
                    groups.push(json!({"hooks": [want]}));
                    changed = true;
                }
            }
            None => {
                for g in groups.iter_mut() {
                    if let Some(Value::Array(hs)) = g.get_mut("hooks") {
                        let n = hs.len();
                        hs.retain(|h| !command(h).is_some_and(|c| is_ours(&c, agent)));
                        if hs.len() != n {
                            changed = true;
                            // A group left empty by this was capcom's alone.
                            if hs.is_empty() {
                                *g = Value::Null;
                            }
                        }
                    }
                }
                groups.retain(|g| !g.is_null());
            }
        }
    }
    if !changed {
        return Ok(None);
    }
    if cmd.is_none() {
        hooks.retain(|_, v| !v.as_array().is_some_and(|a| a.is_empty()));
        if hooks.is_empty() {
            obj.remove("hooks");
        }
    }
    let mut text = serde_json::to_string_pretty(&root).unwrap_or_default();
    text.push('\n');
    Ok(Some(text))
}

fn is_our_notify(item: &toml_edit::Item) -> bool {
    let words: Vec<String> = item.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect()).unwrap_or_default();
    is_our_argv(&words, Agent::Codex)
}

/// Codex's `notify`: set to capcom's (with `cmd`) or removed when it is capcom's (without).
/// toml_edit keeps the rest of the file, comments and layout included.
fn edit_codex(file: &str, before: &str, cmd: Option<&HookCommand>) -> Result<Option<String>, InstallError> {
    let mut doc: toml_edit::DocumentMut = before.parse().map_err(|e: toml_edit::TomlError| InstallError::Unreadable(file.into(), "TOML", e.to_string().trim().to_string()))?;
    match (cmd, doc.get("notify")) {
        (None, Some(item)) if is_our_notify(item) => {
            doc.remove("notify");
        }
        (None, _) => return Ok(None),
        (Some(_), Some(item)) if !is_our_notify(item) => {
            return Err(InstallError::OtherNotify(file.into(), item.to_string().trim().to_string()));
        }
        (Some(cmd), _) => {
            let argv = cmd.args(Agent::Codex, None);
            let mut arr = toml_edit::Array::new();
            for a in &argv {
                arr.push(a.as_str());
            }
            let same = doc.get("notify").and_then(|i| i.as_array()).is_some_and(|a| {
                a.iter().filter_map(|v| v.as_str()).eq(argv.iter().map(String::as_str))
            });
            if same {
                return Ok(None);
            }
            match doc.get_mut("notify").and_then(|i| i.as_value_mut()) {
                // Replace the value only: the key keeps its place and its comments.
                Some(v) => *v = toml_edit::Value::Array(arr),
                None => {
                    doc.insert("notify", toml_edit::value(arr));
                }
            }
        }
    }
    Ok(Some(doc.to_string()))
}

fn copilot_is_ours(text: &str) -> bool {
    serde_json::from_str::<Value>(text).ok().is_some_and(|v| {
        let hooks = v.get("hooks").and_then(Value::as_object);
        hooks.is_some_and(|h| {
            !h.is_empty()
                && h.values().flat_map(|l| l.as_array().into_iter().flatten()).all(|e| {
                    e.get("bash").and_then(Value::as_str).is_some_and(|c| is_ours(c, Agent::Copilot))
                })
        })
    })
}

fn copilot_file(cmd: &HookCommand) -> String {
    let mut hooks = Map::new();
    for (event, arg) in events(Agent::Copilot) {
        hooks.insert(event.to_string(), json!([{"type": "command", "bash": cmd.shell(Agent::Copilot, *arg), "timeoutSec": TIMEOUT_S}]));
    }
    let mut text = serde_json::to_string_pretty(&json!({"version": 1, "hooks": hooks})).unwrap_or_default();
    text.push('\n');
    text
}

/// The change as `-`/`+` lines (a line diff; unchanged lines are left out but for a count).
pub fn diff(before: &str, after: &str) -> String {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    // Longest common subsequence, bottom-up: settings files are small.
    let mut l = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            l[i][j] = if a[i] == b[j] { l[i + 1][j + 1] + 1 } else { l[i + 1][j].max(l[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || l[i][j + 1] >= l[i + 1][j]) {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        } else {
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        }
    }
    out
}

#[cfg(test)]
#[path = "install_tests.rs"]
mod tests;
