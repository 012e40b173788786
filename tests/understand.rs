//! The understanding corpus (`tests/fixtures/briefs.toml`), clarification answers, help,
//! and property tests: the parser never panics and stays linear on hostile input.

use capcom::config::Config;
use capcom::understand::{
    Context, Intent, IntentKind, Pending, TaskRef, TaskSpec, answer_clarification, help_phrases, parse,
};
use chrono::{DateTime, FixedOffset};
use serde::Deserialize;

#[path = "common/briefs.rs"]
mod briefs;

use briefs::PendingCase;

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Case {
    text: String,
    pending: Option<PendingCase>,
    intent: String,
    tasks: Option<usize>,
    kind: Option<String>,
    kinds: Option<Vec<String>>,
    repo: Option<String>,
    repos: Option<Vec<String>>,
    agent: Option<String>,
    agents: Option<Vec<String>>,
    include: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
    checks: Option<Vec<String>>,
    all_checks: Option<Vec<String>>,
    manual: Option<usize>,
    ready: Option<bool>,
    question: Option<bool>,
    question_has: Option<Vec<String>>,
    target_task: Option<i64>,
    target_pr: Option<u64>,
    target_all: Option<bool>,
    no_target: bool,
    filter: Option<String>,
    since: Option<String>,
    no_since: bool,
    schedule: Option<String>,
    schedules: Option<Vec<String>>,
    instruction: Option<String>,
    workflow: Option<String>,
    title: Option<String>,
    titles: Option<Vec<String>>,
    constraints: Option<Vec<String>>,
    deliverables: Option<Vec<String>>,
    max_confidence: Option<f32>,
    min_confidence: Option<f32>,
}

type World = briefs::Corpus<Case>;

fn world() -> World {
    briefs::load()
}

fn checks_of(t: &TaskSpec) -> Vec<String> {
    let mut c: Vec<String> = t.acceptance.iter().filter_map(|c| c.check.clone()).collect();
    c.sort();
    c.dedup();
    c
}

fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.to_lowercase())
}

fn opt_name(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "none".into())
}

fn check(d: &mut Vec<String>, ok: bool, what: String) {
    if !ok {
        d.push(what);
    }
}

