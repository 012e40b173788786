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
}
