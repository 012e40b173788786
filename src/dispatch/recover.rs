//! What a restarted daemon does with a task it finds `running`: decided from the facts on
//! disk (the run's row, the supervisor's pid and status files, the worktree's commits), not
//! from the last state recorded. Pure: [`Facts`] in, [`Recovery`] out.
//!
//! The steps of a dispatch, each written before the next begins, and what a crash after each
//! leaves (the kill table in tests/crash.rs drives every one):
//!
//! | crash after | found on restart | recovery |
//! |---|---|---|
//! | the worktree is made | `queued`, a worktree | started again (the worktree is made afresh) |
//! | the task turns `running` | `running`, no run | [`Recovery::Restart`]: the agent never started |
//! | the run's row is written | an open run, no pid, no pid file, no log, no commits | [`Recovery::Restart`] |
//! | the supervisor is spawned | an open run, no pid recorded, the supervisor's pid file | [`Recovery::Reattach`] by that pid: watched if alive, its status file read if not |
//! | the pid is recorded | an open run with its pid | [`Recovery::Reattach`] |
//! | the agent's exit is recorded | an ended run, exit 0 | [`Recovery::Finished`]: reviewed |
//! | the agent's failure is recorded | an ended run, no exit code | [`Recovery::Failed`] with its recorded reason |
//! | the task turns `checking` | `checking` | reviewed again (not here: `JobKind::Review`) |

/// A process, as recorded: pid and start time (clock ticks since boot) to tell a reused pid apart.
pub type Proc = (u32, Option<u64>);

/// What is known of a task's latest run after a restart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFacts {
    /// The run's end, when it was recorded: its exit code and its summary or reason.
    pub ended: Option<(Option<i64>, Option<String>)>,
    /// The run is a local agent's (a process here), not a vendor's.
    pub local: bool,
    /// The process recorded in the run's row.
    pub pid: Option<Proc>,
    /// The process the supervisor wrote into its pid file (it does so before it starts the agent).
    pub pid_file: Option<Proc>,
    /// The supervisor wrote how the agent ended.
    pub status_file: bool,
    /// The run's log has output.
    pub log_written: bool,
}

/// What is known of a `running` task after a restart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// Its latest run, if one was recorded.
    pub run: Option<RunFacts>,
    /// Commits on its branch since its base.
    pub commits: usize,
}

/// The one right recovery for what was found.
#[derive(Debug, Clone, PartialEq)]
pub enum Recovery {
    /// The agent never started: start the task again.
    Restart,
    /// The agent started: watch it again (by this process, for a local agent). A process that
    /// is gone is judged by the status file its supervisor left.
    Reattach { pid: Option<Proc> },
    /// The agent finished and that was recorded: review its work.
    Finished { summary: Option<String> },
    /// The agent failed and that was recorded.
    Failed { reason: String },
    /// The agent started, but no process or status can be found to say how it ended.
    Unknown,
}

impl Recovery {
    /// A word for the `recovered` event.
    pub fn as_str(&self) -> &'static str {
        match self {
            Recovery::Restart => "restart",
            Recovery::Reattach { .. } => "reattach",
            Recovery::Finished { .. } => "review",
            Recovery::Failed { .. } => "failed",
            Recovery::Unknown => "unknown",
        }
    }
}

/// Decide what to do with a task found `running`.
pub fn decide(f: &Facts) -> Recovery {
    let Some(run) = &f.run else { return Recovery::Restart };
    if let Some((code, said)) = &run.ended {
        return match code {
            Some(0) => Recovery::Finished { summary: said.clone() },
            Some(c) => Recovery::Failed { reason: said.clone().unwrap_or_else(|| format!("the agent exited with status {c}")) },
            None => Recovery::Failed { reason: said.clone().unwrap_or_else(|| "the agent failed".into()) },
        };
    }
    if !run.local {
        return Recovery::Reattach { pid: None };
    }
    if let Some(p) = run.pid.or(run.pid_file) {
        return Recovery::Reattach { pid: Some(p) };
    }
    if !run.status_file && !run.log_written && f.commits == 0 {
        return Recovery::Restart;
    }
    Recovery::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> RunFacts {
        RunFacts { local: true, ..RunFacts::default() }
    }

    #[test]
    fn every_crash_point_has_one_recovery() {
        let cases: Vec<(&str, Facts, Recovery)> = vec![
            ("no run yet", Facts::default(), Recovery::Restart),
            ("a run row, nothing started", Facts { run: Some(local()), commits: 0 }, Recovery::Restart),
            (
                "spawned, pid not recorded",
                Facts { run: Some(RunFacts { pid_file: Some((42, Some(7))), log_written: true, ..local() }), commits: 0 },
                Recovery::Reattach { pid: Some((42, Some(7))) },
            ),
            (
                "spawned, finished unwatched",
                Facts { run: Some(RunFacts { pid_file: Some((42, Some(7))), status_file: true, log_written: true, ..local() }), commits: 1 },
                Recovery::Reattach { pid: Some((42, Some(7))) },
            ),
            (
                "pid recorded",
                Facts { run: Some(RunFacts { pid: Some((9, Some(1))), pid_file: Some((9, Some(1))), ..local() }), commits: 0 },
                Recovery::Reattach { pid: Some((9, Some(1))) },
            ),
            (
                "exit recorded",
                Facts { run: Some(RunFacts { ended: Some((Some(0), Some("done".into()))), pid: Some((9, None)), ..local() }), commits: 1 },
                Recovery::Finished { summary: Some("done".into()) },
            ),
            (
                "failure recorded",
                Facts { run: Some(RunFacts { ended: Some((None, Some("the agent was killed by signal 9".into()))), ..local() }), commits: 0 },
                Recovery::Failed { reason: "the agent was killed by signal 9".into() },
            ),
            (
                "a nonzero exit recorded without words",
                Facts { run: Some(RunFacts { ended: Some((Some(3), None)), ..local() }), commits: 0 },
                Recovery::Failed { reason: "the agent exited with status 3".into() },
            ),
            ("a vendor's run", Facts { run: Some(RunFacts::default()), commits: 0 }, Recovery::Reattach { pid: None }),
            (
                "no process anywhere, but it wrote output",
                Facts { run: Some(RunFacts { log_written: true, ..local() }), commits: 0 },
                Recovery::Unknown,
            ),
            ("no process anywhere, but it committed", Facts { run: Some(local()), commits: 2 }, Recovery::Unknown),
        ];
        for (what, facts, want) in cases {
            assert_eq!(decide(&facts), want, "{what}");
        }
    }
}
