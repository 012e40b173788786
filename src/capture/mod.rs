//! Voice capture: the push-to-talk hotkey and the microphone.
//!
//! * [`chord`]: the hotkey chord and the pure press/release decision logic.
//! * [`hotkey`]: the rdev listener (X11) that feeds it.
//! * [`mic`]: the cpal input stream, kept open while the daemon runs and
//!   reopened after a device loss. Its callback only sends frames into a channel.
//! * [`recorder`]: the consumer of that channel: resampling to 16 kHz mono
//!   ([`resample`]), the pre-roll ring, clips up to `max_utterance`.
//! * [`gate`]: the energy gate ("nothing heard").
//! * [`vad`]: voice-activity detection (is there a pitched human voice at all).
//! * [`wav`]: WAV in and out.
//!
//! The microphone and the hotkey are outside systems, each behind one small
//! trait ([`AudioInput`], [`KeySource`]) with one real implementation.

pub mod chord;
pub mod gate;
pub mod hotkey;
pub mod mic;
pub mod recorder;
pub mod resample;
pub mod vad;
pub mod wav;

pub use chord::{Action, Chord, HotkeyLogic, KeyEvent};
pub use recorder::{CaptureEvent, Clip, EndReason, RecMsg};

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Sender;

/// The microphone.
pub trait AudioInput: Send + Sync {
    /// Deliver audio (and device news) into `sink` on a thread of its own,
    /// keeping the input open, until `stop` is set.
    fn spawn(&self, sink: Sender<RecMsg>, stop: Arc<AtomicBool>) -> std::io::Result<std::thread::JoinHandle<()>>;
}

/// What the global hotkey listener reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HotkeyMsg {
    Key(KeyEvent),
    /// The listener could not start or stopped.
    Failed(String),
}

/// The global keyboard.
pub trait KeySource: Send + Sync {
    /// Start listening; key events go to `tx` until the process ends.
    fn spawn(&self, tx: tokio::sync::mpsc::UnboundedSender<HotkeyMsg>) -> Result<(), String>;
}

/// A note for sessions where the global hotkey cannot work, or None.
pub fn hotkey_note() -> Option<String> {
    let wayland = std::env::var("WAYLAND_DISPLAY").ok().filter(|v| !v.is_empty()).is_some()
        || std::env::var("XDG_SESSION_TYPE").map(|v| v.eq_ignore_ascii_case("wayland")).unwrap_or(false);
    let display = std::env::var("DISPLAY").ok().filter(|v| !v.is_empty()).is_some();
    if wayland {
        Some(
            "Wayland session: the global hotkey (rdev, X11) cannot see keys here. Bind a desktop shortcut to \
             `capcom listen --toggle` (it toggles recording in the running daemon), or use an X11 session."
                .to_string(),
        )
    } else if !display {
        Some("no X display: no global hotkey; bind a shortcut to `capcom listen --toggle`, or use `capcom brief`".to_string())
    } else {
        None
    }
}
