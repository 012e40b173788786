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
    /// Where each chapter starts: a summary, then one per task (older sidecars have none).
    #[serde(default)]
    pub chapters: Vec<Chapter>,
}

/// One chapter of an episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chapter {
    pub start_ms: u64,
    pub title: String,
    /// The task it speaks of.
    #[serde(default)]
    pub task: Option<i64>,
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

/// The title of the `n`th episode made on `at`'s day (counting from 1): the first is
/// [`title_for`]; later ones say which update they are ("…, 2nd update").
pub fn nth_title(at: DateTime<FixedOffset>, n: usize) -> String {
    let base = title_for(at);
    if n <= 1 {
        return base;
    }
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{base}, {n}{suffix} update")
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

/// Render a narrative made of segments ([`crate::report::script::changelog_segments`]), with
/// a chapter where each titled segment starts: in the sidecar, and as ID3 `CHAP` frames in the MP3.
pub fn render_segments(speaker: &dyn Speaker, segments: &[crate::report::script::Segment], dir: &Path, at: DateTime<FixedOffset>) -> Result<ChangelogEntry> {
    let mut pcm = Pcm::default();
    let mut chapters = Vec::new();
    let mut text: Vec<&str> = Vec::new();
    for seg in segments.iter().filter(|s| !s.text.trim().is_empty()) {
        let part = synthesize_narrative(speaker, &seg.text)?;
        if pcm.sample_rate == 0 {
            pcm.sample_rate = part.sample_rate;
        }
        if let Some(title) = &seg.title {
            chapters.push(Chapter { start_ms: pcm.duration().as_millis() as u64, title: title.clone(), task: seg.task });
        }
        pcm.append(&part);
        text.push(&seg.text);
    }
    if pcm.samples.is_empty() || pcm.sample_rate == 0 {
        return Err(ChangelogError::Empty);
    }
    write_entry_with(&pcm, &text.join(" "), &chapters, dir, at)
}

/// Write already-synthesized audio as a changelog (WAV, MP3, sidecar).
///
/// Each file is written to a hidden temporary name in the same folder, flushed to disk and
/// renamed into place; the sidecar goes last, so a sidecar names only complete files. A
/// failure (a full disk) removes what it wrote; a crash leaves hidden `.tmp` files or audio
/// without a sidecar, which [`sweep_orphans`] removes at the next start.
pub fn write_entry(pcm: &Pcm, text: &str, dir: &Path, at: DateTime<FixedOffset>) -> Result<ChangelogEntry> {
    write_entry_with(pcm, text, &[], dir, at)
}

/// [`write_entry`] with chapters. The title counts the episodes already made that day.
pub fn write_entry_with(pcm: &Pcm, text: &str, chapters: &[Chapter], dir: &Path, at: DateTime<FixedOffset>) -> Result<ChangelogEntry> {
    let werr = |path: &Path, e: &dyn std::fmt::Display| ChangelogError::Write {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| werr(dir, &e))?;
    let stem = stem_for(dir, at);
    let wav_name = format!("{stem}.wav");
    let mp3_name = format!("{stem}.mp3");
    let json_name = format!("{stem}.json");
    let same_day = list(dir).iter().filter(|e| e.at.date_naive() == at.date_naive()).count();
    let title = nth_title(at, same_day + 1);
    let mut placed: Vec<PathBuf> = Vec::new();
    let result = (|| -> Result<ChangelogEntry> {
        let wav_path = dir.join(&wav_name);
        let wav_tmp = temp_path(dir, &wav_name);
        write_wav(&wav_tmp, pcm).map_err(|e| {
            let _ = std::fs::remove_file(&wav_tmp);
            werr(&wav_path, &e)
        })?;
        let wav_bytes = file_len(&wav_tmp);
        place(&wav_tmp, &wav_path).map_err(|e| werr(&wav_path, &e))?;
        placed.push(wav_path);

        let mp3 = encode_mp3_with(pcm, &title, chapters)?;
        let mp3_path = dir.join(&mp3_name);
        write_atomically(dir, &mp3_name, &mp3).map_err(|e| werr(&mp3_path, &e))?;
        placed.push(mp3_path);

        let entry = ChangelogEntry {
            stem: stem.clone(),
            title: title.clone(),
            at,
            text: text.to_string(),
            duration_ms: pcm.duration().as_millis() as u64,
            sample_rate: pcm.sample_rate,
            wav_bytes,
            wav: wav_name.clone(),
            mp3_bytes: mp3.len() as u64,
            mp3: Some(mp3_name.clone()),
            chapters: chapters.to_vec(),
        };
        let json_path = dir.join(&json_name);
        let json = serde_json::to_vec_pretty(&entry).map_err(|e| werr(&json_path, &e))?;
        write_atomically(dir, &json_name, &json).map_err(|e| werr(&json_path, &e))?;
        Ok(entry)
    })();
    if result.is_err() {
        for p in placed {
            let _ = std::fs::remove_file(p);
        }
    }
    result
}

/// The hidden temporary name a file of the changelog folder is written under.
fn temp_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.{}.tmp", std::process::id()))
}

