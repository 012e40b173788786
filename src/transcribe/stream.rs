//! Transcription while the key is held, so the wait after release does not
//! grow with the brief.
//!
//! * A background thread ([`Live`]) receives the recording as it grows (the
//!   recorder's tap) and looks for a pause: at least [`MIN_PAUSE_SECONDS`] of
//!   frames far quieter than the speech around them, with speech after it,
//!   and at least [`MIN_CHUNK_SECONDS`] after the last cut ([`find_cut`]).
//! * The audio up to the middle of that pause is decoded once, with the text
//!   committed before it as the prompt, and committed ([`Committed`]); the
//!   uncommitted audio then starts at the cut. A chunk that ends in a pause
//!   no longer changes, so nothing decoded is decoded again.
//! * At release, a decode in flight is stopped, and only the uncommitted tail
//!   is decoded (its `audio_ctx` follows its length plus the margin), with
//!   the committed text as the prompt. With nothing committed the clip is
//!   heard exactly as without streaming ([`Transcriber::hear`]).
//! * Capture never waits for a decode: the tap's channel is unbounded and the
//!   clip handed to [`Live::finish`] is the recorder's own, complete clip.
//!
//! Streaming Whisper systems often commit what two consecutive passes over
//! the growing audio agree on ("local agreement"). Measured with tiny.en on
//! espeak-ng briefs, that committed almost nothing: the first words of a
//! brief changed from pass to pass ("Up, red Tailwind", "A great Tailwind",
//! "Up-rain-tail wind"), so no prefix was ever agreed, each pass decoded the
//! whole growing clip again, and whisper.cpp's word times, needed to cut
//! after the agreed words, were squeezed together in places ("side repo and
//! make sure the build" within 0.2 s). Cutting at pauses needs neither.

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

/// The recording is looked at for a pause this often.
pub const LOOK_EVERY_SECONDS: f64 = 0.5;
/// The shortest pause cut at.
pub const MIN_PAUSE_SECONDS: f64 = 0.3;
/// The shortest chunk decoded on its own: Whisper hears short audio worse.
pub const MIN_CHUNK_SECONDS: f64 = 3.0;
/// A frame is quiet below this share of the loud frames' level (the 90th
/// percentile of frame RMS since the last cut), or below the voice floor.
pub const QUIET_SHARE: f32 = 0.1;
/// Committed text given to the next decode as its prompt, at most.
pub const PROMPT_CHARS: usize = 200;

/// Samples per analysis frame (20 ms).
const FRAME: usize = 320;

/// A decoded chunk, in seconds from the start of the clip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Piece {
    pub t0: f64,
    pub t1: f64,
    pub text: String,
    /// The decode's mean token log-probability and its text tokens (the
    /// weight of that mean in the streamed clip's score).
    #[serde(default)]
    pub logprob: f32,
    #[serde(default)]
    pub tokens: usize,
}

/// Where to cut `audio` (the recording so far) after `from` (a sample
/// index): the middle of the last pause of at least [`MIN_PAUSE_SECONDS`]
/// that has speech after it and leaves at least [`MIN_CHUNK_SECONDS`] before
/// it. `floor` is the voice detector's RMS floor. Pure.
pub fn find_cut(audio: &[f32], from: usize, floor: f32) -> Option<usize> {
    let sr = SAMPLE_RATE as f64;
    let from = from.min(audio.len());
    let rms: Vec<f32> = audio[from..]
        .chunks_exact(FRAME)
        .map(|f| (f.iter().map(|x| x * x).sum::<f32>() / FRAME as f32).sqrt())
        .collect();
    if rms.len() < 2 {
        return None;
    }
    let mut sorted = rms.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let loud = sorted[(sorted.len() * 9 / 10).min(sorted.len() - 1)];
    let quiet = (loud * QUIET_SHARE).max(floor);
    let min_pause = (MIN_PAUSE_SECONDS * sr / FRAME as f64).ceil() as usize;
    let min_chunk = MIN_CHUNK_SECONDS * sr;
    let mut best = None;
    let mut i = 0;
    while i < rms.len() {
        if rms[i] >= quiet {
            i += 1;
            continue;
        }
        let start = i;
        while i < rms.len() && rms[i] < quiet {
            i += 1;
        }
        // a pause is cut only once speech follows it (i < len: a loud frame ended it)
        if i < rms.len() && i - start >= min_pause {
            let cut = from + (start + i) / 2 * FRAME;
            if (cut - from) as f64 >= min_chunk {
                best = Some(cut);
            }
        }
    }
    best
}

