//! Web Push message encryption: RFC 8291 (Message Encryption for Web Push) over RFC 8188's
//! `aes128gcm` content coding, one record. A push service relays the body unread; only the
//! browser that made the subscription (its P-256 key `p256dh` and its `auth` secret) can
//! read it.
//!
//! Steps (RFC 8291 section 3.4, RFC 8188 section 2):
//! - a fresh P-256 key pair for this message; ECDH with the browser's key;
//! - `IKM = HKDF(salt = auth, ikm = ecdh_secret, info = "WebPush: info\0" || ua_public || as_public, 32)`;
//! - `PRK = HKDF-Extract(salt, IKM)`, `CEK = Expand(PRK, "Content-Encoding: aes128gcm\0", 16)`,
//!   `NONCE = Expand(PRK, "Content-Encoding: nonce\0", 12)`;
//! - the body: `salt(16) || rs(4) || idlen(1) = 65 || as_public(65) || AES-128-GCM(plaintext || 0x02)`.

use aws_lc_rs::{aead, agreement, hkdf, rand};

/// The largest plaintext one record carries (RFC 8291 section 4: 4096-byte records less
/// the padding delimiter, tag and header a push service allows).
pub const MAX_PLAINTEXT: usize = 3993;
const RECORD_SIZE: u32 = 4096;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PushError {
    #[error("the subscription's key is not an uncompressed P-256 point (65 bytes, starting 0x04)")]
    BadKey,
    #[error("the subscription's auth secret must be 16 bytes")]
    BadAuth,
    #[error("the message is {0} bytes; a push message carries at most {MAX_PLAINTEXT}")]
    TooLong(usize),
    #[error("encryption failed")]
    Crypto,
}

/// Encrypt `plaintext` for the browser whose subscription holds `ua_public` (its `p256dh`)
/// and `auth`, with a fresh salt and key pair.
pub fn encrypt(ua_public: &[u8], auth: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, PushError> {
    let rng = rand::SystemRandom::new();
    let mut salt = [0u8; 16];
    rand::SecureRandom::fill(&rng, &mut salt).map_err(|_| PushError::Crypto)?;
    let key = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng).map_err(|_| PushError::Crypto)?;
    encrypt_with(ua_public, auth, plaintext, salt, key)
}

fn encrypt_with(ua_public: &[u8], auth: &[u8], plaintext: &[u8], salt: [u8; 16], key: agreement::EphemeralPrivateKey) -> Result<Vec<u8>, PushError> {
    if ua_public.len() != 65 || ua_public[0] != 0x04 {
        return Err(PushError::BadKey);
    }
    if auth.len() != 16 {
        return Err(PushError::BadAuth);
    }
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(PushError::TooLong(plaintext.len()));
    }
    let as_public = key.compute_public_key().map_err(|_| PushError::Crypto)?.as_ref().to_vec();
    let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, ua_public);
    let ecdh = agreement::agree_ephemeral(key, peer, PushError::BadKey, |secret| Ok(secret.to_vec()))?;

    let mut info = b"WebPush: info\0".to_vec();
    info.extend_from_slice(ua_public);
    info.extend_from_slice(&as_public);
    let ikm = expand(&hkdf::Salt::new(hkdf::HKDF_SHA256, auth).extract(&ecdh), &info, 32)?;
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &salt).extract(&ikm);
    let cek = expand(&prk, b"Content-Encoding: aes128gcm\0", 16)?;
    let nonce = expand(&prk, b"Content-Encoding: nonce\0", 12)?;

    let sealing = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, &cek).map_err(|_| PushError::Crypto)?);
    let mut record = plaintext.to_vec();
    record.push(0x02); // the last (and only) record's padding delimiter
    let nonce = aead::Nonce::try_assume_unique_for_key(&nonce).map_err(|_| PushError::Crypto)?;
    sealing.seal_in_place_append_tag(nonce, aead::Aad::empty(), &mut record).map_err(|_| PushError::Crypto)?;

    let mut body = Vec::with_capacity(16 + 4 + 1 + 65 + record.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(as_public.len() as u8);
    body.extend_from_slice(&as_public);
    body.extend_from_slice(&record);
    Ok(body)
}

/// HKDF-Expand to `len` bytes.
fn expand(prk: &hkdf::Prk, info: &[u8], len: usize) -> Result<Vec<u8>, PushError> {
    struct Len(usize);
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    let mut out = vec![0u8; len];
    prk.expand(&[info], Len(len)).and_then(|okm| okm.fill(&mut out)).map_err(|_| PushError::Crypto)?;
    Ok(out)
}


