//! `Idempotency-Key` on `POST /v1/brief`: a brief sent again with the same key gets the first
//! answer and makes no second task, also when the daemon was killed (SIGKILL) after making the
//! task and before keeping its answer; a malformed key is a 400 with a JSON error.

mod common;

use common::Daemon;
use common::scene::Scene;
use std::io::{Read, Write};
use std::time::Duration;

/// (status, head, body) of a brief with the given key, or `None` when the connection broke.
fn brief(d: &Daemon, key: Option<&str>, text: &str) -> Option<(u16, String, String)> {
    let body = serde_json::json!({ "text": text }).to_string();
    let key = key.map(|k| format!("Idempotency-Key: {k}\r\n")).unwrap_or_default();
    let mut s = std::net::TcpStream::connect(&d.addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(120))).ok()?;
    write!(
        s,
        "POST /v1/brief HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer {}\r\n{key}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        d.token(),
        body.len()
    )
    .ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let (head, body) = resp.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, head.to_lowercase(), body.to_string()))
}

fn tasks(d: &Daemon) -> Vec<serde_json::Value> {
    let (status, body) = d.http("GET", "/v1/tasks?all=true", Some(&d.token()), None);
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn ids(answer: &str) -> Vec<i64> {
    let v: serde_json::Value = serde_json::from_str(answer).unwrap();
    v["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect()
}

const TEXT: &str = "fix the footer links on the site";

#[test]
fn the_same_key_twice_makes_one_task_and_gets_the_same_answer() {
    let scene = Scene::new();
    let d = Daemon::start(&scene.config("", "", ""));
    let (status, head, first) = brief(&d, Some("key-1"), TEXT).unwrap();
    assert_eq!(status, 200, "{first}");
    assert!(!head.contains("idempotent-replayed"), "{head}");
    assert_eq!(ids(&first).len(), 1, "{first}");
    let (status, head, again) = brief(&d, Some("key-1"), TEXT).unwrap();
    assert_eq!(status, 200, "{again}");
    assert!(head.contains("idempotent-replayed: true"), "{head}");
    assert_eq!(again, first, "the first answer, word for word");
    assert_eq!(tasks(&d).len(), 1, "one task: {:?}", tasks(&d));

    // Another key is another brief.
    let (status, _, other) = brief(&d, Some("key-2"), TEXT).unwrap();
    assert_eq!(status, 200, "{other}");
    assert_ne!(ids(&other), ids(&first));
    assert_eq!(tasks(&d).len(), 2);
    // And so is a brief with no key.
    brief(&d, None, TEXT).unwrap();
    assert_eq!(tasks(&d).len(), 3);

    // A key sent again with another brief is refused, and makes nothing.
    let (status, _, body) = brief(&d, Some("key-1"), "cancel task 1").unwrap();
    assert_eq!(status, 422, "{body}");
    let e: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(e["error"].as_str().unwrap().contains("different brief"), "{e}");
    assert_eq!(tasks(&d).len(), 3);
}

#[test]
fn a_malformed_key_is_a_400_with_a_json_error_and_makes_nothing() {
    let scene = Scene::new();
    let d = Daemon::start(&scene.config("", "", ""));
    let long = "k".repeat(256);
    for (key, words) in [("\"\"", "empty"), (long.as_str(), "at most 255"), ("caf\u{e9}", "visible ASCII")] {
        let (status, _, body) = brief(&d, Some(key), TEXT).unwrap();
        assert_eq!(status, 400, "{key}: {body}");
        let e: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("JSON: {body}"));
        assert!(e["error"].as_str().unwrap().contains(words), "{key}: {e}");
    }
    assert!(tasks(&d).is_empty());
}

#[test]
fn a_key_sent_again_after_a_kill_between_the_task_and_its_answer_makes_no_second_task() {
    let scene = Scene::new();
    let mut d = Daemon::start_env(&scene.config("", "", ""), &[("CAPCOM_TEST_KILL_AT", "brief-answered")]);
    // The daemon makes the task, then dies before the answer is kept (or sent).
    let lost = brief(&d, Some("key-crash"), TEXT);
    assert!(lost.is_none(), "the daemon was to die before answering: {lost:?}");
    d.wait_for_crash_point();

    d.boot(&[]);
    let made = tasks(&d);
    assert_eq!(made.len(), 1, "the first brief made its task: {made:?}");
    let (status, head, again) = brief(&d, Some("key-crash"), TEXT).unwrap();
    assert_eq!(status, 200, "{again}");
    assert!(head.contains("idempotent-replayed: true"), "{head}");
    assert_eq!(ids(&again), vec![made[0]["id"].as_i64().unwrap()], "the task the first brief made: {again}");
    assert_eq!(tasks(&d).len(), 1, "still one task");
    // From now on the answer is kept: a third send gets it word for word.
    let (_, _, third) = brief(&d, Some("key-crash"), TEXT).unwrap();
    assert_eq!(third, again);
    assert_eq!(tasks(&d).len(), 1);
}