/// Write `bytes` to `dir/name` atomically: a temporary file in the same folder, fsync, rename.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = temp_path(dir, name);
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    place(&tmp, &dir.join(name))
}

/// fsync a finished temporary file, rename it into place and fsync the folder.
fn place(tmp: &Path, dest: &Path) -> std::io::Result<()> {
    let done = std::fs::File::open(tmp)
        .and_then(|f| f.sync_all())
        .and_then(|_| std::fs::rename(tmp, dest));
    if let Err(e) = done {
        let _ = std::fs::remove_file(tmp);
        return Err(e);
    }
    if let Some(parent) = dest.parent()
        && let Ok(d) = std::fs::File::open(parent)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// Whether every file an entry names is in `dir` whole (the size its sidecar recorded).
fn complete(dir: &Path, e: &ChangelogEntry) -> bool {
    let whole = |name: &str, len: u64| {
        is_servable(name) && std::fs::symlink_metadata(dir.join(name)).is_ok_and(|m| m.file_type().is_file() && m.len() == len)
    };
    whole(&e.wav, e.wav_bytes) && e.mp3.as_deref().is_none_or(|m| whole(m, e.mp3_bytes))
}

/// Every complete changelog in `dir` (read from the sidecars), newest first. Unreadable
/// sidecars, and entries whose audio is missing or not of the recorded size, are skipped.
pub fn list(dir: &Path) -> Vec<ChangelogEntry> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<ChangelogEntry> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| std::fs::read(&p).ok())
        .filter_map(|b| serde_json::from_slice::<ChangelogEntry>(&b).ok())
        .filter(|e| complete(dir, e))
        .collect();
    out.sort_by(|a, b| b.at.cmp(&a.at).then(b.stem.cmp(&a.stem)));
    out
}

