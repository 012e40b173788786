//! The cpal microphone.
//!
//! The input stream is opened once and kept running while the daemon runs:
//! opening takes ~400 ms on some systems, which would cut the first
//! syllable, and a warm stream is what feeds the pre-roll. The callback
//! converts samples to f32 and sends them into the consumer's channel,
//! nothing more. A stream error that means the device is gone, or a stream
//! that stops delivering, closes it; the thread then reopens the configured
//! (or default) device as soon as one is there again.

use super::resample::{i16_to_f32, i32_to_f32, u16_to_f32, u8_to_f32};
use super::{AudioInput, RecMsg};
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// A stream that delivered audio and then nothing for this long counts as lost.
const STALL: Duration = Duration::from_secs(3);

/// The system's input device through cpal.
pub struct CpalInput {
    /// Device name as the system lists it; empty for the default.
    pub device: String,
}

impl AudioInput for CpalInput {
    fn spawn(&self, sink: Sender<RecMsg>, stop: Arc<AtomicBool>) -> std::io::Result<std::thread::JoinHandle<()>> {
        let wanted = self.device.clone();
        std::thread::Builder::new().name("capcom-mic".into()).spawn(move || run(&wanted, sink, &stop))
    }
}

fn run(wanted: &str, sink: Sender<RecMsg>, stop: &AtomicBool) {
    let mut warned = false;
    while !stop.load(Ordering::Relaxed) {
        let (etx, erx) = mpsc::channel::<String>();
        let last = Arc::new(AtomicU64::new(0));
        let origin = Instant::now();
        match open(wanted, sink.clone(), etx, last.clone(), origin) {
            Ok((stream, what)) => {
                warned = false;
                tracing::info!(device = %what, "microphone open");
                let _ = sink.send(RecMsg::Opened(what));
                let why = loop {
                    if stop.load(Ordering::Relaxed) {
                        break None;
                    }
                    match erx.recv_timeout(Duration::from_millis(250)) {
                        Ok(e) => break Some(e),
                        Err(RecvTimeoutError::Disconnected) => break Some("the input stream ended".into()),
                        Err(RecvTimeoutError::Timeout) => {
                            // a stream that delivered and then went quiet is gone
                            let seen = last.load(Ordering::Relaxed);
                            let now = origin.elapsed();
                            if seen > 0 && now.saturating_sub(Duration::from_millis(seen)) > STALL {
                                break Some(format!("no audio from the microphone for {} s", STALL.as_secs()));
                            }
                        }
                    }
                };
                if let Some(why) = &why {
                    tracing::warn!(reason = %why, "microphone lost; reopening when a device is back");
                    let _ = sink.send(RecMsg::Lost(why.clone()));
                }
                // Closing a stream whose sound server died can block forever inside
                // the ALSA plugin; never let that hold up this thread.
                let _ = std::thread::Builder::new().name("capcom-mic-close".into()).spawn(move || drop(stream));
                if why.is_none() {
                    break;
                }
            }
            Err(e) => {
                if !warned {
                    tracing::warn!("no microphone: {e}; retrying every 2 s (voice input waits, `capcom brief` works)");
                    warned = true;
                }
            }
        }
        for _ in 0..8 {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

fn find_device(wanted: &str) -> Result<cpal::Device, String> {
    let host = cpal::default_host();
    if wanted.is_empty() {
        return host.default_input_device().ok_or_else(|| "no default input device".to_string());
    }
    let devices = host.input_devices().map_err(|e| e.to_string())?;
    for d in devices {
        if d.description().map(|n| n.name() == wanted).unwrap_or(false) {
            return Ok(d);
        }
    }
    Err(format!("input device `{wanted}` not found ([voice] input_device)"))
}

fn open(
    wanted: &str,
    sink: Sender<RecMsg>,
    errors: Sender<String>,
    last: Arc<AtomicU64>,
    origin: Instant,
) -> Result<(cpal::Stream, String), String> {
    let dev = find_device(wanted)?;
    let name = dev.description().map(|n| n.name().to_string()).unwrap_or_else(|_| "input device".into());
    let cfg = dev.default_input_config().map_err(|e| format!("{name}: {e}"))?;
    let format = cfg.sample_format();
    let config: cpal::StreamConfig = cfg.config();
    let (channels, rate) = (config.channels, config.sample_rate);
    let on_error = move |e: cpal::Error| {
        use cpal::ErrorKind::*;
        match e.kind() {
            // the stream goes on
            DeviceChanged => tracing::info!("audio route changed: {e}"),
            Xrun | RealtimeDenied => tracing::debug!("audio input: {e}"),
            // anything else ends this stream; the thread reopens one
            _ => {
                let _ = errors.send(e.to_string());
            }
        }
    };
    macro_rules! build {
        ($t:ty, $conv:expr) => {{
            let sink = sink.clone();
            let last = last.clone();
            dev.build_input_stream::<$t, _, _>(
                config,
                move |data: &[$t], _| {
                    let samples: Vec<f32> = data.iter().map(|&s| $conv(s)).collect();
                    let _ = sink.send(RecMsg::Audio { samples, channels, rate });
                    last.store((origin.elapsed().as_millis() as u64).max(1), Ordering::Relaxed);
                },
                on_error,
                Some(Duration::from_secs(5)),
            )
        }};
    }
    let stream = match format {
        cpal::SampleFormat::F32 => build!(f32, |s: f32| s),
        cpal::SampleFormat::F64 => build!(f64, |s: f64| s as f32),
        cpal::SampleFormat::I16 => build!(i16, i16_to_f32),
        cpal::SampleFormat::I32 => build!(i32, i32_to_f32),
        cpal::SampleFormat::U16 => build!(u16, u16_to_f32),
        cpal::SampleFormat::U8 => build!(u8, u8_to_f32),
        cpal::SampleFormat::I8 => build!(i8, |s: i8| s as f32 / 128.0),
        other => return Err(format!("{name}: unsupported sample format {other:?}")),
    }
    .map_err(|e| format!("{name}: {e}"))?;
    stream.play().map_err(|e| format!("{name}: {e}"))?;
    Ok((stream, format!("{name} ({rate} Hz, {channels} ch, {format:?})")))
}

/// ALSA prints its own errors ("ALSA lib confmisc.c:855: cannot find card '0'", dozens of
/// lines when there is no sound card) straight to stderr while cpal probes devices. capcom
/// says what matters itself (`capcom doctor`'s microphone line, the daemon's warning), so
/// ALSA's handler is replaced by one that says nothing. Call before the first device probe.
pub fn quiet_alsa() {
    use std::os::raw::{c_char, c_int};
    // ALSA's handler is variadic (`const char *fmt, ...`); the fixed arguments are passed the
    // same way to a function that ignores the rest, which is all this one does.
    type Handler = unsafe extern "C" fn(*const c_char, c_int, *const c_char, c_int, *const c_char);
    unsafe extern "C" {
        fn snd_lib_error_set_handler(handler: Option<Handler>) -> c_int;
    }
    unsafe extern "C" fn silent(_: *const c_char, _: c_int, _: *const c_char, _: c_int, _: *const c_char) {}
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: sets a process-wide callback to a function that touches nothing.
        unsafe {
            snd_lib_error_set_handler(Some(silent));
        }
    });
}
