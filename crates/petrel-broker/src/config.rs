//! Broker configuration, read from TOML. Every key has a default; unknown keys are errors.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

pub use crate::metrics::config::MetricsConfig;
pub use crate::security::config::{AuthConfig, Mqtt3PublishDenied, Transport};

/// What happens when a session's outgoing queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum DropPolicy {
    /// Drop the oldest queued message to make room for the new one.
    #[default]
    DropOldest,
    /// Drop the new message.
    DropNewest,
    /// Disconnect the client (MQTT 5: DISCONNECT 0x97 Quota exceeded).
    Disconnect,
}

/// One listener.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ListenerConfig {
    /// Address to bind, such as `127.0.0.1:1883` or `0.0.0.0:1883`.
    pub bind: SocketAddr,
    /// `tcp` (default), `tls`, `ws` or `wss`.
    #[serde(default)]
    pub transport: Transport,
    /// PEM certificate chain (`tls`, `wss`).
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// PEM private key (`tls`, `wss`).
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// PEM CA certificates that client certificates are verified against.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Refuse TLS clients without a valid certificate (mutual TLS; needs `ca`).
    #[serde(default)]
    pub require_client_cert: bool,
    /// Use the client certificate's subject common name (without one, its first DNS or
    /// e-mail subject alternative name) as the user name (no password check). A name
    /// containing `+`, `#` or `/` is refused.
    #[serde(default)]
    pub use_cn_as_username: bool,
    /// Whether clients without a user name may connect on this listener; unset follows
    /// `auth.allow_anonymous`.
    #[serde(default)]
    pub allow_anonymous: Option<bool>,
    /// WebSocket path (`ws`, `wss`).
    #[serde(default = "default_ws_path")]
    pub path: String,
    /// Source networks (CIDR) allowed to connect; empty allows all.
    #[serde(default)]
    pub allow: Vec<IpNet>,
    /// Source networks (CIDR) refused, checked before any byte is read.
    #[serde(default)]
    pub deny: Vec<IpNet>,
    /// Simultaneous connections from one source address (0: no cap).
    #[serde(default)]
    pub max_connections_per_ip: usize,
}

fn default_ws_path() -> String {
    "/mqtt".to_owned()
}

impl ListenerConfig {
    /// A plain TCP listener on `bind`.
    pub fn new(bind: SocketAddr) -> Self {
        Self {
            bind,
            transport: Transport::Tcp,
            cert: None,
            key: None,
            ca: None,
            require_client_cert: false,
            use_cn_as_username: false,
            allow_anonymous: None,
            path: default_ws_path(),
            allow: Vec::new(),
            deny: Vec::new(),
            max_connections_per_ip: 0,
        }
    }

    /// A listener on `bind` speaking `transport`.
    pub fn with_transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }
}

