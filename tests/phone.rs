//! The phone page against a real `capcom daemon --headless`: pairing codes and device
//! tokens (expiry, reuse, revocation, rate limiting, what a device token opens), the page
//! itself, the live board stream, and the podcast feed's Range and conditional requests.

mod common;

use capcom::store::{Store, TaskState};
use capcom::understand::{TaskKind, TaskSpec};
use common::*;
use std::io::{Read, Write};
use std::time::Duration;

const CONFIG: &str = "[speech]\nengine = \"espeak-ng\"\n";

/// A raw HTTP/1.0 request with any headers; returns (status, head, body).
fn req(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String, Vec<u8>) {
    common::http_raw(addr, method, path, headers, body)
}

fn json_of(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// `capcom pair --json`: a fresh code and its link.
fn pair_code(d: &Daemon) -> serde_json::Value {
    let out = d.cli(&["pair", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn exchange(d: &Daemon, code: &str, name: &str) -> (u16, serde_json::Value) {
    let body = serde_json::json!({ "code": code, "name": name }).to_string();
    let (status, _, b) = req(&d.addr, "POST", "/app/pair", &[("Content-Type", "application/json")], body.as_bytes());
    (status, json_of(&b))
}

#[test]
fn pairing_codes_work_once_and_device_tokens_open_only_the_page() {
    let mut d = Daemon::start(CONFIG);
    // the page itself is open: it holds no data
    let (status, head, page) = req(&d.addr, "GET", "/", &[], b"");
    assert_eq!(status, 200, "{head}");
    assert!(String::from_utf8_lossy(&page).contains("Hold to talk"));

    // without a token the page's API answers nothing
    let (status, _, body) = req(&d.addr, "GET", "/app/v1/board", &[], b"");
    assert_eq!(status, 401);
    assert!(!String::from_utf8_lossy(&body).contains("tasks"));

    let p = pair_code(&d);
    let code = p["code"].as_str().unwrap();
    let url = p["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("http://{}/#pair=", d.addr)), "{url}");
    assert!(url.ends_with(code));
    // the terminal output carries the link (and a QR code where a phone can open it: see
    // pairing_on_a_loopback_daemon_says_how_a_phone_can_reach_it)
    let shown = d.cli(&["pair"]);
    assert!(shown.status.success());
    let text = stdout(&shown);
    assert!(text.contains("#pair="), "{text}");

    let (status, dev) = exchange(&d, code, "pixel");
    assert_eq!(status, 200, "{dev}");
    let token = dev["token"].as_str().unwrap().to_string();
    assert_eq!(dev["name"], "pixel");
    assert_ne!(token, d.token(), "a device token is never the API token");

    // reused code: refused
    let (status, again) = exchange(&d, code, "thief");
    assert_eq!(status, 401);
    assert!(again["error"].as_str().unwrap().contains("already used"), "{again}");

    // expired code (written straight into the store, five minutes ago)
    let store = Store::open(&d.data.join("capcom.db")).unwrap();
    store.add_pairing_code("OLDCODE2", chrono::Utc::now() - chrono::Duration::seconds(1)).unwrap();
    let (status, old) = exchange(&d, "OLDCODE2", "late");
    assert_eq!(status, 401);
    assert!(old["error"].as_str().unwrap().contains("expired"), "{old}");
    // codes and tokens are stored hashed only
    let db = std::fs::read(d.data.join("capcom.db")).unwrap();
    let wal = std::fs::read(d.data.join("capcom.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()), "the raw token is in the database");
        assert!(!bytes.windows(code.len()).any(|w| w == code.as_bytes()), "the raw code is in the database");
    }

    // the device token opens the page's API …
    store.create_task(&TaskSpec { title: "Fix the footer links".into(), kind: TaskKind::Copy, ..TaskSpec::default() }, TaskState::Queued, None, None, "test").unwrap();
    let dh = [("X-Capcom-Device", token.as_str())];
    let (status, _, body) = req(&d.addr, "GET", "/app/v1/board", &dh, b"");
    assert_eq!(status, 200);
    let board = json_of(&body);
    assert_eq!(board["tasks"][0]["title"], "Fix the footer links");
    let (status, _, body) = req(&d.addr, "GET", "/app/v1/me", &dh, b"");
    assert_eq!((status, json_of(&body)["device"].clone()), (200, serde_json::json!("pixel")));
    // … but not the master API, in either header
    assert_eq!(d.http("GET", "/v1/tasks", Some(&token), None).0, 401);
    assert_eq!(req(&d.addr, "GET", "/v1/tasks", &dh, b"").0, 401);
    // and the master token is not a device token
    let master = d.token();
    assert_eq!(req(&d.addr, "GET", "/app/v1/board", &[("X-Capcom-Device", master.as_str())], b"").0, 401);

    // devices lists it; revoke locks it out at once
    let out = d.cli(&["devices"]);
    assert!(stdout(&out).contains("pixel"), "{}", stdout(&out));
    assert!(!stdout(&out).contains(&token));
    let out = d.cli(&["devices", "revoke", "pixel"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(req(&d.addr, "GET", "/app/v1/board", &dh, b"").0, 401);
    let out = d.cli(&["devices", "revoke", "nobody"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no paired device called nobody"), "{}", stderr(&out));

    // tokens never reach the logs
    let mut logs = d.stderr();
    if let Ok(rd) = std::fs::read_dir(d.data.join("logs")) {
        for f in rd.flatten() {
            logs.push_str(&std::fs::read_to_string(f.path()).unwrap_or_default());
        }
    }
    assert!(!logs.contains(&token), "a device token was logged");
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn repeated_wrong_tokens_are_rate_limited() {
    let mut d = Daemon::start(CONFIG);
    let mut statuses = Vec::new();
    for i in 0..12 {
        let t = format!("wrong-{i}");
        statuses.push(req(&d.addr, "GET", "/app/v1/board", &[("X-Capcom-Device", t.as_str())], b"").0);
    }
    assert_eq!(&statuses[..8], &[401; 8], "{statuses:?}");
    assert!(statuses[8..].iter().all(|s| *s == 429), "{statuses:?}");
    // a right code is refused too while the address is blocked
    let p = pair_code(&d);
    assert_eq!(exchange(&d, p["code"].as_str().unwrap(), "phone").0, 429);
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn the_board_streams_changes_as_server_sent_events() {
    let mut d = Daemon::start(CONFIG);
    let p = pair_code(&d);
    let (_, dev) = exchange(&d, p["code"].as_str().unwrap(), "laptop");
    let token = dev["token"].as_str().unwrap().to_string();
    let store = Store::open(&d.data.join("capcom.db")).unwrap();
    let t = store.create_task(&TaskSpec { title: "Scope the demo CSS".into(), kind: TaskKind::Css, ..TaskSpec::default() }, TaskState::Queued, None, None, "test").unwrap();

    let mut s = std::net::TcpStream::connect(&d.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(s, "GET /app/v1/events HTTP/1.1\r\nHost: x\r\nX-Capcom-Device: {token}\r\nAccept: text/event-stream\r\n\r\n").unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 8192];
    let mut read_until = |s: &mut std::net::TcpStream, seen: &mut String, want: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !seen.contains(want) {
            assert!(std::time::Instant::now() < deadline, "no `{want}` in the stream: {seen}");
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "the stream ended: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    };
    read_until(&mut s, &mut seen, "\"state\":\"queued\"");
    assert!(seen.to_lowercase().contains("content-type: text/event-stream"), "{seen}");
    assert!(seen.contains("event: board"));
    // a change in the store reaches the open stream without a new request
    store.transition(t.id, None, TaskState::Running, None).unwrap();
    read_until(&mut s, &mut seen, "\"state\":\"running\"");
    // revoking the device ends its open stream
    assert!(d.cli(&["devices", "revoke", "laptop"]).status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        assert!(std::time::Instant::now() < deadline, "the stream outlived the revocation");
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) => panic!("{e}"),
        }
        if seen.ends_with("0\r\n\r\n") {
            break; // the chunked body's end
        }
    }
    drop(s);
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn feed_audio_answers_range_and_conditional_requests() {
    let mut d = Daemon::start(CONFIG);
    // something landed, so the changelog has an episode
    let store = Store::open(&d.data.join("capcom.db")).unwrap();
    let t = store.create_task(&TaskSpec { title: "Fix the footer links".into(), kind: TaskKind::Copy, ..TaskSpec::default() }, TaskState::Queued, None, None, "test").unwrap();
    store.transition(t.id, None, TaskState::Running, None).unwrap();
    store.transition(t.id, None, TaskState::Ready, None).unwrap();
    let out = d.cli(&["changelog", "--since", "24h"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let feed_token = std::fs::read_to_string(d.data.join("feed.token")).unwrap().trim().to_string();
    let (status, _, xml) = req(&d.addr, "GET", &format!("/feed/{feed_token}/podcast.xml"), &[], b"");
    assert_eq!(status, 200);
    let xml = String::from_utf8(xml).unwrap();
    assert!(!xml.contains("0.0.0.0"));
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let url = doc.descendants().find(|n| n.has_tag_name("enclosure")).unwrap().attribute("url").unwrap().to_string();
    let path = format!("/{}", url.trim_start_matches("http://").split_once('/').unwrap().1);
    let art = doc.descendants().find(|n| n.tag_name().name() == "image" && n.attribute("href").is_some()).unwrap().attribute("href").unwrap();
    let art_path = format!("/{}", art.trim_start_matches("http://").split_once('/').unwrap().1);
    let (status, head, png) = req(&d.addr, "GET", &art_path, &[], b"");
    assert_eq!(status, 200, "{head}");
    assert!(png.starts_with(b"\x89PNG"));

    let (status, head, whole) = req(&d.addr, "GET", &path, &[], b"");
    assert_eq!(status, 200);
    assert_eq!(header(&head, "accept-ranges"), Some("bytes"), "{head}");
    let etag = header(&head, "etag").expect("an ETag").to_string();
    let modified = header(&head, "last-modified").expect("Last-Modified").to_string();

    let (status, head, part) = req(&d.addr, "GET", &path, &[("Range", "bytes=100-199")], b"");
    assert_eq!(status, 206, "{head}");
    assert_eq!(part, whole[100..200]);
    assert_eq!(header(&head, "content-range"), Some(format!("bytes 100-199/{}", whole.len()).as_str()));
    let (status, _, tail) = req(&d.addr, "GET", &path, &[("Range", "bytes=-50")], b"");
    assert_eq!((status, tail.as_slice()), (206, &whole[whole.len() - 50..]));
    let beyond = format!("bytes={}-", whole.len() + 10);
    assert_eq!(req(&d.addr, "GET", &path, &[("Range", beyond.as_str())], b"").0, 416);

    assert_eq!(req(&d.addr, "GET", &path, &[("If-None-Match", etag.as_str())], b"").0, 304);
    assert_eq!(req(&d.addr, "GET", &path, &[("If-Modified-Since", modified.as_str())], b"").0, 304);
    assert_eq!(req(&d.addr, "GET", &path, &[("If-None-Match", "\"other\"")], b"").0, 200);
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn beyond_loopback_the_daemon_serves_https_with_its_own_certificate() {
    let mut d = Daemon::start_env(CONFIG, &[("CAPCOM__API__LISTEN", "0.0.0.0:0")]);
    assert!(d.addr.starts_with("0.0.0.0:"), "{}", d.addr);
    let port = d.addr.rsplit(':').next().unwrap().to_string();
    // the certificate: made on first start, private, its fingerprint shown
    use std::os::unix::fs::PermissionsExt;
    for f in ["tls.crt", "tls.key"] {
        let mode = std::fs::metadata(d.data.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let log = d.stderr();
    let fp = log.split("fingerprint ").nth(1).map(|s| s.split_whitespace().next().unwrap().to_string()).expect("the fingerprint is printed");
    assert_eq!(fp.len(), 95, "{fp}");
    // plain HTTP is not served
    let (status, _, _) = req(&format!("127.0.0.1:{port}"), "GET", "/v1/health", &[], b"");
    assert_ne!(status, 200);
    // the CLI reaches it over HTTPS, trusting exactly that certificate; the link never names 0.0.0.0
    let p = pair_code(&d);
    let url = p["url"].as_str().unwrap();
    assert!(url.starts_with("https://") && !url.contains("0.0.0.0"), "{url}");
    // a browser-like client that trusts the certificate pairs and reads the board
    let pem = std::fs::read(d.data.join("tls.crt")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let board = rt.block_on(async {
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
            .no_proxy()
            .build()
            .unwrap();
        let base = format!("https://localhost:{port}");
        let page = client.get(format!("{base}/")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let dev: serde_json::Value = client
            .post(format!("{base}/app/pair"))
            .json(&serde_json::json!({"code": p["code"], "name": "phone"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = dev["token"].as_str().expect("a token").to_string();
        client.get(format!("{base}/app/v1/board")).header("X-Capcom-Device", token).send().await.unwrap().status()
    });
    assert_eq!(board, 200);
    // doctor says what is exposed
    let out = d.cli(&["doctor"]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains("HTTPS on 0.0.0.0") && text.contains(&fp), "{text}");
    assert_eq!(d.stop(), Some(0));
    // the same certificate on the next start
    d.boot(&[("CAPCOM__API__LISTEN", "0.0.0.0:0")]);
    assert!(d.stderr().contains(&fp));
    assert_eq!(d.stop(), Some(0));
}

/// A paired device's token.
fn device_token(d: &Daemon, name: &str) -> String {
    let p = pair_code(d);
    let (status, dev) = exchange(d, p["code"].as_str().unwrap(), name);
    assert_eq!(status, 200, "{dev}");
    dev["token"].as_str().unwrap().to_string()
}

/// `secs` seconds of a quiet tone as 16-bit mono WAV at `rate`, as the page records it.
fn tone_wav(secs: u32, rate: u32) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    let spec = hound::WavSpec { channels: 1, sample_rate: rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::new(&mut buf, spec).unwrap();
    for i in 0..secs * rate {
        w.write_sample(((i as f32 * 0.03).sin() * 300.0) as i16).unwrap();
    }
    w.finalize().unwrap();
    buf.into_inner()
}

#[test]
fn a_sixty_second_clip_at_48_khz_is_taken_and_a_longer_one_is_refused_with_the_limit() {
    let mut d = Daemon::start(CONFIG);
    let token = device_token(&d, "pixel");
    let dh = [("X-Capcom-Device", token.as_str()), ("Content-Type", "audio/wav")];
    // 60 s at 48 kHz is 5.5 MiB: beyond axum's default 2 MiB body limit, within two minutes.
    let clip = tone_wav(60, 48_000);
    assert!(clip.len() > 5 * 1024 * 1024);
    let (status, head, body) = req(&d.addr, "POST", "/app/v1/talk", &dh, &clip);
    assert_eq!(status, 200, "{head}{}", String::from_utf8_lossy(&body));
    let a = json_of(&body);
    let id = a["utterance_id"].as_i64().unwrap_or_else(|| panic!("the clip was stored: {a}"));
    let store = Store::open(&d.data.join("capcom.db")).unwrap();
    let u = store.utterances(10).unwrap().into_iter().find(|u| u.id == id).expect("the stored utterance");
    let wav = hound::WavReader::open(u.audio_path.as_deref().expect("its recording")).unwrap();
    let secs = wav.duration() as f64 / f64::from(wav.spec().sample_rate);
    assert!((59.0..=61.0).contains(&secs), "the whole minute was stored: {secs} s");

    // Over [voice] max_utterance (two minutes by default): a JSON refusal that names the limit.
    // (The refusal comes from the declared length, before the body is read: only the head is sent.)
    let too_long = tone_wav(125, 48_000).len();
    let mut s = std::net::TcpStream::connect(&d.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(s, "POST /app/v1/talk HTTP/1.0\r\nHost: x\r\nX-Capcom-Device: {token}\r\nContent-Type: audio/wav\r\nContent-Length: {too_long}\r\n\r\n").unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let split = resp.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4).unwrap();
    let (head, body) = (String::from_utf8_lossy(&resp[..split]).into_owned(), resp[split..].to_vec());
    assert!(head.starts_with("HTTP/1.0 413") || head.starts_with("HTTP/1.1 413"), "{head}");
    let e = json_of(&body);
    assert!(e["error"].as_str().unwrap().contains("at most 120 s"), "{e}");
    // The page is told how long a clip may be, and so stops there.
    let (_, _, me) = req(&d.addr, "GET", "/app/v1/me", &dh, b"");
    assert_eq!(json_of(&me)["max_clip_ms"], 120_000);
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn the_feed_serves_only_regular_files_of_the_changelog_folder() {
    let mut d = Daemon::start(CONFIG);
    let feed_token = std::fs::read_to_string(d.data.join("feed.token")).unwrap().trim().to_string();
    let dir = d.data.join("changelogs");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("episode.mp3"), b"ID3 real audio").unwrap();
    std::os::unix::fs::symlink("../api.token", dir.join("x.mp3")).unwrap();
    std::os::unix::fs::symlink(d.data.join("capcom.db"), dir.join("db.wav")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.join("passwd.mp3")).unwrap();
    std::fs::hard_link(d.data.join("api.token"), dir.join("hard.mp3")).unwrap();
    let get = |name: &str| req(&d.addr, "GET", &format!("/feed/{feed_token}/audio/{name}"), &[], b"");

    let (status, _, body) = get("episode.mp3");
    assert_eq!((status, body.as_slice()), (200, b"ID3 real audio".as_slice()));
    let api_token = d.token();
    for name in ["x.mp3", "db.wav", "passwd.mp3", "hard.mp3"] {
        let (status, head, body) = get(name);
        assert_eq!(status, 404, "{name} must not be served: {head}");
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains(&api_token) && !text.contains("root:") && !text.contains("SQLite"), "{name}: {text}");
        assert!(json_of(&body)["error"].is_string(), "{name}: {text}");
    }
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn a_restart_sweeps_incomplete_changelog_files_and_the_feed_lists_only_whole_ones() {
    let mut d = Daemon::start(CONFIG);
    let feed_token = std::fs::read_to_string(d.data.join("feed.token")).unwrap().trim().to_string();
    assert_eq!(d.stop(), Some(0));
    let dir = d.data.join("changelogs");
    std::fs::create_dir_all(&dir).unwrap();
    // What crashes and a full disk left: audio no sidecar names, a hidden temporary file, and
    // a sidecar whose WAV came out empty.
    std::fs::write(dir.join("changelog-2026-11-20-0730.wav"), vec![0u8; 64 * 1024]).unwrap();
    std::fs::write(dir.join(".changelog-2026-11-21-0730.wav.4242.tmp"), vec![0u8; 64 * 1024]).unwrap();
    std::fs::write(dir.join("changelog-2026-11-22-0730.wav"), b"").unwrap();
    let entry = serde_json::json!({
        "stem": "changelog-2026-11-22-0730", "title": "Changelog for Sunday, November 22",
        "at": "2026-11-22T07:30:00+01:00", "text": "Cut short.", "duration_ms": 2000, "sample_rate": 22050,
        "wav": "changelog-2026-11-22-0730.wav", "wav_bytes": 88244, "mp3": null, "mp3_bytes": 0,
    });
    std::fs::write(dir.join("changelog-2026-11-22-0730.json"), entry.to_string()).unwrap();
    std::fs::write(dir.join("my-notes.txt"), b"the user's own").unwrap();

    d.boot(&[]);
    assert!(!dir.join("changelog-2026-11-20-0730.wav").exists(), "orphan audio is swept at start");
    assert!(!dir.join(".changelog-2026-11-21-0730.wav.4242.tmp").exists(), "temporary files are swept at start");
    assert!(dir.join("my-notes.txt").exists(), "nothing else is touched");
    let (status, _, xml) = req(&d.addr, "GET", &format!("/feed/{feed_token}/podcast.xml"), &[], b"");
    assert_eq!(status, 200);
    let xml = String::from_utf8(xml).unwrap();
    assert!(!xml.contains("changelog-2026-11-22-0730"), "an incomplete episode is never listed: {xml}");
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn a_clip_or_brief_sent_again_with_its_key_is_answered_once_and_not_acted_on_twice() {
    let d = Daemon::start(CONFIG);
    let token = device_token(&d, "pixel");
    let talk = |key: &str, clip: &[u8]| {
        let h = [("X-Capcom-Device", token.as_str()), ("Content-Type", "audio/wav"), ("Idempotency-Key", key)];
        req(&d.addr, "POST", "/app/v1/talk", &h, clip)
    };
    let store = Store::open(&d.data.join("capcom.db")).unwrap();
    let clip = tone_wav(1, 48_000);
    let (status, head, first) = talk("clip-1", &clip);
    assert_eq!(status, 200, "{head}{}", String::from_utf8_lossy(&first));
    let first = json_of(&first);
    assert!(first["utterance_id"].as_i64().is_some(), "the clip was stored: {first}");
    // The page sends the kept clip again (its answer was lost): the first answer, nothing stored again.
    let (status, _, again) = talk("clip-1", &clip);
    assert_eq!(status, 200);
    let again = json_of(&again);
    assert_eq!(again["utterance_id"], first["utterance_id"]);
    assert_eq!(again["answer"], first["answer"]);
    assert_eq!(store.utterances(10).unwrap().len(), 1, "one clip stored");
    // Another clip under the same key is refused; a new key is a new clip.
    let (status, _, body) = talk("clip-1", &tone_wav(2, 48_000));
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&body));
    assert!(json_of(&body)["error"].as_str().unwrap().contains("different clip"));
    let (status, _, _) = talk("clip-2", &clip);
    assert_eq!(status, 200);
    assert_eq!(store.utterances(10).unwrap().len(), 2);
    // A malformed key: a JSON 400, nothing stored.
    let (status, _, body) = talk("two words", &clip);
    assert_eq!(status, 400);
    assert!(json_of(&body)["error"].as_str().unwrap().contains("visible ASCII"));
    assert_eq!(store.utterances(10).unwrap().len(), 2);

    // The page's typed brief: the same key twice makes one task.
    let brief = |key: &str| {
        let h = [("X-Capcom-Device", token.as_str()), ("Content-Type", "application/json"), ("Idempotency-Key", key)];
        req(&d.addr, "POST", "/app/v1/brief", &h, br#"{"text": "fix the footer links on the site"}"#)
    };
    let (status, _, a) = brief("brief-1");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&a));
    let (_, _, b) = brief("brief-1");
    assert_eq!(json_of(&a), json_of(&b));
    assert_eq!(store.tasks(true).unwrap().len(), 1, "one task");
}

#[test]
fn a_merged_task_still_shows_the_files_and_diff_its_merge_brought() {
    use common::scene::{DONE, ID, Scene, dispatch, wait};
    let scene = Scene::new();
    let agent = scene.agent("good", &format!("set -e\necho 'button v2' > components/button.txt\n{ID} commit -qam 'agent: button v2'\n{DONE}"));
    let mut d = Daemon::start(&scene.config(&agent, "", CONFIG));
    let p = pair_code(&d);
    let (_, dev) = exchange(&d, p["code"].as_str().unwrap(), "phone");
    let token = dev["token"].as_str().unwrap().to_string();
    let view = |id: i64| {
        let (status, _, body) = req(&d.addr, "GET", &format!("/app/v1/tasks/{id}"), &[("X-Capcom-Device", token.as_str())], b"");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        json_of(&body)
    };
    let id = dispatch(&d, "good", "Make the button v2");
    wait(&d, id, "ready", |v| v["task"]["state"] == "ready");
    let before = view(id);
    assert_eq!(before["files"][0]["path"], "components/button.txt", "{before}");

    let out = d.cli(&["merge", &id.to_string(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let q: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let out = d.cli(&["confirm", q["code"].as_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait(&d, id, "merged", |v| v["task"]["state"] == "merged");

    // the worktree and branch are gone; the page still shows what the merge brought
    let after = view(id);
    let files = after["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{after}");
    assert_eq!(files[0]["path"], "components/button.txt");
    assert_eq!((files[0]["insertions"].as_u64(), files[0]["deletions"].as_u64()), (Some(1), Some(1)));
    let diff = after["diff"].as_str().unwrap();
    assert!(diff.contains("-button v1") && diff.contains("+button v2"), "{diff}");
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn pairing_on_a_loopback_daemon_says_how_a_phone_can_reach_it() {
    let mut d = Daemon::start(CONFIG);
    let out = d.cli(&["pair"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(!text.contains("Open on the phone"), "a loopback link offered to a phone: {text}");
    assert!(err.contains("a phone cannot open it") && err.contains("public_url") && err.contains("listen"), "{err}");
    assert!(text.contains("Open on this computer: http://127.0.0.1:"), "{text}");
    let json = pair_code(&d);
    assert!(json["local_only"].as_str().is_some_and(|s| s.contains("public_url")), "{json}");
    assert_eq!(d.stop(), Some(0));

    // with a public URL the link is for the phone, with its QR code and no warning
    let mut d = Daemon::start_env(CONFIG, &[("CAPCOM__API__PUBLIC_URL", "https://box.tail1234.ts.net")]);
    let out = d.cli(&["pair"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Open on the phone: https://box.tail1234.ts.net/#pair="), "{}", stdout(&out));
    assert!(stdout(&out).contains('█'), "a QR code: {}", stdout(&out));
    assert!(!stderr(&out).contains("cannot open"), "{}", stderr(&out));
    assert!(pair_code(&d).get("local_only").is_none());
    assert_eq!(d.stop(), Some(0));
}

/// Read SSE events (name, data) from an HTTP/1.0 stream until `done` holds for the list.
fn read_events(s: &mut std::net::TcpStream, buf: &mut String, done: impl Fn(&[(String, String)]) -> bool) -> Vec<(String, String)> {
    let mut chunk = [0u8; 65536];
    loop {
        let body = buf.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let mut events = Vec::new();
        for block in body.split("\n\n").filter(|b| b.contains("data:")) {
            if !body.contains(&format!("{block}\n\n")) {
                continue; // not whole yet
            }
            let name = block.lines().find_map(|l| l.strip_prefix("event:")).unwrap_or("message").trim().to_string();
            let data: Vec<&str> = block.lines().filter_map(|l| l.strip_prefix("data:")).map(|l| l.strip_prefix(' ').unwrap_or(l)).collect();
            events.push((name, data.join("\n")));
        }
        if done(&events) {
            return events;
        }
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "the stream ended: {buf}");
        buf.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
}

#[test]
fn the_board_is_sent_whole_once_then_only_changes_and_old_merged_tasks_are_paged() {
    let mut d = Daemon::start(CONFIG);
    let p = pair_code(&d);
    let (_, dev) = exchange(&d, p["code"].as_str().unwrap(), "phone");
    let token = dev["token"].as_str().unwrap().to_string();
    let store = Store::open(&d.data.join("capcom.db")).unwrap();
    let mk = |title: &str, state: TaskState| {
        let t = store.create_task(&TaskSpec { title: title.into(), kind: TaskKind::Css, ..TaskSpec::default() }, TaskState::Queued, None, None, "test").unwrap();
        if state != TaskState::Queued {
            store.transition(t.id, None, state, None).unwrap();
        }
        t.id
    };
    let running = mk("Scope the demo CSS", TaskState::Running);
    let old = mk("Last week's header fix", TaskState::Merged);
    let ready = mk("Tidy the footer", TaskState::Ready);
    let fresh_merge = mk("Today's merged change", TaskState::Merged);
    // merged two days ago: off the board, still in "all"
    let db = rusqlite::Connection::open(d.data.join("capcom.db")).unwrap();
    let two_days_ago = (chrono::Utc::now() - chrono::Duration::days(2)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    db.execute("UPDATE tasks SET updated_at = ?1 WHERE id = ?2", rusqlite::params![two_days_ago, old]).unwrap();
    drop(db);

    let mut s = std::net::TcpStream::connect(&d.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(s, "GET /app/v1/events HTTP/1.0\r\nHost: x\r\nX-Capcom-Device: {token}\r\nAccept: text/event-stream\r\n\r\n").unwrap();
    let mut buf = String::new();
    let events = read_events(&mut s, &mut buf, |e| !e.is_empty());
    assert_eq!(events[0].0, "board");
    let board: serde_json::Value = serde_json::from_str(&events[0].1).unwrap();
    let ids: Vec<i64> = board["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [running, ready, fresh_merge], "{board}");
    assert_eq!(board["hidden"], 1);

    // one change: a patch with that task only, never the whole board again
    store.transition(running, None, TaskState::Ready, None).unwrap();
    let events = read_events(&mut s, &mut buf, |e| e.iter().any(|(n, _)| n == "patch"));
    assert_eq!(events.iter().filter(|(n, _)| n == "board").count(), 1, "a second whole board: {events:?}");
    let patch: serde_json::Value = serde_json::from_str(&events.iter().find(|(n, _)| n == "patch").unwrap().1).unwrap();
    assert!(patch.get("tasks").is_none(), "{patch}");
    let upsert = patch["upsert"].as_array().unwrap();
    assert_eq!(upsert.len(), 1, "{patch}");
    assert_eq!((upsert[0]["id"].as_i64(), upsert[0]["state"].as_str()), (Some(running), Some("ready")));
    assert!(patch["rev"].as_u64() > board["rev"].as_u64(), "{patch}");
    drop(s);

    // the plain board is the live one; "all" pages every task, newest first
    let get = |path: &str| {
        let (status, _, body) = req(&d.addr, "GET", path, &[("X-Capcom-Device", token.as_str())], b"");
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
        json_of(&body)
    };
    let live = get("/app/v1/board");
    assert_eq!(live["tasks"].as_array().unwrap().len(), 3, "{live}");
    let page = get("/app/v1/board?all=1&limit=2");
    let ids: Vec<i64> = page["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [fresh_merge, ready]);
    let next = page["next_before"].as_i64().unwrap();
    let rest = get(&format!("/app/v1/board?all=1&limit=2&before={next}"));
    let ids: Vec<i64> = rest["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [old, running]);
    assert!(rest["next_before"].is_null());

    // GET /v1/status: the same window, and all of them when asked
    let (status, body) = d.http("GET", "/v1/status", Some(&d.token()), None);
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((v["tasks"].as_array().unwrap().len(), v["hidden"].as_u64()), (3, Some(1)), "{v}");
    let (_, body) = d.http("GET", "/v1/status?all=true", Some(&d.token()), None);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["tasks"].as_array().unwrap().len(), 4);
    assert_eq!(d.stop(), Some(0));
}

/// A browser's side of Web Push, independent of capcom: Python's `http_ece` (the reference
/// implementation of RFC 8188/8291 by the spec's editor, github.com/web-push-libs/encrypted-content-encoding)
/// and `cryptography` make the subscription's key pair and read what capcom encrypted.
const RECEIVER: &str = r#"
import base64, sys, os, http_ece
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization
key = ec.generate_private_key(ec.SECP256R1())
auth = os.urandom(16)
pub = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
print(pub.hex(), auth.hex(), flush=True)
body = bytes.fromhex(sys.stdin.readline().strip())
print(http_ece.decrypt(body, private_key=key, auth_secret=auth, version="aes128gcm").decode(), flush=True)
"#;

#[test]
fn a_web_push_payload_is_read_by_an_independent_rfc_8291_receiver() {
    use std::io::BufRead;
    let have = std::process::Command::new("python3").args(["-c", "import http_ece, cryptography"]).output().is_ok_and(|o| o.status.success());
    if !have {
        common::skip::skip("python3 with http_ece", "pip install http_ece");
        return;
    }
    for message in ["Task 4 needs you: the build is red", "", &"é".repeat(1500)] {
        let mut py = std::process::Command::new("python3")
            .args(["-c", RECEIVER])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(py.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let (key, auth) = line.trim().split_once(' ').unwrap();
        let body = capcom::web::push::encrypt(&hex::decode(key).unwrap(), &hex::decode(auth).unwrap(), message.as_bytes()).unwrap();
        writeln!(py.stdin.as_mut().unwrap(), "{}", hex::encode(&body)).unwrap();
        let mut read = String::new();
        out.read_line(&mut read).unwrap();
        assert!(py.wait().unwrap().success());
        assert_eq!(read.trim_end_matches('\n'), message);
    }
}

/// A push service on loopback, standing in for FCM, Mozilla autopush or Apple's: it takes
/// `POST <endpoint>` requests, keeps each (path, head, body), and answers with the next
/// status in `answers`. Real push services answer RFC 8030 (section 5, "Requesting Push
/// Message Delivery") 201 Created with a Location when they take a message, and 404 or 410
/// Gone when the subscription has expired or was unsubscribed (section 7.3; and the
/// services' own docs: web.dev "Web Push Protocol", developer.apple.com "Sending web push
/// notifications in web apps and browsers" (410 for an unsubscribed endpoint)).
struct PushService {
    addr: String,
    got: std::sync::mpsc::Receiver<(String, String, Vec<u8>)>,
}

impl PushService {
    fn start(answers: Vec<u16>) -> PushService {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (tx, got) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut answers = answers.into_iter();
            for conn in listener.incoming() {
                let Ok(mut s) = conn else { continue };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let split = loop {
                    let n = s.read(&mut chunk).unwrap_or(0);
                    if n == 0 {
                        break None;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break Some(i + 4);
                    }
                };
                let Some(split) = split else { continue };
                let head = String::from_utf8_lossy(&buf[..split]).into_owned();
                let len: usize = header(&head, "content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
                while buf.len() < split + len {
                    let n = s.read(&mut chunk).unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let status = answers.next().unwrap_or(500);
                let reason = match status { 201 => "Created", 410 => "Gone", 404 => "Not Found", _ => "Error" };
                let path = head.split_whitespace().nth(1).unwrap_or_default().to_string();
                let _ = write!(s, "HTTP/1.1 {status} {reason}\r\nLocation: /m/1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                let _ = tx.send((path, head, buf[split..].to_vec()));
            }
        });
        PushService { addr, got }
    }

    fn next(&self) -> (String, String, Vec<u8>) {
        self.got.recv_timeout(Duration::from_secs(120)).expect("the push service never got a message")
    }
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64url(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap_or_else(|e| panic!("not base64url ({e}): {s}"))
}

#[test]
fn a_task_that_needs_you_is_pushed_encrypted_and_signed_and_a_gone_subscription_is_forgotten() {
    use std::io::BufRead;
    let have = std::process::Command::new("python3").args(["-c", "import http_ece, cryptography"]).output().is_ok_and(|o| o.status.success());
    if !have {
        common::skip::skip("python3 with http_ece", "pip install http_ece");
        return;
    }
    let scene = scene::Scene::new();
    // an agent that changes a file outside its task's scope: the task needs the user
    let agent = scene.agent("wide", "set -e\necho 'page v2' > outside.txt\ngit add -A\ngit -c user.name=a -c user.email=a@b commit -qm 'agent: too much'\n");
    let mut d = Daemon::start(&scene.config(&agent, "", CONFIG));
    let token = device_token(&d, "phone");
    let dev = [("X-Capcom-Device", token.as_str()), ("Content-Type", "application/json")];

    let (status, _, key) = req(&d.addr, "GET", "/app/v1/push/key", &dev, b"");
    assert_eq!(status, 200);
    let server_key = unb64url(json_of(&key)["key"].as_str().unwrap());
    assert_eq!((server_key.len(), server_key[0]), (65, 4), "an uncompressed P-256 point");
    let (status, _, _) = req(&d.addr, "GET", "/app/v1/push/key", &[], b"");
    assert_eq!(status, 401, "only a paired device asks for it");

    // the browser's side: its subscription key pair and auth secret (Python, independent of capcom)
    let mut browser = std::process::Command::new("python3")
        .args(["-c", RECEIVER])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut from_browser = std::io::BufReader::new(browser.stdout.take().unwrap());
    let mut line = String::new();
    from_browser.read_line(&mut line).unwrap();
    let (p256dh, auth) = line.trim().split_once(' ').unwrap();
    let (p256dh, auth) = (b64url(&hex::decode(p256dh).unwrap()), b64url(&hex::decode(auth).unwrap()));

    let service = PushService::start(vec![201, 410]);
    let endpoint = format!("http://{}/wp/sub-1", service.addr);
    let sub = |endpoint: &str, p256dh: &str, auth: &str| serde_json::json!({ "endpoint": endpoint, "keys": { "p256dh": p256dh, "auth": auth } }).to_string();
    for (body, want, says) in [
        (sub("http://push.example.com/wp/1", &p256dh, &auth), 422, "must be https"),
        (sub(&endpoint, &auth, &auth), 422, "65 bytes"),
        (sub(&endpoint, &p256dh, &p256dh), 422, "16 bytes"),
        ("{\"endpoint\": 1}".to_string(), 400, "PushSubscription"),
    ] {
        let (status, _, b) = req(&d.addr, "POST", "/app/v1/push/subscribe", &dev, body.as_bytes());
        assert_eq!(status, want, "{body}");
        assert!(String::from_utf8_lossy(&b).contains(says), "{}", String::from_utf8_lossy(&b));
    }
    let (status, _, b) = req(&d.addr, "POST", "/app/v1/push/subscribe", &dev, sub(&endpoint, &p256dh, &auth).as_bytes());
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&b));

    let id = scene::dispatch_scoped(&d, "wide", "Update the button", &["components/"]);
    let t = scene::settled(&d, id);
    assert_eq!(scene::state(&t), "needs_attention", "{t}");

    let (path, head, body) = service.next();
    assert_eq!(path, "/wp/sub-1");
    assert!(head.starts_with("POST "), "{head}");
    assert_eq!(header(&head, "content-encoding"), Some("aes128gcm"));
    assert_eq!(header(&head, "urgency"), Some("high"));
    assert!(header(&head, "ttl").and_then(|t| t.parse::<u64>().ok()).is_some_and(|t| t > 0), "{head}");
    // the VAPID token (RFC 8292): signed with the served key, for this push service's origin
    let vapid = header(&head, "authorization").expect("a VAPID Authorization header");
    let (jwt, k) = vapid.strip_prefix("vapid t=").and_then(|v| v.split_once(", k=")).unwrap_or_else(|| panic!("{vapid}"));
    assert_eq!(unb64url(k), server_key);
    let (signed, sig) = jwt.rsplit_once('.').unwrap();
    aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED, &server_key)
        .verify(signed.as_bytes(), &unb64url(sig))
        .expect("the JWT verifies against the key /app/v1/push/key served");
    let (jwt_head, claims) = signed.split_once('.').unwrap();
    assert_eq!(json_of(&unb64url(jwt_head))["alg"], "ES256");
    let claims = json_of(&unb64url(claims));
    assert_eq!(claims["aud"], format!("http://{}", service.addr));
    let exp = claims["exp"].as_i64().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!(exp > now && exp <= now + 24 * 3600, "{claims}");
    assert!(claims["sub"].as_str().unwrap().starts_with("mailto:"), "{claims}");
    // only the browser reads the message
    writeln!(browser.stdin.as_mut().unwrap(), "{}", hex::encode(&body)).unwrap();
    let mut read = String::new();
    from_browser.read_line(&mut read).unwrap();
    assert!(browser.wait().unwrap().success());
    let msg: serde_json::Value = serde_json::from_str(&read).unwrap();
    assert_eq!(msg["title"], format!("Task {id} needs you"));
    assert_eq!(msg["task"], id);
    assert_eq!(msg["tag"], format!("task-{id}-needs_attention"), "the page's own notification tag");
    assert!(msg["body"].as_str().unwrap().starts_with("Update the button: "), "{msg}");
    assert!(!d.stderr().contains("sub-1"), "an endpoint (the subscription's secret) is never logged");

    // the next need meets a subscription the push service calls gone: it is forgotten
    let store = Store::open(&d.data.join("capcom.db")).unwrap();
    let other = store.create_task(&TaskSpec { title: "Fix the footer".into(), kind: TaskKind::Css, ..TaskSpec::default() }, TaskState::Queued, None, None, "test").unwrap();
    store.transition(other.id, None, TaskState::Failed, Some("the agent crashed")).unwrap();
    let (path, _, _) = service.next();
    assert_eq!(path, "/wp/sub-1");
    let mut left = 1;
    for _ in 0..2400 {
        left = store.push_subscriptions().unwrap().len();
        if left == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(left, 0, "a 410 removes the subscription");
    assert_eq!(d.stop(), Some(0));
}
