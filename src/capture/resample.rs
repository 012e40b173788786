//! Any rate and channel count → 16 kHz mono f32, through rubato's FFT
//! resampler. Streaming ([`Resampler::push`]) for the live microphone, and
//! one-shot ([`to_16k_mono`]) for files.

use rubato::{FftFixedIn, Resampler as _};

pub const TARGET_RATE: u32 = 16_000;
/// Input frames per resampler chunk.
const CHUNK: usize = 1024;

/// Sample format conversions to f32 in [-1, 1].
pub fn i16_to_f32(s: i16) -> f32 {
    s as f32 / 32768.0
}
pub fn i32_to_f32(s: i32) -> f32 {
    (s as f64 / 2147483648.0) as f32
}
pub fn u16_to_f32(s: u16) -> f32 {
    (s as f32 - 32768.0) / 32768.0
}
pub fn u8_to_f32(s: u8) -> f32 {
    (s as f32 - 128.0) / 128.0
}

/// A streaming converter to 16 kHz mono.
pub struct Resampler {
    channels: usize,
    rate: u32,
    fft: Option<FftFixedIn<f32>>,
    pending: Vec<f32>,
    /// Output samples still to drop: the resampler's delay.
    skip: usize,
    frames_in: u64,
    samples_out: u64,
}

