//! Understanding: transcript + context → [`Intent`].
//!
//! Pure: it reads and writes nothing, never looks at a clock, and is not async. The caller
//! passes in "now" (with its UTC offset) and everything else the parser may consult.
//!
//! The path of one transcript through [`parse`]:
//! - [`normalize`]: fillers, false starts ("fix the, no wait, upgrade …"), number words,
//!   common mishearings, and [`vocab`] corrections towards configured names;
//! - [`intents`]: which command it is, read in the light of a pending question;
//! - [`refs`]: what "the tailwind one", "PR 41" or "the second one" points at; an ambiguous
//!   reference becomes a question, never a guess;
//! - [`brief`]: a brief's tasks, each with title, kind, repo, agent, scope, acceptance
//!   criteria, constraints, deliverables and schedule ([`when`] turns spoken times into
//!   absolute ones);
//! - [`readiness`]: a score, the problems found, and one spoken clarifying question.
//!
//! [`answer_clarification`] merges the answer to that question into a held task, and
//! [`help_phrases`] lists what can be said. Every step is linear in the words, and input is
//! capped ([`normalize::MAX_BYTES`], [`normalize::MAX_WORDS`]).

pub mod intent;

pub use intent::*;
pub use explain::explain;

use crate::config::Config;
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

/// A task the user may refer to ("the tailwind one", "task 3", "the second one").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct TaskRef {
    pub id: i64,
    pub title: String,
    pub kind: TaskKind,
    pub agent: Option<String>,
    pub repo: Option<String>,
    /// A task state name (DESIGN.md's task states).
    pub state: String,
    pub pr: Option<u64>,
}

/// A question capcom asked and is waiting on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Pending {
    /// "merge", "cancel", "merge_all", "clarify" ...
    pub action: String,
    pub question: String,
    pub task: Option<i64>,
}

/// Everything the parser may consult besides the words.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub config: &'a Config,
    /// Open and recent tasks, newest last.
    pub tasks: &'a [TaskRef],
    pub pending: Option<&'a Pending>,
    pub now: DateTime<FixedOffset>,
}

/// A pattern built once, on first use.
macro_rules! re {
    ($s:expr) => {{
        static R: std::sync::LazyLock<$crate::understand::pattern::Re> =
            std::sync::LazyLock::new(|| $crate::understand::pattern::Re::new($s));
        &*R
    }};
}

pub mod brief;
pub mod explain;
pub mod pattern;
pub mod intents;
pub mod normalize;
pub mod readiness;
pub mod refs;
pub mod vocab;
pub mod two;
pub mod calibrate;
pub mod when;

/// The names a brief may use, built from the config: agents (with spoken aliases),
/// repos (with aliases), check names, and the correction vocabulary.
#[derive(Debug, Clone)]
pub struct Names {
    /// (spoken alias, agent key), exact keys first.
    pub agents: Vec<(String, String)>,
    /// (spoken alias, repo name).
    pub repos: Vec<(String, String)>,
    /// Configured check names, sorted.
    pub checks: Vec<String>,
    /// The configured repos' paths, for spoken absolute paths inside one of them.
    pub repo_paths: Vec<String>,
    pub vocab: vocab::Vocab,
}

impl Names {
    pub fn from_config(config: &Config) -> Names {
        let mut agents: Vec<(String, String)> = Vec::new();
        let add = |alias: String, key: &str, agents: &mut Vec<(String, String)>| {
            let alias = alias.trim().to_ascii_lowercase();
            if !alias.is_empty() && !agents.iter().any(|(a, _)| *a == alias) {
                agents.push((alias, key.to_string()));
            }
        };
        for key in config.agents.keys() {
            add(key.clone(), key, &mut agents);
        }
        for (key, a) in &config.agents {
            add(key.replace(['-', '_'], " "), key, &mut agents);
            let spoken_kind = match a.kind.as_str() {
                "github-copilot" => "copilot",
                "codex-cloud" => "codex",
                "local" => "",
                other => other,
            };
            add(spoken_kind.to_string(), key, &mut agents);
            let preset = match a.preset.as_str() {
                "cursor-cli" => "cursor",
                p => p,
            };
            add(preset.to_string(), key, &mut agents);
            if let Some(head) = key.split(['-', '_']).next() {
                add(head.to_string(), key, &mut agents);
            }
            if key == "claude" || a.preset == "claude" {
                add("claude code".into(), key, &mut agents);
            }
            if spoken_kind == "copilot" {
                add("github copilot".into(), key, &mut agents);
            }
        }
        let mut repos: Vec<(String, String)> = Vec::new();
        for r in &config.repos {
            for alias in std::iter::once(&r.name).chain(r.aliases.iter()) {
                let a = alias.trim().to_ascii_lowercase();
                let a = a.strip_prefix("the ").unwrap_or(&a).to_string();
                if !a.is_empty() && !repos.iter().any(|(x, _)| *x == a) {
                    repos.push((a, r.name.clone()));
                }
            }
        }
        let repo_paths = config.repos.iter().map(|r| r.path.clone()).filter(|p| p.starts_with('/')).collect();
        Names { agents, repos, checks: config.check_names(), repo_paths, vocab: vocab::Vocab::from_config(config) }
    }

