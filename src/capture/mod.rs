//! Voice capture: the push-to-talk hotkey and the microphone.
//!
//! * [`chord`]: the hotkey chord and the pure press/release decision logic.
//! * [`hotkey`]: which way the key reaches capcom (`[hotkey] backend`): the rdev listener
//!   (X11), the desktop portal's GlobalShortcuts ([`portal`]: GNOME 48+, KDE Plasma 6), or
//!   the keyboards themselves ([`evdev`]); and what to do where none works.
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
pub mod evdev;
pub mod hotkey;
pub mod portal;
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
    /// The whole chord went down or up, as a desktop reports a bound shortcut (the portal's
    /// Activated / Deactivated).
    Edge { down: bool, at: std::time::Duration },
    /// The key is bound: which path (`portal`, `x11`, `evdev`) and the trigger as it reports it.
    Bound { path: String, trigger: String },
    /// The listener could not start or stopped.
    Failed(String),
}

/// The global keyboard.
pub trait KeySource: Send + Sync {
    /// Start listening; key events go to `tx` until the process ends.
    fn spawn(&self, tx: tokio::sync::mpsc::UnboundedSender<HotkeyMsg>) -> Result<(), String>;
}
