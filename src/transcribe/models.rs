//! The model manager: a pinned catalog (`models/manifest.toml`) and a
//! download that resumes with HTTP Range, shows progress, verifies length and
//! SHA-256, validates the file, and installs it atomically. A checksum
//! mismatch deletes the partial file and says so.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const MANIFEST: &str = include_str!("../../models/manifest.toml");

/// Environment variable naming a mirror base URL for model files.
pub const MIRROR_ENV: &str = "CAPCOM_MODEL_MIRROR";

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Manifest {
    pub base_url: String,
    #[serde(rename = "model")]
    pub models: Vec<ModelEntry>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ModelEntry {
    pub name: String,
    pub file: String,
    pub size: u64,
    pub sha256: String,
    pub weights: String,
    #[serde(default)]
    pub multilingual: bool,
    /// A full URL overriding `base_url/file`.
    #[serde(default)]
    pub url: Option<String>,
}

impl ModelEntry {
    /// Where to download it from: `CAPCOM_MODEL_MIRROR` (if set), else the manifest.
    pub fn url(&self) -> String {
        if let Some(u) = &self.url {
            return u.clone();
        }
        let base = std::env::var(MIRROR_ENV).ok().filter(|s| !s.trim().is_empty()).unwrap_or_else(|| manifest().base_url.clone());
        format!("{}/{}", base.trim_end_matches('/'), self.file)
    }
}

/// The built-in manifest.
pub fn manifest() -> &'static Manifest {
    static M: OnceLock<Manifest> = OnceLock::new();
    M.get_or_init(|| toml::from_str(MANIFEST).expect("models/manifest.toml is valid (checked by a test)"))
}

pub fn find(name: &str) -> Option<&'static ModelEntry> {
    manifest().models.iter().find(|m| m.name.eq_ignore_ascii_case(name))
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("unknown model `{0}`; `capcom models list` shows the catalog")]
    Unknown(String),
    #[error("cannot download {url}: {message}")]
    Http { url: String, message: String },
    /// The request never got an answer: no network, DNS, a refused connection, TLS, a timeout.
    #[error(
        "cannot download {url}: {cause}.\n  Through a mirror: set {mirror}=BASE_URL to a server that has {file} (capcom fetches BASE_URL/{file}).\n  By hand: download {url} on a machine that can, copy it to {dest} (SHA-256 {sha256}), then `capcom models list` shows it installed"
    )]
    Unreachable { url: String, cause: String, mirror: &'static str, file: String, dest: String, sha256: String },
    #[error("cannot write {path}: {message}")]
    Io { path: String, message: String },
    #[error(
        "checksum mismatch for {name}: expected sha256 {expected}, got {actual}; the downloaded file was deleted — run `capcom models fetch {name}` again, and if it keeps failing the mirror serves a different file"
    )]
    Checksum { name: String, expected: String, actual: String },
    #[error("size mismatch for {name}: expected {expected} bytes, got {actual}; the downloaded file was deleted")]
    Size { name: String, expected: u64, actual: u64 },
    #[error("{0}")]
    Invalid(String),
}

/// Download progress, for a progress bar or a test.
pub trait Progress {
    /// The transfer starts: `total` bytes, of which `already` are on disk.
    fn start(&mut self, total: u64, already: u64);
    fn advance(&mut self, bytes: u64);
    /// Verifying the checksum.
    fn verifying(&mut self);
    fn finish(&mut self);
}

/// An indicatif progress bar on stderr.
pub struct Bar(Option<indicatif::ProgressBar>, String);

impl Bar {
    pub fn new(label: &str) -> Bar {
        Bar(None, label.to_string())
    }
}

impl Progress for Bar {
    fn start(&mut self, total: u64, already: u64) {
        let pb = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg} [{bar:32}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            pb.set_style(style.progress_chars("=> "));
        }
        pb.set_message(self.1.clone());
        pb.set_position(already);
        if already > 0 {
            pb.println(format!("resuming {} at {} bytes", self.1, already));
        }
        self.0 = Some(pb);
    }
    fn advance(&mut self, bytes: u64) {
        if let Some(pb) = &self.0 {
            pb.inc(bytes);
        }
    }
    fn verifying(&mut self) {
        if let Some(pb) = &self.0 {
            pb.set_message(format!("{} (verifying sha256)", self.1));
        }
    }
    fn finish(&mut self) {
        if let Some(pb) = self.0.take() {
            pb.finish_and_clear();
        }
    }
}

