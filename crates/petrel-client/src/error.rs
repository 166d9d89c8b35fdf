//! The client's errors and the reasons a connection ended.

use petrel_codec::ReasonCode;
use petrel_session::{CloseReason, SendError};

/// Why a client operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The transport could not be opened or broke (I/O, DNS, TLS, WebSocket handshake).
    #[error("connection failed: {0}")]
    Transport(String),
    /// The server refused the connection in its CONNACK.
    #[error("connection refused by the server: {0:?}")]
    Refused(ReasonCode),
    /// The server did not answer CONNECT in time, or the connection ended before CONNACK.
    #[error("no CONNACK from the server: {0}")]
    Handshake(String),
    /// The server refused a published message (PUBACK or PUBREC reason code >= 0x80).
    #[error("the server refused the message: {0:?}")]
    Rejected(ReasonCode),
    /// The server refused a subscription for this filter.
    #[error("subscription to {filter} refused: {reason:?}")]
    SubscribeRefused {
        /// The filter.
        filter: String,
        /// The SUBACK reason code.
        reason: ReasonCode,
    },
    /// The server refused to unsubscribe a filter.
    #[error("unsubscribe from {filter} refused: {reason:?}")]
    UnsubscribeRefused {
        /// The filter.
        filter: String,
        /// The UNSUBACK reason code.
        reason: ReasonCode,
    },
    /// The session refused the command (invalid topic, too large for the server, ...).
    #[error(transparent)]
    Send(#[from] SendError),
    /// The command needs a connection and the offline queue is off or full.
    #[error("not connected (offline queue off or full)")]
    NotConnected,
    /// The client was closed (`disconnect`, or every handle dropped) before completion.
    #[error("the client is closed")]
    Closed,
    /// The request/response helper got no response in time.
    #[error("timed out")]
    Timeout,
    /// Enhanced (SCRAM) authentication failed on the client side: the server's messages
    /// were malformed, or it could not prove it knows the credential.
    #[error("authentication failed: {0}")]
    Authentication(String),
    /// The options are invalid (bad URL, unreadable certificate, ...).
    #[error("invalid options: {0}")]
    Options(String),
}

/// Why a connection ended, as reported by [`crate::Event::Disconnected`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The protocol session ended it (server DISCONNECT, keep-alive timeout, protocol
    /// violation, CONNACK refusal, ...).
    Session(CloseReason),
    /// The transport failed or reached end of file.
    Transport(String),
    /// The application asked to disconnect.
    Requested,
    /// Enhanced (SCRAM) authentication failed on the client side.
    Authentication(String),
}

impl DisconnectReason {
    /// The MQTT reason code that best describes the end of the connection.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            Self::Session(r) => r.reason_code(),
            Self::Transport(_) => ReasonCode::UnspecifiedError,
            Self::Requested => ReasonCode::Success,
            Self::Authentication(_) => ReasonCode::NotAuthorized,
        }
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Session(r) => write!(f, "{r:?}"),
            Self::Transport(e) => write!(f, "transport: {e}"),
            Self::Requested => f.write_str("disconnect requested"),
            Self::Authentication(e) => write!(f, "authentication: {e}"),
        }
    }
}
