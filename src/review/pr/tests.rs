use super::*;
use crate::github::{FailedCheck, PrReport};
use crate::review::DiffStat;
use crate::understand::{Criterion, Scope, TaskKind, TaskSpec};
use std::time::Duration;

fn report(verdict: Verdict) -> PrReport {
    PrReport {
        number: 12,
        url: "https://github.com/me/site/pull/12".into(),
        base: "main".into(),
        head_sha: "a".repeat(40),
        state: "open".into(),
        merged: false,
        mergeable: Some(true),
        mergeable_state: Some("clean".into()),
        draft: false,
        node_id: String::new(),
        verdict,
        checks: Vec::new(),
        rules: Default::default(),
    }
}

#[test]
fn a_pr_settles_its_task_worst_news_first() {
    let failing = Verdict::Failing { failed: vec![FailedCheck { name: "test".into(), conclusion: "failure".into() }] };
    let pending = Verdict::Pending { waiting: vec!["build".into()] };
    let approval = Verdict::NeedsApproval { runs: vec!["ci".into()] };
    let green = Verdict::Green { passed: 3 };
    let merged = PrReport { merged: true, state: "closed".into(), ..report(green.clone()) };
    let closed = PrReport { state: "closed".into(), ..report(green.clone()) };
    let conflict = PrReport { mergeable: Some(false), mergeable_state: Some("dirty".into()), ..report(green.clone()) };
    let conflict_and_red = PrReport { mergeable: Some(false), ..report(failing.clone()) };
    let computing = PrReport { mergeable: None, mergeable_state: Some("unknown".into()), ..report(green.clone()) };
    let draft = PrReport { draft: true, ..report(green.clone()) };
    let (grace, m) = (Duration::from_secs(600), |n: u64| Duration::from_secs(60 * n));
    let table: Vec<(&str, PrReport, Duration, TaskState, &str)> = vec![
        ("green", report(green.clone()), m(0), TaskState::Ready, "pull request 12: all 3 checks passed"),
        ("one red", report(failing.clone()), m(0), TaskState::NeedsAttention, "pull request 12: the check test failed"),
        ("running", report(pending), m(0), TaskState::Checking, "pull request 12: checking: build still running"),
        ("approval", report(approval), m(0), TaskState::NeedsAttention, "Actions on PR 12 wait for your approval on GitHub"),
        ("merged on GitHub", merged, m(0), TaskState::Merged, "was merged on GitHub"),
        ("closed", closed, m(0), TaskState::NeedsAttention, "closed without merging"),
        ("conflict", conflict, m(0), TaskState::NeedsAttention, "conflicts with its base"),
        ("a red check beats a conflict", conflict_and_red, m(0), TaskState::NeedsAttention, "the check test failed"),
        ("mergeable still computing", computing, m(0), TaskState::Ready, "all 3 checks passed"),
        ("no checks yet", report(Verdict::NoChecks), m(0), TaskState::Checking, "waiting for checks to report"),
        ("no checks for a while", report(Verdict::NoChecks), m(9), TaskState::Checking, "waiting for checks to report"),
        ("no checks after the grace", report(Verdict::NoChecks), m(10), TaskState::NeedsAttention, "no checks have run on PR 12"),
        ("no checks for an hour", report(Verdict::NoChecks), m(60), TaskState::NeedsAttention, "no checks have run on PR 12"),
        ("a green draft", draft, m(0), TaskState::Ready, "pull request 12 (a draft): all 3 checks passed"),
    ];
    for (name, r, quiet, state, words) in table {
        let s = settle(&r, quiet, grace);
        assert_eq!(s.state, state, "{name}: {s:?}");
        assert!(s.reason.contains(words), "{name}: {:?} lacks {words:?}", s.reason);
    }
}

fn task() -> Task {
    Task {
        id: 7,
        title: "Upgrade Tailwind".into(),
        state: TaskState::Checking,
        reason: None,
        agent: Some("claude".into()),
        repo: Some("site".into()),
        branch: Some("capcom/7-upgrade-tailwind".into()),
        worktree: None,
        pr: None,
        head_sha: None,
        utterance_id: None,
        scheduled_at: None,
        created_at: String::new(),
        updated_at: String::new(),
        spec: TaskSpec {
            title: "Upgrade Tailwind".into(),
            kind: TaskKind::DependencyUpgrade,
            scope: Scope { include: vec!["package.json".into()], exclude: vec!["app/`x`".into()] },
            acceptance: vec![
                Criterion { text: "the build passes".into(), check: Some("build".into()) },
                Criterion { text: "no visual change on the home page".into(), check: None },
            ],
            constraints: vec!["do not touch the lockfile by hand".into()],
            ..TaskSpec::default()
        },
    }
}

fn outcome(paths: usize) -> Outcome {
    Outcome {
        state: TaskState::Ready,
        reason: String::new(),
        head: "b".repeat(40),
        base: "c".repeat(40),
        checks_total: 1,
        checks_ok: 1,
        manual: 1,
        violations: Vec::new(),
        secrets: Vec::new(),
        diffstat: DiffStat {
            files: paths,
            insertions: 10,
            deletions: 1,
            paths: (0..paths).map(|i| format!("src/file{i}.css")).collect(),
        },
    }
}

#[test]
fn the_pr_body_carries_the_spec_and_the_local_review() {
    let b = body(&task(), &outcome(3), &["check `build` passed".into()]);
    for want in [
        "Task 7 (dependency-upgrade)",
        "### Scope",
        "- in: `package.json`",
        "- not: `app/'x'`",
        "- the build passes (check `build`)",
        "- no visual change on the home page\n",
        "- do not touch the lockfile by hand",
        "### Checks run locally\n- check `build` passed",
        "1 criteria to check by hand",
        "3 files changed, 10 insertions(+), 1 deletion(-)",
        "- `src/file2.css`",
    ] {
        assert!(b.contains(want), "body lacks {want:?}:\n{b}");
    }
}

#[test]
fn a_long_path_list_is_cut_and_an_empty_check_list_said() {
    let b = body(&task(), &outcome(25), &[]);
    assert!(b.contains("- and 5 more"), "{b}");
    assert!(!b.contains("file20.css"), "{b}");
    assert!(b.contains("none configured"), "{b}");
    let one = body(&task(), &outcome(1), &[]);
    assert!(one.contains("1 file changed"), "{one}");
}