/// Limits that protect the broker from clients.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Limits {
    /// Largest packet accepted from a client, in bytes (also announced to MQTT 5 clients).
    pub max_packet_size: u32,
    /// Largest number of simultaneous connections; further ones are closed at once.
    pub max_connections: usize,
    /// Connections from one IP address that have not completed CONNECT yet; further ones
    /// are closed at once (0 turns the cap off).
    pub max_pending_per_address: usize,
    /// Seconds a new connection may take to complete CONNECT.
    pub connect_timeout_secs: u64,
    /// Largest keep-alive a client may use, in seconds. Larger values (and 0) are
    /// replaced by this value, announced as Server Keep Alive to MQTT 5 clients.
    pub max_keep_alive_secs: u16,
    /// Outgoing QoS 1/2 messages in flight per session (further capped by the client's
    /// Receive Maximum). Default 256: an MQTT 3 client announces no window, and a small
    /// one makes a busy subscriber wait a round trip per window (32 halved the fan-in
    /// QoS 1 throughput of `cargo xtask bench`). In-flight messages share their payload
    /// with every other queue, so a larger window costs little memory.
    pub max_inflight_messages: u16,
    /// Incoming QoS 2 messages awaiting PUBREL per session (our Receive Maximum).
    pub receive_maximum: u16,
    /// Messages queued per session beyond the in-flight window.
    pub max_queued_messages: usize,
    /// Payload bytes queued per session beyond the in-flight window.
    pub max_queued_bytes: usize,
    /// What to do when the queue is full.
    pub queue_drop_policy: DropPolicy,
    /// Subscriptions one client may hold.
    pub max_subscriptions_per_client: usize,
    /// Topic filters in one SUBSCRIBE packet.
    pub max_filters_per_subscribe: usize,
    /// Levels in a topic name or filter.
    pub max_topic_levels: usize,
    /// User properties in one packet.
    pub max_user_properties: usize,
    /// Retained messages the broker stores; new topics beyond it are not retained.
    pub max_retained_messages: usize,
    /// Topic aliases a client may use towards the broker (MQTT 5 Topic Alias Maximum).
    pub topic_alias_maximum: u16,
    /// Largest session expiry interval granted, in seconds.
    pub max_session_expiry_secs: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_packet_size: 1024 * 1024,
            max_connections: 10_000,
            max_pending_per_address: 64,
            connect_timeout_secs: 10,
            max_keep_alive_secs: 3600,
            max_inflight_messages: 256,
            receive_maximum: 64,
            max_queued_messages: 1000,
            max_queued_bytes: 16 * 1024 * 1024,
            queue_drop_policy: DropPolicy::DropOldest,
            max_subscriptions_per_client: 1000,
            max_filters_per_subscribe: 64,
            max_topic_levels: 32,
            max_user_properties: 32,
            max_retained_messages: 100_000,
            topic_alias_maximum: 16,
            max_session_expiry_secs: 7 * 24 * 3600,
        }
    }
}

/// `$SYS` topics.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SysConfig {
    /// Seconds between `$SYS/broker/...` updates; 0 turns them off.
    pub interval_secs: u64,
}

impl Default for SysConfig {
    fn default() -> Self {
        Self { interval_secs: 10 }
    }
}

/// Options of MQTT features.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Features {
    /// Assign topic aliases to messages sent to MQTT 5 clients that accept them.
    pub outgoing_topic_aliases: bool,
}

impl Default for Features {
    fn default() -> Self {
        Self {
            outgoing_topic_aliases: true,
        }
    }
}

/// Where the broker keeps its durable state (`[storage]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct StorageConfig {
    /// `disk` (an SQLite database in `dir`) or `memory` (nothing survives a restart).
    pub backend: StorageBackend,
    /// The data directory (created when missing).
    pub dir: PathBuf,
    /// What an acknowledged message survives: `process` (a crash of the broker) or
    /// `power` (power loss too: an fsync per group commit).
    pub durability: StorageDurability,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            backend: StorageBackend::Disk,
            dir: PathBuf::from("petrel-data"),
            durability: StorageDurability::Process,
        }
    }
}

/// The store `petreld` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum StorageBackend {
    /// The embedded on-disk store.
    #[default]
    Disk,
    /// In memory only.
    Memory,
}

/// The durability level of the disk store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum StorageDurability {
    /// Survive a crash of the broker process.
    #[default]
    Process,
    /// Survive power loss as well.
    Power,
}

/// The whole broker configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// TCP listeners. Default: one on `127.0.0.1:1883`.
    #[serde(rename = "listener")]
    pub listeners: Vec<ListenerConfig>,
    /// Limits.
    pub limits: Limits,
    /// `$SYS` topics.
    pub sys: SysConfig,
    /// Features.
    pub features: Features,
    /// Authentication and authorisation.
    pub auth: AuthConfig,
    /// Durable state (used by `petreld`; [`crate::Broker::start`] keeps everything in
    /// memory, [`crate::Broker::start_with_store`] takes the store it is given).
    pub storage: StorageConfig,
    /// The Prometheus metrics endpoint (off by default).
    pub metrics: MetricsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listeners: vec![ListenerConfig::new(SocketAddr::from((
                [127, 0, 0, 1],
                1883,
            )))],
            limits: Limits::default(),
            sys: SysConfig::default(),
            features: Features::default(),
            auth: AuthConfig::default(),
            storage: StorageConfig::default(),
            metrics: MetricsConfig::default(),
        }
    }
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown key or a value of the wrong type.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The file (or `<string>`).
        path: String,
        /// 1-based line of the offending key or value.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong, naming the key.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid value for `{key}`: {message}")]
    Invalid {
        /// The key, as a dotted path.
        key: &'static str,
        /// Why it is invalid.
        message: &'static str,
    },
}

