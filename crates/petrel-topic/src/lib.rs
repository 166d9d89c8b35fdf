#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

/// The conversions every validated topic newtype offers: `TryFrom` for `ByteString`,
/// `Bytes`, `&str` and `String`, and `FromStr`, all through the type's own `new` and
/// `from_bytes` (so no conversion can skip validation).
macro_rules! validated_conversions {
    ($t:ty) => {
        impl TryFrom<ByteString> for $t {
            type Error = TopicError;
            fn try_from(s: ByteString) -> Result<Self, TopicError> {
                Self::new(s)
            }
        }

        impl TryFrom<Bytes> for $t {
            type Error = TopicError;
            fn try_from(b: Bytes) -> Result<Self, TopicError> {
                Self::from_bytes(b)
            }
        }

        impl TryFrom<&str> for $t {
            type Error = TopicError;
            fn try_from(s: &str) -> Result<Self, TopicError> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $t {
            type Error = TopicError;
            fn try_from(s: String) -> Result<Self, TopicError> {
                Self::new(s)
            }
        }

        impl core::str::FromStr for $t {
            type Err = TopicError;
            fn from_str(s: &str) -> Result<Self, TopicError> {
                Self::new(s)
            }
        }
    };
}

mod concurrent;
mod entries;
mod error;
mod filter;
mod intern;
mod matches;
mod name;
mod retained;
mod share;
mod subscriptions;
mod trie;

pub use bytestring::ByteString;
pub use concurrent::{SharedSubscriptionIndex, DEFAULT_SHARDS};
pub use entries::{Matched, SubscriptionOptions};
pub use error::TopicError;
pub use filter::{filter_matches, TopicFilter};
pub use matches::{Deliveries, Delivery, MatchParams, Matches, ShareChoice};
pub use name::{Levels, TopicName, MAX_TOPIC_LEN};
pub use retained::RetainedIndex;
pub use share::{SubscriptionFilter, SHARE_PREFIX};
pub use subscriptions::SubscriptionIndex;
