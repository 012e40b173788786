//! Transcription while the key is held, so the wait after release does not
//! grow with the brief.
//!
//! * A background thread ([`Live`]) receives the recording as it grows (the
//!   recorder's tap) and, every [`PASS_EVERY_SECONDS`] of new audio, decodes
//!   the audio not yet committed, with timestamps on so its segments carry
//!   real times.
//! * Segments that two consecutive passes agree on, word for word, are
//!   committed ([`Agreement`], the "local agreement" policy of streaming
//!   Whisper systems), unless they end too close to the live edge; the
//!   uncommitted audio then starts where the last committed segment ended.
//! * At release, a pass in flight is stopped, and only the uncommitted tail
//!   is decoded (its `audio_ctx` follows its length plus the margin), with
//!   the committed text as the prompt. With nothing committed the clip is
//!   heard exactly as without streaming ([`Transcriber::hear`]).
//! * Capture never waits for a pass: the tap's channel is unbounded and the
//!   clip handed to [`Live::finish`] is the recorder's own, complete clip.

use super::{
    COMMAND_MAX_SECONDS, Hearing, Mode, RunOptions, SAMPLE_RATE, Segment, TranscribeError, Transcriber, Transcript,
    rejection,
};
use crate::capture;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// A pass runs after this much new audio.
pub const PASS_EVERY_SECONDS: f64 = 2.0;
/// No pass over less uncommitted audio than this.
pub const MIN_PASS_SECONDS: f64 = 2.0;
/// A segment is committed only if it ends at least this long before the
/// audio so far (its words may still change near the live edge).
pub const SETTLE_SECONDS: f64 = 1.0;
/// Committed text given to the next decode as its prompt, at most.
pub const PROMPT_CHARS: usize = 200;

/// A decoded segment, in seconds from the start of the clip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Piece {
    pub t0: f64,
    pub t1: f64,
    pub text: String,
}

