//! Connection options: where to connect, over which transport, and how the client behaves.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use petrel_codec::{ByteString, Properties, ProtocolVersion, Will};
use petrel_session::{AliasPolicy, ClientConfig};

use crate::error::Error;
use crate::scram::ScramLogin;
use petrel_auth::ScramMechanism;

/// The byte stream MQTT runs over.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// Plain TCP (`mqtt://`, default port 1883).
    Tcp,
    /// TLS over TCP with rustls (`mqtts://`, default port 8883).
    Tls,
    /// WebSocket (`ws://`, default port 80), MQTT in binary frames, subprotocol `mqtt`.
    Ws {
        /// Request path, such as `/mqtt`.
        path: String,
    },
    /// WebSocket over TLS (`wss://`, default port 443).
    Wss {
        /// Request path, such as `/mqtt`.
        path: String,
    },
}

impl Transport {
    /// True for the transports that use TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Tls | Self::Wss { .. })
    }
}

/// TLS settings (used by [`Transport::Tls`] and [`Transport::Wss`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsOptions {
    /// PEM file of trusted CA certificates; the system's roots when `None`.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain (for mutual TLS), with `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate.
    pub key_file: Option<PathBuf>,
    /// Name to verify the server certificate against; the host when `None`.
    pub server_name: Option<String>,
}

/// Reconnection policy: exponential backoff with jitter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReconnectOptions {
    /// Reconnect after a connection is lost (the first connection is never retried:
    /// [`crate::Client::connect`] reports its failure).
    pub enabled: bool,
    /// Delay before the first retry.
    pub initial_delay: Duration,
    /// Upper bound of the delay.
    pub max_delay: Duration,
    /// Give up after this many failed attempts in a row (`None`: never).
    pub max_attempts: Option<u32>,
}

impl Default for ReconnectOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
            max_attempts: None,
        }
    }
}

impl ReconnectOptions {
    /// Reconnection on, with backoff from `initial_delay` up to `max_delay`, forever.
    pub fn backoff(initial_delay: Duration, max_delay: Duration) -> Self {
        Self {
            enabled: true,
            initial_delay,
            max_delay,
            max_attempts: None,
        }
    }

    /// No reconnection: the client stops when the connection is lost.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    /// The delay before attempt `attempt` (0-based): `initial * 2^attempt` capped at
    /// `max_delay`, then a uniformly random value between half of it and all of it.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self.initial_delay.saturating_mul(1u32 << attempt.min(20));
        let cap = exp.min(self.max_delay);
        let half = cap / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        let extra = if jitter_ms == 0 {
            0
        } else {
            rand::random::<u64>() % (jitter_ms + 1)
        };
        half + Duration::from_millis(extra)
    }
}

/// Everything [`crate::Client::connect`] needs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// Server host name or address.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Transport.
    pub transport: Transport,
    /// TLS settings.
    pub tls: TlsOptions,
    /// Protocol session settings (version, client id, keep-alive, will, credentials, MQTT 5
    /// limits, manual acks, topic alias policy, CONNECT properties).
    pub session: ClientConfig,
    /// Reconnection policy.
    pub reconnect: ReconnectOptions,
    /// Publishes accepted while disconnected and kept until the next connection (0: fail
    /// them with [`Error::NotConnected`]). Messages already in flight are always kept.
    pub offline_queue: usize,
    /// Publishes accepted and not yet complete; `publish` waits for room beyond this.
    pub max_outstanding: usize,
    /// Received messages buffered for the application. QoS 1/2 messages are held back by
    /// the server instead (their acknowledgement waits until the application takes them);
    /// QoS 0 messages beyond this bound are dropped.
    pub max_buffered_messages: usize,
    /// Time allowed to open the transport (TCP, TLS and WebSocket handshakes).
    pub transport_timeout: Duration,
    /// Outgoing QoS 1/2 window for MQTT 3, which has no Receive Maximum: Mosquitto, for
    /// one, refuses (and, MQTT 3 having no reason codes, silently drops) messages beyond
    /// its `max_inflight_messages`, 20 by default. MQTT 5 uses the server's Receive
    /// Maximum and `session.max_inflight`.
    pub mqtt3_max_inflight: u16,
    /// SCRAM enhanced authentication (MQTT 5 only), run again on every connection.
    pub scram: Option<ScramLogin>,
}

