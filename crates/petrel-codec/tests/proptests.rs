//! Property tests: encode/decode identity, exact sizes, robustness against arbitrary bytes,
//! and chunked byte streams.

mod strategies;

use petrel_codec::*;
use proptest::collection::vec;
use proptest::prelude::*;
use strategies::{any_shape_packet, packet, version};

fn encode_one(p: &Packet, v: ProtocolVersion) -> BytesMut {
    let mut buf = BytesMut::new();
    p.encode(v, &mut buf).expect("valid packets encode");
    buf
}

/// Decodes every packet in `buf`, stopping at the first need-more or error.
fn decode_all(buf: &mut BytesMut, v: ProtocolVersion) -> Vec<Packet> {
    let mut out = Vec::new();
    while let Ok(Some(p)) = decode(buf, v, u32::MAX) {
        out.push(p);
    }
    out
}

fn versioned_packet() -> impl Strategy<Value = (ProtocolVersion, Packet)> {
    version().prop_flat_map(|v| packet(v).prop_map(move |p| (v, p)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_decode_is_identity((v, p) in versioned_packet()) {
        let mut buf = encode_one(&p, v);
        prop_assert_eq!(p.encoded_len(v).expect("len"), buf.len());
        let decoded = decode(&mut buf, v, u32::MAX).expect("decodes");
        prop_assert_eq!(decoded, Some(p));
        prop_assert!(buf.is_empty());
    }

    /// The trusted path writes the very bytes of the checked one, and so does the PUBLISH
    /// encoder used without building a `Packet`.
    #[test]
    fn trusted_and_publish_encoders_write_the_same_bytes((v, p) in versioned_packet()) {
        let checked = encode_one(&p, v);
        let mut trusted = BytesMut::new();
        p.encode_trusted(v, &mut trusted).expect("valid packets encode");
        prop_assert_eq!(&trusted, &checked);
        if let Packet::Publish(publish) = &p {
            let mut direct = BytesMut::new();
            publish.encode(v, &mut direct).expect("valid packets encode");
            prop_assert_eq!(&direct, &checked);
            prop_assert_eq!(publish.encoded_len(v).expect("len"), checked.len());
        }
    }

    #[test]
    fn mqtt3_encoder_keeps_what_mqtt3_can_say(
        v in prop_oneof![Just(ProtocolVersion::V3_1), Just(ProtocolVersion::V3_1_1)],
        p in any_shape_packet(false),
    ) {
        let mut buf = encode_one(&p, v);
        prop_assert_eq!(p.encoded_len(v).expect("len"), buf.len());
        let decoded = decode(&mut buf, v, u32::MAX).expect("decodes");
        prop_assert_eq!(decoded, Some(p.for_version(v)));
    }

    #[test]
    fn every_proper_prefix_asks_for_more((v, p) in versioned_packet()) {
        let whole = encode_one(&p, v);
        for n in 0..whole.len() {
            let mut part = BytesMut::from(&whole[..n]);
            prop_assert_eq!(decode(&mut part, v, u32::MAX), Ok(None));
            prop_assert_eq!(part.len(), n);
        }
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(
        bytes in vec(any::<u8>(), 0..512),
        v in version(),
        max in prop_oneof![Just(u32::MAX), 0..600u32],
    ) {
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = decode(&mut buf, v, max) {}
    }

    #[test]
    fn mutated_valid_packets_never_panic(
        (v, p) in versioned_packet(),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = encode_one(&p, v).to_vec();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let mut buf = BytesMut::from(&bytes[..]);
        if let Ok(Some(decoded)) = decode(&mut buf, v, u32::MAX) {
            // Whatever decodes must encode again: the decoder accepts only valid packets.
            let version = match &decoded {
                Packet::Connect(c) => c.protocol,
                _ => v,
            };
            let mut again = encode_one(&decoded, version);
            prop_assert_eq!(decode(&mut again, version, u32::MAX).expect("re-decodes"), Some(decoded));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn chunked_streams_decode_to_the_same_packets(
        (v, packets) in version().prop_flat_map(|v| vec(packet(v), 1..8).prop_map(move |p| (v, p))),
        cuts in vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut stream = BytesMut::new();
        for p in &packets {
            p.encode(v, &mut stream).expect("encodes");
        }
        let stream = stream.freeze();
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        points.push(stream.len());
        points.sort_unstable();
        let mut buf = BytesMut::new();
        let mut decoded = Vec::new();
        let mut from = 0;
        for to in points {
            buf.extend_from_slice(&stream[from..to]);
            from = to;
            decoded.extend(decode_all(&mut buf, v));
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(decoded, packets);
    }
}