// ---- VAPID (RFC 8292) -------------------------------------------------------------------

/// The daemon's application server key: a P-256 key pair made once and kept in the data dir
/// (PKCS#8, mode 0600). Its public key is what the page subscribes with; each push request
/// carries an ES256 JWT signed with it, so a push service takes messages for that
/// subscription only from this daemon.
pub struct Vapid {
    key: aws_lc_rs::signature::EcdsaKeyPair,
    /// The uncompressed public point (65 bytes).
    public: Vec<u8>,
}

/// The contact a push service may write to about this sender (RFC 8292 section 2.1, `sub`).
pub const DEFAULT_CONTACT: &str = "mailto:capcom@localhost";
/// How long a VAPID token lives (RFC 8292 section 2: no more than 24 hours).
pub const TOKEN_LIFE: chrono::Duration = chrono::Duration::hours(12);

impl Vapid {
    /// Read the key at `path`, or make one and write it there (0600).
    pub fn load_or_create(path: &std::path::Path) -> Result<Vapid, String> {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING as ALG, EcdsaKeyPair, KeyPair};
        let der = match std::fs::read(path) {
            Ok(der) => der,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let made = EcdsaKeyPair::generate_pkcs8(&ALG, &rand::SystemRandom::new()).map_err(|_| "cannot make a VAPID key".to_string())?;
                crate::private::write_private(path, made.as_ref()).map_err(|e| format!("cannot write {}: {e:#}", path.display()))?;
                made.as_ref().to_vec()
            }
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let key = EcdsaKeyPair::from_pkcs8(&ALG, &der).map_err(|_| format!("{} is not a P-256 key: delete it and a new one is made (phones then subscribe again)", path.display()))?;
        let public = key.public_key().as_ref().to_vec();
        Ok(Vapid { key, public })
    }

    /// The public key as the page's `applicationServerKey` takes it: base64url, no padding.
    pub fn public_key(&self) -> String {
        b64(&self.public)
    }

    /// The `Authorization` header for a push to `endpoint`: `vapid t=<JWT>, k=<public key>`
    /// (RFC 8292 section 3), with `aud` the endpoint's origin and `exp` [`TOKEN_LIFE`] from `now`.
    pub fn authorization(&self, endpoint: &str, contact: &str, now: chrono::DateTime<chrono::Utc>) -> Result<String, String> {
        let aud = origin(endpoint)?;
        let header = b64(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({ "aud": aud, "exp": (now + TOKEN_LIFE).timestamp(), "sub": contact });
        let signing_input = format!("{header}.{}", b64(claims.to_string().as_bytes()));
        let sig = self.key.sign(&rand::SystemRandom::new(), signing_input.as_bytes()).map_err(|_| "cannot sign the VAPID token".to_string())?;
        Ok(format!("vapid t={signing_input}.{}, k={}", b64(sig.as_ref()), self.public_key()))
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s.trim().trim_end_matches('=')).ok()
}

/// `scheme://host[:port]` of a URL.
fn origin(endpoint: &str) -> Result<String, String> {
    let u = reqwest::Url::parse(endpoint).map_err(|e| format!("the endpoint is not a URL: {e}"))?;
    let host = u.host_str().ok_or("the endpoint has no host")?;
    Ok(match u.port() {
        Some(p) => format!("{}://{host}:{p}", u.scheme()),
        None => format!("{}://{host}", u.scheme()),
    })
}

// ---- subscriptions ----------------------------------------------------------------------

pub use crate::store::{PushKeys as SubscriptionKeys, PushSubscription as Subscription};

/// Check what a page sent: an https endpoint (plain http only to this computer, for tests
/// and local push services), a 65-byte P-256 key and a 16-byte auth secret, base64url.
pub fn check(sub: &Subscription) -> Result<(), String> {
    let u = reqwest::Url::parse(&sub.endpoint).map_err(|e| format!("the endpoint is not a URL: {e}"))?;
    let host = u.host_str().ok_or("the endpoint has no host")?;
    let loopback = host == "localhost" || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match u.scheme() {
        "https" => {}
        "http" if loopback => {}
        s => return Err(format!("the endpoint must be https (it is {s}:)")),
    }
    if sub.endpoint.len() > 2048 {
        return Err("the endpoint is longer than 2048 characters".into());
    }
    let key = unb64(&sub.keys.p256dh).ok_or("keys.p256dh is not base64url")?;
    if key.len() != 65 || key[0] != 0x04 {
        return Err(format!("keys.p256dh must be an uncompressed P-256 point (65 bytes), not {} bytes", key.len()));
    }
    let auth = unb64(&sub.keys.auth).ok_or("keys.auth is not base64url")?;
    if auth.len() != 16 {
        return Err(format!("keys.auth must be 16 bytes, not {}", auth.len()));
    }
    Ok(())
}

