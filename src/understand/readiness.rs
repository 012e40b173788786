//! Readiness: is a task agent-ready? The filter from the orchestrator pattern: narrow scope,
//! deterministic validation, minimal coupling, low ambiguity.
//!
//! Each problem found lowers the score; the blocking ones (a vague goal, no acceptance
//! criteria, no automated check, no repo when several are configured) hold the task until the
//! user answers. Exactly one spoken question is asked, for the biggest problem.

use super::{Context, Names, Readiness, TaskKind, TaskSpec};

/// Problem labels, as stored in `Readiness::problems`.
pub const VAGUE: &str = "vague goal: it does not say what should change";
pub const NO_ACCEPTANCE: &str = "no acceptance criteria";
pub const NO_CHECK: &str = "no automated check: every criterion needs a person";
pub const NO_REPO: &str = "no repo named";
pub const NO_REPO_CONFIGURED: &str = "no repo is configured";
/// What capcom says about a brief when no repo is configured: nothing can run until one is.
pub const NO_REPO_CONFIGURED_QUESTION: &str = "No repo is configured: run `capcom init` in your repo.";
pub const BROAD: &str = "broad scope: the whole codebase";
pub const MANY_GOALS: &str = "several goals in one task";
pub const NO_TITLE: &str = "nothing to do was said";
pub const NO_AGENT: &str = "the agent named is not configured";
pub const SCOPE_OUTSIDE: &str = "a scope that is not inside the repo";

const VAGUE_VERBS: &str = r"^(?:improve|enhance|optimi[sz]e|clean up|cleanup|tidy(?: up)?|polish|fix|update|look at|look into|(?:have|take) a (?:\w+ )?look (?:at|into)|deal with|work on|handle|sort out|sort|tackle|rework|moderni[sz]e|organi[sz]e|rationali[sz]e|revamp|tweak|make|refresh|redo|change|do something (?:about|with)|better|help with)\b";

const STOP: &[&str] = &[
    "the", "a", "an", "our", "my", "it", "its", "this", "that", "these", "those", "some", "stuff", "things",
    "thing", "bit", "little", "more", "better", "nicer", "good", "great", "up", "on", "of", "to", "in", "and",
    "please", "all", "whole", "entire", "overall", "generally", "somehow", "really", "just", "also", "etc",
    "with", "for", "at", "be", "is", "are", "make", "look", "looks", "feel", "work", "works", "way", "lot", "faster", "slower", "nicer", "cleaner", "prettier", "work", "properly", "right",
];

/// The object a vague verb points at: "Improve the homepage" → "the homepage".
fn vague_object(title: &str) -> Option<(String, usize)> {
    let l = title.to_ascii_lowercase();
    let m = re!(VAGUE_VERBS).find(&l)?;
    let rest = l[m.end()..].trim();
    let content = rest
        .split_whitespace()
        .filter(|w| !STOP.contains(&w.trim_matches(|c: char| !c.is_ascii_alphanumeric())))
        .count();
    let obj = if rest.is_empty() { "it".to_string() } else { title[m.end()..].trim().to_string() };
    Some((obj, content))
}

/// Words after the verb that say something: "Upgrade all the things" has none.
fn content_words(title: &str) -> usize {
    title
        .to_ascii_lowercase()
        .split_whitespace()
        .skip(1)
        .filter(|w| !STOP.contains(&w.trim_matches(|c: char| !c.is_ascii_alphanumeric())))
        .count()
}