/// Where a manifest model is installed under `dir`.
pub fn installed_path(dir: &Path, entry: &ModelEntry) -> PathBuf {
    dir.join(&entry.file)
}

/// Is it installed with the right length? (The checksum was verified when it was installed.)
pub fn is_installed(dir: &Path, entry: &ModelEntry) -> bool {
    std::fs::metadata(installed_path(dir, entry)).map(|m| m.len() == entry.size).unwrap_or(false)
}

/// Download `entry` into `dir`: resume a partial file, verify, install atomically.
/// Returns the installed path.
pub async fn fetch(
    entry: &ModelEntry,
    dir: &Path,
    http: &reqwest::Client,
    progress: &mut dyn Progress,
) -> Result<PathBuf, FetchError> {
    let io = |path: &Path, e: std::io::Error| FetchError::Io { path: path.display().to_string(), message: e.to_string() };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let dest = installed_path(dir, entry);
    if is_installed(dir, entry) {
        return Ok(dest);
    }
    let partial = dir.join(format!("{}.partial", entry.file));
    let url = entry.url();
    let mut have = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
    if have > entry.size {
        let _ = std::fs::remove_file(&partial);
        have = 0;
    }
    if have < entry.size {
        have = download(&url, &partial, have, entry.size, http, progress).await.map_err(|e| match e {
            Unreachable { url, cause } => FetchError::Unreachable {
                url,
                cause,
                mirror: MIRROR_ENV,
                file: entry.file.clone(),
                dest: dest.display().to_string(),
                sha256: entry.sha256.clone(),
            },
            Other(e) => e,
        })?;
    } else {
        progress.start(entry.size, have);
    }
    if have != entry.size {
        let _ = std::fs::remove_file(&partial);
        progress.finish();
        return Err(FetchError::Size { name: entry.name.clone(), expected: entry.size, actual: have });
    }
    progress.verifying();
    let p2 = partial.clone();
    let actual = tokio::task::spawn_blocking(move || sha256_file(&p2))
        .await
        .map_err(|e| FetchError::Invalid(e.to_string()))?
        .map_err(|e| io(&partial, e))?;
    progress.finish();
    if !actual.eq_ignore_ascii_case(&entry.sha256) {
        let _ = std::fs::remove_file(&partial);
        return Err(FetchError::Checksum { name: entry.name.clone(), expected: entry.sha256.clone(), actual });
    }
    if let Err(e) = super::validate(&partial, Some(&entry.name)) {
        let _ = std::fs::remove_file(&partial);
        return Err(FetchError::Invalid(format!("{} (the file was deleted)", e.problem)));
    }
    std::fs::rename(&partial, &dest).map_err(|e| io(&dest, e))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(dest)
}

/// Why a download stopped: no answer at all (with its cause), or anything else.
enum DownloadError {
    Unreachable { url: String, cause: String },
    Other(FetchError),
}
use DownloadError::{Other, Unreachable};

impl From<FetchError> for DownloadError {
    fn from(e: FetchError) -> Self {
        Other(e)
    }
}

