//! Voice out: what capcom says, and saying it.
//!
//! - [`script`], [`words`], [`text`], [`feed`]: pure. Spoken scripts are functions of
//!   [`TaskView`]s and "now"; the podcast feed is a function of changelog entries.
//!   No I/O, no clock reads.
//! - [`view`]: [`TaskView::from_store`] folds a task, its runs and its events into the
//!   plain data the scripts read.
//! - [`tts`]: the [`Speaker`] trait; espeak-ng linked through libespeak-ng, or any
//!   program that writes a WAV.
//! - [`playback`]: the speech queue (sentence by sentence, barge-in) over the
//!   [`Output`] trait; rodio on a real device.
//! - [`changelog`]: audio changelogs as WAV + MP3 files with a JSON sidecar.
//! - [`stats`]: pure; the figures behind `capcom stats` (green on the first try, time to
//!   ready, cost per task) from tasks, runs and state events.

pub mod changelog;
pub mod feed;
pub mod playback;
pub mod script;
pub mod stats;
pub mod text;
pub mod tts;
pub mod view;
pub mod words;

pub use changelog::{ChangelogEntry, ChangelogError};
pub use feed::{FeedChannel, FeedItem};
pub use playback::{Cut, NullOutput, Output, PlaybackError, RodioOutput, SpeechEvent, SpeechQueue, open_output};
pub use script::{Named, Note, Refusal, Severity, StepResult};
pub use text::split_sentences;
pub use tts::{CommandSpeaker, Espeak, EspeakSettings, Pcm, Speaker, TtsError};
pub use view::{CheckView, Spend, TaskView};
