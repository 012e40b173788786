//! The energy gate: a clip that is too quiet, or has too little voiced audio,
//! is "nothing heard" and never reaches Whisper (which hallucinates "Thank
//! you." on silence).

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Analysis frame: 20 ms at 16 kHz.
const FRAME: usize = 320;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gate {
    /// RMS (0..1) a 20 ms frame needs to count as voiced.
    pub floor: f32,
    /// Voiced audio a clip needs to be transcribed.
    pub min_speech: Duration,
}

impl Gate {
    pub fn from_config(v: &crate::config::Voice) -> Gate {
        Gate { floor: v.energy_floor.max(0.0), min_speech: v.min_speech.0 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub heard: bool,
    /// RMS of the whole clip.
    pub rms: f32,
    /// Loudest 20 ms frame.
    pub peak_rms: f32,
    pub voiced_ms: u64,
    /// Why it was not heard, in words.
    pub reason: Option<String>,
}

/// Judge 16 kHz mono samples. The DC offset of each frame is removed first,
/// so a microphone's bias does not pass for speech.
pub fn judge(samples: &[f32], gate: &Gate) -> Verdict {
    let mut sum = 0f64;
    let mut voiced_frames = 0u64;
    let mut peak = 0f32;
    for frame in samples.chunks(FRAME) {
        let mean = frame.iter().sum::<f32>() / frame.len() as f32;
        let e: f64 = frame.iter().map(|&s| ((s - mean) as f64).powi(2)).sum();
        sum += e;
        let r = (e / frame.len() as f64).sqrt() as f32;
        peak = peak.max(r);
        if r >= gate.floor && frame.len() * 2 >= FRAME {
            voiced_frames += 1;
        }
    }
    let rms = if samples.is_empty() { 0.0 } else { (sum / samples.len() as f64).sqrt() as f32 };
    let voiced_ms = voiced_frames * 20;
    let min_ms = gate.min_speech.as_millis() as u64;
    let reason = if samples.is_empty() {
        Some("no audio".to_string())
    } else if voiced_frames == 0 {
        Some(format!("too quiet (loudest {peak:.4} RMS, floor {:.4})", gate.floor))
    } else if voiced_ms < min_ms {
        Some(format!("only {voiced_ms} ms above the floor (needs {min_ms} ms)"))
    } else {
        None
    };
    Verdict { heard: reason.is_none(), rms, peak_rms: peak, voiced_ms, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate() -> Gate {
        Gate { floor: 0.005, min_speech: Duration::from_millis(200) }
    }

    fn tone(ms: usize, amp: f32) -> Vec<f32> {
        (0..ms * 16).map(|i| amp * (i as f32 * 0.15).sin()).collect()
    }

    #[test]
    fn silence_and_hiss_are_nothing_heard() {
        assert!(!judge(&[], &gate()).heard);
        assert!(!judge(&vec![0.0; 32_000], &gate()).heard);
        let hiss: Vec<f32> = (0..32_000).map(|i| 0.002 * ((i * 7919 % 101) as f32 / 50.0 - 1.0)).collect();
        let v = judge(&hiss, &gate());
        assert!(!v.heard, "{v:?}");
        assert!(v.reason.unwrap().contains("too quiet"));
    }

    #[test]
    fn dc_offset_is_not_speech() {
        let v = judge(&vec![0.3; 32_000], &gate());
        assert!(!v.heard, "{v:?}");
    }

    #[test]
    fn a_click_is_too_short() {
        let mut x = vec![0.0; 32_000];
        x[1000..1000 + 16 * 60].copy_from_slice(&tone(60, 0.5));
        let v = judge(&x, &gate());
        assert!(!v.heard);
        assert!(v.voiced_ms < 200);
        assert!(v.reason.unwrap().contains("needs 200 ms"));
    }

    #[test]
    fn speech_length_audio_is_heard() {
        let mut x = vec![0.0; 48_000];
        x[8000..8000 + 16 * 600].copy_from_slice(&tone(600, 0.1));
        let v = judge(&x, &gate());
        assert!(v.heard, "{v:?}");
        assert!((580..=620).contains(&v.voiced_ms), "{}", v.voiced_ms);
        assert!(v.rms < v.peak_rms);
    }
}
