//! Configuration types for listeners' transports and for authentication/authorisation.

use std::path::PathBuf;

use serde::Deserialize;

/// The byte stream a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Transport {
    /// Plain TCP (port 1883 by convention).
    #[default]
    Tcp,
    /// TLS over TCP (port 8883 by convention); needs `cert` and `key`.
    Tls,
    /// WebSocket (port 8080 by convention), binary frames, subprotocol `mqtt`.
    Ws,
    /// WebSocket over TLS; needs `cert` and `key`.
    Wss,
}

impl Transport {
    /// Whether the transport runs over TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, Transport::Tls | Transport::Wss)
    }

    /// Whether the transport is a WebSocket.
    pub fn is_websocket(self) -> bool {
        matches!(self, Transport::Ws | Transport::Wss)
    }
}

/// What an MQTT 3 client gets when it publishes to a topic it may not write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Mqtt3PublishDenied {
    /// Acknowledge as usual and drop the message (MQTT 3 has no refusal code).
    #[default]
    Ack,
    /// Close the connection.
    Disconnect,
}

/// Authentication and authorisation (`[auth]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AuthConfig {
    /// A password file as `mosquitto_passwd` writes it (`$7$`, `$6$`, `$argon2id$`).
    pub password_file: Option<PathBuf>,
    /// An ACL file in Mosquitto's format. Without one every client may do everything.
    pub acl_file: Option<PathBuf>,
    /// SCRAM credentials (`user:credential` lines) for MQTT 5 enhanced authentication
    /// with the methods `SCRAM-SHA-256` and `SCRAM-SHA-512`.
    pub scram_file: Option<PathBuf>,
    /// Whether clients without a user name may connect. Unset: allowed only when no
    /// password file (or other authenticator) is configured.
    pub allow_anonymous: Option<bool>,
    /// What an MQTT 3 client gets for an unauthorised PUBLISH (MQTT 5 always gets 0x87).
    pub mqtt3_publish_denied: Mqtt3PublishDenied,
    /// Password checks running at once (they are deliberately slow); further CONNECTs wait.
    pub max_concurrent_checks: usize,
    /// Failed logins from one address or for one user name before back-off starts.
    pub max_failures: u32,
    /// Longest back-off after repeated failures, in seconds.
    pub max_backoff_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            password_file: None,
            acl_file: None,
            scram_file: None,
            allow_anonymous: None,
            mqtt3_publish_denied: Mqtt3PublishDenied::Ack,
            max_concurrent_checks: 4,
            max_failures: 5,
            max_backoff_secs: 300,
        }
    }
}

impl AuthConfig {
    /// Whether anything beyond anonymous access is configured.
    pub fn has_authenticator(&self) -> bool {
        self.password_file.is_some() || self.scram_file.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn listener_and_auth_keys_parse() {
        let text = r#"
[[listener]]
bind = "127.0.0.1:1883"

[[listener]]
bind = "0.0.0.0:8883"
transport = "tls"
cert = "server.pem"
key = "server.key"
ca = "ca.pem"
require_client_cert = true
use_cn_as_username = true
allow = ["10.0.0.0/8", "2001:db8::/32"]
deny = ["10.1.0.0/16"]
max_connections_per_ip = 8

[[listener]]
bind = "0.0.0.0:8080"
transport = "ws"

[auth]
password_file = "passwd"
acl_file = "acl"
allow_anonymous = false
mqtt3_publish_denied = "disconnect"
"#;
        let c = Config::from_toml(text, "<string>").expect("parses");
        assert_eq!(c.listeners[0].transport, Transport::Tcp);
        let tls = &c.listeners[1];
        assert_eq!(tls.transport, Transport::Tls);
        assert!(tls.transport.is_tls() && !tls.transport.is_websocket());
        assert!(tls.require_client_cert && tls.use_cn_as_username);
        assert_eq!(tls.allow.len(), 2);
        assert_eq!(tls.max_connections_per_ip, 8);
        assert_eq!(c.listeners[2].path, "/mqtt");
        assert_eq!(c.auth.mqtt3_publish_denied, Mqtt3PublishDenied::Disconnect);
        assert_eq!(c.auth.allow_anonymous, Some(false));
        assert!(c.auth.has_authenticator());
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = Config::from_toml(
            "[[listener]]\nbind = \"127.0.0.1:1\"\ntransport = \"quic\"\n",
            "x.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("x.toml:3:"), "{err}");
        let err = Config::from_toml(
            "[[listener]]\nbind = \"127.0.0.1:1\"\ndeny = [\"10.0.0.0/33\"]\n",
            "x.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("x.toml:3:"), "{err}");
        let err = Config::from_toml("[auth]\npasword_file = \"p\"\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("pasword_file"), "{err}");
    }
}
