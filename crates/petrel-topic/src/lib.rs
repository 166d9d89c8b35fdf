#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

/// The accessors and conversions every validated topic newtype offers (a string slice,
/// the shared string, levels, level checks), and `TryFrom` for `ByteString`,
/// `Bytes`, `&str` and `String`, and `FromStr`, all through the type's own `new` and
/// `from_bytes` (so no conversion can skip validation).
macro_rules! validated_conversions {
    ($t:ty) => {
        impl $t {
            /// The topic as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The underlying shared string.
            pub fn as_byte_string(&self) -> &ByteString {
                &self.0
            }

            /// Gives back the underlying shared string.
            pub fn into_inner(self) -> ByteString {
                self.0
            }

            /// The `/`-separated levels, empty levels included (`/a/` has three).
            pub fn levels(&self) -> crate::name::Levels<'_> {
                crate::name::Levels::new(&self.0)
            }

            /// Number of levels (one more than the number of `/`).
            pub fn level_count(&self) -> usize {
                crate::name::level_count(&self.0)
            }

            /// Fails with [`TopicError::TooManyLevels`] when there are more than `max`
            /// levels.
            pub fn check_max_levels(&self, max: usize) -> Result<(), TopicError> {
                crate::name::check_max_levels(&self.0, max)
            }
        }

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
mod subs;
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
