//! History retention: recordings older than `[store] keep_audio` are deleted by a sweep
//! when the daemon starts and every hour after (the rows and transcripts stay), and
//! `capcom history delete ID | --before DATE` deletes utterances, rows and recordings.
//!
//! Only files inside the data dir's audio folder are ever deleted, whatever a row says.

use super::api::{ApiError, ApiResult, AppState};
use super::Services;
use crate::config::Keep;
use crate::store::{Clip, Selection, Store, StoreError};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// How often the sweep runs.
pub const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// What a sweep or a delete did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Removed {
    /// Utterances whose rows were deleted (`history delete`), or whose recordings were (the sweep).
    pub utterances: Vec<i64>,
    /// Recordings removed from disk.
    pub files: usize,
    pub bytes: u64,
    /// Files that could not be removed, with why.
    pub failed: Vec<String>,
}

/// Is `path` a file inside `dir` (after resolving links)?
fn inside(dir: &Path, path: &Path) -> bool {
    match (dir.canonicalize(), path.canonicalize()) {
        (Ok(d), Ok(p)) => p.starts_with(d),
        _ => false,
    }
}

/// Remove one recording; a file already gone counts as removed.
fn remove(audio_dir: &Path, path: &str, out: &mut Removed) -> bool {
    let p = PathBuf::from(path);
    let bytes = match std::fs::symlink_metadata(&p) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return true,
        Err(e) => {
            out.failed.push(format!("{path}: {e}"));
            return false;
        }
    };
    if !inside(audio_dir, &p) {
        out.failed.push(format!("{path}: not in {}; left alone", audio_dir.display()));
        return false;
    }
    match std::fs::remove_file(&p) {
        Ok(()) => {
            out.files += 1;
            out.bytes += bytes;
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => {
            out.failed.push(format!("{path}: {e}"));
            false
        }
    }
}

/// Delete the recordings older than `keep` (rows stay, marked as having no audio), and WAV
/// files in the audio folder that no row names and that are older than `keep`.
pub fn sweep(store: &Store, audio_dir: &Path, keep: Keep, now: DateTime<Utc>) -> Result<Removed, StoreError> {
    let mut out = Removed::default();
    let Some(period) = keep.period() else { return Ok(out) };
    let Ok(period) = chrono::Duration::from_std(period) else { return Ok(out) };
    let cutoff = now - period;
    let mut cleared = Vec::new();
    for Clip { id, audio_path } in store.audio_before(cutoff)? {
        if audio_path.as_deref().is_none_or(|p| remove(audio_dir, p, &mut out)) {
            cleared.push(id);
        }
    }
    store.clear_audio(&cleared, "retention")?;
    out.utterances = cleared;
    // Recordings no row names any more (a delete interrupted half way).
    let named: std::collections::HashSet<String> = store.utterances(usize::MAX >> 2)?.into_iter().filter_map(|u| u.audio_path).collect();
    let old = std::time::SystemTime::from(cutoff);
    if let Ok(rd) = std::fs::read_dir(audio_dir) {
        for e in rd.flatten() {
            let p = e.path();
            let is_old_wav = p.extension().is_some_and(|x| x == "wav")
                && e.metadata().ok().filter(|m| m.is_file()).and_then(|m| m.modified().ok()).is_some_and(|t| t < old);
            if is_old_wav && !named.contains(&p.display().to_string()) {
                remove(audio_dir, &p.display().to_string(), &mut out);
            }
        }
    }
    Ok(out)
}

/// `capcom history delete`: delete the utterances (rows, transcripts and recordings).
pub fn delete(store: &Store, audio_dir: &Path, which: Selection) -> Result<Removed, StoreError> {
    let mut out = Removed::default();
    let clips = store.delete_utterances(which, "user")?;
    for c in &clips {
        if let Some(p) = &c.audio_path {
            remove(audio_dir, p, &mut out);
        }
    }
    out.utterances = clips.iter().map(|c| c.id).collect();
    Ok(out)
}

/// The sweep, now and every [`SWEEP_EVERY`], until the daemon stops.
pub async fn run_sweeps(services: Services) {
    let keep = services.config.store.keep_audio;
    if keep == Keep::Forever {
        tracing::info!("[store] keep_audio = \"forever\": recordings are never deleted");
        return;
    }
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tick.tick().await;
        let (store, dir) = (services.store.clone(), services.data.audio());
        match tokio::task::spawn_blocking(move || sweep(&store, &dir, keep, Utc::now())).await {
            Ok(Ok(r)) if r.files > 0 || !r.failed.is_empty() => {
                tracing::info!(files = r.files, bytes = r.bytes, failed = ?r.failed, keep = %keep, "deleted old recordings ([store] keep_audio)");
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "the recording sweep failed"),
            Err(e) => tracing::warn!(error = %e, "the recording sweep failed"),
        }
    }
}

/// The body of `POST /v1/history/delete`: one utterance, or all before a time.
#[derive(Debug, Deserialize)]
pub struct DeleteBody {
    #[serde(default)]
    pub id: Option<i64>,
    /// An RFC 3339 time, a date ("2026-11-01", local midnight), or a period back from now ("30d").
    #[serde(default)]
    pub before: Option<String>,
}

/// "2026-11-01" (local midnight), an RFC 3339 time, or a period back from now ("30d").
pub fn parse_before(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        let midnight = d.and_hms_opt(0, 0, 0).expect("midnight exists");
        return midnight
            .and_local_timezone(chrono::Local)
            .earliest()
            .map(|l| l.with_timezone(&Utc))
            .ok_or_else(|| format!("{t} has no local midnight"));
    }
    super::spoken::parse_since(t, now)
        .map_err(|_| format!("cannot read `{t}` as a date: use a date like 2026-11-01, a time like 2026-11-01T09:00:00Z, or a period like 30d"))
}

pub async fn post_delete(State(st): State<AppState>, Json(b): Json<DeleteBody>) -> ApiResult<Removed> {
    let which = match (b.id, b.before.as_deref()) {
        (Some(id), None) => Selection::One(id),
        (None, Some(t)) => Selection::Before(parse_before(t, Utc::now()).map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?),
        _ => return Err(ApiError(StatusCode::BAD_REQUEST, "say which: an utterance ID, or --before DATE (not both)".into())),
    };
    let (store, dir) = (st.services.store.clone(), st.services.data.audio());
    let removed = tokio::task::spawn_blocking(move || delete(&store, &dir, which))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    if let Selection::One(id) = which
        && removed.utterances.is_empty()
    {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("no utterance {id} in the history")));
    }
    Ok(Json(removed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn before_reads_dates_times_and_periods() {
        let now = DateTime::parse_from_rfc3339("2026-11-21T12:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_before("2026-11-01T09:00:00Z", now).unwrap().to_rfc3339(), "2026-11-01T09:00:00+00:00");
        assert_eq!(parse_before("30d", now).unwrap().to_rfc3339(), "2026-10-22T12:00:00+00:00");
        let local = parse_before("2026-11-01", now).unwrap().with_timezone(&chrono::Local);
        assert_eq!(local.format("%Y-%m-%d %H:%M").to_string(), "2026-11-01 00:00");
        assert!(parse_before("last tuesday", now).unwrap_err().contains("2026-11-01"));
    }
}
