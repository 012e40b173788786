//! Outside sessions: agent sessions the user started themselves (Claude Code, Codex, Gemini,
//! Copilot CLI), heard through their hooks (`hooks::parse`, `daemon::sessions`).
//!
//! Only these fields are kept: agent, session id, folder, repo (when the folder is inside a
//! configured repo), last event, last message (capped by `hooks::parse`), whether the session
//! waits for the user, when it last finished and whether a status answer has said so, and a
//! count of the payloads heard. At most `MAX_SESSIONS` rows: the least recently heard go first.

use super::{Result, Store, now_str};
use crate::hooks::{HookEvent, Meaning};
use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

/// The most outside sessions kept.
pub const MAX_SESSIONS: i64 = 200;

/// One outside session as `GET /v1/sessions` lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutsideSession {
    pub agent: String,
    pub session_id: String,
    pub folder: Option<String>,
    pub repo: Option<String>,
    pub last_event: String,
    pub last_message: Option<String>,
    /// A permission prompt or a question waits for the user.
    pub waiting: bool,
    /// When its last turn finished (a `Stop`), if it has finished since it last waited or worked.
    pub finished_at: Option<String>,
    /// Payloads heard from it.
    pub events: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// What one payload changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Heard {
    pub session: OutsideSession,
    /// It waits for the user now and did not before.
    pub started_waiting: bool,
    /// It waited before and does not now.
    pub stopped_waiting: bool,
}

const COLUMNS: &str = "agent, session_id, folder, repo, last_event, last_message, waiting, finished_at, events, created_at, updated_at";

fn row(r: &Row) -> rusqlite::Result<OutsideSession> {
    Ok(OutsideSession {
        agent: r.get(0)?,
        session_id: r.get(1)?,
        folder: r.get(2)?,
        repo: r.get(3)?,
        last_event: r.get(4)?,
        last_message: r.get(5)?,
        waiting: r.get::<_, i64>(6)? != 0,
        finished_at: r.get(7)?,
        events: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
    })
}

