//! Presets for local CLI agents (argv templates, from DESIGN.md's agent facts) and
//! the parsers for their output streams.
//!
//! Templates are argv vectors. `{prompt}`, `{prompt_file}` and `{workdir}` are
//! replaced as whole arguments; nothing is ever passed through a shell.

use std::path::{Path, PathBuf};
use crate::config::Agent;
use serde_json::Value;

/// How an agent's output is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFormat {
    /// Claude Code `--output-format stream-json` (also Cursor CLI's, which has the same shape).
    ClaudeStream,
    /// Codex `exec --json` JSONL events.
    CodexJsonl,
    /// Gemini CLI `--output-format stream-json`.
    GeminiStream,
    /// Plain text (Aider, custom commands): every line is progress; exit 0 is success.
    Plain,
}

/// A resolved local agent: argv template, how to resume, how to read its output.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalSpec {
    pub preset: String,
    pub argv: Vec<String>,
    /// argv for a follow-up that resumes a session; `{session}` is the session id.
    pub resume_argv: Option<Vec<String>>,
    pub format: StreamFormat,
}

pub const PRESETS: [&str; 5] = ["claude", "codex", "gemini", "aider", "cursor-cli"];

fn v(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The built-in preset `name`, with Claude's permission mode filled in.
pub fn preset(name: &str, permission_mode: &str) -> Option<LocalSpec> {
    let mode = if permission_mode.trim().is_empty() { "acceptEdits" } else { permission_mode.trim() };
    let spec = match name {
        "claude" => LocalSpec {
            preset: name.into(),
            argv: v(&["claude", "-p", "{prompt}", "--output-format", "stream-json", "--verbose", "--permission-mode", mode]),
            resume_argv: Some(v(&[
                "claude", "-p", "{prompt}", "--output-format", "stream-json", "--verbose", "--permission-mode", mode,
                "--resume", "{session}",
            ])),
            format: StreamFormat::ClaudeStream,
        },
        "codex" => LocalSpec {
            preset: name.into(),
            argv: v(&["codex", "exec", "--json", "--full-auto", "{prompt}"]),
            resume_argv: Some(v(&["codex", "exec", "--json", "--full-auto", "resume", "{session}", "{prompt}"])),
            format: StreamFormat::CodexJsonl,
        },
        "gemini" => LocalSpec {
            preset: name.into(),
            argv: v(&["gemini", "-p", "{prompt}", "--output-format", "stream-json", "--approval-mode", "auto_edit"]),
            resume_argv: None,
            format: StreamFormat::GeminiStream,
        },
        "aider" => LocalSpec {
            preset: name.into(),
            argv: v(&["aider", "--message-file", "{prompt_file}", "--yes-always"]),
            resume_argv: None,
            format: StreamFormat::Plain,
        },
        "cursor-cli" => LocalSpec {
            preset: name.into(),
            argv: v(&["cursor-agent", "-p", "--output-format=stream-json", "--force", "{prompt}"]),
            resume_argv: Some(v(&["cursor-agent", "-p", "--output-format=stream-json", "--force", "--resume", "{session}", "{prompt}"])),
            format: StreamFormat::ClaudeStream,
        },
        _ => return None,
    };
    Some(spec)
}

/// Resolve `[agents.NAME]` (kind = "local"): the preset, overridden by an explicit
/// `command`. A custom command keeps the preset's stream format (so a wrapper script
/// around `claude` is still parsed) and has no resume unless the preset had one and
/// the command contains `{session}`.
pub fn resolve(name: &str, agent: &Agent) -> Result<LocalSpec, String> {
    let base = if agent.preset.is_empty() { None } else { preset(&agent.preset, &agent.permission_mode) };
    if !agent.preset.is_empty() && base.is_none() {
        return Err(format!(
            "agent `{name}`: unknown preset `{}` (known: {})",
            agent.preset,
            PRESETS.join(", ")
        ));
    }
    if agent.command.is_empty() {
        return match base {
            Some(b) => Ok(b),
            None => match preset(name, &agent.permission_mode) {
                Some(b) => Ok(b),
                None => Err(format!("agent `{name}` has neither a preset nor a command")),
            },
        };
    }
    let format = base.as_ref().map(|b| b.format).unwrap_or(StreamFormat::Plain);
    let has_session = agent.command.iter().any(|a| a == "{session}");
    Ok(LocalSpec {
        preset: agent.preset.clone(),
        argv: agent.command.clone(),
        resume_argv: if has_session { Some(agent.command.clone()) } else { None },
        format,
    })
}

/// What one output line meant.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LineInfo {
    /// A readable progress line, if the line says something worth showing.
    pub progress: Option<String>,
    pub session_id: Option<String>,
    /// The stream says the agent completed (successfully or not).
    pub done: Option<Done>,
    pub summary: Option<String>,
    pub cost_usd: Option<f64>,
    pub pr: Option<(u64, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Done {
    Success,
    Error(String),
}

/// Accumulated knowledge about a run from its stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamState {
    pub session_id: Option<String>,
    pub summary: Option<String>,
    pub cost_usd: Option<f64>,
    pub done: Option<Done>,
    /// The last assistant text seen (a summary when the stream gives none).
    pub last_text: Option<String>,
}

impl StreamState {
    pub fn absorb(&mut self, info: &LineInfo) {
        if info.session_id.is_some() {
            self.session_id.clone_from(&info.session_id);
        }
        if info.summary.is_some() {
            self.summary.clone_from(&info.summary);
        }
        if info.cost_usd.is_some() {
            self.cost_usd = info.cost_usd;
        }
        if info.done.is_some() {
            self.done.clone_from(&info.done);
        }
    }

    pub fn final_summary(&self) -> Option<String> {
        self.summary.clone().or_else(|| self.last_text.clone())
    }
}

const PROGRESS_MAX: usize = 300;

fn clip(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() <= PROGRESS_MAX {
        return s.to_string();
    }
    let mut out: String = s.chars().take(PROGRESS_MAX).collect();
    out.push('…');
    out
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Read one output line. Never fails: a line that is not what the format expects is
/// plain progress text.
pub fn parse_line(format: StreamFormat, line: &str, state: &mut StreamState) -> LineInfo {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return LineInfo::default();
    }
    let json = match format {
        StreamFormat::Plain => None,
        _ => serde_json::from_str::<Value>(line).ok().filter(Value::is_object),
    };
    let info = match (format, json) {
        (StreamFormat::ClaudeStream, Some(v)) => claude(&v, state),
        (StreamFormat::CodexJsonl, Some(v)) => codex(&v, state),
        (StreamFormat::GeminiStream, Some(v)) => gemini(&v, state),
        _ => plain(line),
    };
    state.absorb(&info);
    info
}

fn plain(line: &str) -> LineInfo {
    let mut info = LineInfo { progress: Some(clip(line)), ..LineInfo::default() };
    info.pr = pr_in_text(line);
    info
}

/// A GitHub pull request URL in a line of text: (number, url).
pub fn pr_in_text(line: &str) -> Option<(u64, String)> {
    let idx = line.find("https://")?;
    let rest = &line[idx..];
    let end = rest.find(|c: char| c.is_whitespace() || c == '"' || c == ')' || c == '>').unwrap_or(rest.len());
    let url = &rest[..end];
    let pos = url.find("/pull/")?;
    let num: String = url[pos + 6..].chars().take_while(|c| c.is_ascii_digit()).collect();
    let n = num.parse().ok()?;
    Some((n, url.trim_end_matches(['.', ',']).to_string()))
}

fn claude(v: &Value, state: &mut StreamState) -> LineInfo {
    let mut info = LineInfo { session_id: str_at(v, "session_id").map(String::from), ..LineInfo::default() };
    match str_at(v, "type") {
        Some("assistant") => {
            let content = v.pointer("/message/content").and_then(Value::as_array);
            let mut parts = Vec::new();
            for c in content.into_iter().flatten() {
                match str_at(c, "type") {
                    Some("text") => {
                        if let Some(t) = str_at(c, "text") {
                            state.last_text = Some(t.trim().to_string());
                            parts.push(t.to_string());
                            if info.pr.is_none() {
                                info.pr = pr_in_text(t);
                            }
                        }
                    }
                    Some("tool_use") => {
                        let name = str_at(c, "name").unwrap_or("tool");
                        let detail = c
                            .get("input")
                            .and_then(|i| str_at(i, "file_path").or_else(|| str_at(i, "command")).or_else(|| str_at(i, "path")))
                            .unwrap_or("");
                        parts.push(format!("[{name}] {detail}"));
                    }
                    _ => {}
                }
            }
            if !parts.is_empty() {
                info.progress = Some(clip(&parts.join(" ")));
            }
        }
        Some("result") => {
            let is_error = v.get("is_error").and_then(Value::as_bool).unwrap_or(false);
            let subtype = str_at(v, "subtype").unwrap_or("success");
            let result = str_at(v, "result").map(|s| s.trim().to_string());
            info.summary = result.clone();
            info.cost_usd = v.get("total_cost_usd").or_else(|| v.get("cost_usd")).and_then(Value::as_f64);
            info.done = Some(if subtype == "success" && !is_error {
                Done::Success
            } else {
                Done::Error(result.unwrap_or_else(|| format!("the agent reported {subtype}")))
            });
            info.progress = Some(format!("result: {subtype}"));
        }
        _ => {}
    }
    info
}

fn codex(v: &Value, state: &mut StreamState) -> LineInfo {
    let mut info = LineInfo::default();
    match str_at(v, "type") {
        Some("thread.started") => {
            info.session_id = str_at(v, "thread_id").or_else(|| str_at(v, "session_id")).map(String::from);
        }
        Some(t) if t.starts_with("item.") => {
            let item = v.get("item").cloned().unwrap_or(Value::Null);
            let kind = str_at(&item, "type").or_else(|| str_at(&item, "item_type"));
            match kind {
                Some("agent_message") => {
                    if let Some(text) = str_at(&item, "text") {
                        if t == "item.completed" {
                            state.last_text = Some(text.trim().to_string());
                        }
                        info.pr = pr_in_text(text);
                        info.progress = Some(clip(text));
                    }
                }
                Some("command_execution") if t == "item.started" => {
                    info.progress = str_at(&item, "command").map(|c| clip(&format!("$ {c}")));
                }
                Some("file_change") if t == "item.completed" => {
                    let paths: Vec<String> = item
                        .get("changes")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(|c| str_at(c, "path").map(String::from)).collect())
                        .unwrap_or_default();
                    info.progress = Some(clip(&format!("changed {}", paths.join(", "))));
                }
                _ => {}
            }
        }
        Some("turn.completed") => {
            info.done = Some(Done::Success);
            info.progress = Some("turn completed".into());
        }
        Some("turn.failed") => {
            let msg = v
                .pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or("the turn failed")
                .to_string();
            info.progress = Some(clip(&msg));
            info.done = Some(Done::Error(msg));
        }
        Some("error") => {
            let msg = str_at(v, "message").unwrap_or("error").to_string();
            info.progress = Some(clip(&msg));
            info.done = Some(Done::Error(msg));
        }
        _ => {}
    }
    info
}

