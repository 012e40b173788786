//! Test support: boot a real `capcom daemon --headless` on a temp data dir and port 0.
#![allow(dead_code)]

pub mod scene;
pub mod skip;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_capcom");

pub struct Daemon {
    pub child: Option<Child>,
    pub data: PathBuf,
    pub config: PathBuf,
    pub addr: String,
    pub _dir: Option<tempfile::TempDir>,
}

/// A `capcom` command with this test's config and data dir, and no user environment leaking in.
pub fn capcom(config: &Path, data: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--config").arg(config).arg("--data-dir").arg(data);
    c.env_remove("CAPCOM_CONFIG").env_remove("CAPCOM_DATA_DIR").env("CAPCOM_LOG", "info");
    c
}

impl Daemon {
    /// Start a daemon with `config_toml` in a fresh temp dir.
    pub fn start(config_toml: &str) -> Daemon {
        Daemon::start_env(config_toml, &[])
    }

    /// Start a daemon with `config_toml` and extra environment variables.
    pub fn start_env(config_toml: &str, env: &[(&str, &str)]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let config = dir.path().join("config.toml");
        std::fs::write(&config, config_toml).unwrap();
        let mut d = Daemon { child: None, data, config, addr: String::new(), _dir: Some(dir) };
        d.boot(env);
        d
    }

    /// Start a daemon with its desktop parts (tray, hotkey, microphone): no `--headless`.
    /// `env` should name the display and session bus it is to use.
    pub fn start_desktop(config_toml: &str, env: &[(&str, &str)]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let config = dir.path().join("config.toml");
        std::fs::write(&config, config_toml).unwrap();
        let mut d = Daemon { child: None, data, config, addr: String::new(), _dir: Some(dir) };
        d.boot_args(&["daemon"], env);
        d
    }

    /// (Re)start the daemon process on the same data dir.
    pub fn boot(&mut self, env: &[(&str, &str)]) {
        self.boot_args(&["daemon", "--headless"], env)
    }

    /// (Re)start the daemon process on the same data dir with these arguments.
    pub fn boot_args(&mut self, args: &[&str], env: &[(&str, &str)]) {
        let _ = std::fs::remove_file(self.data.join("api.addr"));
        let log = std::fs::File::create(self.data.parent().unwrap().join("daemon.stderr")).unwrap();
        let mut cmd = capcom(&self.config, &self.data);
        // Tests expect a dispatched agent to start at once; a test of the grace window sets
        // `[dispatch] grace` in its config.
        if !std::fs::read_to_string(&self.config).unwrap_or_default().contains("grace =") {
            cmd.env("CAPCOM__DISPATCH__GRACE", "0s");
        }
        cmd.args(args)
            .env("CAPCOM__API__LISTEN", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("spawn capcom daemon"));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(a) = std::fs::read_to_string(self.data.join("api.addr"))
                && !a.trim().is_empty() {
                    self.addr = a.trim().to_string();
                    break;
                }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("daemon exited early with {status}: {}", self.stderr());
            }
            assert!(Instant::now() < deadline, "daemon did not write api.addr: {}", self.stderr());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.data.parent().unwrap().join("daemon.stderr")).unwrap_or_default()
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        capcom(&self.config, &self.data).args(args).output().unwrap()
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.data.join("api.token")).unwrap().trim().to_string()
    }

    /// A raw HTTP request to the API; returns (status, body).
    pub fn http(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> (u16, String) {
        http(&self.addr, method, path, token, body)
    }

    /// SIGTERM and wait; returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("daemon ignored SIGTERM: {}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait (a guard against a hang, not a timing assertion) for a daemon started with
    /// `CAPCOM_TEST_KILL_AT` to kill itself at that crash point; its exit must be that SIGKILL.
    pub fn wait_for_crash_point(&mut self) {
        use std::os::unix::process::ExitStatusExt;
        let child = self.child.as_mut().expect("a running daemon");
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert_eq!(status.signal(), Some(libc::SIGKILL), "the daemon died otherwise: {status}\n{}", self.stderr());
                break;
            }
            assert!(Instant::now() < deadline, "the daemon never reached its kill point\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child = None;
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A GET whose body may be binary; returns (status, headers, body bytes). Sent as HTTP/1.0 so the body is not chunked.
pub fn http_bytes(addr: &str, path: &str) -> (u16, String, Vec<u8>) {
    http_raw(addr, "GET", path, &[], &[])
}

/// A raw HTTP/1.0 request with any headers (what a podcast app or a phone on a bad network
/// sends, byte for byte); returns (status, head, body).
pub fn http_raw(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let split = resp.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4).unwrap_or(resp.len());
    let head = String::from_utf8_lossy(&resp[..split]).into_owned();
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head, resp[split..].to_vec())
}

pub fn http(addr: &str, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let body = body.unwrap_or("");
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, dechunk(&body))
}

/// Undo HTTP/1.1 chunked encoding if the body looks chunked.
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    loop {
        let Some((len, after)) = rest.split_once("\r\n") else { return body.to_string() };
        let Ok(n) = usize::from_str_radix(len.trim(), 16) else { return body.to_string() };
        if n == 0 {
            return out;
        }
        if after.len() < n {
            return body.to_string();
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
