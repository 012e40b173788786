//! Briefs → tasks: title, kind, repo, agent, scope, acceptance, constraints, deliverables
//! and schedule, for each task a brief holds.
//!
//! A brief is split into tasks only on explicit signs: a list after a header ("Queue these
//! for tonight: A, B, and C"), counted items ("Two things. First … Second …"), or a second
//! agent assignment ("have Jules … and have Copilot …"). A header's schedule, agent and repo
//! are shared by its items. Inside a task, each clause is read as one of: acceptance
//! criterion, constraint, deliverable, or the body that says what to do.

mod criteria;
mod scope;
mod split;
mod title;
#[cfg(test)]
mod tests;

pub use self::{criteria::*, scope::*, split::*, title::*};
use super::normalize::CLAUSE_VERBS;
use super::{Context, Criterion, Names, Scope, TaskKind, TaskSpec, when};
use chrono::{DateTime, FixedOffset};

/// What a header gives every task of a list.
#[derive(Debug, Clone, Default)]
pub struct Shared {
    pub schedule: Option<DateTime<FixedOffset>>,
    pub agent: Option<String>,
    pub repo: Option<String>,
    pub acceptance: Vec<Criterion>,
}

/// The brief split into task texts, plus what they share.
#[derive(Debug, Clone, Default)]
pub struct Split {
    pub items: Vec<String>,
    pub shared: Shared,
}

fn words(s: &str) -> usize {
    s.split_whitespace().count()
}


const TASK_VERBS: &[&str] = &[
    "add", "fix", "upgrade", "bump", "update", "refactor", "rewrite", "write", "create", "implement", "build",
    "remove", "delete", "migrate", "replace", "rename", "move", "extract", "convert", "port", "clean", "tidy",
    "improve", "optimize", "optimise", "speed", "make", "change", "set", "configure", "enable", "disable",
    "investigate", "debug", "audit", "review", "document", "scope", "patch", "harden", "sanitize", "sanitise",
    "memoize", "translate", "polish", "redesign", "restyle", "generate", "draft", "prepare", "deprecate",
    "install", "integrate", "support", "introduce", "split", "consolidate", "dedupe", "deduplicate", "reduce",
    "increase", "adjust", "tweak", "align", "swap", "pin", "unpin", "format", "profile", "cache", "test",
    "upgrade", "bump", "lint", "fix", "look", "find", "figure", "check", "verify", "ensure", "add", "raise",
    "lower", "limit", "rate-limit", "validate", "handle", "bring", "get", "switch", "drop", "wire", "hook",
    "expose", "deploy", "ship", "revert", "roll", "backport", "localize", "localise", "rework", "modernize",
    "revamp", "simplify", "restructure", "reorganize", "reorganise", "decouple", "inline", "split", "paginate",
    "redirect", "resize", "compress", "lazy-load", "preload", "prefetch", "stub", "mock", "seed", "scaffold",
    "automate", "schedule", "queue", "dispatch", "start", "kick", "research", "explore", "prototype", "try",
    "design", "style", "rephrase", "reword", "proofread", "correct", "address", "resolve", "close", "archive",
    "publish", "release", "tag", "bundle", "containerize", "dockerize", "parallelize", "batch", "throttle",
    "debounce", "retry", "log", "instrument", "monitor", "alert", "track", "measure", "benchmark", "run", "bootstrap",
    "reload", "touch", "delete", "tighten", "loosen", "reword", "refresh", "regenerate", "rebuild", "reset", "rotate",
    "deal", "sort", "tackle", "organize", "rationalize", "prioritize", "standardize", "normalize", "finalize",
    "customize", "centralize", "modularize", "squash", "stabilize", "repair", "unify",
];

/// A verb that orders work. British spellings count as their American twins ("modernise",
/// "optimise", "organise").
pub fn is_task_verb(w: &str) -> bool {
    if TASK_VERBS.contains(&w) || CLAUSE_VERBS.contains(&w) && !matches!(w, "what's" | "what" | "how's" | "how") {
        return true;
    }
    w.len() > 5 && w.strip_suffix("ise").is_some_and(|stem| TASK_VERBS.contains(&format!("{stem}ize").as_str()))
}

