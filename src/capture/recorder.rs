//! The consumer side of the microphone.
//!
//! The audio callback does nothing but send [`RecMsg::Audio`] into a
//! channel. [`Recorder`] (pure, driven by tests with synthetic frames) turns
//! those frames into 16 kHz mono, keeps a pre-roll ring of the last ~300 ms
//! while idle, so the first syllable survives a key pressed a little late,
//! and collects a [`Clip`] between start and stop, up to `max_utterance`.
//! A tap ([`RecMsg::Tap`]) gets a copy of the recording while it grows, in
//! order and without gaps, for transcription while the key is held; the
//! copy is sent without waiting, so it never holds up capture.
//! [`spawn_consumer`] runs it on its own thread.

use super::resample::{Resampler, TARGET_RATE};
use chrono::{DateTime, Utc};
use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// Why a clip ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    Released,
    MaxLength,
    DeviceLost(String),
}

/// A finished recording: 16 kHz mono samples, pre-roll included.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    pub samples: Vec<f32>,
    /// When the key went down.
    pub started_at: DateTime<Utc>,
    /// Samples at the front that were captured before the key went down.
    pub pre_roll: usize,
    pub end: EndReason,
}

impl Clip {
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.samples.len() as f64 / TARGET_RATE as f64)
    }
}

/// Messages into the consumer thread, in order: audio from the callback and
/// commands from the voice loop share one channel, so a stop is handled after
/// every frame captured before it.
#[derive(Debug)]
pub enum RecMsg {
    Audio { samples: Vec<f32>, channels: u16, rate: u32 },
    /// The input stream opened (device description).
    Opened(String),
    /// The input stream failed or the device went away.
    Lost(String),
    /// Copy the next recording (pre-roll first) into this channel as it
    /// grows; the sender is dropped when that recording ends.
    Tap(std::sync::mpsc::Sender<Vec<f32>>),
    Start(DateTime<Utc>),
    Stop,
    Cancel,
    Shutdown,
}

/// What the consumer reports to the voice loop.
#[derive(Debug, Clone, PartialEq)]
pub enum CaptureEvent {
    Clip(Clip),
    Opened(String),
    Lost(String),
}

pub struct Recorder {
    pre_roll_len: usize,
    max_len: usize,
    ring: VecDeque<f32>,
    current: Option<(Vec<f32>, DateTime<Utc>, usize)>,
    resampler: Option<Resampler>,
    scratch: Vec<f32>,
    /// The tap and how many samples of the recording it has been sent.
    tap: Option<(std::sync::mpsc::Sender<Vec<f32>>, usize)>,
}

impl Recorder {
    pub fn new(pre_roll: Duration, max_utterance: Duration) -> Recorder {
        let n = |d: Duration| (d.as_secs_f64() * TARGET_RATE as f64).round() as usize;
        Recorder {
            pre_roll_len: n(pre_roll),
            max_len: n(max_utterance).max(1),
            ring: VecDeque::with_capacity(n(pre_roll) + 1),
            current: None,
            resampler: None,
            scratch: Vec::new(),
            tap: None,
        }
    }

    pub fn is_recording(&self) -> bool {
        self.current.is_some()
    }

    /// Interleaved frames at any rate. Returns a clip if `max_utterance` was reached.
    pub fn push(&mut self, samples: &[f32], channels: u16, rate: u32) -> Option<Clip> {
        let fits = self.resampler.as_ref().is_some_and(|r| r.rate() == rate && r.channels() == channels);
        if !fits {
            match Resampler::new(rate, channels) {
                Ok(r) => self.resampler = Some(r),
                Err(e) => {
                    tracing::warn!("{e}");
                    return None;
                }
            }
        }
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        if let Some(r) = self.resampler.as_mut() {
            r.push(samples, &mut out);
        }
        let clip = self.push_16k(&out);
        self.scratch = out;
        clip
    }

