#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

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
