//! Logging through `tracing`: stderr for the CLI, stderr plus a daily rolling file
//! (`$XDG_STATE_HOME/capcom`, or the data dir when one is given) for the daemon. Every line passes through a redactor that
//! replaces registered secrets (the API token, agent and GitHub tokens) with `[redacted]`.

use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, OnceLock, RwLock};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());
static FILE_GUARD: OnceLock<Mutex<Option<tracing_appender::non_blocking::WorkerGuard>>> = OnceLock::new();

/// Register a value that must never appear in a log line. Short values are ignored.
pub fn register_secret(value: &str) {
    let v = value.trim();
    if v.len() < 8 {
        return;
    }
    let mut s = SECRETS.write().unwrap_or_else(|p| p.into_inner());
    if !s.iter().any(|x| x == v) {
        s.push(v.to_string());
    }
}

/// Replace every registered secret in `text`.
pub fn redact(text: &str) -> String {
    let s = SECRETS.read().unwrap_or_else(|p| p.into_inner());
    let mut out = text.to_string();
    for secret in s.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "[redacted]");
        }
    }
    out
}

/// A writer that buffers one formatted event and redacts it before passing it on.
pub struct Redacting<W: Write> {
    inner: W,
    buf: Vec<u8>,
}

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let text = redact(&String::from_utf8_lossy(&self.buf));
            self.inner.write_all(text.as_bytes())?;
            self.buf.clear();
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for Redacting<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

pub struct RedactingMake<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for RedactingMake<M> {
    type Writer = Redacting<M::Writer>;
    fn make_writer(&'a self) -> Self::Writer {
        Redacting { inner: self.0.make_writer(), buf: Vec::new() }
    }
}

/// Colour on stderr only for a terminal, and never with `NO_COLOR` set.
fn colour() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn filter(default: &str) -> EnvFilter {
    EnvFilter::try_from_env("CAPCOM_LOG").unwrap_or_else(|_| EnvFilter::new(default))
}

/// CLI logging: warnings and errors to stderr, more with `CAPCOM_LOG=debug`.
pub fn init_cli() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter("warn"))
        .with_writer(RedactingMake(std::io::stderr))
        .with_ansi(colour())
        .with_target(false)
        .without_time()
        .try_init();
}

/// Daemon logging: stderr and `capcom.log.YYYY-MM-DD` in `logs` (`DataDir::daemon_logs`). A logs folder that
/// cannot be written is an error naming it, never a panic.
pub fn init_daemon(logs: &Path) -> Result<(), String> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    std::fs::create_dir_all(logs).map_err(|e| format!("cannot write logs in {}: {e}", logs.display()))?;
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("capcom.log")
        .build(logs)
        .map_err(|e| format!("cannot write logs in {}: {e}", logs.display()))?;
    let (file, guard) = tracing_appender::non_blocking(appender);
    *FILE_GUARD.get_or_init(|| Mutex::new(None)).lock().unwrap_or_else(|p| p.into_inner()) = Some(guard);
    let _ = tracing_subscriber::registry()
        .with(filter("info"))
        .with(tracing_subscriber::fmt::layer().with_writer(RedactingMake(std::io::stderr)).with_ansi(colour()).with_target(false))
        .with(tracing_subscriber::fmt::layer().with_writer(RedactingMake(file)).with_ansi(false))
        .try_init();
    Ok(())
}

/// Flush the file log (call before exit).
pub fn flush() {
    if let Some(g) = FILE_GUARD.get() {
        g.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_are_redacted() {
        register_secret("ghp_0123456789abcdefSECRET");
        register_secret("short");
        let line = "POST with Authorization: Bearer ghp_0123456789abcdefSECRET and short";
        let out = redact(line);
        assert!(!out.contains("ghp_0123456789abcdefSECRET"));
        assert!(out.contains("[redacted]"));
        assert!(out.contains("short"), "short values are not treated as secrets");
    }

    #[test]
    fn the_writer_redacts_whole_lines() {
        register_secret("tok_abcdefghijklmnop");
        let mut w = Redacting { inner: Vec::new(), buf: Vec::new() };
        w.write_all(b"token=tok_abcdef").unwrap();
        w.write_all(b"ghijklmnop\n").unwrap();
        w.flush().unwrap();
        assert_eq!(String::from_utf8(w.inner.clone()).unwrap(), "token=[redacted]\n");
    }
}
