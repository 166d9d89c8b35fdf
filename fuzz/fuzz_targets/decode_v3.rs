//! Arbitrary bytes through the MQTT 3.1.1 and 3.1 decoders: never a panic, and every
//! packet that decodes encodes back to a packet that decodes equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use petrel_codec::{decode, BytesMut, Packet, ProtocolVersion};

fn check(data: &[u8], version: ProtocolVersion) {
    let mut buf = BytesMut::from(data);
    while let Ok(Some(packet)) = decode(&mut buf, version, 1 << 20) {
        let v = match &packet {
            Packet::Connect(c) => c.protocol,
            _ => version,
        };
        let mut out = BytesMut::new();
        packet
            .encode(v, &mut out)
            .expect("a decoded packet encodes");
        let again = decode(&mut out, v, u32::MAX).expect("re-decodes");
        assert_eq!(again.as_ref(), Some(&packet));
    }
}

fuzz_target!(|data: &[u8]| {
    check(data, ProtocolVersion::V3_1_1);
    check(data, ProtocolVersion::V3_1);
});
