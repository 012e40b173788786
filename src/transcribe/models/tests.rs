use super::*;
use crate::transcribe::testmodel::TestModel;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A local HTTP/1.1 file server with Range support. `cut_first` makes the
/// first response stop after that many body bytes (a dropped connection).
struct Server {
    url: String,
    ranges: Arc<Mutex<Vec<Option<String>>>>,
}

impl Server {
    async fn start(body: Vec<u8>, cut_first: Option<usize>, honor_range: bool) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let ranges = Arc::new(Mutex::new(Vec::new()));
        let seen = ranges.clone();
        let body = Arc::new(body);
        tokio::spawn(async move {
            let mut n = 0usize;
            loop {
                let Ok((mut sock, _)) = listener.accept().await else { return };
                let body = body.clone();
                let seen = seen.clone();
                let cut = if n == 0 { cut_first } else { None };
                n += 1;
                tokio::spawn(async move {
                    let mut req = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => req.extend_from_slice(&buf[..k]),
                        }
                    }
                    let text = String::from_utf8_lossy(&req).to_string();
                    let range = text
                        .lines()
                        .find_map(|l| l.to_ascii_lowercase().starts_with("range:").then(|| l[6..].trim().to_string()));
                    seen.lock().unwrap().push(range.clone());
                    let start = match (&range, honor_range) {
                        (Some(r), true) => r.trim_start_matches("bytes=").trim_end_matches('-').parse::<usize>().unwrap(),
                        _ => 0,
                    };
                    let head = if start >= body.len() && start > 0 {
                        let h = format!("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", body.len());
                        let _ = sock.write_all(h.as_bytes()).await;
                        return;
                    } else if start > 0 {
                        format!(
                            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {}-{}/{}\r\nConnection: close\r\n\r\n",
                            body.len() - start,
                            start,
                            body.len() - 1,
                            body.len()
                        )
                    } else {
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
                    };
                    let _ = sock.write_all(head.as_bytes()).await;
                    let end = cut.map(|c| (start + c).min(body.len())).unwrap_or(body.len());
                    for chunk in body[start..end].chunks(64 * 1024) {
                        if sock.write_all(chunk).await.is_err() {
                            return;
                        }
                    }
                    let _ = sock.shutdown().await;
                });
            }
        });
        Server { url: format!("http://{addr}/ggml-test.bin"), ranges }
    }
}

#[derive(Default)]
struct Recorder {
    starts: Vec<(u64, u64)>,
    advanced: u64,
    verified: bool,
    finished: usize,
}

impl Progress for Recorder {
    fn start(&mut self, total: u64, already: u64) {
        self.starts.push((total, already));
    }
    fn advance(&mut self, bytes: u64) {
        self.advanced += bytes;
    }
    fn verifying(&mut self) {
        self.verified = true;
    }
    fn finish(&mut self) {
        self.finished += 1;
    }
}