/// Words for comparing two passes: lowercase, no punctuation.
fn norm(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// The local-agreement policy: what consecutive passes agree on is kept.
/// Pure: fed with each pass's segments, it says what is committed and where
/// the uncommitted audio starts.
#[derive(Debug, Default, Clone)]
pub struct Agreement {
    committed: Vec<Piece>,
    offset: f64,
    previous: Vec<Piece>,
}

impl Agreement {
    /// Seconds from the clip's start where the uncommitted audio begins.
    pub fn offset(&self) -> f64 {
        self.offset
    }

    pub fn committed(&self) -> &[Piece] {
        &self.committed
    }

    pub fn committed_text(&self) -> String {
        self.committed.iter().map(|p| p.text.trim()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ")
    }

    /// A pass over the audio from [`Agreement::offset`] to `end` (seconds)
    /// produced `pieces` (clip time, one per word). Commits the leading
    /// pieces this pass and the one before agree on, except the pass's last
    /// (it may be a word still being spoken) and any that end within
    /// [`SETTLE_SECONDS`] of `end`, cut back to the end of a sentence.
    /// Returns how many were committed.
    pub fn pass(&mut self, pieces: Vec<Piece>, end: f64) -> usize {
        let pieces: Vec<Piece> = pieces.into_iter().filter(|p| !norm(&p.text).is_empty()).collect();
        let mut n = 0;
        let mut last_end = self.offset;
        while n + 1 < pieces.len() && n < self.previous.len() {
            let (p, q) = (&pieces[n], &self.previous[n]);
            let settled = p.t1 <= end - SETTLE_SECONDS;
            // times must move forward and stay inside the audio decoded
            let sane = p.t0 >= last_end - 0.05 && p.t1 > p.t0 && p.t1 > self.offset;
            if norm(&p.text) != norm(&q.text) || !settled || !sane {
                break;
            }
            last_end = p.t1;
            n += 1;
        }
        // commit whole sentences only: a cut between sentences falls in a pause
        while n > 0 && !pieces[n - 1].text.trim_end().ends_with(['.', '?', '!']) {
            n -= 1;
        }
        last_end = if n > 0 { pieces[n - 1].t1 } else { self.offset };
        let mut pieces = pieces;
        let rest = pieces.split_off(n);
        if n > 0 {
            self.offset = last_end;
            self.committed.extend(pieces);
        }
        self.previous = rest;
        n
    }

    /// A pass that produced nothing usable (rejected, or failed).
    pub fn empty_pass(&mut self) {
        self.previous.clear();
    }
}

/// What streaming did for a clip (stored with the utterance).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamReport {
    /// Passes completed while the key was held.
    pub passes: usize,
    /// Segments committed before release.
    pub committed: usize,
    /// Where the tail decoded at release started (seconds into the clip).
    pub tail_from_s: f64,
    /// The tail's length in seconds.
    pub tail_s: f64,
    /// Why the clip was heard as a whole instead ("nothing committed", ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub whole_clip: Option<String>,
}

/// The background passes over one recording.
pub struct Live {
    transcriber: Arc<Transcriber>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<(Agreement, usize)>>,
}

impl Drop for Live {
    fn drop(&mut self) {
        // a cancelled recording: the thread ends at its next check
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Live {
    /// Start passes over the audio arriving on `audio` (the recorder's tap:
    /// the recording from its first sample, in order).
    pub fn start(transcriber: Arc<Transcriber>, audio: Receiver<Vec<f32>>) -> std::io::Result<Live> {
        let stop = Arc::new(AtomicBool::new(false));
        let (t, s) = (transcriber.clone(), stop.clone());
        let thread = std::thread::Builder::new().name("capcom-stream".into()).spawn(move || passes(&t, audio, &s))?;
        Ok(Live { transcriber, stop, thread: Some(thread) })
    }

    /// The key was released and `samples` is the whole clip: stop the
    /// passes, decode what is not committed, and hear the clip as
    /// [`Transcriber::hear`] would (gate, voice detector, checks).
    pub fn finish(mut self, samples: &[f32], expected: Mode) -> Result<Hearing, TranscribeError> {
        self.stop.store(true, Ordering::Relaxed);
        let (agreement, passes) = match self.thread.take().map(|h| h.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => {
                tracing::warn!("the streaming thread panicked; hearing the clip as a whole");
                (Agreement::default(), 0)
            }
            None => (Agreement::default(), 0),
        };
        self.transcriber.finish_stream(samples, expected, &agreement, passes)
    }
}

/// The pass loop: runs until `stop` or until the recording ends.
fn passes(t: &Transcriber, audio: Receiver<Vec<f32>>, stop: &Arc<AtomicBool>) -> (Agreement, usize) {
    let sr = SAMPLE_RATE as f64;
    let mut buf: Vec<f32> = Vec::new();
    let mut agreement = Agreement::default();
    let mut last_pass = 0usize;
    let mut done = 0usize;
    let abort = Some(stop.clone());
    while !stop.load(Ordering::Relaxed) {
        match audio.recv_timeout(Duration::from_millis(50)) {
            Ok(chunk) => {
                buf.extend_from_slice(&chunk);
                buf.extend(audio.try_iter().flatten());
            }
            Err(RecvTimeoutError::Timeout) => {}
            // the recording ended: the rest is for finish()
            Err(RecvTimeoutError::Disconnected) => break,
        }
        let end = buf.len();
        let from = ((agreement.offset() * sr) as usize).min(end);
        if (end - last_pass) as f64 / sr < PASS_EVERY_SECONDS || (end - from) as f64 / sr < MIN_PASS_SECONDS {
            continue;
        }
        last_pass = end;
        match pass(t, &buf[..end], &mut agreement, abort.clone()) {
            Ok(()) => done += 1,
            Err(TranscribeError::Engine(super::EngineError::Aborted)) => break,
            Err(e) => {
                tracing::warn!("streaming pass failed: {e}; the clip is decoded at release");
                break;
            }
        }
    }
    (agreement, done)
}

/// One pass over `audio` (the recording so far, from its first sample):
/// decode what is not committed and let the agreement commit.
fn pass(t: &Transcriber, audio: &[f32], agreement: &mut Agreement, abort: Option<Arc<AtomicBool>>) -> Result<(), TranscribeError> {
    let sr = SAMPLE_RATE as f64;
    let end = audio.len();
    let from = ((agreement.offset() * sr) as usize).min(end);
    let opts = RunOptions { timestamps: true, prompt: Some(t.stream_prompt(agreement)), abort, ..Default::default() };
    let started = Instant::now();
    let tr = t.run_with(&audio[from..end], Mode::Free, &opts)?;
    let shift = from as f64 / sr;
    if rejection(&tr).is_some() {
        agreement.empty_pass();
        return Ok(());
    }
    let pieces: Vec<Piece> = tr.segments.iter().map(|s| Piece { t0: s.t0 + shift, t1: s.t1 + shift, text: s.text.clone() }).collect();
    let n = agreement.pass(pieces, end as f64 / sr);
    tracing::debug!(committed = n, offset = agreement.offset(), ms = started.elapsed().as_millis() as u64, text = %tr.text, "streaming pass");
    Ok(())
}

/// Streaming without the clock: the passes a recording of `samples` gets
/// when each pass finishes before the next [`PASS_EVERY_SECONDS`] of audio
/// arrive (a quiet, fast machine), then the decode at release. The same
/// steps as [`Live`], in a fixed order, for tests and measurements.
pub fn replay(t: &Transcriber, samples: &[f32], expected: Mode) -> Result<Hearing, TranscribeError> {
    let sr = SAMPLE_RATE as f64;
    let step = (PASS_EVERY_SECONDS * sr) as usize;
    let mut agreement = Agreement::default();
    let mut passes = 0;
    let mut end = step;
    while end < samples.len() {
        let from = (agreement.offset() * sr) as usize;
        if (end - from.min(end)) as f64 / sr >= MIN_PASS_SECONDS {
            pass(t, &samples[..end], &mut agreement, None)?;
            passes += 1;
        }
        end += step;
    }
    t.finish_stream(samples, expected, &agreement, passes)
}

impl Transcriber {
    /// The prompt for a streaming decode: the vocabulary prompt, then the
    /// end of the committed text (so the next words continue it).
    fn stream_prompt(&self, a: &Agreement) -> String {
        let committed = a.committed_text();
        let mut cut = committed.len().saturating_sub(PROMPT_CHARS);
        while !committed.is_char_boundary(cut) {
            cut += 1;
        }
        let tail = committed[cut..].trim();
        match (self.settings.prompt.is_empty(), tail.is_empty()) {
            (_, true) => self.settings.prompt.clone(),
            (true, false) => tail.to_string(),
            (false, false) => format!("{} {tail}", self.settings.prompt),
        }
    }

    /// [`Live::finish`]'s work, given what the passes committed.
    pub fn finish_stream(
        &self,
        samples: &[f32],
        expected: Mode,
        a: &Agreement,
        passes: usize,
    ) -> Result<Hearing, TranscribeError> {
        let sr = SAMPLE_RATE as f64;
        let duration_s = samples.len() as f64 / sr;
        let mut report = StreamReport { passes, committed: a.committed().len(), ..Default::default() };
        let whole = if expected != Mode::Free {
            Some("a confirmation is expected")
        } else if a.committed().is_empty() {
            Some("nothing committed")
        } else if duration_s <= COMMAND_MAX_SECONDS {
            Some("a short clip")
        } else {
            None
        };
        if let Some(why) = whole {
            let mut h = self.hear(samples, expected, None)?;
            report.tail_s = duration_s;
            report.whole_clip = Some(why.into());
            h.stream = Some(report);
            return Ok(h);
        }
        // the clip as a whole must pass the gate and the voice detector, as in hear()
        let mut h = self.screen(samples);
        if h.rejected.is_some() {
            h.stream = Some(report);
            return Ok(h);
        }
        let started = Instant::now();
        let from = ((a.offset() * sr) as usize).min(samples.len());
        let tail = &samples[from..];
        report.tail_from_s = from as f64 / sr;
        report.tail_s = tail.len() as f64 / sr;
        // the tail is decoded only if it holds a voice; its own checks drop
        // invented text (a breath after the last word)
        let tail_heard = !tail.is_empty()
            && capture::gate::judge(tail, &self.settings.gate).heard
            && self.settings.vad.judge(tail).voice;
        let decoded = if tail_heard {
            let opts = RunOptions { prompt: Some(self.stream_prompt(a)), ..Default::default() };
            let t = self.run_with(tail, Mode::Free, &opts)?;
            if let Some(why) = rejection(&t) {
                tracing::debug!(%why, text = %t.text, "streaming tail rejected; the committed text stands");
                None
            } else {
                Some(t)
            }
        } else {
            None
        };
        let mut text = a.committed_text();
        let mut segments: Vec<Segment> =
            a.committed().iter().map(|p| Segment { t0: p.t0, t1: p.t1, text: p.text.trim().to_string() }).collect();
        let shift = report.tail_from_s;
        let mut t = Transcript {
            text: String::new(),
            segments: Vec::new(),
            duration_s,
            audio_ctx: 0,
            timings: Default::default(),
            mode: Mode::Free,
            in_grammar: None,
            text_tokens: 0,
            model: self.info.path.display().to_string(),
            no_speech_prob: 0.0,
            avg_logprob: 0.0,
            free_score: None,
            threads: 0,
            fallback: false,
            looped: false,
        };
        if let Some(d) = decoded {
            if !d.text.trim().is_empty() {
                text.push(' ');
                text.push_str(d.text.trim());
            }
            segments.extend(d.segments.into_iter().map(|s| Segment { t0: s.t0 + shift, t1: s.t1 + shift, text: s.text }));
            t.audio_ctx = d.audio_ctx;
            t.timings = d.timings;
            t.text_tokens = d.text_tokens;
            t.no_speech_prob = d.no_speech_prob;
            t.avg_logprob = d.avg_logprob;
            t.threads = d.threads;
            t.looped = d.looped;
        }
        t.timings.total_ms = started.elapsed().as_secs_f64() * 1000.0;
        t.text = text;
        t.segments = segments;
        h.rejected = rejection(&t);
        h.transcript = Some(t);
        h.stream = Some(report);
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t0: f64, t1: f64, text: &str) -> Piece {
        Piece { t0, t1, text: text.into() }
    }

    #[test]
    fn agreement_commits_what_two_passes_share() {
        struct Case {
            name: &'static str,
            passes: Vec<(Vec<Piece>, f64)>,
            committed: &'static str,
            offset: f64,
        }
        let cases = vec![
            Case { name: "one pass commits nothing", passes: vec![(vec![p(0.0, 2.0, "Fix the links."), p(2.0, 4.0, "Then")], 4.0)], committed: "", offset: 0.0 },
            Case {
                name: "two agreeing passes commit all but the last segment",
                passes: vec![
                    (vec![p(0.0, 2.0, "Fix the links."), p(2.0, 4.0, "Then")], 4.0),
                    (vec![p(0.0, 2.1, "fix the links."), p(2.1, 6.0, "Then run the tests.")], 6.0),
                ],
                committed: "fix the links.",
                offset: 2.1,
            },
            Case {
                name: "agreed words commit only up to a sentence's end",
                passes: vec![
                    (vec![p(0.0, 0.5, "Fix"), p(0.5, 1.0, "the"), p(1.0, 1.5, "links."), p(1.6, 2.0, "Then"), p(2.0, 2.5, "run"), p(2.5, 4.0, "the")], 4.0),
                    (vec![p(0.0, 0.5, "Fix"), p(0.5, 1.0, "the"), p(1.0, 1.5, "links."), p(1.6, 2.0, "Then"), p(2.0, 2.5, "run"), p(2.5, 6.0, "the tests")], 6.0),
                ],
                committed: "Fix the links.",
                offset: 1.5,
            },
            Case {
                name: "a changed word commits nothing",
                passes: vec![
                    (vec![p(0.0, 2.0, "Fix the lings."), p(2.0, 4.0, "Then")], 4.0),
                    (vec![p(0.0, 2.0, "Fix the links."), p(2.0, 6.0, "Then run")], 6.0),
                ],
                committed: "",
                offset: 0.0,
            },
            Case {
                name: "a segment near the live edge waits",
                passes: vec![
                    (vec![p(0.0, 3.5, "Fix the links."), p(3.5, 4.0, "Then")], 4.0),
                    (vec![p(0.0, 3.5, "Fix the links."), p(3.5, 4.2, "Then")], 4.2),
                ],
                committed: "",
                offset: 0.0,
            },
            Case {
                name: "the last segment alone never commits",
                passes: vec![(vec![p(0.0, 2.0, "Fix the links.")], 4.0), (vec![p(0.0, 2.0, "Fix the links.")], 6.0)],
                committed: "",
                offset: 0.0,
            },
            Case {
                name: "commits go on from the new offset",
                passes: vec![
                    (vec![p(0.0, 2.0, "One."), p(2.0, 4.0, "Two")], 4.0),
                    (vec![p(0.0, 2.0, "One."), p(2.0, 5.0, "Two, three."), p(5.0, 6.0, "Four")], 6.0),
                    (vec![p(2.0, 5.0, "Two, three."), p(5.0, 8.0, "Four five.")], 8.0),
                ],
                committed: "One. Two, three.",
                offset: 5.0,
            },
            Case {
                name: "times that go backwards stop the commit",
                passes: vec![
                    (vec![p(0.0, 2.0, "One."), p(1.0, 1.5, "Two."), p(2.0, 4.0, "x")], 6.0),
                    (vec![p(0.0, 2.0, "One."), p(1.0, 1.5, "Two."), p(2.0, 4.0, "y")], 6.0),
                ],
                committed: "One.",
                offset: 2.0,
            },
            Case {
                name: "empty segments are ignored",
                passes: vec![
                    (vec![p(0.0, 0.5, " "), p(0.5, 2.0, "One."), p(2.0, 4.0, "Two")], 5.0),
                    (vec![p(0.5, 2.0, "One."), p(2.0, 4.0, "Two")], 6.0),
                ],
                committed: "One.",
                offset: 2.0,
            },
        ];
        for c in cases {
            let mut a = Agreement::default();
            for (pieces, end) in c.passes {
                a.pass(pieces, end);
            }
            assert_eq!(a.committed_text(), c.committed, "{}", c.name);
            assert!((a.offset() - c.offset).abs() < 1e-9, "{}: offset {}", c.name, a.offset());
        }
    }

    #[test]
    fn an_empty_pass_resets_the_comparison() {
        let mut a = Agreement::default();
        a.pass(vec![p(0.0, 2.0, "One."), p(2.0, 4.0, "Two")], 4.0);
        a.empty_pass();
        a.pass(vec![p(0.0, 2.0, "One."), p(2.0, 6.0, "Two three")], 6.0);
        assert_eq!(a.committed_text(), "");
        a.pass(vec![p(0.0, 2.0, "One."), p(2.0, 8.0, "Two three four")], 8.0);
        assert_eq!(a.committed_text(), "One.");
    }
}
