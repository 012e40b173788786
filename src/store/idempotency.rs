//! Idempotency keys of briefs (`Idempotency-Key` on `POST /v1/brief`, the phone page's brief
//! and talk): a brief sent again after its answer was lost (a crash, a dropped connection) is
//! answered from what the first one did, never acted on twice.
//!
//! The key is written before anything acts, in the same transaction as the utterance that
//! records what was said; every task the brief makes carries that utterance's id. So after a
//! crash at any step the key still leads to what was done: the stored answer, or else the
//! tasks of its utterance. Rows older than [`KEY_TTL_HOURS`] are swept on the next claim.

use super::{Result, Store, Task, now_str, time_str};
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

/// How long a key is remembered.
pub const KEY_TTL_HOURS: i64 = 24;

/// The longest key accepted (Stripe's limit).
pub const MAX_KEY: usize = 255;

/// Why a key is refused, in words a client can act on.
pub fn check_key(raw: &[u8]) -> std::result::Result<String, String> {
    // The draft sends the key as a structured-field string ("…"); a bare key is taken as it is.
    let inner = match raw {
        [b'"', rest @ .., b'"'] => rest,
        _ => raw,
    };
    if inner.is_empty() {
        return Err("the Idempotency-Key header is empty: send a fresh random key (e.g. a UUID) per brief".into());
    }
    if inner.len() > MAX_KEY {
        return Err(format!("the Idempotency-Key header is {} characters long; at most {MAX_KEY} are allowed", inner.len()));
    }
    if let Some(b) = inner.iter().find(|b| !(0x21..=0x7e).contains(*b)) {
        return Err(format!(
            "the Idempotency-Key header may hold only visible ASCII characters (no spaces); it has byte 0x{b:02x}"
        ));
    }
    Ok(String::from_utf8_lossy(inner).into_owned())
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// A new key, recorded now with the utterance of the brief (when its text was given).
    New { utterance_id: Option<i64> },
    /// The key's brief was answered: this is that answer (JSON).
    Done(serde_json::Value),
    /// The key's brief is being handled by this daemon process now.
    InFlight,
    /// The key was sent with a different request before.
    Mismatch,
    /// The key's brief was taken by an earlier process that ended before answering; this
    /// process holds it now. `tasks` are those its utterance made (none if it made none).
    Orphan { utterance_id: Option<i64>, transcript: Option<String>, tasks: Vec<Task> },
}

