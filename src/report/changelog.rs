//! Audio changelogs on disk: a narrative rendered to WAV (hound) and MP3 (LAME),
//! with a JSON sidecar that the podcast feed is built from.
//!
//! Files for one changelog share a stem named by its local date and time:
//! `changelog-2026-11-21-0730.wav`, `.mp3`, `.json`.

use super::text::split_sentences;
use super::tts::{Pcm, Speaker, TtsError, write_wav};
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ChangelogError {
    #[error(transparent)]
    Tts(#[from] TtsError),
    #[error("cannot write the changelog to {path}: {message}")]
    Write { path: String, message: String },
    #[error("MP3 encoding failed: {0}")]
    Mp3(String),
    #[error("the changelog's speech came out empty")]
    Empty,
}

pub type Result<T> = std::result::Result<T, ChangelogError>;

/// A rendered changelog, as stored in its `.json` sidecar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangelogEntry {
    /// File stem shared by the WAV, MP3 and JSON: `changelog-2026-11-21-0730`.
    pub stem: String,
    pub title: String,
    /// When it was made, in local time.
    pub at: DateTime<FixedOffset>,
    /// The narrative that was spoken.
    pub text: String,
    pub duration_ms: u64,
    pub sample_rate: u32,
    /// File names inside the changelog folder.
    pub wav: String,
    pub wav_bytes: u64,
    pub mp3: Option<String>,
    pub mp3_bytes: u64,
}

impl ChangelogEntry {
    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.duration_ms)
    }

    pub fn wav_path(&self, dir: &Path) -> PathBuf {
        dir.join(&self.wav)
    }

    pub fn mp3_path(&self, dir: &Path) -> Option<PathBuf> {
        self.mp3.as_ref().map(|m| dir.join(m))
    }
}

/// "Changelog for Saturday, November 21"
pub fn title_for(at: DateTime<FixedOffset>) -> String {
    format!("Changelog for {}", at.format("%A, %B %-d"))
}

/// The stem for a changelog made at `at`, unique within `dir`.
pub fn stem_for(dir: &Path, at: DateTime<FixedOffset>) -> String {
    let base = format!("changelog-{}", at.format("%Y-%m-%d-%H%M"));
    let taken = |s: &str| ["wav", "mp3", "json"].iter().any(|ext| dir.join(format!("{s}.{ext}")).exists());
    if !taken(&base) {
        return base;
    }
    (2..).map(|n| format!("{base}-{n}")).find(|s| !taken(s)).unwrap_or(base)
}

/// When the daily changelog is next due: `[speech] changelog_at` ("07:30", local time)
/// at or after `now` (same offset as `now`). `None` when it is empty or not a valid time.
pub fn next_due(changelog_at: &str, now: DateTime<FixedOffset>) -> Option<DateTime<FixedOffset>> {
    let at = chrono::NaiveTime::parse_from_str(changelog_at.trim(), "%H:%M").ok()?;
    let today = now.date_naive().and_time(at).and_local_timezone(*now.offset()).single()?;
    if today >= now { Some(today) } else { Some(today + chrono::Duration::days(1)) }
}

/// Pause between sentences, on top of the engine's own.
const SENTENCE_GAP_MS: u32 = 150;

/// Speak a narrative into one clip, sentence by sentence.
pub fn synthesize_narrative(speaker: &dyn Speaker, text: &str) -> Result<Pcm> {
    let mut pcm = Pcm::default();
    for sentence in split_sentences(text) {
        let part = speaker.synthesize(&sentence)?;
        if pcm.sample_rate == 0 {
            pcm.sample_rate = part.sample_rate;
        }
        pcm.append(&part);
        pcm.append(&Pcm::silence(SENTENCE_GAP_MS, pcm.sample_rate));
    }
    if pcm.samples.is_empty() || pcm.sample_rate == 0 {
        return Err(ChangelogError::Empty);
    }
    Ok(pcm)
}

/// Render `text` to `<dir>/<stem>.wav` and `.mp3` plus the `.json` sidecar; returns the entry.
pub fn render(speaker: &dyn Speaker, text: &str, dir: &Path, at: DateTime<FixedOffset>) -> Result<ChangelogEntry> {
    let pcm = synthesize_narrative(speaker, text)?;
    write_entry(&pcm, text, dir, at)
}

