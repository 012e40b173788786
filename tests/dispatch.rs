//! Dispatch and review, end to end: real git repos in temp dirs and scripted
//! stand-in agents (small shell scripts the test writes; the script is the
//! agent's argv program, and no brief text is ever put into a shell).
//!
//! - `contract_local`: the shared `AgentBackend` contract suite, run against the
//!   local backend.
//! - library-level tests drive the dispatcher (`DispatchHandle`) and the merge
//!   gate directly;
//! - daemon tests boot `capcom daemon --headless` and drive it with the CLI.

mod common;

use common::scene::{make_repo, post_intent, task_json, wait as wait_daemon_task};

use async_trait::async_trait;
use capcom::config::{Config, DataDir};
use capcom::dispatch::backend::{AgentBackend, RunRef, StartRequest};
use capcom::dispatch::contract::{Behaviour, Fixture};
use capcom::dispatch::local::{LocalBackend, process_alive};
use capcom::dispatch::presets::{LocalSpec, StreamFormat};
use capcom::dispatch::worktree::{Git, GitCli};
use capcom::dispatch::{self, Agents, Ctx, DispatchHandle};
use capcom::review::merge::Gate;
use capcom::store::{Store, Task, TaskState};
use capcom::understand::{Criterion, Scope, TaskSpec};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

// ---------------------------------------------------------------------------
// Helpers

fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn git(dir: &Path, args: &[&str]) -> String {
    GitCli.ok(dir, args).unwrap_or_else(|e| panic!("git {args:?}: {e}"))
}

const GIT_ID: &str = "git -c user.name=agent -c user.email=agent@example.com";

/// A claude-like JSON stream line.
fn result_line(summary: &str) -> String {
    format!(
        r#"echo '{{"type":"result","subtype":"success","is_error":false,"result":"{summary}","session_id":"sess-1","total_cost_usd":0.02}}'"#
    )
}

const INIT_LINE: &str = r#"echo '{"type":"system","subtype":"init","session_id":"sess-1"}'"#;

/// Agent scripts for every behaviour the tests need.
struct Agentry {
    dir: PathBuf,
}

impl Agentry {
    fn new(dir: &Path) -> Agentry {
        let dir = dir.join("agents");
        std::fs::create_dir_all(&dir).unwrap();
        Agentry { dir }
    }

    /// Edit a file in scope and commit.
    fn good(&self) -> PathBuf {
        write_script(
            &self.dir,
            "good.sh",
            &format!(
                "set -e\n{INIT_LINE}\necho 'button v2' > components/button.txt\n{GIT_ID} commit -qam 'agent: button v2'\n{}",
                result_line("Updated the button.")
            ),
        )
    }

    /// Edit a file in scope and leave it uncommitted (capcom commits it).
    fn lazy(&self) -> PathBuf {
        write_script(
            &self.dir,
            "lazy.sh",
            &format!("set -e\n{INIT_LINE}\necho 'new' > components/new.txt\n{}", result_line("Added new.txt")),
        )
    }

    /// Touch a file outside the scope.
    fn outside(&self) -> PathBuf {
        write_script(
            &self.dir,
            "outside.sh",
            &format!(
                "set -e\n{INIT_LINE}\necho 'button v2' > components/button.txt\necho 'page v2' > app/page.txt\n{GIT_ID} commit -qam 'agent: too much'\n{}",
                result_line("Changed the page too.")
            ),
        )
    }

    /// Add a file with an AWS key in it.
    fn leaky(&self) -> PathBuf {
        let key = format!("AKIA{}", "ABCDEFGHIJKLMNOP");
        write_script(
            &self.dir,
            "leaky.sh",
            &format!(
                "set -e\n{INIT_LINE}\necho \"const key = '{key}';\" > components/config.js\n{GIT_ID} add -A\n{GIT_ID} commit -qm 'agent: config'\n{}",
                result_line("Added config.")
            ),
        )
    }

    /// Print a little and crash.
    fn crash(&self) -> PathBuf {
        write_script(&self.dir, "crash.sh", &format!("{INIT_LINE}\necho 'segmentation fault (core dumped)' >&2\nexit 3"))
    }

    /// Start a helper in the background (its pid in `pids`), then hang.
    fn hang(&self, pids: &Path) -> PathBuf {
        write_script(
            &self.dir,
            "hang.sh",
            &format!(
                "{INIT_LINE}\nsleep 1000 &\necho $! > '{}/helper-'$CAPCOM_TASK_ID\necho $$ > '{}/agent-'$CAPCOM_TASK_ID\nwait",
                pids.display(),
                pids.display()
            ),
        )
    }

    /// Wait for `<go>/go-<task>` to exist, then edit in scope, commit and finish.
    fn gated(&self, go: &Path) -> PathBuf {
        write_script(
            &self.dir,
            "gated.sh",
            &format!(
                "set -e\n{INIT_LINE}\nwhile [ ! -e '{}/go-'$CAPCOM_TASK_ID ]; do sleep 0.05; done\necho \"task $CAPCOM_TASK_ID\" > components/t$CAPCOM_TASK_ID.txt\n{GIT_ID} add -A\n{GIT_ID} commit -qm \"agent: task $CAPCOM_TASK_ID\"\n{}",
                go.display(),
                result_line("Gated work done.")
            ),
        )
    }

    /// Log start/end around a short pause, to count concurrency.
    fn counted(&self, log: &Path) -> PathBuf {
        write_script(
            &self.dir,
            "counted.sh",
            &format!(
                "set -e\necho \"start $CAPCOM_TASK_ID\" >> '{log}'\n{INIT_LINE}\nsleep 0.3\necho \"x$CAPCOM_TASK_ID\" > components/c$CAPCOM_TASK_ID.txt\n{GIT_ID} add -A\n{GIT_ID} commit -qm c\necho \"end $CAPCOM_TASK_ID\" >> '{log}'\n{}",
                result_line("Counted."),
                log = log.display()
            ),
        )
    }
}

fn spec(title: &str, agent: &str) -> TaskSpec {
    TaskSpec {
        title: title.into(),
        agent: Some(agent.into()),
        repo: Some("site".into()),
        scope: Scope { include: vec!["components/".into()], exclude: vec!["app/".into()] },
        acceptance: vec![Criterion { text: "tests pass".into(), check: Some("test".into()) }],
        ..TaskSpec::default()
    }
}

fn agent_toml(name: &str, script: &Path) -> String {
    format!(
        "[agents.{name}]\nkind = \"local\"\npreset = \"claude\"\ncommand = [\"{}\", \"{{prompt_file}}\"]\n",
        script.display()
    )
}

fn base_toml(repo: &Path, extra: &str) -> String {
    format!(
        "[[repos]]\nname = \"site\"\npath = \"{}\"\nbase = \"main\"\n\n[checks]\ntest = [\"true\"]\nred = [\"sh\", \"-c\", \"echo 2 tests failed; exit 1\"]\n\n[dispatch]\nmax_parallel = 3\ndefault_agent = \"good\"\nconfirm_ttl = \"30s\"\n# these tests run tasks with one scope side by side; leases are tested in tests/many.rs\noverlap = \"allow\"\n{extra}\n",
        repo.display()
    )
}

/// A dispatcher on a temp data dir, without the daemon.
struct Lab {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    repo: PathBuf,
    _agents: Agentry,
    handle: DispatchHandle,
    store: Store,
    config: Arc<Config>,
    _stop: watch::Sender<bool>,
}

