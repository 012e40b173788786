//! Push-to-talk read from the keyboards themselves (`[hotkey] backend = "evdev"`), for
//! Wayland desktops with no GlobalShortcuts portal (GNOME 46–47, niri, COSMIC).
//!
//! * Opt-in: it needs read access to `/dev/input/event*` (the `input` group, or the udev
//!   rule [`super::hotkey::UDEV_RULE`]); `capcom doctor` prints both.
//! * It never grabs a device: every key still reaches the desktop as before.
//! * It never logs a key: events go straight into the pure chord logic, and only
//!   "a keyboard was found / lost" is logged.

use super::{HotkeyMsg, KeyEvent};
use rdev::Key;
use std::time::Instant;

/// Whether at least one input event device can be opened for reading.
pub fn readable() -> bool {
    let Ok(dir) = std::fs::read_dir("/dev/input") else { return false };
    dir.flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("event"))
        .any(|e| std::fs::File::open(e.path()).is_ok())
}

/// The rdev key for an evdev key code, for the keys a chord can name (and Esc, which cancels).
pub fn key_of(code: evdev::KeyCode) -> Option<Key> {
    use evdev::KeyCode as K;
    let k = match code {
        K::KEY_LEFTCTRL => Key::ControlLeft,
        K::KEY_RIGHTCTRL => Key::ControlRight,
        K::KEY_LEFTALT => Key::Alt,
        K::KEY_RIGHTALT => Key::AltGr,
        K::KEY_LEFTSHIFT => Key::ShiftLeft,
        K::KEY_RIGHTSHIFT => Key::ShiftRight,
        K::KEY_LEFTMETA => Key::MetaLeft,
        K::KEY_RIGHTMETA => Key::MetaRight,
        K::KEY_SPACE => Key::Space,
        K::KEY_ESC => Key::Escape,
        K::KEY_ENTER => Key::Return,
        K::KEY_TAB => Key::Tab,
        K::KEY_SCROLLLOCK => Key::ScrollLock,
        K::KEY_PAUSE => Key::Pause,
        K::KEY_INSERT => Key::Insert,
        K::KEY_F1 => Key::F1,
        K::KEY_F2 => Key::F2,
        K::KEY_F3 => Key::F3,
        K::KEY_F4 => Key::F4,
        K::KEY_F5 => Key::F5,
        K::KEY_F6 => Key::F6,
        K::KEY_F7 => Key::F7,
        K::KEY_F8 => Key::F8,
        K::KEY_F9 => Key::F9,
        K::KEY_F10 => Key::F10,
        K::KEY_F11 => Key::F11,
        K::KEY_F12 => Key::F12,
        K::KEY_A => Key::KeyA,
        K::KEY_B => Key::KeyB,
        K::KEY_C => Key::KeyC,
        K::KEY_D => Key::KeyD,
        K::KEY_E => Key::KeyE,
        K::KEY_F => Key::KeyF,
        K::KEY_G => Key::KeyG,
        K::KEY_H => Key::KeyH,
        K::KEY_I => Key::KeyI,
        K::KEY_J => Key::KeyJ,
        K::KEY_K => Key::KeyK,
        K::KEY_L => Key::KeyL,
        K::KEY_M => Key::KeyM,
        K::KEY_N => Key::KeyN,
        K::KEY_O => Key::KeyO,
        K::KEY_P => Key::KeyP,
        K::KEY_Q => Key::KeyQ,
        K::KEY_R => Key::KeyR,
        K::KEY_S => Key::KeyS,
        K::KEY_T => Key::KeyT,
        K::KEY_U => Key::KeyU,
        K::KEY_V => Key::KeyV,
        K::KEY_W => Key::KeyW,
        K::KEY_X => Key::KeyX,
        K::KEY_Y => Key::KeyY,
        K::KEY_Z => Key::KeyZ,
        K::KEY_0 => Key::Num0,
        K::KEY_1 => Key::Num1,
        K::KEY_2 => Key::Num2,
        K::KEY_3 => Key::Num3,
        K::KEY_4 => Key::Num4,
        K::KEY_5 => Key::Num5,
        K::KEY_6 => Key::Num6,
        K::KEY_7 => Key::Num7,
        K::KEY_8 => Key::Num8,
        K::KEY_9 => Key::Num9,
        _ => return None,
    };
    Some(k)
}

/// A device that has the keys of a keyboard (letters and space), not a power button or a mouse.
fn is_keyboard(d: &evdev::Device) -> bool {
    d.supported_keys().is_some_and(|k| k.contains(evdev::KeyCode::KEY_SPACE) && k.contains(evdev::KeyCode::KEY_A))
}

/// Read every keyboard (or those in `only`) and send its key events to `tx` until it is gone.
/// An error when no keyboard can be read, with the fix.
pub async fn run(chord: &str, only: &[String], tx: tokio::sync::mpsc::UnboundedSender<HotkeyMsg>) -> Result<(), String> {
    let mut keyboards = Vec::new();
    for (path, dev) in evdev::enumerate() {
        let wanted = only.is_empty() || only.iter().any(|o| std::path::Path::new(o) == path);
        if wanted && is_keyboard(&dev) {
            keyboards.push((path, dev));
        }
    }
    if keyboards.is_empty() {
        return Err(format!(
            "no keyboard under /dev/input can be read{}; {}",
            if only.is_empty() { String::new() } else { format!(" among {}", only.join(", ")) },
            super::hotkey::evdev_fix()
        ));
    }
    let origin = Instant::now();
    let count = keyboards.len();
    let _ = tx.send(HotkeyMsg::Bound { path: "evdev".into(), trigger: chord.to_string() });
    tracing::info!(keyboards = count, "reading push-to-talk from the keyboards (evdev, no grab)");
    let mut readers = Vec::new();
    for (path, dev) in keyboards {
        let tx = tx.clone();
        let name = dev.name().unwrap_or("keyboard").to_string();
        let mut stream = match dev.into_event_stream() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(device = %path.display(), error = %e, "cannot read a keyboard");
                continue;
            }
        };
        readers.push(tokio::spawn(async move {
            loop {
                match stream.next_event().await {
                    Ok(ev) => {
                        let evdev::EventSummary::Key(_, code, value) = ev.destructure() else { continue };
                        // 1 down, 0 up, 2 auto-repeat (ignored: the chord logic sees edges)
                        if value == 2 {
                            continue;
                        }
                        let Some(key) = key_of(code) else { continue };
                        if tx.send(HotkeyMsg::Key(KeyEvent { key, down: value == 1, at: origin.elapsed() })).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::info!(device = %name, error = %e, "a keyboard went away");
                        return;
                    }
                }
            }
        }));
    }
    if readers.is_empty() {
        return Err(format!("no keyboard could be read; {}", super::hotkey::evdev_fix()));
    }
    for r in readers {
        let _ = r.await;
    }
    Err("every keyboard went away".into())
}
