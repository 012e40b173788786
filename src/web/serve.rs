//! Serving the API, the page and the feed: one accept loop for HTTP and HTTPS that no
//! flood of idle connections can lock out.
//!
//! - A connection limit well under the open-file limit (half the current soft limit, at most
//!   [`Limits::max_conns`]). At the limit, the connection that has been idle longest (no
//!   request in flight, no response still streaming) is closed to make room, the way nginx
//!   reuses idle keep-alive connections when it runs short; only when every connection is
//!   busy is a new one refused.
//! - Per-peer limits for addresses beyond loopback ([`Limits::per_peer`]); the CLI and tools
//!   on this machine are not limited by address.
//! - Timeouts: a connection that has not sent a whole request head within
//!   [`Limits::header_read`] is closed, and so is one idle for [`Limits::idle`] after its last
//!   response. A live stream (the board's events) is busy, never idle.
//!
//! The decisions ([`admit`], [`stale`]) are pure and table-tested; the loop carries them out.

use axum::Router;
use axum::extract::ConnectInfo;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio_rustls::TlsAcceptor;

/// The limits of [`serve`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections at most (and never more than half the open-file limit).
    pub max_conns: usize,
    /// Connections from one address beyond loopback.
    pub per_peer: usize,
    /// A new connection's whole request head must arrive within this.
    pub header_read: Duration,
    /// A connection with nothing in flight is closed after this.
    pub idle: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_conns: 1024, per_peer: 32, header_read: Duration::from_secs(10), idle: Duration::from_secs(60) }
    }
}

/// One open connection, as the decisions see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Open {
    pub id: u64,
    pub peer: IpAddr,
    /// A request is in flight or a response is still being sent.
    pub busy: bool,
    /// It has sent at least one whole request.
    pub served: bool,
    /// Milliseconds (of the loop's clock) of its last activity: opened, a request began or ended.
    pub last: u64,
}

/// What to do with a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Accept,
    /// Accept it, and close this idle connection to make room.
    Evict(u64),
    Refuse,
}

/// Whether a connection from `peer` may open beside `open`, with at most `cap` in all.
pub fn admit(open: &[Open], peer: IpAddr, cap: usize, per_peer: usize) -> Admit {
    let oldest_idle = |keep: &dyn Fn(&Open) -> bool| open.iter().filter(|o| !o.busy && keep(o)).min_by_key(|o| (o.last, o.id)).map(|o| o.id);
    if !peer.is_loopback() && open.iter().filter(|o| o.peer == peer).count() >= per_peer {
        return oldest_idle(&|o| o.peer == peer).map_or(Admit::Refuse, Admit::Evict);
    }
    if open.len() >= cap {
        return oldest_idle(&|_| true).map_or(Admit::Refuse, Admit::Evict);
    }
    Admit::Accept
}

/// The connections to close at `now`: idle past the header-read timeout without a whole
/// request yet, or idle past the idle timeout after one.
pub fn stale(open: &[Open], now: u64, limits: &Limits) -> Vec<u64> {
    open.iter()
        .filter(|o| !o.busy)
        .filter(|o| {
            let limit = if o.served { limits.idle } else { limits.header_read };
            now.saturating_sub(o.last) >= limit.as_millis() as u64
        })
        .map(|o| o.id)
        .collect()
}

/// Half the soft open-file limit: the rest is for the database, logs, agents' pipes and files.
fn fd_room() -> usize {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 512;
    }
    usize::try_from(lim.rlim_cur / 2).unwrap_or(usize::MAX).max(16)
}

/// Raise the soft open-file limit to the hard one (at most `want`): systemd gives services a
/// soft limit of 1,024 for the sake of `select()`, which capcom does not use.
pub fn raise_fd_limit(want: u64) {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < want.min(lim.rlim_max) {
            lim.rlim_cur = want.min(lim.rlim_max);
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// What the loop and a connection's requests share about it.
struct Conn {
    peer: IpAddr,
    busy: AtomicUsize,
    served: AtomicBool,
    last: AtomicU64,
    close: Notify,
}

#[derive(Clone)]
struct Table {
    conns: Arc<Mutex<HashMap<u64, Arc<Conn>>>>,
    epoch: Instant,
}

impl Table {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }
    fn view(&self) -> Vec<Open> {
        let map = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .map(|(id, c)| Open {
                id: *id,
                peer: c.peer,
                busy: c.busy.load(Ordering::Acquire) > 0,
                served: c.served.load(Ordering::Acquire),
                last: c.last.load(Ordering::Acquire),
            })
            .collect()
    }
    fn close(&self, id: u64) {
        if let Some(c) = self.conns.lock().unwrap_or_else(|p| p.into_inner()).remove(&id) {
            c.close.notify_one();
        }
    }
}

/// The connection a request came on (an extension each connection's router carries).
#[derive(Clone)]
struct ConnRef(Arc<Conn>, Instant);

/// Marks the connection busy from a request's start until its response body is done.
async fn track(req: Request, next: Next) -> Response {
    let Some(ConnRef(conn, epoch)) = req.extensions().get::<ConnRef>().cloned() else { return next.run(req).await };
    conn.busy.fetch_add(1, Ordering::AcqRel);
    conn.served.store(true, Ordering::Release);
    conn.last.store(epoch.elapsed().as_millis() as u64, Ordering::Release);
    let guard = Busy(conn, epoch);
    let resp = next.run(req).await;
    resp.map(|body| axum::body::Body::new(Tracked { body, _busy: guard }))
}

struct Busy(Arc<Conn>, Instant);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.last.store(self.1.elapsed().as_millis() as u64, Ordering::Release);
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its connection busy until it is sent or dropped.
struct Tracked {
    body: axum::body::Body,
    _busy: Busy,
}

impl http_body::Body for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }
    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Serve `app` (over TLS when `tls` is given) until `stop` turns true. Each request carries
