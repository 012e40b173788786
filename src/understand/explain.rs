//! `capcom parse --explain`: which words decided each field of an understood utterance
//! (intent, and for each task kind, repo, agent, scope, criteria), for users and for bug
//! reports. It reads the text the same way [`super::parse`] does, through the same steps.

use super::brief;
use super::intents::{self, bare};
use super::{Context, Intent, IntentKind, Names, TaskKind, normalize, parse};

/// The intent [`parse`] makes of `text`, and one line per decision with its words.
pub fn explain(text: &str, ctx: &Context) -> (Intent, Vec<String>) {
    let intent = parse(text, ctx);
    let raw = super::parse_raw(text, ctx).1.raw;
    let names = Names::from_config(ctx.config);
    let norm = normalize::normalize(text, &names.vocab);
    let mut out = Vec::new();
    let heard = norm.text.trim();
    if !heard.eq_ignore_ascii_case(text.trim()) {
        out.push(format!("read as: \"{heard}\" ({} words corrected or repaired, {} fillers dropped)", norm.corrections, norm.fillers));
    }
    let b = bare(norm.lower.trim());
    let s = brief::strip_polite(&b);
    let body = brief::strip_lead_ins(s, &names);
    let words = match intent.intent {
        IntentKind::Dispatch => {
            let first = body.split(' ').next().unwrap_or("");
            if let Some(w) = intents::order_words(&b, &norm.lower, &names) {
                format!("an order, \"{w}\" …")
            } else if brief::is_task_verb(first) {
                format!("it opens with a task verb, \"{first}\"")
            } else {
                "the words order work (a task verb and what it acts on)".to_string()
            }
        }
        IntentKind::Status => match intents::status_cue().find(s) {
            Some(m) => format!("a question about tasks, \"{}\"", m.as_str().trim()),
            None => "a question about tasks".to_string(),
        },
        IntentKind::Workflow => format!("a trigger of the workflow \"{}\"", intent.workflow.clone().unwrap_or_default()),
        IntentKind::Unknown => intent.reason.clone().unwrap_or_else(|| "nothing matched".into()),
        _ => {
            let first: Vec<&str> = body.split(' ').take(3).collect();
            format!("a {} command, \"{}\"", intent.intent.as_str(), first.join(" "))
        }
    };
    out.push(format!("intent: {} (confidence {:.2}, calibrated from the rules' {raw:.2}): {words}", intent.intent.as_str(), intent.confidence));
    if let Some(t) = &intent.target {
        let what = match (t.task, t.pr, t.all) {
            (Some(id), _, _) => format!("task {id}"),
            (None, Some(pr), _) => format!("PR {pr}"),
            (None, None, true) => "all of them".to_string(),
            _ => "nothing resolved".to_string(),
        };
        out.push(format!("target: {what}{}", t.text.as_ref().map(|x| format!(", from \"{x}\"")).unwrap_or_default()));
    }
    if let Some(f) = intent.filter {
        out.push(format!("filter: {}", serde_json::to_value(f).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()));
    }
    if intent.intent == IntentKind::Dispatch {
        let whys = intents::tasks_of(norm.text.trim(), ctx, &names);
        for (k, t) in intent.tasks.iter().enumerate() {
            out.push(format!("task {}: \"{}\"", k + 1, t.title));
            let why = whys.get(k).map(|(_, w)| w.clone()).unwrap_or_default();
            out.push(format!("  kind: {} ({})", t.kind.as_str(), kind_words(t.kind, &why.kind)));
            out.push(format!("  repo: {} ({})", t.repo.as_deref().unwrap_or("none"), if why.repo.is_empty() { "none named" } else { &why.repo }));
            out.push(format!("  agent: {} ({})", t.agent.as_deref().unwrap_or("none"), if why.agent.is_empty() { "none named" } else { &why.agent }));
            if t.scope.include.is_empty() && t.scope.exclude.is_empty() {
                out.push("  scope: none said (the whole repo)".to_string());
            } else {
                out.push(format!("  scope: only {:?}, never {:?}", t.scope.include, t.scope.exclude));
            }
            if t.acceptance.is_empty() {
                out.push("  criteria: none said".to_string());
            }
            for c in &t.acceptance {
                match &c.check {
                    Some(check) => out.push(format!("  criterion: \"{}\" → the {check} check", c.text)),
                    None => out.push(format!("  criterion: \"{}\" → a person judges it", c.text)),
                }
            }
            if let Some(c) = &why.condition {
                out.push(format!("  condition: \"{c}\" (a constraint for the agent; not a status question)"));
            }
            for c in &t.constraints {
                if why.condition.as_deref().is_none_or(|x| !c.eq_ignore_ascii_case(x)) {
                    out.push(format!("  constraint: \"{c}\""));
                }
            }
            for d in &t.deliverables {
                out.push(format!("  deliverable: \"{d}\""));
            }
            match (&t.readiness.ready, &t.readiness.question) {
                (true, _) => out.push(format!("  ready (score {:.2})", t.readiness.score)),
                (false, q) => out.push(format!(
                    "  held (score {:.2}: {}){}",
                    t.readiness.score,
                    t.readiness.problems.join("; "),
                    q.as_ref().map(|q| format!(": {q}")).unwrap_or_default()
                )),
            }
        }
    }
    if let Some(q) = &intent.question {
        out.push(format!("question: {q}"));
    }
    (intent, out)
}

