//! Voice-activity detection: is there a human voice in a clip at all?
//!
//! The energy gate ([`super::gate`]) stops silence, but noise, mains hum and
//! breath pass it, and Whisper invents text for them ("I'm a little bit more
//! interested in this."). Voiced speech has what those lack: a pitch. Each
//! 30 ms frame (10 ms hop) is
//!
//! * high-passed at 150 Hz (a biquad), which removes hum and rumble;
//! * loud enough after that (the gate's floor);
//! * periodic: the normalized autocorrelation of the high-passed frame peaks
//!   at 0.55 or more somewhere in the pitch range 70–400 Hz. White noise,
//!   breath and clicks stay far below that; vowels reach 0.7–0.95;
//! * and most of its energy lies above 150 Hz.
//!
//! A clip has a voice when enough such frames add up ([`Vad::min_voiced`]).
//! Pure signal processing: no model, no allocation beyond one frame buffer.

use serde::{Deserialize, Serialize};

const RATE: f32 = 16_000.0;
/// Frame length: 30 ms.
const FRAME: usize = 480;
/// Hop: 10 ms.
const HOP: usize = 160;
/// Pitch range as lags: 400 Hz .. 70 Hz.
const MIN_LAG: usize = 40;
const MAX_LAG: usize = 228;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Vad {
    /// RMS a frame needs after the high-pass.
    pub floor: f32,
    /// Normalized autocorrelation a frame's pitch peak needs.
    pub periodicity: f32,
    /// Voiced time (in 10 ms hops) a clip needs.
    pub min_voiced_ms: u32,
}

impl Default for Vad {
    fn default() -> Self {
        Vad { floor: 0.004, periodicity: 0.55, min_voiced_ms: 120 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VadVerdict {
    pub voice: bool,
    /// Voiced time found (ms, in 10 ms hops).
    pub voiced_ms: u32,
    /// The best frame's periodicity (0..1).
    pub best_periodicity: f32,
    /// First and last voiced hop, in seconds, when any.
    pub span_s: Option<(f32, f32)>,
}

/// A second-order Butterworth high-pass (RBJ cookbook biquad).
struct HighPass {
    b: [f32; 3],
    a: [f32; 2],
    x: [f32; 2],
    y: [f32; 2],
}

impl HighPass {
    fn new(cutoff: f32) -> HighPass {
        let w0 = 2.0 * std::f32::consts::PI * cutoff / RATE;
        let (s, c) = w0.sin_cos();
        let alpha = s / (2.0 * std::f32::consts::FRAC_1_SQRT_2);
        let a0 = 1.0 + alpha;
        HighPass {
            b: [(1.0 + c) / 2.0 / a0, -(1.0 + c) / a0, (1.0 + c) / 2.0 / a0],
            a: [-2.0 * c / a0, (1.0 - alpha) / a0],
            x: [0.0; 2],
            y: [0.0; 2],
        }
    }
    fn step(&mut self, x: f32) -> f32 {
        let y = self.b[0] * x + self.b[1] * self.x[0] + self.b[2] * self.x[1] - self.a[0] * self.y[0] - self.a[1] * self.y[1];
        self.x = [x, self.x[0]];
        self.y = [y, self.y[0]];
        y
    }
}

impl Vad {
    /// Judge 16 kHz mono samples.
    pub fn judge(&self, samples: &[f32]) -> VadVerdict {
        let mut hp = HighPass::new(150.0);
        let filtered: Vec<f32> = samples.iter().map(|&s| hp.step(s)).collect();
        let mut voiced_hops = 0u32;
        let mut best = 0f32;
        let mut first: Option<usize> = None;
        let mut last = 0usize;
        let mut start = 0usize;
        while start + FRAME <= filtered.len() {
            let raw = &samples[start..start + FRAME];
            let f = &filtered[start..start + FRAME];
            let mean_raw = raw.iter().sum::<f32>() / FRAME as f32;
            let e_raw: f32 = raw.iter().map(|&v| (v - mean_raw) * (v - mean_raw)).sum();
            let e: f32 = f.iter().map(|&v| v * v).sum();
            let rms = (e / FRAME as f32).sqrt();
            if rms >= self.floor && e >= 0.5 * e_raw {
                let p = periodicity(f);
                best = best.max(p);
                if p >= self.periodicity {
                    voiced_hops += 1;
                    first.get_or_insert(start);
                    last = start + FRAME;
                }
            }
            start += HOP;
        }
        let voiced_ms = voiced_hops * (HOP as u32 * 1000 / RATE as u32);
        VadVerdict {
            voice: voiced_ms >= self.min_voiced_ms,
            voiced_ms,
            best_periodicity: best,
            span_s: first.map(|a| (a as f32 / RATE, last as f32 / RATE)),
        }
    }
}

/// The highest normalized autocorrelation of `x` over the pitch lags.
fn periodicity(x: &[f32]) -> f32 {
    let mut best = 0f32;
    for lag in MIN_LAG..=MAX_LAG.min(x.len() / 2) {
        let (a, b) = (&x[..x.len() - lag], &x[lag..]);
        let mut xy = 0f32;
        let mut xx = 0f32;
        let mut yy = 0f32;
        for (p, q) in a.iter().zip(b) {
            xy += p * q;
            xx += p * p;
            yy += q * q;
        }
        if xx > 0.0 && yy > 0.0 {
            best = best.max(xy / (xx * yy).sqrt());
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freqs: &[(f32, f32)], secs: f32) -> Vec<f32> {
        let n = (secs * RATE) as usize;
        (0..n)
            .map(|i| freqs.iter().map(|&(f, a)| a * (2.0 * std::f32::consts::PI * f * i as f32 / RATE).sin()).sum())
            .collect()
    }

    fn noise(secs: f32, amp: f32, seed: u64) -> Vec<f32> {
        let mut s = seed | 1;
        (0..(secs * RATE) as usize)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                amp * ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0)
            })
            .collect()
    }

    /// A vowel-like sound: a 120 Hz glottal pulse train's harmonics.
    fn vowel(secs: f32) -> Vec<f32> {
        let h: Vec<(f32, f32)> = (1..25).map(|k| (120.0 * k as f32, 0.08 / k as f32)).collect();
        tone(&h, secs)
    }

    #[test]
    fn voice_noise_hum_and_silence() {
        let vad = Vad::default();
        let cases: Vec<(&str, Vec<f32>, bool)> = vec![
            ("silence", vec![0.0; 32_000], false),
            ("white noise", noise(2.0, 0.035, 7), false),
            ("loud white noise", noise(2.0, 0.3, 9), false),
            ("50 Hz hum", tone(&[(50.0, 0.1), (100.0, 0.02)], 2.0), false),
            ("vowel", vowel(0.6), true),
            ("vowel in noise", vowel(0.6).iter().zip(noise(0.6, 0.01, 3)).map(|(a, b)| a + b).collect(), true),
            ("short vowel", vowel(0.08), false),
        ];
        for (name, clip, want) in cases {
            let v = vad.judge(&clip);
            assert_eq!(v.voice, want, "{name}: {v:?}");
        }
    }

    #[test]
    fn breath_like_bursts_have_no_voice() {
        // noise shaped by a slow envelope, as a breath is
        let n = noise(1.5, 0.2, 11);
        let clip: Vec<f32> =
            n.iter().enumerate().map(|(i, v)| v * (std::f32::consts::PI * i as f32 / n.len() as f32).sin().powi(2)).collect();
        let v = Vad::default().judge(&clip);
        assert!(!v.voice, "{v:?}");
    }
}
