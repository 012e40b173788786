//! WAV files: any PCM or float WAV in, 16 kHz mono 16-bit out.

use super::resample::{i16_to_f32, i32_to_f32, u8_to_f32};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum WavError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("cannot write {path}: {message}")]
    Write { path: String, message: String },
}

/// Interleaved samples in [-1, 1] with their rate and channel count.
pub struct Audio {
    pub samples: Vec<f32>,
    pub rate: u32,
    pub channels: u16,
}

pub fn read(path: &Path) -> Result<Audio, WavError> {
    let err = |m: String| WavError::Read { path: path.display().to_string(), message: m };
    let mut r = hound::WavReader::open(path).map_err(|e| err(e.to_string()))?;
    let spec = r.spec();
    if spec.channels == 0 || spec.sample_rate == 0 {
        return Err(err("the header has no channels or no sample rate".into()));
    }
    let samples: Result<Vec<f32>, hound::Error> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => r.samples::<f32>().collect(),
        (hound::SampleFormat::Int, 8) => r.samples::<i8>().map(|s| s.map(|v| u8_to_f32((v as i16 + 128) as u8))).collect(),
        (hound::SampleFormat::Int, 16) => r.samples::<i16>().map(|s| s.map(i16_to_f32)).collect(),
        (hound::SampleFormat::Int, 24) => r.samples::<i32>().map(|s| s.map(|v| i32_to_f32(v << 8))).collect(),
        (hound::SampleFormat::Int, 32) => r.samples::<i32>().map(|s| s.map(i32_to_f32)).collect(),
        (f, b) => return Err(err(format!("unsupported sample format {f:?} {b}-bit"))),
    };
    let samples = samples.map_err(|e| err(e.to_string()))?;
    Ok(Audio { samples, rate: spec.sample_rate, channels: spec.channels })
}

/// Write 16 kHz mono samples as 16-bit PCM, through a temporary file.
pub fn write_16k_mono(path: &Path, samples: &[f32]) -> Result<(), WavError> {
    let err = |m: String| WavError::Write { path: path.display().to_string(), message: m };
    let spec = hound::WavSpec { channels: 1, sample_rate: 16_000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let tmp = path.with_extension("wav.tmp");
    {
        let mut w = hound::WavWriter::create(&tmp, spec).map_err(|e| err(e.to_string()))?;
        for &s in samples {
            let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
            w.write_sample(v).map_err(|e| err(e.to_string()))?;
        }
        w.finalize().map_err(|e| err(e.to_string()))?;
    }
    if let Ok(f) = std::fs::File::open(&tmp) {
        let _ = f.sync_all();
    }
    std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_formats() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.wav");
        let x: Vec<f32> = (0..1600).map(|i| (i as f32 * 0.01).sin() * 0.5).collect();
        write_16k_mono(&p, &x).unwrap();
        let a = read(&p).unwrap();
        assert_eq!((a.rate, a.channels, a.samples.len()), (16_000, 1, 1600));
        assert!(a.samples.iter().zip(&x).all(|(a, b)| (a - b).abs() < 1e-4));

        let p = dir.path().join("f.wav");
        let spec = hound::WavSpec { channels: 2, sample_rate: 48_000, bits_per_sample: 32, sample_format: hound::SampleFormat::Float };
        let mut w = hound::WavWriter::create(&p, spec).unwrap();
        for i in 0..960 {
            w.write_sample(i as f32 / 960.0).unwrap();
        }
        w.finalize().unwrap();
        let a = read(&p).unwrap();
        assert_eq!((a.rate, a.channels, a.samples.len()), (48_000, 2, 960));

        let p = dir.path().join("bad.wav");
        std::fs::write(&p, b"RIFF....not a wave").unwrap();
        assert!(read(&p).is_err());
        assert!(read(&dir.path().join("missing.wav")).is_err());
    }
}
