//! The typed error for invalid topic names, topic filters and shared subscriptions.

/// Why a topic name, topic filter or shared-subscription filter was rejected.
///
/// Each variant names the rule it enforces; [`TopicError::normative_id`] gives the
/// specification's normative statement id for logs and DISCONNECT reasons.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// The string is empty (MQTT-4.7.3-1).
    #[error("topic names and filters must be at least one character long (MQTT-4.7.3-1)")]
    Empty,
    /// The UTF-8 encoding is longer than 65,535 bytes (MQTT-4.7.3-3).
    #[error("topic is {len} bytes, more than 65535 (MQTT-4.7.3-3)")]
    TooLong {
        /// Length in bytes of the rejected string.
        len: usize,
    },
    /// The string contains U+0000 (MQTT-4.7.3-2, MQTT-1.5.4-2).
    #[error("topic contains the null character U+0000 (MQTT-4.7.3-2)")]
    NullCharacter,
    /// The bytes are not well-formed UTF-8 (MQTT-1.5.4-1).
    #[error("topic is not well-formed UTF-8 (MQTT-1.5.4-1)")]
    InvalidUtf8,
    /// A topic name contains `+` or `#` (MQTT-4.7.1-1, MQTT-3.3.2-2).
    #[error("wildcard characters must not be used within a topic name (MQTT-4.7.1-1)")]
    WildcardInName,
    /// `#` is not alone in the last level of a filter (MQTT-4.7.1-2).
    #[error("'#' must be the whole last level of a topic filter (MQTT-4.7.1-2)")]
    MultiLevelWildcardNotLast,
    /// `+` does not occupy a whole level of a filter (MQTT-4.7.1-3).
    #[error("'+' must occupy an entire level of a topic filter (MQTT-4.7.1-3)")]
    SingleLevelWildcardNotWholeLevel,
    /// More levels than the caller's configured limit (a broker hardening cap, not a spec rule).
    #[error("topic has {levels} levels, more than the limit of {max}")]
    TooManyLevels {
        /// Number of levels in the rejected topic.
        levels: usize,
        /// The configured limit.
        max: usize,
    },
    /// A `$share/` filter has an empty share name or nothing after it (MQTT-4.8.2-1).
    #[error("a shared subscription needs a non-empty share name followed by '/' and a filter (MQTT-4.8.2-1)")]
    ShareNameMissing,
    /// A share name contains `/`, `+` or `#` (MQTT-4.8.2-2).
    #[error("a share name must not contain '+' or '#' (MQTT-4.8.2-2)")]
    InvalidShareName,
}

impl TopicError {
    /// The normative statement id of the broken rule, when the rule has one.
    pub fn normative_id(&self) -> Option<&'static str> {
        Some(match self {
            Self::Empty => "MQTT-4.7.3-1",
            Self::TooLong { .. } => "MQTT-4.7.3-3",
            Self::NullCharacter => "MQTT-4.7.3-2",
            Self::InvalidUtf8 => "MQTT-1.5.4-1",
            Self::WildcardInName => "MQTT-4.7.1-1",
            Self::MultiLevelWildcardNotLast => "MQTT-4.7.1-2",
            Self::SingleLevelWildcardNotWholeLevel => "MQTT-4.7.1-3",
            Self::TooManyLevels { .. } => return None,
            Self::ShareNameMissing => "MQTT-4.8.2-1",
            Self::InvalidShareName => "MQTT-4.8.2-2",
        })
    }
}