    /// The agent key a spoken word (or two) names.
    pub fn agent_word(&self, w: &str) -> Option<&str> {
        let w = w.trim_matches(|c: char| !c.is_ascii_alphanumeric()).trim_end_matches("'s");
        self.agents.iter().find(|(a, _)| a.eq_ignore_ascii_case(w)).map(|(_, k)| k.as_str())
    }

    /// A well-known coding agent named in speech, configured or not ("copilot", "jules"):
    /// a configured agent's key when one matches, else the spoken name.
    pub fn known_agent(&self, w: &str) -> Option<&str> {
        const KNOWN: &[&str] = &["copilot", "jules", "cursor", "codex", "claude", "gemini", "aider", "devin", "amp", "opencode"];
        let w = w.trim_matches(|c: char| !c.is_ascii_alphanumeric()).trim_end_matches("'s");
        self.agent_word(w).or_else(|| KNOWN.iter().find(|k| k.eq_ignore_ascii_case(w)).copied())
    }

    /// The repo name a spoken word (or two) names.
    pub fn repo_word(&self, w: &str) -> Option<&str> {
        let w = w.trim_matches(|c: char| !c.is_ascii_alphanumeric()).trim_end_matches("'s");
        let w = w.strip_prefix("the ").unwrap_or(w);
        self.repos.iter().find(|(a, _)| a.eq_ignore_ascii_case(w)).map(|(_, k)| k.as_str())
    }
}

/// The repo a brief that names none goes to: `[dispatch] default_repo` when it names a
/// configured repo (or one of its aliases), else the only repo configured.
pub fn default_repo(config: &Config) -> Option<String> {
    if let Some(d) = config.dispatch.default_repo.as_deref().map(str::trim).filter(|d| !d.is_empty())
        && let Some(r) = config.repos.iter().find(|r| r.name.eq_ignore_ascii_case(d) || r.aliases.iter().any(|a| a.eq_ignore_ascii_case(d)))
    {
        return Some(r.name.clone());
    }
    (config.repos.len() == 1).then(|| config.repos[0].name.clone())
}

/// Understand one transcript.
///
/// The words are cleaned up for reading only: each task's `brief` is what the user said,
/// verbatim (URLs, flags, symbols and all). A brief of one task is the whole transcript; in a
/// brief of several, each task quotes the stretch of the transcript it came from.
///
/// Its `confidence` is calibrated ([`calibrate`]): the chance that every field is right.
pub fn parse(text: &str, ctx: &Context) -> Intent {
    let (mut intent, signals) = parse_raw(text, ctx);
    intent.confidence = calibrate::confidence(&signals, &intent);
    intent
}

/// [`parse`] with the rules' own confidence, and the signals the calibration weighs.
pub fn parse_raw(text: &str, ctx: &Context) -> (Intent, calibrate::Signals) {
    let names = Names::from_config(ctx.config);
    let norm = normalize::normalize(text, &names.vocab);
    let mut intent = intents::classify(&norm, ctx, &names);
    let single = intent.tasks.len() == 1;
    for t in &mut intent.tasks {
        t.brief = if single {
            text.trim().to_string()
        } else {
            norm.verbatim(text, &t.brief).unwrap_or(text.trim()).to_string()
        };
    }
    let signals = calibrate::Signals::of(text, &norm, &intent);
    (intent, signals)
}