/// its peer address (`ConnectInfo<SocketAddr>`) for the rate limiters.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;
    let app = app.layer(axum::middleware::from_fn(track));
    let table = Table { conns: Arc::default(), epoch: Instant::now() };
    let reaper = {
        let (table, mut stop) = (table.clone(), stop.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = super::stopped(&mut stop) => return,
                }
                for id in stale(&table.view(), table.now(), &limits) {
                    table.close(id);
                }
            }
        })
    };
    let mut next_id: u64 = 0;
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors: make room by closing the longest idle connection.
                    let room = admit(&table.view(), IpAddr::from([127, 0, 0, 1]), 0, usize::MAX);
                    if let Admit::Evict(id) = room {
                        table.close(id);
                        tokio::task::yield_now().await;
                    } else {
                        tracing::debug!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    continue;
                }
            },
            _ = super::stopped(&mut stop) => break,
        };
        let cap = limits.max_conns.min(fd_room());
        match admit(&table.view(), peer.ip(), cap, limits.per_peer) {
            Admit::Accept => {}
            Admit::Evict(id) => table.close(id),
            Admit::Refuse => {
                tracing::debug!(%peer, "connection refused: every connection is busy");
                drop(tcp);
                continue;
            }
        }
        next_id += 1;
        let id = next_id;
        let conn = Arc::new(Conn {
            peer: peer.ip(),
            busy: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            last: AtomicU64::new(table.now()),
            close: Notify::new(),
        });
        table.conns.lock().unwrap_or_else(|p| p.into_inner()).insert(id, conn.clone());
        let app = app.clone().layer(axum::Extension(ConnectInfo(peer))).layer(axum::Extension(ConnRef(conn.clone(), table.epoch)));
        let (tls, table, mut stop) = (tls.clone(), table.clone(), stop.clone());
        tokio::spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read);
            builder.http2().timer(TokioTimer::new());
            let served = async {
                match tls {
                    Some(acceptor) => {
                        let stream = match tokio::time::timeout(limits.header_read, acceptor.accept(tcp)).await {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => return,
                        };
                        let c = builder.serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(app));
                        if let Err(e) = c.await {
                            tracing::debug!(%peer, error = %e, "connection ended");
                        }
                    }
                    None => {
                        let c = builder.serve_connection_with_upgrades(TokioIo::new(tcp), TowerToHyperService::new(app));
                        if let Err(e) = c.await {
                            tracing::debug!(%peer, error = %e, "connection ended");
                        }
                    }
                }
            };
            // Closing (a timeout, room for another) and stopping drop the connection; a live
            // stream would otherwise hold a graceful close open.
            tokio::select! {
                _ = served => {}
                _ = conn.close.notified() => {}
                _ = super::stopped(&mut stop) => {}
            }
            table.conns.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        });
    }
    reaper.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(id: u64, peer: &str, busy: bool, served: bool, last: u64) -> Open {
        Open { id, peer: peer.parse().unwrap(), busy, served, last }
    }

    #[test]
    fn admission_makes_room_by_closing_the_longest_idle_connection() {
        let lo = "127.0.0.1";
        let lan = "192.168.1.9";
        let other = "192.168.1.10";
        let full_idle = [open(1, lo, false, false, 30), open(2, lo, false, true, 10), open(3, lo, true, true, 0)];
        let all_busy = [open(1, lo, true, true, 0), open(2, lan, true, true, 0)];
        let lan_many: Vec<Open> = (1..=4).map(|i| open(i, lan, i != 3, true, i)).collect();
        let lan_all_busy: Vec<Open> = (1..=4).map(|i| open(i, lan, true, true, i)).collect();
        let cases: Vec<(&str, &[Open], &str, usize, usize, Admit)> = vec![
            ("room left", &full_idle, lo, 10, 4, Admit::Accept),
            ("full: the longest idle goes, busy ones stay", &full_idle, lo, 3, 4, Admit::Evict(2)),
            ("full and every one busy", &all_busy, lo, 2, 4, Admit::Refuse),
            ("a peer at its limit: its own idle one goes", &lan_many, lan, 100, 4, Admit::Evict(3)),
            ("a peer at its limit, all busy", &lan_all_busy, lan, 100, 4, Admit::Refuse),
            ("another peer is not held back by it", &lan_all_busy, other, 100, 4, Admit::Accept),
            ("loopback has no per-peer limit", &full_idle, lo, 100, 1, Admit::Accept),
        ];
        for (what, conns, peer, cap, per_peer, want) in cases {
            assert_eq!(admit(conns, peer.parse().unwrap(), cap, per_peer), want, "{what}");
        }
    }

    #[test]
    fn idle_connections_time_out_and_busy_ones_never_do() {
        let limits = Limits { max_conns: 10, per_peer: 4, header_read: Duration::from_secs(10), idle: Duration::from_secs(60) };
        let conns = [
            open(1, "127.0.0.1", false, false, 0),     // never sent a request head: header-read timeout
            open(2, "127.0.0.1", false, true, 0),      // served, idle 30 s: stays
            open(3, "127.0.0.1", true, true, 0),       // a live stream: busy, stays
            open(4, "127.0.0.1", false, true, 0),      // idle long after its last response
            open(5, "127.0.0.1", false, false, 25_000), // just opened
        ];
        assert_eq!(stale(&conns, 30_000, &limits), vec![1]);
        assert_eq!(stale(&conns, 61_000, &limits), vec![1, 2, 4, 5]);
    }
}
