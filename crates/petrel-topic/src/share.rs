//! Shared subscriptions: `$share/{ShareName}/{filter}` (MQTT 5 section 4.8.2).

use bytes::Bytes;
use bytestring::ByteString;

use crate::name::bytes_to_string;
use crate::{TopicError, TopicFilter};

/// The prefix that marks a shared subscription.
pub const SHARE_PREFIX: &str = "$share/";

/// A filter as it appears in a SUBSCRIBE or UNSUBSCRIBE: either a plain topic filter or a
/// shared subscription `$share/{ShareName}/{filter}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SubscriptionFilter {
    /// An ordinary (non-shared) subscription.
    Plain(TopicFilter),
    /// A shared subscription: each message goes to one member of the named group.
    Shared {
        /// The share name: non-empty, no `/`, `+` or `#` (MQTT-4.8.2-1, MQTT-4.8.2-2).
        share_name: ByteString,
        /// The filter after the share name.
        filter: TopicFilter,
    },
}

impl SubscriptionFilter {
    /// Parses `s`, splitting off a `$share/{ShareName}/` prefix when present. Never copies
    /// a [`ByteString`]: the parts are slices of it.
    pub fn parse(s: impl Into<ByteString>) -> Result<Self, TopicError> {
        let s: ByteString = s.into();
        crate::name::check_common(&s)?;
        let Some(rest) = s.strip_prefix(SHARE_PREFIX) else {
            return TopicFilter::new(s).map(Self::Plain);
        };
        // MQTT-4.8.2-1: a non-empty share name followed by '/' and a filter.
        let Some(slash) = rest.find('/') else {
            return Err(TopicError::ShareNameMissing);
        };
        let (name, filter) = (&rest[..slash], &rest[slash + 1..]);
        if name.is_empty() {
            return Err(TopicError::ShareNameMissing);
        }
        if name.contains(['+', '#']) {
            return Err(TopicError::InvalidShareName);
        }
        if name.contains('\0') {
            return Err(TopicError::NullCharacter);
        }
        let share_name = s.slice_ref(name);
        let filter = TopicFilter::new(s.slice_ref(filter))?;
        Ok(Self::Shared { share_name, filter })
    }

    /// Parses UTF-8 `bytes` without copying them.
    pub fn from_bytes(bytes: Bytes) -> Result<Self, TopicError> {
        Self::parse(bytes_to_string(bytes)?)
    }

    /// The topic filter used for matching (without the `$share/` part).
    pub fn filter(&self) -> &TopicFilter {
        match self {
            Self::Plain(f) | Self::Shared { filter: f, .. } => f,
        }
    }

    /// The share name for a shared subscription.
    pub fn share_name(&self) -> Option<&str> {
        match self {
            Self::Plain(_) => None,
            Self::Shared { share_name, .. } => Some(share_name),
        }
    }

    /// True for a shared subscription.
    pub fn is_shared(&self) -> bool {
        matches!(self, Self::Shared { .. })
    }
}
