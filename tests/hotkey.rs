//! Push-to-talk on Wayland, headless: a real `capcom daemon` (not headless) in a Wayland-like
//! session with a private session bus on which this test serves the desktop portal's
//! `GlobalShortcuts` and `host.portal.Registry` as flatpak/xdg-desktop-portal's
//! `data/org.freedesktop.portal.GlobalShortcuts.xml`, `org.freedesktop.portal.Request.xml`
//! and `org.freedesktop.host.portal.Registry.xml` specify them (Debian 12's portal, 1.16, has
//! no GlobalShortcuts): each method returns a Request object path and answers on it with a
//! `Response(u, a{sv})` signal; `Activated` / `Deactivated` carry a millisecond timestamp.
//! PulseAudio with a pipe source is the microphone (the recipe of `tests/voice_e2e.rs`).
//!
//! * the app id is registered before the session is made;
//! * a press and a release through the portal record one clip as long as the hold;
//! * `capcom listen --start` / `--stop` record a clip too, and repeating either changes nothing;
//! * the keyboards read through evdev, with a uinput virtual keyboard where `/dev/uinput` exists.
//!
//! Needs dbus-daemon, pulseaudio (+ pactl), espeak-ng and libasound2-plugins; without them
//! the test says so loudly and skips.

#[path = "common/skip.rs"]
mod skip;
#[path = "common/mic.rs"]
mod mic;
use mic::{Env, Reaper};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};

