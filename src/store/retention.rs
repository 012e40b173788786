//! Keeping what the user said for only as long as they want it: the queries behind the
//! audio sweep (`[store] keep_audio`) and `capcom history delete`. The files themselves are
//! removed by the caller, after the rows say so.

use super::{Result, Store, insert_audit, time_str};
use chrono::{DateTime, Utc};
use rusqlite::params;

/// Which utterances `capcom history delete` removes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Selection {
    One(i64),
    Before(DateTime<Utc>),
}

/// An utterance and its audio file, if it still has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    pub id: i64,
    pub audio_path: Option<String>,
}

impl Store {
    /// Utterances recorded before `cutoff` that still have a WAV.
    pub fn audio_before(&self, cutoff: DateTime<Utc>) -> Result<Vec<Clip>> {
        let conn = self.db();
        let mut stmt = conn.prepare(
            "SELECT id, audio_path FROM utterances WHERE audio_path IS NOT NULL AND created_at < ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([time_str(cutoff)], |r| Ok(Clip { id: r.get(0)?, audio_path: r.get(1)? }))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Forget the audio of these utterances (their rows and transcripts stay), with one audit line.
    pub fn clear_audio(&self, ids: &[i64], actor: &str) -> Result<usize> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut conn = self.db();
        let tx = conn.transaction()?;
        let mut n = 0;
        for id in ids {
            n += tx.execute("UPDATE utterances SET audio_path = NULL WHERE id = ?1", [id])?;
        }
        insert_audit(&tx, "audio_deleted", None, actor, Some(&format!("{n} recording(s): {}", join_ids(ids))))?;
        tx.commit()?;
        Ok(n)
    }

    /// Delete utterances (rows and transcripts). Tasks that came from one keep their brief and
    /// lose only the link. Returns what was deleted, with the audio files to remove.
    pub fn delete_utterances(&self, which: Selection, actor: &str) -> Result<Vec<Clip>> {
        let mut conn = self.db();
        let tx = conn.transaction()?;
        let clips: Vec<Clip> = {
            let (sql, arg) = match which {
                Selection::One(id) => ("SELECT id, audio_path FROM utterances WHERE id = ?1", id.to_string()),
                Selection::Before(t) => ("SELECT id, audio_path FROM utterances WHERE created_at < ?1 ORDER BY id", time_str(t)),
            };
            let mut stmt = tx.prepare(sql)?;
            let rows = stmt.query_map([arg], |r| Ok(Clip { id: r.get(0)?, audio_path: r.get(1)? }))?;
            rows.collect::<std::result::Result<_, _>>()?
        };
        for c in &clips {
            tx.execute("UPDATE tasks SET utterance_id = NULL WHERE utterance_id = ?1", params![c.id])?;
            tx.execute("DELETE FROM utterances WHERE id = ?1", params![c.id])?;
        }
        if !clips.is_empty() {
            let ids: Vec<i64> = clips.iter().map(|c| c.id).collect();
            insert_audit(&tx, "history_deleted", None, actor, Some(&format!("{} utterance(s): {}", ids.len(), join_ids(&ids))))?;
        }
        tx.commit()?;
        Ok(clips)
    }

    /// How many utterances still have a recording.
    pub fn audio_count(&self) -> Result<i64> {
        Ok(self.db().query_row("SELECT COUNT(*) FROM utterances WHERE audio_path IS NOT NULL", [], |r| r.get(0))?)
    }
}

/// "1, 2, 3" (the first 20, then "…").
fn join_ids(ids: &[i64]) -> String {
    let mut s: Vec<String> = ids.iter().take(20).map(i64::to_string).collect();
    if ids.len() > 20 {
        s.push("…".into());
    }
    s.join(", ")
}
