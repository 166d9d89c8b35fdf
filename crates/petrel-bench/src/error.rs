//! The error type of the load generator.

use petrel_codec::ReasonCode;

/// Why a benchmark run could not be carried out. Problems found in the broker's behaviour
/// during a run that did complete (loss, duplicates, misrouting) are not errors: they are
/// reported in the summary and make [`crate::Report::passed`] false.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// The arguments make no sense together (for example a payload too small for the header).
    #[error("invalid arguments: {0}")]
    InvalidArgs(String),
    /// A socket operation failed.
    #[error("{client}: {what}: {source}")]
    Io {
        /// Client identifier of the connection.
        client: String,
        /// What was being done.
        what: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The broker answered CONNECT with a failure.
    #[error("{client}: broker refused the connection: {reason:?}")]
    Refused {
        /// Client identifier of the connection.
        client: String,
        /// Reason code of the CONNACK.
        reason: ReasonCode,
    },
    /// The broker rejected a subscription.
    #[error("{client}: broker rejected the subscription to {filter}: {reason:?}")]
    SubscribeRejected {
        /// Client identifier of the connection.
        client: String,
        /// The topic filter.
        filter: String,
        /// Reason code of the SUBACK.
        reason: ReasonCode,
    },
    /// The broker sent something that is not valid MQTT or not expected at that point.
    #[error("{client}: protocol error: {detail}")]
    Protocol {
        /// Client identifier of the connection.
        client: String,
        /// What went wrong.
        detail: String,
    },
    /// The broker closed the connection.
    #[error("{client}: connection closed by the broker{during}")]
    Closed {
        /// Client identifier of the connection.
        client: String,
        /// Extra context, such as a DISCONNECT reason.
        during: String,
    },
    /// The broker did not answer in time.
    #[error("{client}: timed out waiting for {what}")]
    Timeout {
        /// Client identifier of the connection.
        client: String,
        /// What was awaited.
        what: &'static str,
    },
    /// A worker task panicked or was cancelled (a bug in the load generator).
    #[error("worker task failed: {0}")]
    Task(String),
}