/// "\"fix\" +1.5, \"shows up twice\" +2.2; outvoted: feature \"button\" +1.2".
fn kind_words(kind: TaskKind, votes: &[(TaskKind, String, f32)]) -> String {
    let fmt = |v: &(TaskKind, String, f32)| format!("\"{}\" +{:.1}", v.1, v.2);
    let won: Vec<String> = votes.iter().filter(|v| v.0 == kind).map(fmt).collect();
    let lost: Vec<String> = votes.iter().filter(|v| v.0 != kind).map(|v| format!("{} {}", v.0.as_str(), fmt(v))).collect();
    let mut s = if won.is_empty() { "no kind word: other".to_string() } else { won.join(", ") };
    if !lost.is_empty() {
        s.push_str(&format!("; outvoted: {}", lost.join(", ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn config() -> Config {
        let text = r#"
[[repos]]
name = "site"
path = "/src/site"
aliases = ["website"]

[[repos]]
name = "api"
path = "/src/api"
aliases = ["backend"]

[checks]
test = "npm test"
build = "npm run build"

[agents.jules]
kind = "jules"

[agents.copilot]
kind = "github-copilot"
"#;
        crate::config::from_str(text, "test.toml").expect("config").0
    }

    #[test]
    fn explain_names_the_words_behind_each_field() {
        let config = config();
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-21T17:00:00+01:00").unwrap();
        let ctx = Context { config: &config, tasks: &[], pending: None, now };
        // (utterance, lines the explanation must contain)
        let cases: &[(&str, &[&str])] = &[
            (
                "the toast message shows up twice on the website fix it tests pass",
                &["intent: dispatch", "kind: bug-fix (", "\"shows up twice\"", "repo: site (named: \"website\")", "tests pass\" → the test check"],
            ),
            (
                "have copilot bump lodash on the backend tests pass. actually make that jules",
                &["agent: jules (corrected", "repo: api (named: \"backend\")", "kind: dependency-upgrade"],
            ),
            ("once the auth work is merged have jules refresh the snapshots on the api", &["condition: \"once the auth work is merged\"", "agent: jules (named: \"jules\")"]),
            ("what's running", &["intent: status", "a question about tasks"]),
            ("Improve the homepage", &["held (", "question: "]),
        ];
        for (text, want) in cases {
            let (_, lines) = explain(text, &ctx);
            let all = lines.join("\n");
            for w in *want {
                assert!(all.contains(w), "{text}: explanation lacks {w:?}:\n{all}");
            }
        }
    }
}