fn entry(url: &str, bytes: &[u8]) -> ModelEntry {
    ModelEntry {
        name: "test-tiny".into(),
        file: "ggml-test.bin".into(),
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(bytes)),
        weights: "f16".into(),
        multilingual: false,
        url: Some(url.to_string()),
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

#[tokio::test]
async fn downloads_verifies_and_installs_with_progress() {
    let bytes = TestModel::tiny().to_bytes();
    let server = Server::start(bytes.clone(), None, true).await;
    let dir = tempfile::tempdir().unwrap();
    let e = entry(&server.url, &bytes);
    let mut rec = Recorder::default();
    let path = fetch(&e, dir.path(), &http(), &mut rec).await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!(rec.starts, vec![(bytes.len() as u64, 0)]);
    assert_eq!(rec.advanced, bytes.len() as u64);
    assert!(rec.verified);
    assert!(rec.finished >= 1);
    assert!(!dir.path().join("ggml-test.bin.partial").exists());
    assert!(is_installed(dir.path(), &e));
    // a second fetch finds it installed and downloads nothing
    let mut rec2 = Recorder::default();
    fetch(&e, dir.path(), &http(), &mut rec2).await.unwrap();
    assert_eq!(server.ranges.lock().unwrap().len(), 1);
    assert_eq!(rec2.advanced, 0);
}

#[tokio::test]
async fn an_interrupted_download_resumes_with_a_range_request() {
    let bytes = TestModel::tiny().to_bytes();
    let cut = 1_000_000;
    let server = Server::start(bytes.clone(), Some(cut), true).await;
    let dir = tempfile::tempdir().unwrap();
    let e = entry(&server.url, &bytes);
    let mut rec = Recorder::default();
    let err = fetch(&e, dir.path(), &http(), &mut rec).await.unwrap_err();
    assert!(matches!(err, FetchError::Http { .. }), "{err}");
    assert!(err.to_string().contains("resume"), "{err}");
    let partial = dir.path().join("ggml-test.bin.partial");
    let kept = std::fs::metadata(&partial).unwrap().len();
    assert_eq!(kept, cut as u64);

    let mut rec = Recorder::default();
    let path = fetch(&e, dir.path(), &http(), &mut rec).await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!(rec.starts, vec![(bytes.len() as u64, kept)]);
    assert_eq!(rec.advanced, bytes.len() as u64 - kept);
    let ranges = server.ranges.lock().unwrap().clone();
    assert_eq!(ranges, vec![None, Some(format!("bytes={kept}-"))]);
}

#[tokio::test]
async fn a_server_that_ignores_range_restarts_the_file() {
    let bytes = TestModel::tiny().to_bytes();
    let server = Server::start(bytes.clone(), Some(500_000), false).await;
    let dir = tempfile::tempdir().unwrap();
    let e = entry(&server.url, &bytes);
    assert!(fetch(&e, dir.path(), &http(), &mut Recorder::default()).await.is_err());
    let path = fetch(&e, dir.path(), &http(), &mut Recorder::default()).await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[tokio::test]
async fn a_checksum_mismatch_deletes_the_file_and_says_so() {
    let bytes = TestModel::tiny().to_bytes();
    let server = Server::start(bytes.clone(), None, true).await;
    let dir = tempfile::tempdir().unwrap();
    let mut e = entry(&server.url, &bytes);
    e.sha256 = "0".repeat(64);
    let err = fetch(&e, dir.path(), &http(), &mut Recorder::default()).await.unwrap_err();
    assert!(matches!(err, FetchError::Checksum { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("deleted") && msg.contains(&hex::encode(Sha256::digest(&bytes))), "{msg}");
    assert!(!dir.path().join("ggml-test.bin.partial").exists());
    assert!(!dir.path().join("ggml-test.bin").exists());
}

#[tokio::test]
async fn a_short_file_is_a_size_mismatch() {
    let bytes = TestModel::tiny().to_bytes();
    let served = bytes[..bytes.len() - 10].to_vec();
    let server = Server::start(served, None, true).await;
    let dir = tempfile::tempdir().unwrap();
    let e = entry(&server.url, &bytes);
    let err = fetch(&e, dir.path(), &http(), &mut Recorder::default()).await.unwrap_err();
    assert!(matches!(err, FetchError::Size { .. }), "{err}");
    assert!(!dir.path().join("ggml-test.bin.partial").exists());
}

#[tokio::test]
async fn a_file_that_is_not_a_model_is_not_installed() {
    let bytes = b"<html>not a model</html>".to_vec();
    let server = Server::start(bytes.clone(), None, true).await;
    let dir = tempfile::tempdir().unwrap();
    let e = entry(&server.url, &bytes);
    let err = fetch(&e, dir.path(), &http(), &mut Recorder::default()).await.unwrap_err();
    assert!(matches!(err, FetchError::Invalid(_)), "{err}");
    assert!(!dir.path().join("ggml-test.bin").exists());
}

#[test]
fn the_manifest_pins_every_required_model() {
    let m = manifest();
    let names: Vec<&str> = m.models.iter().map(|e| e.name.as_str()).collect();
    for want in ["tiny.en", "base.en", "small.en", "medium.en", "large-v3-turbo", "base.en-q5_1", "large-v3-turbo-q5_0"] {
        assert!(names.contains(&want), "{want} missing");
    }
    let mut seen = std::collections::HashSet::new();
    for e in &m.models {
        assert!(seen.insert(&e.name), "duplicate {}", e.name);
        assert_eq!(e.sha256.len(), 64, "{}", e.name);
        assert!(e.sha256.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{}", e.name);
        assert!(e.size > 30_000_000, "{}", e.name);
        assert!(e.file.starts_with("ggml-") && e.file.ends_with(".bin"));
        assert!(e.url.is_none());
    }
    assert!(m.base_url.starts_with("https://huggingface.co/ggerganov/whisper.cpp/resolve/"));
    assert_eq!(find("BASE.EN").unwrap().file, "ggml-base.en.bin");
}