/// What was committed while the key was held: pieces of text and where the
/// uncommitted audio starts.
#[derive(Debug, Default, Clone)]
pub struct Committed {
    pieces: Vec<Piece>,
    offset: f64,
}

impl Committed {
    /// Seconds from the clip's start where the uncommitted audio begins.
    pub fn offset(&self) -> f64 {
        self.offset
    }

    pub fn committed(&self) -> &[Piece] {
        &self.pieces
    }

    pub fn committed_text(&self) -> String {
        self.pieces.iter().map(|p| p.text.trim()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ")
    }

    /// The audio up to `t1` (seconds) was decoded as `text` (empty: no
    /// speech in it); later audio starts there.
    pub fn commit(&mut self, t1: f64, text: &str) {
        self.commit_scored(t1, text, 0.0, 0);
    }

    /// [`Committed::commit`] with the decode's mean token log-probability
    /// and its count of text tokens.
    pub fn commit_scored(&mut self, t1: f64, text: &str, logprob: f32, tokens: usize) {
        if t1 <= self.offset {
            return;
        }
        let text = text.trim();
        if !text.is_empty() {
            self.pieces.push(Piece { t0: self.offset, t1, text: text.to_string(), logprob, tokens });
        }
        self.offset = t1;
    }
}

/// The mean token log-probability over decodes given as (mean, tokens):
/// the streamed clip's score, comparable with one decode's `avg_logprob`.
/// None when no token was decoded. Pure.
pub fn pooled_logprob(parts: &[(f32, usize)]) -> Option<f32> {
    let n: usize = parts.iter().map(|p| p.1).sum();
    (n > 0).then(|| (parts.iter().map(|&(lp, k)| lp as f64 * k as f64).sum::<f64>() / n as f64) as f32)
}

/// Whether the whole clip is decoded again at release ([`Transcriber::finish_stream`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redecode {
    /// When no other work keeps a core busy ([`super::cpu`]): the daemon's choice.
    WhenIdle,
    Always,
    /// Never: the streamed text stands (streaming before the re-decode).
    Never,
}

/// Which text a streamed clip keeps: the one-shot decode of the whole clip
/// or the streamed chunks, by the model's own score (mean token
/// log-probability); a rejected one-shot decode never wins, and a tie goes
/// to the one-shot decode. Pure.
pub fn keep_whole(whole: Option<f32>, streamed: Option<f32>) -> bool {
    match (whole, streamed) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(w), Some(s)) => w >= s,
    }
}

/// What streaming did for a clip (stored with the utterance).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamReport {
    /// Chunks decoded while the key was held.
    pub passes: usize,
    /// Pieces of text committed before release.
    pub committed: usize,
    /// Where the tail decoded at release started (seconds into the clip).
    pub tail_from_s: f64,
    /// The tail's length in seconds.
    pub tail_s: f64,
    /// Why the clip was heard as a whole instead ("nothing committed", ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub whole_clip: Option<String>,
    /// The streamed text's score: mean token log-probability over its chunks and tail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streamed_logprob: Option<f32>,
    /// The whole clip decoded again at release ([`Redecode`]): its score;
    /// absent when it was not (see `redecode_skipped`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whole_logprob: Option<f32>,
    /// The re-decode's text was kept over the streamed text.
    #[serde(default)]
    pub kept_whole: bool,
    /// Why the whole clip was not decoded again ("other work keeps a core busy", ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redecode_skipped: Option<String>,
}

/// The background decoding of one recording.
pub struct Live {
    transcriber: Arc<Transcriber>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<(Committed, usize)>>,
}

