//! How the push-to-talk key reaches capcom, on each Linux desktop (`[hotkey] backend`):
//!
//! | path | desktops | how |
//! |---|---|---|
//! | `portal` | GNOME 48+, KDE Plasma 6 | the desktop portal's GlobalShortcuts ([`super::portal`]) |
//! | `x11` | any X11 session | rdev's RECORD hook ([`RdevKeys`]) |
//! | `evdev` | GNOME 46–47, niri, COSMIC (opt-in) | the keyboards themselves ([`super::evdev`]) |
//! | compositor | Hyprland, sway, river | bindings on press and release that run `capcom listen --start` / `--stop` |
//!
//! `auto` takes X11 in an X11 session; under Wayland it tries the portal, then evdev when the
//! keyboards can be read, then says what to bind. [`diagnose`] is the one place that says
//! which path is in use and, when none works, the exact fix for the desktop at hand (the
//! daemon's log and `capcom doctor` both print it).

use super::{HotkeyMsg, KeyEvent, KeySource};
use std::time::Instant;

/// rdev's listener. It cannot be stopped; it lives as long as the process.
pub struct RdevKeys;

impl KeySource for RdevKeys {
    fn spawn(&self, tx: tokio::sync::mpsc::UnboundedSender<HotkeyMsg>) -> Result<(), String> {
        if std::env::var("DISPLAY").map(|d| d.is_empty()).unwrap_or(true) {
            return Err("no X display (DISPLAY is not set): the global hotkey needs X11".into());
        }
        let origin = Instant::now();
        std::thread::Builder::new()
            .name("capcom-hotkey".into())
            .spawn(move || {
                let keys = tx.clone();
                let result = rdev::listen(move |ev| {
                    let (key, down) = match ev.event_type {
                        rdev::EventType::KeyPress(k) => (k, true),
                        rdev::EventType::KeyRelease(k) => (k, false),
                        _ => return,
                    };
                    let _ = keys.send(HotkeyMsg::Key(KeyEvent { key, down, at: origin.elapsed() }));
                });
                let why = match result {
                    Ok(()) => "the hotkey listener stopped".to_string(),
                    Err(e) => format!("the hotkey listener failed: {e:?}"),
                };
                let _ = tx.send(HotkeyMsg::Failed(why));
            })
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// `[hotkey] backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Auto,
    Portal,
    X11,
    Evdev,
    None,
}

impl Backend {
    /// An unknown value is `auto` (the config's validation says so).
    pub fn parse(s: &str) -> Backend {
        match s.trim().to_ascii_lowercase().as_str() {
            "portal" => Backend::Portal,
            "x11" => Backend::X11,
            "evdev" => Backend::Evdev,
            "none" => Backend::None,
            _ => Backend::Auto,
        }
    }
}

/// The graphical session, as the environment describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Session {
    pub wayland: bool,
    pub x11: bool,
    /// `XDG_CURRENT_DESKTOP`, lower-case (`gnome`, `kde`, `hyprland`, `sway`, `river`, `niri`, `cosmic`).
    pub desktop: String,
    /// A session bus to reach the portal on.
    pub bus: bool,
    /// At least one `/dev/input/event*` device can be read (the `input` group or a udev rule).
    pub evdev_readable: bool,
}

impl Session {
    pub fn from_env() -> Session {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let wayland = var("WAYLAND_DISPLAY").is_some() || var("XDG_SESSION_TYPE").is_some_and(|t| t.eq_ignore_ascii_case("wayland"));
        Session {
            wayland,
            x11: var("DISPLAY").is_some(),
            desktop: var("XDG_CURRENT_DESKTOP").unwrap_or_default().to_ascii_lowercase(),
            bus: var("DBUS_SESSION_BUS_ADDRESS").is_some() || var("XDG_RUNTIME_DIR").is_some_and(|d| std::path::Path::new(&d).join("bus").exists()),
            evdev_readable: super::evdev::readable(),
        }
    }

    fn is(&self, name: &str) -> bool {
        self.desktop.split(':').any(|d| d == name)
    }
}

/// A hotkey path to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    Portal,
    X11,
    Evdev,
}

impl Path {
    pub fn name(self) -> &'static str {
        match self {
            Path::Portal => "portal",
            Path::X11 => "x11",
            Path::Evdev => "evdev",
        }
    }
}

