//! The headless desktop tests' shared parts: the children they start ([`Reaper`]) and the
//! microphone: a PulseAudio pipe source whose FIFO this feeds
//! in real time, 20 ms at a time, with what is queued, else silence (data written before the sound
//! server opens the FIFO is dropped, so the feeder reconnects until it can write).
//!
//! Included by path (`#[path = "common/mic.rs"] mod mic;`) in test binaries that do not use
//! `mod common`.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Feed the FIFO microphone in real time: what is queued, else silence.
pub fn spawn_mic(fifo: PathBuf, queue: Arc<Mutex<std::collections::VecDeque<f32>>>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        use std::os::unix::fs::OpenOptionsExt;
        while !stop.load(Ordering::Relaxed) {
            let Ok(mut f) = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(&fifo) else {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            };
            let start = Instant::now();
            let mut blocks = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut buf = Vec::with_capacity(640);
                {
                    let mut q = queue.lock().unwrap();
                    for _ in 0..320 {
                        let s = q.pop_front().unwrap_or(0.0);
                        buf.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes());
                    }
                }
                match f.write_all(&buf) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => break,
                }
                blocks += 1;
                let due = start + Duration::from_millis(20 * blocks);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
        }
    })
}

/// Children stopped when the test ends, whatever happens: SIGTERM, a moment, then SIGKILL; then
/// the clean-ups in `.1` run (an X server's lock file, a sound server).
pub struct Reaper(pub Vec<Child>, pub Vec<Box<dyn FnMut()>>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::Signal::SIGTERM);
        }
        std::thread::sleep(Duration::from_millis(300));
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
        for f in &mut self.1 {
            f();
        }
    }
}

/// The children's environment: only these variables (a private home, runtime dir, display,
/// sound server, session bus) and `PATH`; with `user`, every child runs as that user (sway
/// refuses to run as root).
pub struct Env {
    pub vars: Vec<(String, String)>,
    pub user: Option<u32>,
}

impl Env {
    pub fn new(vars: Vec<(String, String)>) -> Env {
        Env { vars, user: None }
    }

    pub fn cmd(&self, program: &str) -> Command {
        let mut c = match self.user {
            Some(uid) => {
                let mut c = Command::new("setpriv");
                c.args([format!("--reuid={uid}"), format!("--regid={uid}"), "--clear-groups".into(), "--".into(), program.into()]);
                c
            }
            None => Command::new(program),
        };
        c.env_clear();
        c.env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c
    }

    pub fn run(&self, program: &str, args: &[&str]) -> std::process::Output {
        self.cmd(program).args(args).stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{program}: {e}"))
    }
}
