//! The header every benchmark payload starts with.
//!
//! A publisher writes its identity, a sequence number and the send timestamp at the front of
//! each payload; the rest is filler up to the requested size. A subscriber reads the header
//! back to account for the message (which pair, which sequence number) and to measure its
//! latency. A magic value and a run identifier keep messages of other runs, or of other
//! programs publishing on the same broker, out of the figures.

/// Bytes taken by the header; payloads are at least this long.
pub const HEADER_LEN: usize = 28;

/// Marks a payload as written by this load generator (format version 1).
const MAGIC: [u8; 4] = *b"PBv1";

/// The decoded front of a benchmark payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Random identifier of the run that sent the message.
    pub run_id: u32,
    /// Index of the publisher, from 0.
    pub publisher: u32,
    /// Sequence number of the message for its publisher, from 0.
    pub seq: u64,
    /// Nanoseconds since the start of the run at which the message was (meant to be) sent.
    pub sent_ns: u64,
}

impl Header {
    /// Writes the header into the first [`HEADER_LEN`] bytes of `out`; does nothing if
    /// `out` is shorter (payload sizes are checked when arguments are parsed).
    pub fn write(&self, out: &mut [u8]) {
        let Some(out) = out.get_mut(..HEADER_LEN) else {
            return;
        };
        out[..4].copy_from_slice(&MAGIC);
        out[4..8].copy_from_slice(&self.run_id.to_be_bytes());
        out[8..12].copy_from_slice(&self.publisher.to_be_bytes());
        out[12..20].copy_from_slice(&self.seq.to_be_bytes());
        out[20..28].copy_from_slice(&self.sent_ns.to_be_bytes());
    }

    /// Reads a header; `None` when the payload was not written by this load generator.
    pub fn parse(payload: &[u8]) -> Option<Self> {
        let h = payload.get(..HEADER_LEN)?;
        if h[..4] != MAGIC {
            return None;
        }
        let u32_at = |i: usize| {
            h.get(i..i + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
        };
        let u64_at = |i: usize| {
            h.get(i..i + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
        };
        Some(Self {
            run_id: u32_at(4)?,
            publisher: u32_at(8)?,
            seq: u64_at(12)?,
            sent_ns: u64_at(20)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let h = Header {
            run_id: 7,
            publisher: 3,
            seq: u64::MAX - 1,
            sent_ns: 123_456_789,
        };
        let mut buf = [0u8; 64];
        h.write(&mut buf);
        assert_eq!(Header::parse(&buf), Some(h));
    }

    #[test]
    fn foreign_or_short_payloads_are_rejected() {
        assert_eq!(Header::parse(b"hello"), None);
        assert_eq!(Header::parse(&[0u8; 64]), None);
        let mut buf = [0u8; HEADER_LEN];
        Header {
            run_id: 1,
            publisher: 0,
            seq: 0,
            sent_ns: 0,
        }
        .write(&mut buf);
        assert!(Header::parse(&buf[..HEADER_LEN - 1]).is_none());
    }
}