/// Every way `got` differs from what `case` expects.
fn differences(case: &Case, got: &Intent) -> Vec<String> {
    let mut d = Vec::new();
    check(&mut d, got.intent.as_str() == case.intent, format!("intent {} (want {})", got.intent.as_str(), case.intent));
    if let Some(n) = case.tasks {
        check(&mut d, got.tasks.len() == n, format!("{} tasks (want {n})", got.tasks.len()));
    }
    let t0 = got.tasks.first();
    let q = got.question.clone().or_else(|| got.tasks.iter().find_map(|t| t.readiness.question.clone()));
    if let Some(t) = t0 {
        if let Some(k) = &case.kind {
            check(&mut d, t.kind.as_str() == k, format!("kind {} (want {k})", t.kind.as_str()));
        }
        if let Some(r) = &case.repo {
            check(&mut d, opt_name(&t.repo) == *r, format!("repo {} (want {r})", opt_name(&t.repo)));
        }
        if let Some(a) = &case.agent {
            check(&mut d, opt_name(&t.agent) == *a, format!("agent {} (want {a})", opt_name(&t.agent)));
        }
        if let Some(i) = &case.include {
            check(&mut d, t.scope.include == *i, format!("include {:?} (want {i:?})", t.scope.include));
        }
        if let Some(e) = &case.exclude {
            check(&mut d, t.scope.exclude == *e, format!("exclude {:?} (want {e:?})", t.scope.exclude));
        }
        if let Some(c) = &case.checks {
            check(&mut d, checks_of(t) == *c, format!("checks {:?} (want {c:?})", checks_of(t)));
        }
        if let Some(m) = case.manual {
            let n = t.acceptance.iter().filter(|c| c.check.is_none()).count();
            check(&mut d, n == m, format!("{n} manual criteria (want {m}): {:?}", t.acceptance));
        }
        if let Some(r) = case.ready {
            check(&mut d, t.readiness.ready == r, format!("ready {} (want {r}): {:?}", t.readiness.ready, t.readiness));
        }
        if let Some(s) = &case.schedule {
            let got_s = t.schedule.map(|s| s.to_rfc3339());
            check(&mut d, got_s.as_deref() == Some(s.as_str()), format!("schedule {got_s:?} (want {s})"));
        }
        if let Some(w) = &case.title {
            check(&mut d, contains_ci(&t.title, w), format!("title {:?} (want it to contain {w:?})", t.title));
        }
        for c in case.constraints.iter().flatten() {
            check(&mut d, t.constraints.iter().any(|x| contains_ci(x, c)), format!("constraints {:?} (want {c:?})", t.constraints));
        }
        for c in case.deliverables.iter().flatten() {
            check(&mut d, t.deliverables.iter().any(|x| contains_ci(x, c)), format!("deliverables {:?} (want {c:?})", t.deliverables));
        }
    } else if case.kind.is_some() || case.repo.is_some() || case.checks.is_some() || case.ready.is_some() {
        d.push("no task".into());
    }
    let per_task = |want: &Option<Vec<String>>, f: &dyn Fn(&TaskSpec) -> String, what: &str, d: &mut Vec<String>| {
        if let Some(w) = want {
            let g: Vec<String> = got.tasks.iter().map(f).collect();
            if g != *w {
                d.push(format!("{what} {g:?} (want {w:?})"));
            }
        }
    };
    per_task(&case.kinds, &|t| t.kind.as_str().to_string(), "kinds", &mut d);
    per_task(&case.agents, &|t| opt_name(&t.agent), "agents", &mut d);
    per_task(&case.repos, &|t| opt_name(&t.repo), "repos", &mut d);
    per_task(&case.schedules, &|t| t.schedule.map(|s| s.to_rfc3339()).unwrap_or_default(), "schedules", &mut d);
    if let Some(ws) = &case.titles {
        let ok = ws.len() == got.tasks.len() && ws.iter().zip(&got.tasks).all(|(w, t)| contains_ci(&t.title, w));
        if !ok {
            d.push(format!("titles {:?} (want {ws:?})", got.tasks.iter().map(|t| t.title.clone()).collect::<Vec<_>>()));
        }
    }
    if let Some(c) = &case.all_checks {
        for t in &got.tasks {
            if checks_of(t) != *c {
                d.push(format!("checks of {:?}: {:?} (want {c:?})", t.title, checks_of(t)));
            }
        }
    }
    if let Some(w) = case.question {
        let got_q = got.question.is_some();
        if got_q != w {
            d.push(format!("question {:?} (want one: {w})", got.question));
        }
    }
    for w in case.question_has.iter().flatten() {
        if !q.as_deref().is_some_and(|q| contains_ci(q, w)) {
            d.push(format!("question {q:?} (want it to contain {w:?})"));
        }
    }
    let target = got.target.as_ref();
    if let Some(t) = case.target_task {
        check(&mut d, target.and_then(|x| x.task) == Some(t), format!("target {target:?} (want task {t})"));
    }
    if let Some(p) = case.target_pr {
        check(&mut d, target.and_then(|x| x.pr) == Some(p), format!("target {target:?} (want PR {p})"));
    }
    if let Some(a) = case.target_all {
        check(&mut d, target.is_some_and(|x| x.all) == a, format!("target {target:?} (want all: {a})"));
    }
    if case.no_target {
        check(&mut d, target.is_none(), format!("target {target:?} (want none)"));
    }
    if let Some(f) = &case.filter {
        let g = got.filter.map(|f| serde_json::to_value(f).unwrap().as_str().unwrap().to_string());
        check(&mut d, g.as_deref() == Some(f.as_str()), format!("filter {g:?} (want {f})"));
    }
    if let Some(s) = &case.since {
        let g = got.since.map(|s| s.to_rfc3339());
        check(&mut d, g.as_deref() == Some(s.as_str()), format!("since {g:?} (want {s})"));
    }
    if case.no_since {
        check(&mut d, got.since.is_none(), format!("since {:?} (want none)", got.since));
    }
    if let Some(i) = &case.instruction {
        check(&mut d, got.instruction.as_deref().is_some_and(|x| contains_ci(x, i)), format!("instruction {:?} (want {i:?})", got.instruction));
    }
    if let Some(w) = &case.workflow {
        check(&mut d, got.workflow.as_deref() == Some(w.as_str()), format!("workflow {:?} (want {w})", got.workflow));
    }
    if let Some(m) = case.max_confidence {
        check(&mut d, got.confidence <= m, format!("confidence {} (want at most {m})", got.confidence));
    }
    if let Some(m) = case.min_confidence {
        check(&mut d, got.confidence >= m, format!("confidence {} (want at least {m})", got.confidence));
    }
    d
}