/// Why a request got no answer, in words: walks the error's sources (reqwest → hyper →
/// the resolver, the socket or rustls) for the first one that names a cause.
pub fn unreachable_cause(e: &reqwest::Error) -> String {
    let mut chain: Vec<String> = Vec::new();
    let mut io_kind = None;
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            io_kind.get_or_insert(io.kind());
        }
        let text = s.to_string();
        if !text.is_empty() && !chain.iter().any(|c| c.contains(&text)) {
            chain.push(text);
        }
        src = s.source();
    }
    let all = chain.join(": ").to_lowercase();
    let detail = chain.last().cloned().unwrap_or_default();
    let host = e.url().and_then(|u| u.host_str()).unwrap_or("the server").to_string();
    if all.contains("dns error") || all.contains("failed to lookup address") || all.contains("name or service not known") || all.contains("no address associated") || all.contains("temporary failure in name resolution") {
        format!("the name {host} could not be resolved (DNS: {detail}); this machine may be offline or without a DNS server")
    } else if io_kind == Some(std::io::ErrorKind::ConnectionRefused) || all.contains("connection refused") {
        format!("{host} refused the connection ({detail}); nothing listens there, or a firewall rejects it")
    } else if e.is_timeout() || io_kind == Some(std::io::ErrorKind::TimedOut) || all.contains("timed out") {
        format!("no answer from {host} in time ({detail}); the network may be down or filtered")
    } else if all.contains("certificate") || all.contains("tls") || all.contains("handshake") || all.contains("invalid peer") || all.contains("rustls") || all.contains("corrupt message") || all.contains("invalidcontenttype") {
        format!("the TLS connection to {host} failed ({detail}); a proxy or captive portal may be in the way, or the mirror does not speak HTTPS")
    } else if io_kind == Some(std::io::ErrorKind::NetworkUnreachable) || io_kind == Some(std::io::ErrorKind::HostUnreachable) || all.contains("unreachable") {
        format!("{host} cannot be reached ({detail}); this machine may be offline")
    } else if detail.is_empty() {
        "the request failed before any answer".to_string()
    } else {
        format!("the request failed before any answer ({detail})")
    }
}

/// A server's refusal in words, without its status code.
fn refused_words(status: reqwest::StatusCode) -> String {
    let reason = status.canonical_reason().unwrap_or("an error");
    match status.as_u16() {
        404 | 410 => format!("the server has no such file ({reason}); check the URL or the mirror"),
        401 | 403 => format!("the server refused access ({reason})"),
        429 => format!("the server asks to slow down ({reason}); try again later"),
        s if s >= 500 => format!("the server failed ({reason}); try again later"),
        _ => format!("the server answered \"{reason}\""),
    }
}

/// Fetch bytes from `have` on into `partial`; returns the length on disk after.
async fn download(
    url: &str,
    partial: &Path,
    mut have: u64,
    total: u64,
    http: &reqwest::Client,
    progress: &mut dyn Progress,
) -> Result<u64, DownloadError> {
    let herr = |m: String| FetchError::Http { url: url.to_string(), message: m };
    let unreachable = |e: reqwest::Error| Unreachable { url: url.to_string(), cause: unreachable_cause(&e) };
    let mut req = http.get(url);
    if have > 0 {
        req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
    }
    let mut resp = req.send().await.map_err(unreachable)?;
    let status = resp.status();
    let append = match status.as_u16() {
        206 => true,
        200 => {
            have = 0; // the server ignored the range: start over
            false
        }
        416 => {
            // our partial file does not fit the server's: start over
            let _ = std::fs::remove_file(partial);
            have = 0;
            resp = http.get(url).send().await.map_err(unreachable)?;
            if !resp.status().is_success() {
                return Err(herr(refused_words(resp.status())).into());
            }
            false
        }
        _ => return Err(herr(refused_words(status)).into()),
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(partial)
        .map_err(|e| FetchError::Io { path: partial.display().to_string(), message: e.to_string() })?;
    progress.start(total, have);
    let mut overflow = false;
    let result = async {
        while let Some(chunk) = resp.chunk().await.map_err(|e| herr(format!("{e} (the partial file is kept; run the command again to resume)")))? {
            if have + chunk.len() as u64 > total {
                overflow = true;
                return Err(herr(format!("the server sent more than the expected {total} bytes")));
            }
            file.write_all(&chunk).map_err(|e| FetchError::Io { path: partial.display().to_string(), message: e.to_string() })?;
            have += chunk.len() as u64;
            progress.advance(chunk.len() as u64);
        }
        Ok(())
    }
    .await;
    let _ = file.flush();
    let _ = file.sync_all();
    if let Err(e) = result {
        progress.finish();
        if overflow {
            let _ = std::fs::remove_file(partial);
        }
        return Err(e.into());
    }
    Ok(have)
}

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests;
