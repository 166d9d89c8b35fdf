//! [`TopicFilter`]: the validated filter of a SUBSCRIBE, and the reference matcher.

use core::fmt;

use bytes::Bytes;
use bytestring::ByteString;

use crate::name::{bytes_to_string, check_common};
use crate::{TopicError, TopicName};

/// A validated MQTT topic filter: non-empty, at most 65,535 bytes, no U+0000, `+` only as a
/// whole level (MQTT-4.7.1-3) and `#` only as the whole last level (MQTT-4.7.1-2).
///
/// A `$share/{ShareName}/{filter}` string is also a valid filter; use
/// [`SubscriptionFilter`](crate::SubscriptionFilter) to split shared subscriptions apart.
/// Wraps a [`ByteString`]: building one from the codec's strings never copies.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicFilter(ByteString);

impl TopicFilter {
    /// Validates `s` as a topic filter. Passing a [`ByteString`] does not copy.
    pub fn new(s: impl Into<ByteString>) -> Result<Self, TopicError> {
        let s = s.into();
        Self::validate(&s)?;
        Ok(Self(s))
    }

    /// Validates UTF-8 `bytes` as a topic filter without copying them.
    pub fn from_bytes(bytes: Bytes) -> Result<Self, TopicError> {
        Self::new(bytes_to_string(bytes)?)
    }

    /// Checks the topic-filter rules on `s` without building a value.
    pub fn validate(s: &str) -> Result<(), TopicError> {
        check_common(s)?;
        if s.as_bytes().contains(&0) {
            return Err(TopicError::NullCharacter);
        }
        let mut levels = s.split('/').peekable();
        while let Some(level) = levels.next() {
            match level {
                "+" => {}
                "#" if levels.peek().is_none() => {}
                _ if level.contains('#') => return Err(TopicError::MultiLevelWildcardNotLast),
                _ if level.contains('+') => {
                    return Err(TopicError::SingleLevelWildcardNotWholeLevel)
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// True when the filter contains a `+` or `#` level.
    pub fn has_wildcards(&self) -> bool {
        self.0.bytes().any(|b| b == b'+' || b == b'#')
    }

    /// True when the first level is a wildcard; such filters never match `$` names
    /// (MQTT-4.7.2-1).
    pub fn starts_with_wildcard(&self) -> bool {
        self.0.starts_with('+') || self.0.starts_with('#')
    }

    /// True for filters starting with `$` (such as `$SYS/#` or `$share/...`).
    pub fn is_sys(&self) -> bool {
        self.0.starts_with('$')
    }

    /// Whether this filter matches `name`, by comparing level by level.
    ///
    /// This is the simple reference matcher: linear in the length of the strings. Use
    /// [`SubscriptionIndex`](crate::SubscriptionIndex) to match against many filters.
    pub fn matches(&self, name: &TopicName) -> bool {
        filter_matches(&self.0, name.as_str())
    }
}

/// Whether the filter string `filter` matches the topic name `name`, level by level,
/// applying MQTT-4.7.2-1 (`$` names are not matched by a leading wildcard).
///
/// Both strings are assumed to be valid (see [`TopicFilter::validate`] and
/// [`TopicName::validate`]); for invalid input the answer is unspecified but there is no panic.
pub fn filter_matches(filter: &str, name: &str) -> bool {
    if name.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut n = name.split('/');
    loop {
        match (f.next(), n.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

validated_conversions!(TopicFilter);

impl From<TopicName> for TopicFilter {
    /// Every topic name is also a filter (one that matches only itself).
    fn from(name: TopicName) -> Self {
        Self(name.into_inner())
    }
}

impl From<TopicFilter> for ByteString {
    fn from(t: TopicFilter) -> ByteString {
        t.0
    }
}

impl AsRef<str> for TopicFilter {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl core::ops::Deref for TopicFilter {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