/// Merge the user's answer to a clarifying question into a held task, and score it again.
/// "Dispatch anyway" (or "just do it", "send it anyway") marks it ready as it stands.
pub fn answer_clarification(spec: &TaskSpec, answer: &str, ctx: &Context) -> TaskSpec {
    let names = Names::from_config(ctx.config);
    let norm = normalize::normalize(answer, &names.vocab);
    let l = norm.lower.trim().trim_end_matches(['.', '!', '?']).to_string();
    let mut out = spec.clone();
    if re!(r"^(?:(?:no|ok|okay|just|yes|yeah|please|nah)[, ]+)*(?:dispatch|send|run|do|start|ship|queue) (?:it|this|that|them|task \d+)? ?(?:anyway|as is|as it is|regardless)\b|^(?:just )?do it(?: anyway)?$|^(?:go|go ahead) anyway$|^(?:it's )?fine as (?:it )?is$").is_match(&l) {
        out.readiness.ready = true;
        out.readiness.question = None;
        return out;
    }
    if l.is_empty() {
        return out;
    }
    let text = norm.text.trim().trim_end_matches(['.', '!', '?']).to_string();
    let shared = brief::Shared { schedule: spec.schedule, agent: spec.agent.clone(), repo: spec.repo.clone(), acceptance: Vec::new() };
    let fresh = brief::task(&text, &shared, ctx, &names);

    // A repo named on its own: "the website", "api", "it's for the backend".
    let repo_bare = re!(r"^(?:it's |it is |that's |this is )?(?:for |in |on )?(?:the )?([a-z0-9._-]+(?: [a-z0-9._-]+)??)(?: (?:repo|repository|one|project|codebase))?$")
        .captures(&l)
        .and_then(|c| names.repo_word(&c[1]).map(str::to_string));
    if let Some(r) = repo_bare.or_else(|| brief::repo_in(&l, &names)) {
        out.repo = Some(r);
    }
    // An agent named on its own or with a cue: "Jules", "give it to Claude".
    let bare_agent = re!(r"^(?:(?:use|try|give it to|let|have|with) )?(?:the )?([a-z][a-z0-9-]*)(?: agent| please| instead)*$")
        .captures(&l)
        .and_then(|c| names.agent_word(&c[1]).map(str::to_string));
    if let Some(a) = bare_agent.or_else(|| brief::agent_in(&l, &names))
        && (ctx.config.agents.is_empty() || ctx.config.agents.contains_key(&a))
    {
        out.agent = Some(a);
    }
    // A folder of the repo answers a question about a scope outside it: "the config folder".
    let mut fresh = fresh;
    if !spec.scope_unplaced.is_empty()
        && fresh.scope.include.is_empty()
        && fresh.scope.exclude.is_empty()
        && let Some(c) = re!(r"^(?:(?:i )?mean(?:t)? |use |just |only |it's |it is |make it |try )*(?:in |under |inside )?(.+)$").captures(&l)
        && let Some(p) = brief::to_path(&c[1], &names, false)
    {
        fresh.scope.include.push(p);
    }
    if !fresh.scope.include.is_empty() || !fresh.scope.exclude.is_empty() {
        out.scope_unplaced.retain(|w| fresh.scope_unplaced.contains(w));
    }
    for p in fresh.scope.include {
        if !out.scope.include.contains(&p) {
            out.scope.include.push(p);
        }
    }
    for p in fresh.scope.exclude {
        if !out.scope.exclude.contains(&p) {
            out.scope.exclude.push(p);
        }
    }
    if out.schedule.is_none() {
        out.schedule = fresh.schedule;
    }
    let asked_acceptance = spec.readiness.problems.iter().any(|p| p == readiness::NO_ACCEPTANCE || p == readiness::NO_CHECK);
    let asked_vague = spec.readiness.problems.iter().any(|p| p == readiness::VAGUE || p == readiness::NO_TITLE);
    let mut criteria = fresh.acceptance.clone();
    if criteria.is_empty() && (asked_acceptance || !brief::checks_for(&l, &names).is_empty()) {
        criteria = brief::criteria_pieces(&text, &names);
    }
    let answered_repo_only = (out.repo != spec.repo || out.agent != spec.agent) && text.split_whitespace().count() <= 4;
    if asked_vague && !answered_repo_only {
        // The answer says what to do: it becomes the body, and a better title.
        let starts_verb = l.split_whitespace().next().is_some_and(brief::is_task_verb);
        if starts_verb && !fresh.title.is_empty() {
            out.title = fresh.title.clone();
        } else if !fresh.title.is_empty() && !out.title.is_empty() {
            out.title = format!("{}: {}", out.title, readiness::lower_first(&fresh.title));
        }
        if out.kind == TaskKind::Other || starts_verb {
            out.kind = brief::kind(&l, "", &format!("{} {}", spec.brief.to_ascii_lowercase(), l));
        }
        for c in fresh.constraints {
            if !out.constraints.contains(&c) {
                out.constraints.push(c);
            }
        }
        for d in fresh.deliverables {
            if !out.deliverables.contains(&d) {
                out.deliverables.push(d);
            }
        }
    } else if !answered_repo_only {
        for c in fresh.constraints {
            if !out.constraints.contains(&c) {
                out.constraints.push(c);
            }
        }
    }
    if !answered_repo_only {
        for c in criteria {
            if !out.acceptance.iter().any(|o| o.text.eq_ignore_ascii_case(&c.text) && o.check == c.check) {
                out.acceptance.push(c);
            }
        }
    }
    // The answer joins the brief as it was said.
    let said = answer.trim();
    out.brief = if spec.brief.is_empty() { said.to_string() } else { format!("{} {}", spec.brief.trim_end(), ensure_sentence(said)) };
    out.readiness = readiness::assess(&out, ctx, &names);
    out
}

