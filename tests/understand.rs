//! The understanding corpus (`tests/fixtures/briefs.toml`), clarification answers, help,
//! and property tests: the parser never panics and stays linear on hostile input.

use capcom::config::Config;
use capcom::understand::{Context, Intent, IntentKind, Pending, TaskRef, answer_clarification, help_phrases, parse};
use chrono::{DateTime, FixedOffset};

#[path = "common/briefs.rs"]
mod briefs;
#[path = "common/shapes.rs"]
mod shapes;
#[path = "understand/score.rs"]
mod score;
#[path = "understand/calibrate.rs"]
mod calibrate;

use briefs::PendingCase;
use score::{Case, checks_of, contains_ci};

type World = briefs::Corpus<Case>;

fn world() -> World {
    briefs::load()
}

#[test]
fn corpus() {
    let w = world();
    assert!(w.cases.len() >= 90, "the corpus holds {} briefs", w.cases.len());
    let s = score::score(&w, &w.cases);
    println!("{}", s.line("corpus"));
    assert!(s.misses.is_empty(), "{} of {} briefs misread:\n{}", s.misses.len(), w.cases.len(), s.misses.join("\n"));
}

/// The held-out split is never tuned on: its figure is reported, and it fails only below a
/// floor (the field accuracy it had when the split was written, before the fixes it measures).
#[test]
fn held_out_split() {
    let w = world();
    let held = score::held_out();
    assert!(held.len() >= 40, "the held-out split holds {} utterances", held.len());
    let s = score::score(&w, &held);
    println!("{}", s.line("held-out"));
    if std::env::var_os("CAPCOM_SHOW_HELD_OUT").is_some() {
        println!("{}", s.misses.join("\n"));
    }
    assert!(s.field_accuracy() >= HELD_OUT_FLOOR, "{}", s.line("held-out"));
}

const HELD_OUT_FLOOR: f64 = 0.547;

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

/// A repo said once at the start is every task's, even where `[dispatch] default_repo`
/// names another: the default fills only tasks that no words placed.
#[test]
fn a_repo_said_once_applies_to_every_task_before_the_default() {
    let mut w = world();
    w.config.dispatch.default_repo = Some("api".into());
    let ctx = Context { config: &w.config, tasks: &w.tasks, pending: None, now: w.now };
    let cases: &[(&str, &[&str])] = &[
        ("on the website fix the broken footer links and also add a sitemap, build passes", &["site", "site"]),
        ("On the website, fix the splash screen. Also add a favicon. Build passes.", &["site", "site"]),
        ("fix the 404 on the about page then add a contact form on the website build passes", &["site", "site"]),
        ("fix the typo in the readme and also add a health endpoint, tests pass", &["api", "api"]),
    ];
    for (text, want) in cases {
        let got = parse(text, &ctx);
        let repos: Vec<&str> = got.tasks.iter().map(|t| t.repo.as_deref().unwrap_or("none")).collect();
        assert_eq!(repos, *want, "{text}: {got:?}");
    }
}

/// With no repo configured, the question that blocks a brief is asked first: nothing can
/// run until a repo is configured, so a question about checks would be answered in vain.
#[test]
fn with_no_repo_configured_the_first_question_says_so() {
    let config = Config::default();
    let now = DateTime::parse_from_rfc3339("2026-11-21T08:00:00+00:00").unwrap();
    let ctx = Context { config: &config, tasks: &[], pending: None, now };
    for text in ["Fix the flaky login test", "Improve the homepage", "Upgrade Tailwind to v4, build passes", "update the readme"] {
        let got = parse(text, &ctx);
        assert_eq!(got.intent, IntentKind::Dispatch, "{text}: {got:?}");
        let t = &got.tasks[0];
        assert!(!t.readiness.ready, "{text}: {t:?}");
        assert_eq!(
            t.readiness.question.as_deref(),
            Some("No repo is configured: run `capcom init` in your repo."),
            "{text}: {:?}",
            t.readiness
        );
        assert_eq!(got.question.as_deref(), t.readiness.question.as_deref(), "{text}");
    }
}