impl Lab {
    async fn new(agent_toml_fn: impl FnOnce(&Agentry, &Path) -> String, dispatch_extra: &str) -> Lab {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let repo = make_repo(&root);
        let agents = Agentry::new(&root);
        let agents_toml = agent_toml_fn(&agents, &root);
        let text = format!("{}\n{agents_toml}", base_toml(&repo, dispatch_extra));
        let (config, warnings) = capcom::config::from_str(&text, "test.toml").unwrap();
        assert!(warnings.iter().all(|w| !w.contains("unknown key")), "{warnings:?}");
        let config = Arc::new(config);
        let data = DataDir::new(root.join("data"));
        let store = Store::open(&data.db()).unwrap();
        let ctx = Ctx {
            config: config.clone().into(),
            data,
            store: store.clone(),
            git: Arc::new(GitCli),
            agents: Agents::from_config(&config, None),
            github: None,
        };
        let (stop_tx, stop) = watch::channel(false);
        let handle = DispatchHandle::start(ctx, stop).await;
        Lab { _tmp: tmp, root, repo, _agents: agents, handle, store, config, _stop: stop_tx }
    }

    /// Plan, record and queue a task, as a brief would.
    async fn submit(&self, spec: TaskSpec) -> i64 {
        let ctx = self.handle.ctx();
        let plan = dispatch::plan(&spec, &ctx.config.get(), &ctx.agents, chrono::Utc::now());
        let task = self.store.create_task(&spec, plan.state, plan.reason.as_deref(), None, "test").unwrap();
        let task = self
            .store
            .update_task(
                task.id,
                &capcom::store::TaskUpdate {
                    agent: plan.agent.map(|a| a.agent),
                    repo: plan.repo,
                    ..Default::default()
                },
            )
            .unwrap();
        self.handle.submit(&task).await;
        task.id
    }

    async fn wait_until(&self, id: i64, what: &str, done: impl Fn(&Task) -> bool) -> Task {
        wait_task(&self.store, id, what, done).await
    }

    async fn settled(&self, id: i64) -> Task {
        self.wait_until(id, "a settled state", |t| {
            !matches!(t.state, TaskState::Queued | TaskState::Scheduled | TaskState::Running | TaskState::Checking)
        })
        .await
    }

    fn gate(&self) -> Gate {
        Gate { store: self.store.clone(), git: Arc::new(GitCli), config: self.config.clone(), github: None }
    }

    fn events(&self, id: i64, kind: &str) -> Vec<capcom::store::Event> {
        self.store.events(id).unwrap().into_iter().filter(|e| e.kind == kind).collect()
    }
}

