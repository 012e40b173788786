//! Built-in HTTPS for a daemon that listens beyond loopback: browsers give the
//! microphone only to a secure context. A self-signed certificate is made on
//! first start (rcgen), kept in the data dir (0600), and served with rustls.
//! The phone is told its SHA-256 fingerprint to compare.

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The certificate in use.
pub struct Cert {
    pub acceptor: TlsAcceptor,
    /// `AB:CD:…`, the SHA-256 of the DER certificate.
    pub fingerprint: String,
    /// Whether it was made just now.
    pub created: bool,
}

/// The names a self-signed certificate covers: localhost, the machine's name, and the addresses.
fn names(bound: SocketAddr) -> Vec<String> {
    let mut v = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname")
        && let h = h.trim()
        && !h.is_empty()
    {
        v.push(h.to_string());
        v.push(format!("{h}.local"));
    }
    let ip = if bound.ip().is_unspecified() { super::lan_ip() } else { Some(bound.ip()) };
    if let Some(ip) = ip {
        v.push(ip.to_string());
    }
    v.sort();
    v.dedup();
    v
}

/// `AB:CD:…` for DER bytes.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// Load `tls.crt`/`tls.key` from `dir`, or make them (mode 0600) when absent.
pub fn ensure(dir: &Path, bound: SocketAddr) -> anyhow::Result<Cert> {
    let crt = dir.join("tls.crt");
    let key = dir.join("tls.key");
    let mut created = false;
    if !crt.exists() || !key.exists() {
        let made = rcgen::generate_simple_self_signed(names(bound)).context("cannot make a self-signed certificate")?;
        crate::private::write_private(&key, made.signing_key.serialize_pem().as_bytes())?;
        crate::private::write_private(&crt, made.cert.pem().as_bytes())?;
        created = true;
    }
    let cert = CertificateDer::from_pem_file(&crt).with_context(|| format!("cannot read the certificate {}", crt.display()))?;
    let pkey = PrivateKeyDer::from_pem_file(&key).with_context(|| format!("cannot read the private key {}", key.display()))?;
    let fp = fingerprint(cert.as_ref());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS setup")?
    .with_no_client_auth()
    .with_single_cert(vec![cert], pkey)
    .with_context(|| format!("the certificate {} and key {} do not fit together; delete both to make new ones", crt.display(), key.display()))?;
    let mut config = config;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Cert { acceptor: TlsAcceptor::from(Arc::new(config)), fingerprint: fp, created })
}

/// Whether an address needs HTTPS: anything but loopback.
pub fn needs_tls(addr: SocketAddr) -> bool {
    !matches!(addr.ip(), IpAddr::V4(v4) if v4.is_loopback()) && !matches!(addr.ip(), IpAddr::V6(v6) if v6.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_is_made_once_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let bound: SocketAddr = "192.168.7.9:7471".parse().unwrap();
        let a = ensure(dir.path(), bound).unwrap();
        assert!(a.created);
        assert_eq!(a.fingerprint.len(), 32 * 3 - 1);
        for f in ["tls.crt", "tls.key"] {
            let mode = std::fs::metadata(dir.path().join(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f}");
        }
        let b = ensure(dir.path(), bound).unwrap();
        assert!(!b.created);
        assert_eq!(a.fingerprint, b.fingerprint);
        assert!(needs_tls("0.0.0.0:1".parse().unwrap()));
        assert!(!needs_tls("127.0.0.1:1".parse().unwrap()));
        assert!(!needs_tls("[::1]:1".parse().unwrap()));
    }
}