impl Store {
    /// Claim `key` for the process `boot`: a new key is recorded (and, with `text`, a typed
    /// utterance holding it, in the same transaction); a known one says what became of it.
    /// Keys older than [`KEY_TTL_HOURS`] are swept first.
    pub fn claim_key(&self, key: &str, scope: &str, fingerprint: &str, boot: &str, text: Option<&str>, now: DateTime<Utc>) -> Result<Claim> {
        let mut conn = self.db();
        let tx = conn.transaction()?;
        tx.execute(
            "DELETE FROM idempotency_keys WHERE created_at < ?1",
            [time_str(now - chrono::Duration::hours(KEY_TTL_HOURS))],
        )?;
        type Row = (String, String, Option<i64>, Option<String>, Option<String>);
        let found: Option<Row> = tx
            .query_row(
                "SELECT scope, fingerprint, utterance_id, answer, boot FROM idempotency_keys WHERE key = ?1",
                [key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let claim = match found {
            Some((s, f, _, _, _)) if s != scope || f != fingerprint => Claim::Mismatch,
            Some((_, _, _, Some(answer), _)) => Claim::Done(serde_json::from_str(&answer)?),
            Some((_, _, _, None, Some(b))) if b == boot => Claim::InFlight,
            Some((_, _, utterance_id, None, _)) => {
                tx.execute("UPDATE idempotency_keys SET boot = ?2 WHERE key = ?1", params![key, boot])?;
                let transcript = match utterance_id {
                    Some(u) => tx
                        .query_row("SELECT transcript FROM utterances WHERE id = ?1", [u], |r| r.get::<_, Option<String>>(0))
                        .optional()?
                        .flatten(),
                    None => None,
                };
                let tasks = match utterance_id {
                    Some(u) => {
                        let mut stmt = tx.prepare(&format!("SELECT {} FROM tasks WHERE utterance_id = ?1 ORDER BY id", super::TASK_COLS))?;
                        let rows = stmt.query_map([u], super::task_from_row)?;
                        rows.map(|r| r?).collect::<Result<Vec<Task>>>()?
                    }
                    None => Vec::new(),
                };
                Claim::Orphan { utterance_id, transcript, tasks }
            }
            None => {
                let utterance_id = match text {
                    Some(t) => {
                        tx.execute(
                            "INSERT INTO utterances (created_at, duration_ms, audio_path, source, transcript) VALUES (?1, 0, NULL, 'text', ?2)",
                            params![now_str(), t],
                        )?;
                        Some(tx.last_insert_rowid())
                    }
                    None => None,
                };
                tx.execute(
                    "INSERT INTO idempotency_keys (key, scope, fingerprint, utterance_id, boot, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![key, scope, fingerprint, utterance_id, boot, time_str(now)],
                )?;
                Claim::New { utterance_id }
            }
        };
        tx.commit()?;
        Ok(claim)
    }

    /// Link a key to the utterance its brief was stored as (a spoken clip, stored after the claim).
    pub fn link_key(&self, key: &str, utterance_id: i64) -> Result<()> {
        self.db().execute("UPDATE idempotency_keys SET utterance_id = ?2 WHERE key = ?1", params![key, utterance_id])?;
        Ok(())
    }

    /// Keep the answer the key's brief got: a repeat is answered with it.
    pub fn finish_key(&self, key: &str, answer: &serde_json::Value) -> Result<()> {
        self.db().execute("UPDATE idempotency_keys SET answer = ?2, boot = NULL WHERE key = ?1", params![key, answer.to_string()])?;
        Ok(())
    }

    /// Let go of a key whose brief got no answer (the coordinator stopped): the next claim
    /// finds it orphaned and looks for what was done.
    pub fn release_key(&self, key: &str) -> Result<()> {
        self.db().execute("UPDATE idempotency_keys SET boot = NULL WHERE key = ?1", [key])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TaskState;
    use crate::understand::TaskSpec;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("capcom.db")).unwrap();
        (dir, s)
    }

    #[test]
    fn keys_are_checked() {
        let long = "a".repeat(MAX_KEY);
        let too_long = "a".repeat(MAX_KEY + 1);
        let cases: &[(&[u8], std::result::Result<&str, &str>)] = &[
            (b"8e03978e-40d5-43e8-bc93-6894a57f9324", Ok("8e03978e-40d5-43e8-bc93-6894a57f9324")),
            (b"\"8e03978e\"", Ok("8e03978e")),
            (b"a", Ok("a")),
            (long.as_bytes(), Ok(long.as_str())),
            (too_long.as_bytes(), Err("at most 255")),
            (b"", Err("empty")),
            (b"\"\"", Err("empty")),
            (b"two words", Err("0x20")),
            (b"tab\there", Err("0x09")),
            ("caf\u{e9}".as_bytes(), Err("0xc3")),
            (b"nul\0", Err("0x00")),
        ];
        for (raw, want) in cases {
            let got = check_key(raw);
            match (want, &got) {
                (Ok(w), Ok(g)) => assert_eq!(g, w),
                (Err(w), Err(g)) => assert!(g.contains(w), "{raw:?}: {g}"),
                _ => panic!("{raw:?}: {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn a_key_is_new_then_in_flight_then_answered() {
        let (_d, s) = store();
        let now = Utc::now();
        let Claim::New { utterance_id: Some(u) } = s.claim_key("k1", "brief", "f", "boot-a", Some("fix the footer"), now).unwrap() else {
            panic!("a new key");
        };
        assert_eq!(s.utterances(10).unwrap()[0].transcript.as_deref(), Some("fix the footer"));
        assert_eq!(s.utterances(10).unwrap()[0].id, u);
        assert_eq!(s.claim_key("k1", "brief", "f", "boot-a", Some("fix the footer"), now).unwrap(), Claim::InFlight);
        let answer = serde_json::json!({ "ok": true, "say": "Task 1" });
        s.finish_key("k1", &answer).unwrap();
        assert_eq!(s.claim_key("k1", "brief", "f", "boot-b", Some("fix the footer"), now).unwrap(), Claim::Done(answer));
        // Only the first claim stored an utterance.
        assert_eq!(s.utterances(10).unwrap().len(), 1);
    }

    #[test]
    fn a_key_sent_with_another_request_is_a_mismatch() {
        let (_d, s) = store();
        let now = Utc::now();
        s.claim_key("k", "brief", "f1", "b", Some("one"), now).unwrap();
        assert_eq!(s.claim_key("k", "brief", "f2", "b", Some("two"), now).unwrap(), Claim::Mismatch);
        assert_eq!(s.claim_key("k", "talk", "f1", "b", None, now).unwrap(), Claim::Mismatch);
    }

    #[test]
    fn a_key_left_by_an_ended_process_leads_to_its_tasks() {
        let (_d, s) = store();
        let now = Utc::now();
        let Claim::New { utterance_id } = s.claim_key("k", "brief", "f", "old", Some("fix it"), now).unwrap() else { panic!() };
        let spec = TaskSpec { title: "fix it".into(), ..TaskSpec::default() };
        let t = s.create_task(&spec, TaskState::Queued, None, utterance_id, "user").unwrap();
        s.create_task(&spec, TaskState::Queued, None, None, "user").unwrap();
        match s.claim_key("k", "brief", "f", "new", Some("fix it"), now).unwrap() {
            Claim::Orphan { utterance_id: u, transcript, tasks } => {
                assert_eq!(u, utterance_id);
                assert_eq!(transcript.as_deref(), Some("fix it"));
                assert_eq!(tasks.iter().map(|t| t.id).collect::<Vec<_>>(), vec![t.id]);
            }
            other => panic!("{other:?}"),
        }
        // The new process holds it now.
        assert_eq!(s.claim_key("k", "brief", "f", "new", Some("fix it"), now).unwrap(), Claim::InFlight);
        s.release_key("k").unwrap();
        assert!(matches!(s.claim_key("k", "brief", "f", "new", Some("fix it"), now).unwrap(), Claim::Orphan { .. }));
    }

    #[test]
    fn keys_older_than_a_day_are_swept() {
        let (_d, s) = store();
        let then = Utc::now() - chrono::Duration::hours(KEY_TTL_HOURS + 1);
        s.claim_key("k", "brief", "f", "b", Some("one"), then).unwrap();
        s.finish_key("k", &serde_json::json!({})).unwrap();
        assert!(matches!(s.claim_key("k", "brief", "f", "b", Some("one"), Utc::now()).unwrap(), Claim::New { .. }));
    }
}