/// Politeness and framing before the real request.
pub fn strip_polite(lower: &str) -> &str {
    let re = re!(r"^(?:(?:please|ok|okay|alright|so|now|hey|hi|hello|capcom|right|and|also|then|next|just|quickly|kindly|sorry|(?:so )?what (?:i|we) (?:need|want|would like) is(?: for (?:someone|somebody|you|an agent|one of the agents) to| to)?|(?:so )?what (?:i|we)'d like is(?: for (?:someone|somebody|you|an agent) to| to)?|yeah|yes|well|um|i think|i guess|i suppose|maybe|probably|perhaps|we should probably|we should|we could|we might want to|we may want to|it would be (?:nice|good|great) to|at some point|when you get a chance|if you can|if possible|(?:please )?(?:schedule|queue|dispatch|send|kick off)(?: up)? (?:it|this|these|them|that)(?: (?:for|at|on|by))*|go ahead and|can you|could you|would you|will you|can we|could we|let's|lets|let us|can (?:someone|somebody|anyone|anybody|one of the agents)|could (?:someone|somebody|anyone|anybody|one of the agents)|(?:someone|somebody) (?:needs to|has to|must|should|ought to|could|can|please)|(?:can|could) (?:you|someone|somebody) please|i want you to|i'd like you to|i would like you to|i need you to|i want to|i'd like to|i need to|we need to|we should|you should|i want|i'd like|we need|i need|someone should|somebody should|someone needs to|have someone|get someone to|time to|it's time to|new task|task|a task to|create a task to|open a task to|make a task to|queue (?:up )?(?:a task|a job|something) to|dispatch (?:a task|an agent|a job|someone|an agent) to|send (?:an agent|someone) to|spin up (?:an agent|a task) to|start (?:an agent|a task) (?:to|that)|i've got a task|here's a task|brief)[,:]?\s+)+");
    match re.find(lower) {
        Some(m) => &lower[m.end()..],
        None => lower,
    }
}

/// Lead-ins that only say where or when: "on the website", "in the api repo", "over on the
/// backend's side", "tonight", "tomorrow morning", "at 9 am". What follows is the request.
/// A condition first ("once the auth work is merged", "if the build is green tonight",
/// "after the migration finishes,") says when, and is a lead-in too.
pub fn strip_lead_ins<'a>(s: &'a str, names: &Names) -> &'a str {
    let mut s = s.trim_start();
    for _ in 0..3 {
        let before = s;
        s = strip_condition(s, names);
        if let Some(m) = re!(r"^(?:tonight|overnight|tomorrow(?: morning| night| evening| afternoon)?|later today|later|this (?:evening|afternoon|morning)|first thing(?: tomorrow| in the morning)?|at \d{1,2}(?: \d\d)?(?: am| pm)?|in \d+ (?:hours?|minutes?)|when you (?:get|have) a (?:chance|minute|sec|second)|real quick|quick one|one more|another one)[,:]? ").find(s) {
            s = s[m.end()..].trim_start();
        }
        if let Some(c) = re!(r"^(?:over )?(?:on|in|for|inside|within|at) (?:the |our |my )?([a-z0-9._'-]+)(?: (?:repo|repository|codebase|project|side|app|one))?[,:]? ").captures(s)
            && names.repo_word(&c[1]).is_some()
        {
            let rest = &s[c.get(0).map(|m| m.end()).unwrap_or(0)..];
            // Only when an order follows ("on the website update …"), not "in the api routes".
            let next = rest.split(' ').next().unwrap_or("");
            if is_task_verb(next) || next == "few" || names.agent_word(next).is_some() || matches!(next, "have" | "use" | "ask" | "get" | "let" | "tell" | "please" | "can" | "could" | "we" | "i" | "someone" | "only" | "just" | "don't" | "do" | "keep" | "leave" | "touch" | "go" | "send" | "give" | "hand") {
                s = rest;
            }
        }
        if s == before {
            break;
        }
    }
    s
}

/// "once the auth work is merged have codex refresh the snapshots" → "have codex refresh the
/// snapshots": a leading condition runs up to the first order after it (an agent assignment,
/// or a task verb before its object).
fn strip_condition<'a>(s: &'a str, names: &Names) -> &'a str {
    let Some(m) = re!(r"^(?:once|when|whenever|after|as soon as|if|before|assuming|provided|until) ").find(s) else {
        return s;
    };
    let mut at = m.end();
    let mut seen = 0;
    for w in s[m.end()..].split(' ') {
        if seen >= 2
            && let rest = s[at..].trim_start_matches([',', ' '])
            && order_start(rest, names)
        {
            return rest;
        }
        seen += 1;
        at += w.len() + 1;
        if at >= s.len() || seen > 14 {
            break;
        }
    }
    s
}

/// Words that open an order: an agent assignment ("have codex …", "get jules to …") or a task
/// verb before what it acts on ("refresh the snapshots", "fix it", "tidy up the …").
pub fn order_start(s: &str, names: &Names) -> bool {
    if let Some(c) = re!(r"^(?:please )?(?:have|get|ask|tell|use|let) ([a-z][a-z0-9-]*) ").captures(s) {
        return names.agent_word(&c[1]).is_some() || names.known_agent(&c[1]).is_some();
    }
    let s = s.strip_prefix("please ").unwrap_or(s);
    let mut ws = s.split(' ');
    let (Some(v), Some(o)) = (ws.next(), ws.next()) else { return false };
    let v = v.trim_end_matches(',');
    is_task_verb(v)
        && !matches!(v, "have" | "has" | "show" | "give" | "tell" | "check" | "run" | "what's" | "what" | "how's" | "how" | "test" | "log" | "review" | "track" | "cache" | "design" | "style" | "format" | "release" | "tag" | "alert" | "monitor" | "measure" | "merge" | "cancel" | "stop" | "retry" | "start" | "try" | "set" | "seed" | "mock" | "stub" | "close" | "schedule" | "queue" | "dispatch")
        && matches!(o.trim_end_matches(','), "it" | "that" | "this" | "them" | "these" | "those" | "the" | "a" | "an" | "our" | "my" | "all" | "every" | "its" | "their" | "up" | "out" | "some" | "any")
}

