//! The `Idempotency-Key` of a brief: a brief sent again with the key of one already acted on
//! is answered with that first answer, never acted on twice (`store::idempotency` keeps the keys).
//!
//! The header is the one of the IETF httpapi draft "The Idempotency-Key HTTP Header Field"
//! (draft-ietf-httpapi-idempotency-key-header) and Stripe's API
//! (https://docs.stripe.com/api/idempotent_requests): an opaque key the client makes fresh for
//! each new request and sends again unchanged on a retry. As there, a key reused with another
//! request is refused (422), a repeat while the first is still handled gets 409, and a replayed
//! answer is marked `Idempotent-Replayed: true` (Stripe's header).

use super::actions::{Answer, Queued};
use super::api::ApiError;
use super::coordinator::Msg;
use super::{CoordinatorHandle, Services};
use crate::store::{Claim, Store};
use axum::http::{HeaderMap, StatusCode};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// The header's name.
pub const HEADER: &str = "idempotency-key";

/// The longest key accepted (Stripe's limit).
pub const MAX_KEY: usize = 255;

/// Why a key is refused, in words a client can act on.
pub fn check_key(raw: &[u8]) -> Result<String, String> {
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

/// The request's key, if it sent one; a malformed key (or two keys) is a 400.
pub fn key_of(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(first) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(ApiError(StatusCode::BAD_REQUEST, "send one Idempotency-Key header, not several".into()));
    }
    check_key(first.as_bytes()).map(Some).map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))
}

/// This daemon process, so a key it holds is told apart from one left by a process that ended.
fn boot() -> &'static str {
    static BOOT: OnceLock<String> = OnceLock::new();
    BOOT.get_or_init(|| format!("{}-{:016x}", std::process::id(), rand::random::<u64>()))
}

fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// The answer a brief whose first answer was lost gets: the tasks it made.
fn answer_from(tasks: &[crate::store::Task]) -> Answer {
    let queued = tasks
        .iter()
        .map(|t| Queued {
            id: t.id,
            title: t.title.clone(),
            state: t.state,
            agent: t.agent.clone(),
            why: None,
            repo: t.repo.clone(),
            question: t.reason.clone(),
            scheduled_at: t.scheduled_at.clone(),
        })
        .collect();
    let said = tasks.iter().map(|t| format!("task {}, '{}' ({})", t.id, t.title, t.state)).collect::<Vec<_>>().join("; ");
    Answer { tasks: queued, ..Answer::ok("dispatch", format!("I had this brief already: {said}.")) }
}

/// Act on a brief once per key: `Ok((answer, replayed))`.
pub async fn brief(
    services: &Services,
    coordinator: &CoordinatorHandle,
    key: String,
    text: String,
    intent: Option<crate::understand::Intent>,
) -> Result<(serde_json::Value, bool), ApiError> {
    let intent_json = intent.as_ref().map(|i| serde_json::to_string(i).unwrap_or_default()).unwrap_or_default();
    let fp = fingerprint(&["brief", &text, &intent_json]);
    let store = services.store.clone();
    let claim = {
        let (store, key, text) = (store.clone(), key.clone(), text.clone());
        tokio::task::spawn_blocking(move || store.claim_key(&key, "brief", &fp, boot(), Some(&text), chrono::Utc::now()))
            .await
            .map_err(internal)?
            .map_err(internal)?
    };
    let utterance = match claim {
        Claim::Done(answer) => return Ok((answer, true)),
        Claim::Mismatch => {
            return Err(ApiError(
                StatusCode::UNPROCESSABLE_ENTITY,
                "this Idempotency-Key was sent before with a different brief: make a new key for a new brief".into(),
            ));
        }
        Claim::InFlight => {
            return Err(ApiError(
                StatusCode::CONFLICT,
                "the brief with this Idempotency-Key is still being handled: send it again in a moment for its answer".into(),
            ));
        }
        Claim::Orphan { tasks, .. } if !tasks.is_empty() => {
            let answer = serde_json::to_value(answer_from(&tasks)).map_err(internal)?;
            finish(&store, &key, &answer).await;
            return Ok((answer, true));
        }
        Claim::Orphan { utterance_id, .. } | Claim::New { utterance_id } => utterance_id,
    };
    // Handled on its own task, so a client that hangs up does not leave the key held.
    let coordinator = coordinator.clone();
    let done = tokio::spawn(async move {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let answer = if coordinator.send(Msg::Brief { text, intent, utterance, reply: tx }).await { rx.await.ok() } else { None };
        match answer.and_then(|a| serde_json::to_value(a).ok()) {
            Some(a) => {
                // The tasks are made, the answer not kept: a repeat finds them by the key.
                crate::dispatch::crash_point("brief-answered");
                finish(&store, &key, &a).await;
                Some(a)
            }
            None => {
                let _ = tokio::task::spawn_blocking(move || store.release_key(&key)).await;
                None
            }
        }
    });
    match done.await.map_err(internal)? {
        Some(a) => Ok((a, false)),
        None => Err(ApiError(StatusCode::SERVICE_UNAVAILABLE, "the coordinator is stopping".into())),
    }
}

async fn finish(store: &Store, key: &str, answer: &serde_json::Value) {
    let (store, key, answer) = (store.clone(), key.to_string(), answer.clone());
    let done = tokio::task::spawn_blocking(move || store.finish_key(&key, &answer)).await;
    if let Ok(Err(e)) = done {
        tracing::warn!(error = %e, "cannot keep a brief's answer for its idempotency key");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        let long = "a".repeat(MAX_KEY);
        let too_long = "a".repeat(MAX_KEY + 1);
        let cases: &[(&[u8], Result<&str, &str>)] = &[
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
    fn one_key_header_or_none() {
        let mut h = HeaderMap::new();
        assert!(key_of(&h).unwrap().is_none());
        h.insert(HEADER, "k1".parse().unwrap());
        assert_eq!(key_of(&h).unwrap().as_deref(), Some("k1"));
        h.append(HEADER, "k2".parse().unwrap());
        assert_eq!(key_of(&h).unwrap_err().0, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn the_fingerprint_tells_parts_apart() {
        assert_ne!(fingerprint(&["brief", "ab", ""]), fingerprint(&["brief", "a", "b"]));
        assert_eq!(fingerprint(&["brief", "ab", ""]), fingerprint(&["brief", "ab", ""]));
    }
}