impl ConnectOptions {
    /// Options for `host:port` over TCP, MQTT 5, a random client id, clean start.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        let id = format!("petrel-{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff);
        Self {
            host: host.into(),
            port,
            transport: Transport::Tcp,
            tls: TlsOptions::default(),
            session: ClientConfig::new(id, ProtocolVersion::V5),
            reconnect: ReconnectOptions::default(),
            offline_queue: 1000,
            max_outstanding: 1024,
            max_buffered_messages: 10_000,
            transport_timeout: Duration::from_secs(10),
            mqtt3_max_inflight: 20,
            scram: None,
        }
    }

    /// Options from a URL: `mqtt://`, `mqtts://`, `ws://` or `wss://`, with optional
    /// `user:password@` and path (WebSocket), e.g. `ws://broker:8080/mqtt`.
    pub fn from_url(url: &str) -> Result<Self, Error> {
        let bad = |m: &str| Error::Options(format!("{m} in URL {url:?}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (creds, hostport) = match authority.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, authority),
        };
        let path = if path.is_empty() {
            "/mqtt".to_owned()
        } else {
            path.to_owned()
        };
        let (transport, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "mqtt" | "tcp" => (Transport::Tcp, 1883),
            "mqtts" | "ssl" | "tls" => (Transport::Tls, 8883),
            "ws" => (Transport::Ws { path }, 80),
            "wss" => (Transport::Wss { path }, 443),
            _ => return Err(bad("unknown scheme")),
        };
        let (host, port) = split_host_port(hostport).ok_or_else(|| bad("bad host or port"))?;
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let mut o = Self::new(host, port.unwrap_or(default_port));
        o.transport = transport;
        if let Some(c) = creds {
            let (u, p) = match c.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (c, None),
            };
            o.session.username = Some(ByteString::from(u.to_owned()));
            o.session.password = p.map(|p| Bytes::copy_from_slice(p.as_bytes()));
        }
        Ok(o)
    }

    /// Sets the protocol version.
    pub fn version(mut self, version: ProtocolVersion) -> Self {
        self.session.version = version;
        self
    }

    /// Sets the client identifier.
    pub fn client_id(mut self, id: impl Into<ByteString>) -> Self {
        self.session.client_id = id.into();
        self
    }

    /// Sets Clean Start (Clean Session in MQTT 3) for the first connection.
    pub fn clean_start(mut self, clean: bool) -> Self {
        self.session.clean_start = clean;
        self
    }

    /// Sets the keep-alive in seconds (0: off).
    pub fn keep_alive(mut self, secs: u16) -> Self {
        self.session.keep_alive = secs;
        self
    }

    /// Sets user name and password.
    pub fn credentials(mut self, username: impl Into<ByteString>, password: Option<Bytes>) -> Self {
        self.session.username = Some(username.into());
        self.session.password = password;
        self
    }

    /// Sets the will message.
    pub fn will(mut self, will: Will) -> Self {
        self.session.will = Some(will);
        self
    }

    /// Sets the MQTT 5 Session Expiry Interval in seconds.
    pub fn session_expiry(mut self, secs: u32) -> Self {
        self.session.session_expiry_interval = secs;
        self
    }

    /// Received QoS 1/2 messages are acknowledged only when the application calls
    /// [`crate::ReceivedMessage::ack`].
    pub fn manual_acks(mut self, manual: bool) -> Self {
        self.session.manual_acks = manual;
        self
    }

    /// How outgoing topic aliases are used (MQTT 5, within the server's maximum).
    pub fn topic_aliases(mut self, policy: AliasPolicy) -> Self {
        self.session.alias_policy = policy;
        self
    }

    /// Sets further CONNECT properties (MQTT 5).
    pub fn connect_properties(mut self, properties: Properties) -> Self {
        self.session.properties = properties;
        self
    }

    /// Sets the transport.
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Sets the TLS settings.
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = tls;
        self
    }

    /// Sets the reconnection policy.
    pub fn reconnect(mut self, reconnect: ReconnectOptions) -> Self {
        self.reconnect = reconnect;
        self
    }

    /// Sets the bound of the offline queue (0: off).
    pub fn offline_queue(mut self, messages: usize) -> Self {
        self.offline_queue = messages;
        self
    }

    /// Sets how many publishes may be outstanding before `publish` waits.
    pub fn max_outstanding(mut self, n: usize) -> Self {
        self.max_outstanding = n.max(1);
        self
    }

    /// Authenticates with SCRAM (`SCRAM-SHA-256` or `SCRAM-SHA-512`, MQTT 5 enhanced
    /// authentication): the server's signature is checked too, and a connection whose
    /// server cannot prove it knows the credential fails with [`Error::Authentication`].
    pub fn scram(
        mut self,
        mechanism: ScramMechanism,
        username: impl Into<String>,
        password: impl Into<Bytes>,
    ) -> Self {
        self.scram = Some(ScramLogin::new(mechanism, username, password));
        self
    }
}

fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host.to_owned(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Some((h.to_owned(), Some(p.parse().ok()?))),
        None => Some((s.to_owned(), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let o = ConnectOptions::from_url("mqtt://localhost").unwrap();
        assert_eq!(
            (o.host.as_str(), o.port, o.transport),
            ("localhost", 1883, Transport::Tcp)
        );
        let o = ConnectOptions::from_url("mqtts://u:p@h:1234").unwrap();
        assert_eq!((o.port, o.transport), (1234, Transport::Tls));
        assert_eq!(o.session.username.as_deref(), Some("u"));
        assert_eq!(o.session.password.as_deref(), Some(&b"p"[..]));
        let o = ConnectOptions::from_url("wss://[::1]/ws").unwrap();
        assert_eq!((o.host.as_str(), o.port), ("::1", 443));
        assert_eq!(o.transport, Transport::Wss { path: "/ws".into() });
        assert!(ConnectOptions::from_url("http://x").is_err());
        assert!(ConnectOptions::from_url("mqtt://x:notaport").is_err());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let r = ReconnectOptions {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            ..ReconnectOptions::default()
        };
        for attempt in 0..40 {
            let d = r.delay(attempt);
            let cap = (Duration::from_millis(100) * 2u32.pow(attempt.min(20))).min(r.max_delay);
            assert!(d >= cap / 2 && d <= cap, "attempt {attempt}: {d:?}");
        }
    }
}