/// While a held brief's question waits, a new brief stays a new brief unless it reads as an
/// answer; answers (criteria, places, names, short phrases) still answer it.
#[test]
fn a_new_brief_is_not_swallowed_by_a_held_question() {
    let w = world();
    let p = Pending { action: "clarify".into(), question: "How will we know it is done?".into(), task: Some(7) };
    let ctx = Context { config: &w.config, tasks: &w.tasks, pending: Some(&p), now: w.now };
    let briefs = [
        "Have Jules fix the login redirect on the website, tests pass",
        "the pricing table still shows last year's prices, update it on the site, tests must pass",
        "once the auth work is merged have cursor refresh the snapshots on the backend",
        "On the website, add a sitemap and make sure the build passes",
        "get copilot to bump axios on the api tests pass",
        "Fix the typo in the README heading",
    ];
    for text in briefs {
        let got = parse(text, &ctx);
        assert_eq!(got.intent, IntentKind::Dispatch, "{text}: {got:?}");
    }
    let answers = ["the tests pass", "make sure the build passes", "only the docs folder", "the website", "Jules", "build and tests", "use the api repo", "lint must be clean too", "it should also update the sitemap, tests pass", "just the header on the website, build passes"];
    for text in answers {
        let got = parse(text, &ctx);
        assert_eq!(got.intent, IntentKind::FollowUp, "{text}: {got:?}");
        assert_eq!(got.target.as_ref().and_then(|t| t.task), Some(7), "{text}");
    }
}

