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
use crate::store::{Claim, Store, check_key};
use axum::http::{HeaderMap, StatusCode};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// The header's name.
pub const HEADER: &str = "idempotency-key";

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

pub fn fingerprint(parts: &[&str]) -> String {
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

/// What a claimed key asks of its request.
pub enum Step {
    /// Answered before: that answer.
    Replay(serde_json::Value),
    /// Taken by a process that ended after making tasks: they are the answer (`answer_from`).
    Made { answer: Box<Answer>, utterance_id: Option<i64>, transcript: Option<String> },
    /// Act on it now, with what is already stored of it.
    Act { utterance_id: Option<i64>, transcript: Option<String> },
}

/// Claim `key` for this process (`store.claim_key`): a key in flight is a 409, one sent before
/// with another request a 422.
pub async fn claim(store: &Store, key: &str, scope: &str, fingerprint: String, text: Option<String>) -> Result<Step, ApiError> {
    let (s, k, scope_owned) = (store.clone(), key.to_string(), scope.to_string());
    let claim = tokio::task::spawn_blocking(move || s.claim_key(&k, &scope_owned, &fingerprint, boot(), text.as_deref(), chrono::Utc::now()))
        .await
        .map_err(internal)?
        .map_err(internal)?;
    Ok(match claim {
        Claim::Done(answer) => Step::Replay(answer),
        Claim::Mismatch => {
            let what = if scope == "talk" { "clip" } else { "brief" };
            return Err(ApiError(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("this Idempotency-Key was sent before with a different {what}: make a new key for a new {what}"),
            ));
        }
        Claim::InFlight => {
            return Err(ApiError(
                StatusCode::CONFLICT,
                "the request with this Idempotency-Key is still being handled: send it again in a moment for its answer".into(),
            ));
        }
        Claim::Orphan { tasks, utterance_id, transcript } if !tasks.is_empty() => Step::Made { answer: Box::new(answer_from(&tasks)), utterance_id, transcript },
        Claim::Orphan { utterance_id, transcript, .. } => Step::Act { utterance_id, transcript },
        Claim::New { utterance_id } => Step::Act { utterance_id, transcript: None },
    })
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
    let utterance = match claim(&store, &key, "brief", fp, Some(text.clone())).await? {
        Step::Replay(answer) => return Ok((answer, true)),
        Step::Made { answer, .. } => {
            let answer = serde_json::to_value(answer).map_err(internal)?;
            finish(&store, &key, &answer).await;
            return Ok((answer, true));
        }
        Step::Act { utterance_id, .. } => utterance_id,
    };
    // Handled on its own task, so a client that hangs up does not leave the key held.
    let coordinator = coordinator.clone();
    let done = tokio::spawn(async move {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let answer = if coordinator.send(Msg::Brief { text, intent, utterance, reply: tx }).await { rx.await.ok() } else { None };
        match answer.and_then(|a| serde_json::to_value(a).ok()) {
            Some(a) => {
                // The tasks are made, the answer not kept: a repeat finds them by the key.
                crate::process::crash_point("brief-answered");
                finish(&store, &key, &a).await;
                Some(a)
            }
            None => {
                release(&store, &key).await;
                None
            }
        }
    });
    match done.await.map_err(internal)? {
        Some(a) => Ok((a, false)),
        None => Err(ApiError(StatusCode::SERVICE_UNAVAILABLE, "the coordinator is stopping".into())),
    }
}

/// Let go of a key whose request got no answer.
pub async fn release(store: &Store, key: &str) {
    let (store, key) = (store.clone(), key.to_string());
    let _ = tokio::task::spawn_blocking(move || store.release_key(&key)).await;
}

/// Link a key to the utterance its clip was stored as, before anything acts on it.
pub async fn link(store: &Store, key: &str, utterance_id: i64) -> Result<(), ApiError> {
    let (store, key) = (store.clone(), key.to_string());
    tokio::task::spawn_blocking(move || store.link_key(&key, utterance_id)).await.map_err(internal)?.map_err(internal)
}

/// Keep the answer a key's request got.
pub async fn finish(store: &Store, key: &str, answer: &serde_json::Value) {
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
