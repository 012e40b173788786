//! Clips longer than Whisper's 30 s window are cut at their quietest moments into pieces
//! that each fit one window, and each piece is decoded as a clip of its own.
//!
//! Measured with the real tiny.en on espeak-ng briefs of 33–48 s: whisper.cpp's own
//! windowing (no timestamp tokens, so each window is a fixed 30 s that ends mid-word)
//! decoded the first window as one or two words ("The The" for a 39 s brief of 116
//! words), while the first 28 s of the same clip, decoded alone, came out whole. A piece
//! that ends in a pause is what the model saw in training.
//!
//! Pure: samples in, cut positions out.

use super::SAMPLE_RATE;

/// The longest piece: under the 30 s window, with room for the end padding.
pub const MAX_PIECE_SECONDS: f64 = 28.0;
/// A cut is looked for no earlier than this after the previous one, so pieces are not tiny.
const MIN_PIECE_SECONDS: f64 = 12.0;
/// The span whose energy decides a cut: a pause between words or sentences.
const QUIET_SPAN: usize = SAMPLE_RATE as usize / 4;
const HOP: usize = SAMPLE_RATE as usize / 50;

/// Where to cut `samples` (16 kHz mono) so that no piece is longer than
/// [`MAX_PIECE_SECONDS`]: each cut is the middle of the quietest quarter second between
/// [`MIN_PIECE_SECONDS`] and [`MAX_PIECE_SECONDS`] after the previous cut (the latest of
/// equally quiet ones: fewer, longer pieces). Empty when the clip fits one piece.
pub fn cuts(samples: &[f32]) -> Vec<usize> {
    let energy = prefix_energy(samples);
    let mut out = Vec::new();
    let mut start = 0usize;
    while let Some(cut) = cut_after(&energy, start) {
        out.push(cut);
        start = cut;
    }
    out
}

/// The cut [`cuts`] makes after `start` in any clip that begins with `samples` (a
/// recording still growing), as soon as that is known: when more than
/// [`MAX_PIECE_SECONDS`] follow `start`. A cut depends only on the audio up to
/// `start` + [`MAX_PIECE_SECONDS`], so the pieces of a long brief can be decoded
/// while the key is still held, exactly as they would be after release.
pub fn next_cut(samples: &[f32], start: usize) -> Option<usize> {
    // checked first: a recording looks for its next cut ten times a second
    if samples.len().saturating_sub(start) <= (MAX_PIECE_SECONDS * SAMPLE_RATE as f64) as usize {
        return None;
    }
    cut_after(&prefix_energy(samples), start)
}

/// Prefix sums of squares: any span's energy in O(1). Summed from the first sample in
/// order, so a recording's prefix has the same sums as the whole clip's.
fn prefix_energy(samples: &[f32]) -> Vec<f64> {
    let mut energy = Vec::with_capacity(samples.len() + 1);
    energy.push(0f64);
    let mut acc = 0f64;
    for s in samples {
        let s = if s.is_finite() { *s as f64 } else { 0.0 };
        acc += s * s;
        energy.push(acc);
    }
    energy
}

fn cut_after(energy: &[f64], start: usize) -> Option<usize> {
    let max = (MAX_PIECE_SECONDS * SAMPLE_RATE as f64) as usize;
    let min = (MIN_PIECE_SECONDS * SAMPLE_RATE as f64) as usize;
    let len = energy.len() - 1;
    if len.saturating_sub(start) <= max {
        return None;
    }
    let span = |a: usize| energy[a + QUIET_SPAN] - energy[a];
    let (lo, hi) = (start + min, start + max - QUIET_SPAN);
    let mut best = (f64::INFINITY, hi);
    let mut a = lo;
    while a <= hi {
        let e = span(a);
        if e <= best.0 {
            best = (e, a);
        }
        a += HOP;
    }
    Some(best.1 + QUIET_SPAN / 2)
}