/// Write already-synthesized audio as a changelog (WAV, MP3, sidecar).
pub fn write_entry(pcm: &Pcm, text: &str, dir: &Path, at: DateTime<FixedOffset>) -> Result<ChangelogEntry> {
    let werr = |path: &Path, e: &dyn std::fmt::Display| ChangelogError::Write {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| werr(dir, &e))?;
    let stem = stem_for(dir, at);
    let wav_name = format!("{stem}.wav");
    let mp3_name = format!("{stem}.mp3");
    let wav_path = dir.join(&wav_name);
    let mp3_path = dir.join(&mp3_name);
    let title = title_for(at);

    write_wav(&wav_path, pcm).map_err(|e| werr(&wav_path, &e))?;
    let mp3 = encode_mp3(pcm, &title)?;
    std::fs::write(&mp3_path, &mp3).map_err(|e| werr(&mp3_path, &e))?;

    let entry = ChangelogEntry {
        stem: stem.clone(),
        title,
        at,
        text: text.to_string(),
        duration_ms: pcm.duration().as_millis() as u64,
        sample_rate: pcm.sample_rate,
        wav_bytes: file_len(&wav_path),
        wav: wav_name,
        mp3_bytes: mp3.len() as u64,
        mp3: Some(mp3_name),
    };
    let json_path = dir.join(format!("{stem}.json"));
    let json = serde_json::to_vec_pretty(&entry).map_err(|e| werr(&json_path, &e))?;
    std::fs::write(&json_path, json).map_err(|e| werr(&json_path, &e))?;
    Ok(entry)
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// Every changelog in `dir` (read from the sidecars), newest first. Unreadable sidecars are skipped.
pub fn list(dir: &Path) -> Vec<ChangelogEntry> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<ChangelogEntry> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| std::fs::read(&p).ok())
        .filter_map(|b| serde_json::from_slice::<ChangelogEntry>(&b).ok())
        .filter(|e| dir.join(&e.wav).exists())
        .collect();
    out.sort_by(|a, b| b.at.cmp(&a.at).then(b.stem.cmp(&a.stem)));
    out
}

/// The newest changelog in `dir`.
pub fn latest(dir: &Path) -> Option<ChangelogEntry> {
    list(dir).into_iter().next()
}

/// Whether `name` is a file the feed may serve from the changelog folder:
/// a plain file name (no separators, not hidden) ending in `.mp3` or `.wav`.
pub fn is_servable(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && (name.ends_with(".mp3") || name.ends_with(".wav"))
}

/// Encode mono PCM as MP3 (constant 64 kbit/s; 48 for rates under 32 kHz), with an ID3 title.
pub fn encode_mp3(pcm: &Pcm, title: &str) -> Result<Vec<u8>> {
    use mp3lame_encoder::{Builder, FlushNoGap, Id3Tag, MonoPcm};
    let e = |what: &str, err: &dyn std::fmt::Debug| ChangelogError::Mp3(format!("{what}: {err:?}"));
    let mut b = Builder::new().ok_or_else(|| ChangelogError::Mp3("LAME could not start".into()))?;
    b.set_num_channels(1).map_err(|x| e("channels", &x))?;
    b.set_sample_rate(pcm.sample_rate).map_err(|x| e("sample rate", &x))?;
    let brate = if pcm.sample_rate >= 32_000 { mp3lame_encoder::Bitrate::Kbps64 } else { mp3lame_encoder::Bitrate::Kbps48 };
    b.set_brate(brate).map_err(|x| e("bit rate", &x))?;
    b.set_quality(mp3lame_encoder::Quality::Good).map_err(|x| e("quality", &x))?;
    let title_bytes: Vec<u8> = title.bytes().filter(|c| c.is_ascii() && *c != 0).take(120).collect();
    b.set_id3_tag(Id3Tag { title: &title_bytes, artist: b"capcom", album: b"", album_art: &[], year: b"", comment: b"" })
        .map_err(|x| e("ID3 tag", &x))?;
    let mut enc = b.build().map_err(|x| e("setup", &x))?;
    let samples = pcm.to_i16();
    let mut out: Vec<u8> = Vec::with_capacity(mp3lame_encoder::max_required_buffer_size(samples.len()) + 7200);
    enc.encode_to_vec(MonoPcm(&samples), &mut out).map_err(|x| e("encode", &x))?;
    enc.flush_to_vec::<FlushNoGap>(&mut out).map_err(|x| e("flush", &x))?;
    Ok(out)
}
