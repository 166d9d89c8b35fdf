//! Errors and close reasons.

use petrel_codec::{Properties, ReasonCode};

/// A rule of the protocol was broken by the peer (or would be broken by us).
///
/// It carries the reason code the session sends in its DISCONNECT (MQTT 5) or CONNACK, and the
/// normative statement id of the rule when there is one, for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("protocol violation {reason:?} ({}): {message}", normative_id.unwrap_or("no id"))]
#[non_exhaustive]
pub struct ProtocolViolation {
    /// Reason code to send to the peer.
    pub reason: ReasonCode,
    /// The spec's normative statement id, e.g. `MQTT-3.3.2-2`.
    pub normative_id: Option<&'static str>,
    /// A short human readable description.
    pub message: String,
}

impl ProtocolViolation {
    /// A violation with a reason code, an optional normative id and a message.
    pub fn new(
        reason: ReasonCode,
        normative_id: Option<&'static str>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            reason,
            normative_id,
            message: message.into(),
        }
    }

    pub(crate) fn protocol(id: &'static str, message: &str) -> Self {
        Self::new(ReasonCode::ProtocolError, Some(id), message)
    }
}

/// Error returned by the input methods (`handle_bytes`, `handle_packet`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The peer broke a rule; the session has queued its DISCONNECT (MQTT 5) and is closed.
    #[error(transparent)]
    Protocol(#[from] ProtocolViolation),
    /// The session is already closed; the input was ignored.
    #[error("the session is closed")]
    Closed,
}

/// Error returned by the commands (`publish`, `subscribe`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The in-flight window (the peer's Receive Maximum) or the local queue is full; retry
    /// after a `Delivered`/`Failed` event.
    #[error("in-flight window full")]
    Backpressure,
    /// The command needs a live connection.
    #[error("not connected")]
    NotConnected,
    /// The packet would exceed the peer's Maximum Packet Size.
    #[error("packet too large for the peer")]
    PacketTooLarge,
    /// The peer does not support this QoS (Maximum QoS in CONNACK).
    #[error("QoS not supported by the peer")]
    QoSNotSupported,
    /// The peer does not support retained messages.
    #[error("retain not supported by the peer")]
    RetainNotSupported,
    /// The topic name is not valid for PUBLISH (empty, wildcard, NUL).
    #[error("invalid topic name")]
    InvalidTopic,
    /// A topic filter is not valid.
    #[error("invalid topic filter")]
    InvalidFilter,
    /// SUBSCRIBE/UNSUBSCRIBE needs at least one filter (MQTT-3.8.3-2, MQTT-3.10.3-2).
    #[error("no topic filters")]
    NoFilters,
    /// No packet identifier is free.
    #[error("no free packet identifier")]
    NoPacketId,
    /// The packet identifier is not awaiting an acknowledgement from us.
    #[error("unknown packet identifier")]
    UnknownPacketId,
    /// The command is not valid in the current state (e.g. `accept` twice).
    #[error("invalid state for this command")]
    InvalidState,
}

/// Why a connection ended; carried by the `Closed` events of both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer broke a rule; DISCONNECT (or a refusing CONNACK) was queued for it.
    Protocol(ProtocolViolation),
    /// The peer sent DISCONNECT.
    PeerDisconnect {
        /// Its reason code.
        reason: ReasonCode,
        /// Its properties (reason string, session expiry, user properties).
        properties: Properties,
    },
    /// We closed on purpose with this reason (`disconnect`, `reject`, takeover, ...).
    Local(ReasonCode),
    /// A CONNACK refused the connection (client side) with this reason.
    Refused(ReasonCode),
    /// Nothing was heard from the peer in time (1.5 x keep-alive, or PINGRESP late).
    KeepAliveTimeout,
    /// The handshake did not finish in time.
    ConnectTimeout,
    /// The transport was lost (`connection_lost`).
    ConnectionLost,
    /// The outgoing queue overflowed under the `Disconnect` policy.
    QueueOverflow,
}

impl CloseReason {
    /// The reason code that describes this close.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            Self::Protocol(v) => v.reason,
            Self::PeerDisconnect { reason, .. } | Self::Local(reason) | Self::Refused(reason) => {
                *reason
            }
            Self::KeepAliveTimeout => ReasonCode::KeepAliveTimeout,
            Self::ConnectTimeout => ReasonCode::MaximumConnectTime,
            Self::ConnectionLost => ReasonCode::UnspecifiedError,
            Self::QueueOverflow => ReasonCode::QuotaExceeded,
        }
    }
}