/// Too few words for the speech a piece held: at least 5 s of voiced audio decoded to
/// fewer than one word per two voiced seconds (speech runs at two to three words a second).
/// Such a decode lost the speech and must not be acted on.
pub fn too_few_words(words: usize, voiced_ms: u64) -> bool {
    let voiced_s = voiced_ms as f64 / 1000.0;
    voiced_s >= 5.0 && (words as f64) < voiced_s * 0.5
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: usize = SAMPLE_RATE as usize;

    /// Speech-like sound (a loud tone) with pauses (silence) at the given seconds.
    fn talk(total_s: f64, pauses: &[(f64, f64)]) -> Vec<f32> {
        let n = (total_s * R as f64) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 / R as f64;
                if pauses.iter().any(|(a, b)| t >= *a && t < *b) { 0.0 } else { (t * 2.0 * std::f64::consts::PI * 220.0).sin() as f32 * 0.3 }
            })
            .collect()
    }

    #[test]
    fn a_clip_that_fits_one_window_is_not_cut() {
        for secs in [0.0, 1.0, 27.9, 28.0] {
            assert!(cuts(&talk(secs, &[])).is_empty(), "{secs}");
        }
    }

    #[test]
    fn long_clips_are_cut_in_their_pauses_and_every_piece_fits() {
        // (length, pauses, where the cuts must fall: inside these pauses)
        let cases: &[(f64, &[(f64, f64)], &[(f64, f64)])] = &[
            (35.0, &[(20.0, 20.6)], &[(20.0, 20.6)]),
            (50.0, &[(14.0, 14.5), (25.0, 25.5), (40.0, 40.4)], &[(25.0, 25.5)]),
            (60.0, &[(14.0, 14.5), (25.0, 25.5), (40.0, 40.4)], &[(25.0, 25.5), (40.0, 40.4)]),
            (90.0, &[(26.0, 26.5), (50.0, 50.5), (70.0, 70.5), (88.0, 88.5)], &[(26.0, 26.5), (50.0, 50.5), (70.0, 70.5)]),
        ];
        for (secs, pauses, want) in cases {
            let s = talk(*secs, pauses);
            let c = cuts(&s);
            assert_eq!(c.len(), want.len(), "{secs} s: {c:?}");
            for (cut, (a, b)) in c.iter().zip(want.iter()) {
                let t = *cut as f64 / R as f64;
                assert!(t > *a && t < *b, "{secs} s: cut at {t:.2} not in the pause {a}–{b}");
            }
            let mut bounds = vec![0];
            bounds.extend(&c);
            bounds.push(s.len());
            for w in bounds.windows(2) {
                assert!(w[1] > w[0] && (w[1] - w[0]) as f64 / R as f64 <= MAX_PIECE_SECONDS, "{secs} s: {bounds:?}");
            }
        }
    }

    #[test]
    fn speech_without_a_pause_is_still_cut_to_fit() {
        for secs in [29.0, 61.0, 120.0, 400.0] {
            let s = talk(secs, &[]);
            let c = cuts(&s);
            let mut prev = 0;
            for cut in c.iter().copied().chain([s.len()]) {
                let len = (cut - prev) as f64 / R as f64;
                assert!(len > 0.0 && len <= MAX_PIECE_SECONDS, "{secs} s: a piece of {len}");
                prev = cut;
            }
        }
        // NaN or infinite samples do not break the search
        let mut s = talk(40.0, &[(20.0, 20.5)]);
        s[5] = f32::NAN;
        s[R * 30] = f32::INFINITY;
        assert_eq!(cuts(&s).len(), 1);
    }

    #[test]
    fn a_piece_that_lost_its_speech_is_told_apart() {
        // (words decoded, voiced ms, too few?)
        let cases = [(1, 20_000, true), (2, 30_000, true), (40, 20_000, false), (10, 20_000, false), (0, 4_000, false), (1, 4_900, false), (2, 6_000, true)];
        for (words, voiced, want) in cases {
            assert_eq!(too_few_words(words, voiced), want, "{words} words in {voiced} ms");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// A recording cut as it grows gets the cuts of the finished clip: each cut is
        /// found once more than 28 s follow the one before, and never moves after.
        #[test]
        fn cuts_found_while_the_clip_grows_are_the_finished_clip_s(
            secs in 20.0f64..100.0,
            pauses in proptest::collection::vec((0.0f64..100.0, 0.05f64..0.8), 0..8),
            step_ms in 100u64..2_000,
        ) {
            let pauses: Vec<(f64, f64)> = pauses.iter().map(|&(a, l)| (a, a + l)).collect();
            let clip = talk(secs, &pauses);
            let whole = cuts(&clip);
            let step = (step_ms as usize * R / 1000).max(1);
            let (mut found, mut start, mut end) = (Vec::new(), 0usize, 0usize);
            while end < clip.len() {
                end = (end + step).min(clip.len());
                while let Some(cut) = next_cut(&clip[..end], start) {
                    proptest::prop_assert!(end - start > (MAX_PIECE_SECONDS * R as f64) as usize);
                    found.push(cut);
                    start = cut;
                }
            }
            proptest::prop_assert_eq!(found, whole);
        }
    }
}