/// The paths to try, in order. `auto`: X11 in an X11 session (XWayland's DISPLAY does not
/// count under Wayland: rdev sees no keys of native windows there); under Wayland the portal,
/// then evdev when the keyboards can be read.
pub fn plan(backend: Backend, s: &Session) -> Vec<Path> {
    match backend {
        Backend::None => vec![],
        Backend::Portal => vec![Path::Portal],
        Backend::X11 => vec![Path::X11],
        Backend::Evdev => vec![Path::Evdev],
        Backend::Auto if s.wayland => {
            let mut p = Vec::new();
            if s.bus {
                p.push(Path::Portal);
            }
            if s.evdev_readable {
                p.push(Path::Evdev);
            }
            p
        }
        Backend::Auto if s.x11 => vec![Path::X11],
        Backend::Auto => vec![],
    }
}

/// The two compositor bindings for `chord` on this desktop (press starts, release stops),
/// when it is one that binds commands to press and release.
pub fn compositor_binds(s: &Session, chord: &str) -> Option<String> {
    let parts: Vec<&str> = chord.split('+').map(str::trim).collect();
    let (key, mods) = parts.split_last()?;
    let key_l = key.to_ascii_lowercase();
    let mods_l: Vec<String> = mods.iter().map(|m| m.to_ascii_lowercase()).collect();
    let m = |f: fn(&str) -> &'static str| mods_l.iter().map(|x| f(x)).collect::<Vec<_>>();
    if s.is("hyprland") {
        let mods = m(|x| match x { "ctrl" | "control" => "CTRL", "alt" => "ALT", "shift" => "SHIFT", _ => "SUPER" }).join(" ");
        return Some(format!(
            "in ~/.config/hypr/hyprland.conf:\n  bind = {mods}, {key_l}, exec, capcom listen --start\n  bindr = {mods}, {key_l}, exec, capcom listen --stop"
        ));
    }
    if s.is("sway") {
        let mut combo = m(|x| match x { "ctrl" | "control" => "Ctrl", "alt" => "Mod1", "shift" => "Shift", _ => "Mod4" });
        combo.push(&key_l);
        let combo = combo.join("+");
        return Some(format!(
            "in ~/.config/sway/config:\n  bindsym {combo} exec capcom listen --start\n  bindsym --release {combo} exec capcom listen --stop"
        ));
    }
    if s.is("river") {
        let mods = m(|x| match x { "ctrl" | "control" => "Control", "alt" => "Alt", "shift" => "Shift", _ => "Super" }).join("+");
        let mods = if mods.is_empty() { "None".to_string() } else { mods };
        let key = if key_l == "space" { "Space".to_string() } else { key.to_string() };
        return Some(format!(
            "in ~/.config/river/init:\n  riverctl map normal {mods} {key} spawn 'capcom listen --start'\n  riverctl map -release normal {mods} {key} spawn 'capcom listen --stop'"
        ));
    }
    None
}

/// The udev rule that lets the logged-in user read keyboards (instead of the `input` group).
pub const UDEV_RULE: &str = "SUBSYSTEM==\"input\", KERNEL==\"event*\", ENV{ID_INPUT_KEYBOARD}==\"1\", TAG+=\"uaccess\"";

/// The fix for reading keyboards directly.
pub fn evdev_fix() -> String {
    format!(
        "set [hotkey] backend = \"evdev\" and let your user read keyboards: `sudo usermod -aG input $USER` (then log out and in), \
         or a narrower udev rule: `echo '{UDEV_RULE}' | sudo tee /etc/udev/rules.d/70-capcom-keyboard.rules && sudo udevadm trigger`. \
         capcom reads without grabbing and never logs a key"
    )
}

/// What the hotkey path is, or why none works and what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnosis {
    pub works: bool,
    pub detail: String,
    pub fix: Option<String>,
}