/// Score a task, list its problems, and pick one question. `explicit_repo_needed` is false
/// when the caller will pick a repo itself.
pub fn assess(spec: &TaskSpec, ctx: &Context, names: &Names) -> Readiness {
    let mut problems: Vec<&str> = Vec::new();
    let mut score: f32 = 1.0;
    let mut question: Option<String> = None;
    let lower = spec.brief.to_ascii_lowercase();
    let has_check = spec.acceptance.iter().any(|c| c.check.is_some());
    let scoped = !spec.scope.include.is_empty() || !spec.scope.exclude.is_empty();
    let detail = spec.deliverables.len() + spec.constraints.len() + spec.acceptance.len() + usize::from(scoped);

    let brief_words = lower.split_whitespace().count();
    // Nothing can run without a repo: that is the question that blocks the brief, so it
    // comes before any question about criteria or checks.
    if ctx.config.repos.is_empty() && spec.repo.is_none() {
        problems.push(NO_REPO_CONFIGURED);
        score -= 0.5;
        question = Some(NO_REPO_CONFIGURED_QUESTION.to_string());
    }
    // A place the user named that the agent cannot be pointed at: ask, never drop it.
    if !spec.scope_unplaced.is_empty() {
        problems.push(SCOPE_OUTSIDE);
        score -= 0.5;
        question.get_or_insert(format!(
            "{} is outside the repo, and agents only work inside it. Which folder of the repo did you mean?",
            or_list(&spec.scope_unplaced.iter().map(String::as_str).collect::<Vec<_>>())
        ));
    }
    if spec.title.trim().is_empty() {
        problems.push(NO_TITLE);
        score -= 0.6;
        question.get_or_insert("What should the agent do?".into());
    } else if let Some((obj, content)) = vague_object(&spec.title)
        && content <= 2
        && detail == 0
        && brief_words <= 10
    {
        // "Improve the homepage." says where but not what.
        problems.push(VAGUE);
        score -= 0.45;
        let obj = re!(r"(?i)\s+(?:better|faster|nicer|cleaner|prettier|quicker|simpler|more \w+|less \w+|work|look good|good|great|again)$").replace(&obj, "").to_string();
        let generic = re!(r"^(?i:it|this|that|things|stuff|everything|all|the code|the app)\b").is_match(&obj);
        let fix = spec.title.to_ascii_lowercase().starts_with("fix");
        let q = if fix && (generic || re!(r"^(?i:the |a |an )?(?:bug|bugs|issue|issues|problem|problems|error|errors)$").is_match(&obj)) {
            "What exactly is broken, and how will we know it is fixed?".to_string()
        } else if fix {
            format!("What is wrong with {}, and how will we know it is fixed?", lower_first(&obj))
        } else if generic {
            "What exactly should change, and how will we know it is done?".to_string()
        } else {
            format!("What should change on {}, and how will we know it is done?", lower_first(&obj))
        };
        question.get_or_insert(q);
    } else if (spec.title.split_whitespace().count() <= 1 || content_words(&spec.title) == 0) && detail == 0 {
        problems.push(VAGUE);
        score -= 0.45;
        question.get_or_insert("What exactly should change, and how will we know it is done?".into());
    }

    // An audit or investigation is checked by reading what it delivers.
    let report = matches!(spec.kind, TaskKind::Audit) && !spec.deliverables.is_empty();
    if !report && spec.acceptance.is_empty() {
        problems.push(NO_ACCEPTANCE);
        score -= 0.3;
        question.get_or_insert(format!("How will we know it is done? For example: {}.", check_examples(names)));
    } else if !report && !has_check {
        problems.push(NO_CHECK);
        score -= 0.2;
        question.get_or_insert(format!("Which automated check should pass as well: {}?", check_list(names)));
    }

    if let Some(a) = &spec.agent
        && !ctx.config.agents.is_empty()
        && !ctx.config.agents.contains_key(a)
    {
        problems.push(NO_AGENT);
        score -= 0.2;
        let known: Vec<&str> = ctx.config.agents.keys().map(String::as_str).collect();
        question.get_or_insert(format!("{} is not set up here. Which agent should take it: {}?", capitalized(a), or_list(&known)));
    }

    if spec.repo.is_none() && ctx.config.repos.len() > 1 && super::default_repo(ctx.config).is_none() {
        problems.push(NO_REPO);
        score -= 0.15;
        let repos: Vec<&str> = ctx.config.repos.iter().map(|r| r.name.as_str()).collect();
        question.get_or_insert(format!("Which repo: {}?", or_list(&repos)));
    }

    if spec.scope.include.is_empty()
        && re!(r"\b(?:whole|entire) (?:codebase|repo|app|site|project|thing)|\bacross (?:the |all (?:the )?)?(?:codebase|repos?|app|project)\b|\beverywhere\b|\bevery file\b|\ball (?:the )?files\b").is_match(&lower)
    {
        problems.push(BROAD);
        score -= 0.1;
    }

    let goals = re!(r"(?:^|[.,;] |\band (?:also )?|\bthen )(?:add|fix|upgrade|bump|refactor|rewrite|migrate|implement|remove|replace|redesign|create|write|build)\b").find_iter(&lower).count();
    if goals >= 4 {
        problems.push(MANY_GOALS);
        score -= 0.1;
    }

    let blocking = problems.iter().any(|p| matches!(*p, VAGUE | NO_ACCEPTANCE | NO_CHECK | NO_REPO | NO_REPO_CONFIGURED | NO_TITLE | NO_AGENT | SCOPE_OUTSIDE));
    let score = (score.clamp(0.0, 1.0) * 100.0).round() / 100.0;
    let ready = !blocking && score >= 0.6;
    Readiness {
        ready,
        score,
        problems: problems.into_iter().map(str::to_string).collect(),
        question: if ready { None } else { question },
    }
}

