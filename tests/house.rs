//! The house: config errors, the CLI contract, the API's token, the store across restarts.

mod common;

use capcom::store::{Store, TaskState};
use capcom::understand::TaskSpec;
use common::*;

const CONFIG: &str = "[dispatch]\nmax_parallel = 2\n";

#[test]
fn a_config_error_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[voice]\nhotkey = \"F9\"\nmodel \"base.en\"\n").unwrap();
    let out = capcom(&bad, &dir.path().join("data")).args(["tasks"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("bad.toml:3:"), "{err}");
}

#[test]
fn an_unknown_key_is_a_warning_not_silence() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[voice]\nhotky = \"F9\"\n").unwrap();
    let out = capcom(&cfg, &dir.path().join("data")).args(["tasks"]).output().unwrap();
    assert!(stderr(&out).contains("voice.hotky"), "{}", stderr(&out));
}

#[test]
fn without_a_daemon_the_cli_exits_3_and_says_how_to_start_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    for args in [&["tasks"][..], &["tasks", "--json"], &["task", "1"], &["history"]] {
        let out = capcom(&cfg, &dir.path().join("data")).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("capcom daemon"), "{}", stderr(&out));
    }
}

#[test]
fn usage_errors_exit_2() {
    let out = std::process::Command::new(BIN).args(["tasks", "--frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_api_requires_the_token() {
    let mut d = Daemon::start(CONFIG);
    assert!(d.addr.starts_with("127.0.0.1:"), "{}", d.addr);
    let (code, body) = d.http("GET", "/v1/tasks", None, None);
    assert_eq!(code, 401, "{body}");
    let (code, _) = d.http("GET", "/v1/tasks", Some("not-the-token"), None);
    assert_eq!(code, 401);
    let (code, body) = d.http("GET", "/v1/tasks", Some(&d.token()), None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body.trim(), "[]");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.data.join("api.token")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(d.stop(), Some(0));
    assert!(!d.data.join("api.addr").exists(), "a clean stop removes api.addr");
}

#[test]
fn tasks_json_on_a_fresh_store_is_an_empty_array() {
    let mut d = Daemon::start(CONFIG);
    let out = d.cli(&["tasks", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, serde_json::json!([]));
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn a_daemon_killed_with_sigkill_loses_no_committed_row() {
    let mut d = Daemon::start(CONFIG);
    // Rows committed while the daemon runs (WAL, a second connection).
    let store = Store::open(&d.data.join("capcom.db")).unwrap();
    let mut ids = Vec::new();
    for i in 0..20 {
        let spec = TaskSpec { title: format!("task {i}"), ..TaskSpec::default() };
        ids.push(store.create_task(&spec, TaskState::Queued, None, None, "test").unwrap().id);
    }
    store.transition(ids[3], None, TaskState::Cancelled, Some("test")).unwrap();
    drop(store);
    d.kill9();
    d.boot(&[]);
    let out = d.cli(&["tasks", "--all", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.len(), 20);
    for t in &v {
        for key in ["id", "title", "state", "reason", "agent", "repo", "branch", "created_at", "updated_at"] {
            assert!(t.get(key).is_some(), "missing {key} in {t}");
        }
        assert!(t["id"].is_i64());
    }
    assert_eq!(v[3]["state"], "cancelled");
    let open = d.cli(&["tasks", "--json"]);
    let open: Vec<serde_json::Value> = serde_json::from_slice(&open.stdout).unwrap();
    assert_eq!(open.len(), 19);
    let detail = d.cli(&["task", &ids[3].to_string(), "--json"]);
    let detail: serde_json::Value = serde_json::from_slice(&detail.stdout).unwrap();
    assert!(detail["events"].as_array().unwrap().iter().any(|e| e["kind"] == "state"));
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn restarting_on_the_same_store_reapplies_no_migration() {
    let mut d = Daemon::start(CONFIG);
    assert_eq!(d.stop(), Some(0));
    d.boot(&[]);
    assert_eq!(d.stop(), Some(0));
    let store = Store::open(&d.data.join("capcom.db")).unwrap();
    assert_eq!(store.schema_version().unwrap(), capcom::store::MIGRATIONS.len() as i64);
}

#[test]
fn doctor_prints_one_line_per_check_with_fixes() {
    let mut d = Daemon::start(CONFIG);
    let out = d.cli(&["doctor"]);
    let text = stdout(&out);
    for name in ["config", "data dir", "store", "api", "hotkey", "microphone", "speech model", "agent claude", "packages"] {
        assert!(text.lines().any(|l| l.contains(&format!("] {name}:"))), "no `{name}` line in:\n{text}");
    }
    assert!(text.lines().any(|l| l.starts_with("[ok  ] api:")), "{text}");
    assert!(text.contains("fix: capcom models fetch base.en"), "{text}");
    assert_eq!(d.stop(), Some(0));
}

/// No two top-level modules import each other (`crate::a` in b and `crate::b` in a):
/// shared types live in the lower module. Test modules are left out.
#[test]
fn no_import_circles_between_top_level_modules() {
    use std::collections::{BTreeMap, BTreeSet};
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") && p.file_name().is_some_and(|n| n != "tests.rs") {
                out.push(p);
            }
        }
    }
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        if top == "main" || top == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        // Unit tests may reach anywhere.
        let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
        for (i, _) in text.match_indices("crate::") {
            let name: String = text[i + 7..].chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect();
            if !name.is_empty() && name != top {
                deps.entry(top.clone()).or_default().insert(name);
            }
        }
    }
    let mut circles = Vec::new();
    for (a, bs) in &deps {
        for b in bs {
            if a < b && deps.get(b).is_some_and(|x| x.contains(a)) {
                circles.push(format!("{a} <-> {b}"));
            }
        }
    }
    assert!(circles.is_empty(), "top-level modules that import each other: {circles:?}");
}

/// Without a sound card ALSA prints dozens of "ALSA lib …" lines while devices are probed;
/// the first line a user reads must be capcom's own.
#[test]
fn doctor_prints_no_alsa_noise() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("c.toml");
    std::fs::write(&config, "").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_capcom"))
        .args(["--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(tmp.path().join("data"))
        .arg("doctor")
        .env("HOME", tmp.path())
        .env("XDG_RUNTIME_DIR", tmp.path())
        .output()
        .unwrap();
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!all.contains("ALSA lib"), "{all}");
    assert!(all.starts_with('['), "the first line is capcom's: {all}");
}
