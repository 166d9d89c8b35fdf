//! Arbitrary bytes through the MQTT 5 decoder: never a panic, and every packet that
//! decodes encodes back to a packet that decodes equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use petrel_codec::{decode, BytesMut, Packet, ProtocolVersion};

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    while let Ok(Some(packet)) = decode(&mut buf, ProtocolVersion::V5, 1 << 20) {
        let v = match &packet {
            Packet::Connect(c) => c.protocol,
            _ => ProtocolVersion::V5,
        };
        let mut out = BytesMut::new();
        packet
            .encode(v, &mut out)
            .expect("a decoded packet encodes");
        let again = decode(&mut out, v, u32::MAX).expect("re-decodes");
        assert_eq!(again.as_ref(), Some(&packet));
    }
});
