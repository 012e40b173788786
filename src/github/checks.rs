//! Check runs plus the combined commit status → one verdict for a head SHA.
//! Pure: no I/O; the client fetches, this decides.

use super::types::{CheckRun, CombinedStatus, WorkflowRun};
use crate::store::TaskState;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedCheck {
    pub name: String,
    /// failure | timed_out | cancelled | startup_failure | stale | error
    pub conclusion: String,
}

/// What the checks on one SHA add up to. The worst finding wins:
/// failing > waiting for approval > pending > green.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Every check run and status finished successfully (or neutral / skipped).
    Green { passed: usize },
    /// Nothing has reported on this SHA. Never green: untested code is not mergeable.
    NoChecks,
    /// Some are still running or queued.
    Pending { waiting: Vec<String> },
    /// Actions runs wait for a maintainer to approve them (common on Copilot's PRs).
    NeedsApproval { runs: Vec<String> },
    /// At least one failed, timed out or was cancelled.
    Failing { failed: Vec<FailedCheck> },
}

impl Verdict {
    /// The task state this verdict puts a finished task in. With no checks the task
    /// keeps waiting in `checking`; the PR follower gives up after `[github] checks_grace`.
    pub fn task_state(&self) -> TaskState {
        match self {
            Verdict::Green { .. } => TaskState::Ready,
            Verdict::Pending { .. } | Verdict::NoChecks => TaskState::Checking,
            Verdict::NeedsApproval { .. } | Verdict::Failing { .. } => TaskState::NeedsAttention,
        }
    }

    /// Green enough for the merge gate: at least one check passed and nothing is red
    /// or waiting. An empty set of checks is not green.
    pub fn is_green(&self) -> bool {
        matches!(self, Verdict::Green { passed } if *passed > 0)
    }

    /// One sentence to say out loud.
    pub fn spoken(&self) -> String {
        match self {
            Verdict::Green { passed } => match passed {
                1 => "the check passed".into(),
                n => format!("all {n} checks passed"),
            },
            Verdict::NoChecks => "no checks have run on this commit".into(),
            Verdict::Pending { waiting } => format!("checking: {} still running", list(waiting)),
            Verdict::NeedsApproval { runs } => {
                format!("Actions need approval: {} waiting for a maintainer to approve the run", list(runs))
            }
            Verdict::Failing { failed } => {
                let names: Vec<String> = failed
                    .iter()
                    .map(|f| match f.conclusion.as_str() {
                        "failure" | "error" => f.name.clone(),
                        "timed_out" => format!("{} (timed out)", f.name),
                        other => format!("{} ({})", f.name, other.replace('_', " ")),
                    })
                    .collect();
                if failed.len() == 1 {
                    format!("the check {} failed", names[0])
                } else {
                    format!("checks failed: {}", list(&names))
                }
            }
        }
    }
}

fn list(items: &[String]) -> String {
    match items.len() {
        0 => "nothing".into(),
        1 => items[0].clone(),
        2 => format!("{} and {}", items[0], items[1]),
        n if n <= 4 => format!("{} and {}", items[..n - 1].join(", "), items[n - 1]),
        n => format!("{}, and {} more", items[..3].join(", "), n - 3),
    }
}

/// Aggregate check runs and the combined status of one SHA.
pub fn verdict(runs: &[CheckRun], status: Option<&CombinedStatus>) -> Verdict {
    verdict_with_workflows(runs, status, &[])
}

/// Whether an Actions workflow run waits for a person: a run GitHub holds until a
/// maintainer approves it (status `action_required`, or `waiting` for an environment's
/// reviewers). Such runs have no jobs yet, so they may leave no check run at all
/// (github/docs: "Approving workflow runs from public forks" and the Copilot coding
/// agent's "workflow run approval"; REST "List workflow runs for a repository").
pub fn awaits_approval(run: &WorkflowRun) -> bool {
    matches!(run.status.as_str(), "action_required" | "waiting") || run.conclusion.as_deref() == Some("action_required")
}