    /// Send the tap what the recording gained since the last send.
    fn forward(&mut self) {
        let (Some((tx, sent)), Some((buf, _, _))) = (self.tap.as_mut(), self.current.as_ref()) else { return };
        if buf.len() > *sent {
            if tx.send(buf[*sent..].to_vec()).is_err() {
                // the reader is gone; recording goes on
                self.tap = None;
                return;
            }
            *sent = buf.len();
        }
    }

    /// Copy the next recording (or the current one, from its start) into `tx`.
    pub fn set_tap(&mut self, tx: std::sync::mpsc::Sender<Vec<f32>>) {
        self.tap = Some((tx, 0));
        self.forward();
    }

    /// 16 kHz mono samples.
    pub fn push_16k(&mut self, samples: &[f32]) -> Option<Clip> {
        match self.current.as_mut() {
            Some((buf, _, _)) => {
                let room = self.max_len.saturating_sub(buf.len());
                buf.extend_from_slice(&samples[..samples.len().min(room)]);
                self.forward();
                let Some((buf, _, _)) = self.current.as_ref() else { return None };
                if buf.len() >= self.max_len {
                    // what did not fit starts the next pre-roll
                    let rest = &samples[samples.len().min(room)..];
                    let clip = self.finish(EndReason::MaxLength);
                    self.fill_ring(rest);
                    return clip;
                }
                None
            }
            None => {
                self.fill_ring(samples);
                None
            }
        }
    }

    fn fill_ring(&mut self, samples: &[f32]) {
        if self.pre_roll_len == 0 {
            return;
        }
        let take = samples.len().min(self.pre_roll_len);
        let start = samples.len() - take;
        while self.ring.len() + take > self.pre_roll_len {
            self.ring.pop_front();
        }
        self.ring.extend(&samples[start..]);
    }

    /// Start recording: the pre-roll becomes the beginning of the clip.
    pub fn start(&mut self, at: DateTime<Utc>) {
        if self.current.is_some() {
            return;
        }
        let mut buf = Vec::with_capacity(TARGET_RATE as usize * 10);
        buf.extend(self.ring.drain(..));
        let pre = buf.len();
        self.current = Some((buf, at, pre));
        self.forward();
    }

    /// Stop and return the clip (None if not recording).
    pub fn stop(&mut self) -> Option<Clip> {
        self.finish(EndReason::Released)
    }

    /// Drop the recording.
    pub fn cancel(&mut self) {
        self.current = None;
        self.tap = None;
    }

    /// A new input stream opened (after a pause, or a device that came back): audio from the
    /// stream before is not the moment before the next press, so the pre-roll starts empty.
    pub fn stream_opened(&mut self) {
        self.ring.clear();
    }

    /// The device went away: keep what was captured.
    pub fn device_lost(&mut self, why: &str) -> Option<Clip> {
        self.resampler = None;
        self.ring.clear();
        self.finish(EndReason::DeviceLost(why.to_string()))
    }

    fn finish(&mut self, end: EndReason) -> Option<Clip> {
        self.forward();
        self.tap = None;
        let (samples, started_at, pre_roll) = self.current.take()?;
        Some(Clip { samples, started_at, pre_roll, end })
    }
}