// ---- sending ----------------------------------------------------------------------------

/// What a push service said to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Taken (RFC 8030 section 5: 201 Created).
    Accepted,
    /// The subscription is gone (404 or 410): forget it.
    Gone,
    /// Anything else (the status), or no answer (0): tried again with the next message.
    Failed(u16),
}

impl Delivery {
    pub fn of_status(status: u16) -> Delivery {
        match status {
            200..=299 => Delivery::Accepted,
            404 | 410 => Delivery::Gone,
            s => Delivery::Failed(s),
        }
    }
}

/// One push request: the endpoint, its headers and the encrypted body.
pub struct PushRequest {
    pub endpoint: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// The outside system: a push service reached over HTTP.
#[async_trait::async_trait]
pub trait Sender: Send + Sync + 'static {
    async fn send(&self, req: PushRequest) -> Delivery;
}

/// The real sender: an HTTP POST (reqwest).
pub struct HttpSender(pub reqwest::Client);

#[async_trait::async_trait]
impl Sender for HttpSender {
    async fn send(&self, req: PushRequest) -> Delivery {
        let mut r = self.0.post(&req.endpoint).timeout(std::time::Duration::from_secs(30)).body(req.body);
        for (k, v) in req.headers {
            r = r.header(k, v);
        }
        match r.send().await {
            Ok(resp) => Delivery::of_status(resp.status().as_u16()),
            Err(e) => {
                // the endpoint's path is the subscription's secret: only its origin is logged
                tracing::warn!(push_service = %origin(&req.endpoint).unwrap_or_default(), error = %e.without_url(), "cannot reach the push service");
                Delivery::Failed(0)
            }
        }
    }
}

/// Something that needs the user, as the page notifies about it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Need {
    /// What identifies this need (a task in a state, a session at an event): told once. The
    /// notification's tag, the same the open page gives its own, so one need shows once.
    #[serde(rename = "tag")]
    pub key: String,
    pub title: String,
    pub body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<i64>,
}

/// The tasks and outside sessions that need the user now (the same as the page's list).
pub fn needs_now(tasks: &[crate::store::Task], sessions: &[crate::store::OutsideSession]) -> Vec<Need> {
    use crate::store::TaskState;
    let mut out = Vec::new();
    for t in tasks {
        if matches!(t.state, TaskState::NeedsAttention | TaskState::Failed | TaskState::Held) {
            let state = serde_json::to_value(t.state).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
            let body = match t.reason.as_deref() {
                Some(r) if !r.is_empty() => format!("{}: {r}", t.title),
                _ => t.title.clone(),
            };
            out.push(Need { key: format!("task-{}-{state}", t.id), title: format!("Task {} needs you", t.id), body: clip(&body), task: Some(t.id) });
        }
    }
    for s in sessions.iter().filter(|s| s.waiting) {
        let body = s.last_message.clone().or_else(|| s.repo.clone()).unwrap_or_else(|| s.folder.clone().unwrap_or_default());
        out.push(Need { key: format!("session-{}-{}-{}", s.agent, s.session_id, s.last_event), title: format!("{} needs you", s.agent), body: clip(&body), task: None });
    }
    out
}

/// A notification's text, short enough for one push message.
fn clip(s: &str) -> String {
    if s.chars().count() <= 300 { s.to_string() } else { s.chars().take(299).chain(['…']).collect() }
}

/// The needs in `now` not already in `told` (then remembered); `told` keeps only what is
/// still current, so a task that needs the user again later is told again.
pub fn newly(told: &mut std::collections::HashSet<String>, now: Vec<Need>) -> Vec<Need> {
    let current: std::collections::HashSet<String> = now.iter().map(|n| n.key.clone()).collect();
    let fresh = now.into_iter().filter(|n| !told.contains(&n.key)).collect();
    *told = current;
    fresh
}

/// Sends "needs you" messages to every subscribed device.
pub struct Notifier {
    pub store: crate::store::Store,
    pub vapid: std::sync::Arc<Vapid>,
    pub sender: std::sync::Arc<dyn Sender>,
    pub contact: String,
}

