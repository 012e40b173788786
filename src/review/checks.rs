//! Acceptance checks: configured commands, run as argv (no shell) in the task's
//! worktree, in a process group of their own, killed at the timeout.

use crate::config::{CheckCmd, Config, Repo};
use crate::process::tail_lines;
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

/// One check's result (the data of a "check" event).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    pub name: String,
    pub ok: bool,
    /// Exit status; `None` when it could not start, was killed or timed out.
    pub exit: Option<i32>,
    pub duration_ms: u64,
    /// The last lines of its output (stdout and stderr).
    pub tail: String,
}

/// The command for a check name: the repo's own, else `[checks]`.
pub fn command_for<'a>(config: &'a Config, repo: Option<&'a Repo>, name: &str) -> Option<&'a CheckCmd> {
    repo.and_then(|r| r.checks.get(name)).or_else(|| config.checks.get(name))
}

/// Run one check in `dir`.
pub async fn run(name: &str, cmd: &CheckCmd, dir: &Path, timeout: Duration) -> CheckResult {
    let started = Instant::now();
    let fail = |tail: String, exit: Option<i32>| CheckResult {
        name: name.to_string(),
        ok: false,
        exit,
        duration_ms: started.elapsed().as_millis() as u64,
        tail,
    };
    let Some(argv) = cmd.argv() else {
        return fail(format!("the command for check `{name}` is empty or cannot be split"), None);
    };
    let out_path = std::env::temp_dir().join(format!("capcom-check-{}-{}.log", std::process::id(), rand::random::<u64>()));
    let file = match std::fs::File::create(&out_path) {
        Ok(f) => f,
        Err(e) => return fail(format!("cannot create a temp file for the output: {e}"), None),
    };
    let file2 = match file.try_clone() {
        Ok(f) => f,
        Err(e) => return fail(e.to_string(), None),
    };
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(file)
        .stderr(file2)
        .process_group(0)
        .kill_on_drop(true);
    // A check runs the branch's code: capcom's own tokens stay out of it, as they do for agents.
    crate::private::scrub_env(cmd.as_std_mut());
    crate::private::user_umask(cmd.as_std_mut());
    crate::process::background(cmd.as_std_mut());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&out_path);
            return fail(format!("cannot run `{}`: {e}", argv[0]), None);
        }
    };
    let pid = child.id();
    let waited = tokio::time::timeout(timeout, child.wait()).await;
    let (exit, note) = match waited {
        Ok(Ok(st)) => (st.code(), None),
        Ok(Err(e)) => (None, Some(format!("cannot wait for the check: {e}"))),
        Err(_) => {
            if let Some(pid) = pid {
                crate::process::kill_group(pid, None).await;
            }
            let _ = child.wait().await;
            (None, Some(format!("timed out after {}s", timeout.as_secs())))
        }
    };
    if let Some(pid) = pid {
        // Nothing the check started outlives it.
        if let Ok(raw) = i32::try_from(pid) {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(raw), nix::sys::signal::Signal::SIGKILL);
        }
    }
    let text = std::fs::read(&out_path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    let mut tail = crate::logging::redact(&tail_lines(&text, 20, 4000));
    if let Some(n) = note {
        if !tail.is_empty() {
            tail.push('\n');
        }
        tail.push_str(&n);
    }
    CheckResult {
        name: name.to_string(),
        ok: exit == Some(0),
        exit,
        duration_ms: started.elapsed().as_millis() as u64,
        tail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn exit_status_and_tail_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let ok = run("t", &CheckCmd::Argv(vec!["sh".into(), "-c".into(), "echo fine; exit 0".into()]), dir.path(), Duration::from_secs(30)).await;
        assert!(ok.ok);
        assert_eq!(ok.exit, Some(0));
        assert_eq!(ok.tail, "fine");
        let red = run("t", &CheckCmd::Line("sh -c 'echo broken >&2; exit 3'".into()), dir.path(), Duration::from_secs(30)).await;
        assert!(!red.ok);
        assert_eq!(red.exit, Some(3));
        assert_eq!(red.tail, "broken");
        let missing = run("t", &CheckCmd::Argv(vec!["/nonexistent/tool".into()]), dir.path(), Duration::from_secs(30)).await;
        assert!(!missing.ok && missing.tail.contains("cannot run"));
        let empty = run("t", &CheckCmd::Argv(vec![]), dir.path(), Duration::from_secs(30)).await;
        assert!(!empty.ok);
    }

    #[tokio::test]
    async fn a_hanging_check_is_killed_at_its_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let r = run("slow", &CheckCmd::Argv(vec!["sleep".into(), "30".into()]), dir.path(), Duration::from_millis(200)).await;
        assert!(!r.ok);
        assert_eq!(r.exit, None);
        assert!(r.tail.contains("timed out"), "{}", r.tail);
    }

    #[test]
    fn repo_checks_override_global_ones() {
        let mut config = Config::default();
        config.checks.insert("build".into(), CheckCmd::Line("make".into()));
        config.checks.insert("test".into(), CheckCmd::Line("make test".into()));
        let mut repo = Repo::default();
        repo.checks.insert("build".into(), CheckCmd::Line("npm run build".into()));
        assert_eq!(command_for(&config, Some(&repo), "build"), Some(&CheckCmd::Line("npm run build".into())));
        assert_eq!(command_for(&config, Some(&repo), "test"), Some(&CheckCmd::Line("make test".into())));
        assert_eq!(command_for(&config, None, "lint"), None);
    }
}
