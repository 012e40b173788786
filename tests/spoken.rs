//! Voice out through the daemon: status answers, changelogs, the podcast feed.

mod common;

use capcom::store::{Store, TaskState, TaskUpdate};
use capcom::understand::{Criterion, Scope, TaskKind, TaskSpec};
use common::*;
use serde_json::json;

const CONFIG: &str = "[speech]\nengine = \"espeak-ng\"\n";

fn spec(title: &str, kind: TaskKind) -> TaskSpec {
    TaskSpec {
        title: title.into(),
        kind,
        scope: Scope { include: vec!["components/".into()], exclude: vec![] },
        acceptance: vec![Criterion { text: "build passes".into(), check: Some("build".into()) }],
        ..TaskSpec::default()
    }
}

/// Three tasks: one merged, one ready, one needing attention, with review events.
fn seed(data: &std::path::Path) {
    let store = Store::open(&data.join("capcom.db")).unwrap();
    let merged = store.create_task(&spec("Upgrade Tailwind to the latest stable version", TaskKind::DependencyUpgrade), TaskState::Queued, None, None, "test").unwrap();
    let ready = store.create_task(&spec("Fix the footer links", TaskKind::Copy), TaskState::Queued, None, None, "test").unwrap();
    let red = store.create_task(&spec("Scope the demo CSS", TaskKind::Css), TaskState::Queued, None, None, "test").unwrap();
    for (t, ok) in [(&merged, true), (&ready, true), (&red, false)] {
        store.update_task(t.id, &TaskUpdate { agent: Some("claude".into()), branch: Some(format!("capcom/{}-x", t.id)), ..Default::default() }).unwrap();
        store.transition(t.id, None, TaskState::Running, None).unwrap();
        store.add_event(Some(t.id), "check", "build", Some(&json!({"name": "build", "ok": ok, "exit": if ok {0} else {1}, "duration_ms": 1200, "tail": ""}))).unwrap();
        store.add_event(Some(t.id), "diffstat", "3 files", Some(&json!({"files": 3, "insertions": 40, "deletions": 12, "paths": ["components/a.tsx", "components/b.tsx", "components/c.tsx"]}))).unwrap();
        store.add_event(Some(t.id), "summary", "Updated the components to the new class names.", None).unwrap();
    }
    store.transition(merged.id, None, TaskState::Ready, None).unwrap();
    store.transition(merged.id, None, TaskState::Merged, Some("merged into main")).unwrap();
    store.transition(ready.id, None, TaskState::Ready, None).unwrap();
    store.transition(red.id, None, TaskState::NeedsAttention, Some("check build is red")).unwrap();
}

#[test]
fn status_answers_in_words_for_the_ear() {
    let mut d = Daemon::start(CONFIG);
    seed(&d.data);
    let out = d.cli(&["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let say = stdout(&out);
    assert!(say.to_lowercase().contains("footer"), "{say}");
    assert!(!say.contains('/'), "paths are not read out: {say}");
    let out = d.cli(&["status", "--json", "--filter", "all"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["filter"], "all");
    assert!(v["say"].as_str().unwrap().to_lowercase().contains("attention"), "{v}");
    let bad = d.cli(&["status", "--filter", "done"]);
    assert_eq!(bad.status.code(), Some(2), "a usage mistake the daemon catches exits 2, like clap");
    assert!(stderr(&bad).contains("finished, running, failed or all"));
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn status_out_writes_a_valid_wav() {
    let mut d = Daemon::start(CONFIG);
    seed(&d.data);
    let wav = d.data.parent().unwrap().join("status.wav");
    let out = d.cli(&["status", "--out", wav.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut r = hound::WavReader::open(&wav).unwrap();
    let spec = r.spec();
    assert_eq!(spec.channels, 1);
    let samples: Vec<i16> = r.samples::<i16>().map(|s| s.unwrap()).collect();
    assert!(samples.len() as u32 > spec.sample_rate, "at least a second of speech");
    assert!(samples.iter().any(|s| s.unsigned_abs() > 1000), "not silence");
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn the_changelog_renders_audio_and_the_feed_serves_it_to_token_holders_only() {
    let mut d = Daemon::start(CONFIG);
    seed(&d.data);
    let text = d.cli(&["changelog", "--since", "24h", "--text"]);
    assert!(text.status.success(), "{}", stderr(&text));
    assert!(stdout(&text).to_lowercase().contains("tailwind"), "{}", stdout(&text));

    let out = d.cli(&["changelog", "--since", "24h"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    let feed_url = printed.lines().find_map(|l| l.strip_prefix("podcast feed: ")).expect("feed url printed").to_string();
    let feed_token = std::fs::read_to_string(d.data.join("feed.token")).unwrap();
    assert!(feed_url.contains(feed_token.trim()));
    assert_ne!(feed_token.trim(), d.token(), "the feed token is not the API token");

    let path = feed_url.trim_start_matches("http://").split_once('/').map(|x| x.1).map(|p| format!("/{p}")).unwrap();
    let (code, head, body) = http_bytes(&d.addr, &path);
    assert_eq!(code, 200, "{head}");
    assert!(head.to_lowercase().contains("application/rss+xml"));
    let xml = String::from_utf8(body).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("valid XML");
    let items: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("item")).collect();
    assert_eq!(items.len(), 1);
    let enclosure = items[0].descendants().find(|n| n.has_tag_name("enclosure")).unwrap();
    let url = enclosure.attribute("url").unwrap();
    let length: usize = enclosure.attribute("length").unwrap().parse().unwrap();
    let audio_path = format!("/{}", url.trim_start_matches("http://").split_once('/').unwrap().1);
    let (code, _, audio) = http_bytes(&d.addr, &audio_path);
    assert_eq!(code, 200);
    assert_eq!(audio.len(), length);

    // Wrong or missing feed token, and a path that tries to leave the folder.
    let wrong = path.replace(feed_token.trim(), "0000");
    assert_eq!(http_bytes(&d.addr, &wrong).0, 401);
    assert_eq!(http_bytes(&d.addr, "/feed/podcast.xml").0, 404);
    let escape = format!("/feed/{}/audio/..%2Fcapcom.db", feed_token.trim());
    assert_ne!(http_bytes(&d.addr, &escape).0, 200);
    // The API token does not open the feed, and the feed token does not open the API.
    let api_with_feed = d.http("GET", "/v1/tasks", Some(feed_token.trim()), None);
    assert_eq!(api_with_feed.0, 401);
    assert_eq!(d.stop(), Some(0));
}