/// A repo's name says where, not what kind of change: "the docs site" does not vote for docs.
#[test]
fn a_repo_alias_does_not_vote_for_the_kind() {
    let mut w = world();
    w.config.repos[0].aliases.push("docs site".into());
    let ctx = Context { config: &w.config, tasks: &w.tasks, pending: None, now: w.now };
    let cases: &[(&str, &str)] = &[
        ("fix the broken search box on the docs site, tests pass", "bug-fix"),
        ("add a dark mode toggle to the docs site, build passes", "feature"),
        ("on the docs site the sidebar shows up twice fix it tests pass", "bug-fix"),
        ("update the readme on the docs site, build passes", "docs"),
    ];
    for (text, want) in cases {
        let got = parse(text, &ctx);
        assert_eq!(got.tasks.first().map(|t| t.kind.as_str()), Some(*want), "{text}: {got:?}");
        assert_eq!(got.tasks[0].repo.as_deref(), Some("site"), "{text}");
    }
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn ctx_parts() -> (Config, Vec<TaskRef>, DateTime<FixedOffset>) {
        let w = world();
        (w.config, w.tasks, w.now)
    }

    /// What holds for the parse of any text: a confidence and readiness scores in 0..1, the
    /// same intent on a second parse, an intent that reads back from its own JSON (the `capcom
    /// parse --json` contract) unchanged, and each task's brief taken verbatim from the text.
    fn well_formed(text: &str, ctx: &Context, i: &Intent) -> Result<(), TestCaseError> {
        prop_assert!((0.0..=1.0).contains(&i.confidence), "confidence {}", i.confidence);
        for t in &i.tasks {
            prop_assert!((0.0..=1.0).contains(&t.readiness.score), "score {}", t.readiness.score);
            prop_assert!(text.contains(t.brief.as_str()), "brief {:?} is not from the text", t.brief);
        }
        prop_assert_eq!(&parse(text, ctx), i, "a second parse differs");
        let json = serde_json::to_value(i).unwrap();
        let back: Intent = serde_json::from_value(json.clone()).unwrap();
        prop_assert_eq!(&back, i, "the JSON does not read back: {}", json);
        Ok(())
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
            well_formed(&text, &ctx, &i)?;
        }

        #[test]
        fn never_panics_on_ascii_prose(text in "[a-zA-Z0-9 ,.:;?!/'-]{0,10000}") {
            let (config, tasks, now) = ctx_parts();
            let ctx = Context { config: &config, tasks: &tasks, pending: None, now };
            let i = parse(&text, &ctx);
            well_formed(&text, &ctx, &i)?;
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
            well_formed(&text, &ctx, &i)?;
        }

        #[test]
        fn an_answer_only_adds_to_the_brief(answer in "\\PC{0,500}", brief in prop_oneof![
            Just("Improve the homepage."),
            Just("Upgrade lodash to the latest version, tests pass"),
            Just("Fix the flaky login test in the config directory only, leave app routes untouched."),
        ]) {
            let (config, tasks, now) = ctx_parts();
            let ctx = Context { config: &config, tasks: &tasks, pending: None, now };
            let spec = parse(brief, &ctx).tasks.remove(0);
            let out = answer_clarification(&spec, &answer, &ctx);
            prop_assert!((0.0..=1.0).contains(&out.readiness.score));
            // what the brief said stays: criteria, scope, constraints, deliverables, the repo
            for c in &spec.acceptance {
                prop_assert!(out.acceptance.contains(c), "lost the criterion {:?}", c);
            }
            for p in &spec.scope.include {
                prop_assert!(out.scope.include.contains(p), "lost the scope {:?}", p);
            }
            for p in &spec.scope.exclude {
                prop_assert!(out.scope.exclude.contains(p), "lost the exclusion {:?}", p);
            }
            for c in &spec.constraints {
                prop_assert!(out.constraints.contains(c), "lost the constraint {:?}", c);
            }
            for d in &spec.deliverables {
                prop_assert!(out.deliverables.contains(d), "lost the deliverable {:?}", d);
            }
            prop_assert!(spec.repo.is_none() || out.repo.is_some());
            // the answer joins the brief as it was said
            prop_assert!(out.brief.starts_with(spec.brief.trim_end()), "{:?} does not start with {:?}", out.brief, spec.brief);
            // an empty answer changes nothing
            if answer.trim().trim_end_matches(['.', '!', '?']).trim().is_empty() {
                prop_assert_eq!(&out, &spec);
            }
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

/// The words people say reach the parser in many shapes. Every brief of the corpus must be
/// understood the same way whatever shape speech-to-text gives it.
mod invariance {
    use super::*;
    use crate::shapes::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config as RunnerConfig, RngAlgorithm, TestRng, TestRunner};

    #[test]
    fn every_brief_reads_the_same_in_every_shape() {
        let w = world();
        let cases: Vec<(String, Option<Pending>)> = w.cases.iter().map(|c| (c.text.clone(), c.pending.as_ref().map(PendingCase::to_pending))).collect();
        let read = |text: &str, p: &Option<Pending>| {
            let ctx = Context { config: &w.config, tasks: &w.tasks, pending: p.as_ref(), now: w.now };
            reading(&parse(text, &ctx))
        };
        let originals: Vec<Reading> = cases.iter().map(|(t, p)| read(t, p)).collect();
        // Seeded: the same variants on every run.
        let mut runner = TestRunner::new_with_rng(
            RunnerConfig { cases: 2000, failure_persistence: None, ..RunnerConfig::default() },
            TestRng::deterministic_rng(RngAlgorithm::ChaCha),
        );
        let n = cases.len();
        let result = runner.run(&(0..n, 0u8..5, any::<u64>()), |(k, which, seed)| {
            let (text, p) = &cases[k];
            let v = variant(text, which, seed);
            let got = read(&v, p);
            prop_assert_eq!(&got, &originals[k], "{}: {:?}\n  as {:?}", NAMES[which as usize], text, v);
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
    }

    /// Every brief in every deterministic shape (a and c), listed at once: the full picture.
    #[test]
    fn deterministic_shapes_of_every_brief() {
        let w = world();
        let mut failures = Vec::new();
        let mut total = 0;
        for c in &w.cases {
            let p = c.pending.as_ref().map(PendingCase::to_pending);
            let ctx = Context { config: &w.config, tasks: &w.tasks, pending: p.as_ref(), now: w.now };
            let want = reading(&parse(&c.text, &ctx));
            for which in [0u8, 2, 3] {
                let v = variant(&c.text, which, 0);
                if v == c.text {
                    continue;
                }
                total += 1;
                let got = reading(&parse(&v, &ctx));
                if got != want {
                    failures.push(format!("{}: {:?}\n    as {:?}\n    want {:?}\n    got  {:?}", NAMES[which as usize], c.text, v, want, got));
                }
            }
        }
        assert!(failures.is_empty(), "{} of {total} shapes read differently:\n{}", failures.len(), failures.join("\n"));
    }
}

/// One table per root cause of misreadings, with briefs that are not in the corpus.
mod root_causes {
    use super::*;

    fn read(text: &str, pending: Option<&Pending>) -> Intent {
        let w = world();
        let ctx = Context { config: &w.config, tasks: &w.tasks, pending, now: w.now };
        parse(text, &ctx)
    }

    fn kinds(i: &Intent) -> Vec<&str> {
        i.tasks.iter().map(|t| t.kind.as_str()).collect()
    }

    /// The intent comes from the whole utterance: verbs, objects, references.
    #[test]
    fn intent_from_the_whole_utterance() {
        let merge41 = Pending { action: "merge".into(), question: "Merge PR 41, the Tailwind upgrade?".into(), task: Some(1) };
        let cancel3 = Pending { action: "cancel".into(), question: "Cancel task 3?".into(), task: Some(3) };
        let cases: &[(&str, Option<&Pending>, IntentKind)] = &[
            ("Over on the backend, rename the user service to account service. Tests must pass.", None, IntentKind::Dispatch),
            ("for the site repo update the pricing table colours lint clean", None, IntentKind::Dispatch),
            ("In the api repo, update the retry logic in the mailer so it backs off, tests pass", None, IntentKind::Dispatch),
            ("Tomorrow morning, upgrade lodash on the backend, tests pass", None, IntentKind::Dispatch),
            ("okay quick question, what kind of stuff can I tell you?", None, IntentKind::Help),
            ("hmm, sorry, could you say that one more time please", None, IntentKind::Repeat),
            ("wait I didn't catch that, come again", None, IntentKind::Repeat),
            ("right, wrap up the day, do your thing", None, IntentKind::Workflow),
            ("give task six another try, but use cursor", None, IntentKind::Retry),
            // Starting a task that waits for an overlapping one.
            ("okay, start task seven anyway", None, IntentKind::Retry),
            ("run task 2 anyway", None, IntentKind::Retry),
            ("Run a migration script anyway to clean up the users table, tests pass", None, IntentKind::Dispatch),
            ("please make me a spoken recap of the past two days", None, IntentKind::Changelog),
            ("update me on the dark mode task", None, IntentKind::Status),
            ("so did anything fall over last night", None, IntentKind::Status),
            ("confirm merge pr forty one", Some(&merge41), IntentKind::Confirm),
            ("yes, cancel task three", Some(&cancel3), IntentKind::Confirm),
            ("confirm merge pr forty three", Some(&merge41), IntentKind::Unknown),
            ("yes merge the react query one", Some(&merge41), IntentKind::Unknown),
            ("confirm merge task three", Some(&cancel3), IntentKind::Unknown),
        ];
        for (text, pending, want) in cases {
            let i = read(text, *pending);
            assert_eq!(i.intent, *want, "{text}: {}", serde_json::to_string(&i).unwrap());
        }
        // The retry goes to the agent named after it.
        assert_eq!(read("give task six another try, but use cursor", None).instruction.as_deref(), Some("use cursor"));
        // A confirmation about something else says what is pending.
        let i = read("confirm merge pr forty three", Some(&merge41));
        assert!(i.question.as_deref().is_some_and(|q| q.contains("Merge PR 41")), "{i:?}");
        let i = read("confirm merge pr forty one", Some(&merge41));
        assert_eq!(i.target.and_then(|t| t.task), Some(1));
        let i = read("did anything fall over last night", None);
        assert_eq!(i.filter, Some(capcom::understand::StatusFilter::Failed));
    }

    /// Tasks are split on spoken structure, not on punctuation.
    #[test]
    fn splitting_without_punctuation() {
        let cases: &[(&str, usize, &str)] = &[
            ("one bump axios on the backend two remove the legacy cron script and three add a health check endpoint on the backend tests pass", 3, "Bump axios"),
            ("four quick ones for the api, all of them type check clean: rename the config loader, drop the unused logger, bump serde, and fix the off by one in pagination", 4, "Rename the config loader"),
            ("four quick ones for the api all of them type check clean rename the config loader, drop the unused logger, bump serde and fix the off by one in pagination", 4, "Rename the config loader"),
            ("rename the, no, delete the legacy banner component on the website, build passes", 1, "Delete the legacy banner"),
            ("rename the no delete the legacy banner component on the website build passes", 1, "Delete the legacy banner"),
            ("on the website fix the misaligned table under slash pricing, lint clean", 1, "misaligned table"),
        ];
        for (text, n, title) in cases {
            let i = read(text, None);
            assert_eq!(i.intent, IntentKind::Dispatch, "{text}");
            assert_eq!(i.tasks.len(), *n, "{text}: {:?}", i.tasks.iter().map(|t| &t.title).collect::<Vec<_>>());
            assert!(contains_ci(&i.tasks[0].title, title), "{text}: title {:?}", i.tasks[0].title);
        }
        let i = read("four quick ones for the api, all of them type check clean: rename the config loader, drop the unused logger, bump serde, and fix the off by one in pagination", None);
        for t in &i.tasks {
            assert_eq!(checks_of(t), ["typecheck"], "{}", t.title);
            assert_eq!(t.repo.as_deref(), Some("api"), "{}", t.title);
        }
        let i = read("on the website fix the misaligned table under slash pricing, lint clean", None);
        assert_eq!(i.tasks[0].scope.include, ["pricing/"]);
    }

    /// The word lists behind the details.
    #[test]
    fn details_from_bigger_word_lists() {
        let i = read("On the website, rework the date pickers; only change the hooks and utils folders. Build passes.", None);
        assert_eq!(i.tasks[0].scope.include, ["hooks/", "utils/"]);
        let i = read("On the website, rework the date pickers, don't touch the e2e or fixtures directories, build passes", None);
        assert_eq!(i.tasks[0].scope.exclude, ["e2e/", "fixtures/"]);
        let i = read("Refactor the billing module on the backend. No new dependencies and no schema changes. Tests pass.", None);
        let cs = i.tasks[0].constraints.join(" | ").to_lowercase();
        assert!(cs.contains("no new dependencies") && cs.contains("no schema changes"), "{cs}");
        let i = read("no behaviour changes and no public api changes refactor the auth middleware on the backend tests pass", None);
        let cs = i.tasks[0].constraints.join(" | ").to_lowercase();
        assert!(cs.contains("no behaviour changes") && cs.contains("no public api changes"), "{cs}");
        assert!(i.tasks[0].title.starts_with("Refactor the auth middleware"), "{}", i.tasks[0].title);
        let i = read("give Claude the job of cleaning up the dead feature flags on the backend, tests pass", None);
        assert_eq!(i.tasks[0].agent.as_deref(), Some("claude"));
        assert!(i.tasks[0].title.starts_with("Clean up the dead feature flags"), "{}", i.tasks[0].title);
        let i = read("send this over to jules: migrate the date helpers to date-fns on the website, tests pass", None);
        assert_eq!(i.tasks[0].agent.as_deref(), Some("jules"));
        assert!(i.tasks[0].title.starts_with("Migrate the date helpers"), "{}", i.tasks[0].title);
        let i = read("bump the website's eslint config to v9, lint clean", None);
        assert_eq!(i.tasks[0].repo.as_deref(), Some("site"));
        let cases: &[(&str, &str)] = &[
            ("rewrite the FAQ answers about refunds on the website, build passes", "copy"),
            ("fix the broken install command in the api readme, build passes", "docs"),
            ("fix the typo in the backend's readme, build passes", "docs"),
            ("configure dependabot to group minor updates on the website, build passes", "infra"),
            ("write a report on unused exports in the api, no changes", "audit"),
            ("patch the open redirect in the login callback on the backend, tests pass", "security"),
            ("on the website the contact form doesnt submit on safari fix that, tests pass", "bug-fix"),
        ];
        for (text, want) in cases {
            assert_eq!(kinds(&read(text, None)), [*want], "{text}");
        }
    }

    /// What the user said reaches the task (and so the agent) verbatim.
    #[test]
    fn the_brief_is_kept_verbatim() {
        let said = "Fix the link to https://docs.example.com/v2/setup.html?ref=nav on the website: use --brand-blue for the button, and keep `npm ci && npm test | tee ~/log` plus $(date) working. Build passes.";
        let i = read(said, None);
        assert_eq!(i.tasks.len(), 1);
        assert_eq!(i.tasks[0].brief, said);
        assert!(i.tasks[0].title.contains("https://docs.example.com/v2/setup.html"), "{}", i.tasks[0].title);
        let said = "Two jobs on the backend: bump express to 4.21 && keep it pinned, and fix the `--dry-run` flag in the CLI. Tests pass.";
        let i = read(said, None);
        assert_eq!(i.tasks.len(), 2, "{:?}", i.tasks);
        assert_eq!(i.tasks[0].brief, "bump express to 4.21 && keep it pinned");
        assert_eq!(i.tasks[1].brief, "fix the `--dry-run` flag in the CLI.");
        assert!(said.contains(&i.tasks[1].brief));
    }

    /// A criterion said after the last task is every task's.
    #[test]
    fn trailing_criteria_are_shared() {
        let cases = [
            "A couple of things on the backend: rename the auth middleware, and delete the old health route. Lint must be clean.",
            "a couple of things on the backend rename the auth middleware and delete the old health route lint must be clean",
            "First, rename the auth middleware on the backend. Second, delete the old health route on the backend. Make sure lint is clean.",
        ];
        for text in cases {
            let i = read(text, None);
            assert_eq!(i.tasks.len(), 2, "{text}: {:?}", i.tasks.iter().map(|t| &t.title).collect::<Vec<_>>());
            for t in &i.tasks {
                assert_eq!(checks_of(t), ["lint"], "{text}: {}", t.title);
                assert!(!t.title.to_lowercase().contains("lint"), "{text}: {}", t.title);
            }
        }
    }

    /// A scope that cannot be placed inside the repo holds the task with a question.
    #[test]
    fn scope_outside_the_repo_is_a_question() {
        let cases = [
            ("Tidy the configs in ../../etc on the website, build passes", "../../etc"),
            ("on the backend only touch /etc/nginx and reload it, tests pass", "/etc/nginx"),
            ("Clean up ~/.ssh/config for the api, tests pass", "~/.ssh/config"),
        ];
        for (text, word) in cases {
            let i = read(text, None);
            assert_eq!(i.intent, IntentKind::Dispatch, "{text}");
            let t = &i.tasks[0];
            assert!(!t.readiness.ready, "{text}: {:?}", t.readiness);
            assert!(t.readiness.question.as_deref().is_some_and(|q| q.contains(word)), "{text}: {:?}", t.readiness.question);
            assert!(t.scope_unplaced.iter().any(|w| w == word), "{text}: {:?}", t.scope_unplaced);
            for p in t.scope.include.iter().chain(&t.scope.exclude) {
                assert!(!p.contains("..") && !p.starts_with('/') && !p.starts_with('~') && !p.contains("etc"), "{text}: scope {p}");
            }
        }
        // A path under a configured repo's own folder is a path inside that repo.
        let i = read("On the website only touch /src/site/components, build passes", None);
        assert_eq!(i.tasks[0].scope.include, ["components/"]);
        assert!(i.tasks[0].scope_unplaced.is_empty());
        // The answer that gives a folder of the repo releases it.
        let w = world();
        let ctx = Context { config: &w.config, tasks: &w.tasks, pending: None, now: w.now };
        let held = parse("Tidy the configs in ../../etc on the website, build passes", &ctx).tasks.remove(0);
        let spec = answer_clarification(&held, "the config folder", &ctx);
        assert!(spec.readiness.ready, "{:?}", spec);
        assert_eq!(spec.scope.include, ["config/"]);
    }
}

/// The contract clarifications in ARCHITECTURE.md.
mod contract {
    use super::*;

    #[test]
    fn the_repo_of_a_brief_that_names_none() {
        let w = world();
        let brief = "Upgrade lodash to the latest version, tests pass";
        // Several repos, no default: held, asking which.
        let ctx = Context { config: &w.config, tasks: &w.tasks, pending: None, now: w.now };
        let i = parse(brief, &ctx);
        let t = &i.tasks[0];
        assert_eq!(t.repo, None);
        assert!(!t.readiness.ready);
        assert_eq!(t.readiness.question.as_deref(), Some("Which repo: site or api?"));
        // The answer releases it.
        let spec = answer_clarification(t, "the backend", &ctx);
        assert!(spec.readiness.ready, "{spec:?}");
        assert_eq!(spec.repo.as_deref(), Some("api"));
        // `[dispatch] default_repo`, by name or alias.
        for d in ["api", "backend"] {
            let mut config = w.config.clone();
            config.dispatch.default_repo = Some(d.into());
            let ctx = Context { config: &config, tasks: &w.tasks, pending: None, now: w.now };
            let t = &parse(brief, &ctx).tasks[0];
            assert_eq!(t.repo.as_deref(), Some("api"), "default {d}");
            assert!(t.readiness.ready, "default {d}: {:?}", t.readiness);
            // A repo named in the brief still wins, by alias, possessive, or "on the X".
            for named in ["Upgrade lodash on the website, tests pass", "Upgrade the website's lodash, tests pass", "In the site repo upgrade lodash, tests pass"] {
                assert_eq!(parse(named, &ctx).tasks[0].repo.as_deref(), Some("site"), "{named}");
            }
        }
        // The only repo.
        let mut config = w.config.clone();
        config.repos.truncate(1);
        let ctx = Context { config: &config, tasks: &w.tasks, pending: None, now: w.now };
        assert_eq!(parse(brief, &ctx).tasks[0].repo.as_deref(), Some("site"));
    }

    #[test]
    fn kinds_are_defined_by_the_change() {
        let w = world();
        let ctx = Context { config: &w.config, tasks: &w.tasks, pending: None, now: w.now };
        let cases: &[(&str, &str)] = &[
            ("bump zod to v4 on the backend, tests pass", "dependency-upgrade"),
            ("fix the double charge when users click pay twice on the backend, tests pass", "bug-fix"),
            ("add a CSV export button to the orders page on the website, tests pass", "feature"),
            ("extract the price formatting into one helper on the website, tests pass", "refactor"),
            ("tighten the spacing between the pricing cards on the website, lint clean", "css"),
            ("reword the empty cart message on the website to sound friendlier, build passes", "copy"),
            ("add docstrings to the public functions of the api client on the backend, build passes", "docs"),
            ("write integration tests for the refund flow on the backend, tests pass", "test"),
            ("harden the session cookies with httponly and samesite on the backend, tests pass", "security"),
            ("audit the api routes for missing auth checks and write a report, no code changes", "audit"),
            ("add a github actions job that runs lint on every pull request for the website, ci green", "infra"),
        ];
        for (text, want) in cases {
            let i = parse(text, &ctx);
            assert_eq!(i.tasks.first().map(|t| t.kind.as_str()), Some(*want), "{text}");
        }
    }

    #[test]
    fn acceptance_is_not_a_deliverable() {
        let w = world();
        let ctx = Context { config: &w.config, tasks: &w.tasks, pending: None, now: w.now };
        let i = parse("Add rate limiting to the signup route on the backend. Verify by sending a burst of requests from a script. Show red and green runs. Write a short report. Tests pass.", &ctx);
        let t = &i.tasks[0];
        let acc: Vec<String> = t.acceptance.iter().map(|c| c.text.to_lowercase()).collect();
        assert!(acc.iter().any(|a| a.contains("burst of requests")), "{acc:?}");
        assert!(acc.iter().any(|a| a.contains("red and green runs")), "{acc:?}");
        assert!(t.deliverables.iter().any(|d| d.to_lowercase().contains("report")), "{:?}", t.deliverables);
        assert!(!t.deliverables.iter().any(|d| d.to_lowercase().contains("red and green")), "{:?}", t.deliverables);
        assert!(checks_of(t).contains(&"test".to_string()));
    }
}

/// The calibration table in `understand::calibrate` is what the calibration split gives,
/// fitted again here (isotonic regression of "wholly right" on the raw score). Refit after
/// changing the split or a rule: the test prints the new table.
#[test]
fn the_calibration_is_the_fit_on_the_training_split() {
    let w = world();
    let train = calibrate::label(&w, &score::calibration());
    assert!(train.iter().filter(|l| !l.right).count() >= 10, "the calibration split needs wrong parses to fit on");
    let steps = calibrate::isotonic(&train);
    println!("isotonic steps: {steps:?}");
    assert_eq!(steps.as_slice(), capcom::understand::calibrate::STEPS.as_slice(), "the table should be {steps:?}");
}

/// The figures the bench prints: cross-validation on the training split, and the held-out
/// split (never tuned on, never fitted on) before and after. The calibration keeps the raw
/// score's order (ties aside); at the grace window's threshold it must leave most wrong
/// parses below and most right ones above.
#[test]
fn confidence_on_the_held_out_split_before_and_after() {
    let w = world();
    for line in calibrate::report(&w) {
        println!("{line}");
    }
    let held = calibrate::label(&w, &score::held_out());
    let after = calibrate::Separation::of(&held, calibrate::calibrated);
    assert!(after.wrong >= 10, "too few wrong parses on the held-out split to judge: {}", after.wrong);
    assert!(after.wrong_below * 2 > after.wrong && after.right_above * 4 > after.right * 3, "{}", after.line("held-out, calibrated"));
}