/// Remove what an interrupted [`write_entry`] left in `dir`: hidden temporary files
/// (`.changelog-….tmp`) and changelog audio (`changelog-….wav|mp3`) that no sidecar names.
/// Nothing else in the folder is touched. Returns the removed paths. Run at start, when no
/// changelog is being written.
pub fn sweep_orphans(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    let names: Vec<String> = rd.filter_map(|e| e.ok()).filter_map(|e| e.file_name().into_string().ok()).collect();
    let named: std::collections::HashSet<String> = names
        .iter()
        .filter(|n| n.starts_with("changelog-") && n.ends_with(".json"))
        .filter_map(|n| std::fs::read(dir.join(n)).ok())
        .filter_map(|b| serde_json::from_slice::<ChangelogEntry>(&b).ok())
        .flat_map(|e| std::iter::once(e.wav).chain(e.mp3))
        .collect();
    let mut removed = Vec::new();
    for n in &names {
        let temp = n.starts_with(".changelog-") && n.ends_with(".tmp");
        let audio = n.starts_with("changelog-") && (n.ends_with(".wav") || n.ends_with(".mp3")) && !named.contains(n);
        if !(temp || audio) {
            continue;
        }
        let p = dir.join(n);
        if std::fs::symlink_metadata(&p).is_ok_and(|m| !m.is_dir()) && std::fs::remove_file(&p).is_ok() {
            removed.push(p);
        }
    }
    removed
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

/// The path of `name` in the changelog folder `dir` when the feed may serve it: a servable
/// name ([`is_servable`]) of a regular file that is not a symbolic link, has no other name
/// (a hard link), and whose canonical path lies directly in the folder. `None` otherwise, so
/// a link placed there (`x.mp3 -> ../api.token`) never serves what it points at.
///
/// The file is opened by path after this check; the folder is the user's own (inside the
/// private data dir by default), so only they could swap a file in between.
pub fn servable_path(dir: &Path, name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    if !is_servable(name) {
        return None;
    }
    let path = dir.join(name);
    let meta = std::fs::symlink_metadata(&path).ok()?;
    if !meta.file_type().is_file() || meta.nlink() != 1 {
        return None;
    }
    let real_dir = dir.canonicalize().ok()?;
    let real = path.canonicalize().ok()?;
    (real.parent() == Some(real_dir.as_path())).then_some(path)
}

/// Encode mono PCM as MP3 (constant 64 kbit/s; 48 for rates under 32 kHz), with an ID3 title.
pub fn encode_mp3(pcm: &Pcm, title: &str) -> Result<Vec<u8>> {
    encode_mp3_with(pcm, title, &[])
}

/// MP3 (LAME) behind an ID3v2.4 tag: title, artist, and with chapters a table of contents
/// (`CTOC`) and one `CHAP` frame per chapter, each with its title (`TIT2`), as the ID3v2
/// Chapter Frame Addendum describes (times in milliseconds, byte offsets unused).
pub fn encode_mp3_with(pcm: &Pcm, title: &str, chapters: &[Chapter]) -> Result<Vec<u8>> {
    use id3::TagLike;
    use id3::frame::{Chapter as Chap, TableOfContents};
    let audio = encode_mp3_frames(pcm)?;
    let mut tag = id3::Tag::new();
    tag.set_title(title);
    tag.set_artist("capcom");
    tag.set_album("capcom changelog");
    let total = pcm.duration().as_millis() as u32;
    let ids: Vec<String> = (0..chapters.len()).map(|i| format!("chp{i}")).collect();
    if !chapters.is_empty() {
        tag.add_frame(TableOfContents { element_id: "toc".into(), top_level: true, ordered: true, elements: ids.clone(), frames: Vec::new() });
    }
    for (i, c) in chapters.iter().enumerate() {
        let end = chapters.get(i + 1).map_or(total, |n| n.start_ms as u32).max(c.start_ms as u32);
        tag.add_frame(Chap {
            element_id: ids[i].clone(),
            start_time: c.start_ms as u32,
            end_time: end,
            start_offset: u32::MAX,
            end_offset: u32::MAX,
            frames: vec![id3::Frame::text("TIT2", c.title.clone())],
        });
    }
    let mut out = Vec::with_capacity(audio.len() + 1024);
    tag.write_to(&mut out, id3::Version::Id3v24).map_err(|e| ChangelogError::Mp3(format!("ID3 tag: {e}")))?;
    out.extend_from_slice(&audio);
    Ok(out)
}

/// The MP3 frames alone, no tag.
fn encode_mp3_frames(pcm: &Pcm) -> Result<Vec<u8>> {
    use mp3lame_encoder::{Builder, FlushNoGap, MonoPcm};
    let e = |what: &str, err: &dyn std::fmt::Debug| ChangelogError::Mp3(format!("{what}: {err:?}"));
    let mut b = Builder::new().ok_or_else(|| ChangelogError::Mp3("LAME could not start".into()))?;
    b.set_num_channels(1).map_err(|x| e("channels", &x))?;
    b.set_sample_rate(pcm.sample_rate).map_err(|x| e("sample rate", &x))?;
    let brate = if pcm.sample_rate >= 32_000 { mp3lame_encoder::Bitrate::Kbps64 } else { mp3lame_encoder::Bitrate::Kbps48 };
    b.set_brate(brate).map_err(|x| e("bit rate", &x))?;
    b.set_quality(mp3lame_encoder::Quality::Good).map_err(|x| e("quality", &x))?;
    let mut enc = b.build().map_err(|x| e("setup", &x))?;
    let samples = pcm.to_i16();
    let mut out: Vec<u8> = Vec::with_capacity(mp3lame_encoder::max_required_buffer_size(samples.len()) + 7200);
    enc.encode_to_vec(MonoPcm(&samples), &mut out).map_err(|x| e("encode", &x))?;
    enc.flush_to_vec::<FlushNoGap>(&mut out).map_err(|x| e("flush", &x))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcm() -> Pcm {
        Pcm { samples: (0..8000).map(|i| (i as f32 * 0.05).sin() * 0.3).collect(), sample_rate: 16_000 }
    }

    fn at(h: u32) -> DateTime<FixedOffset> {
        chrono::DateTime::parse_from_rfc3339(&format!("2026-11-21T{h:02}:30:00+01:00")).unwrap()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().into_string().unwrap()).collect();
        v.sort();
        v
    }

    #[test]
    fn an_entry_is_written_whole_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let e = write_entry(&pcm(), "One thing landed.", dir.path(), at(7)).unwrap();
        assert_eq!(names(dir.path()), [format!("{}.json", e.stem), format!("{}.mp3", e.stem), format!("{}.wav", e.stem)]);
        assert_eq!(e.wav_bytes, std::fs::metadata(dir.path().join(&e.wav)).unwrap().len());
        assert_eq!(list(dir.path()), vec![e]);
    }

    #[test]
    fn incomplete_entries_are_never_listed_and_orphans_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let good = write_entry(&pcm(), "Kept.", d, at(7)).unwrap();
        // A full disk left a 0-byte WAV behind a sidecar that names its true size.
        let bad = write_entry(&pcm(), "Cut short.", d, at(8)).unwrap();
        std::fs::write(d.join(&bad.wav), b"").unwrap();
        // Crashes left audio with no sidecar and hidden temporary files.
        std::fs::write(d.join("changelog-2026-11-20-0730.wav"), vec![0u8; 4096]).unwrap();
        std::fs::write(d.join("changelog-2026-11-20-0730.mp3"), vec![0u8; 512]).unwrap();
        std::fs::write(d.join(".changelog-2026-11-22-0730.wav.991.tmp"), vec![0u8; 4096]).unwrap();
        // The user's own files stay.
        std::fs::write(d.join("notes.txt"), b"mine").unwrap();
        std::fs::write(d.join("interview.wav"), b"mine").unwrap();

        assert_eq!(list(d).iter().map(|e| e.stem.as_str()).collect::<Vec<_>>(), [good.stem.as_str()]);
        let mut removed: Vec<String> = sweep_orphans(d).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        removed.sort();
        assert_eq!(removed, [".changelog-2026-11-22-0730.wav.991.tmp", "changelog-2026-11-20-0730.mp3", "changelog-2026-11-20-0730.wav"]);
        assert!(d.join("notes.txt").exists() && d.join("interview.wav").exists());
        assert!(d.join(&good.wav).exists() && d.join(good.mp3.as_ref().unwrap()).exists());
        assert_eq!(sweep_orphans(d), Vec::<PathBuf>::new(), "a second sweep finds nothing");
    }

    #[test]
    fn only_regular_files_inside_the_folder_are_servable() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("changelogs");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(root.path().join("api.token"), b"secret").unwrap();
        std::fs::write(dir.join("good.mp3"), b"audio").unwrap();
        std::os::unix::fs::symlink("../api.token", dir.join("link.mp3")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.join("passwd.wav")).unwrap();
        std::os::unix::fs::symlink("good.mp3", dir.join("inside.mp3")).unwrap();
        std::fs::hard_link(root.path().join("api.token"), dir.join("hard.mp3")).unwrap();
        std::fs::create_dir(dir.join("folder.mp3")).unwrap();
        let cases = [
            ("good.mp3", true),
            ("link.mp3", false),
            ("passwd.wav", false),
            ("inside.mp3", false),
            ("hard.mp3", false),
            ("folder.mp3", false),
            ("missing.mp3", false),
            ("../api.token", false),
            (".hidden.mp3", false),
        ];
        for (name, ok) in cases {
            assert_eq!(servable_path(&dir, name).is_some(), ok, "{name}");
        }
    }
}
