//! Paired devices and one-time pairing codes (the phone page).
//!
//! Only SHA-256 hashes of codes and tokens are stored: a copy of the database
//! does not open the page. Codes expire and are used at most once; a revoked
//! device's token is refused from then on.

use super::{Result, Store, now_str, time_str};
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A paired device as `capcom devices` lists it (never its token).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Device {
    pub id: i64,
    pub name: String,
    pub created_at: String,
    pub last_seen: Option<String>,
    pub revoked_at: Option<String>,
}

/// Why a pairing code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairRefusal {
    Unknown,
    Expired,
    Used,
}

/// The hex SHA-256 of a secret, as stored.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.trim().as_bytes()))
}

impl Store {
    /// Remember a new pairing code (by its hash) valid until `expires`.
    pub fn add_pairing_code(&self, code: &str, expires: DateTime<Utc>) -> Result<()> {
        self.db().execute(
            "INSERT INTO pairing_codes (code_hash, created_at, expires_at) VALUES (?1, ?2, ?3)",
            params![secret_hash(code), now_str(), time_str(expires)],
        )?;
        Ok(())
    }

    /// Use a pairing code once and create the device with `token` in the same transaction.
    /// A name already taken gets a number ("phone 2").
    pub fn redeem_pairing_code(
        &self,
        code: &str,
        name: &str,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<Device, PairRefusal>> {
        let mut conn = self.db();
        let tx = conn.transaction()?;
        let row: Option<(i64, String, Option<String>)> = tx
            .query_row(
                "SELECT id, expires_at, used_at FROM pairing_codes WHERE code_hash = ?1",
                [secret_hash(code)],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((code_id, expires_at, used_at)) = row else { return Ok(Err(PairRefusal::Unknown)) };
        if used_at.is_some() {
            return Ok(Err(PairRefusal::Used));
        }
        let expired = DateTime::parse_from_rfc3339(&expires_at).map(|t| t.with_timezone(&Utc) <= now).unwrap_or(true);
        if expired {
            return Ok(Err(PairRefusal::Expired));
        }
        let at = time_str(now);
        tx.execute("UPDATE pairing_codes SET used_at = ?2 WHERE id = ?1", params![code_id, at])?;
        let base = name.trim();
        let base = if base.is_empty() { "phone" } else { base };
        let mut chosen = base.to_string();
        let mut n = 2;
        while tx
            .query_row("SELECT 1 FROM devices WHERE name = ?1", [&chosen], |_| Ok(()))
            .optional()?
            .is_some()
        {
            chosen = format!("{base} {n}");
            n += 1;
        }
        tx.execute(
            "INSERT INTO devices (name, token_hash, created_at) VALUES (?1, ?2, ?3)",
            params![chosen, secret_hash(token), at],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(Ok(Device { id, name: chosen, created_at: at, last_seen: None, revoked_at: None }))
    }

    /// The live (not revoked) device whose token this is. Marks it seen at most once per
    /// [`LAST_SEEN_EVERY`]; that write is best effort: a read never fails because the disk
    /// is full or the database is read-only.
    pub fn device_for_token(&self, token: &str) -> Result<Option<Device>> {
        self.device_for_token_at(token, Utc::now())
    }

    pub(crate) fn device_for_token_at(&self, token: &str, now: DateTime<Utc>) -> Result<Option<Device>> {
        let conn = self.db();
        let dev = conn
            .query_row(
                "SELECT id, name, created_at, last_seen, revoked_at FROM devices
                 WHERE token_hash = ?1 AND revoked_at IS NULL",
                [secret_hash(token)],
                device_row,
            )
            .optional()?;
        if let Some(d) = &dev
            && seen_is_stale(d.last_seen.as_deref(), now)
            && let Err(e) = conn.execute("UPDATE devices SET last_seen = ?2 WHERE id = ?1", params![d.id, time_str(now)])
        {
            tracing::warn!(device = %d.name, error = %e, "cannot record when a device was last seen");
        }
        Ok(dev)
    }

    /// Whether the device with this id is still paired (not revoked).
    pub fn device_live(&self, id: i64) -> Result<bool> {
        Ok(self
            .db()
            .query_row("SELECT 1 FROM devices WHERE id = ?1 AND revoked_at IS NULL", [id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Every paired device, revoked ones too, oldest first.
    pub fn devices(&self) -> Result<Vec<Device>> {
        let conn = self.db();
        let mut stmt = conn.prepare("SELECT id, name, created_at, last_seen, revoked_at FROM devices ORDER BY id")?;
        let rows = stmt.query_map([], device_row)?;
        Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
    }

    /// Revoke a device by name (or id). Returns false when no live device has that name.
    pub fn revoke_device(&self, name: &str) -> Result<bool> {
        let mut conn = self.db();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "UPDATE devices SET revoked_at = ?2 WHERE (name = ?1 OR CAST(id AS TEXT) = ?1) AND revoked_at IS NULL",
            params![name.trim(), now_str()],
        )?;
        // its browser is no longer told anything
        tx.execute(
            "DELETE FROM push_subscriptions WHERE device_id IN (SELECT id FROM devices WHERE (name = ?1 OR CAST(id AS TEXT) = ?1) AND revoked_at IS NOT NULL)",
            params![name.trim()],
        )?;
        tx.commit()?;
        Ok(n > 0)
    }
}

/// How often a device's `last_seen` is written (reads must not need a write each time).
pub const LAST_SEEN_EVERY: chrono::Duration = chrono::Duration::minutes(1);

fn seen_is_stale(last: Option<&str>, now: DateTime<Utc>) -> bool {
    match last.and_then(|l| DateTime::parse_from_rfc3339(l).ok()) {
        Some(t) => now - t.with_timezone(&Utc) >= LAST_SEEN_EVERY,
        None => true,
    }
}

fn device_row(r: &rusqlite::Row) -> rusqlite::Result<Device> {
    Ok(Device { id: r.get(0)?, name: r.get(1)?, created_at: r.get(2)?, last_seen: r.get(3)?, revoked_at: r.get(4)? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db.sqlite")).unwrap();
        (dir, s)
    }

    #[test]
    fn a_code_pairs_once_and_expires() {
        let (_d, s) = store();
        let now = Utc::now();
        s.add_pairing_code("CODE1", now + Duration::minutes(5)).unwrap();
        s.add_pairing_code("OLD", now - Duration::seconds(1)).unwrap();
        let dev = s.redeem_pairing_code("CODE1", "phone", "tok-1", now).unwrap().unwrap();
        assert_eq!(dev.name, "phone");
        assert_eq!(s.redeem_pairing_code("CODE1", "phone", "tok-2", now).unwrap(), Err(PairRefusal::Used));
        assert_eq!(s.redeem_pairing_code("OLD", "phone", "tok-3", now).unwrap(), Err(PairRefusal::Expired));
        assert_eq!(s.redeem_pairing_code("nope", "phone", "tok-4", now).unwrap(), Err(PairRefusal::Unknown));
        // a second phone with the same name gets a number
        s.add_pairing_code("CODE2", now + Duration::minutes(5)).unwrap();
        assert_eq!(s.redeem_pairing_code("CODE2", "phone", "tok-5", now).unwrap().unwrap().name, "phone 2");
    }

    #[test]
    fn tokens_are_hashed_and_revocable() {
        let (_d, s) = store();
        let now = Utc::now();
        s.add_pairing_code("C", now + Duration::minutes(5)).unwrap();
        s.redeem_pairing_code("C", "pixel", "secret-token", now).unwrap().unwrap();
        let raw: String = s.db().query_row("SELECT token_hash FROM devices", [], |r| r.get(0)).unwrap();
        assert_ne!(raw, "secret-token");
        assert_eq!(raw, secret_hash("secret-token"));
        assert_eq!(s.device_for_token("secret-token").unwrap().unwrap().name, "pixel");
        assert!(s.device_for_token("wrong").unwrap().is_none());
        assert!(s.device_live(1).unwrap());
        assert!(s.revoke_device("pixel").unwrap());
        assert!(!s.device_live(1).unwrap());
        assert!(!s.revoke_device("pixel").unwrap());
        assert!(s.device_for_token("secret-token").unwrap().is_none());
        assert!(s.devices().unwrap()[0].revoked_at.is_some());
    }

    #[test]
    fn last_seen_is_written_at_most_once_a_minute_and_its_failure_fails_no_read() {
        let (_d, s) = store();
        let now = Utc::now();
        s.add_pairing_code("C", now + Duration::minutes(5)).unwrap();
        s.redeem_pairing_code("C", "pixel", "tok", now).unwrap().unwrap();
        let seen = |s: &Store| s.devices().unwrap()[0].last_seen.clone();
        let t0 = now;
        s.device_for_token_at("tok", t0).unwrap().unwrap();
        assert_eq!(seen(&s), Some(time_str(t0)));
        // within the minute: no write
        s.device_for_token_at("tok", t0 + Duration::seconds(30)).unwrap().unwrap();
        assert_eq!(seen(&s), Some(time_str(t0)));
        s.device_for_token_at("tok", t0 + Duration::seconds(61)).unwrap().unwrap();
        assert_eq!(seen(&s), Some(time_str(t0 + Duration::seconds(61))));
        // A database that cannot be written (a full disk answers the same way) still answers reads.
        s.db().execute_batch("PRAGMA query_only = ON").unwrap();
        let dev = s.device_for_token_at("tok", t0 + Duration::hours(1)).unwrap();
        assert_eq!(dev.map(|d| d.name).as_deref(), Some("pixel"));
        assert!(s.device_for_token_at("wrong", t0 + Duration::hours(1)).unwrap().is_none());
        assert!(s.device_live(1).unwrap());
    }
}