/// Poll the store until `done` holds (a guard of two minutes against a hang, not a timing assertion).
async fn wait_task(store: &Store, id: i64, what: &str, done: impl Fn(&Task) -> bool) -> Task {
    for _ in 0..2400 {
        if let Ok(t) = store.task(id)
            && done(&t) {
                return t;
            }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let t = store.task(id).unwrap();
    let events: Vec<String> = store.events(id).unwrap().iter().map(|e| format!("{} {}", e.kind, e.message)).collect();
    panic!("task {id} never reached {what}; it is {} ({:?}); events:\n{}", t.state, t.reason, events.join("\n"));
}

fn one_agent(name: &'static str, pick: fn(&Agentry) -> PathBuf) -> impl FnOnce(&Agentry, &Path) -> String {
    move |a, _| agent_toml(name, &pick(a))
}

fn read_pid(path: &Path) -> u32 {
    for _ in 0..2400 {
        if let Ok(s) = std::fs::read_to_string(path)
            && let Ok(p) = s.trim().parse() {
                return p;
            }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("{} never appeared", path.display());
}

async fn gone(pid: u32) -> bool {
    for _ in 0..400 {
        if !process_alive(pid, None) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

// ---------------------------------------------------------------------------
// The shared backend contract, against the local backend.

struct LocalFixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    backend: Arc<LocalBackend>,
}

fn local_fixture() -> LocalFixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    // The behaviour is chosen by a marker in the prompt *file*; the script reads
    // the file, it never evaluates it.
    let script = write_script(
        &dir,
        "contract-agent.sh",
        r#"session="sess-$$"
if [ "$2" = "--resume" ]; then session="$3"; fi
echo '{"type":"system","subtype":"init","session_id":"'"$session"'"}'
if grep -q CONTRACT-HANG "$1"; then sleep 1000 & wait; fi
if grep -q CONTRACT-FAIL "$1"; then echo "it broke" >&2; exit 4; fi
echo '{"type":"assistant","message":{"content":[{"type":"text","text":"working"}]}}'
echo '{"type":"result","subtype":"success","is_error":false,"result":"did the thing","session_id":"'"$session"'","total_cost_usd":0.01}'"#,
    );
    let s = script.to_string_lossy().into_owned();
    let spec = LocalSpec {
        preset: "claude".into(),
        argv: vec![s.clone(), "{prompt_file}".into()],
        resume_argv: Some(vec![s, "{prompt_file}".into(), "--resume".into(), "{session}".into()]),
        format: StreamFormat::ClaudeStream,
    };
    let backend = Arc::new(LocalBackend::new("scripted", spec, Default::default(), None));
    LocalFixture { _tmp: tmp, dir, backend }
}

#[async_trait]
impl Fixture for LocalFixture {
    fn backend(&self) -> Arc<dyn AgentBackend> {
        self.backend.clone()
    }
    fn request(&self, behaviour: Behaviour) -> StartRequest {
        let n: u64 = rand_suffix();
        let work = self.dir.join(format!("work-{n}"));
        std::fs::create_dir_all(&work).unwrap();
        let marker = match behaviour {
            Behaviour::Succeed => "CONTRACT-OK",
            Behaviour::Fail => "CONTRACT-FAIL",
            Behaviour::Hang => "CONTRACT-HANG",
        };
        StartRequest {
            task_id: 1,
            title: "contract".into(),
            prompt: format!("Do it. {marker}. And $(touch /tmp/never) `x` ; 'quotes'"),
            workdir: work.clone(),
            log_path: self.dir.join(format!("log-{n}.log")),
            ..StartRequest::default()
        }
    }
    async fn still_running(&self, run: &RunRef) -> bool {
        run.pid.is_some_and(group_alive)
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst) * 1000 + u64::from(std::process::id() % 1000)
}

/// Is any live process in process group `pgid`?
fn group_alive(pgid: u32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else { return false };
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some(close) = stat.rfind(')') else { continue };
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // fields[0] = state, fields[2] = pgrp
        if fields.len() > 2 && fields[2] == pgid.to_string() && fields[0] != "Z" && fields[0] != "X" {
            return true;
        }
    }
    false
}

capcom::agent_backend_contract!(contract_local, crate::local_fixture());

// ---------------------------------------------------------------------------
// Review outcomes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_scope_change_is_ready_with_every_review_step_recorded() {
    let lab = Lab::new(one_agent("good", Agentry::good), "").await;
    let id = lab.submit(spec("Update the button", "good")).await;
    let t = lab.settled(id).await;
    assert_eq!(t.state, TaskState::Ready, "{:?}", t.reason);
    assert_eq!(t.reason.as_deref(), Some("Checks green, 1 file changed"));
    assert_eq!(t.branch.as_deref(), Some(format!("capcom/{id}-update-the-button").as_str()));
    let head = git(&lab.repo, &["rev-parse", t.branch.as_deref().unwrap()]);
    assert_eq!(t.head_sha.as_deref(), Some(head.as_str()), "the reviewed head is recorded");
    // Every step, in order.
    let kinds: Vec<String> = lab.store.events(id).unwrap().into_iter().map(|e| e.kind).collect();
    let order = ["created", "worktree", "started", "finished", "review", "check", "scope", "secret", "diffstat", "review_result"];
    let mut at = 0;
    for k in order {
        let pos = kinds[at..].iter().position(|x| x == k).unwrap_or_else(|| panic!("no `{k}` after {at} in {kinds:?}"));
        at += pos + 1;
    }
    let check = &lab.events(id, "check")[0];
    let data = check.data.as_ref().unwrap();
    assert_eq!(data["name"], "test");
    assert_eq!(data["ok"], true);
    assert_eq!(data["exit"], 0);
    assert!(data["duration_ms"].is_u64() && data["tail"].is_string());
    let stat = lab.events(id, "diffstat")[0].data.clone().unwrap();
    assert_eq!(stat["files"], 1);
    assert_eq!(stat["paths"][0], "components/button.txt");
    // The run is recorded with its session, cost and summary; the prompt and task file stay out of git.
    let runs = lab.store.runs(id).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].session_id.as_deref(), Some("sess-1"));
    assert_eq!(runs[0].cost_usd, Some(0.02));
    assert_eq!(runs[0].summary.as_deref(), Some("Updated the button."));
    assert!(runs[0].pid.is_some() && runs[0].pid_start.is_some());
    let wt = PathBuf::from(t.worktree.unwrap());
    assert!(wt.join(".capcom/task.json").exists());
    let tracked = git(&wt, &["ls-files"]);
    assert!(!tracked.contains(".capcom"), "{tracked}");
    // The user's checkout did not move.
    assert_eq!(std::fs::read_to_string(lab.repo.join("components/button.txt")).unwrap(), "button v1\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_are_auto_committed() {
    let lab = Lab::new(one_agent("lazy", Agentry::lazy), "").await;
    let id = lab.submit(spec("Add a file", "lazy")).await;
    let t = lab.settled(id).await;
    assert_eq!(t.state, TaskState::Ready, "{:?}", t.reason);
    assert_eq!(lab.events(id, "autocommit").len(), 1);
    let files = git(&lab.repo, &["show", "--name-only", "--format=%s", t.branch.as_deref().unwrap()]);
    assert!(files.contains("uncommitted changes left by lazy"), "{files}");
    assert!(files.contains("components/new.txt"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_scope_change_needs_attention_and_names_the_path() {
    let lab = Lab::new(one_agent("outside", Agentry::outside), "").await;
    let id = lab.submit(spec("Update the button", "outside")).await;
    let t = lab.settled(id).await;
    assert_eq!(t.state, TaskState::NeedsAttention);
    assert!(t.reason.as_deref().unwrap().contains("outside the scope: app/page.txt"), "{:?}", t.reason);
    let scope = lab.events(id, "scope")[0].data.clone().unwrap();
    assert_eq!(scope["violations"], serde_json::json!(["app/page.txt"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_needs_attention_without_repeating_it() {
    let lab = Lab::new(one_agent("leaky", Agentry::leaky), "").await;
    let id = lab.submit(spec("Add config", "leaky")).await;
    let t = lab.settled(id).await;
    assert_eq!(t.state, TaskState::NeedsAttention);
    let reason = t.reason.unwrap();
    assert!(reason.contains("AWS access key in components/config.js line 1"), "{reason}");
    let all = serde_json::to_string(&lab.store.events(id).unwrap()).unwrap();
    assert!(!all.contains(&format!("AKIA{}", "ABCDEFGHIJKLMNOP")), "the secret itself is never recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_red_check_needs_attention_with_its_output() {
    let lab = Lab::new(one_agent("good", Agentry::good), "").await;
    let mut s = spec("Update the button", "good");
    s.acceptance = vec![
        Criterion { text: "tests pass".into(), check: Some("red".into()) },
        Criterion { text: "looks right".into(), check: None },
    ];
    let id = lab.submit(s).await;
    let t = lab.settled(id).await;
    assert_eq!(t.state, TaskState::NeedsAttention);
    assert!(t.reason.as_deref().unwrap().contains("Check `red` failed (exit 1)"), "{:?}", t.reason);
    let check = lab.events(id, "check")[0].data.clone().unwrap();
    assert_eq!(check["ok"], false);
    assert_eq!(check["exit"], 1);
    assert_eq!(check["tail"], "2 tests failed");
    assert_eq!(lab.events(id, "manual").len(), 1, "a criterion without a check stays manual");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_fails_with_the_log_tail() {
    let lab = Lab::new(one_agent("crash", Agentry::crash), "").await;
    let id = lab.submit(spec("Crash", "crash")).await;
    let t = lab.settled(id).await;
    assert_eq!(t.state, TaskState::Failed);
    assert_eq!(t.reason.as_deref(), Some("the agent exited with status 3"));
    let failed = lab.events(id, "failed");
    assert!(failed[0].data.as_ref().unwrap()["log_tail"].as_str().unwrap().contains("segmentation fault"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hang_is_killed_at_the_timeout() {
    let lab = Lab::new(|a, root| agent_toml("hang", &a.hang(root)), "timeout = \"1s\"").await;
    let id = lab.submit(spec("Hang", "hang")).await;
    let t = lab.settled(id).await;
    assert_eq!(t.state, TaskState::Failed);
    assert!(t.reason.as_deref().unwrap().starts_with("timed out after 1s"), "{:?}", t.reason);
    let helper = read_pid(&lab.root.join(format!("helper-{id}")));
    assert!(gone(helper).await, "the agent's child was killed with it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_kills_the_whole_process_group() {
    let lab = Lab::new(|a, root| agent_toml("hang", &a.hang(root)), "").await;
    let id = lab.submit(spec("Hang", "hang")).await;
    let agent = read_pid(&lab.root.join(format!("agent-{id}")));
    let helper = read_pid(&lab.root.join(format!("helper-{id}")));
    assert!(process_alive(helper, None));
    let said = lab.handle.cancel(id).await.unwrap();
    assert!(said.contains("Cancelled task"), "{said}");
    assert_eq!(lab.store.task(id).unwrap().state, TaskState::Cancelled);
    assert!(gone(agent).await && gone(helper).await, "agent and its child are both gone");
    assert!(lab.handle.cancel(id).await.is_err(), "cancelling twice says it is already cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_tasks_with_max_parallel_three_never_run_more_than_three() {
    let lab = Lab::new(|a, root| agent_toml("counted", &a.counted(&root.join("count.log"))), "").await;
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(lab.submit(spec(&format!("Count {i}"), "counted")).await);
    }
    for id in &ids {
        let t = lab.settled(*id).await;
        assert_eq!(t.state, TaskState::Ready, "{:?}", t.reason);
    }
    let log = std::fs::read_to_string(lab.root.join("count.log")).unwrap();
    let (mut now, mut peak, mut starts) = (0i32, 0i32, 0);
    for line in log.lines() {
        if line.starts_with("start") {
            now += 1;
            starts += 1;
        } else {
            now -= 1;
        }
        peak = peak.max(now);
    }
    assert_eq!(starts, 8);
    assert!(peak <= 3, "peak concurrency {peak}:\n{log}");
    assert!(peak >= 2, "the queue did run tasks side by side:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_task_does_not_run_and_keeps_its_question() {
    let lab = Lab::new(one_agent("good", Agentry::good), "").await;
    let mut s = spec("Make it better", "good");
    s.readiness = capcom::understand::Readiness {
        ready: false,
        score: 0.2,
        problems: vec!["no scope".into()],
        question: Some("Which part should get better?".into()),
    };
    let id = lab.submit(s).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = lab.store.task(id).unwrap();
    assert_eq!(t.state, TaskState::Held);
    assert_eq!(t.reason.as_deref(), Some("Which part should get better?"));
    assert!(lab.store.runs(id).unwrap().is_empty());
    // Releasing it (retry) runs it.
    lab.handle.retry(id).await.unwrap();
    assert_eq!(lab.settled(id).await.state, TaskState::Ready);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_uses_a_fresh_worktree_and_follow_up_the_same_one() {
    let lab = Lab::new(|a, _| format!("{}{}", agent_toml("outside", &a.outside()), agent_toml("lazy", &a.lazy())), "").await;
    let id = lab.submit(spec("Update the button", "outside")).await;
    let t = lab.settled(id).await;
    assert_eq!(t.state, TaskState::NeedsAttention);
    let wt = PathBuf::from(t.worktree.clone().unwrap());
    // Something left in the worktree between runs.
    std::fs::write(wt.join("components/marker.txt"), "here\n").unwrap();
    // Follow-up: the same worktree, so the earlier commit and the marker are still there.
    lab.handle.follow_up(id, "also add new.txt").await.unwrap();
    let t2 = lab.wait_until(id, "a second run", |t| lab.store.runs(t.id).map(|r| r.len() == 2).unwrap_or(false) && !t.state.is_active() && t.state != TaskState::Queued).await;
    assert_eq!(t2.worktree, t.worktree);
    let log = git(&lab.repo, &["log", "--format=%s", t2.branch.as_deref().unwrap()]);
    assert!(log.contains("agent: too much"), "the follow-up builds on the first run: {log}");
    assert!(wt.join("components/marker.txt").exists());
    assert!(git(&lab.repo, &["ls-tree", "-r", "--name-only", t2.branch.as_deref().unwrap()]).contains("components/marker.txt"));
    // Retry: a fresh worktree from the base, so the earlier commits and the marker are gone.
    lab.handle.retry(id).await.unwrap();
    let t3 = lab.wait_until(id, "a third run", |t| lab.store.runs(t.id).map(|r| r.len() == 3).unwrap_or(false) && !t.state.is_active() && t.state != TaskState::Queued).await;
    assert!(!wt.join("components/marker.txt").exists());
    let head = t3.head_sha.unwrap();
    assert_eq!(git(&lab.repo, &["rev-list", "--count", &format!("main..{head}")]), "1", "a retry starts again from the base");
    assert_eq!(git(&lab.repo, &["rev-parse", &format!("{head}~1")]), git(&lab.repo, &["rev-parse", "main"]));
}

// ---------------------------------------------------------------------------
// The merge gate

async fn ready_task(lab: &Lab) -> Task {
    let id = lab.submit(spec("Upgrade Tailwind", "good")).await;
    let t = lab.settled(id).await;
    assert_eq!(t.state, TaskState::Ready, "{:?}", t.reason);
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_merges_and_brings_the_users_checkout_of_the_base_along() {
    let lab = Lab::new(one_agent("good", Agentry::good), "").await;
    let t = ready_task(&lab).await;
    // The user has the base checked out, with an untracked scratch file.
    std::fs::write(lab.repo.join("scratch.txt"), "mine\n").unwrap();
    let old_main = git(&lab.repo, &["rev-parse", "main"]);

    let gate = lab.gate();
    let now = tokio::time::Instant::now();
    let p = gate.propose(t.id, chrono::Utc::now(), now).unwrap();
    assert_eq!(p.question, format!("Merge task {}, 'Upgrade Tailwind', into main? Checks green, 1 file changed.", t.id));
    assert_eq!(p.code.len(), 4);
    assert_eq!(Some(p.head.clone()), t.head_sha);
    let merged = gate.confirm(&p, Some(&p.code), now).unwrap();
    assert_eq!(merged.method, "merge");
    assert_eq!(merged.note, None, "nothing is left for the user to do");

    let new_main = git(&lab.repo, &["rev-parse", "main"]);
    assert_eq!(merged.new, new_main);
    assert_eq!(git(&lab.repo, &["rev-parse", "main^1"]), old_main);
    assert_eq!(git(&lab.repo, &["rev-parse", "main^2"]), p.head);
    assert_eq!(git(&lab.repo, &["show", "main:components/button.txt"]), "button v2");
    // The user's checkout moved with its branch, as `git checkout` would have moved it: no
    // staged reversal of the merge, the merged files on disk, their own file untouched.
    assert_eq!(git(&lab.repo, &["status", "--porcelain"]), "?? scratch.txt");
    assert_eq!(std::fs::read_to_string(lab.repo.join("components/button.txt")).unwrap(), "button v2\n");
    assert_eq!(std::fs::read_to_string(lab.repo.join("scratch.txt")).unwrap(), "mine\n");

    let t = lab.store.task(t.id).unwrap();
    assert_eq!(t.state, TaskState::Merged);
    assert!(!Path::new(t.worktree.as_deref().unwrap()).exists(), "the worktree is removed");
    let audit = lab.store.audit_log(10).unwrap();
    assert!(audit.iter().any(|a| a.action == "merge" && a.task_id == Some(t.id)));
    let events = lab.store.events(t.id).unwrap();
    let intent = events.iter().find(|e| e.kind == "merge_intent").expect("the intent was written before the ref moved");
    assert_eq!(intent.data.as_ref().unwrap()["new"], new_main.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_worktree_of_the_base_is_brought_along_too() {
    let lab = Lab::new(one_agent("good", Agentry::good), "").await;
    let t = ready_task(&lab).await;
    // The main checkout is on another branch; `main` lives in a linked worktree.
    git(&lab.repo, &["switch", "-q", "-c", "elsewhere"]);
    let linked = lab.repo.parent().unwrap().join("main-wt");
    git(&lab.repo, &["worktree", "add", "-q", linked.to_str().unwrap(), "main"]);
    let gate = lab.gate();
    let now = tokio::time::Instant::now();
    let p = gate.propose(t.id, chrono::Utc::now(), now).unwrap();
    let merged = gate.confirm(&p, None, now).unwrap();
    assert_eq!(merged.note, None);
    assert_eq!(git(&linked, &["rev-parse", "HEAD"]), merged.new);
    assert_eq!(git(&linked, &["status", "--porcelain"]), "");
    assert_eq!(std::fs::read_to_string(linked.join("components/button.txt")).unwrap(), "button v2\n");
    // The checkout on the other branch was not touched.
    assert_eq!(git(&lab.repo, &["status", "--porcelain"]), "");
    assert_eq!(std::fs::read_to_string(lab.repo.join("components/button.txt")).unwrap(), "button v1\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_the_merge_would_overwrite_refuses_and_merges_nothing() {
    let lab = Lab::new(one_agent("lazy", Agentry::lazy), "").await;
    let id = lab.submit(spec("Add new.txt", "lazy")).await;
    let t = lab.settled(id).await;
    assert_eq!(t.state, TaskState::Ready, "{:?}", t.reason);
    // The user has an untracked file where the merge would write one.
    std::fs::write(lab.repo.join("components/new.txt"), "the user's own\n").unwrap();
    let main_before = git(&lab.repo, &["rev-parse", "main"]);
    let gate = lab.gate();
    let now = tokio::time::Instant::now();
    let p = gate.propose(t.id, chrono::Utc::now(), now).unwrap();
    let r = gate.confirm(&p, None, now).unwrap_err();
    assert!(r.reason.contains("components/new.txt") && r.reason.contains("Nothing merged"), "{}", r.reason);
    assert_eq!(git(&lab.repo, &["rev-parse", "main"]), main_before, "main never moved");
    assert_eq!(std::fs::read_to_string(lab.repo.join("components/new.txt")).unwrap(), "the user's own\n");
    assert_eq!(git(&lab.repo, &["status", "--porcelain"]), "?? components/new.txt");
    assert_eq!(lab.store.task(t.id).unwrap().state, TaskState::Ready);
    // Moved out of the way, the same question merges.
    std::fs::remove_file(lab.repo.join("components/new.txt")).unwrap();
    gate.confirm(&p, None, now).unwrap();
    assert_eq!(git(&lab.repo, &["status", "--porcelain"]), "");
    assert_eq!(std::fs::read_to_string(lab.repo.join("components/new.txt")).unwrap(), "new\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn squash_and_fast_forward_methods() {
    for (method, parents) in [("squash", 1), ("fast-forward", 1)] {
        let lab = Lab::new(one_agent("good", Agentry::good), &format!("merge_method = \"{method}\"")).await;
        let t = ready_task(&lab).await;
        let gate = lab.gate();
        let now = tokio::time::Instant::now();
        let p = gate.propose(t.id, chrono::Utc::now(), now).unwrap();
        let m = gate.confirm(&p, None, now).unwrap();
        assert_eq!(m.method, method);
        let line = git(&lab.repo, &["rev-list", "--parents", "-n", "1", "main"]);
        assert_eq!(line.split_whitespace().count() - 1, parents, "{method}: {line}");
        if method == "fast-forward" {
            assert_eq!(m.new, p.head);
        } else {
            assert_ne!(m.new, p.head);
            assert_eq!(git(&lab.repo, &["show", "main:components/button.txt"]), "button v2");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_say_why_and_change_nothing() {
    let lab = Lab::new(one_agent("good", Agentry::good), "").await;
    let t = ready_task(&lab).await;
    let gate = lab.gate();
    let main_before = git(&lab.repo, &["rev-parse", "main"]);
    let now = tokio::time::Instant::now();
    let p = gate.propose(t.id, chrono::Utc::now(), now).unwrap();

    // Expired.
    let late = p.deadline + Duration::from_millis(1);
    let r = gate.confirm(&p, None, late).unwrap_err();
    assert!(r.reason.contains("expired"), "{}", r.reason);
    // Wrong code.
    let r = gate.confirm(&p, Some("0000x"), now).unwrap_err();
    assert!(r.reason.contains("does not match"), "{}", r.reason);
    // The user's checkout of main has uncommitted changes.
    std::fs::write(lab.repo.join("README.md"), "edited\n").unwrap();
    let r = gate.confirm(&p, None, now).unwrap_err();
    assert!(r.reason.contains("uncommitted changes"), "{}", r.reason);
    git(&lab.repo, &["checkout", "--", "README.md"]);
    // The branch moved after the question.
    let wt = PathBuf::from(t.worktree.clone().unwrap());
    std::fs::write(wt.join("components/extra.txt"), "x\n").unwrap();
    git(&wt, &["add", "-A"]);
    git(&wt, &["-c", "user.name=u", "-c", "user.email=u@example.com", "commit", "-qm", "sneaky"]);
    let r = gate.confirm(&p, None, now).unwrap_err();
    assert!(r.reason.contains("moved since you were asked"), "{}", r.reason);
    // A new question is refused too: the new commit was never reviewed.
    let r = gate.propose(t.id, chrono::Utc::now(), now).unwrap_err();
    assert!(r.reason.contains("not reviewed"), "{}", r.reason);

    assert_eq!(git(&lab.repo, &["rev-parse", "main"]), main_before, "main never moved");
    assert_eq!(lab.store.task(t.id).unwrap().state, TaskState::Ready);
    // Not ready at all.
    let id2 = lab.submit(spec("Held one", "nobody")).await;
    let r = gate.propose(id2, chrono::Utc::now(), now).unwrap_err();
    assert!(r.reason.contains("not ready"), "{}", r.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_conflict_moves_the_task_to_needs_attention() {
    let lab = Lab::new(one_agent("good", Agentry::good), "").await;
    let t = ready_task(&lab).await;
    let gate = lab.gate();
    let now = tokio::time::Instant::now();
    let asked = gate.propose(t.id, chrono::Utc::now(), now).unwrap();
    // Someone changes the same line on main meanwhile.
    std::fs::write(lab.repo.join("components/button.txt"), "button v3 by hand\n").unwrap();
    git(&lab.repo, &["-c", "user.name=u", "-c", "user.email=u@example.com", "commit", "-qam", "by hand"]);
    let main_before = git(&lab.repo, &["rev-parse", "main"]);
    // The question asked before the base moved no longer merges; no new one is asked about
    // a head reviewed against the old base.
    let r = gate.confirm(&asked, None, now).unwrap_err();
    assert!(r.stale && r.reason.contains("main moved since you were asked"), "{r:?}");
    let r = gate.propose(t.id, chrono::Utc::now(), now).unwrap_err();
    assert!(r.stale && r.reason.contains("main moved since task"), "{r:?}");
    // Brought up to date: the conflict is found, aborted, and named.
    let up = lab.handle.update_task(t.id).await;
    assert_eq!(up.step, dispatch::train::Step::Conflict { files: vec!["components/button.txt".into()], handed_back: false });
    let t = lab.store.task(t.id).unwrap();
    assert_eq!(t.state, TaskState::NeedsAttention);
    assert!(t.reason.unwrap().contains("conflicts in components/button.txt"));
    assert_eq!(git(&lab.repo, &["rev-parse", "main"]), main_before);
    assert_eq!(std::fs::read_to_string(lab.repo.join("components/button.txt")).unwrap(), "button v3 by hand\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_resolve_conflicts_a_train_conflict_goes_back_to_the_agent_with_the_files() {
    let lab = Lab::new(one_agent("good", Agentry::good), "resolve_conflicts = true").await;
    let t = ready_task(&lab).await;
    std::fs::write(lab.repo.join("components/button.txt"), "button v3 by hand\n").unwrap();
    git(&lab.repo, &["-c", "user.name=u", "-c", "user.email=u@example.com", "commit", "-qam", "by hand"]);
    let up = lab.handle.update_task(t.id).await;
    assert_eq!(up.step, dispatch::train::Step::Conflict { files: vec!["components/button.txt".into()], handed_back: true });
    let events = lab.store.events(t.id).unwrap();
    let follow = events.iter().rev().find(|e| e.kind == "follow_up").expect("a follow-up was sent");
    assert!(follow.message.starts_with("Resolve the conflicts with main in these files: components/button.txt."), "{}", follow.message);
    // The agent runs again on it (the stand-in just writes the button again and commits).
    let t = lab.settled(t.id).await;
    assert!(lab.store.runs(t.id).unwrap().len() >= 2, "the agent ran again");
}

// ---------------------------------------------------------------------------
// The daemon, driven by the CLI

use common::{Daemon, stderr, stdout};

fn daemon_config(root: &Path, agents_toml: &str, extra: &str) -> (PathBuf, String) {
    let repo = make_repo(root);
    (repo.clone(), format!("{}\n{agents_toml}", base_toml(&repo, extra)))
}

fn brief_intent(d: &Daemon, specs: &[TaskSpec]) -> serde_json::Value {
    let intent = serde_json::json!({"intent": "dispatch", "tasks": specs, "confidence": 1.0});
    post_intent(d, "scripted brief", intent)
}

fn state_of(v: &serde_json::Value) -> String {
    v["task"]["state"].as_str().unwrap_or("").to_string()
}

#[test]
fn daemon_brief_merge_and_confirm_through_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let agents = Agentry::new(tmp.path());
    let (repo, cfg) = daemon_config(tmp.path(), &agent_toml("good", &agents.good()), "");
    let d = Daemon::start(&cfg);
    let reply = brief_intent(&d, &[spec("Upgrade Tailwind", "good")]);
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["tasks"][0]["agent"], "good");
    assert_eq!(reply["tasks"][0]["why"], "you asked for good");
    let id = reply["tasks"][0]["id"].as_i64().unwrap();
    wait_daemon_task(&d, id, "ready", |v| state_of(v) == "ready");

    // `task ID` shows the review.
    let out = d.cli(&["task", &id.to_string()]);
    let text = stdout(&out);
    assert!(text.contains("check") && text.contains("test") && text.contains("diffstat"), "{text}");

    // Nothing pending yet.
    let out = d.cli(&["confirm"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Nothing is waiting"), "{}", stderr(&out));

    let out = d.cli(&["merge", &id.to_string(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let q: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    for k in ["question", "code", "task", "head", "expires_at"] {
        assert!(!q[k].is_null(), "{k} missing in {q}");
    }
    assert_eq!(q["question"], format!("Merge task {id}, 'Upgrade Tailwind', into main? Checks green, 1 file changed."));
    let code = q["code"].as_str().unwrap().to_string();
    let out = d.cli(&["confirm", &code]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("Merged task {id} into main")), "{}", stdout(&out));
    assert_eq!(git(&repo, &["show", "main:components/button.txt"]), "button v2");
    // The user's checkout of main moved with it: no staged reversal of the merge.
    assert_eq!(std::fs::read_to_string(repo.join("components/button.txt")).unwrap(), "button v2\n");
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    wait_daemon_task(&d, id, "merged", |v| state_of(v) == "merged");
}

/// A ready task through the daemon; (daemon, repo, task id, its worktree).
fn daemon_ready_task(tmp: &Path, extra: &str, env: &[(&str, &str)]) -> (Daemon, PathBuf, i64, PathBuf) {
    let agents = Agentry::new(tmp);
    let (repo, cfg) = daemon_config(tmp, &agent_toml("good", &agents.good()), extra);
    let d = Daemon::start_env(&cfg, env);
    let reply = brief_intent(&d, &[spec("Upgrade Tailwind", "good")]);
    let id = reply["tasks"][0]["id"].as_i64().unwrap();
    let v = wait_daemon_task(&d, id, "ready", |v| state_of(v) == "ready");
    let wt = PathBuf::from(v["task"]["worktree"].as_str().unwrap());
    (d, repo, id, wt)
}

#[test]
fn a_crash_right_after_the_base_ref_moved_is_finished_on_restart() {
    let tmp = tempfile::tempdir().unwrap();
    // Squash: the task's head is not in main afterwards, so only the intent can tell.
    let (mut d, repo, id, wt) = daemon_ready_task(tmp.path(), "merge_method = \"squash\"", &[("CAPCOM_TEST_KILL_AT", "merge-after-ref")]);
    let old_main = git(&repo, &["rev-parse", "main"]);
    let out = d.cli(&["merge", &id.to_string(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let q: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let out = d.cli(&["confirm", q["code"].as_str().unwrap()]);
    assert!(!out.status.success(), "the daemon dies right after moving main: {}", stdout(&out));
    d.kill9();
    // The crash point: main moved, the task is still `ready`, its worktree and branch are
    // there, and the user's checkout still holds the old files.
    let new_main = git(&repo, &["rev-parse", "main"]);
    assert_ne!(new_main, old_main);
    assert_eq!(git(&repo, &["rev-parse", "main^"]), old_main);
    let store = Store::open(&DataDir::new(d.data.clone()).db()).unwrap();
    assert_eq!(store.task(id).unwrap().state, TaskState::Ready);
    assert!(wt.exists());
    assert_eq!(std::fs::read_to_string(repo.join("components/button.txt")).unwrap(), "button v1\n");
    drop(store);

    d.boot(&[]);
    let v = wait_daemon_task(&d, id, "merged", |v| state_of(v) == "merged");
    let reason = v["task"]["reason"].as_str().unwrap();
    assert!(reason.contains(&new_main[..7]), "the merge commit is named: {reason}");
    assert_eq!(git(&repo, &["rev-parse", "main"]), new_main, "merged once, not twice");
    assert!(!wt.exists(), "the worktree is removed");
    assert_eq!(git(&repo, &["branch", "--list", "capcom/*"]), "", "the branch is removed");
    assert_eq!(git(&repo, &["status", "--porcelain"]), "", "the checkout was brought to the merge");
    assert_eq!(std::fs::read_to_string(repo.join("components/button.txt")).unwrap(), "button v2\n");
    // Asking again says it is merged, not "the agent changed nothing".
    let out = d.cli(&["merge", &id.to_string()]);
    assert!(stderr(&out).contains("already merged") || stdout(&out).contains("already merged"), "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn a_ready_task_whose_head_main_already_holds_is_merged_on_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut d, repo, id, _wt) = daemon_ready_task(tmp.path(), "", &[]);
    d.stop();
    // The ref moved with no intent recorded (a crash before it, or a merge by hand).
    let head = task_head(&d, id);
    let tree = git(&repo, &["merge-tree", "--write-tree", "main", &head]);
    let merge = git(&repo, &["commit-tree", &tree, "-p", "main", "-p", &head, "-m", "merge"]);
    git(&repo, &["update-ref", "refs/heads/main", &merge]);
    git(&repo, &["reset", "-q", "--hard"]);
    d.boot(&[]);
    let v = wait_daemon_task(&d, id, "merged", |v| state_of(v) == "merged");
    let reason = v["task"]["reason"].as_str().unwrap();
    assert!(reason.contains(&merge[..7]), "the merge commit found is named: {reason}");
}

fn task_head(d: &Daemon, id: i64) -> String {
    let store = Store::open(&DataDir::new(d.data.clone()).db()).unwrap();
    store.task(id).unwrap().head_sha.unwrap()
}

#[test]
fn daemon_spoken_style_brief_through_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let agents = Agentry::new(tmp.path());
    let routes = "[[routes]]\nkind = \"dependency-upgrade\"\nagent = \"good\"\n";
    let (repo, cfg) = daemon_config(tmp.path(), &format!("{}{routes}", agent_toml("good", &agents.good())), "");
    let d = Daemon::start(&cfg);
    let out = d.cli(&[
        "brief",
        "Bump all Tailwind packages to the latest stable version. Fix breaking changes in the components directory only, \
         leave app routes untouched. Acceptance criteria: tests pass.",
        "--json",
    ]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let a: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(a["intent"], "dispatch", "{a}");
    let t = &a["tasks"][0];
    assert_eq!(t["agent"], "good", "{a}");
    assert_eq!(t["why"], "the route for dependency-upgrade tasks");
    assert_eq!(t["state"], "queued", "{a}");
    let id = t["id"].as_i64().unwrap();
    let v = wait_daemon_task(&d, id, "reviewed", |v| matches!(state_of(v).as_str(), "ready" | "needs_attention" | "failed"));
    assert_eq!(state_of(&v), "ready", "{}", v["task"]["reason"]);
    assert_eq!(v["task"]["spec"]["scope"]["include"][0], "components/");
    // Spoken merges ask the same question, and a spoken confirmation merges.
    let out = d.cli(&["brief", &format!("Merge task {id}.")]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).starts_with(&format!("Merge task {id}, '")), "{}", stdout(&out));
    let out = d.cli(&["brief", "Confirm."]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(&format!("Merged task {id} into main")), "{}", stdout(&out));
    assert_eq!(git(&repo, &["show", "main:components/button.txt"]), "button v2");
    // The words were stored before anything acted on them.
    let out = d.cli(&["history", "--json"]);
    assert!(stdout(&out).contains("Bump all Tailwind packages"), "{}", stdout(&out));
    // A brief that is not ready is held, and the answer is its question.
    let out = d.cli(&["brief", "Fix the typo in the README heading. Only touch README.md."]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("is on hold: "), "{}", stdout(&out));
    let held = d.cli(&["tasks", "--json"]);
    let tasks: serde_json::Value = serde_json::from_str(&stdout(&held)).unwrap();
    let t = tasks.as_array().unwrap().iter().find(|t| t["state"] == "held").expect("a held task");
    assert_eq!(t["reason"], t["spec"]["readiness"]["question"], "the reason is the question: {t}");
    assert!(!t["reason"].as_str().unwrap_or("").is_empty());
    let _ = repo;
}

#[test]
fn daemon_confirm_after_expiry_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let agents = Agentry::new(tmp.path());
    let (repo, cfg) = daemon_config(tmp.path(), &agent_toml("good", &agents.good()), "");
    let cfg = cfg.replace("confirm_ttl = \"30s\"", "confirm_ttl = \"1s\"");
    let d = Daemon::start(&cfg);
    let id = brief_intent(&d, &[spec("Upgrade Tailwind", "good")])["tasks"][0]["id"].as_i64().unwrap();
    wait_daemon_task(&d, id, "ready", |v| state_of(v) == "ready");
    let main_before = git(&repo, &["rev-parse", "main"]);
    let out = d.cli(&["merge", &id.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Merge task"), "{}", stdout(&out));
    std::thread::sleep(Duration::from_millis(1500));
    let out = d.cli(&["confirm"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("expired"), "{}", stderr(&out));
    assert_eq!(git(&repo, &["rev-parse", "main"]), main_before);
    assert_eq!(state_of(&task_json(&d, id)), "ready");
}

#[test]
fn daemon_confirm_after_the_branch_moved_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let agents = Agentry::new(tmp.path());
    let (repo, cfg) = daemon_config(tmp.path(), &agent_toml("good", &agents.good()), "");
    let d = Daemon::start(&cfg);
    let id = brief_intent(&d, &[spec("Upgrade Tailwind", "good")])["tasks"][0]["id"].as_i64().unwrap();
    let v = wait_daemon_task(&d, id, "ready", |v| state_of(v) == "ready");
    let out = d.cli(&["merge", &id.to_string(), "--json"]);
    assert!(out.status.success());
    let wt = PathBuf::from(v["task"]["worktree"].as_str().unwrap());
    std::fs::write(wt.join("components/later.txt"), "later\n").unwrap();
    git(&wt, &["add", "-A"]);
    git(&wt, &["-c", "user.name=u", "-c", "user.email=u@example.com", "commit", "-qm", "later"]);
    let main_before = git(&repo, &["rev-parse", "main"]);
    let out = d.cli(&["confirm"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("moved since you were asked"), "{}", stderr(&out));
    assert_eq!(git(&repo, &["rev-parse", "main"]), main_before);
}

#[test]
fn daemon_cancel_kills_the_agent_group() {
    let tmp = tempfile::tempdir().unwrap();
    let agents = Agentry::new(tmp.path());
    let (_repo, cfg) = daemon_config(tmp.path(), &agent_toml("hang", &agents.hang(tmp.path())), "");
    let d = Daemon::start(&cfg);
    let id = brief_intent(&d, &[spec("Hang around", "hang")])["tasks"][0]["id"].as_i64().unwrap();
    let helper = read_pid(&tmp.path().join(format!("helper-{id}")));
    let agent = read_pid(&tmp.path().join(format!("agent-{id}")));
    let out = d.cli(&["cancel", &id.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(state_of(&task_json(&d, id)), "cancelled");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert!(rt.block_on(gone(helper)) && rt.block_on(gone(agent)));
}

#[test]
fn daemon_cancel_in_words_asks_first_and_a_no_keeps_the_agent() {
    let tmp = tempfile::tempdir().unwrap();
    let agents = Agentry::new(tmp.path());
    let (_repo, cfg) = daemon_config(tmp.path(), &agent_toml("hang", &agents.hang(tmp.path())), "");
    let d = Daemon::start(&cfg);
    let id = brief_intent(&d, &[spec("Hang around", "hang")])["tasks"][0]["id"].as_i64().unwrap();
    let agent = read_pid(&tmp.path().join(format!("agent-{id}")));

    let out = d.cli(&["brief", &format!("cancel task {id}")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(said.contains("Say confirm to cancel"), "{said}");
    assert_eq!(state_of(&task_json(&d, id)), "running", "a question must not cancel");

    let out = d.cli(&["brief", "no"]);
    assert!(stdout(&out).contains("keeps going"), "{}", stdout(&out));
    assert_eq!(state_of(&task_json(&d, id)), "running");
    assert!(process_alive(agent, None));

    let out = d.cli(&["brief", &format!("cancel task {id}")]);
    assert!(stdout(&out).contains("Say confirm to cancel"), "{}", stdout(&out));
    let out = d.cli(&["brief", "yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("Cancelled task {id}")), "{}", stdout(&out));
    assert_eq!(state_of(&task_json(&d, id)), "cancelled");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert!(rt.block_on(gone(agent)));
}

#[test]
fn daemon_merge_all_ready_asks_once_and_merges_each_through_the_gate() {
    let tmp = tempfile::tempdir().unwrap();
    // Each task writes a file of its own, so the train's rebases keep every change.
    let own = write_script(
        tmp.path(),
        "own.sh",
        &format!("set -e\n{INIT_LINE}\necho \"task $CAPCOM_TASK_ID\" > components/t$CAPCOM_TASK_ID.txt\n{GIT_ID} add -A\n{GIT_ID} commit -qm own\n{}", result_line("Done.")),
    );
    let toml = format!("{}{}", agent_toml("good", &own), agent_toml("red", &own));
    let (repo, cfg) = daemon_config(tmp.path(), &toml, "");
    let d = Daemon::start(&cfg);
    let mut red = spec("Red one", "red");
    red.acceptance = vec![Criterion { text: "the red check passes".into(), check: Some("red".into()) }];
    let specs = [spec("Upgrade Tailwind", "good"), spec("Fix the header", "good"), spec("Tidy the footer", "good"), red];
    let reply = brief_intent(&d, &specs);
    let ids: Vec<i64> = reply["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect();
    for id in &ids[..3] {
        wait_daemon_task(&d, *id, "ready", |v| state_of(v) == "ready");
    }
    wait_daemon_task(&d, ids[3], "needs_attention", |v| state_of(v) == "needs_attention");

    let out = d.cli(&["brief", "merge all ready"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(said.contains("Merge three ready tasks into main"), "{said}");
    assert!(said.contains("Say confirm to merge them all"), "{said}");
    for id in &ids {
        assert_ne!(state_of(&task_json(&d, *id)), "merged", "a question must not merge");
    }

    // One branch moves after the question: that one is refused, the others merge.
    let moved = task_json(&d, ids[1]);
    let wt = PathBuf::from(moved["task"]["worktree"].as_str().unwrap());
    std::fs::write(wt.join("components/later.txt"), "later\n").unwrap();
    git(&wt, &["add", "-A"]);
    git(&wt, &["-c", "user.name=u", "-c", "user.email=u@example.com", "commit", "-qm", "later"]);

    let out = d.cli(&["brief", "confirm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(said.contains("Merged two tasks into main"), "{said}");
    assert!(said.contains("Fix the header") && said.contains("moved"), "{said}");
    assert_eq!(state_of(&task_json(&d, ids[0])), "merged");
    assert_eq!(state_of(&task_json(&d, ids[2])), "merged");
    assert_eq!(state_of(&task_json(&d, ids[1])), "ready");
    assert_eq!(state_of(&task_json(&d, ids[3])), "needs_attention");
    assert_eq!(git(&repo, &["show", &format!("main:components/t{}.txt", ids[0])]), format!("task {}", ids[0]));
    assert_eq!(git(&repo, &["show", &format!("main:components/t{}.txt", ids[2])]), format!("task {}", ids[2]));
}

#[test]
fn daemon_sigkill_with_five_agents_running_then_restart_ends_every_task_truly() {
    let tmp = tempfile::tempdir().unwrap();
    let go = tmp.path().join("go");
    std::fs::create_dir_all(&go).unwrap();
    let agents = Agentry::new(tmp.path());
    let (_repo, cfg) = daemon_config(tmp.path(), &agent_toml("gated", &agents.gated(&go)), "");
    let cfg = cfg.replace("max_parallel = 3", "max_parallel = 5");
    let mut d = Daemon::start(&cfg);
    let specs: Vec<TaskSpec> = (1..=5).map(|i| spec(&format!("Gated {i}"), "gated")).collect();
    let reply = brief_intent(&d, &specs);
    let ids: Vec<i64> = reply["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 5);
    let mut pids = Vec::new();
    for id in &ids {
        let v = wait_daemon_task(&d, *id, "running with a pid", |v| {
            state_of(v) == "running" && v["runs"][0]["pid"].as_i64().is_some()
        });
        pids.push(v["runs"][0]["pid"].as_i64().unwrap() as u32);
    }

    d.kill9();
    // While capcom is down: task 4 finishes, task 5's agent is killed outright.
    std::fs::write(go.join(format!("go-{}", ids[3])), "").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert!(rt.block_on(gone(pids[3])), "task 4's agent finished");
    unsafe { libc::kill(-(pids[4] as i32), libc::SIGKILL) };
    assert!(rt.block_on(gone(pids[4])));

    d.boot(&[]);
    // Tasks 1-3 are still running: they are watched again, then allowed to finish.
    for id in &ids[..3] {
        std::fs::write(go.join(format!("go-{id}")), "").unwrap();
    }
    let settled = |v: &serde_json::Value| !matches!(state_of(v).as_str(), "running" | "checking" | "queued");
    for (i, id) in ids.iter().enumerate() {
        let v = wait_daemon_task(&d, *id, "a settled state", settled);
        let state = state_of(&v);
        let reason = v["task"]["reason"].as_str().unwrap_or("").to_string();
        match i {
            0..=3 => assert_eq!(state, "ready", "task {id}: {reason}"),
            _ => {
                assert_eq!(state, "failed", "task {id}");
                assert!(reason.starts_with("interrupted"), "{reason}");
            }
        }
    }
    for id in &ids[..3] {
        let v = task_json(&d, *id);
        let kinds: Vec<&str> = v["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert!(kinds.contains(&"reattached"), "task {id} was re-attached: {kinds:?}");
    }
    // Nothing is left running.
    let out = d.cli(&["tasks", "--json"]);
    let tasks: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(tasks.as_array().unwrap().iter().all(|t| t["state"] != "running" && t["state"] != "checking"));
    d.stop();
}

// ---------------------------------------------------------------------------
// Restart reconciliation at the library level: a run whose agent vanished.

/// A task left `running` with an open run whose process is gone, as a killed daemon leaves it.
fn orphan_running_task(lab: &Lab) -> i64 {
    let task = lab.store.create_task(&spec("Orphaned", "good"), TaskState::Queued, None, None, "test").unwrap();
    lab.store
        .update_task(task.id, &capcom::store::TaskUpdate { agent: Some("good".into()), repo: Some("site".into()), ..Default::default() })
        .unwrap();
    lab.store.transition(task.id, None, TaskState::Running, Some("started good")).unwrap();
    let mut gone_child = std::process::Command::new("true").spawn().unwrap();
    let pid = gone_child.id() as i64;
    gone_child.wait().unwrap();
    lab.store
        .start_run(&capcom::store::Run {
            task_id: task.id,
            agent: "good".into(),
            pid: Some(pid),
            pid_start: Some(1),
            log_path: Some(lab.root.join("gone.log").to_string_lossy().into_owned()),
            ..Default::default()
        })
        .unwrap();
    task.id
}

async fn restart(lab: &Lab) -> DispatchHandle {
    let ctx = Ctx {
        config: lab.config.clone().into(),
        data: DataDir::new(lab.root.join("data")),
        store: lab.store.clone(),
        git: Arc::new(GitCli),
        agents: Agents::from_config(&lab.config, None),
        github: None,
    };
    let (tx, stop) = watch::channel(false);
    std::mem::forget(tx); // the restarted dispatcher runs until the test ends
    DispatchHandle::start(ctx, stop).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_agent_fails_as_interrupted_or_is_retried_once() {
    let lab = Lab::new(one_agent("good", Agentry::good), "").await;
    let id = orphan_running_task(&lab);
    let _again = restart(&lab).await;
    let t = lab.settled(id).await;
    assert_eq!(t.state, TaskState::Failed);
    assert!(t.reason.as_deref().unwrap().starts_with("interrupted"), "{:?}", t.reason);
    assert!(lab.store.runs(id).unwrap().iter().all(|r| r.ended_at.is_some()), "no run is left open");

    let lab = Lab::new(one_agent("good", Agentry::good), "retry_interrupted = true").await;
    let id = orphan_running_task(&lab);
    let _again = restart(&lab).await;
    let t = lab.settled(id).await;
    assert_eq!(t.state, TaskState::Ready, "{:?}", t.reason);
    assert_eq!(lab.store.runs(id).unwrap().len(), 2, "retried once, on a fresh run");
    assert_eq!(lab.events(id, "retry").len(), 1);
}