/// Wait (a guard against a hang, not a timing assertion) until `ok` holds.
async fn wait_for(what: &str, data: &Path, mut ok: impl FnMut() -> bool) {
    for _ in 0..1200 {
        if ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("gave up waiting for {what}\n--- daemon log ---\n{}", log_text(data));
}


fn log_text(data: &Path) -> String {
    let mut out = String::new();
    if let Ok(dir) = std::fs::read_dir(data.join("logs")) {
        for e in dir.flatten().filter(|e| e.path().is_file()) {
            out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
        }
    }
    out
}


/// What the stand-in portal was asked, in order.
type Calls = Arc<Mutex<Vec<String>>>;

const PORTAL_PATH: &str = "/org/freedesktop/portal/desktop";

fn sender_part(hdr: &Header<'_>) -> String {
    hdr.sender().map(|s| s.trim_start_matches(':').replace('.', "_")).unwrap_or_default()
}

fn string_of(options: &HashMap<String, OwnedValue>, key: &str) -> String {
    options.get(key).and_then(|v| String::try_from(v.try_clone().ok()?).ok()).unwrap_or_default()
}

/// Answer a Request the way the portal does: `Response(response, results)` on its path.
fn respond(conn: zbus::Connection, path: String, results: HashMap<String, OwnedValue>) {
    tokio::spawn(async move {
        conn.emit_signal(None::<&str>, path.as_str(), "org.freedesktop.portal.Request", "Response", &(0u32, results))
            .await
            .unwrap();
    });
}

struct Registry(Calls);

#[zbus::interface(name = "org.freedesktop.host.portal.Registry")]
impl Registry {
    async fn register(&self, app_id: String, _options: HashMap<String, OwnedValue>) {
        self.0.lock().unwrap().push(format!("Register {app_id}"));
    }
    #[zbus(property)]
    fn version(&self) -> u32 {
        1
    }
}

struct Shortcuts {
    calls: Calls,
    /// The session the daemon made, once it made one.
    session: Arc<Mutex<Option<String>>>,
}

#[zbus::interface(name = "org.freedesktop.portal.GlobalShortcuts")]
impl Shortcuts {
    async fn create_session(
        &self,
        options: HashMap<String, OwnedValue>,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
    ) -> OwnedObjectPath {
        let sender = sender_part(&hdr);
        let request = format!("{PORTAL_PATH}/request/{sender}/{}", string_of(&options, "handle_token"));
        let session = format!("{PORTAL_PATH}/session/{sender}/{}", string_of(&options, "session_handle_token"));
        self.calls.lock().unwrap().push("CreateSession".into());
        *self.session.lock().unwrap() = Some(session.clone());
        // `session_handle` is a string, as the portal's XML says it stays for compatibility
        let results = HashMap::from([("session_handle".to_string(), OwnedValue::try_from(Value::from(session)).unwrap())]);
        respond(conn.clone(), request.clone(), results);
        OwnedObjectPath::try_from(request).unwrap()
    }

    async fn bind_shortcuts(
        &self,
        session: OwnedObjectPath,
        shortcuts: Vec<(String, HashMap<String, OwnedValue>)>,
        _parent_window: String,
        options: HashMap<String, OwnedValue>,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
    ) -> OwnedObjectPath {
        let request = format!("{PORTAL_PATH}/request/{}/{}", sender_part(&hdr), string_of(&options, "handle_token"));
        let mut bound = Vec::new();
        for (id, props) in &shortcuts {
            self.calls.lock().unwrap().push(format!(
                "BindShortcuts {} {id} preferred={}",
                session.as_str(),
                string_of(props, "preferred_trigger")
            ));
            // the desktop's dialog confirmed the preferred key, and names it its own way
            let info: HashMap<String, Value> = HashMap::from([
                ("description".to_string(), Value::from(string_of(props, "description"))),
                ("trigger_description".to_string(), Value::from("Ctrl+Alt+Space")),
            ]);
            bound.push((id.clone(), info));
        }
        let results = HashMap::from([("shortcuts".to_string(), OwnedValue::try_from(Value::from(bound)).unwrap())]);
        respond(conn.clone(), request.clone(), results);
        OwnedObjectPath::try_from(request).unwrap()
    }

    #[zbus(signal)]
    async fn activated(
        emitter: &SignalEmitter<'_>,
        session_handle: ObjectPath<'_>,
        shortcut_id: &str,
        timestamp: u64,
        options: HashMap<&str, Value<'_>>,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn deactivated(
        emitter: &SignalEmitter<'_>,
        session_handle: ObjectPath<'_>,
        shortcut_id: &str,
        timestamp: u64,
        options: HashMap<&str, Value<'_>>,
    ) -> zbus::Result<()>;

    #[zbus(property)]
    fn version(&self) -> u32 {
        1
    }
}

/// PulseAudio with a FIFO as the default source, fed silence and, when asked, espeak-ng speech.
async fn microphone(
    env: &Env,
    root: &Path,
    data: &Path,
    reaper: &mut Reaper,
) -> (Vec<f32>, f64, Arc<Mutex<std::collections::VecDeque<f32>>>, Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let root = root.to_path_buf();
    let data = data.to_path_buf();
    let user = env.user;
    // the sound server, with a FIFO as the microphone
    let fifo = root.join("mic.fifo");
    let out = env.run("pulseaudio", &["-D", "--exit-idle-time=-1", "--log-target=stderr"]);
    assert!(out.status.success(), "pulseaudio: {}", String::from_utf8_lossy(&out.stderr));
    {
        let vars = env.vars.clone();
        reaper.1.push(Box::new(move || {
            let _ = Env { vars: vars.clone(), user }.run("pulseaudio", &["--kill"]);
        }));
    }
    wait_for("pulseaudio", &data, || env.run("pactl", &["info"]).status.success()).await;
    let file = format!("file={}", fifo.display());
    let out = env.run("pactl", &["load-module", "module-pipe-source", "source_name=mic", &file, "format=s16le", "rate=16000", "channels=1"]);
    assert!(out.status.success(), "pipe source: {}", String::from_utf8_lossy(&out.stderr));
    assert!(env.run("pactl", &["set-default-source", "mic"]).status.success());

    // the speech, and a microphone that always delivers: silence, and the speech when asked
    let speech_wav = root.join("speech.wav");
    assert!(env.run("espeak-ng", &["-w", &speech_wav.display().to_string(), "fix the typo in the readme heading"]).status.success());
    let a = capcom::capture::wav::read(&speech_wav).unwrap();
    let speech = capcom::capture::resample::to_16k_mono(&a.samples, a.rate, a.channels).unwrap();
    let speech_secs = speech.len() as f64 / 16_000.0;
    let queue: Arc<Mutex<std::collections::VecDeque<f32>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = mic::spawn_mic(fifo.clone(), queue.clone(), stop.clone());

    (speech, speech_secs, queue, stop, feeder)
}

/// The stored utterances, newest first.
fn history(env: &Env, data: &Path) -> Vec<serde_json::Value> {
    let out = env.cmd(env!("CARGO_BIN_EXE_capcom")).args(["history", "--json"]).env("CAPCOM_DATA_DIR", data).output().unwrap();
    if !out.status.success() {
        return Vec::new();
    }
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_shortcut_and_listen_start_stop_record_clips_as_long_as_the_hold() {
    let missing: Vec<&str> = ["dbus-daemon", "pulseaudio", "pactl", "espeak-ng"].into_iter().filter(|b| !skip::on_path(b)).collect();
    if !missing.is_empty() {
        skip::skip(&missing.join(", "), "./capcom.sh test installs dbus-daemon, pulseaudio, pulseaudio-utils and espeak-ng");
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
    let bus_path = runtime.join("bus");
    let bus = format!("unix:path={}", bus_path.display());
    let env = Env {
        vars: vec![
            ("HOME".into(), home.display().to_string()),
            ("XDG_RUNTIME_DIR".into(), runtime.display().to_string()),
            ("XDG_CONFIG_HOME".into(), home.join(".config").display().to_string()),
            ("DBUS_SESSION_BUS_ADDRESS".into(), bus.clone()),
            // a Wayland session: rdev would see nothing here, the portal is the way
            ("WAYLAND_DISPLAY".into(), "wayland-capcom-test".into()),
            ("XDG_SESSION_TYPE".into(), "wayland".into()),
            ("XDG_CURRENT_DESKTOP".into(), "GNOME".into()),
        ],
        user: None,
    };
    let mut reaper = Reaper(Vec::new(), Vec::new());

    // the session bus (what dbus-run-session starts, with its address known) and the portal
    let bus_daemon = env
        .cmd("dbus-daemon")
        .args(["--session", "--nofork", "--nopidfile", &format!("--address={bus}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    reaper.0.push(bus_daemon);
    wait_for("the session bus", &data, || bus_path.exists()).await;
    let calls: Calls = Arc::default();
    let session: Arc<Mutex<Option<String>>> = Arc::default();
    let portal = zbus::connection::Builder::address(bus.as_str())
        .unwrap()
        .name("org.freedesktop.portal.Desktop")
        .unwrap()
        .serve_at(PORTAL_PATH, Registry(calls.clone()))
        .unwrap()
        .serve_at(PORTAL_PATH, Shortcuts { calls: calls.clone(), session: session.clone() })
        .unwrap()
        .build()
        .await
        .unwrap();

    let (speech, speech_secs, queue, stop, feeder) = microphone(&env, &root, &data, &mut reaper).await;

    // the daemon
    let model = root.join("ggml-test-tiny.bin");
    capcom::transcribe::testmodel::TestModel::tiny().write(&model).unwrap();
    let config = root.join("config.toml");
    std::fs::write(&config, "[voice]\nhotkey = \"Ctrl+Alt+Space\"\ncues = false\n\n[speech]\nengine = \"none\"\n").unwrap();
    let bin = env!("CARGO_BIN_EXE_capcom");
    let daemon = env
        .cmd(bin)
        .arg("daemon")
        .env("CAPCOM_CONFIG", &config)
        .env("CAPCOM_DATA_DIR", &data)
        .env("CAPCOM__API__LISTEN", "127.0.0.1:0")
        .env("CAPCOM__VOICE__MODEL", &model)
        .env("RUST_LOG", "capcom=debug,info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    reaper.0.insert(0, daemon);
    let log_has = |needle: &str| log_text(&data).contains(needle);
    wait_for("the daemon's API", &data, || data.join("api.addr").exists()).await;
    wait_for("the shortcut bound through the portal", &data, || log_has("push-to-talk bound")).await;
    wait_for("the microphone", &data, || log_has("microphone open")).await;
    wait_for("the speech model", &data, || log_has("speech model loaded")).await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // audio flowing, pre-roll filled

    // the app id first, then the session, then the shortcut with the configured key
    let seen = calls.lock().unwrap().clone();
    let session_path = session.lock().unwrap().clone().expect("a session");
    assert_eq!(
        seen,
        vec![
            "Register capcom".to_string(),
            "CreateSession".to_string(),
            format!("BindShortcuts {session_path} push-to-talk preferred=CTRL+ALT+space"),
        ],
    );
    assert!(log_has("hold Ctrl+Alt+Space to talk"), "the key as the desktop names it");
    let doctor = env.cmd(bin).args(["doctor", "--json"]).env("CAPCOM_CONFIG", &config).env("CAPCOM_DATA_DIR", &data).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let line = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "hotkey").cloned().unwrap();
    assert!(line["detail"].as_str().unwrap().contains("bound through portal: hold Ctrl+Alt+Space"), "{line}");

    // press, speak, release: through the portal's signals
    let emitter = SignalEmitter::new(&portal, PORTAL_PATH).unwrap();
    let session_obj = ObjectPath::try_from(session_path.as_str()).unwrap();
    let stamp = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    Shortcuts::activated(&emitter, session_obj.clone(), "push-to-talk", stamp(), HashMap::new()).await.unwrap();
    let pressed = Instant::now();
    tokio::time::sleep(Duration::from_millis(200)).await;
    queue.lock().unwrap().extend(speech.iter().copied());
    tokio::time::sleep(Duration::from_secs_f64(speech_secs + 0.4)).await;
    Shortcuts::deactivated(&emitter, session_obj.clone(), "push-to-talk", stamp(), HashMap::new()).await.unwrap();
    let held = pressed.elapsed().as_secs_f64();
    let mut rows = Vec::new();
    wait_for("the utterance held through the portal", &data, || {
        rows = history(&env, &data);
        rows.first().is_some_and(|u| !u["timings"].is_null())
    })
    .await;
    assert_eq!(rows.len(), 1, "one clip: {rows:#?}");
    let dur = rows[0]["duration_ms"].as_f64().unwrap() / 1000.0;
    // held time plus the 300 ms pre-roll, give or take audio buffering (as tests/voice_e2e.rs)
    assert!(dur > held - 0.3 && dur < held + 0.9, "stored {dur:.2} s for {held:.2} s held");
    assert_eq!(rows[0]["timings"]["end"], "released", "{:#}", rows[0]);

    // a release with no press, a second press while held: nothing new
    Shortcuts::deactivated(&emitter, session_obj.clone(), "push-to-talk", stamp(), HashMap::new()).await.unwrap();

    // the same from a compositor's bindings: start (twice), speak, stop (twice)
    let listen = |flag: &str| {
        let out = env.cmd(bin).args(["listen", flag]).env("CAPCOM_CONFIG", &config).env("CAPCOM_DATA_DIR", &data).output().unwrap();
        assert!(out.status.success(), "listen {flag}: {}", String::from_utf8_lossy(&out.stderr));
    };
    listen("--start");
    let started = Instant::now();
    listen("--start");
    tokio::time::sleep(Duration::from_millis(200)).await;
    queue.lock().unwrap().extend(speech.iter().copied());
    tokio::time::sleep(Duration::from_secs_f64(speech_secs + 0.4)).await;
    listen("--stop");
    let held = started.elapsed().as_secs_f64();
    listen("--stop");
    wait_for("the utterance from listen --start/--stop", &data, || {
        rows = history(&env, &data);
        rows.len() >= 2 && !rows[0]["timings"].is_null()
    })
    .await;
    assert_eq!(rows.len(), 2, "a repeated start or stop records nothing more: {rows:#?}");
    let dur = rows[0]["duration_ms"].as_f64().unwrap() / 1000.0;
    assert!(dur > held - 0.3 && dur < held + 0.9, "stored {dur:.2} s for {held:.2} s between start and stop");
    assert!(rows[0]["timings"]["pre_roll_ms"].as_f64().unwrap() > 0.0, "the pre-roll applies: {:#}", rows[0]);

    stop.store(true, Ordering::Relaxed);
    let _ = feeder.join();
    drop(portal);
    drop(reaper);
}

/// The keyboards read directly (`[hotkey] backend = "evdev"`), through a uinput virtual keyboard.
///
/// Skips loudly where `/dev/uinput` does not exist or cannot be opened, and does not fail then,
/// not even under CI=true: CI machines (containers) have no uinput device either, so a failure
/// there would only say "this machine has no uinput", never anything about capcom.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evdev_reads_a_held_chord_from_a_keyboard_without_grabbing_it() {
    use evdev::{AttributeSet, EventType, InputEvent, KeyCode, uinput::VirtualDevice};
    let uinput = Path::new("/dev/uinput");
    if std::fs::OpenOptions::new().write(true).open(uinput).is_err() {
        skip::impossible_here(
            &format!("{} (a virtual keyboard)", uinput.display()),
            "the kernel gives none here: containers, CI's included, have no uinput device",
        );
        return;
    }
    let mut keys = AttributeSet::<KeyCode>::new();
    for k in [KeyCode::KEY_LEFTCTRL, KeyCode::KEY_LEFTALT, KeyCode::KEY_SPACE, KeyCode::KEY_A, KeyCode::KEY_ESC] {
        keys.insert(k);
    }
    let mut device = VirtualDevice::builder().unwrap().name("capcom test keyboard").with_keys(&keys).unwrap().build().unwrap();
    let node: PathBuf = loop {
        if let Some(p) = device.enumerate_dev_nodes_blocking().unwrap().flatten().next() {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let only = vec![node.display().to_string()];
    tokio::spawn(async move { capcom::capture::evdev::run("Ctrl+Alt+Space", &only, tx).await });
    let first = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.unwrap().unwrap();
    assert!(matches!(first, capcom::capture::HotkeyMsg::Bound { ref path, .. } if path == "evdev"), "{first:?}");

    let chord = capcom::capture::Chord::parse("Ctrl+Alt+Space").unwrap();
    let mut logic = capcom::capture::HotkeyLogic::new(chord, capcom::config::HotkeyMode::Hold, Duration::from_millis(250));
    let press = |code: KeyCode, v: i32| InputEvent::new(EventType::KEY.0, code.code(), v);
    device.emit(&[press(KeyCode::KEY_LEFTCTRL, 1), press(KeyCode::KEY_LEFTALT, 1), press(KeyCode::KEY_SPACE, 1)]).unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    device.emit(&[press(KeyCode::KEY_SPACE, 0), press(KeyCode::KEY_LEFTALT, 0), press(KeyCode::KEY_LEFTCTRL, 0)]).unwrap();
    let mut actions = Vec::new();
    while actions.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.unwrap().unwrap() {
            capcom::capture::HotkeyMsg::Key(ev) => actions.extend(logic.step(ev)),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(actions, [capcom::capture::Action::Start, capcom::capture::Action::Stop]);
}

/// sway, headless (`WLR_BACKENDS=headless`), with the two lines the README gives for it: a
/// virtual keyboard (`wtype`) holds Ctrl+Alt+Space, sway runs `capcom listen --start` on the
/// press and `capcom listen --stop` on the release, and the clip is as long as the hold.
/// sway refuses to run as root: as root, every process of the scene runs as `nobody`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_key_bound_in_headless_sway_records_one_clip() {
    let missing: Vec<&str> =
        ["sway", "wtype", "setpriv", "pulseaudio", "pactl", "espeak-ng"].into_iter().filter(|b| !skip::on_path(b)).collect();
    if !missing.is_empty() {
        skip::skip(&missing.join(", "), "./capcom.sh test installs sway, wtype, util-linux, pulseaudio and espeak-ng");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let (home, runtime, data) = (root.join("home"), root.join("run"), root.join("data"));
    for d in [&home, &runtime] {
        std::fs::create_dir_all(d).unwrap();
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    // SAFETY: geteuid has no preconditions and cannot fail.
    let user = (unsafe { libc::geteuid() } == 0).then_some(65534u32);
    let bin = env!("CARGO_BIN_EXE_capcom");
    let model = root.join("ggml-test-tiny.bin");
    capcom::transcribe::testmodel::TestModel::tiny().write(&model).unwrap();
    let config = root.join("config.toml");
    std::fs::write(
        &config,
        format!("[voice]\nhotkey = \"Ctrl+Alt+Space\"\ncues = false\nmodel = \"{}\"\n\n[hotkey]\nbackend = \"none\"\n\n[speech]\nengine = \"none\"\n", model.display()),
    )
    .unwrap();
    // the README's two lines for sway, with this test's capcom
    let sway_config = root.join("sway.conf");
    std::fs::write(
        &sway_config,
        format!("bindsym Ctrl+Mod1+space exec {bin} listen --start\nbindsym --release Ctrl+Mod1+space exec {bin} listen --stop\n"),
    )
    .unwrap();
    if let Some(uid) = user {
        let out = Command::new("chown").args(["-R", &format!("{uid}:{uid}"), &root.display().to_string()]).output().unwrap();
        assert!(out.status.success());
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let env = Env {
        vars: vec![
            ("HOME".into(), home.display().to_string()),
            ("XDG_RUNTIME_DIR".into(), runtime.display().to_string()),
            ("XDG_CONFIG_HOME".into(), home.join(".config").display().to_string()),
            ("CAPCOM_CONFIG".into(), config.display().to_string()),
            ("CAPCOM_DATA_DIR".into(), data.display().to_string()),
        ],
        user,
    };
    let mut reaper = Reaper(Vec::new(), Vec::new());
    let (speech, speech_secs, queue, stop, feeder) = microphone(&env, &root, &root.join("no-data-yet"), &mut reaper).await;

    let daemon = env
        .cmd(bin)
        .arg("daemon")
        .env("CAPCOM__API__LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "capcom=debug,info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    reaper.0.insert(0, daemon);
    let log_has = |needle: &str| log_text(&data).contains(needle);
    wait_for("the daemon's API", &data, || data.join("api.addr").exists()).await;
    wait_for("the microphone", &data, || log_has("microphone open")).await;
    wait_for("the speech model", &data, || log_has("speech model loaded")).await;

    let sway = env
        .cmd("sway")
        .args(["-c", &sway_config.display().to_string()])
        .env("WLR_BACKENDS", "headless")
        .env("WLR_LIBINPUT_NO_DEVICES", "1")
        .env("WLR_RENDERER", "pixman")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    reaper.0.push(sway);
    wait_for("sway's Wayland socket", &data, || runtime.join("wayland-1").exists()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // audio flowing, pre-roll filled

    // hold the chord on a virtual keyboard; speak while it is held
    let held_ms = ((0.2 + speech_secs + 0.4) * 1000.0) as u64;
    let mut typing = env
        .cmd("wtype")
        .args(["-M", "ctrl", "-M", "alt", "-P", "space", "-s", &held_ms.to_string(), "-p", "space", "-m", "alt", "-m", "ctrl"])
        .env("WAYLAND_DISPLAY", "wayland-1")
        .spawn()
        .unwrap();
    let pressed = Instant::now();
    tokio::time::sleep(Duration::from_millis(200)).await;
    queue.lock().unwrap().extend(speech.iter().copied());
    let status = tokio::task::spawn_blocking(move || typing.wait()).await.unwrap().unwrap();
    assert!(status.success(), "wtype");
    let held = pressed.elapsed().as_secs_f64();
    let mut rows = Vec::new();
    wait_for("the utterance held in sway", &data, || {
        rows = history(&env, &data);
        rows.first().is_some_and(|u| !u["timings"].is_null())
    })
    .await;
    assert_eq!(rows.len(), 1, "one clip: {rows:#?}");
    let dur = rows[0]["duration_ms"].as_f64().unwrap() / 1000.0;
    // the hold plus the pre-roll, give or take sway starting `capcom listen` and audio buffering
    eprintln!("sway: held {held:.2} s, stored {dur:.2} s, end {}", rows[0]["timings"]["end"]);
    assert!(dur > held - 0.5 && dur < held + 1.2, "stored {dur:.2} s for {held:.2} s held");
    stop.store(true, Ordering::Relaxed);
    let _ = feeder.join();
    drop(reaper);
}