#[test]
fn corpus() {
    let w = world();
    assert!(w.cases.len() >= 90, "the corpus holds {} briefs", w.cases.len());
    let mut failures = Vec::new();
    for case in &w.cases {
        let pending = case.pending.as_ref().map(PendingCase::to_pending);
        let ctx = Context { config: &w.config, tasks: &w.tasks, pending: pending.as_ref(), now: w.now };
        let got = parse(&case.text, &ctx);
        let d = differences(case, &got);
        if !d.is_empty() {
            failures.push(format!("{:?}\n    {}\n    got: {}", case.text, d.join("\n    "), serde_json::to_string(&got).unwrap()));
        }
    }
    assert!(failures.is_empty(), "{} of {} briefs misread:\n{}", failures.len(), w.cases.len(), failures.join("\n"));
}

#[test]
fn every_intent_is_covered() {
    let w = world();
    let all = [
        IntentKind::Dispatch,
        IntentKind::Status,
        IntentKind::Changelog,
        IntentKind::Merge,
        IntentKind::Confirm,
        IntentKind::Deny,
        IntentKind::Cancel,
        IntentKind::FollowUp,
        IntentKind::Retry,
        IntentKind::Workflow,
        IntentKind::Repeat,
        IntentKind::Help,
        IntentKind::Unknown,
    ];
    for k in all {
        assert!(w.cases.iter().any(|c| c.intent == k.as_str()), "no case for {}", k.as_str());
    }
}

#[test]
fn intent_json_has_the_contract_shape() {
    let w = world();
    let ctx = Context { config: &w.config, tasks: &w.tasks, pending: None, now: w.now };
    let got = parse("Upgrade Tailwind on the website tonight, build passes, leave app routes untouched", &ctx);
    let v = serde_json::to_value(&got).unwrap();
    for key in ["intent", "tasks", "target", "filter", "since", "instruction", "workflow"] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    let t = &v["tasks"][0];
    for key in ["title", "kind", "repo", "agent", "scope", "acceptance", "constraints", "deliverables", "schedule", "readiness"] {
        assert!(t.get(key).is_some(), "task missing {key}");
    }
    assert_eq!(t["schedule"], "2026-11-21T22:00:00+01:00");
    assert_eq!(t["scope"]["exclude"][0], "app/");
    let back: Intent = serde_json::from_value(v).unwrap();
    assert_eq!(back, got);
}

#[test]
fn clarification_answers_are_merged() {
    let w = world();
    let ctx = Context { config: &w.config, tasks: &w.tasks, pending: None, now: w.now };
    struct C {
        brief: &'static str,
        answers: &'static [&'static str],
        ready: bool,
        repo: Option<&'static str>,
        checks: &'static [&'static str],
        title: &'static str,
    }
    let cases = [
        C { brief: "Improve the homepage.", answers: &["Make the hero image load faster on the website, the build passes and lighthouse stays above 90"], ready: true, repo: Some("site"), checks: &["build"], title: "hero image" },
        C { brief: "Update the footer links to match the new sitemap on the website", answers: &["the build passes and tests are green"], ready: true, repo: Some("site"), checks: &["build", "test"], title: "footer links" },
        C { brief: "Upgrade Tailwind to v4, build passes", answers: &["the website"], ready: true, repo: Some("site"), checks: &["build"], title: "Tailwind" },
        C { brief: "Upgrade Tailwind to v4", answers: &["build and tests", "backend"], ready: true, repo: Some("api"), checks: &["build", "test"], title: "Tailwind" },
        C { brief: "Scope the CSS in /demos on the site, check the demos page", answers: &["dispatch anyway"], ready: true, repo: Some("site"), checks: &[], title: "CSS" },
        C { brief: "Improve the homepage.", answers: &["I don't know"], ready: false, repo: None, checks: &[], title: "homepage" },
        C { brief: "Use Devin to fix the flaky checkout test on the backend, tests pass", answers: &["Jules"], ready: true, repo: Some("api"), checks: &["test"], title: "flaky checkout test" },
    ];
    for c in cases {
        let intent = parse(c.brief, &ctx);
        assert_eq!(intent.intent, IntentKind::Dispatch, "{}", c.brief);
        let mut spec = intent.tasks[0].clone();
        assert!(!spec.readiness.ready, "{} should be held first", c.brief);
        for a in c.answers {
            spec = answer_clarification(&spec, a, &ctx);
        }
        assert_eq!(spec.readiness.ready, c.ready, "{} + {:?}: {:?}", c.brief, c.answers, spec);
        if c.ready || c.repo.is_some() {
            assert_eq!(spec.repo.as_deref(), c.repo, "{} + {:?}", c.brief, c.answers);
        }
        assert_eq!(checks_of(&spec), c.checks, "{} + {:?}: {:?}", c.brief, c.answers, spec.acceptance);
        assert!(contains_ci(&spec.title, c.title), "{} + {:?}: title {:?}", c.brief, c.answers, spec.title);
    }
}