/// Run a [`Recorder`] on its own thread until [`RecMsg::Shutdown`] (or every
/// sender is gone). Clips and device news go to `events`.
pub fn spawn_consumer(
    rx: Receiver<RecMsg>,
    events: UnboundedSender<CaptureEvent>,
    pre_roll: Duration,
    max_utterance: Duration,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("capcom-audio".into()).spawn(move || {
        let mut rec = Recorder::new(pre_roll, max_utterance);
        loop {
            let msg = match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let clip = match msg {
                RecMsg::Audio { samples, channels, rate } => rec.push(&samples, channels, rate),
                RecMsg::Tap(tx) => {
                    rec.set_tap(tx);
                    None
                }
                RecMsg::Start(at) => {
                    rec.start(at);
                    None
                }
                RecMsg::Stop => rec.stop(),
                RecMsg::Cancel => {
                    rec.cancel();
                    None
                }
                RecMsg::Opened(what) => {
                    rec.stream_opened();
                    let _ = events.send(CaptureEvent::Opened(what));
                    None
                }
                RecMsg::Lost(why) => {
                    let clip = rec.device_lost(&why);
                    let _ = events.send(CaptureEvent::Lost(why));
                    clip
                }
                RecMsg::Shutdown => break,
            };
            if let Some(c) = clip
                && events.send(CaptureEvent::Clip(c)).is_err() {
                    break;
                }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// 16 kHz ramp values, so positions can be checked.
    fn ramp(from: usize, n: usize) -> Vec<f32> {
        (from..from + n).map(|i| i as f32).collect()
    }

    #[test]
    fn pre_roll_keeps_the_moment_before_the_key() {
        let mut r = Recorder::new(ms(300), ms(120_000));
        r.push_16k(&ramp(0, 16_000)); // 1 s of idle audio
        r.start(Utc::now());
        r.push_16k(&ramp(16_000, 8_000));
        let clip = r.stop().unwrap();
        assert_eq!(clip.pre_roll, 4_800);
        assert_eq!(clip.samples.len(), 4_800 + 8_000);
        assert_eq!(clip.samples[0], (16_000 - 4_800) as f32);
        assert_eq!(*clip.samples.last().unwrap(), 23_999.0);
        assert_eq!(clip.end, EndReason::Released);
        // contiguous: nothing lost or doubled at the seam
        assert!(clip.samples.windows(2).all(|w| w[1] == w[0] + 1.0));
    }

    #[test]
    fn pre_roll_is_shorter_right_after_start_up() {
        let mut r = Recorder::new(ms(300), ms(120_000));
        r.push_16k(&ramp(0, 1_000));
        r.start(Utc::now());
        let clip = r.stop().unwrap();
        assert_eq!(clip.pre_roll, 1_000);
        // ring refills after a recording
        r.push_16k(&ramp(0, 100));
        r.start(Utc::now());
        assert_eq!(r.stop().unwrap().samples.len(), 100);
    }

    #[test]
    fn the_tap_gets_the_whole_recording_in_order_and_ends_with_it() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut r = Recorder::new(ms(300), ms(1_000));
        r.push_16k(&ramp(0, 16_000));
        r.set_tap(tx);
        r.start(Utc::now());
        r.push_16k(&ramp(16_000, 3_000));
        let clip = r.push_16k(&ramp(19_000, 20_000)).expect("over max_utterance: the clip is cut");
        let got: Vec<f32> = rx.try_iter().flatten().collect();
        // the sender went away with the recording
        assert!(matches!(rx.try_recv(), Err(std::sync::mpsc::TryRecvError::Disconnected)));
        assert_eq!(got.len(), 16_000);
        assert!(got.windows(2).all(|w| w[1] == w[0] + 1.0));
        assert_eq!(got[0], (16_000 - 4_800) as f32);
        assert_eq!(got, clip.samples);
        // a later recording without a tap sends nothing anywhere
        r.start(Utc::now());
        r.push_16k(&ramp(0, 100));
        assert_eq!(r.stop().unwrap().samples.len(), 100 + 4_800);
    }

    #[test]
    fn a_cancelled_recording_closes_its_tap() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut r = Recorder::new(ms(0), ms(10_000));
        r.set_tap(tx);
        r.start(Utc::now());
        r.push_16k(&ramp(0, 1_000));
        r.cancel();
        assert_eq!(rx.try_iter().flatten().count(), 1_000);
        assert!(matches!(rx.try_recv(), Err(std::sync::mpsc::TryRecvError::Disconnected)));
    }

    #[test]
    fn max_utterance_cuts_and_keeps_the_rest_for_later() {
        let mut r = Recorder::new(ms(0), ms(1_000));
        r.start(Utc::now());
        assert!(r.push_16k(&ramp(0, 10_000)).is_none());
        let clip = r.push_16k(&ramp(10_000, 10_000)).expect("cut at max");
        assert_eq!(clip.samples.len(), 16_000);
        assert_eq!(clip.end, EndReason::MaxLength);
        assert!(!r.is_recording());
        assert!(r.stop().is_none());
    }

    #[test]
    fn cancel_drops_and_device_loss_keeps() {
        let mut r = Recorder::new(ms(300), ms(10_000));
        r.start(Utc::now());
        r.push_16k(&ramp(0, 3_000));
        r.cancel();
        assert!(r.stop().is_none());

        r.start(Utc::now());
        r.push_16k(&ramp(0, 5_000));
        let clip = r.device_lost("unplugged").unwrap();
        assert_eq!(clip.samples.len(), 5_000);
        assert_eq!(clip.end, EndReason::DeviceLost("unplugged".into()));
        // recording again once audio returns
        r.push(&vec![0.1; 4_800], 1, 48_000);
        r.start(Utc::now());
        r.push(&vec![0.1; 48_000], 1, 48_000);
        let clip = r.stop().unwrap();
        let secs = clip.samples.len() as f64 / 16_000.0;
        assert!(secs > 0.9 && secs <= 1.15, "{secs}");
    }

    #[test]
    fn any_input_format_becomes_16k() {
        let mut r = Recorder::new(ms(0), ms(10_000));
        r.start(Utc::now());
        // 44.1 kHz stereo in 10 ms callbacks, 2 s
        for _ in 0..200 {
            r.push(&vec![0.2; 441 * 2], 2, 44_100);
        }
        let clip = r.stop().unwrap();
        let n = clip.samples.len() as i64;
        // everything but what sits in the resampler's delay line
        assert!((n - 32_000).abs() < 1_200, "{n}");
    }

    #[test]
    fn a_new_stream_starts_with_an_empty_pre_roll() {
        // what the microphone heard before a pause never leads the first clip after it
        let (tx, rx) = std::sync::mpsc::channel();
        let (etx, mut erx) = tokio::sync::mpsc::unbounded_channel();
        let h = spawn_consumer(rx, etx, ms(100), ms(60_000)).unwrap();
        tx.send(RecMsg::Audio { samples: vec![0.9; 3_200], channels: 1, rate: 16_000 }).unwrap();
        tx.send(RecMsg::Opened("mic".into())).unwrap();
        tx.send(RecMsg::Start(Utc::now())).unwrap();
        tx.send(RecMsg::Audio { samples: vec![0.5; 1_600], channels: 1, rate: 16_000 }).unwrap();
        tx.send(RecMsg::Stop).unwrap();
        tx.send(RecMsg::Shutdown).unwrap();
        h.join().unwrap();
        assert_eq!(erx.try_recv().unwrap(), CaptureEvent::Opened("mic".into()));
        match erx.try_recv().unwrap() {
            CaptureEvent::Clip(c) => {
                assert_eq!(c.pre_roll, 0);
                assert!(c.samples.iter().all(|&x| x == 0.5), "no audio from before the stream opened");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn consumer_thread_orders_audio_before_stop() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (etx, mut erx) = tokio::sync::mpsc::unbounded_channel();
        let h = spawn_consumer(rx, etx, ms(100), ms(60_000)).unwrap();
        tx.send(RecMsg::Audio { samples: vec![0.0; 3_200], channels: 1, rate: 16_000 }).unwrap();
        tx.send(RecMsg::Start(Utc::now())).unwrap();
        for _ in 0..10 {
            tx.send(RecMsg::Audio { samples: vec![0.5; 1_600], channels: 1, rate: 16_000 }).unwrap();
        }
        tx.send(RecMsg::Stop).unwrap();
        tx.send(RecMsg::Lost("gone".into())).unwrap();
        tx.send(RecMsg::Shutdown).unwrap();
        h.join().unwrap();
        match erx.try_recv().unwrap() {
            CaptureEvent::Clip(c) => {
                assert_eq!(c.pre_roll, 1_600);
                assert_eq!(c.samples.len(), 1_600 + 16_000);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(erx.try_recv().unwrap(), CaptureEvent::Lost("gone".into()));
    }
}
