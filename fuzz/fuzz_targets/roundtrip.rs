//! An arbitrary packet and version: if the packet encodes (many arbitrary packets break a
//! rule and are refused), its encoded length is exact and decoding gives back what a peer
//! of that version can see of it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use petrel_codec::{decode, BytesMut, Packet, ProtocolVersion};

fuzz_target!(|input: (Packet, ProtocolVersion)| {
    let (packet, version) = input;
    let mut buf = BytesMut::new();
    if packet.encode(version, &mut buf).is_err() {
        return;
    }
    assert_eq!(packet.encoded_len(version).ok(), Some(buf.len()));
    let decoded = decode(&mut buf, version, u32::MAX).expect("what encodes decodes");
    assert_eq!(decoded, Some(packet.for_version(version)));
    assert!(buf.is_empty());
});
