//! The command line as a newcomer meets it, through the real binary against a headless
//! daemon: messages without HTTP codes, usage mistakes exit 2, `--json` on listings, held
//! tasks that can be answered, a model download that says why it failed, and history retention.

mod common;

use common::scene::Scene;
use common::*;
use std::time::{Duration, Instant};

const PLAIN: &str = "[dispatch]\nmax_parallel = 1\n";

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(out), stderr(out)))
}

fn no_http_code(text: &str) {
    for code in ["HTTP", "400", "404", "409", "500"] {
        assert!(!text.contains(code), "a status code reached the user: {text}");
    }
}

#[test]
fn a_missing_task_is_said_plainly_and_a_daemon_caught_usage_mistake_exits_2() {
    let d = Daemon::start(PLAIN);
    let out = d.cli(&["task", "99"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stderr(&out).trim(), "capcom: no task 99");
    no_http_code(&stderr(&out));

    // The daemon checks the filter; the CLI passes it on. A usage mistake, like clap's.
    let out = d.cli(&["status", "--filter", "nonsense"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("unknown status filter `nonsense`: use finished, running, failed or all"), "{}", stderr(&out));
    no_http_code(&stderr(&out));
    let out = d.cli(&["changelog", "--text", "--since", "yesterday-ish"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    no_http_code(&stderr(&out));
    let out = d.cli(&["history", "delete", "--before", "last tuesday"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("2026-11-01"), "{}", stderr(&out));
    // A refusal is an error, not a usage mistake.
    let out = d.cli(&["answer", "99", "the build passes"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("task 99"), "{}", stderr(&out));
    no_http_code(&stderr(&out));
}

#[test]
fn listings_print_json() {
    let d = Daemon::start(PLAIN);
    let out = d.cli(&["models", "list", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    let models = v["models"].as_array().unwrap();
    assert!(models.iter().any(|m| m["name"] == "base.en" && m["source"] == "catalog" && m["installed"] == false), "{v}");
    assert!(v["dir"].as_str().unwrap().starts_with(d.data.to_str().unwrap()), "{v}");

    let out = d.cli(&["doctor", "--json"]);
    let v = json(&out);
    let checks = v["checks"].as_array().unwrap();
    assert!(checks.iter().all(|c| ["ok", "warn", "fail"].contains(&c["level"].as_str().unwrap())), "{v}");
    let api = checks.iter().find(|c| c["name"] == "api").expect("an api check");
    assert_eq!(api["level"], "ok", "{api}");
    assert!(api["detail"].as_str().unwrap().ends_with("(idle)"), "{api}");
    assert!(checks.iter().any(|c| c["name"] == "recordings"), "{v}");
    // No repo is configured: a failure, and the exit code says so.
    assert_eq!(v["worst"], "fail");
    assert_eq!(out.status.code(), Some(1));

    let out = d.cli(&["changelog", "--text", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    assert!(v["text"].as_str().unwrap().contains("Nothing"), "{v}");
    assert!(v["since"].is_string(), "{v}");

    let out = d.cli(&["changelog", "--help"]);
    assert!(stdout(&out).contains("publishes an episode"), "{}", stdout(&out));
}

/// A daemon with a repo and a do-nothing agent, so held tasks are real and released ones run.
fn held_scene() -> (Scene, Daemon) {
    let scene = Scene::new();
    let agent = scene.agent("noop", "exit 0\n");
    let d = Daemon::start(&scene.config(&agent, "default_agent = \"noop\"", ""));
    (scene, d)
}

const UNREADY: &str = "Fix the typo in the README heading. Only touch README.md.";

/// Brief something that is held; returns its id and question.
fn held(d: &Daemon, words: &str) -> (i64, String) {
    let out = d.cli(&["brief", words, "--json"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let a = json(&out);
    let t = &a["tasks"][0];
    assert_eq!(t["state"], "held", "{a}");
    (t["id"].as_i64().unwrap(), t["question"].as_str().unwrap().to_string())
}

fn tasks(d: &Daemon) -> Vec<serde_json::Value> {
    json(&d.cli(&["tasks", "--all", "--json"])).as_array().unwrap().clone()
}

fn state_of(d: &Daemon, id: i64) -> String {
    tasks(d).iter().find(|t| t["id"] == id).map(|t| t["state"].as_str().unwrap().to_string()).unwrap_or_default()
}

#[test]
fn the_reply_to_a_held_question_answers_it() {
    let (_scene, d) = held_scene();
    let (id, question) = held(&d, UNREADY);
    // Status says what waits for an answer, and how to answer.
    let out = d.cli(&["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("One task waits for your answer: task"), "{}", stdout(&out));
    assert!(stdout(&out).contains(&question), "{}", stdout(&out));
    // The next words answer it: no new task, and it leaves hold.
    let out = d.cli(&["brief", "the tests pass", "--json"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let a = json(&out);
    assert_eq!(a["intent"], "follow_up", "{a}");
    assert!(a["say"].as_str().unwrap().contains(&format!("Task {id} is queued for ")), "{a}");
    assert_eq!(tasks(&d).len(), 1, "the answer made no task of its own");
    assert_ne!(state_of(&d, id), "held");
    let detail = json(&d.cli(&["task", &id.to_string(), "--json"]));
    let answers: Vec<&serde_json::Value> = detail["events"].as_array().unwrap().iter().filter(|e| e["kind"] == "answer").collect();
    assert_eq!(answers.len(), 1, "{detail}");
    assert!(detail["task"]["spec"]["acceptance"].as_array().unwrap().iter().any(|c| c["check"] == "test"), "{detail}");
}

#[test]
fn dispatch_it_anyway_releases_the_held_task() {
    let (_scene, d) = held_scene();
    let (id, _) = held(&d, UNREADY);
    let out = d.cli(&["brief", "dispatch it anyway"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(!stdout(&out).contains("Nothing is waiting"), "{}", stdout(&out));
    assert!(stdout(&out).contains(&format!("Task {id} is queued")), "{}", stdout(&out));
    assert_ne!(state_of(&d, id), "held");
    assert_eq!(tasks(&d).len(), 1);
}

#[test]
fn dispatch_task_n_anyway_releases_that_task() {
    let (_scene, d) = held_scene();
    let (first, _) = held(&d, UNREADY);
    let (second, _) = held(&d, "Tidy up the footer. Only touch footer.html.");
    // Not the one just asked about: named by number.
    let out = d.cli(&["brief", &format!("dispatch task {first} anyway")]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(&format!("Task {first} is queued")), "{}", stdout(&out));
    let all = tasks(&d);
    assert_eq!(all.len(), 2, "no task titled '{first} anyway': {all:?}");
    assert!(all.iter().all(|t| !t["title"].as_str().unwrap().contains("anyway")), "{all:?}");
    assert_ne!(state_of(&d, first), "held");
    assert_eq!(state_of(&d, second), "held");
}

#[test]
fn anyway_with_several_held_tasks_asks_which() {
    let (_scene, d) = held_scene();
    let (a, _) = held(&d, UNREADY);
    let (b, _) = held(&d, "Tidy up the footer. Only touch footer.html.");
    // The question asked last is open: a "no" keeps it held; then "anyway" names no task.
    let out = d.cli(&["brief", "no"]);
    assert!(stdout(&out).contains(&format!("task {b} stays on hold")), "{}\n{}", stdout(&out), stderr(&out));
    let out = d.cli(&["brief", "dispatch it anyway"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("Which one"), "{}", stderr(&out));
    assert_eq!((state_of(&d, a), state_of(&d, b)), ("held".to_string(), "held".to_string()));
    // Status lists both.
    let out = d.cli(&["status", "--filter", "all"]);
    assert!(stdout(&out).contains("Two tasks wait for your answer"), "{}", stdout(&out));
}

#[test]
fn capcom_answer_answers_a_held_task() {
    let (_scene, d) = held_scene();
    let (id, _) = held(&d, UNREADY);
    let (other, _) = held(&d, "Tidy up the footer. Only touch footer.html.");
    let out = d.cli(&["answer", &id.to_string(), "the tests pass"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(&format!("Task {id} is queued")), "{}", stdout(&out));
    assert_ne!(state_of(&d, id), "held");
    assert_eq!(state_of(&d, other), "held");
    // An answer that does not answer leaves it held, and says the question again.
    let out = d.cli(&["answer", &other.to_string(), "hmm", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let a = json(&out);
    assert!(a["say"].as_str().unwrap().starts_with(&format!("Task {other} is still on hold: ")), "{a}");
    assert_eq!(state_of(&d, other), "held");
    // A task that waits on nothing is refused.
    let out = d.cli(&["answer", &id.to_string(), "more"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is not waiting for an answer"), "{}", stderr(&out));
    // Help says how.
    let out = d.cli(&["answer", "--help"]);
    assert!(stdout(&out).contains("dispatch it anyway"), "{}", stdout(&out));
}

#[test]
fn models_fetch_without_network_says_why_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, PLAIN).unwrap();
    let data = dir.path().join("data");

    // Refused: a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = capcom(&cfg, &data)
        .args(["models", "fetch", "tiny.en"])
        .env("CAPCOM_MODEL_MIRROR", format!("http://127.0.0.1:{port}/models"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("refused the connection"), "{err}");
    assert!(err.contains("CAPCOM_MODEL_MIRROR="), "{err}");
    assert!(err.contains(&data.join("models").join("ggml-tiny.en.bin").display().to_string()), "{err}");
    assert!(!err.contains("error sending request"), "{err}");

    // TLS: a local server that is not HTTPS behind an https:// mirror.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        // Answers plain HTTP to whatever comes (a TLS ClientHello), like a misconfigured mirror.
        if let Ok((mut s, _)) = listener.accept() {
            use std::io::{Read, Write};
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    let out = capcom(&cfg, &data)
        .args(["models", "fetch", "tiny.en"])
        .env("CAPCOM_MODEL_MIRROR", format!("https://{addr}/models"))
        .output()
        .unwrap();
    server.join().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("TLS connection"), "{err}");

    // DNS: a name that cannot resolve (RFC 6761 reserves .invalid).
    let out = capcom(&cfg, &data)
        .args(["models", "fetch", "tiny.en"])
        .env("CAPCOM_MODEL_MIRROR", "http://capcom-models.invalid/models")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("could not be resolved") || err.contains("cannot be reached"), "{err}");

    // A server without the file: said without its status code.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            use std::io::{Read, Write};
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    let out = capcom(&cfg, &data)
        .args(["models", "fetch", "tiny.en"])
        .env("CAPCOM_MODEL_MIRROR", format!("http://{addr}/models"))
        .output()
        .unwrap();
    server.join().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("the server has no such file (Not Found)"), "{err}");
    assert!(!err.contains("404"), "{err}");
}

/// Insert an utterance with a recording written `age` ago; returns its id and file.
fn old_clip(data: &std::path::Path, age_days: i64, name: &str) -> (i64, std::path::PathBuf) {
    let store = capcom::store::Store::open(&data.join("capcom.db")).unwrap();
    let audio = data.join("audio");
    std::fs::create_dir_all(&audio).unwrap();
    let wav = audio.join(format!("{name}.wav"));
    std::fs::write(&wav, vec![0u8; 44 + 3200]).unwrap();
    let id = store.insert_utterance(100, Some(&wav.display().to_string()), "voice").unwrap();
    store.set_transcript(id, name, None).unwrap();
    let at = capcom::store::time_str(chrono::Utc::now() - chrono::Duration::days(age_days));
    let conn = rusqlite::Connection::open(data.join("capcom.db")).unwrap();
    conn.execute("UPDATE utterances SET created_at = ?1 WHERE id = ?2", rusqlite::params![at, id]).unwrap();
    let when = std::time::SystemTime::now() - Duration::from_secs(age_days as u64 * 86400);
    std::fs::File::options().write(true).open(&wav).unwrap().set_modified(when).unwrap();
    (id, wav)
}

#[test]
fn old_recordings_are_swept_and_history_can_be_deleted() {
    let mut d = Daemon::start("[store]\nkeep_audio = \"10d\"\n");
    d.stop();
    let (old, old_wav) = old_clip(&d.data, 40, "an old brief");
    let (recent, recent_wav) = old_clip(&d.data, 2, "a recent brief");
    let (older, older_wav) = old_clip(&d.data, 20, "an older brief");
    // A recording no row names any more, long past the period.
    let stray = d.data.join("audio").join("stray.wav");
    std::fs::write(&stray, b"RIFF").unwrap();
    std::fs::File::options().write(true).open(&stray).unwrap().set_modified(std::time::SystemTime::now() - Duration::from_secs(30 * 86400)).unwrap();
    d.boot(&[]);
    // The sweep runs at start.
    let deadline = Instant::now() + Duration::from_secs(60);
    while old_wav.exists() || older_wav.exists() || stray.exists() {
        assert!(Instant::now() < deadline, "the sweep did not run: {}", d.stderr());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(recent_wav.exists(), "a recording inside the period stays");
    let rows = json(&d.cli(&["history", "--json"]));
    let row = |id: i64| rows.as_array().unwrap().iter().find(|r| r["id"] == id).cloned().unwrap_or_else(|| panic!("row {id} kept: {rows}"));
    assert!(row(old)["audio_path"].is_null() && row(old)["transcript"] == "an old brief", "{rows}");
    assert!(row(older)["audio_path"].is_null());
    assert_eq!(row(recent)["audio_path"], recent_wav.display().to_string());
    let text = stdout(&d.cli(&["history"]));
    assert!(text.contains("(recording deleted)"), "{text}");

    // Doctor reports what is kept, and for how long.
    let v = json(&d.cli(&["doctor", "--json"]));
    let rec = v["checks"].as_array().unwrap().iter().find(|c| c["name"] == "recordings").unwrap().clone();
    assert!(rec["detail"].as_str().unwrap().starts_with("1 recording(s), 0.0 MB"), "{rec}");
    assert!(rec["detail"].as_str().unwrap().contains("each kept 10d ([store] keep_audio)"), "{rec}");

    // By hand: one utterance (row and recording), then everything before a date.
    let out = d.cli(&["history", "delete", &recent.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Deleted 1 utterance(s) and 1 recording(s)"), "{}", stdout(&out));
    assert!(!recent_wav.exists());
    let out = d.cli(&["history", "delete", &recent.to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out).trim(), format!("capcom: no utterance {recent} in the history"));
    let out = d.cli(&["history", "delete", "--before", "15d", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r = json(&out);
    let mut gone: Vec<i64> = r["utterances"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    gone.sort();
    assert_eq!(gone, vec![old, older]);
    assert_eq!(json(&d.cli(&["history", "--json"])), serde_json::json!([]));
    // Neither an id nor a date: clap says so.
    let out = d.cli(&["history", "delete"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn keep_audio_forever_keeps_every_recording() {
    let mut d = Daemon::start("[store]\nkeep_audio = \"forever\"\n");
    d.stop();
    let (_, wav) = old_clip(&d.data, 400, "a very old brief");
    d.boot(&[]);
    // The daemon is up and answering; the sweep would have run at start.
    let out = d.cli(&["history", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::thread::sleep(Duration::from_millis(500));
    assert!(wav.exists());
    assert!(d.stderr().contains("recordings are never deleted"), "{}", d.stderr());
}
