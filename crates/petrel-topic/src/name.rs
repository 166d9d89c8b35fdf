//! [`TopicName`]: the validated topic of a PUBLISH (no wildcards).

use core::fmt;

use bytes::Bytes;
use bytestring::ByteString;

use crate::TopicError;

/// Longest topic name or filter the protocol can carry, in bytes (MQTT-4.7.3-3).
pub const MAX_TOPIC_LEN: usize = 65_535;

/// Iterator over the `/`-separated levels of a topic name or filter, empty levels
/// included. A byte loop: levels are a few bytes long, too short for `memchr` to pay.
#[derive(Debug, Clone)]
pub struct Levels<'a> {
    rest: Option<&'a str>,
}

impl<'a> Levels<'a> {
    pub(crate) fn new(s: &'a str) -> Self {
        Self { rest: Some(s) }
    }
}

impl<'a> Iterator for Levels<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        let s = self.rest?;
        match s.bytes().position(|b| b == b'/') {
            Some(i) => {
                // `/` is ASCII, so both sides are on character boundaries.
                let (level, tail) = s.split_at(i);
                self.rest = tail.get(1..);
                Some(level)
            }
            None => {
                self.rest = None;
                Some(s)
            }
        }
    }
}

impl core::iter::FusedIterator for Levels<'_> {}

/// Appends the byte ranges of the levels of `s` to `out` (split once, reused by every
/// index a match visits).
pub(crate) fn level_spans(s: &str, out: &mut Vec<(u32, u32)>) {
    let mut start = 0;
    for i in Slashes::new(s) {
        out.push((start as u32, i as u32));
        start = i + 1;
    }
    out.push((start as u32, s.len() as u32));
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// The byte positions of the `/` in a string, found eight bytes at a time.
#[derive(Debug, Clone)]
pub(crate) struct Slashes<'a> {
    rest: &'a [u8],
    /// Position of the first byte of `rest`.
    next: usize,
    /// Position of the word `bits` was taken from.
    base: usize,
    /// One high bit per `/` byte of the current word not reported yet.
    bits: u64,
}

impl<'a> Slashes<'a> {
    pub(crate) fn new(s: &'a str) -> Self {
        Self {
            rest: s.as_bytes(),
            next: 0,
            base: 0,
            bits: 0,
        }
    }
}

impl Iterator for Slashes<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.bits == 0 {
            if self.rest.is_empty() {
                return None;
            }
            // Little-endian: byte `i` of the word is bits `8 i..8 i + 8`; a short last word
            // is padded with zeros, which are not `/`.
            let (w, take) = match self.rest.first_chunk::<8>() {
                Some(word) => (u64::from_le_bytes(*word), 8),
                None => {
                    let w = self
                        .rest
                        .iter()
                        .rev()
                        .fold(0, |w, &b| (w << 8) | u64::from(b));
                    (w, self.rest.len())
                }
            };
            let rest = self.rest.get(take..).unwrap_or_default();
            // Zero bytes of `x` are the `/`; set the high bit of exactly those bytes (no
            // carry crosses a byte: each sum is at most 0xfe).
            let x = w ^ (ONES * u64::from(b'/'));
            let low = ONES * 0x7f;
            self.bits = !(((x & low).wrapping_add(low)) | x | low);
            self.base = self.next;
            self.next += take;
            self.rest = rest;
        }
        let i = (self.bits.trailing_zeros() / 8) as usize;
        self.bits &= self.bits - 1;
        Some(self.base + i)
    }
}

/// A validated MQTT topic name: non-empty, at most 65,535 bytes, no U+0000, no `+` or `#`.
///
/// It wraps a [`ByteString`], so building one from the codec's strings or from [`Bytes`]
/// never copies the text; cloning is a reference-count increment.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName(ByteString);

pub(crate) fn check_common(s: &str) -> Result<(), TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty);
    }
    if s.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong { len: s.len() });
    }
    Ok(())
}