/// The one hotkey line: the path in use, or the exact fix for this desktop.
pub fn diagnose(cfg: &crate::config::HotkeyCfg, s: &Session, chord: &str) -> Diagnosis {
    let backend = Backend::parse(&cfg.backend);
    let paths = plan(backend, s);
    let binds = compositor_binds(s, chord);
    let desktop = if s.desktop.is_empty() { "this desktop".to_string() } else { s.desktop.clone() };
    let ok = |detail: String| Diagnosis { works: true, detail, fix: None };
    match paths.first() {
        Some(Path::X11) if s.x11 => ok(format!("X11: {chord} is read with rdev (RECORD); hold it to talk")),
        Some(Path::X11) => Diagnosis {
            works: false,
            detail: "[hotkey] backend = \"x11\" but there is no X display".into(),
            fix: Some("run under X11, or set [hotkey] backend = \"auto\"".into()),
        },
        Some(Path::Portal) => {
            let then = if paths.contains(&Path::Evdev) { ", then the keyboards (evdev)" } else { "" };
            Diagnosis {
                works: true,
                detail: format!(
                    "Wayland ({desktop}): the desktop portal's GlobalShortcuts{then}; the desktop asks once to confirm {chord} \
                     (GNOME 48+ and KDE Plasma 6 have it; the daemon's log says if this desktop does not)"
                ),
                fix: binds.map(|b| format!("if the portal is missing here, bind press and release instead, {b}")),
            }
        }
        Some(Path::Evdev) if s.evdev_readable => ok(format!("evdev: {chord} is read from the keyboards (no grab; keys are never logged)")),
        Some(Path::Evdev) => Diagnosis { works: false, detail: "[hotkey] backend = \"evdev\" but no keyboard can be read".into(), fix: Some(evdev_fix()) },
        None if backend == Backend::None => Diagnosis {
            works: true,
            detail: "[hotkey] backend = \"none\": no global hotkey; `capcom listen --start` / `--stop` (or --toggle) record".into(),
            fix: None,
        },
        None => {
            let fix = match (&binds, s.wayland) {
                (Some(b), _) => format!("bind press and release, {b}"),
                (None, true) if s.is("gnome") || s.is("niri") || s.is("cosmic") => evdev_fix(),
                (None, true) => format!("{}; or bind `capcom listen --start` to the key's press and `capcom listen --stop` to its release", evdev_fix()),
                (None, false) => "run `capcom daemon --headless` and drive it with `capcom brief`, or start it in a graphical session".into(),
            };
            let detail = if s.wayland {
                format!("Wayland ({desktop}) with no portal session bus and no readable keyboard: no global hotkey")
            } else {
                "no display: no global hotkey".to_string()
            };
            Diagnosis { works: false, detail, fix: Some(fix) }
        }
    }
}

/// The key source for `[hotkey]`: the paths of [`plan`] tried in order, each falling back to
/// the next when it cannot start (no portal, a portal without GlobalShortcuts, no keyboard).
pub struct Keys {
    pub backend: Backend,
    pub session: Session,
    pub chord: String,
    pub evdev_devices: Vec<String>,
}

impl Keys {
    pub fn from_config(cfg: &crate::config::Config) -> Keys {
        Keys {
            backend: Backend::parse(&cfg.hotkey.backend),
            session: Session::from_env(),
            chord: cfg.voice.hotkey.clone(),
            evdev_devices: cfg.hotkey.evdev_devices.clone(),
        }
    }
}

