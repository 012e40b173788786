//! The tray against a real StatusNotifier host: xfce4-panel's systray plugin (it owns
//! org.kde.StatusNotifierWatcher) under Xvfb, on a private D-Bus session bus.
//!
//! A real `capcom daemon` (not headless) starts before the panel, as at login with
//! autostart; the icon must register once the panel's watcher appears. The item's
//! properties are read over D-Bus (Status, IconPixmap, ToolTip) as the state changes
//! (pause and resume from the CLI, a press of the hotkey, a task that needs attention),
//! and screenshots of the panel (xwd) must show capcom's own icon colours.
//!
//! Needs: Xvfb, dbus-daemon, xfce4-panel (+ xfconfd), xwd, xdotool, git
//! (`./capcom.sh test` installs them). Without them the test skips through
//! `tests/common/skip.rs`, which fails it under CI.

mod common;

use common::Daemon;
use common::scene::{DONE, ID, Scene, dispatch, settled, state};
use capcom::daemon::tray::{IconKind, icons};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use zbus::zvariant::{OwnedValue, Value};

const TOOLS: [&str; 6] = ["Xvfb", "dbus-daemon", "xfce4-panel", "xwd", "xdotool", "git"];

/// True when every tool is there; otherwise the test skips (a failure under CI).
fn tools_present() -> bool {
    common::skip::programs(&TOOLS, "./capcom.sh test installs xvfb dbus-daemon xfce4-panel xfconf x11-apps xdotool git")
}