impl Drop for Live {
    fn drop(&mut self) {
        // a cancelled recording: the thread ends at its next check
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Live {
    /// Start decoding the audio arriving on `audio` (the recorder's tap:
    /// the recording from its first sample, in order).
    pub fn start(transcriber: Arc<Transcriber>, audio: Receiver<Vec<f32>>) -> std::io::Result<Live> {
        let stop = Arc::new(AtomicBool::new(false));
        let (t, s) = (transcriber.clone(), stop.clone());
        let thread = std::thread::Builder::new().name("capcom-stream".into()).spawn(move || passes(&t, audio, &s))?;
        Ok(Live { transcriber, stop, thread: Some(thread) })
    }

    /// The key was released and `samples` is the whole clip: stop the
    /// decoding, decode what is not committed, and hear the clip as
    /// [`Transcriber::hear`] would (gate, voice detector, checks).
    pub fn finish(self, samples: &[f32], expected: Mode) -> Result<Hearing, TranscribeError> {
        self.finish_with(samples, expected, Redecode::WhenIdle)
    }

    /// [`Live::finish`] with the re-decode at release chosen.
    pub fn finish_with(mut self, samples: &[f32], expected: Mode, redecode: Redecode) -> Result<Hearing, TranscribeError> {
        self.stop.store(true, Ordering::Relaxed);
        let (committed, passes) = match self.thread.take().map(|h| h.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => {
                tracing::warn!("the streaming thread panicked; hearing the clip as a whole");
                (Committed::default(), 0)
            }
            None => (Committed::default(), 0),
        };
        self.transcriber.finish_stream(samples, expected, &committed, passes, redecode)
    }
}

/// The loop: runs until `stop` or until the recording ends.
fn passes(t: &Transcriber, audio: Receiver<Vec<f32>>, stop: &Arc<AtomicBool>) -> (Committed, usize) {
    let sr = SAMPLE_RATE as f64;
    let mut buf: Vec<f32> = Vec::new();
    let mut done = Committed::default();
    let mut looked = 0usize;
    let mut chunks = 0usize;
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
        if (buf.len() - looked) as f64 / sr < LOOK_EVERY_SECONDS {
            continue;
        }
        looked = buf.len();
        match pass(t, &buf, &mut done, abort.clone()) {
            Ok(true) => chunks += 1,
            Ok(false) => {}
            Err(TranscribeError::Engine(super::EngineError::Aborted)) => break,
            Err(e) => {
                tracing::warn!("streaming decode failed: {e}; the rest is decoded at release");
                break;
            }
        }
    }
    (done, chunks)
}

/// Look at `audio` (the recording so far, from its first sample) for a
/// pause after the committed part; if there is one, decode up to it and
/// commit. True when a chunk was decoded.
fn pass(t: &Transcriber, audio: &[f32], done: &mut Committed, abort: Option<Arc<AtomicBool>>) -> Result<bool, TranscribeError> {
    let sr = SAMPLE_RATE as f64;
    let from = ((done.offset() * sr) as usize).min(audio.len());
    let Some(cut) = find_cut(audio, from, t.settings.vad.floor) else { return Ok(false) };
    let opts = RunOptions { prompt: Some(t.stream_prompt(done)), abort, ..Default::default() };
    let started = Instant::now();
    let chunk = &audio[from..cut];
    // a chunk with no voice in it (a long breath) is passed over, not decoded
    let voiced = capture::gate::judge(chunk, &t.settings.gate).heard && t.settings.vad.judge(chunk).voice;
    let text = if voiced {
        let tr = t.run_with(chunk, Mode::Free, &opts)?;
        if let Some(why) = rejection(&tr) {
            tracing::debug!(%why, text = %tr.text, "streaming chunk rejected");
            (String::new(), 0.0, 0)
        } else {
            (tr.text, tr.avg_logprob, tr.text_tokens)
        }
    } else {
        (String::new(), 0.0, 0)
    };
    let (text, logprob, tokens) = text;
    done.commit_scored(cut as f64 / sr, &text, logprob, tokens);
    tracing::debug!(from = from as f64 / sr, to = cut as f64 / sr, ms = started.elapsed().as_millis() as u64, %text, "streaming chunk");
    Ok(true)
}

/// Streaming without the clock: what a recording of `samples` gets when each
/// chunk is decoded before the next look (a quiet, fast machine), then the
/// decode at release. The same steps as [`Live`], in a fixed order, for
/// tests and measurements. A quiet machine: the whole clip is decoded again
/// at release ([`Redecode::Always`]).
pub fn replay(t: &Transcriber, samples: &[f32], expected: Mode) -> Result<Hearing, TranscribeError> {
    replay_with(t, samples, expected, Redecode::Always)
}

/// [`replay`] with the re-decode at release chosen.
pub fn replay_with(t: &Transcriber, samples: &[f32], expected: Mode, redecode: Redecode) -> Result<Hearing, TranscribeError> {
    let step = (LOOK_EVERY_SECONDS * SAMPLE_RATE as f64) as usize;
    let mut done = Committed::default();
    let mut chunks = 0;
    let mut end = step;
    while end < samples.len() {
        if pass(t, &samples[..end], &mut done, None)? {
            chunks += 1;
        }
        end += step;
    }
    t.finish_stream(samples, expected, &done, chunks, redecode)
}

impl Transcriber {
    /// The prompt for a streaming decode: the vocabulary prompt, then the
    /// end of the committed text (so the next words continue it).
    fn stream_prompt(&self, a: &Committed) -> String {
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

    /// [`Live::finish`]'s work, given what was committed while the key was held.
    pub fn finish_stream(
        &self,
        samples: &[f32],
        expected: Mode,
        a: &Committed,
        passes: usize,
        redecode: Redecode,
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
            threads_basis: None,
            fallback: false,
            looped: false,
            lost: None,
            held_pieces: 0,
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
            t.lost = d.lost;
        }
        let mut scores: Vec<(f32, usize)> = a.committed().iter().map(|p| (p.logprob, p.tokens)).collect();
        if t.text_tokens > 0 {
            scores.push((t.avg_logprob, t.text_tokens));
        }
        t.timings.total_ms = started.elapsed().as_secs_f64() * 1000.0;
        t.text = text;
        t.segments = segments;
        self.conclude(&mut h, t, None);
        report.streamed_logprob = pooled_logprob(&scores);
        // chunks decoded apart hear their seams worse than one pass over the
        // clip: with a core to spare, the whole clip is decoded again and the
        // better scored text kept
        let skipped = match redecode {
            Redecode::Never => Some("not asked for".to_string()),
            Redecode::Always => None,
            Redecode::WhenIdle => {
                let physical = super::physical_cores();
                match self.cpu.threads(physical) {
                    Some(d) if d.threads >= physical => None,
                    Some(d) => Some(format!("other work keeps {:.1} cores busy", d.other_busy)),
                    None => Some("the CPU load is unknown".to_string()),
                }
            }
        };
        if let Some(why) = skipped {
            report.redecode_skipped = Some(why);
            h.stream = Some(report);
            return Ok(h);
        }
        let mut whole = self.hear(samples, expected, None)?;
        report.whole_logprob =
            whole.transcript.as_ref().filter(|_| whole.rejected.is_none()).map(|t| t.avg_logprob);
        let streamed = report.streamed_logprob.filter(|_| h.rejected.is_none());
        report.kept_whole = keep_whole(report.whole_logprob, streamed);
        tracing::debug!(whole = ?report.whole_logprob, streamed = ?streamed, kept_whole = report.kept_whole, "streamed clip decoded again at release");
        if report.kept_whole {
            if let Some(t) = whole.transcript.as_mut() {
                t.timings.total_ms = started.elapsed().as_secs_f64() * 1000.0;
            }
            whole.stream = Some(report);
            return Ok(whole);
        }
        if let Some(t) = h.transcript.as_mut() {
            t.timings.total_ms = started.elapsed().as_secs_f64() * 1000.0;
        }
        h.stream = Some(report);
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `secs` of a loud tone (speech) or near silence (a pause), in order.
    fn clip(parts: &[(bool, f64)]) -> Vec<f32> {
        let mut v = Vec::new();
        for &(loud, secs) in parts {
            let n = (secs * SAMPLE_RATE as f64) as usize;
            v.extend((0..n).map(|i| {
                if loud { 0.2 * (i as f32 * 0.07).sin() } else { 0.002 * ((i * 7919 % 13) as f32 / 6.0 - 1.0) }
            }));
        }
        v
    }

    fn secs(cut: Option<usize>) -> Option<f64> {
        cut.map(|c| (c as f64 / SAMPLE_RATE as f64 * 100.0).round() / 100.0)
    }

    #[test]
    fn cuts_fall_in_the_middle_of_the_last_closed_pause_after_a_long_enough_chunk() {
        let (s, p) = (true, false);
        // (name, clip, from seconds, cut seconds)
        let cases: Vec<(&str, Vec<(bool, f64)>, f64, Option<f64>)> = vec![
            ("a pause after 4 s of speech", vec![(s, 4.0), (p, 0.4), (s, 1.0)], 0.0, Some(4.2)),
            ("the last of two pauses", vec![(s, 3.2), (p, 0.4), (s, 2.0), (p, 0.6), (s, 0.5)], 0.0, Some(5.9)),
            ("a pause too early makes no chunk", vec![(s, 1.5), (p, 0.5), (s, 1.0)], 0.0, None),
            ("a pause too short is no pause", vec![(s, 4.0), (p, 0.2), (s, 1.0)], 0.0, None),
            ("a pause still going on is not cut", vec![(s, 4.0), (p, 1.0)], 0.0, None),
            ("no pause at all", vec![(s, 8.0)], 0.0, None),
            ("counted from the last cut", vec![(s, 4.0), (p, 0.4), (s, 2.0), (p, 0.4), (s, 1.0)], 4.2, None),
            ("from the last cut, far enough on", vec![(s, 4.0), (p, 0.4), (s, 3.2), (p, 0.4), (s, 1.0)], 4.2, Some(7.8)),
            ("silence only", vec![(p, 5.0)], 0.0, None),
        ];
        for (name, parts, from, want) in cases {
            let audio = clip(&parts);
            let from = (from * SAMPLE_RATE as f64) as usize;
            assert_eq!(secs(find_cut(&audio, from, 0.005)), want, "{name}");
        }
        assert_eq!(find_cut(&[], 0, 0.005), None);
        assert_eq!(find_cut(&clip(&[(s, 1.0)]), 1_000_000, 0.005), None, "from past the end");
    }

    #[test]
    fn a_quiet_speaker_s_pauses_are_found_by_their_own_level() {
        // speech at a tenth of the level, pauses under the voice floor: still cut
        let audio: Vec<f32> = clip(&[(true, 4.0), (false, 0.4), (true, 1.0)]).iter().map(|x| x * 0.1).collect();
        assert_eq!(secs(find_cut(&audio, 0, 0.0005)), Some(4.2));
    }

    #[test]
    fn commits_move_the_offset_forward_only() {
        let mut c = Committed::default();
        c.commit(4.2, " Fix the links. ");
        c.commit(3.0, "ignored: before the offset");
        c.commit(6.0, "");
        c.commit(9.5, "Then run the tests.");
        assert_eq!(c.committed_text(), "Fix the links. Then run the tests.");
        assert_eq!(c.offset(), 9.5);
        assert_eq!(c.committed().iter().map(|p| (p.t0, p.t1)).collect::<Vec<_>>(), vec![(0.0, 4.2), (6.0, 9.5)]);
    }

    #[test]
    fn the_better_scored_text_is_kept_and_a_rejected_one_never() {
        // (whole, streamed, keep the whole clip's text)
        for (whole, streamed, want) in [
            (Some(-0.3), Some(-0.5), true),
            (Some(-0.5), Some(-0.3), false),
            (Some(-0.4), Some(-0.4), true), // a tie: one pass over the clip
            (None, Some(-0.3), false),      // the one-shot decode was rejected
            (Some(-0.9), None, true),       // the streamed text was rejected
            (None, None, false),
        ] {
            assert_eq!(keep_whole(whole, streamed), want, "{whole:?} vs {streamed:?}");
        }
    }

    #[test]
    fn the_streamed_score_weighs_each_decode_by_its_tokens() {
        assert_eq!(pooled_logprob(&[]), None);
        assert_eq!(pooled_logprob(&[(-0.7, 0)]), None);
        assert_eq!(pooled_logprob(&[(-0.2, 30), (-1.0, 10)]), Some(-0.4));
        let mut c = Committed::default();
        c.commit_scored(4.0, "Fix the links.", -0.2, 5);
        assert_eq!((c.committed()[0].logprob, c.committed()[0].tokens), (-0.2, 5));
    }
}