pub(crate) fn bytes_to_string(bytes: Bytes) -> Result<ByteString, TopicError> {
    ByteString::try_from(bytes).map_err(|_| TopicError::InvalidUtf8)
}

impl TopicName {
    /// Validates `s` as a topic name. Passing a [`ByteString`] does not copy.
    pub fn new(s: impl Into<ByteString>) -> Result<Self, TopicError> {
        let s = s.into();
        Self::validate(&s)?;
        Ok(Self(s))
    }

    /// Validates UTF-8 `bytes` as a topic name without copying them.
    pub fn from_bytes(bytes: Bytes) -> Result<Self, TopicError> {
        Self::new(bytes_to_string(bytes)?)
    }

    /// Checks the topic-name rules on `s` without building a value.
    pub fn validate(s: &str) -> Result<(), TopicError> {
        check_common(s)?;
        // One pass without early exit, in the shape the compiler turns into vector code
        // (measured: fewer instructions than a loop that stops at the first bad byte);
        // only a bad name is walked again to report the first bad byte.
        let (wild, null) = s.as_bytes().iter().fold((false, false), |(w, n), &b| {
            (w | (b == b'+') | (b == b'#'), n | (b == 0))
        });
        let bad = wild | null;
        if !bad {
            return Ok(());
        }
        for b in s.bytes() {
            match b {
                0 => return Err(TopicError::NullCharacter),
                b'+' | b'#' => return Err(TopicError::WildcardInName),
                _ => {}
            }
        }
        Ok(())
    }

    /// True for names starting with `$` (such as `$SYS/...`), which filters starting with a
    /// wildcard never match (MQTT-4.7.2-1).
    pub fn is_sys(&self) -> bool {
        self.0.starts_with('$')
    }
}

pub(crate) fn level_count(s: &str) -> usize {
    s.bytes().filter(|&b| b == b'/').count() + 1
}

pub(crate) fn check_max_levels(s: &str, max: usize) -> Result<(), TopicError> {
    let levels = level_count(s);
    if levels > max {
        return Err(TopicError::TooManyLevels { levels, max });
    }
    Ok(())
}

validated_conversions!(TopicName);

impl From<TopicName> for ByteString {
    fn from(t: TopicName) -> ByteString {
        t.0
    }
}

impl AsRef<str> for TopicName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl core::ops::Deref for TopicName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::{level_spans, Levels, Slashes};

    /// Levels are what `split('/')` gives, empty levels included (section 4.7.1.1: `/`
    /// separates levels, and a leading, trailing or doubled `/` makes an empty level).
    #[test]
    fn levels_and_spans_agree_with_split_section_4_7_1_1() {
        for s in ["a", "/", "//", "a/", "/a", "a//b", "a/bc/def", "", "é/ü/x"] {
            let want: Vec<&str> = s.split('/').collect();
            assert_eq!(Levels::new(s).collect::<Vec<_>>(), want, "{s:?}");
            let mut spans = Vec::new();
            level_spans(s, &mut spans);
            let got: Vec<&str> = spans
                .iter()
                .map(|&(a, b)| &s[a as usize..b as usize])
                .collect();
            assert_eq!(got, want, "{s:?}");
        }
    }

    /// The word-at-a-time search finds exactly the `/` bytes, at every offset and length
    /// and next to bytes that differ from `/` in one bit (`.`, `o`, and 0xAF in `ï`).
    #[test]
    fn slashes_are_the_slash_bytes() {
        let pattern = "a/./o//\u{7f}/\u{e9}\u{ef}/a.b/ooo/////x/";
        for start in 0..pattern.len() {
            for end in start..=pattern.len() {
                let Some(s) = pattern.get(start..end) else {
                    continue;
                };
                let want: Vec<usize> = s
                    .bytes()
                    .enumerate()
                    .filter(|&(_, b)| b == b'/')
                    .map(|(i, _)| i)
                    .collect();
                assert_eq!(Slashes::new(s).collect::<Vec<_>>(), want, "{s:?}");
            }
        }
    }
}