impl Config {
    /// Parses TOML text. `origin` names the text in errors (a path or `<string>`).
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|span| line_col(text, span.start))
                .unwrap_or((1, 1));
            ConfigError::Parse {
                path: origin.to_owned(),
                line,
                column,
                message: e.message().trim().to_owned(),
            }
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and parses a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let l = &self.limits;
        let checks: [(bool, &'static str, &'static str); 6] = [
            (
                l.max_packet_size < 64,
                "limits.max_packet_size",
                "must be at least 64",
            ),
            (
                l.max_connections == 0,
                "limits.max_connections",
                "must be at least 1",
            ),
            (
                l.connect_timeout_secs == 0,
                "limits.connect_timeout_secs",
                "must be at least 1",
            ),
            (
                l.max_inflight_messages == 0,
                "limits.max_inflight_messages",
                "must be at least 1",
            ),
            (
                l.receive_maximum == 0,
                "limits.receive_maximum",
                "must be at least 1",
            ),
            (
                l.max_topic_levels == 0,
                "limits.max_topic_levels",
                "must be at least 1",
            ),
        ];
        for (bad, key, message) in checks {
            if bad {
                return Err(ConfigError::Invalid { key, message });
            }
        }
        Ok(())
    }

    /// The connect timeout as a duration.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.limits.connect_timeout_secs)
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_all_defaults() {
        assert_eq!(
            Config::from_toml("", "<string>").unwrap(),
            Config::default()
        );
    }

    #[test]
    fn example_file_parses_and_matches_defaults() {
        let text = include_str!("../../../petreld.example.toml");
        let config = Config::from_toml(text, "petreld.example.toml").unwrap();
        assert_eq!(config, Config::default());
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let text = "[limits]\nmax_packet_size = 2048\nmax_pakcet_size = 1\n";
        let err = Config::from_toml(text, "x.toml").unwrap_err().to_string();
        assert!(err.starts_with("x.toml:3:"), "{err}");
        assert!(err.contains("max_pakcet_size"), "{err}");
    }

    #[test]
    fn wrong_type_names_line() {
        let text = "\n[limits]\nmax_connections = \"many\"\n";
        let err = Config::from_toml(text, "x.toml").unwrap_err().to_string();
        assert!(err.starts_with("x.toml:3:"), "{err}");
    }

    #[test]
    fn listeners_and_policy() {
        let text =
            "[[listener]]\nbind = \"0.0.0.0:1884\"\n[limits]\nqueue_drop_policy = \"disconnect\"\n";
        let config = Config::from_toml(text, "<string>").unwrap();
        assert_eq!(config.listeners[0].bind.port(), 1884);
        assert_eq!(config.limits.queue_drop_policy, DropPolicy::Disconnect);
    }

    #[test]
    fn metrics_listener() {
        let config = Config::from_toml("[metrics]\nlisten = \"127.0.0.1:9090\"\n", "<s>").unwrap();
        assert_eq!(config.metrics.listen.map(|a| a.port()), Some(9090));
        assert!(Config::from_toml("[metrics]\nlisten = \"nowhere\"\n", "<s>").is_err());
    }

    #[test]
    fn out_of_range_is_error() {
        let err = Config::from_toml("[limits]\nmax_connections = 0\n", "<string>").unwrap_err();
        assert!(err.to_string().contains("limits.max_connections"));
    }
}