/// Lower-case the first letter, unless the word is an acronym ("CSS") or a name spoken in capitals.
pub(super) fn lower_first(s: &str) -> String {
    let mut cs = s.chars();
    match cs.next() {
        Some(f) if !s.chars().nth(1).is_some_and(|c| c.is_uppercase()) => f.to_lowercase().collect::<String>() + cs.as_str(),
        Some(_) => s.to_string(),
        None => String::new(),
    }
}

fn capitalized(s: &str) -> String {
    let mut cs = s.chars();
    match cs.next() {
        Some(f) => f.to_uppercase().collect::<String>() + cs.as_str(),
        None => String::new(),
    }
}

fn or_list(items: &[&str]) -> String {
    match items.len() {
        0 => String::new(),
        1 => items[0].to_string(),
        n => format!("{} or {}", items[..n - 1].join(", "), items[n - 1]),
    }
}

/// The check names to offer: configured ones, else the built-in four.
fn check_names(names: &Names) -> Vec<String> {
    if names.checks.is_empty() {
        vec!["build".into(), "test".into(), "lint".into(), "typecheck".into()]
    } else {
        names.checks.clone()
    }
}

fn check_list(names: &Names) -> String {
    let c = check_names(names);
    let refs: Vec<&str> = c.iter().map(String::as_str).collect();
    or_list(&refs)
}

fn check_examples(names: &Names) -> String {
    let c = check_names(names);
    let has = |n: &str| c.iter().any(|x| x == n);
    match (has("build"), has("test")) {
        (true, true) => "the build passes and the tests are green".into(),
        (true, false) => "the build passes".into(),
        (false, true) => "the tests are green".into(),
        _ => format!("the {} check passes", c[0]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Repo};
    use crate::understand::{Criterion, TaskSpec};
    use chrono::DateTime;

    #[test]
    fn readiness_table() {
        let mut config = Config::default();
        config.repos.push(Repo { name: "site".into(), ..Default::default() });
        config.repos.push(Repo { name: "api".into(), ..Default::default() });
        let names = Names::from_config(&config);
        let ctx = Context { config: &config, tasks: &[], pending: None, now: DateTime::parse_from_rfc3339("2026-11-21T17:00:00+01:00").unwrap() };
        let crit = |t: &str, c: Option<&str>| Criterion { text: t.into(), check: c.map(str::to_string) };
        let spec = |title: &str, repo: Option<&str>, acc: Vec<Criterion>| TaskSpec {
            title: title.into(),
            brief: title.into(),
            repo: repo.map(str::to_string),
            acceptance: acc,
            ..TaskSpec::default()
        };
        let cases: Vec<(TaskSpec, bool, Option<&str>)> = vec![
            (spec("Improve the homepage", Some("site"), vec![]), false, Some("What should change on the homepage, and how will we know it is done?")),
            (spec("Upgrade Tailwind to v4", Some("site"), vec![crit("build passes", Some("build"))]), true, None),
            (spec("Upgrade Tailwind to v4", Some("site"), vec![]), false, Some("How will we know it is done? For example: the build passes and the tests are green.")),
            (spec("Upgrade Tailwind to v4", None, vec![crit("build passes", Some("build"))]), false, Some("Which repo: site or api?")),
            (spec("Scope the demos CSS", Some("site"), vec![crit("check the demos page", None)]), false, Some("Which automated check should pass as well: build, test, lint or typecheck?")),
        ];
        for (s, ready, q) in cases {
            let r = assess(&s, &ctx, &names);
            assert_eq!(r.ready, ready, "{}: {r:?}", s.title);
            assert_eq!(r.question.as_deref(), q, "{}", s.title);
        }
    }
}