impl Store {
    /// Record one hook payload: the session is created or updated in one transaction. A
    /// waiting event sets the flag; any other event but a notice clears it. A finish is
    /// remembered until a status answer says it (`take_finished`).
    pub fn record_hook(&self, e: &HookEvent, repo: Option<&str>) -> Result<Heard> {
        let now = now_str();
        let mut conn = self.db();
        let tx = conn.transaction()?;
        let before: Option<bool> = tx
            .query_row(
                "SELECT waiting FROM outside_sessions WHERE agent = ?1 AND session_id = ?2",
                params![e.agent.as_str(), e.session_id],
                |r| r.get::<_, i64>(0).map(|w| w != 0),
            )
            .optional()?;
        let was_waiting = before.unwrap_or(false);
        let waiting = match e.meaning {
            Meaning::NeedsPermission | Meaning::Asks => true,
            Meaning::Notice => was_waiting,
            Meaning::Finished | Meaning::Activity => false,
        };
        let finished = e.meaning == Meaning::Finished;
        // The message: a waiting or finishing event's own; others keep the last one.
        let message = match e.meaning {
            Meaning::NeedsPermission | Meaning::Asks | Meaning::Finished => Some(e.message.clone()),
            Meaning::Notice | Meaning::Activity => None,
        };
        tx.execute(
            "INSERT INTO outside_sessions (agent, session_id, folder, repo, last_event, last_message, waiting,
                 finished_at, told, events, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, CASE WHEN ?8 THEN ?9 END, CASE WHEN ?8 THEN 0 ELSE 1 END, 1, ?9, ?9)
             ON CONFLICT(agent, session_id) DO UPDATE SET
                 folder = COALESCE(excluded.folder, folder),
                 repo = CASE WHEN excluded.folder IS NULL THEN repo ELSE excluded.repo END,
                 last_event = excluded.last_event,
                 last_message = CASE WHEN ?10 THEN excluded.last_message ELSE last_message END,
                 waiting = excluded.waiting,
                 finished_at = CASE WHEN ?8 THEN excluded.updated_at WHEN excluded.waiting THEN NULL ELSE finished_at END,
                 told = CASE WHEN ?8 THEN 0 ELSE told END,
                 events = events + 1,
                 updated_at = excluded.updated_at",
            params![
                e.agent.as_str(),
                e.session_id,
                e.folder,
                repo,
                e.event,
                message.clone().flatten(),
                waiting as i64,
                finished,
                now,
                message.is_some(),
            ],
        )?;
        // Bounded: the least recently heard sessions beyond the cap go.
        tx.execute(
            "DELETE FROM outside_sessions WHERE id IN
                 (SELECT id FROM outside_sessions ORDER BY updated_at DESC, id DESC LIMIT -1 OFFSET ?1)",
            [MAX_SESSIONS],
        )?;
        let session = tx.query_row(
            &format!("SELECT {COLUMNS} FROM outside_sessions WHERE agent = ?1 AND session_id = ?2"),
            params![e.agent.as_str(), e.session_id],
            row,
        )?;
        tx.commit()?;
        drop(conn);
        if was_waiting != waiting {
            // The tray follows waiting sessions as it follows tasks.
            self.task_written();
        }
        Ok(Heard { session, started_waiting: waiting && !was_waiting, stopped_waiting: was_waiting && !waiting })
    }

    /// Every outside session: those waiting first, then the most recently heard.
    pub fn outside_sessions(&self) -> Result<Vec<OutsideSession>> {
        let conn = self.db();
        let mut st = conn.prepare(&format!("SELECT {COLUMNS} FROM outside_sessions ORDER BY waiting DESC, updated_at DESC, id DESC"))?;
        let rows = st.query_map([], row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// How many outside sessions wait for the user.
    pub fn sessions_waiting(&self) -> Result<usize> {
        Ok(self.db().query_row("SELECT COUNT(*) FROM outside_sessions WHERE waiting = 1", [], |r| r.get::<_, i64>(0))? as usize)
    }

    /// The sessions that finished since a status answer last said so, oldest first; they are
    /// marked as said.
    pub fn take_finished(&self) -> Result<Vec<OutsideSession>> {
        let mut conn = self.db();
        let tx = conn.transaction()?;
        let rows = {
            let mut st = tx.prepare(&format!(
                "SELECT {COLUMNS} FROM outside_sessions WHERE told = 0 AND finished_at IS NOT NULL AND waiting = 0 ORDER BY finished_at, id"
            ))?;
            st.query_map([], row)?.collect::<rusqlite::Result<Vec<_>>>()?
        };
        tx.execute("UPDATE outside_sessions SET told = 1 WHERE told = 0", [])?;
        tx.commit()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::{Agent, HookEvent, Meaning};

    fn ev(session: &str, meaning: Meaning, message: Option<&str>) -> HookEvent {
        HookEvent {
            agent: Agent::Claude,
            session_id: session.into(),
            folder: Some("/src/site".into()),
            event: format!("{meaning:?}"),
            meaning,
            message: message.map(String::from),
        }
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("capcom.db")).unwrap();
        (dir, s)
    }

    #[test]
    fn a_prompt_waits_until_the_session_moves_on() {
        let (_d, s) = store();
        let h = s.record_hook(&ev("a", Meaning::NeedsPermission, Some("Claude needs your permission to use Bash")), Some("site")).unwrap();
        assert!(h.started_waiting && h.session.waiting);
        assert_eq!(h.session.repo.as_deref(), Some("site"));
        assert_eq!(s.sessions_waiting().unwrap(), 1);
        // An idle notice changes nothing; the message of the prompt stays.
        let h = s.record_hook(&ev("a", Meaning::Notice, None), Some("site")).unwrap();
        assert!(h.session.waiting && !h.started_waiting && !h.stopped_waiting);
        assert_eq!(h.session.last_message.as_deref(), Some("Claude needs your permission to use Bash"));
        // The next event clears it.
        let h = s.record_hook(&ev("a", Meaning::Activity, None), Some("site")).unwrap();
        assert!(!h.session.waiting && h.stopped_waiting);
        assert_eq!(s.sessions_waiting().unwrap(), 0);
        assert_eq!(h.session.events, 3);
    }

    #[test]
    fn a_finish_is_told_once() {
        let (_d, s) = store();
        s.record_hook(&ev("a", Meaning::NeedsPermission, Some("May I?")), None).unwrap();
        let h = s.record_hook(&ev("a", Meaning::Finished, Some("All tests pass.")), None).unwrap();
        assert!(h.stopped_waiting && !h.session.waiting);
        assert!(h.session.finished_at.is_some());
        let told = s.take_finished().unwrap();
        assert_eq!(told.len(), 1);
        assert_eq!(told[0].last_message.as_deref(), Some("All tests pass."));
        assert!(s.take_finished().unwrap().is_empty(), "said once");
        s.record_hook(&ev("a", Meaning::Finished, None), None).unwrap();
        let again = s.take_finished().unwrap();
        assert_eq!(again.len(), 1, "a new turn finished");
        assert_eq!(again[0].last_message, None, "a finish without a message has none");
    }

    #[test]
    fn sessions_are_bounded() {
        let (_d, s) = store();
        for i in 0..(MAX_SESSIONS + 5) {
            s.record_hook(&ev(&format!("s{i}"), Meaning::Activity, None), None).unwrap();
        }
        let all = s.outside_sessions().unwrap();
        assert_eq!(all.len() as i64, MAX_SESSIONS);
        assert!(all.iter().all(|x| x.session_id != "s0"), "the oldest went first");
    }
}