/// An agent named with an assignment cue: "use Copilot to", "have Jules", "ask Cursor to",
/// "with Copilot", "Jules, …", "for Claude".
pub fn agent_in(lower: &str, names: &Names) -> Option<String> {
    let cue = re!(r"(?:\b(?:use|using|have|has|ask|get|let|with|via|through|by|for|to|on|tell|want|need|would like|'d like|assign(?:ed)?(?: (?:it|this|that|these|them))? to|send(?: (?:it|this|that|these|them))?(?: over| off| across)? to|give(?: (?:it|this|that|these|them))?(?: over)? to|hand(?: (?:it|this|that|these|them))?(?: off| over)? to|pass(?: (?:it|this|that|these|them))?(?: over| along)? to|forward(?: (?:it|this|that|these|them))? to|dispatch(?: (?:it|this|that|these|them))? to|route(?: (?:it|this|that|these|them))? to|put)\s+)(?:the\s+)?([a-z][a-z0-9-]*(?: (?:code|cli|agent|cloud))?)\b");
    for c in cue.captures_iter(lower) {
        let w = &c[1];
        let first = w.split(' ').next().unwrap_or(w);
        if let Some(a) = names.agent_word(w).or_else(|| names.agent_word(first)).or_else(|| names.known_agent(first)) {
            let whole = c.get(0).map(|m| m.as_str()).unwrap_or("");
            // "the cursor position" is not an agent: after "the", the name must end the phrase
            // or be followed by "agent".
            let after = &lower[c.get(0).map(|m| m.end()).unwrap_or(0)..];
            let next = after.split_whitespace().next().unwrap_or("");
            if whole.contains("the ") && !(w.ends_with("agent") || next == "agent" || next.is_empty()) {
                continue;
            }
            // "for cursor" / "on cursor" / "to cursor" need the name to stand alone.
            let weak = re!(r"^(?:for|to|on|by) ").is_match(whole.trim_start_matches(|ch: char| !ch.is_ascii_alphabetic()));
            if weak && !(next.is_empty() || matches!(next, "to" | "and" | "please" | "tonight" | "tomorrow" | "overnight") || after.trim_start().starts_with([',', '.', ';', '!', '?'])) {
                continue;
            }
            return Some(a.to_string());
        }
    }
    // "give Cursor the job of …", "hand Jules this one", "let Copilot take it".
    for c in re!(r"\b(?:give|hand|pass|assign|let|put) ([a-z][a-z0-9-]*)(?: (?:code|cli|cloud))? (?:the (?:job|task|work|ticket)|this|that|it|on it|take)\b").captures_iter(lower) {
        if let Some(a) = names.agent_word(&c[1]).or_else(|| names.known_agent(&c[1])) {
            return Some(a.to_string());
        }
    }
    // "Jules: …", "Copilot, …", "Jules should …", "can Jules …" at the start.
    if let Some(c) = re!(r"^(?:(?:hey|ok|okay|so|please|can|could|would|will) )?([a-z][a-z0-9-]*)(?:[,:.]| should| can| could| will| please|\s)\s*").captures(lower)
        && let Some(a) = names.agent_word(&c[1]).or_else(|| names.known_agent(&c[1]))
    {
        return Some(a.to_string());
    }
    None
}

/// A repo named with a cue: "on the website", "in the api repo", "for backend", "site repo",
/// "migrate the api from …".
pub fn repo_in(lower: &str, names: &Names) -> Option<String> {
    // Words with a flag for punctuation right after them.
    let toks: Vec<(&str, bool)> = lower
        .split_whitespace()
        .map(|w| {
            let t = w.trim_end_matches(|c: char| ",.;:!?\"".contains(c));
            (t.trim_start_matches('"'), t.len() != w.len())
        })
        .collect();
    const PREPS: &[&str] = &["in", "on", "for", "to", "against", "inside", "within", "at", "from", "of", "into", "across", "over"];
    const MODIFIED: &[&str] = &[
        "routes", "route", "docs", "doc", "keys", "key", "client", "clients", "calls", "call", "endpoint", "endpoints",
        "layer", "gateway", "spec", "specs", "schema", "version", "versions", "reference", "design", "copy", "header",
        "footer", "team", "contract", "response", "responses", "request", "requests", "token", "tokens", "limits",
        "limit", "usage", "surface", "wrapper", "types", "logs", "traffic", "page", "pages", "redesign", "launch",
        "hero", "nav", "navigation", "menu", "theme", "styles", "components", "folder", "directory",
    ];
    const SUFFIX: &[&str] = &["repo", "repository", "project", "codebase", "side", "service", "monorepo", "app", "code", "repos"];
    let word = |i: usize| toks.get(i).map(|t| t.0).unwrap_or("");
    let stops_after = |i: usize| toks.get(i).is_none_or(|t| t.1) || is_phrase_end(word(i + 1));
    for i in 0..toks.len() {
        let w = word(i);
        let lead = PREPS.contains(&w) || (w == "the" && i > 0);
        if !lead {
            continue;
        }
        let mut j = i + 1;
        while matches!(word(j), "the" | "our" | "my") {
            j += 1;
        }
        if j >= toks.len() {
            break;
        }
        // A two-word alias ("web app").
        if !toks[j].1 && let Some(r) = names.repo_word(&format!("{} {}", word(j), word(j + 1))) {
            return Some(r.to_string());
        }
        if let Some(r) = names.repo_word(word(j)) {
            let suffix = !toks[j].1 && SUFFIX.contains(&word(j + 1));
            let bare_ok = if w == "the" {
                // "migrate the api from express": only before a preposition or the end.
                toks[j].1 || matches!(word(j + 1), "" | "from" | "to" | "so" | "and" | "with" | "repo" | "repository" | "codebase" | "project")
            } else {
                // "on the website crashes …" names the repo; "in the api routes" names a part.
                stops_after(j) || !MODIFIED.contains(&word(j + 1))
            };
            if suffix || bare_ok {
                return Some(r.to_string());
            }
        }
    }
    // "the backend's package.json", "website's footer": a possessive names the repo.
    for (w, _) in &toks {
        if let Some(stem) = w.strip_suffix("'s").or_else(|| w.strip_suffix("s'"))
            && let Some(r) = names.repo_word(stem)
        {
            return Some(r.to_string());
        }
    }
    // "the api repo", "website repo" anywhere.
    for i in 0..toks.len().saturating_sub(1) {
        if !toks[i].1
            && matches!(word(i + 1), "repo" | "repository" | "codebase" | "project")
            && let Some(r) = names.repo_word(word(i))
        {
            return Some(r.to_string());
        }
    }
    None
}

