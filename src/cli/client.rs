//! The CLI's client of the daemon's local API.

use crate::config::DataDir;
use serde::de::DeserializeOwned;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the capcom daemon is not running ({0}); start it with `capcom daemon` (or `capcom daemon --headless`)")]
    NotRunning(String),
    #[error("{0}")]
    Api(String),
    /// The daemon refused the request as malformed (an unknown filter, a bad period):
    /// a usage mistake, which exits 2 like clap's own.
    #[error("{0}")]
    Usage(String),
    #[error("cannot talk to the daemon: {0}")]
    Transport(String),
}

pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    /// Find the running daemon through the data dir's `api.addr` and `api.token`.
    pub fn connect(data: &DataDir) -> Result<Client, ClientError> {
        let addr = std::fs::read_to_string(data.addr())
            .map_err(|_| ClientError::NotRunning(format!("no {}", data.addr().display())))?;
        let token = std::fs::read_to_string(data.token())
            .map_err(|e| ClientError::NotRunning(format!("cannot read {}: {e}", data.token().display())))?;
        let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(120)).connect_timeout(Duration::from_secs(3)).no_proxy();
        let mut base = format!("http://{}", addr.trim());
        // Beyond loopback the daemon serves HTTPS with its own certificate: trust exactly that one.
        if let Ok(sock) = addr.trim().parse::<std::net::SocketAddr>()
            && crate::web::tls::needs_tls(sock)
            && let Ok(pem) = std::fs::read(data.root().join("tls.crt"))
        {
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| ClientError::Transport(e.to_string()))?;
            builder = builder.tls_certs_only([cert]);
            base = if sock.ip().is_unspecified() { format!("https://localhost:{}", sock.port()) } else { format!("https://{sock}") };
        }
        let http = builder.build().map_err(|e| ClientError::Transport(e.to_string()))?;
        Ok(Client { base, token: token.trim().to_string(), http })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let req = self.http.get(format!("{}{}", self.base, path)).bearer_auth(&self.token);
        self.send(req).await
    }

    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &serde_json::Value) -> Result<T, ClientError> {
        let req = self.http.post(format!("{}{}", self.base, path)).bearer_auth(&self.token).json(body);
        self.send(req).await
    }

    /// A POST that is safe to send again: it carries a fresh random `Idempotency-Key`, and a
    /// send that failed on the way (the connection refused or broken, so the answer may be lost)
    /// is tried once more with the same key, which the daemon answers without acting twice.
    pub async fn post_once<T: DeserializeOwned>(&self, path: &str, body: &serde_json::Value) -> Result<T, ClientError> {
        let key = format!("{:032x}", rand::random::<u128>());
        let req = || self.http.post(format!("{}{}", self.base, path)).bearer_auth(&self.token).header("Idempotency-Key", &key).json(body);
        match self.send(req()).await {
            Err(ClientError::NotRunning(_) | ClientError::Transport(_)) => {
                tracing::debug!("the brief's send failed on the way; sending it again with its key");
                tokio::time::sleep(Duration::from_millis(500)).await;
                self.send(req()).await
            }
            done => done,
        }
    }

    async fn send<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T, ClientError> {
        let resp = req.send().await.map_err(|e| {
            if e.is_connect() {
                ClientError::NotRunning(format!("nothing answers at {}", self.base))
            } else {
                ClientError::Transport(e.to_string())
            }
        })?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| ClientError::Transport(e.to_string()))?;
        if !status.is_success() {
            let msg = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(String::from))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            // The daemon's message is written for a person; the status code is not.
            tracing::debug!(status = status.as_u16(), "the daemon refused a request");
            return Err(if status == reqwest::StatusCode::BAD_REQUEST { ClientError::Usage(msg) } else { ClientError::Api(msg) });
        }
        serde_json::from_slice(&body).map_err(|e| ClientError::Transport(format!("bad reply from the daemon: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Read one request head (and its small body) off `s`; return its Idempotency-Key.
    async fn key_of(s: &mut tokio::net::TcpStream) -> Option<String> {
        let mut buf = vec![0u8; 8192];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).await.ok()?;
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        let head = String::from_utf8_lossy(&got).to_lowercase();
        head.lines().find_map(|l| l.strip_prefix("idempotency-key:").map(|v| v.trim().to_string()))
    }

    #[tokio::test]
    async fn a_brief_lost_on_the_way_is_sent_once_more_with_the_same_key() {
        // A daemon that hangs up on the first request (its answer lost) and answers the second.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let mut keys = Vec::new();
            let (mut s, _) = listener.accept().await.unwrap();
            keys.push(key_of(&mut s).await);
            drop(s);
            let (mut s, _) = listener.accept().await.unwrap();
            keys.push(key_of(&mut s).await);
            let body = r#"{"ok":true,"say":"Task 1"}"#;
            let resp = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            s.write_all(resp.as_bytes()).await.unwrap();
            keys
        });
        let c = Client { base: format!("http://{addr}"), token: "t".into(), http: reqwest::Client::builder().no_proxy().build().unwrap() };
        let answer: serde_json::Value = c.post_once("/v1/brief", &serde_json::json!({ "text": "fix it" })).await.unwrap();
        assert_eq!(answer["say"], "Task 1");
        let keys = server.await.unwrap();
        let first = keys[0].clone().expect("the first send has a key");
        assert_eq!(first.len(), 32, "{first}");
        assert_eq!(keys[1].as_deref(), Some(first.as_str()), "the same key on the retry");
    }
}
