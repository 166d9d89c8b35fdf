//! Transports: plain TCP, TLS, WebSocket and WebSocket over TLS. Each ends as a byte
//! stream handed to the one connection code; this module only accepts, filters by source
//! address and runs the TLS/WebSocket handshakes within the connect timeout.

mod filter;
mod tls;
mod ws;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::config::ListenerConfig;
use crate::core::Core;
use crate::metrics::{Metrics, RefuseReason};
use crate::security::config::Transport;

pub(crate) use self::filter::ConnGuard;
use self::filter::{AddressFilter, PerAddress};

/// A byte stream the connection code can run on.
pub(crate) trait AsyncStream: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> AsyncStream for T {}

/// A connection's byte stream: TCP stays unboxed, the others are boxed. It is not split
/// into read and write halves: the connection code never reads and writes at the same
/// time, and a split would cost every connection a shared allocation (issue 8: memory per
/// idle connection).
pub(crate) enum Stream {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS, WebSocket or WebSocket over TLS.
    Boxed(Box<dyn AsyncStream>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Boxed(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Boxed(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Boxed(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Boxed(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// The identity a client certificate gives, on listeners that verify them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CertIdentity {
    /// No certificate, or none was asked for.
    None,
    /// The certificate's subject common name.
    Name(String),
    /// A certificate whose common name is missing or contains `+`, `#` or `/`.
    Invalid,
}

/// What the connection code knows about its peer besides the bytes.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    /// The source address.
    pub ip: IpAddr,
    /// The client certificate's identity.
    pub identity: CertIdentity,
    /// Whether that identity is the user name (no password check).
    pub cn_is_username: bool,
    /// The listener's own anonymous-access setting, if it has one.
    pub allow_anonymous: Option<bool>,
}

impl Peer {
    /// A peer on a listener without client certificates.
    pub fn plain(ip: IpAddr, allow_anonymous: Option<bool>) -> Self {
        Peer {
            ip,
            identity: CertIdentity::None,
            cn_is_username: false,
            allow_anonymous,
        }
    }
}

/// A listener's run-time settings.
pub(crate) struct Endpoint {
    transport: Transport,
    tls: Option<tokio_rustls::TlsAcceptor>,
    ws_path: String,
    filter: AddressFilter,
    per_address: PerAddress,
    cn_is_username: bool,
    allow_anonymous: Option<bool>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("transport", &self.transport)
            .field("ws_path", &self.ws_path)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// Prepares a listener: loads its certificates. Errors say what is wrong.
    pub fn new(l: &ListenerConfig) -> Result<Self, String> {
        let tls = if l.transport.is_tls() {
            Some(tls::acceptor(l)?)
        } else {
            None
        };
        Ok(Endpoint {
            transport: l.transport,
            tls,
            ws_path: l.path.clone(),
            filter: AddressFilter::new(l.allow.clone(), l.deny.clone()),
            per_address: PerAddress::new(l.max_connections_per_ip),
            cn_is_username: l.use_cn_as_username,
            allow_anonymous: l.allow_anonymous,
        })
    }

    /// Checks a just-accepted connection's source address against the allow/deny lists
    /// and the per-address cap, before any byte is read. `None`: close it.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<ConnGuard> {
        if !self.filter.allows(ip) {
            tracing::debug!(%ip, "source address not allowed on this listener");
            return None;
        }
        let guard = self.per_address.enter(ip);
        if guard.is_none() {
            tracing::debug!(%ip, "too many connections from this address");
        }
        guard
    }
}

/// Held for as long as an accepted connection lives: dropping it frees the connection's
/// per-address slot and counts it out of the connections-open gauge.
pub(crate) struct Admitted {
    _slot: ConnGuard,
    core: Arc<Core>,
}

impl Admitted {
    /// Counts an accepted connection in the connections-open gauge.
    pub fn new(core: Arc<Core>, slot: ConnGuard) -> Self {
        Metrics::gauge(&core.metrics.connections_open, 1);
        Admitted { _slot: slot, core }
    }

    /// The broker.
    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        Metrics::gauge(&self.core.metrics.connections_open, -1);
    }
}

/// Spawns the task of one accepted connection: a plain TCP connection runs the MQTT
/// connection directly (no layer around it that would keep another copy of its
/// arguments in the task's future, which stays allocated for the connection's lifetime);
/// the others first run the transport's handshakes within the connect timeout.
pub(crate) fn spawn(
    endpoint: &Arc<Endpoint>,
    tcp: TcpStream,
    peer: SocketAddr,
    admitted: Admitted,
) {
    if endpoint.transport == Transport::Tcp {
        let peer = Peer::plain(peer.ip().to_canonical(), endpoint.allow_anonymous);
        let _ = tcp.set_nodelay(true);
        tokio::spawn(crate::connection::serve(
            Stream::Tcp(tcp),
            Box::new(peer),
            admitted,
        ));
    } else {
        tokio::spawn(serve_wrapped(endpoint.clone(), tcp, peer, admitted));
    }
}

/// The task of a connection on a TLS or WebSocket listener.
async fn serve_wrapped(
    endpoint: Arc<Endpoint>,
    tcp: TcpStream,
    peer: SocketAddr,
    admitted: Admitted,
) {
    let core = admitted.core();
    let ip = peer.ip().to_canonical();
    let pending = core.pending_guard(ip);
    if pending.is_none() {
        core.metrics.refused(RefuseReason::PendingConnects);
        return;
    }
    let timeout = core.config.connect_timeout();
    let max_size = core.config.limits.max_packet_size as usize;
    // Boxed: the TLS and WebSocket handshakes' state is large and needed only until they
    // are done, while the task's own future stays allocated for the connection's lifetime.
    let shaken = tokio::time::timeout(timeout, Box::pin(handshake(&endpoint, tcp, max_size))).await;
    drop(pending);
    let (stream, identity) = match shaken {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "transport handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "transport handshake not finished at the connect timeout");
            return;
        }
    };
    let peer = Peer {
        ip,
        identity,
        cn_is_username: endpoint.cn_is_username,
        allow_anonymous: endpoint.allow_anonymous,
    };
    crate::connection::serve(stream, Box::new(peer), admitted).await;
}

/// The TLS and/or WebSocket handshakes of a non-TCP listener.
async fn handshake(
    endpoint: &Endpoint,
    tcp: TcpStream,
    max_size: usize,
) -> io::Result<(Stream, CertIdentity)> {
    let _ = tcp.set_nodelay(true);
    let Some(acceptor) = &endpoint.tls else {
        let ws = ws::accept(tcp, &endpoint.ws_path, max_size).await?;
        return Ok((Stream::Boxed(Box::new(ws)), CertIdentity::None));
    };
    let tls = acceptor.accept(tcp).await?;
    let identity = tls::identity(tls.get_ref().1);
    if endpoint.transport.is_websocket() {
        let ws = ws::accept(tls, &endpoint.ws_path, max_size).await?;
        Ok((Stream::Boxed(Box::new(ws)), identity))
    } else {
        Ok((Stream::Boxed(Box::new(tls)), identity))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The task of a connection keeps its future allocated for the connection's lifetime,
    /// idle or not (issue 8: memory per idle connection): the TLS/WebSocket and CONNECT
    /// handshakes are boxed so that their large state is not part of it.
    #[tokio::test]
    async fn a_connection_task_stays_small() {
        let config = crate::config::Config::default();
        let security = crate::security::Security::from_config(&config.auth).unwrap();
        let access = crate::security::Access::new(security, &config.auth);
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let store = Arc::new(petrel_store::MemoryStore::new());
        let core = Arc::new(Core::new(config, store, rx, access));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tcp = TcpStream::connect(addr).await.unwrap();
        let endpoint = Arc::new(Endpoint::new(&ListenerConfig::new(addr)).unwrap());
        let admitted = Admitted::new(core, endpoint.admit(addr.ip()).unwrap());
        // What `spawn` runs for a plain TCP connection.
        let peer = Peer::plain(addr.ip(), endpoint.allow_anonymous);
        let task = crate::connection::serve(Stream::Tcp(tcp), Box::new(peer), admitted);
        let size = std::mem::size_of_val(&task);
        // The task's allocation is this future plus tokio's task header and trailer (104
        // bytes), rounded up to a multiple of 128 (its alignment): at most 1432 keeps it
        // within jemalloc's 1536-byte size class (the next ones are 1792 and 2048).
        assert!(size <= 1432, "connection future is {size} bytes");
    }
}