impl Resampler {
    pub fn new(rate: u32, channels: u16) -> Result<Resampler, String> {
        if rate == 0 || channels == 0 {
            return Err(format!("unusable audio format: {rate} Hz, {channels} channels"));
        }
        let fft = if rate == TARGET_RATE {
            None
        } else {
            Some(
                FftFixedIn::<f32>::new(rate as usize, TARGET_RATE as usize, CHUNK, 2, 1)
                    .map_err(|e| format!("cannot resample {rate} Hz to 16 kHz: {e}"))?,
            )
        };
        let skip = fft.as_ref().map(|f| f.output_delay()).unwrap_or(0);
        Ok(Resampler { channels: channels as usize, rate, fft, pending: Vec::new(), skip, frames_in: 0, samples_out: 0 })
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    pub fn channels(&self) -> u16 {
        self.channels as u16
    }

    /// Feed interleaved samples; 16 kHz mono output is appended to `out`.
    pub fn push(&mut self, interleaved: &[f32], out: &mut Vec<f32>) {
        let ch = self.channels;
        let frames = interleaved.len() / ch;
        self.frames_in += frames as u64;
        let mono = interleaved.chunks_exact(ch).map(|f| f.iter().sum::<f32>() / ch as f32);
        let Some(fft) = self.fft.as_mut() else {
            let before = out.len();
            out.extend(mono);
            self.samples_out += (out.len() - before) as u64;
            return;
        };
        self.pending.extend(mono);
        let mut start = 0;
        while self.pending.len() - start >= fft.input_frames_next() {
            let need = fft.input_frames_next();
            let chunk = &self.pending[start..start + need];
            if let Ok(res) = fft.process(&[chunk], None) {
                emit(&res[0], &mut self.skip, out, &mut self.samples_out);
            }
            start += need;
        }
        self.pending.drain(..start);
    }

    /// End of stream: push out what the resampler still holds, so the output
    /// has the length of the input at 16 kHz.
    pub fn flush(&mut self, out: &mut Vec<f32>) {
        let expected = (self.frames_in as f64 * TARGET_RATE as f64 / self.rate as f64).round() as u64;
        if let Some(fft) = self.fft.as_mut() {
            let pending = std::mem::take(&mut self.pending);
            if !pending.is_empty()
                && let Ok(res) = fft.process_partial(Some(&[&pending[..]]), None) {
                    emit(&res[0], &mut self.skip, out, &mut self.samples_out);
                }
            // the delay line: feed silence until the expected length is out
            let mut guard = 0;
            while self.samples_out < expected && guard < 8 {
                match fft.process_partial::<&[f32]>(None, None) {
                    Ok(res) => emit(&res[0], &mut self.skip, out, &mut self.samples_out),
                    Err(_) => break,
                }
                guard += 1;
            }
        }
        if self.samples_out > expected {
            let extra = (self.samples_out - expected) as usize;
            out.truncate(out.len().saturating_sub(extra));
            self.samples_out = expected;
        }
        self.frames_in = 0;
        self.samples_out = 0;
        self.skip = self.fft.as_ref().map(|f| f.output_delay()).unwrap_or(0);
        if let Some(f) = self.fft.as_mut() {
            f.reset();
        }
    }
}

fn emit(chunk: &[f32], skip: &mut usize, out: &mut Vec<f32>, count: &mut u64) {
    let drop = (*skip).min(chunk.len());
    *skip -= drop;
    out.extend_from_slice(&chunk[drop..]);
    *count += (chunk.len() - drop) as u64;
}

/// Convert a whole interleaved buffer to 16 kHz mono.
pub fn to_16k_mono(interleaved: &[f32], rate: u32, channels: u16) -> Result<Vec<f32>, String> {
    let mut r = Resampler::new(rate, channels)?;
    let mut out = Vec::with_capacity(interleaved.len() / channels.max(1) as usize * TARGET_RATE as usize / rate.max(1) as usize + CHUNK);
    for block in interleaved.chunks(CHUNK * 8 * channels as usize) {
        r.push(block, &mut out);
    }
    r.flush(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, secs: f64, freq: f64, amp: f64) -> Vec<f64> {
        (0..(rate as f64 * secs) as usize).map(|i| amp * (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin()).collect()
    }

    /// Frequency from upward zero crossings over the middle of the signal.
    fn frequency(x: &[f32], rate: f64) -> f64 {
        let (a, b) = (x.len() / 10, x.len() * 9 / 10);
        let s = &x[a..b];
        let crossings: Vec<usize> = (1..s.len()).filter(|&i| s[i - 1] < 0.0 && s[i] >= 0.0).collect();
        let n = crossings.len() - 1;
        n as f64 * rate / (crossings[n] - crossings[0]) as f64
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    #[test]
    fn stereo_i16_at_44_1k_keeps_length_and_pitch() {
        let mono = tone(44_100, 2.0, 440.0, 0.5);
        let interleaved: Vec<f32> = mono
            .iter()
            .flat_map(|v| {
                let s = (v * 32767.0) as i16;
                [i16_to_f32(s), i16_to_f32(s)]
            })
            .collect();
        let out = to_16k_mono(&interleaved, 44_100, 2).unwrap();
        assert_eq!(out.len(), 32_000);
        let f = frequency(&out, 16_000.0);
        assert!((f - 440.0).abs() < 1.0, "{f}");
        assert!((rms(&out[4000..28000]) - 0.5 / 2f64.sqrt()).abs() < 0.02, "{}", rms(&out));
        // no shift: the tone starts where it started
        let first = out.iter().position(|v| v.abs() > 0.1).unwrap();
        assert!(first < 16, "starts at {first}");
    }

    #[test]
    fn mono_f32_at_48k_keeps_length_and_pitch() {
        let x: Vec<f32> = tone(48_000, 1.5, 1000.0, 0.3).into_iter().map(|v| v as f32).collect();
        let out = to_16k_mono(&x, 48_000, 1).unwrap();
        assert_eq!(out.len(), 24_000);
        let f = frequency(&out, 16_000.0);
        assert!((f - 1000.0).abs() < 2.0, "{f}");
    }

    #[test]
    fn streaming_in_odd_blocks_matches_one_shot() {
        let x: Vec<f32> = tone(48_000, 1.0, 300.0, 0.3).iter().flat_map(|v| [*v as f32, 0.0]).collect();
        let whole = to_16k_mono(&x, 48_000, 2).unwrap();
        let mut r = Resampler::new(48_000, 2).unwrap();
        let mut out = Vec::new();
        for block in x.chunks(2 * 333) {
            r.push(block, &mut out);
        }
        r.flush(&mut out);
        assert_eq!(out.len(), whole.len());
        let diff = out.iter().zip(&whole).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(diff < 1e-4, "{diff}");
        // stereo with one silent channel is averaged
        assert!((rms(&out[2000..14000]) - 0.15 / 2f64.sqrt()).abs() < 0.01);
    }

    #[test]
    fn sixteen_k_passes_through() {
        let x: Vec<f32> = (0..1600).map(|i| (i as f32 / 1600.0) - 0.5).collect();
        assert_eq!(to_16k_mono(&x, 16_000, 1).unwrap(), x);
        assert!(Resampler::new(0, 1).is_err());
    }

    #[test]
    fn conversions() {
        assert_eq!(i16_to_f32(i16::MIN), -1.0);
        assert!((i16_to_f32(i16::MAX) - 1.0).abs() < 1e-4);
        assert_eq!(u8_to_f32(128), 0.0);
        assert_eq!(u16_to_f32(32768), 0.0);
        assert_eq!(i32_to_f32(i32::MIN), -1.0);
    }
}