impl Notifier {
    /// Watch the store (once a second, and only read when it changed) and push what newly
    /// needs the user. What already needs the user when the daemon starts is not pushed again.
    pub fn spawn(self, mut stop: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut told = None::<std::collections::HashSet<String>>;
            let mut seen = None;
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.changed() => if *stop.borrow() { break },
                }
                let store = self.store.clone();
                let read = tokio::task::spawn_blocking(move || -> Result<_, crate::store::StoreError> {
                    let stamp = store.change_stamp()?;
                    Ok((stamp, store.board_tasks(chrono::Utc::now() - chrono::Duration::days(1))?.0, store.outside_sessions()?))
                })
                .await;
                let (stamp, tasks, sessions) = match read {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => { tracing::warn!(error = %e, "push: cannot read the tasks"); continue }
                    Err(_) => continue,
                };
                if seen == Some(stamp) {
                    continue;
                }
                seen = Some(stamp);
                let now = needs_now(&tasks, &sessions);
                let Some(t) = told.as_mut() else {
                    told = Some(now.into_iter().map(|n| n.key).collect());
                    continue;
                };
                for need in newly(t, now) {
                    self.push(&need).await;
                }
            }
        })
    }

    /// Send one need to every subscription; forget those the push service says are gone.
    pub async fn push(&self, need: &Need) {
        let store = self.store.clone();
        let subs = match tokio::task::spawn_blocking(move || store.push_subscriptions()).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return tracing::warn!(error = %e, "push: cannot read the subscriptions"),
            Err(_) => return,
        };
        let payload = serde_json::to_vec(need).unwrap_or_default();
        for sub in subs {
            let (Some(key), Some(auth)) = (unb64(&sub.keys.p256dh), unb64(&sub.keys.auth)) else { continue };
            let body = match encrypt(&key, &auth, &payload) {
                Ok(b) => b,
                Err(e) => { tracing::warn!(error = %e, "push: cannot encrypt for a subscription"); continue }
            };
            let vapid = match self.vapid.authorization(&sub.endpoint, &self.contact, chrono::Utc::now()) {
                Ok(v) => v,
                Err(e) => { tracing::warn!(error = %e, "push: cannot sign for a subscription"); continue }
            };
            let req = PushRequest {
                endpoint: sub.endpoint.clone(),
                headers: vec![
                    ("content-encoding", "aes128gcm".into()),
                    ("content-type", "application/octet-stream".into()),
                    // a day: a phone that is off for the night still hears of it in the morning
                    ("ttl", "86400".into()),
                    ("urgency", "high".into()),
                    ("authorization", vapid),
                ],
                body,
            };
            let service = origin(&sub.endpoint).unwrap_or_default();
            match self.sender.send(req).await {
                Delivery::Accepted => tracing::info!(push_service = %service, "pushed a needs-you message"),
                Delivery::Gone => {
                    tracing::info!(push_service = %service, "the push service says a subscription is gone; forgetting it");
                    let store = self.store.clone();
                    let endpoint = sub.endpoint.clone();
                    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || store.remove_push_subscription(&endpoint)).await {
                        tracing::warn!(error = %e, "push: cannot forget a subscription");
                    }
                }
                Delivery::Failed(status) => tracing::warn!(push_service = %service, status, "the push service refused a message"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_subscriptions_and_long_messages_are_refused() {
        let good_key = {
            let rng = rand::SystemRandom::new();
            let k = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng).unwrap();
            k.compute_public_key().unwrap().as_ref().to_vec()
        };
        assert_eq!(encrypt(&good_key[1..], &[0; 16], b"x"), Err(PushError::BadKey));
        assert_eq!(encrypt(&[0x04; 65], &[0; 16], b"x"), Err(PushError::BadKey), "not a point on the curve");
        assert_eq!(encrypt(&good_key, &[0; 15], b"x"), Err(PushError::BadAuth));
        assert_eq!(encrypt(&good_key, &[0; 16], &[b'x'; MAX_PLAINTEXT + 1]), Err(PushError::TooLong(MAX_PLAINTEXT + 1)));
        let body = encrypt(&good_key, &[7; 16], b"task 4 needs you").unwrap();
        // header, then the record: plaintext, delimiter and a 16-byte tag
        assert_eq!(body.len(), 16 + 4 + 1 + 65 + 16 + 1 + 16);
        assert_eq!(&body[16..20], &4096u32.to_be_bytes());
        assert_eq!(body[20], 65);
        assert_ne!(encrypt(&good_key, &[7; 16], b"task 4 needs you").unwrap(), body, "a fresh salt and key each time");
    }

    fn sub(endpoint: &str, p256dh: &str, auth: &str) -> Subscription {
        Subscription { endpoint: endpoint.into(), keys: SubscriptionKeys { p256dh: p256dh.into(), auth: auth.into() } }
    }

    #[test]
    fn subscriptions_are_checked_before_they_are_kept() {
        let key = b64(&[4; 65]);
        let auth = b64(&[1; 16]);
        let ok = "https://fcm.googleapis.com/fcm/send/abc";
        let cases: &[(Subscription, Option<&str>)] = &[
            (sub(ok, &key, &auth), None),
            (sub("http://127.0.0.1:9/push/1", &key, &auth), None),
            (sub("http://[::1]:9/push/1", &key, &auth), None),
            (sub("http://localhost:9/push/1", &key, &auth), None),
            (sub("http://push.example.com/1", &key, &auth), Some("must be https")),
            (sub("ftp://127.0.0.1/1", &key, &auth), Some("must be https")),
            (sub("not a url", &key, &auth), Some("not a URL")),
            (sub(ok, &b64(&[4; 64]), &auth), Some("65 bytes), not 64")),
            (sub(ok, &b64(&[2; 65]), &auth), Some("uncompressed")),
            (sub(ok, "!!", &auth), Some("p256dh is not base64url")),
            (sub(ok, &key, &b64(&[1; 15])), Some("16 bytes, not 15")),
            (sub(ok, &key, "%%"), Some("auth is not base64url")),
            (sub(&format!("{ok}/{}", "a".repeat(2100)), &key, &auth), Some("longer than 2048")),
        ];
        for (s, want) in cases {
            match (check(s), want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert!(e.contains(w), "{}: {e}", s.endpoint),
                (got, want) => panic!("{}: got {got:?}, want {want:?}", s.endpoint),
            }
        }
    }

    #[test]
    fn push_service_answers_map_to_deliveries() {
        for (status, want) in [(201, Delivery::Accepted), (200, Delivery::Accepted), (404, Delivery::Gone), (410, Delivery::Gone), (413, Delivery::Failed(413)), (429, Delivery::Failed(429)), (500, Delivery::Failed(500))] {
            assert_eq!(Delivery::of_status(status), want, "{status}");
        }
    }

    #[test]
    fn a_need_is_told_once_while_it_lasts_and_again_when_it_returns() {
        let need = |k: &str| Need { key: k.into(), title: k.into(), body: String::new(), task: None };
        let mut told = std::collections::HashSet::new();
        assert_eq!(newly(&mut told, vec![need("task-1-failed")]).len(), 1);
        assert!(newly(&mut told, vec![need("task-1-failed")]).is_empty());
        let fresh = newly(&mut told, vec![need("task-1-failed"), need("task-2-held")]);
        assert_eq!(fresh.iter().map(|n| n.key.as_str()).collect::<Vec<_>>(), ["task-2-held"]);
        assert!(newly(&mut told, vec![]).is_empty());
        assert_eq!(newly(&mut told, vec![need("task-1-failed")]).len(), 1, "needed again after it was handled");
    }

    #[test]
    fn the_vapid_key_is_kept_private_and_its_token_verifies() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vapid.p8");
        let v = Vapid::load_or_create(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(Vapid::load_or_create(&path).unwrap().public_key(), v.public_key(), "made once, then read");
        let now = chrono::Utc::now();
        let h = v.authorization("https://push.example.net:8443/wp/abc?x=1", DEFAULT_CONTACT, now).unwrap();
        let (t, k) = h.strip_prefix("vapid t=").unwrap().split_once(", k=").unwrap();
        assert_eq!(k, v.public_key());
        let (signed, sig) = t.rsplit_once('.').unwrap();
        let public = unb64(k).unwrap();
        assert_eq!(public.len(), 65);
        aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED, &public)
            .verify(signed.as_bytes(), &unb64(sig).unwrap())
            .expect("the token is signed by the served key");
        let claims: serde_json::Value = serde_json::from_slice(&unb64(signed.split_once('.').unwrap().1).unwrap()).unwrap();
        assert_eq!(claims["aud"], "https://push.example.net:8443");
        assert_eq!(claims["sub"], DEFAULT_CONTACT);
        let exp = claims["exp"].as_i64().unwrap();
        assert!(exp > now.timestamp() && exp <= (now + chrono::Duration::hours(24)).timestamp());
        std::fs::write(&path, b"garbage").unwrap();
        assert!(Vapid::load_or_create(&path).err().unwrap().contains("delete it"));
    }
}