#[test]
fn help_names_workflows_and_commands() {
    let w = world();
    let ctx = Context { config: &w.config, tasks: &w.tasks, pending: None, now: w.now };
    let phrases = help_phrases(&ctx);
    let all = phrases.join("\n");
    for want in ["get me caught up", "wrap up the day", "What's finished", "Merge", "Cancel", "Retry", "Say that again"] {
        assert!(all.contains(want), "help lacks {want:?}:\n{all}");
    }
    // Every phrase offered as an example is understood as something.
    for p in ["What's finished?", "How's the tailwind upgrade going?", "Merge all ready.", "Say that again.", "get me caught up"] {
        assert_ne!(parse(p, &ctx).intent, IntentKind::Unknown, "{p}");
    }
}

#[test]
fn context_summary_names_everything_a_reference_needs() {
    let w = world();
    let p = Pending { action: "merge".into(), question: "Merge PR 41?".into(), task: Some(1) };
    let ctx = Context { config: &w.config, tasks: &w.tasks, pending: Some(&p), now: w.now };
    let s = capcom::understand::context_summary(&ctx);
    for want in ["site (also website)", "copilot", "typecheck", "morning routine", "task 1: \"Upgrade Tailwind", "PR 41", "Merge PR 41?"] {
        assert!(s.contains(want), "summary lacks {want:?}:\n{s}");
    }
}

