//! The global hotkey listener: rdev's X11 RECORD hook, on its own thread.
//! Under Wayland it sees nothing; see [`super::hotkey_note`].

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