impl KeySource for Keys {
    fn spawn(&self, tx: tokio::sync::mpsc::UnboundedSender<HotkeyMsg>) -> Result<(), String> {
        let paths = plan(self.backend, &self.session);
        if paths.is_empty() {
            let d = diagnose(&crate::config::HotkeyCfg { backend: backend_name(self.backend).into(), ..Default::default() }, &self.session, &self.chord);
            return Err(match d.fix {
                Some(f) => format!("{}; {f}", d.detail),
                None => d.detail,
            });
        }
        if paths == [Path::X11] {
            RdevKeys.spawn(tx.clone())?;
            let _ = tx.send(HotkeyMsg::Bound { path: "x11".into(), trigger: self.chord.clone() });
            return Ok(());
        }
        let handle = tokio::runtime::Handle::try_current().map_err(|e| format!("no async runtime for the hotkey: {e}"))?;
        let (chord, devices, session) = (self.chord.clone(), self.evdev_devices.clone(), self.session.clone());
        handle.spawn(async move {
            let mut why = Vec::new();
            for p in paths {
                let tried = match p {
                    Path::Portal => match zbus::Connection::session().await {
                        Ok(conn) => super::portal::run(conn, chord.clone(), tx.clone()).await.map_err(|e| e.0),
                        Err(e) => Err(format!("no session bus for the portal: {e}")),
                    },
                    Path::Evdev => super::evdev::run(&chord, &devices, tx.clone()).await,
                    Path::X11 => RdevKeys.spawn(tx.clone()),
                };
                match tried {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::info!(path = p.name(), "hotkey path unavailable: {e}");
                        why.push(format!("{}: {e}", p.name()));
                    }
                }
            }
            let binds = compositor_binds(&session, &chord).map(|b| format!("bind press and release, {b}")).unwrap_or_else(evdev_fix);
            let _ = tx.send(HotkeyMsg::Failed(format!("no hotkey path worked ({}); {binds}", why.join("; "))));
        });
        Ok(())
    }
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Auto => "auto",
        Backend::Portal => "portal",
        Backend::X11 => "x11",
        Backend::Evdev => "evdev",
        Backend::None => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(wayland: bool, x11: bool, desktop: &str, bus: bool, evdev: bool) -> Session {
        Session { wayland, x11, desktop: desktop.into(), bus, evdev_readable: evdev }
    }

    #[test]
    fn the_paths_tried_follow_the_backend_and_the_session() {
        use Path::*;
        let cases: &[(&str, Session, &[Path])] = &[
            ("auto", session(false, true, "xfce", true, false), &[X11]),
            ("auto", session(true, true, "gnome", true, false), &[Portal]),
            ("auto", session(true, true, "gnome", true, true), &[Portal, Evdev]),
            ("auto", session(true, false, "niri", false, true), &[Evdev]),
            ("auto", session(true, false, "sway", false, false), &[]),
            ("auto", session(false, false, "", false, true), &[]),
            ("evdev", session(false, true, "xfce", true, false), &[Evdev]),
            ("portal", session(false, true, "xfce", true, false), &[Portal]),
            ("none", session(false, true, "xfce", true, true), &[]),
            ("bogus", session(false, true, "xfce", true, false), &[X11]),
        ];
        for (backend, s, want) in cases {
            assert_eq!(plan(Backend::parse(backend), s), *want, "{backend} {s:?}");
        }
    }

    #[test]
    fn each_desktop_gets_its_exact_fix() {
        let cfg = crate::config::HotkeyCfg::default();
        let chord = "Ctrl+Alt+Space";
        let fix = |s: Session| diagnose(&cfg, &s, chord).fix.unwrap_or_default();
        let sway = fix(session(true, false, "sway", false, false));
        assert!(sway.contains("bindsym Ctrl+Mod1+space exec capcom listen --start"), "{sway}");
        assert!(sway.contains("bindsym --release Ctrl+Mod1+space exec capcom listen --stop"), "{sway}");
        let hypr = fix(session(true, false, "Hyprland".to_lowercase().as_str(), false, false));
        assert!(hypr.contains("bind = CTRL ALT, space, exec, capcom listen --start"), "{hypr}");
        assert!(hypr.contains("bindr = CTRL ALT, space, exec, capcom listen --stop"), "{hypr}");
        let river = fix(session(true, false, "river", false, false));
        assert!(river.contains("riverctl map -release normal Control+Alt Space spawn 'capcom listen --stop'"), "{river}");
        for d in ["gnome", "niri", "cosmic"] {
            let f = fix(session(true, false, d, false, false));
            assert!(f.contains("usermod -aG input") && f.contains(UDEV_RULE), "{d}: {f}");
        }
        let gnome = diagnose(&cfg, &session(true, true, "ubuntu:gnome", true, false), chord);
        assert!(gnome.works && gnome.detail.contains("GlobalShortcuts"), "{gnome:?}");
        let x = diagnose(&cfg, &session(false, true, "xfce", true, false), chord);
        assert!(x.works && x.detail.starts_with("X11"), "{x:?}");
        let none = diagnose(&crate::config::HotkeyCfg { backend: "none".into(), ..Default::default() }, &session(true, false, "sway", false, false), chord);
        assert!(none.works && none.detail.contains("capcom listen --start"), "{none:?}");
    }
}
