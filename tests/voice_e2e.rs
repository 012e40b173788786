//! End to end, headless: a real `capcom daemon` (not headless) under Xvfb
//! with PulseAudio, a pipe source as its microphone fed with espeak-ng speech,
//! and xdotool holding the hotkey around the speech. The stored utterance must
//! be its pre-roll plus the time between the key's edges as the daemon saw them,
//! contain the audio that was fed, and carry a transcript from the generated
//! test model.
//!
//! Needs: Xvfb, xdotool, pulseaudio (+ pactl, parec), espeak-ng and
//! libasound2-plugins (`./capcom.sh test` installs them). Without them a test
//! skips through `tests/common/skip.rs`, which fails it under CI.

#[path = "common/skip.rs"]
mod skip;
#[path = "common/mic.rs"]
mod mic;
use mic::{Env, Reaper};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How far the stored clip (less its pre-roll) may be from the time between the key's edges:
/// the audio that was in flight in PulseAudio's and cpal's buffers at each edge.
const KEY_TO_CLIP: f64 = 0.25;

/// How `./capcom.sh test` gets what these tests run (its APT_PACKAGES).
const INSTALL: &str = "./capcom.sh test installs xvfb xdotool pulseaudio pulseaudio-utils libasound2-plugins espeak-ng";

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(t.elapsed() < timeout, "gave up waiting for {what}{}", LOGS.with(|l| daemon_log_tail(&l.borrow())));
        std::thread::sleep(Duration::from_millis(100));
    }
}

thread_local! {
    /// The data dir whose daemon log a failed wait prints.
    static LOGS: std::cell::RefCell<Option<PathBuf>> = const { std::cell::RefCell::new(None) };
}

fn daemon_log_tail(data: &Option<PathBuf>) -> String {
    let Some(data) = data else { return String::new() };
    let mut out = String::from("\n--- daemon log ---\n");
    if let Ok(dir) = std::fs::read_dir(data.join("logs")) {
        for e in dir.flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            out.push_str(&lines[lines.len().saturating_sub(60)..].join("\n"));
        }
    }
    out
}


fn free_display() -> u32 {
    // the tests here run side by side: each takes its own number, before its Xvfb makes the lock file
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(90);
    loop {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        assert!(n < 400, "no free X display number");
        if !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() && !Path::new(&format!("/tmp/.X{n}-lock")).exists() {
            return n;
        }
    }
}

/// 10 ms RMS envelope.
fn envelope(x: &[f32]) -> Vec<f32> {
    x.chunks(160).map(|c| (c.iter().map(|v| v * v).sum::<f32>() / c.len() as f32).sqrt()).collect()
}

fn norm_corr(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let ma = a.iter().sum::<f32>() / n as f32;
    let mb = b.iter().sum::<f32>() / n as f32;
    let mut num = 0f64;
    let (mut da, mut db) = (0f64, 0f64);
    for i in 0..n {
        let (x, y) = ((a[i] - ma) as f64, (b[i] - mb) as f64);
        num += x * y;
        da += x * x;
        db += y * y;
    }
    (num / (da.sqrt() * db.sqrt()).max(1e-12)) as f32
}

/// Best normalized correlation of `needle` inside `hay`: coarse on
/// envelopes, then sample-accurate around the best envelope lag.
fn best_correlation(hay: &[f32], needle: &[f32]) -> (f32, usize) {
    let (eh, en) = (envelope(hay), envelope(needle));
    assert!(eh.len() >= en.len() / 2, "stored clip much shorter than the speech");
    let mut best = (f32::MIN, 0usize);
    for lag in 0..eh.len().saturating_sub(en.len() / 2) {
        let c = norm_corr(&eh[lag..], &en);
        if c > best.0 {
            best = (c, lag);
        }
    }
    let centre = best.1 * 160;
    let mut fine = (f32::MIN, centre);
    for lag in centre.saturating_sub(400)..(centre + 400).min(hay.len()) {
        let c = norm_corr(&hay[lag..], needle);
        if c > fine.0 {
            fine = (c, lag);
        }
    }
    fine
}