/// [`verdict`], with the Actions workflow runs of the same SHA: one that waits for
/// approval makes the verdict [`Verdict::NeedsApproval`] even when no check run exists.
pub fn verdict_with_workflows(runs: &[CheckRun], status: Option<&CombinedStatus>, workflows: &[WorkflowRun]) -> Verdict {
    let mut failed = Vec::new();
    let mut approval: Vec<String> = workflows.iter().filter(|w| awaits_approval(w)).map(WorkflowRun::label).collect();
    let mut waiting = Vec::new();
    let mut passed = 0usize;
    for r in runs {
        match (r.status.as_str(), r.conclusion.as_deref()) {
            ("completed", Some("success" | "neutral" | "skipped")) => passed += 1,
            ("completed", Some("action_required")) | ("waiting", _) => approval.push(r.name.clone()),
            ("completed", Some(c)) => failed.push(FailedCheck { name: r.name.clone(), conclusion: c.to_string() }),
            ("completed", None) => failed.push(FailedCheck { name: r.name.clone(), conclusion: "failure".into() }),
            _ => waiting.push(r.name.clone()),
        }
    }
    // With no statuses at all GitHub reports the combined state "pending"; that is not a check.
    if let Some(s) = status {
        for st in &s.statuses {
            match st.state.as_str() {
                "success" => passed += 1,
                "pending" => waiting.push(st.context.clone()),
                other => failed.push(FailedCheck { name: st.context.clone(), conclusion: other.to_string() }),
            }
        }
    }
    dedup(&mut waiting);
    dedup(&mut approval);
    if !failed.is_empty() {
        Verdict::Failing { failed }
    } else if !approval.is_empty() {
        Verdict::NeedsApproval { runs: approval }
    } else if !waiting.is_empty() {
        Verdict::Pending { waiting }
    } else if passed == 0 {
        Verdict::NoChecks
    } else {
        Verdict::Green { passed }
    }
}

/// One check that has reported a result on a SHA (for "which one is red").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub name: String,
    pub ok: bool,
}

/// The checks on one SHA that have finished, each once (a later run of the same
/// name wins: GitHub lists the newest first, so the first seen is kept).
pub fn finished(runs: &[CheckRun], status: Option<&CombinedStatus>) -> Vec<CheckResult> {
    let mut out: Vec<CheckResult> = Vec::new();
    let mut push = |name: &str, ok: bool| {
        if !out.iter().any(|c| c.name == name) {
            out.push(CheckResult { name: name.to_string(), ok });
        }
    };
    for r in runs {
        match (r.status.as_str(), r.conclusion.as_deref()) {
            ("completed", Some("success" | "neutral" | "skipped")) => push(&r.name, true),
            ("completed", Some("action_required")) => {}
            ("completed", _) => push(&r.name, false),
            _ => {}
        }
    }
    for st in status.map(|s| s.statuses.as_slice()).unwrap_or_default() {
        match st.state.as_str() {
            "pending" => {}
            s => push(&st.context, s == "success"),
        }
    }
    out
}