fn gemini(v: &Value, state: &mut StreamState) -> LineInfo {
    let mut info = LineInfo { session_id: str_at(v, "session_id").map(String::from), ..LineInfo::default() };
    match str_at(v, "type") {
        Some("message") if str_at(v, "role") == Some("assistant") => {
            if let Some(text) = str_at(v, "content") {
                let delta = v.get("delta").and_then(Value::as_bool).unwrap_or(false);
                let joined = match (&state.last_text, delta) {
                    (Some(prev), true) => format!("{prev}{text}"),
                    _ => text.to_string(),
                };
                state.last_text = Some(joined);
                info.pr = pr_in_text(text);
                info.progress = Some(clip(text));
            }
        }
        Some("tool_use") => {
            let name = str_at(v, "tool_name").or_else(|| str_at(v, "name")).unwrap_or("tool");
            info.progress = Some(format!("[{name}]"));
        }
        Some("result") => {
            let status = str_at(v, "status").unwrap_or("success");
            info.done = Some(if status == "success" {
                Done::Success
            } else {
                let msg = v
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .map(String::from)
                    .unwrap_or_else(|| format!("the agent reported {status}"));
                Done::Error(msg)
            });
            info.progress = Some(format!("result: {status}"));
        }
        Some("error") => {
            let msg = str_at(v, "message").unwrap_or("error").to_string();
            info.progress = Some(clip(&msg));
        }
        _ => {}
    }
    info
}