fn is_phrase_end(w: &str) -> bool {
    w.is_empty()
        || matches!(
            w,
            "build" | "builds" | "tests" | "test" | "lint" | "typecheck" | "type" | "ci" | "make" | "ensure" | "acceptance"
                | "it" | "they" | "we" | "i" | "you" | "someone" | "somebody" | "can" | "could" | "should" | "would" | "will"
                | "must" | "needs" | "is" | "are" | "has" | "was" | "there" | "everything" | "also"
                | "keep" | "leave" | "don't" | "do" | "until" | "while" | "without" | "except" | "because" |
            "and" | "to" | "so" | "but" | "then" | "with" | "only" | "please" | "tonight" | "tomorrow" | "overnight" | "at"
                | "in" | "on" | "for" | "using" | "via" | "by" | "before" | "after" | "when" | "which" | "that" | "where"
                | "too" | "as" | "first" | "today" | "this" | "next" | "asap" | "now" | "use" | "have" | "ask"
        )
}

/// Build one task from its text.
/// In a long brief spoken without any punctuation, put a pause before the words that start a
/// new clause ("… latest version fix breaking changes … leave app routes untouched …").
fn add_pauses(text: &str) -> String {
    if text.contains([',', '.', ';', ':', '?', '!']) || words(text) < 12 {
        return text.to_string();
    }
    const CUES: &[&str] = &[
        "fix", "leave", "keep", "don't", "ensure", "check", "verify", "show", "add", "acceptance", "make", "do",
        "also", "then", "update", "remove", "write", "include", "avoid", "never", "only", "the", "no",
    ];
    // Verbs that are also nouns ("a security audit of …") open a clause only before an object.
    const VERBS: &[&str] = &[
        "bump", "upgrade", "delete", "rename", "refactor", "migrate", "replace", "create", "implement", "extract",
        "convert", "investigate", "audit", "patch", "harden", "swap",
    ];
    const NO_PAUSE_AFTER: &[&str] = &[
        "to", "and", "or", "then", "will", "should", "can", "must", "please", "i", "we", "you", "it", "they", "not",
        "also", "would", "could", "the", "a", "an", "and", "but", "so", "that", "which", "who", "don't", "do", "just",
        "of", "in", "on", "for", "with", "by", "at", "from", "is", "are", "be", "let's", "me", "us", "them", "make", "sure",
    ];
    let ws: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();
    // Where a verdict starts ("… no visual changes build passes"), by word.
    let joined = ws.join(" ").to_ascii_lowercase();
    let verdict_words: Vec<usize> = verdict_ranges(&joined).iter().map(|r| joined[..r.start].split(' ').filter(|w| !w.is_empty()).count()).collect();
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_criteria = false;
    for (k, w) in ws.iter().enumerate() {
        let lw = w.to_ascii_lowercase();
        let prev = if k > 0 { ws[k - 1].to_ascii_lowercase() } else { String::new() };
        let next = ws.get(k + 1).map(|n| n.to_ascii_lowercase()).unwrap_or_default();
        // Which cue words open a clause, judged with the word after them.
        let opens = match lw.as_str() {
            "the" => matches!(next.as_str(), "build" | "tests") && matches!(ws.get(k + 2).map(|x| x.to_ascii_lowercase()).as_deref(), Some("must" | "should" | "passes" | "pass" | "is" | "are" | "still" | "stays")),
            "check" => matches!(next.as_str(), "the" | "that" | "it" | "on" | "in") && !matches!(prev.as_str(), "regression" | "visual" | "manual" | "quick" | "design" | "type" | "a"),
            "make" => next == "sure",
            "do" => next == "not",
            "acceptance" => next == "criteria" || next == "criterion",
            // "… no visual changes …", "… no new dependencies …".
            "no" => ws[k + 1..ws.len().min(k + 4)].iter().any(|x| x.to_ascii_lowercase().starts_with("change"))
                || matches!(next.as_str(), "new" | "breaking" | "behaviour" | "behavior" | "public" | "visual" | "schema"),
            v if VERBS.contains(&v) => matches!(next.as_str(), "the" | "a" | "an" | "all" | "our" | "my" | "this" | "that" | "these" | "those" | "any" | "some" | "it" | "them" | "every" | "out" | "up"),
            _ => CUES.contains(&lw.as_str()),
        };
        let opens = opens || verdict_words.contains(&k);
        if k > 2 && opens && !in_criteria && !NO_PAUSE_AFTER.contains(&prev.as_str()) {
            out.push(',');
        }
        // Criteria after "acceptance criteria" are split by their verdicts instead.
        if lw == "acceptance" || (lw == "done" && next == "when") {
            in_criteria = true;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

pub fn task(text: &str, shared: &Shared, ctx: &Context, names: &Names) -> TaskSpec {
    let mut t = task_as_said(text, shared, ctx, names);
    if t.repo.is_none() {
        t.repo = super::default_repo(ctx.config);
    }
    t
}

/// A spoken correction at the end of a brief: who should do it, or where.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Correction {
    pub agent: Option<String>,
    pub repo: Option<String>,
}

/// "… have Copilot do it. Actually, make that Jules." → the brief without its correction,
/// and what the correction says: the agent ("actually give it to Claude", "no wait, make
/// that Copilot") or the repo ("make that the api repo"). Only a correction that ends the
/// brief and names a known agent or a configured repo counts.
pub fn correction(text: &str, names: &Names) -> (String, Correction) {
    let lower = text.to_ascii_lowercase();
    let re = re!(r"(?:^|[.,;!?]\s*|\s)((?:(?:actually|no wait|wait no|wait|sorry|no|i mean|or rather|on second thought|scratch that|hmm)[,.]?\s+)*)((?:let's |let us |please )?(?:make (?:that|it|this)|give (?:it|that|this)(?: one)?(?: over)? to|hand (?:it|that|this)(?: over| off)? to|switch (?:it|that|this)(?: over)? to|change (?:it|that|this) to|send (?:it|that|this)(?: over)? to|assign (?:it|that|this) to|move (?:it|that|this) to|put (?:it|that|this) (?:on|in)|go with|use|let|have)\s+)?(?:the\s+)?([a-z][a-z0-9-]*)(?:\s+(?:repo|repository|codebase|agent|code|cli))?(?:\s+(?:do it|do that|instead|please|then|one))*\s*[.!]?\s*$");
    let Some(c) = re.captures(&lower) else { return (text.to_string(), Correction::default()) };
    let marker = c.get(1).is_some_and(|m| !m.as_str().trim().is_empty());
    let verb = c.get(2).map(|m| m.as_str().trim().to_string()).unwrap_or_default();
    let name = &c[3];
    // A bare name after a marker ("…, actually, Jules.") or a re-assigning verb; "use", "let"
    // and "have" only after a marker ("… with tests, use Jules" is the brief's own agent).
    let reassign = !verb.is_empty() && !matches!(verb.as_str(), "use" | "let" | "have" | "please use");
    if !(marker || reassign) {
        return (text.to_string(), Correction::default());
    }
    let at = c.get(1).map_or(0, |m| m.start()).min(c.get(2).map_or(usize::MAX, |m| m.start())).min(c.get(3).map_or(usize::MAX, |m| m.start()));
    let mut before = text[..at].trim_end().trim_end_matches([',', ';', ' ']).to_string();
    while let Some(b) = ["and", "then", "so", "but"].iter().find_map(|w| before.strip_suffix(&format!(" {w}")).map(str::to_string)) {
        before = b.trim_end_matches([',', ';', ' ']).to_string();
    }
    if before.split_whitespace().count() < 2 {
        return (text.to_string(), Correction::default());
    }
    let agent = names.agent_word(name).or_else(|| names.known_agent(name)).map(str::to_string);
    let repo = if agent.is_none() { names.repo_word(name).map(str::to_string) } else { None };
    if agent.is_none() && repo.is_none() {
        return (text.to_string(), Correction::default());
    }
    (before, Correction { agent, repo })
}

/// "…, have Copilot do it", "… let Jules handle it": an assignment said after the work, with
/// nothing else in its clause. The text without it, and the agent it names.
pub fn assignment_after(text: &str, names: &Names) -> (String, Option<String>) {
    let lower = text.to_ascii_lowercase();
    let re = re!(r"(?:^|[.,;!?]?\s+)(?:and |then |so |just )?(?:have|let|get|ask) (?:the )?([a-z][a-z0-9-]*)(?: agent)? (?:to )?(?:do|handle|take|pick up|deal with|work on) (?:it|this|that|them|this one|that one)(?: please)?[.!]?");
    for c in re.captures_iter(&lower) {
        let (Some(m), Some(n)) = (c.get(0), c.get(1)) else { continue };
        let after = lower[m.end()..].trim_start();
        // Only where the clause ends: the end, a sentence mark, or a correction.
        if !(after.is_empty() || m.as_str().ends_with(['.', '!']) || after.starts_with(['.', ',', ';', '!']) || re!(r"^(?:actually|no wait|wait|sorry|i mean|or rather)\b").is_match(after)) {
            continue;
        }
        let Some(agent) = names.agent_word(n.as_str()).or_else(|| names.known_agent(n.as_str())) else { continue };
        let mut out = String::with_capacity(text.len());
        out.push_str(text[..m.start()].trim_end());
        if m.as_str().ends_with(['.', '!']) {
            out.push('.');
        }
        let rest = &text[m.end()..];
        if !rest.trim().is_empty() {
            out.push(' ');
            out.push_str(rest.trim_start());
        }
        return (out, Some(agent.to_string()));
    }
    (text.to_string(), None)
}

/// One task from its text, as said: no default repo filled in, no readiness.
pub fn task_as_said(text: &str, shared: &Shared, ctx: &Context, names: &Names) -> TaskSpec {
    task_why(text, shared, ctx, names).0
}

/// Why a task reads as it does, for `capcom parse --explain`: the words behind its kind,
/// repo and agent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskWhy {
    /// (kind, words, weight) for every rule that voted.
    pub kind: Vec<(TaskKind, String, f32)>,
    pub repo: String,
    pub agent: String,
    /// A condition said first ("once the auth work is merged").
    pub condition: Option<String>,
}

/// The spoken name (alias) of `value` that `lower` contains, for an explanation.
fn spoken_alias(lower: &str, pairs: &[(String, String)], value: &str) -> String {
    let padded = format!(" {} ", lower.replace(|c: char| !c.is_ascii_alphanumeric() && c != '\'', " "));
    let mut hits: Vec<&str> = pairs.iter().filter(|(alias, v)| v == value && padded.contains(&format!(" {alias} "))).map(|(a, _)| a.as_str()).collect();
    hits.sort_by_key(|a| std::cmp::Reverse(a.len()));
    format!("\"{}\"", hits.first().copied().unwrap_or(value))
}

/// A task and why it reads as it does (see [`task_as_said`]).
pub fn task_why(text: &str, shared: &Shared, ctx: &Context, names: &Names) -> (TaskSpec, TaskWhy) {
    let mut why = TaskWhy::default();
    // `brief` keeps the item's words as found in the cleaned text, so `parse` can quote the
    // transcript for them; the pauses below are for reading only.
    let mut spec = TaskSpec { brief: text.to_string(), ..TaskSpec::default() };
    let paused = add_pauses(text);
    let text = paused.as_str();
    let lower = text.to_ascii_lowercase();

    let found = when::schedule(&lower, ctx.now);
    spec.schedule = found.as_ref().map(|f| f.at).or(shared.schedule);
    // Blank the time words so they stay out of the title and the clauses.
    let mut body_text = text.to_string();
    if let Some(f) = &found {
        for r in &f.spans {
            if r.end <= body_text.len() && body_text.is_char_boundary(r.start) && body_text.is_char_boundary(r.end) {
                body_text.replace_range(r.clone(), &" ".repeat(r.len()));
            }
        }
    }
    // A condition first ("once the auth work is merged, …") is when, not what: the agent
    // hears it as a constraint, and it stays out of the title and the kind.
    let cond_end = lower.len() - strip_condition(&lower, names).len();
    if cond_end > 0 && body_text.is_char_boundary(cond_end) {
        let cond = text[..cond_end].trim().trim_end_matches([',', ' ']);
        if !cond.is_empty() {
            spec.constraints.push(lower_first(cond));
            why.condition = Some(cond.to_string());
        }
        body_text.replace_range(..cond_end, &" ".repeat(cond_end));
    }
    spec.agent = agent_in(&lower, names).or_else(|| shared.agent.clone());
    spec.repo = repo_in(&lower, names).or_else(|| shared.repo.clone());
    why.agent = match (&spec.agent, agent_in(&lower, names)) {
        (Some(a), Some(_)) => format!("named: {}", spoken_alias(&lower, &names.agents, a)),
        (Some(_), None) => "named at the head of the list".to_string(),
        (None, _) => "none named: routing picks one at dispatch".to_string(),
    };
    why.repo = match (&spec.repo, repo_in(&lower, names)) {
        (Some(r), Some(_)) => format!("named: {}", spoken_alias(&lower, &names.repos, r)),
        (Some(_), None) => "named at the head of the list".to_string(),
        (None, _) => "none named".to_string(),
    };
    spec.scope = scope(&lower, names);
    spec.scope_unplaced = unplaced_scope(&lower, names);

    let mut body: Vec<String> = Vec::new();
    let mut first = true;
    // "No behaviour changes and no public API changes, refactor the auth middleware": a
    // constraint said before the work.
    let lead_constraint = sentences(&body_text).first().is_some_and(|s| {
        let cs = clauses(s);
        cs.len() > 1
            && is_constraint_clause(&cs[0].to_ascii_lowercase())
            && cs[1..].iter().any(|c| c.split_whitespace().next().is_some_and(|w| is_task_verb(&w.to_ascii_lowercase())))
    });
    for sentence in sentences(&body_text) {
        let mut in_criteria = false;
        for clause in clauses(sentence) {
            let c = clause.trim();
            let cl = c.to_ascii_lowercase();
            let cl = cl.trim();
            if cl.is_empty() {
                continue;
            }
            // "Cursor: fix …" — the name alone is an address, not the work.
            let addr = cl.trim_start_matches("hey ").trim_end_matches(" please");
            if first && words(addr) <= 2 && names.agent_word(addr).is_some() {
                continue;
            }
            // "Send this over to Jules: …", "give it to Codex cloud, …" — only who does it.
            if first
                && let Some(c) = re!(r"^(?:please |ok |okay |so )?(?:send|give|hand|pass|assign|route|dispatch|forward)(?: (?:this|it|that|these|them|the following)(?: one)?)?(?: over| off| along| across)? to (?:the )?([a-z][a-z0-9-]*)(?:[ -](?:code|cli|cloud|agent))?$").captures(cl)
                && (names.agent_word(&c[1]).is_some() || names.known_agent(&c[1]).is_some())
            {
                continue;
            }
            if re!(r"^(?:hi|hello|hey|hey there|good morning|morning|ok|okay|thanks|thank you|cheers|so|right|alright)(?: capcom)?[!.]?$").is_match(cl) {
                continue;
            }
            // "can you," on its own before the request.
            if first && strip_polite(&format!("{cl} x")) == "x" {
                continue;
            }
            // "Okay, here's a big one." — framing before the brief.
            if first && re!(r"^(?:okay |ok |so |alright )?(?:here's|here is|i have|i've got|got|this is) (?:a|an|one|another) (?:big |small |quick |new |more |last |tricky |easy )?(?:one|task|thing|brief|job|request)$").is_match(cl) {
                continue;
            }
            // "Queue this for tomorrow at 8:" — framing whose time words were taken out.
            if first && re!(r"^(?:please )?(?:queue|schedule|dispatch|run|do|start|kick off|send)(?: up)?(?: this| it| these| that| the following)?(?: one)?(?: for| at| on| by)?(?: (?:for|at|on|by))*\s*$").is_match(cl) {
                continue;
            }
            // "In the backend, investigate …" — a lead-in that only says where.
            if first && re!(r"^(?:in|on|for|at|inside|within|across|over|from|regarding|about|over in|on the side of) (?:the |our |my )?\S+(?: \S+){0,3}$").is_match(cl) && !verdict(cl) {
                continue;
            }
            let opens_criteria = re!(r"^(?:and |also |the )?(?:acceptance(?: criteria| criterion)?|success criteria|criteria|definition of done|done when|it's done when|it is done when|done means|success (?:is|means)|we're done when|to verify|verification)\b").find(cl);
            if let Some(m) = opens_criteria {
                in_criteria = true;
                let rest = c[m.end()..].trim_start_matches(|ch: char| ch == ':' || ch == ',' || ch.is_whitespace());
                let rest = strip_prefix_ci(rest, &["is ", "are ", "that ", "are that ", "is that "]);
                if !rest.is_empty() {
                    push_criteria(&mut spec.acceptance, rest, names);
                }
                continue;
            }
            if in_criteria {
                push_criteria(&mut spec.acceptance, c, names);
                continue;
            }
            let criterion = is_criterion_clause(cl);
            if criterion && !first {
                push_criteria(&mut spec.acceptance, c, names);
                continue;
            }
            if !first && is_constraint_clause(cl) {
                spec.constraints.push(lower_first(strip_prefix_ci(c, &["and ", "but ", "also ", "please "])));
                continue;
            }
            // "Test it with …", "verify by …", "show red and green runs", "check the demos
            // page": how to accept the work, a check when a verdict names one, else a person.
            if !first && re!(r"^(?:and |also |then |please )?(?:test (?:it |this |that |them |the fix |the change )?(?:with|by|using|against|on)|verify (?:it |this |that |the fix )?(?:by|with|using|on|against)|to verify|show (?:me )?(?:the )?(?:red(?:/| and | then | to )green|failing and passing|before and after|a failing then passing)|check (?:the |that )[a-z0-9/ -]+ (?:page|screen|view|route)s?|prove (?:it|that))\b").is_match(cl) {
                let text = lower_first(strip_prefix_ci(c, &["and ", "also ", "then ", "please "]));
                let checks = if verdict(cl) { checks_for(cl, names) } else { Vec::new() };
                if checks.is_empty() {
                    let crit = Criterion { text, check: None };
                    if !spec.acceptance.contains(&crit) {
                        spec.acceptance.push(crit);
                    }
                } else {
                    for ch in checks {
                        let crit = Criterion { text: text.clone(), check: Some(ch) };
                        if !spec.acceptance.contains(&crit) {
                            spec.acceptance.push(crit);
                        }
                    }
                }
                continue;
            }
            // "add a test for it": more work, checked by the test suite.
            if !first && re!(r"^(?:and |also |then |please )?(?:add|write|include|cover (?:it|this) with) (?:a |an |some |the )?(?:new )?(?:regression |unit |integration |e2e |end to end |snapshot )?(?:tests?|specs?)\b").is_match(cl) {
                let text = lower_first(strip_prefix_ci(c, &["and ", "also ", "then ", "please "]));
                spec.deliverables.push(text.clone());
                let crit = Criterion { text, check: Some("test".into()) };
                if !spec.acceptance.contains(&crit) {
                    spec.acceptance.push(crit);
                }
                continue;
            }
            if !first && is_deliverable_clause(cl) {
                spec.deliverables.push(lower_first(strip_prefix_ci(c, &["and ", "also ", "then ", "please "])));
                continue;
            }
            if first && criterion {
                // "Make the failing tests pass" is both the goal and how to check it; in a
                // run-on clause only the verdict phrases count ("… in the site repo tests green").
                for span in verdict_spans(c) {
                    for crit in criteria_pieces(span, names) {
                        if crit.check.is_some() && !spec.acceptance.contains(&crit) {
                            spec.acceptance.push(crit);
                        }
                    }
                }
            }
            if first && is_constraint_clause(cl) && (!body.is_empty() || lead_constraint) {
                spec.constraints.push(lower_first(c));
                continue;
            }
            body.push(c.to_string());
            first = false;
        }
    }
    for c in &shared.acceptance {
        if !spec.acceptance.contains(c) {
            spec.acceptance.push(c.clone());
        }
    }
    // Counted deliverables anywhere: "four headline variants".
    for m in re!(r"\b(\d+|two|three|four|five|six|several|a few|a couple of) ((?:[a-z-]+ ){0,2}(?:variants?|options?|versions?|alternatives?|proposals?|drafts?|mockups?|examples?|screenshots?|ideas?|designs?|headlines?|suggestions?|approaches|candidates?|taglines?|layouts?))\b").find_iter(&lower) {
        let d = text[m.range()].to_string();
        if !spec.deliverables.iter().any(|x| x.to_ascii_lowercase().contains(&d.to_ascii_lowercase())) {
            spec.deliverables.push(d);
        }
    }
    // A repo's name ("the docs site") says where, not what kind of change.
    let first_l = without_repo_names(&body.first().map(|b| b.to_ascii_lowercase()).unwrap_or_default(), names);
    let rest_l = without_repo_names(&body.iter().skip(1).map(|b| b.to_ascii_lowercase()).collect::<Vec<_>>().join(". "), names);
    (spec.kind, why.kind) = kind_why(&first_l, &rest_l, &without_repo_names(&lower, names));
    spec.title = title(&body, spec.kind, names);
    (spec, why)
}

/// The text with each configured repo name or alias after "on/in/for/at (the)" blanked.
fn without_repo_names(lower: &str, names: &Names) -> String {
    let ws: Vec<&str> = lower.split(' ').collect();
    let mut out: Vec<&str> = Vec::with_capacity(ws.len());
    let mut i = 0;
    while i < ws.len() {
        let prep = |w: &str| matches!(w, "on" | "in" | "for" | "at" | "to" | "inside" | "within" | "across" | "over");
        let lead = (i > 0 && prep(ws[i - 1])) || (i > 1 && matches!(ws[i - 1], "the" | "our") && prep(ws[i - 2]));
        if lead {
            let two = ws.get(i + 1).map(|n| format!("{} {}", ws[i], n.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())));
            if let Some(t) = two
                && names.repo_word(&t).is_some()
            {
                out.push("_");
                i += 2;
                continue;
            }
            if names.repo_word(ws[i].trim_end_matches(|c: char| !c.is_ascii_alphanumeric())).is_some() {
                out.push("_");
                i += 1;
                continue;
            }
        }
        out.push(ws[i]);
        i += 1;
    }
    out.join(" ")
}

/// "fixing the navbar" → "fix the navbar"; other words as they are.
fn imperative_of_gerund(t: &str) -> String {
    let first = t.split_whitespace().next().unwrap_or("");
    let fl = first.to_ascii_lowercase();
    let Some(stem) = fl.strip_suffix("ing") else { return t.to_string() };
    let base = [stem.to_string(), format!("{stem}e"), stem[..stem.len().saturating_sub(1)].to_string()]
        .into_iter()
        .find(|b| !b.is_empty() && is_task_verb(b));
    match base {
        Some(b) => format!("{b}{}", &t[first.len()..]),
        None => t.to_string(),
    }
}

fn lower_first(s: &str) -> String {
    let s = s.trim().trim_end_matches(['.', ',', ';']);
    let mut cs = s.chars();
    match cs.next() {
        Some(f) => {
            let second = s.chars().nth(1);
            // Keep acronyms ("CSS", "API") and names as spoken.
            if second.is_some_and(|c| c.is_uppercase()) {
                s.to_string()
            } else {
                f.to_lowercase().collect::<String>() + cs.as_str()
            }
        }
        None => String::new(),
    }
}