fn dedup(v: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    v.retain(|x| seen.insert(x.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::types::CommitStatus;

    fn run(name: &str, status: &str, conclusion: Option<&str>) -> CheckRun {
        CheckRun {
            id: 1,
            name: name.into(),
            status: status.into(),
            conclusion: conclusion.map(String::from),
            html_url: None,
            details_url: None,
        }
    }

    fn combined(items: &[(&str, &str)]) -> CombinedStatus {
        CombinedStatus {
            state: "pending".into(),
            sha: "abc".into(),
            total_count: items.len() as u64,
            statuses: items
                .iter()
                .map(|(c, s)| CommitStatus { context: (*c).into(), state: (*s).into(), description: None, target_url: None })
                .collect(),
        }
    }

    #[test]
    fn finished_checks_are_named_once_and_pending_ones_left_out() {
        let runs = [
            run("build", "completed", Some("success")),
            run("test", "completed", Some("failure")),
            run("test", "completed", Some("success")),
            run("lint", "in_progress", None),
            run("deploy", "completed", Some("action_required")),
        ];
        let status = combined(&[("ci/legacy", "success"), ("ci/slow", "pending"), ("ci/err", "error")]);
        let got: Vec<(String, bool)> = finished(&runs, Some(&status)).into_iter().map(|c| (c.name, c.ok)).collect();
        let want = [("build", true), ("test", false), ("ci/legacy", true), ("ci/err", false)];
        assert_eq!(got, want.iter().map(|(n, ok)| (n.to_string(), *ok)).collect::<Vec<_>>());
    }

    #[test]
    fn the_worst_finding_wins() {
        let cases: Vec<(Vec<CheckRun>, CombinedStatus, TaskState, &str)> = vec![
            (vec![], combined(&[]), TaskState::Checking, "no checks have run"),
            (vec![run("build", "completed", Some("success"))], combined(&[]), TaskState::Ready, "the check passed"),
            (
                vec![run("build", "completed", Some("success")), run("lint", "completed", Some("skipped"))],
                combined(&[("ci/legacy", "success")]),
                TaskState::Ready,
                "all 3 checks passed",
            ),
            (
                vec![run("build", "in_progress", None), run("lint", "completed", Some("success"))],
                combined(&[]),
                TaskState::Checking,
                "checking: build still running",
            ),
            (vec![run("build", "queued", None)], combined(&[("deploy", "pending")]), TaskState::Checking, "build and deploy"),
            (
                vec![run("build", "completed", Some("action_required")), run("test", "queued", None)],
                combined(&[]),
                TaskState::NeedsAttention,
                "Actions need approval: build",
            ),
            (vec![run("build", "waiting", None)], combined(&[]), TaskState::NeedsAttention, "Actions need approval"),
            (
                vec![run("build", "completed", Some("failure")), run("e2e", "in_progress", None)],
                combined(&[]),
                TaskState::NeedsAttention,
                "the check build failed",
            ),
            (
                vec![run("e2e", "completed", Some("timed_out")), run("unit", "completed", Some("cancelled"))],
                combined(&[]),
                TaskState::NeedsAttention,
                "e2e (timed out) and unit (cancelled)",
            ),
            (vec![run("build", "completed", Some("success"))], combined(&[("ci/legacy", "error")]), TaskState::NeedsAttention, "ci/legacy"),
        ];
        for (runs, status, state, words) in cases {
            let v = verdict(&runs, Some(&status));
            assert_eq!(v.task_state(), state, "{v:?}");
            assert!(v.spoken().contains(words), "{:?} → {}", v, v.spoken());
        }
    }

    #[test]
    fn green_only_when_nothing_is_red_or_waiting() {
        assert!(verdict(&[run("a", "completed", Some("success"))], None).is_green());
        assert!(!verdict(&[run("a", "completed", Some("success")), run("b", "queued", None)], None).is_green());
        assert!(!verdict(&[run("a", "completed", Some("stale"))], None).is_green());
    }

    #[test]
    fn an_empty_set_of_checks_is_never_green() {
        assert_eq!(verdict(&[], None), Verdict::NoChecks);
        assert!(!verdict(&[], None).is_green());
        assert!(!verdict(&[], Some(&combined(&[]))).is_green());
        assert!(!Verdict::NoChecks.is_green());
        assert!(!Verdict::Green { passed: 0 }.is_green());
        assert_ne!(Verdict::NoChecks.task_state(), TaskState::Ready);
    }

    fn workflow(name: &str, status: &str, conclusion: Option<&str>) -> WorkflowRun {
        WorkflowRun {
            id: 7,
            name: Some(name.into()),
            status: status.into(),
            conclusion: conclusion.map(String::from),
            head_sha: "abc".into(),
            event: Some("pull_request".into()),
            html_url: None,
        }
    }

    #[test]
    fn workflow_runs_waiting_for_approval_are_never_green() {
        // A run held for approval has no jobs, so often no check run at all.
        let v = verdict_with_workflows(&[], None, &[workflow("CI", "action_required", None)]);
        assert!(matches!(&v, Verdict::NeedsApproval { runs } if runs == &["CI".to_string()]), "{v:?}");
        assert_eq!(v.task_state(), TaskState::NeedsAttention);
        assert!(!v.is_green());
        // Waiting for an environment's reviewers, or completed as action_required: the same.
        for w in [workflow("Deploy", "waiting", None), workflow("CI", "completed", Some("action_required"))] {
            let v = verdict_with_workflows(&[run("build", "completed", Some("success"))], None, &[w]);
            assert!(matches!(v, Verdict::NeedsApproval { .. }), "{v:?}");
        }
        // Finished or running workflow runs add nothing of their own.
        let v = verdict_with_workflows(
            &[run("build", "completed", Some("success"))],
            None,
            &[workflow("CI", "completed", Some("success")), workflow("Lint", "in_progress", None)],
        );
        assert_eq!(v, Verdict::Green { passed: 1 });
    }
}