/// Children killed when the test ends, whatever way it ends.
struct Reaper(Vec<Child>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for c in self.0.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_display() -> u32 {
    (140..400)
        .find(|n| !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() && !Path::new(&format!("/tmp/.X{n}-lock")).exists())
        .expect("a free X display number")
}

/// Wait (a guard against a hang, not a timing assertion) until `done` holds.
async fn wait_for(what: &str, limit: Duration, mut done: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The environment every process of the scene shares: the display, the bus, the
/// panel's settings (XDG_CONFIG_HOME) and a home of its own.
struct Env {
    vars: Vec<(String, String)>,
}

impl Env {
    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c.stdin(Stdio::null());
        c
    }
    fn pairs(&self) -> Vec<(&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }
}

// ---- the screen ---------------------------------------------------------------------

/// An X window dump (xwd's format, X11/XWDFile.h): (width, height, RGB rows).
fn parse_xwd(b: &[u8]) -> (usize, usize, Vec<[u8; 3]>) {
    let field = |i: usize| u32::from_be_bytes(b[i * 4..i * 4 + 4].try_into().unwrap());
    let (header_size, version) = (field(0) as usize, field(1));
    assert_eq!(version, 7, "xwd file version");
    let (width, height) = (field(4) as usize, field(5) as usize);
    let byte_order = field(7); // 0: LSB first
    let (bpp, bytes_per_line) = (field(11) as usize, field(12) as usize);
    let masks = [field(14), field(15), field(16)];
    let ncolors = field(19) as usize;
    // Xvfb at depth 24 dumps 32 bits a pixel, or packed 24 (both seen)
    assert!(bpp == 32 || bpp == 24, "a 24-bit TrueColor screen dumps 24 or 32 bits a pixel, not {bpp}");
    let step = bpp / 8;
    let data = &b[header_size + ncolors * 12..];
    let mut out = Vec::with_capacity(width * height);
    for y in 0..height {
        for x in 0..width {
            let o = y * bytes_per_line + x * step;
            let mut raw = [0u8; 4];
            if byte_order == 0 {
                raw[..step].copy_from_slice(&data[o..o + step]);
            } else {
                raw[4 - step..].copy_from_slice(&data[o..o + step]);
            }
            let p = if byte_order == 0 { u32::from_le_bytes(raw) } else { u32::from_be_bytes(raw) };
            out.push(masks.map(|m| ((p & m) >> m.trailing_zeros()) as u8));
        }
    }
    (width, height, out)
}

/// Pixels of the panel strip (the top `rows`) within a few levels of `rgb`.
fn count_colour(env: &Env, rows: usize, rgb: [u8; 3]) -> usize {
    let out = env.cmd("xwd").args(["-root", "-silent"]).output().unwrap();
    assert!(out.status.success(), "xwd: {}", String::from_utf8_lossy(&out.stderr));
    let (w, h, px) = parse_xwd(&out.stdout);
    px[..w * rows.min(h)]
        .iter()
        .filter(|p| p.iter().zip(rgb).all(|(a, b)| (*a as i32 - b as i32).abs() <= 12))
        .count()
}

// ---- the bus --------------------------------------------------------------------------

const ITEM: &str = "org.kde.StatusNotifierItem";
const WATCHER: &str = "org.kde.StatusNotifierWatcher";

async fn get(conn: &zbus::Connection, dest: &str, path: &str, iface: &str, name: &str) -> zbus::Result<OwnedValue> {
    let props = zbus::fdo::PropertiesProxy::builder(conn)
        .destination(dest.to_string())?
        .path(path.to_string())?
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await?;
    Ok(props.get(zbus::names::InterfaceName::try_from(iface.to_string())?, name).await?)
}

/// The item's properties that show.
#[derive(Debug)]
struct Shown {
    status: String,
    icon_name: String,
    /// (width, ARGB) per size
    pixmaps: Vec<(i32, Vec<u8>)>,
    tooltip_title: String,
    tooltip_body: String,
}

async fn shown(conn: &zbus::Connection, dest: &str) -> Shown {
    let p = |name: &'static str| get(conn, dest, "/StatusNotifierItem", ITEM, name);
    let status = String::try_from(p("Status").await.unwrap()).unwrap();
    let icon_name = String::try_from(p("IconName").await.unwrap()).unwrap();
    let pixmaps: Vec<(i32, i32, Vec<u8>)> = Vec::try_from(p("IconPixmap").await.unwrap()).unwrap();
    let tip: (String, Vec<(i32, i32, Vec<u8>)>, String, String) = Value::from(p("ToolTip").await.unwrap()).try_into().unwrap();
    Shown {
        status,
        icon_name,
        pixmaps: pixmaps.into_iter().map(|(w, _, d)| (w, d)).collect(),
        tooltip_title: tip.2,
        tooltip_body: tip.3,
    }
}

/// The pixmaps capcom draws for `kind`, as the item sends them.
fn drawn(kind: IconKind) -> Vec<(i32, Vec<u8>)> {
    icons(kind).iter().map(|p| (p.size as i32, p.argb.clone())).collect()
}

async fn owner(dbus: &zbus::fdo::DBusProxy<'_>, name: &str) -> bool {
    dbus.name_has_owner(zbus::names::BusName::try_from(name.to_string()).unwrap()).await.unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tray_shows_every_state_on_a_real_panel_that_starts_after_capcom() {
    if !tools_present() {
        return;
    }
    let scene = Scene::new();
    let root = scene.root().to_path_buf();
    let (home, runtime, xdg_config) = (root.join("home"), root.join("run"), root.join("xdg-config"));
    let panel_settings = xdg_config.join("xfce4/xfconf/xfce-perchannel-xml");
    for d in [&home, &runtime, &panel_settings] {
        std::fs::create_dir_all(d).unwrap();
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    // One panel across the top, 32 px, holding only the systray (the StatusNotifier host).
    // The channel's layout is xfce4-panel's own /etc/xdg/xfce4/panel/default.xml, cut down.
    std::fs::write(
        panel_settings.join("xfce4-panel.xml"),
        r#"<?xml version="1.0" encoding="UTF-8"?>
<channel name="xfce4-panel" version="1.0">
  <property name="configver" type="int" value="2"/>
  <property name="panels" type="array">
    <value type="int" value="1"/>
    <property name="panel-1" type="empty">
      <property name="position" type="string" value="p=6;x=0;y=0"/>
      <property name="length" type="uint" value="100"/>
      <property name="position-locked" type="bool" value="true"/>
      <property name="size" type="uint" value="32"/>
      <property name="icon-size" type="uint" value="24"/>
      <property name="plugin-ids" type="array">
        <value type="int" value="1"/>
      </property>
    </property>
  </property>
  <property name="plugins" type="empty">
    <property name="plugin-1" type="string" value="systray"/>
  </property>
</channel>
"#,
    )
    .unwrap();
    let display = free_display();
    let bus_path = runtime.join("bus");
    let bus = format!("unix:path={}", bus_path.display());
    let env = Env {
        vars: vec![
            ("HOME".into(), home.display().to_string()),
            ("XDG_RUNTIME_DIR".into(), runtime.display().to_string()),
            ("XDG_CONFIG_HOME".into(), xdg_config.display().to_string()),
            ("DISPLAY".into(), format!(":{display}")),
            ("DBUS_SESSION_BUS_ADDRESS".into(), bus.clone()),
            ("NO_AT_BRIDGE".into(), "1".into()),
        ],
    };
    let mut reaper = Reaper(Vec::new());

    // the X server and the session bus (what dbus-run-session starts, with its address known)
    let xvfb = env
        .cmd("Xvfb")
        .args([format!(":{display}").as_str(), "-nolisten", "tcp", "-screen", "0", "480x160x24"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    reaper.0.push(xvfb);
    let bus_daemon = env
        .cmd("dbus-daemon")
        .args(["--session", "--nofork", "--nopidfile", &format!("--address={bus}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    reaper.0.push(bus_daemon);
    let x_socket = PathBuf::from(format!("/tmp/.X11-unix/X{display}"));
    wait_for("Xvfb and the bus", Duration::from_secs(30), async || x_socket.exists() && bus_path.exists()).await;
    let conn = zbus::connection::Builder::address(bus.as_str()).unwrap().build().await.unwrap();
    let dbus = zbus::fdo::DBusProxy::new(&conn).await.unwrap();

    // capcom first: a task that commits and meets a red check (so it needs attention), F9 to talk
    let agent = scene.agent("good", &format!("set -e\necho 'button v2' > components/button.txt\n{ID} commit -qam button\n{DONE}"));
    let config = format!(
        "[[repos]]\nname = \"site\"\npath = \"{}\"\nbase = \"main\"\n\n[checks]\ntest = [\"sh\", \"-c\", \"echo 1 test failed; exit 1\"]\n\n[dispatch]\ndefault_agent = \"good\"\ngrace = \"0s\"\n\n{agent}\n[voice]\nhotkey = \"F9\"\ncues = false\n\n[speech]\nengine = \"none\"\n",
        scene.repo.display()
    );
    let mut d = Daemon::start_desktop(&config, &env.pairs());
    let pid = d.child.as_ref().unwrap().id();
    let item = format!("{ITEM}-{pid}-1");
    wait_for("the item on the bus", Duration::from_secs(30), async || owner(&dbus, &item).await).await;
    assert!(!owner(&dbus, WATCHER).await, "no panel yet");
    let s = shown(&conn, &item).await;
    assert_eq!(s.status, "Active", "{s:?}");
    assert_eq!(s.pixmaps, drawn(IconKind::Idle), "capcom's own idle icon, every size");
    assert_eq!(s.icon_name, "capcom-idle", "a name no stock theme has: hosts draw the pixmap");
    assert_eq!(s.tooltip_title, "capcom: idle");
    assert!(s.tooltip_body.starts_with("0 running · 0 ready · 0 need attention"), "{s:?}");
    // the key the hotkey path bound (X11 here): the tooltip says what to hold
    wait_for("the bound key in the tooltip", Duration::from_secs(30), async || {
        shown(&conn, &item).await.tooltip_body == "0 running · 0 ready · 0 need attention\nHold F9 to talk"
    })
    .await;

    // the panel starts later, as at login: the item registers with its watcher
    let panel = env.cmd("xfce4-panel").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    reaper.0.push(panel);
    // xfce4-panel waits a few seconds for a window manager before it gives up on one
    wait_for("the panel's StatusNotifierWatcher", Duration::from_secs(90), async || owner(&dbus, WATCHER).await).await;
    let registered = async || -> Vec<String> {
        get(&conn, WATCHER, "/StatusNotifierWatcher", WATCHER, "RegisteredStatusNotifierItems")
            .await
            .ok()
            .and_then(|v| Vec::<String>::try_from(v).ok())
            .unwrap_or_default()
    };
    wait_for("capcom registered with the panel", Duration::from_secs(30), async || {
        registered().await.iter().any(|r| r.contains(&item))
    })
    .await;
    let colour = |k: IconKind| k.colour();
    wait_for("the idle icon on the panel", Duration::from_secs(30), async || count_colour(&env, 32, colour(IconKind::Idle)) >= 30).await;

    // pause from the CLI: the same state as the tray's menu item; the icon turns grey
    let out = d.cli(&["listen", "--pause"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("listening paused"));
    let (_, st) = d.http("GET", "/v1/state", Some(&d.token()), None);
    assert!(st.contains("\"paused\":true"), "{st}");
    wait_for("the paused icon", Duration::from_secs(10), async || shown(&conn, &item).await.pixmaps == drawn(IconKind::Paused)).await;
    let s = shown(&conn, &item).await;
    assert_eq!(s.icon_name, "capcom-paused");
    assert_eq!(s.tooltip_title, "capcom: idle (listening paused)");
    wait_for("the grey icon on the panel", Duration::from_secs(30), async || {
        count_colour(&env, 32, colour(IconKind::Paused)) >= 30 && count_colour(&env, 32, colour(IconKind::Idle)) < 5
    })
    .await;

    // paused, the hotkey records nothing: the voice loop says so, the stage stays idle
    let said_paused = || d.stderr().contains("listening is paused: the hotkey does nothing");
    wait_for("a press of F9 ignored while paused", Duration::from_secs(60), async || {
        let _ = env.cmd("xdotool").args(["key", "F9"]).status();
        tokio::time::sleep(Duration::from_millis(300)).await;
        said_paused()
    })
    .await;
    let (_, st) = d.http("GET", "/v1/state", Some(&d.token()), None);
    assert!(st.contains("\"stage\":\"idle\""), "{st}");
    let (_, history) = d.http("GET", "/v1/history", Some(&d.token()), None);
    assert_eq!(history.trim(), "[]", "nothing was recorded while paused");

    // resumed, holding F9 shows "recording" at once (from the coordinator's change, not a poll)
    let out = d.cli(&["listen", "--resume"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_for("the idle icon again", Duration::from_secs(10), async || shown(&conn, &item).await.pixmaps == drawn(IconKind::Idle)).await;
    wait_for("the recording icon while F9 is held", Duration::from_secs(60), async || {
        let _ = env.cmd("xdotool").args(["keydown", "F9"]).status();
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut seen = false;
        while !seen && Instant::now() < deadline {
            seen = shown(&conn, &item).await.pixmaps == drawn(IconKind::Recording);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = env.cmd("xdotool").args(["keyup", "F9"]).status();
        seen
    })
    .await;
    wait_for("idle after the key is released", Duration::from_secs(60), async || {
        shown(&conn, &item).await.tooltip_title == "capcom: idle"
    })
    .await;

    // an agent session the user runs themselves waits for them: NeedsAttention until it moves on
    let token = d.token();
    let prompt = r#"{"session_id":"s1","cwd":"/tmp","hook_event_name":"Notification","notification_type":"permission_prompt","message":"Claude needs your permission to use Bash"}"#;
    let (code, body) = d.http("POST", "/v1/hooks/claude", Some(&token), Some(prompt));
    assert_eq!(code, 200, "{body}");
    wait_for("NeedsAttention for a waiting session", Duration::from_secs(10), async || shown(&conn, &item).await.status == "NeedsAttention").await;
    let (code, body) = d.http("POST", "/v1/hooks/claude", Some(&token), Some(r#"{"session_id":"s1","hook_event_name":"Stop"}"#));
    assert_eq!(code, 200, "{body}");
    wait_for("Active once the session moved on", Duration::from_secs(10), async || shown(&conn, &item).await.status == "Active").await;
    wait_for("idle after the notice", Duration::from_secs(60), async || shown(&conn, &item).await.tooltip_title == "capcom: idle").await;

    // a task that needs attention: NeedsAttention, the attention icon, the count in the tooltip
    let id = dispatch(&d, "good", "Update the button");
    let v = settled(&d, id);
    assert_eq!(state(&v), "needs_attention", "{v}");
    wait_for("NeedsAttention", Duration::from_secs(10), async || shown(&conn, &item).await.status == "NeedsAttention").await;
    let s = shown(&conn, &item).await;
    assert_eq!(s.pixmaps, drawn(IconKind::Attention));
    assert_eq!(s.tooltip_body, "0 running · 0 ready · 1 need attention\nHold F9 to talk");
    let attention: Vec<(i32, i32, Vec<u8>)> =
        Vec::try_from(get(&conn, &item, "/StatusNotifierItem", ITEM, "AttentionIconPixmap").await.unwrap()).unwrap();
    assert_eq!(attention.into_iter().map(|(w, _, d)| (w, d)).collect::<Vec<_>>(), drawn(IconKind::Attention));
    wait_for("the attention icon on the panel", Duration::from_secs(30), async || {
        count_colour(&env, 32, colour(IconKind::Attention)) >= 30
    })
    .await;

    // the panel goes away and comes back: the item registers again
    let mut panel = reaper.0.pop().unwrap();
    let _ = panel.kill();
    let _ = panel.wait();
    wait_for("the watcher gone", Duration::from_secs(30), async || !owner(&dbus, WATCHER).await).await;
    reaper.0.push(env.cmd("xfce4-panel").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    wait_for("capcom registered with the new panel", Duration::from_secs(90), async || {
        registered().await.iter().any(|r| r.contains(&item))
    })
    .await;

    assert_eq!(d.stop(), Some(0), "{}", d.stderr());
    drop(reaper);
}