/// A readable reason for a non-zero exit, per preset.
/// The executable a local agent preset runs.
pub fn preset_program(preset: &str) -> Option<&'static str> {
    match preset {
        "claude" => Some("claude"),
        "codex" => Some("codex"),
        "gemini" => Some("gemini"),
        "aider" => Some("aider"),
        "cursor-cli" => Some("cursor-agent"),
        _ => None,
    }
}

pub fn find_on_path(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| is_executable(p))
}

pub fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// The program a configured local agent runs: its `command`'s first word, or its preset's.
pub fn agent_program(agent: &crate::config::Agent) -> Option<String> {
    agent.command.first().cloned().or_else(|| preset_program(&agent.preset).map(String::from))
}

pub fn exit_reason(preset: &str, code: i32) -> String {
    match (preset, code) {
        ("gemini", 42) => "the agent exited with status 42 (bad input)".into(),
        ("gemini", 53) => "the agent exited with status 53 (turn limit reached)".into(),
        _ => format!("the agent exited with status {code}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(format: StreamFormat, lines: &[&str]) -> (StreamState, Vec<LineInfo>) {
        let mut st = StreamState::default();
        let infos = lines.iter().map(|l| parse_line(format, l, &mut st)).collect();
        (st, infos)
    }

    #[test]
    fn every_preset_resolves_with_its_documented_flags() {
        let c = preset("claude", "bypassPermissions").unwrap();
        assert_eq!(c.argv[..3], ["claude", "-p", "{prompt}"]);
        assert!(c.argv.windows(2).any(|w| w == ["--output-format", "stream-json"]));
        assert!(c.argv.contains(&"--verbose".to_string()));
        assert!(c.argv.windows(2).any(|w| w == ["--permission-mode", "bypassPermissions"]));
        assert!(c.resume_argv.unwrap().windows(2).any(|w| w == ["--resume", "{session}"]));
        assert_eq!(preset("codex", "").unwrap().argv, ["codex", "exec", "--json", "--full-auto", "{prompt}"]);
        let g = preset("gemini", "").unwrap();
        assert!(g.argv.windows(2).any(|w| w == ["--approval-mode", "auto_edit"]));
        assert_eq!(preset("aider", "").unwrap().argv, ["aider", "--message-file", "{prompt_file}", "--yes-always"]);
        let cu = preset("cursor-cli", "").unwrap();
        assert_eq!(cu.argv[..4], ["cursor-agent", "-p", "--output-format=stream-json", "--force"]);
        assert!(preset("nope", "").is_none());
    }

    #[test]
    fn resolve_prefers_an_explicit_command_but_keeps_the_format() {
        let a = Agent { preset: "claude".into(), command: vec!["/bin/fake".into(), "{prompt_file}".into()], ..Agent::default() };
        let s = resolve("fake", &a).unwrap();
        assert_eq!(s.argv, ["/bin/fake", "{prompt_file}"]);
        assert_eq!(s.format, StreamFormat::ClaudeStream);
        assert!(s.resume_argv.is_none());
        let bare = Agent { preset: String::new(), ..Agent::default() };
        assert_eq!(resolve("codex", &bare).unwrap().format, StreamFormat::CodexJsonl);
        assert!(resolve("mystery", &bare).is_err());
        let bad = Agent { preset: "claud".into(), ..Agent::default() };
        assert!(resolve("x", &bad).unwrap_err().contains("unknown preset"));
    }

    #[test]
    fn claude_stream_gives_session_summary_and_cost() {
        let (st, infos) = run(
            StreamFormat::ClaudeStream,
            &[
                r#"{"type":"system","subtype":"init","session_id":"abc-123","tools":[]}"#,
                r#"{"type":"assistant","message":{"content":[{"type":"text","text":"Editing the button"},{"type":"tool_use","name":"Edit","input":{"file_path":"components/Button.tsx"}}]},"session_id":"abc-123"}"#,
                r#"{"type":"result","subtype":"success","is_error":false,"result":"Upgraded Tailwind to 4.1.","session_id":"abc-123","total_cost_usd":0.42}"#,
            ],
        );
        assert_eq!(st.session_id.as_deref(), Some("abc-123"));
        assert_eq!(st.summary.as_deref(), Some("Upgraded Tailwind to 4.1."));
        assert_eq!(st.cost_usd, Some(0.42));
        assert_eq!(st.done, Some(Done::Success));
        assert!(infos[1].progress.as_deref().unwrap().contains("[Edit] components/Button.tsx"));
        assert!(infos[0].progress.is_none());
    }

    #[test]
    fn claude_error_result_is_an_error() {
        let (st, _) = run(
            StreamFormat::ClaudeStream,
            &[r#"{"type":"result","subtype":"error_max_turns","is_error":true,"session_id":"s"}"#],
        );
        assert!(matches!(st.done, Some(Done::Error(ref m)) if m.contains("error_max_turns")));
    }

    #[test]
    fn codex_jsonl_gives_thread_and_last_message() {
        let (st, _) = run(
            StreamFormat::CodexJsonl,
            &[
                r#"{"type":"thread.started","thread_id":"th_9"}"#,
                r#"{"type":"item.started","item":{"id":"1","type":"command_execution","command":"npm test"}}"#,
                r#"{"type":"item.completed","item":{"id":"2","type":"agent_message","text":"All done: bumped deps."}}"#,
                r#"{"type":"turn.completed","usage":{"input_tokens":10,"output_tokens":5}}"#,
            ],
        );
        assert_eq!(st.session_id.as_deref(), Some("th_9"));
        assert_eq!(st.final_summary().as_deref(), Some("All done: bumped deps."));
        assert_eq!(st.done, Some(Done::Success));
        let (st, _) = run(StreamFormat::CodexJsonl, &[r#"{"type":"turn.failed","error":{"message":"quota"}}"#]);
        assert_eq!(st.done, Some(Done::Error("quota".into())));
    }

    #[test]
    fn gemini_stream_joins_deltas() {
        let (st, _) = run(
            StreamFormat::GeminiStream,
            &[
                r#"{"type":"init","session_id":"g1","model":"gemini-2.5-pro"}"#,
                r#"{"type":"message","role":"assistant","content":"Fixed ","delta":true}"#,
                r#"{"type":"message","role":"assistant","content":"the bug.","delta":true}"#,
                r#"{"type":"result","status":"success","stats":{}}"#,
            ],
        );
        assert_eq!(st.session_id.as_deref(), Some("g1"));
        assert_eq!(st.final_summary().as_deref(), Some("Fixed the bug."));
        assert_eq!(st.done, Some(Done::Success));
    }

    #[test]
    fn garbage_lines_are_progress_and_never_panic() {
        for f in [StreamFormat::ClaudeStream, StreamFormat::CodexJsonl, StreamFormat::GeminiStream, StreamFormat::Plain] {
            let (st, infos) = run(f, &["not json", "{", "[1,2]", "{\"type\":42}", "", "\u{0}\u{ffff}"]);
            assert!(st.done.is_none());
            assert_eq!(infos[0].progress.as_deref(), Some("not json"));
        }
    }

    #[test]
    fn pull_request_urls_are_found() {
        assert_eq!(
            pr_in_text("Opened https://github.com/o/r/pull/41."),
            Some((41, "https://github.com/o/r/pull/41".into()))
        );
        assert_eq!(pr_in_text("https://example.com/x"), None);
    }

    #[test]
    fn gemini_exit_codes_read_well() {
        assert!(exit_reason("gemini", 53).contains("turn limit"));
        assert_eq!(exit_reason("claude", 2), "the agent exited with status 2");
    }
}
