//! The pieces of a long brief, decoded while the key is still held.
//!
//! A brief longer than one 30 s window is cut into pieces of at most 28 s
//! ([`super::long`]), and each piece is decoded as a clip of its own. A cut depends
//! only on the audio up to 28 s after the cut before it ([`super::long::next_cut`]),
//! so once the recording has grown past that point the piece is final: it is decoded
//! then, on a background thread, with exactly the settings and prompt the decode after
//! release would give it ([`super::PieceChain`]). At release only the pieces not yet
//! decoded are: for a 90 s brief, the last one instead of all four.
//!
//! Unlike streaming ([`super::stream`]), this never changes the text: a piece is the
//! same audio decoded the same way, before release instead of after. The decode after
//! release checks each piece's place and a hash of its samples, and decodes again any
//! piece that differs. A brief of 28 s or less has no piece to decode early: Whisper's
//! encoder looks at its whole window at once, so its work cannot start before the
//! clip ends without changing what it hears.
//!
//! At release a piece in flight is finished, not stopped (it is needed either way); a
//! cancelled recording stops it.

use super::long;
use super::{Hearing, Mode, PieceChain, RunOptions, SAMPLE_RATE, TranscribeError, Transcriber, Transcript};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

/// A piece of a clip decoded before the clip ended: samples `start..end` of the clip.
#[derive(Debug, Clone)]
pub struct EarlyPiece {
    pub start: usize,
    pub end: usize,
    /// [`hash`] of the piece's samples: the decode after release uses it only for the
    /// same audio.
    pub hash: u64,
    pub transcript: Transcript,
    /// The piece lost its speech ([`long::too_few_words`]).
    pub lost: Option<String>,
}

/// FNV-1a over the samples' bits. Pure.
pub fn hash(samples: &[f32]) -> u64 {
    samples.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, s| {
        s.to_bits().to_le_bytes().iter().fold(h, |h, b| (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3))
    })
}

/// The background decoding of one recording's long pieces.
pub struct Ahead {
    transcriber: Arc<Transcriber>,
    /// Stops a decode in flight: the recording was cancelled.
    abort: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<EarlyPiece>>>,
}

impl Drop for Ahead {
    fn drop(&mut self) {
        self.abort.store(true, Ordering::Relaxed);
    }
}

impl Ahead {
    /// Start decoding the pieces of the audio arriving on `audio` (the recorder's tap:
    /// the recording from its first sample, in order) as each becomes final.
    pub fn start(transcriber: Arc<Transcriber>, audio: Receiver<Vec<f32>>) -> std::io::Result<Ahead> {
        let abort = Arc::new(AtomicBool::new(false));
        let (t, a) = (transcriber.clone(), abort.clone());
        let thread = std::thread::Builder::new().name("capcom-ahead".into()).spawn(move || pieces(&t, audio, &a))?;
        Ok(Ahead { transcriber, abort, thread: Some(thread) })
    }

    /// The key was released and `samples` is the whole clip: wait for a piece in flight,
    /// then hear the clip as [`Transcriber::hear`] does, decoding only the pieces not
    /// decoded yet.
    pub fn finish(mut self, samples: &[f32], expected: Mode) -> Result<Hearing, TranscribeError> {
        let early = match self.thread.take().map(|h| h.join()) {
            Some(Ok(p)) => p,
            Some(Err(_)) => {
                tracing::warn!("the thread decoding pieces while the key was held panicked; decoding the whole clip");
                Vec::new()
            }
            None => Vec::new(),
        };
        if !early.is_empty() {
            tracing::debug!(pieces = early.len(), "pieces decoded while the key was held");
        }
        self.transcriber.hear_with_early(samples, expected, None, early)
    }
}

/// The loop: until the recording ends (the tap's sender is dropped) or is cancelled.
fn pieces(t: &Transcriber, audio: Receiver<Vec<f32>>, abort: &Arc<AtomicBool>) -> Vec<EarlyPiece> {
    let mut buf: Vec<f32> = Vec::new();
    let mut done = Vec::new();
    let mut chain = PieceChain::new(t, &RunOptions { abort: Some(abort.clone()), ..Default::default() });
    let mut start = 0usize;
    while !abort.load(Ordering::Relaxed) {
        match audio.recv_timeout(Duration::from_millis(100)) {
            Ok(chunk) => {
                buf.extend_from_slice(&chunk);
                buf.extend(audio.try_iter().flatten());
            }
            Err(RecvTimeoutError::Timeout) => continue,
            // released: the rest is decoded by finish()
            Err(RecvTimeoutError::Disconnected) => break,
        }
        while let Some(end) = long::next_cut(&buf, start) {
            let piece = &buf[start..end];
            let at = start as f64 / SAMPLE_RATE as f64;
            match chain.decode(t, piece, at) {
                Ok((transcript, lost)) => {
                    tracing::debug!(from = at, to = end as f64 / SAMPLE_RATE as f64, text = %transcript.text, "piece decoded while the key is held");
                    done.push(EarlyPiece { start, end, hash: hash(piece), transcript, lost });
                    start = end;
                }
                Err(e) => {
                    if !abort.load(Ordering::Relaxed) {
                        tracing::warn!("decoding a piece while the key was held failed: {e}; it is decoded at release");
                    }
                    return done;
                }
            }
        }
    }
    done
}

/// [`Ahead`] without the clock: the pieces a recording of `samples` gets decoded while
/// the key is held when each is decoded before the next arrives, then the decode at
/// release. The same steps in a fixed order, for tests.
pub fn replay(t: &Transcriber, samples: &[f32], expected: Mode) -> Result<Hearing, TranscribeError> {
    let mut chain = PieceChain::new(t, &RunOptions::default());
    let mut early = Vec::new();
    let mut start = 0;
    let step = SAMPLE_RATE as usize / 10;
    let mut end = 0;
    while end < samples.len() {
        end = (end + step).min(samples.len());
        while let Some(cut) = long::next_cut(&samples[..end], start) {
            let piece = &samples[start..cut];
            let (transcript, lost) = chain.decode(t, piece, start as f64 / SAMPLE_RATE as f64)?;
            early.push(EarlyPiece { start, end: cut, hash: hash(piece), transcript, lost });
            start = cut;
        }
    }
    t.hear_with_early(samples, expected, None, early)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_tells_apart_pieces_that_differ_in_one_sample() {
        let a: Vec<f32> = (0..48_000).map(|i| (i as f32 * 0.01).sin()).collect();
        let mut b = a.clone();
        assert_eq!(hash(&a), hash(&b));
        b[30_000] = f32::from_bits(b[30_000].to_bits() ^ 1);
        assert_ne!(hash(&a), hash(&b));
        assert_ne!(hash(&a[..47_999]), hash(&a));
        // -0.0 and 0.0 are different audio samples to the hash (bits), which is safe:
        // at worst a piece is decoded again
        assert_ne!(hash(&[0.0]), hash(&[-0.0]));
    }
}