#[test]
fn without_config_or_tasks_briefs_still_parse() {
    let config = Config::default();
    let now = DateTime::parse_from_rfc3339("2026-11-21T08:00:00+00:00").unwrap();
    let ctx = Context { config: &config, tasks: &[], pending: None, now };
    let cases: &[(&str, IntentKind)] = &[
        ("Upgrade Tailwind to the latest version, build passes", IntentKind::Dispatch),
        ("merge PR 12", IntentKind::Merge),
        ("what's finished", IntentKind::Status),
        ("cancel the tailwind one", IntentKind::Cancel),
        ("what changed today", IntentKind::Changelog),
    ];
    for (text, want) in cases {
        let got = parse(text, &ctx);
        assert_eq!(got.intent, *want, "{text}: {got:?}");
    }
    let got = parse("merge PR 12", &ctx);
    assert_eq!(got.target.and_then(|t| t.pr), Some(12));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn ctx_parts() -> (Config, Vec<TaskRef>, DateTime<FixedOffset>) {
        let w = world();
        (w.config, w.tasks, w.now)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        #[test]
        fn never_panics_on_any_text(chars in proptest::collection::vec(any::<char>(), 0..2600)) {
            // Arbitrary Unicode scalar values, control characters included: up to about 10 kB.
            let text: String = chars.into_iter().collect();
            let (config, tasks, now) = ctx_parts();
            let ctx = Context { config: &config, tasks: &tasks, pending: None, now };
            let i = parse(&text, &ctx);
            prop_assert!((0.0..=1.0).contains(&i.confidence));
        }

        #[test]
        fn never_panics_on_ascii_prose(text in "[a-zA-Z0-9 ,.:;?!/'-]{0,10000}") {
            let (config, tasks, now) = ctx_parts();
            let ctx = Context { config: &config, tasks: &tasks, pending: None, now };
            let i = parse(&text, &ctx);
            prop_assert!((0.0..=1.0).contains(&i.confidence));
        }

        #[test]
        fn never_panics_on_word_salad(words in proptest::collection::vec(prop_oneof![
            Just("merge"), Just("PR"), Just("no"), Just("wait"), Just("the"), Just("tailwind"), Just("one"),
            Just("forty"), Just("two"), Just("at"), Just("tonight"), Just("in"), Just("directory"), Just("only"),
            Just("leave"), Just("untouched"), Just(","), Just("."), Just("acceptance"), Just("criteria:"),
            Just("build"), Just("passes"), Just("first"), Just("second"), Just("um"), Just("scratch that"),
            Just("/demos/*"), Just("tell"), Just("to"), Just("also"), Just("yes"), Just("cancel"), Just("—"),
            Just("é"), Just("😀"), Just("queue these:"), Just("and"), Just("a"), Just("an"), Just("9"), Just("am"),
        ], 0..400), pending in any::<bool>()) {
            let (config, tasks, now) = ctx_parts();
            let p = Pending { action: "merge".into(), question: "Merge PR 41?".into(), task: Some(1) };
            let ctx = Context { config: &config, tasks: &tasks, pending: pending.then_some(&p), now };
            let text = words.join(" ");
            let i = parse(&text, &ctx);
            prop_assert!((0.0..=1.0).contains(&i.confidence));
            for t in &i.tasks {
                prop_assert!((0.0..=1.0).contains(&t.readiness.score));
            }
        }

        #[test]
        fn answers_never_panic(answer in "\\PC{0,500}") {
            let (config, tasks, now) = ctx_parts();
            let ctx = Context { config: &config, tasks: &tasks, pending: None, now };
            let spec = parse("Improve the homepage.", &ctx).tasks.remove(0);
            let _ = answer_clarification(&spec, &answer, &ctx);
        }
    }

    #[test]
    fn ten_kilobytes_of_anything() {
        let (config, tasks, now) = ctx_parts();
        let ctx = Context { config: &config, tasks: &tasks, pending: None, now };
        let inputs = [
            "merge ".repeat(2000),
            "no wait ".repeat(1500),
            "upgrade tailwind, ".repeat(600),
            "a ".repeat(5000),
            "first second third ".repeat(600),
            "queue these: ".to_string() + &"an upgrade, ".repeat(900),
            "forty two ".repeat(1200),
            "/".repeat(10_000),
            "é".repeat(5000),
            "tail wind co pilot ".repeat(600),
            "Leave the a b c untouched. ".repeat(400),
            ",".repeat(10_000),
            "x".repeat(10_000),
        ];
        for text in &inputs {
            let i = parse(text, &ctx);
            assert!((0.0..=1.0).contains(&i.confidence));
        }
    }
}

/// Prints what the parser makes of each line of the file named by `UNDERSTAND_BRIEFS`
/// (a line starting with `!` is read with a merge question pending for task 1), against the
/// fixture's world or, with `UNDERSTAND_CONFIG=FILE`, that config and no tasks.
/// `UNDERSTAND_BRIEFS=briefs.txt cargo test --test understand -- --ignored --nocapture show`
#[test]
#[ignore]
fn show() {
    let Ok(path) = std::env::var("UNDERSTAND_BRIEFS") else { return };
    let mut w = world();
    if let Ok(cfg) = std::env::var("UNDERSTAND_CONFIG") {
        let text = std::fs::read_to_string(&cfg).unwrap();
        w.config = capcom::config::from_str(&text, &cfg).unwrap().0;
        w.tasks.clear();
    }
    let text = std::fs::read_to_string(path).unwrap();
    let p = Pending { action: "merge".into(), question: "Merge PR 41?".into(), task: Some(1) };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (line, pending) = match line.strip_prefix('!') {
            Some(rest) => (rest, Some(&p)),
            None => (line, None),
        };
        let ctx = Context { config: &w.config, tasks: &w.tasks, pending, now: w.now };
        let i = parse(line, &ctx);
        let mut v = serde_json::to_value(&i).unwrap();
        if let Some(tasks) = v.get_mut("tasks").and_then(|t| t.as_array_mut()) {
            for t in tasks {
                t.as_object_mut().unwrap().remove("brief");
            }
        }
        let obj = v.as_object_mut().unwrap();
        obj.retain(|_, x| !(x.is_null() || x.as_array().is_some_and(|a| a.is_empty())));
        println!("{}\n  {}\n", line, serde_json::to_string(&v).unwrap());
    }
}