/// A user's desktop under `root`: HOME, a private XDG_RUNTIME_DIR, the data dir (`root/data`) and an X
/// server (Xvfb) on a free display, stopped with the returned [`Reaper`].
fn desktop(root: &Path) -> (Env, Reaper) {
    let (home, runtime, data) = (root.join("home"), root.join("run"), root.join("data"));
    for d in [&home, &runtime, &data] {
        std::fs::create_dir_all(d).unwrap();
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    let display = free_display();
    let env = Env {
        user: None,
        vars: vec![
            ("HOME".into(), home.display().to_string()),
            ("XDG_RUNTIME_DIR".into(), runtime.display().to_string()),
            ("XDG_CONFIG_HOME".into(), home.join(".config").display().to_string()),
            ("DISPLAY".into(), format!(":{display}")),
        ],
    };
    let mut reaper = Reaper(Vec::new(), Vec::new());
    let xvfb = env
        .cmd("Xvfb")
        .args([format!(":{display}").as_str(), "-nolisten", "tcp", "-screen", "0", "640x480x24"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    reaper.0.push(xvfb);
    wait_for("Xvfb", Duration::from_secs(20), || Path::new(&format!("/tmp/.X11-unix/X{display}")).exists());
    (env, reaper)
}

/// A PulseAudio daemon in `env`, ready for `pactl`, killed by `reaper` when the test ends.
fn pulseaudio(env: &Env, reaper: &mut Reaper) {
    let out = env.run("pulseaudio", &["-D", "--exit-idle-time=-1", "--log-target=stderr"]);
    assert!(out.status.success(), "pulseaudio: {}", String::from_utf8_lossy(&out.stderr));
    let env_vars = env.vars.clone();
    reaper.1.push(Box::new(move || {
        let _ = Env::new(env_vars.clone()).run("pulseaudio", &["--kill"]);
    }));
    wait_for("pulseaudio", Duration::from_secs(20), || env.run("pactl", &["info"]).status.success());
}

#[test]
fn holding_the_hotkey_records_stores_and_transcribes() {
    if !skip::programs(&["Xvfb", "xdotool", "pulseaudio", "pactl", "espeak-ng"], INSTALL) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let (env, mut reaper) = desktop(&root);
    let data = root.join("data");

    // sound server with a FIFO microphone
    let fifo = root.join("mic.fifo");
    let start_pulse = || {
        let out = env.run("pulseaudio", &["-D", "--exit-idle-time=-1", "--log-target=stderr"]);
        assert!(out.status.success(), "pulseaudio: {}", String::from_utf8_lossy(&out.stderr));
        wait_for("pulseaudio", Duration::from_secs(20), || env.run("pactl", &["info"]).status.success());
        let out = env.run(
            "pactl",
            &[
                "load-module",
                "module-pipe-source",
                "source_name=mic",
                &format!("file={}", fifo.display()),
                "format=s16le",
                "rate=16000",
                "channels=1",
            ],
        );
        assert!(out.status.success(), "pipe source: {}", String::from_utf8_lossy(&out.stderr));
        assert!(env.run("pactl", &["set-default-source", "mic"]).status.success());
    };
    start_pulse();
    {
        let env_vars = env.vars.clone();
        reaper.1.push(Box::new(move || {
            let _ = Env::new(env_vars.clone()).run("pulseaudio", &["--kill"]);
        }));
    }

    // the speech
    let speech_wav = root.join("speech.wav");
    let out = env.run("espeak-ng", &["-w", &speech_wav.display().to_string(), "merge task three and then read the changelog"]);
    assert!(out.status.success());
    let a = capcom::capture::wav::read(&speech_wav).unwrap();
    let speech = capcom::capture::resample::to_16k_mono(&a.samples, a.rate, a.channels).unwrap();
    let speech_secs = speech.len() as f64 / 16_000.0;
    assert!(speech_secs > 1.0, "espeak-ng produced {speech_secs} s");

    // a microphone that always delivers: silence, and the speech when asked
    let queue: Arc<Mutex<std::collections::VecDeque<f32>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = mic::spawn_mic(fifo.clone(), queue.clone(), stop.clone());

    // the model and the daemon
    let model = root.join("ggml-test-tiny.bin");
    capcom::transcribe::testmodel::TestModel::tiny().write(&model).unwrap();
    LOGS.with(|l| *l.borrow_mut() = Some(data.clone()));
    let bin = env!("CARGO_BIN_EXE_capcom");
    let daemon = env
        .cmd(bin)
        .arg("daemon")
        .env("CAPCOM_DATA_DIR", &data)
        .env("CAPCOM__API__LISTEN", "127.0.0.1:0")
        .env("CAPCOM__VOICE__MODEL", &model)
        .env("RUST_LOG", "capcom=debug,info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    reaper.0.insert(0, daemon);
    let log_has = |needle: &str| -> bool {
        let Ok(dir) = std::fs::read_dir(data.join("logs")) else { return false };
        dir.flatten().any(|e| std::fs::read_to_string(e.path()).map(|s| s.contains(needle)).unwrap_or(false))
    };
    wait_for("the daemon's API", Duration::from_secs(60), || data.join("api.addr").exists());
    wait_for("the microphone", Duration::from_secs(60), || log_has("microphone open"));
    wait_for("the speech model", Duration::from_secs(60), || log_has("speech model loaded"));
    std::thread::sleep(Duration::from_millis(1500)); // audio flowing, pre-roll filled

    // hold the chord around the speech
    let xdo = |what: &str| {
        let out = env.run("xdotool", &[what, "ctrl+alt+space"]);
        assert!(out.status.success(), "xdotool {what}: {}", String::from_utf8_lossy(&out.stderr));
    };
    xdo("keydown");
    let pressed = Instant::now();
    std::thread::sleep(Duration::from_millis(200));
    queue.lock().unwrap().extend(speech.iter().copied());
    std::thread::sleep(Duration::from_secs_f64(speech_secs + 0.4));
    xdo("keyup");
    let held = pressed.elapsed().as_secs_f64();

    // the stored utterance
    let history = || -> Vec<serde_json::Value> {
        let out = env.cmd(bin).args(["history", "--json"]).env("CAPCOM_DATA_DIR", &data).output().unwrap();
        if !out.status.success() {
            return Vec::new();
        }
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    };
    let mut rows = Vec::new();
    wait_for("a transcribed utterance", Duration::from_secs(120), || {
        rows = history();
        rows.first().is_some_and(|u| !u["transcript"].is_null())
    });
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let u = &rows[0];
    assert_eq!(u["source"], "voice");
    let dur = u["duration_ms"].as_f64().unwrap() / 1000.0;
    // The clip is the pre-roll and what the microphone delivered between the key's edges as
    // the daemon saw them (not as this test timed them: that would measure scheduling). The
    // audio path's buffering delays both ends alike, so they agree within a buffer or two.
    let key = |edge: &str| {
        let t = u["timings"]["key"][edge].as_str().unwrap_or_else(|| panic!("no key {edge} time: {u:#}"));
        chrono::DateTime::parse_from_rfc3339(t).unwrap()
    };
    let between = (key("up") - key("down")).num_microseconds().unwrap() as f64 / 1e6;
    let pre_roll = u["timings"]["pre_roll_ms"].as_f64().unwrap() / 1000.0;
    assert!(pre_roll > 0.0 && pre_roll <= 0.3 + 1e-9, "pre-roll {pre_roll:.3} s");
    assert!(
        (dur - pre_roll - between).abs() < KEY_TO_CLIP,
        "stored {dur:.3} s = pre-roll {pre_roll:.3} s + {:.3} s, but the key was down {between:.3} s",
        dur - pre_roll
    );

    let audio = PathBuf::from(u["audio_path"].as_str().unwrap());
    let stored = capcom::capture::wav::read(&audio).unwrap();
    assert_eq!((stored.rate, stored.channels), (16_000, 1));
    assert!((stored.samples.len() as f64 / 16_000.0 - dur).abs() < 0.01);
    let (corr, at) = best_correlation(&stored.samples, &speech);
    eprintln!(
        "held {held:.2} s (as this test timed it), key down {between:.3} s, stored {dur:.3} s with {pre_roll:.3} s pre-roll, speech {speech_secs:.2} s found at {:.2} s (correlation {corr:.2}), transcript {:?}",
        at as f64 / 16_000.0,
        u["transcript"]
    );
    assert!(corr > 0.6, "the stored audio does not contain the speech (correlation {corr:.2} at {at})");

    let timings = &u["timings"];
    assert_eq!(timings["model"].as_str().unwrap(), model.display().to_string(), "{timings:#}");
    assert_eq!(timings["gate"]["heard"], true);
    // the generated model's weights are random: its words are either kept, or rejected as
    // invented (a loop, no speech) with the reason and the decoded text stored
    let text = u["transcript"].as_str().unwrap();
    assert!(
        !text.is_empty() || (timings["rejected"].is_string() && timings["rejected_text"].is_string()),
        "{u:#}"
    );
    assert_eq!(timings["vad"]["voice"], true, "espeak-ng speech has a voice: {timings:#}");
    assert!(timings["timings"]["encode_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(timings["end"], "released");

    // the sound server dies mid-sentence: what was captured is kept
    let opened = || -> usize {
        std::fs::read_dir(data.join("logs"))
            .map(|d| d.flatten().map(|e| std::fs::read_to_string(e.path()).unwrap_or_default().matches("microphone open").count()).sum())
            .unwrap_or(0)
    };
    let opened_before = opened();
    xdo("keydown");
    std::thread::sleep(Duration::from_millis(200));
    queue.lock().unwrap().extend(speech.iter().copied());
    std::thread::sleep(Duration::from_millis(1200));
    assert!(env.run("pulseaudio", &["--kill"]).status.success());
    wait_for("the interrupted utterance", Duration::from_secs(60), || {
        rows = history();
        rows.len() == 2 && !rows[0]["timings"].is_null()
    });
    xdo("keyup"); // the recording already ended; this release changes nothing
    let lost = &rows[0];
    assert!(lost["timings"]["end"]["device_lost"].is_string(), "{lost:#}");
    let kept = lost["duration_ms"].as_f64().unwrap() / 1000.0;
    assert!(kept > 1.0, "kept only {kept:.2} s");
    queue.lock().unwrap().clear();

    // and it recovers when a device is back
    start_pulse();
    wait_for("the microphone to reopen", Duration::from_secs(60), || opened() > opened_before);
    std::thread::sleep(Duration::from_millis(1500));
    xdo("keydown");
    std::thread::sleep(Duration::from_millis(200));
    queue.lock().unwrap().extend(speech.iter().copied());
    std::thread::sleep(Duration::from_secs_f64(speech_secs + 0.4));
    xdo("keyup");
    wait_for("the utterance after recovery", Duration::from_secs(120), || {
        rows = history();
        rows.len() == 3 && !rows[0]["transcript"].is_null()
    });
    let again = &rows[0];
    assert_eq!(again["timings"]["end"], "released", "{again:#}");
    let stored = capcom::capture::wav::read(Path::new(again["audio_path"].as_str().unwrap())).unwrap();
    let (corr, _) = best_correlation(&stored.samples, &speech);
    eprintln!("after losing the device for a while: kept {kept:.2} s; next utterance correlation {corr:.2}");
    assert!(corr > 0.6, "after recovery the audio does not contain the speech ({corr:.2})");

    stop.store(true, Ordering::Relaxed);
    let _ = feeder.join();
    drop(reaper);
}

#[test]
fn a_missing_model_does_not_stop_the_daemon() {
    // No display, no microphone, no model: the daemon still serves its API
    // and says how to get the model.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let bin = env!("CARGO_BIN_EXE_capcom");
    let child = Command::new(bin)
        .arg("daemon")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("HOME", tmp.path())
        .env("XDG_RUNTIME_DIR", tmp.path())
        .env("CAPCOM_DATA_DIR", &data)
        .env("CAPCOM__API__LISTEN", "127.0.0.1:0")
        .env("CAPCOM__VOICE__MODEL", "tiny.en")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reaper = Reaper(vec![child], Vec::new());
    let log_has = |needle: &str| -> bool {
        let Ok(dir) = std::fs::read_dir(data.join("logs")) else { return false };
        dir.flatten().any(|e| std::fs::read_to_string(e.path()).map(|s| s.contains(needle)).unwrap_or(false))
    };
    wait_for("the API", Duration::from_secs(60), || data.join("api.addr").exists());
    wait_for("the model advice", Duration::from_secs(60), || log_has("capcom models fetch tiny.en"));
    let out = Command::new(bin).args(["history", "--json"]).env("CAPCOM_DATA_DIR", &data).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(reaper.0[0].try_wait().unwrap().is_none(), "the daemon exited");
    // the remote toggle reaches it (no microphone: nothing is recorded, nothing breaks)
    let out = Command::new(bin).args(["listen", "--toggle"]).env("CAPCOM_DATA_DIR", &data).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::thread::sleep(Duration::from_millis(300));
    assert!(reaper.0[0].try_wait().unwrap().is_none(), "the daemon exited after the toggle");
    // and it stops cleanly
    let pid = reaper.0[0].id() as i32;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM).unwrap();
    let mut status = None;
    wait_for("the daemon to stop", Duration::from_secs(60), || {
        status = reaper.0[0].try_wait().unwrap();
        status.is_some()
    });
    assert!(status.unwrap().success(), "{status:?}");
    assert!(!data.join("daemon.pid").exists());
}

#[test]
fn status_speak_is_heard_on_the_null_sink() {
    // `capcom status --speak` against a headless daemon, with PulseAudio's null sink as
    // the speaker: what the sink's monitor records must be speech-loud for a while.
    if !skip::programs(&["pulseaudio", "pactl", "parec"], INSTALL) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let (home, runtime, data) = (root.join("home"), root.join("run"), root.join("data"));
    for d in [&home, &runtime, &data] {
        std::fs::create_dir_all(d).unwrap();
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    let env = Env {
        user: None,
        vars: vec![
            ("HOME".into(), home.display().to_string()),
            ("XDG_RUNTIME_DIR".into(), runtime.display().to_string()),
            ("XDG_CONFIG_HOME".into(), home.join(".config").display().to_string()),
        ],
    };
    let mut reaper = Reaper(Vec::new(), Vec::new());
    pulseaudio(&env, &mut reaper);
    let out = env.run("pactl", &["load-module", "module-null-sink", "sink_name=speaker", "rate=16000", "channels=1"]);
    assert!(out.status.success(), "null sink: {}", String::from_utf8_lossy(&out.stderr));
    assert!(env.run("pactl", &["set-default-sink", "speaker"]).status.success());

    // Record the sink's monitor, raw 16 kHz mono.
    let recorded = root.join("monitor.raw");
    let rec = env
        .cmd("parec")
        .args(["-d", "speaker.monitor", "--format=s16le", "--rate=16000", "--channels=1", "--latency-msec=20"])
        .stdout(std::fs::File::create(&recorded).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    reaper.0.push(rec);

    let bin = env!("CARGO_BIN_EXE_capcom");
    let config = root.join("config.toml");
    std::fs::write(&config, "[speech]\nannounce = \"none\"\n").unwrap();
    let capcom = |args: &[&str]| {
        let mut c = env.cmd(bin);
        c.arg("--config").arg(&config).arg("--data-dir").arg(&data).args(args);
        c
    };
    let daemon = capcom(&["daemon", "--headless"])
        .env("CAPCOM__API__LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    reaper.0.push(daemon);
    LOGS.with(|l| *l.borrow_mut() = Some(data.clone()));
    wait_for("the API", Duration::from_secs(60), || data.join("api.addr").exists());

    let before = std::fs::metadata(&recorded).map(|m| m.len()).unwrap_or(0);
    let out = capcom(&["status", "--speak"]).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "status --speak: {}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!said.trim().is_empty());
    // Let the monitor's last buffers reach the file.
    std::thread::sleep(Duration::from_millis(500));
    let bytes = std::fs::read(&recorded).unwrap();
    let samples: Vec<f32> = bytes[before as usize..]
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0)
        .collect();
    let env_rms = envelope(&samples);
    let loud = env_rms.iter().filter(|&&r| r > 0.01).count();
    // 10 ms windows: speech-loud for at least half a second of what was said.
    assert!(loud >= 50, "the null sink heard {loud} loud 10 ms windows of {} ({said})", env_rms.len());
}

#[path = "common/speech.rs"]
#[allow(dead_code)]
mod speech;


/// A real `capcom daemon` with the real Whisper tiny.en (imported from its CTranslate2
/// package, see tests/common/speech.rs) under Xvfb, PulseAudio with a FIFO microphone and
/// a null sink as the speaker (recorded by parec), and xdotool for the hotkey.
struct Desk {
    env: Env,
    _reaper: Reaper,
    data: PathBuf,
    root: PathBuf,
    recorded: PathBuf,
    queue: Arc<Mutex<std::collections::VecDeque<f32>>>,
    stop: Arc<AtomicBool>,
    feeder: Option<std::thread::JoinHandle<()>>,
    _tmp: tempfile::TempDir,
}

impl Desk {
    /// Everything started and the model loaded; `vars` go to the daemon. None when a
    /// program or the model is missing (which fails the test under CI).
    fn start(vars: &[(&str, &str)]) -> Option<Desk> {
        if !skip::programs(&["Xvfb", "xdotool", "pulseaudio", "pactl", "parec", "espeak-ng"], INSTALL) {
            return None;
        }
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        // a missing model skips through the helper (under CI, or with CAPCOM_SPEECH_MODEL_DIR set, it fails)
        let model = speech::real_model(env!("CARGO_BIN_EXE_capcom"), &root)?;
        let (env, mut reaper) = desktop(&root);
        let data = root.join("data");

        // sound server: a FIFO microphone and a null sink as the speaker
        let fifo = root.join("mic.fifo");
        pulseaudio(&env, &mut reaper);
        let fifo_arg = format!("file={}", fifo.display());
        for args in [
            vec!["load-module", "module-pipe-source", "source_name=mic", fifo_arg.as_str(), "format=s16le", "rate=16000", "channels=1"],
            vec!["set-default-source", "mic"],
            vec!["load-module", "module-null-sink", "sink_name=speaker", "rate=16000", "channels=1"],
            vec!["set-default-sink", "speaker"],
        ] {
            let out = env.run("pactl", &args);
            assert!(out.status.success(), "pactl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        let recorded = root.join("monitor.raw");
        let rec = env
            .cmd("parec")
            .args(["-d", "speaker.monitor", "--format=s16le", "--rate=16000", "--channels=1", "--latency-msec=20"])
            .stdout(std::fs::File::create(&recorded).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        reaper.0.push(rec);

        let queue: Arc<Mutex<std::collections::VecDeque<f32>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let feeder = mic::spawn_mic(fifo.clone(), queue.clone(), stop.clone());

        LOGS.with(|l| *l.borrow_mut() = Some(data.clone()));
        let mut cmd = env.cmd(env!("CARGO_BIN_EXE_capcom"));
        cmd.arg("daemon")
            .env("CAPCOM_DATA_DIR", &data)
            .env("CAPCOM__API__LISTEN", "127.0.0.1:0")
            .env("CAPCOM__VOICE__MODEL", &model)
            // no start/stop tones: what the speaker carries is the answer alone
            .env("CAPCOM__VOICE__CUES", "false")
            .env("RUST_LOG", "capcom=debug,info")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in vars {
            cmd.env(k, v);
        }
        reaper.0.insert(0, cmd.spawn().unwrap());
        let desk = Desk { env, _reaper: reaper, data, root, recorded, queue, stop, feeder: Some(feeder), _tmp: tmp };
        wait_for("the daemon's API", Duration::from_secs(60), || desk.data.join("api.addr").exists());
        wait_for("the microphone", Duration::from_secs(60), || desk.log_has("microphone open"));
        wait_for("the speech model", Duration::from_secs(120), || desk.log_has("speech model loaded"));
        std::thread::sleep(Duration::from_millis(1500));
        Some(desk)
    }

    fn log_has(&self, needle: &str) -> bool {
        let Ok(dir) = std::fs::read_dir(self.data.join("logs")) else { return false };
        dir.flatten().any(|e| std::fs::read_to_string(e.path()).map(|s| s.contains(needle)).unwrap_or(false))
    }

    /// Hold the hotkey, say `samples` into the microphone in real time, release.
    fn say(&self, samples: &[f32]) {
        let xdo = |what: &str| {
            let out = self.env.run("xdotool", &[what, "ctrl+alt+space"]);
            assert!(out.status.success(), "xdotool {what}: {}", String::from_utf8_lossy(&out.stderr));
        };
        xdo("keydown");
        std::thread::sleep(Duration::from_millis(200));
        self.queue.lock().unwrap().extend(samples.iter().copied());
        std::thread::sleep(Duration::from_secs_f64(samples.len() as f64 / 16_000.0 + 0.3));
        xdo("keyup");
    }

    /// `capcom history --json`, newest first.
    fn history(&self) -> Vec<serde_json::Value> {
        let out = self.env.cmd(env!("CARGO_BIN_EXE_capcom")).args(["history", "--json"]).env("CAPCOM_DATA_DIR", &self.data).output().unwrap();
        if !out.status.success() {
            return Vec::new();
        }
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    }

    /// The newest utterance once it has its transcript.
    fn transcribed(&self) -> serde_json::Value {
        let mut rows = Vec::new();
        wait_for("a transcribed utterance", Duration::from_secs(120), || {
            rows = self.history();
            rows.first().is_some_and(|u| !u["transcript"].is_null())
        });
        rows.swap_remove(0)
    }
}

impl Drop for Desk {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(f) = self.feeder.take() {
            let _ = f.join();
        }
    }
}

#[test]
fn a_spoken_question_is_answered_aloud_with_the_real_model() {
    // The whole loop with the real Whisper tiny.en: hold the hotkey under Xvfb, say
    // "What's finished?" into a PulseAudio pipe source, release; the daemon hears a status
    // question and speaks the answer, which PulseAudio's null sink (the default speaker)
    // must carry. Streaming is switched on, so the clip goes through the recorder's tap and
    // `transcribe::stream` as well.
    let Some(desk) = Desk::start(&[("CAPCOM__VOICE__STREAMING", "true")]) else { return };
    let question = speech::speak("What's finished?", "en-us", 175, &desk.root);
    let before = std::fs::metadata(&desk.recorded).map(|m| m.len()).unwrap_or(0) as usize;
    desk.say(&question);
    let u = desk.transcribed();
    let text = u["transcript"].as_str().unwrap_or_default().to_string();
    assert!(u["timings"]["rejected"].is_null(), "the question was rejected: {u:#}");
    let cfg = capcom::config::Config::default();
    let now = chrono::Utc::now().fixed_offset();
    let intent = capcom::understand::parse(&text, &capcom::understand::Context { config: &cfg, tasks: &[], pending: None, now });
    assert_eq!(intent.intent.as_str(), "status", "heard {text:?}");

    // the answer, spoken by the daemon, reaches the speaker
    let mut loud = 0;
    wait_for("the spoken answer on the null sink", Duration::from_secs(60), || {
        let bytes = std::fs::read(&desk.recorded).unwrap_or_default();
        let samples: Vec<f32> = bytes[before.min(bytes.len()) & !1..]
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0)
            .collect();
        loud = envelope(&samples).iter().filter(|&&r| r > 0.01).count();
        // nothing else plays there (cues are off); the short answer measured 54 and 59
        loud >= 25
    });
    eprintln!("heard {text:?}; the answer was loud for {loud} × 10 ms on the null sink; stream {}", u["timings"]["stream"]);
}

#[test]
fn a_brief_longer_than_one_window_is_decoded_while_the_key_is_held() {
    // With the defaults (no streaming), a 33 s brief held on the hotkey: its first 28 s
    // piece is decoded while the key is still down (`transcribe::ahead`), so the utterance
    // records one piece decoded while held, and the text holds the whole brief.
    let Some(desk) = Desk::start(&[]) else { return };
    let mut text = String::new();
    let mut brief = Vec::new();
    for b in speech::BRIEFS.iter().cycle() {
        if brief.len() as f64 >= 33.0 * 16_000.0 {
            break;
        }
        text.push_str(b);
        text.push(' ');
        brief.extend(speech::speak(b, "en-us", 175, &desk.root));
    }
    desk.say(&brief);
    let u = desk.transcribed();
    let heard = u["transcript"].as_str().unwrap_or_default();
    assert!(u["timings"]["rejected"].is_null(), "rejected: {u:#}");
    assert_eq!(u["timings"]["pieces_while_held"], 1, "{u:#}");
    let (e, n) = speech::word_errors(&text, heard);
    assert!((e as f64) < 0.35 * n as f64, "{e} of {n} words wrong: {heard:?}");
    eprintln!("heard {heard:?} ({e} of {n} words wrong); {}", u["timings"]["timings"]);
}