fn ensure_sentence(s: &str) -> String {
    let s = s.trim();
    if s.ends_with(['.', '!', '?']) { s.to_string() } else { format!("{s}.") }
}

/// A short, plain description of the context for a language model: the names it may use
/// and the tasks a reference may point at. Task titles are quoted as data.
pub fn context_summary(ctx: &Context) -> String {
    let cfg = ctx.config;
    let mut out = String::new();
    let repos: Vec<String> = cfg
        .repos
        .iter()
        .map(|r| if r.aliases.is_empty() { r.name.clone() } else { format!("{} (also {})", r.name, r.aliases.join(", ")) })
        .collect();
    out.push_str(&format!("now: {}\n", ctx.now.to_rfc3339()));
    out.push_str(&format!("repos: {}\n", repos.join("; ")));
    out.push_str(&format!("agents: {}\n", cfg.agents.keys().cloned().collect::<Vec<_>>().join(", ")));
    out.push_str(&format!("checks: {}\n", cfg.check_names().join(", ")));
    let wfs: Vec<String> = cfg.workflows.iter().map(|w| format!("{} ({})", w.name, w.triggers.join(" / "))).collect();
    out.push_str(&format!("workflows: {}\n", wfs.join("; ")));
    if let Some(p) = ctx.pending {
        out.push_str(&format!("pending question ({}): {:?}\n", p.action, p.question));
    }
    out.push_str("tasks:\n");
    for t in ctx.tasks.iter().rev().take(20) {
        let pr = t.pr.map(|p| format!(", PR {p}")).unwrap_or_default();
        let agent = t.agent.as_deref().unwrap_or("unassigned");
        out.push_str(&format!("- task {}: {:?} [{}, {}, {agent}{pr}]\n", t.id, t.title, t.kind.as_str(), t.state));
    }
    out
}

/// What the user can say, for "what can I say?": one example per intent, with the
/// configured names and every workflow trigger.
pub fn help_phrases(ctx: &Context) -> Vec<String> {
    let cfg = ctx.config;
    let repo = cfg.repos.first().map(|r| r.aliases.first().cloned().unwrap_or_else(|| r.name.clone()));
    let agent = cfg.agents.keys().next().cloned();
    let on_repo = repo.map(|r| format!(" on the {r}")).unwrap_or_default();
    let mut out = vec![
        format!("Upgrade Tailwind to the latest version{on_repo}. Only touch the components directory. Acceptance: build passes, tests green."),
    ];
    if let Some(a) = &agent {
        out.push(format!("Have {a} fix the flaky checkout test. Tests must pass."));
    }
    out.extend([
        "Queue these for tonight: an upgrade to Next.js 15, and a security audit of the API routes.".to_string(),
        "What's finished? What's running? Anything failed?".to_string(),
        "How's the tailwind upgrade going?".to_string(),
        "What changed since yesterday? Read me the changelog for this week.".to_string(),
        "Merge PR 41. Merge the tailwind one. Merge all ready.".to_string(),
        "Yes, or confirm, to go ahead; no, or cancel that, to stop.".to_string(),
        "Cancel task 3. Stop the CSS agent.".to_string(),
        "Tell the tailwind agent to also update the docs.".to_string(),
        "Retry the second one.".to_string(),
        "Say that again.".to_string(),
        "Dispatch anyway, when I ask a question about a brief.".to_string(),
    ]);
    let checks = cfg.check_names();
    if !checks.is_empty() {
        out.push(format!("Checks you can name in acceptance criteria: {}.", checks.join(", ")));
    }
    if !cfg.repos.is_empty() {
        let repos: Vec<String> = cfg.repos.iter().map(|r| {
            if r.aliases.is_empty() { r.name.clone() } else { format!("{} ({})", r.name, r.aliases.join(", ")) }
        }).collect();
        out.push(format!("Repos: {}.", repos.join("; ")));
    }
    if !cfg.agents.is_empty() {
        out.push(format!("Agents: {}.", cfg.agents.keys().cloned().collect::<Vec<_>>().join(", ")));
    }
    for wf in &cfg.workflows {
        if wf.triggers.is_empty() {
            out.push(format!("\"{}\" runs the {} workflow.", wf.name, wf.name));
        } else {
            let t: Vec<String> = wf.triggers.iter().map(|t| format!("\"{t}\"")).collect();
            out.push(format!("{} runs the {} workflow.", t.join(" or "), wf.name));
        }
    }
    out
}
