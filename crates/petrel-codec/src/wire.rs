//! The data representations of section 1.5: integers, variable byte integers, strings and
//! binary data, read from a frozen packet without copying and written into a `BytesMut`.

use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use crate::{DecodeError, EncodeError, PacketId, PacketType};

/// The largest value a variable byte integer can hold (section 1.5.5).
pub const VARINT_MAX: u32 = 268_435_455;

/// Parses a variable byte integer from the start of `buf`. `Ok(None)` means more bytes are
/// needed; the second value is the number of bytes used.
pub(crate) fn parse_varint(buf: &[u8]) -> Result<Option<(u32, usize)>, DecodeError> {
    let mut value: u32 = 0;
    for i in 0..4 {
        let Some(&byte) = buf.get(i) else {
            return Ok(None);
        };
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            // A last byte of 0 after the first one means a shorter form existed.
            if i > 0 && byte == 0 {
                return Err(DecodeError::NonMinimalVarInt);
            }
            return Ok(Some((value, i + 1)));
        }
    }
    Err(DecodeError::VarIntTooLong)
}

/// Number of bytes the variable byte integer encoding of `v` takes.
pub(crate) const fn varint_len(v: usize) -> usize {
    if v < 128 {
        1
    } else if v < 16_384 {
        2
    } else if v < 2_097_152 {
        3
    } else {
        4
    }
}

/// Writes `v` (at most [`VARINT_MAX`]) as a variable byte integer.
#[inline]
pub(crate) fn put_varint(buf: &mut BytesMut, mut v: usize) {
    loop {
        let mut byte = (v & 0x7F) as u8;
        v >>= 7;
        if v > 0 {
            byte |= 0x80;
        }
        buf.put_u8(byte);
        if v == 0 {
            return;
        }
    }
}

/// Length of a string or binary field with its two-byte prefix; fails over 65,535 bytes.
pub(crate) fn field_len(len: usize) -> Result<usize, EncodeError> {
    if len > usize::from(u16::MAX) {
        return Err(EncodeError::FieldTooLong { len });
    }
    Ok(2 + len)
}

/// Writes a length-prefixed field whose length was checked by [`field_len`].
pub(crate) fn put_field(buf: &mut BytesMut, data: &[u8]) {
    buf.put_u16(data.len() as u16);
    buf.put_slice(data);
}

/// Checks that `bytes` is a valid MQTT string (MQTT-1.5.4-1, MQTT-1.5.4-2) and wraps it
/// without copying.
pub(crate) fn to_string(bytes: Bytes) -> Result<ByteString, DecodeError> {
    // Strings are short: a loop without early exit beats a memchr call.
    if bytes.iter().fold(false, |null, &b| null | (b == 0)) {
        return Err(DecodeError::NullCharacter);
    }
    ByteString::try_from(bytes).map_err(|_| DecodeError::InvalidUtf8)
}

/// Like [`to_string`] for a topic name, also telling whether it holds a wildcard (checked
/// later, in the order of the packet rules), with one pass over the bytes.
pub(crate) fn to_topic(bytes: Bytes) -> Result<(ByteString, bool), DecodeError> {
    let (wild, null) = crate::validate::scan(&bytes);
    if null {
        return Err(DecodeError::NullCharacter);
    }
    let s = ByteString::try_from(bytes).map_err(|_| DecodeError::InvalidUtf8)?;
    Ok((s, wild))
}

/// A cursor over the body of one packet. Every read checks bounds and fails with
/// [`DecodeError::UnexpectedEnd`] rather than panicking.
pub(crate) struct Reader {
    buf: Bytes,
    pos: usize,
    packet: PacketType,
}

impl Reader {
    pub(crate) fn new(buf: Bytes, packet: PacketType) -> Self {
        Self::at(buf, 0, packet)
    }

    /// A reader over `buf` starting at `pos` (past a fixed header, without slicing).
    pub(crate) fn at(buf: Bytes, pos: usize, packet: PacketType) -> Self {
        Self { buf, pos, packet }
    }

    pub(crate) fn packet(&self) -> PacketType {
        self.packet
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn end(&self) -> DecodeError {
        DecodeError::UnexpectedEnd {
            packet: self.packet,
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self
            .buf
            .get(self.pos..self.pos + N)
            .ok_or_else(|| self.end())?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        self.pos += N;
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn varint(&mut self) -> Result<u32, DecodeError> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        match parse_varint(rest) {
            Ok(Some((v, n))) => {
                self.pos += n;
                Ok(v)
            }
            Ok(None) => Err(self.end()),
            Err(e) => Err(e),
        }
    }

    /// The next `n` bytes as a slice of the packet.
    pub(crate) fn take(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        if n > self.remaining() {
            return Err(self.end());
        }
        let out = self.buf.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(out)
    }

    /// Everything left in the packet.
    pub(crate) fn rest(&mut self) -> Bytes {
        let out = self.buf.slice(self.pos..);
        self.pos = self.buf.len();
        out
    }

    /// Binary data: a two-byte length then the bytes (section 1.5.6).
    pub(crate) fn binary(&mut self) -> Result<Bytes, DecodeError> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }

    /// A UTF-8 encoded string (section 1.5.4).
    pub(crate) fn string(&mut self) -> Result<ByteString, DecodeError> {
        let raw = self.binary()?;
        to_string(raw)
    }

    /// A topic name, and whether it holds a wildcard (see [`to_topic`]).
    pub(crate) fn topic(&mut self) -> Result<(ByteString, bool), DecodeError> {
        let raw = self.binary()?;
        to_topic(raw)
    }

    /// A non-zero packet identifier (MQTT-2.2.1-3).
    pub(crate) fn packet_id(&mut self) -> Result<PacketId, DecodeError> {
        PacketId::new(self.u16()?).ok_or(DecodeError::ZeroPacketId)
    }

    /// A reader over the next `n` bytes, which this reader skips.
    pub(crate) fn sub(&mut self, n: usize) -> Result<Reader, DecodeError> {
        let buf = self.take(n)?;
        Ok(Reader::new(buf, self.packet))
    }

    /// Fails when bytes are left after the last field.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                packet: self.packet,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_limits_section_1_5_5() {
        for (bytes, v) in [
            (&[0x00][..], 0),
            (&[0x7F], 127),
            (&[0x80, 0x01], 128),
            (&[0xFF, 0x7F], 16_383),
            (&[0x80, 0x80, 0x01], 16_384),
            (&[0xFF, 0xFF, 0xFF, 0x7F], VARINT_MAX),
        ] {
            assert_eq!(parse_varint(bytes), Ok(Some((v, bytes.len()))));
            let mut out = BytesMut::new();
            put_varint(&mut out, v as usize);
            assert_eq!(&out[..], bytes);
            assert_eq!(varint_len(v as usize), bytes.len());
        }
        assert_eq!(parse_varint(&[0x80, 0x80]), Ok(None));
        assert_eq!(
            parse_varint(&[0x80, 0x80, 0x80, 0x80]),
            Err(DecodeError::VarIntTooLong)
        );
    }

    #[test]
    fn varint_must_be_minimal_mqtt_1_5_5_1() {
        assert_eq!(
            parse_varint(&[0x80, 0x00]),
            Err(DecodeError::NonMinimalVarInt)
        );
        assert_eq!(
            parse_varint(&[0x81, 0x80, 0x00]),
            Err(DecodeError::NonMinimalVarInt)
        );
    }
}
