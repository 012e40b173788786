use super::*;
use crate::github::{FailedCheck, PrReport};
use crate::review::DiffStat;
use crate::understand::{Criterion, Scope, TaskKind, TaskSpec};

fn report(verdict: Verdict) -> PrReport {
    PrReport {
        number: 12,
        url: "https://github.com/me/site/pull/12".into(),
        head_sha: "a".repeat(40),
        state: "open".into(),
        merged: false,
        mergeable: Some(true),
        mergeable_state: Some("clean".into()),
        verdict,
        checks: Vec::new(),
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
    let table: Vec<(&str, PrReport, u32, TaskState, &str)> = vec![
        ("green", report(green.clone()), 0, TaskState::Ready, "pull request 12: all 3 checks passed"),
        ("one red", report(failing.clone()), 0, TaskState::NeedsAttention, "pull request 12: the check test failed"),
        ("running", report(pending), 0, TaskState::Checking, "pull request 12: checking: build still running"),
        ("approval", report(approval), 0, TaskState::NeedsAttention, "Actions need approval"),
        ("merged on GitHub", merged, 0, TaskState::Merged, "was merged on GitHub"),
        ("closed", closed, 0, TaskState::NeedsAttention, "closed without merging"),
        ("conflict", conflict, 0, TaskState::NeedsAttention, "conflicts with its base"),
        ("a red check beats a conflict", conflict_and_red, 0, TaskState::NeedsAttention, "the check test failed"),
        ("mergeable still computing", computing, 0, TaskState::Ready, "all 3 checks passed"),
        ("no checks yet", report(Verdict::NoChecks), 1, TaskState::Checking, "waiting for checks to report"),
        ("no checks, twice", report(Verdict::NoChecks), 2, TaskState::Ready, "no checks reported"),
    ];
    for (name, r, quiet, state, words) in table {
        let s = settle(&r, quiet);
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
