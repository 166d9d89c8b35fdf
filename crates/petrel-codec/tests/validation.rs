//! Every rejection of the decoder, one test per rule, named after its normative statement
//! where the specification numbers it.

use petrel_codec::*;
use ProtocolVersion::{V3_1, V3_1_1, V5};

fn err(version: ProtocolVersion, bytes: &[u8]) -> DecodeError {
    let mut buf = BytesMut::from(bytes);
    decode(&mut buf, version, u32::MAX).expect_err("must be rejected")
}

fn ok(version: ProtocolVersion, bytes: &[u8]) -> Packet {
    let mut buf = BytesMut::from(bytes);
    decode(&mut buf, version, u32::MAX)
        .expect("decodes")
        .expect("complete")
}

fn assert_rule(e: &DecodeError, id: &str, reason: ReasonCode) {
    assert_eq!(e.normative_id(), Some(id), "{e}");
    assert_eq!(e.reason_code(), reason, "{e}");
}

const MALFORMED: ReasonCode = ReasonCode::MalformedPacket;
const PROTOCOL: ReasonCode = ReasonCode::ProtocolError;

#[test]
fn packet_too_large_is_decided_from_the_fixed_header_alone() {
    // PUBLISH announcing 1,000 bytes; only the 3-byte fixed header has arrived.
    let mut buf = BytesMut::from(&[0x30, 0xE8, 0x07][..]);
    let e = decode(&mut buf, V5, 100).expect_err("too large");
    assert_eq!(
        e,
        DecodeError::PacketTooLarge {
            size: 1003,
            max: 100
        }
    );
    assert_eq!(e.reason_code(), ReasonCode::PacketTooLarge);
    assert_eq!(buf.len(), 3, "nothing consumed");
    // The limit counts the fixed header: 1003 bytes fit in 1003 but not in 1002.
    let mut buf = BytesMut::from(&[0x30, 0xE8, 0x07][..]);
    assert_eq!(decode(&mut buf, V5, 1003), Ok(None));
}

#[test]
fn partial_packets_consume_nothing() {
    let full = [0x30, 5, 0, 1, b'a', b'h', b'i'];
    for n in 0..full.len() {
        let mut buf = BytesMut::from(&full[..n]);
        assert_eq!(decode(&mut buf, V3_1_1, u32::MAX), Ok(None));
        assert_eq!(buf.len(), n);
    }
}

#[test]
fn remaining_length_over_four_bytes_is_malformed_section_1_5_5() {
    let e = err(V3_1_1, &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]);
    assert_eq!(e, DecodeError::VarIntTooLong);
    assert_eq!(e.reason_code(), MALFORMED);
}

#[test]
fn non_minimal_variable_byte_integer_mqtt_1_5_5_1() {
    let e = err(V5, &[0xC0, 0x80, 0x00]);
    assert_rule(&e, "MQTT-1.5.5-1", MALFORMED);
}

#[test]
fn reserved_packet_types() {
    assert_eq!(err(V5, &[0x00, 0]), DecodeError::ReservedPacketType(0));
    // AUTH does not exist before MQTT 5.
    assert_eq!(err(V3_1_1, &[0xF0, 0]), DecodeError::ReservedPacketType(15));
}

#[test]
fn reserved_flag_bits_mqtt_2_1_3_1() {
    for first in [
        0x11, 0x21, 0x41, 0x60, 0x63, 0x71, 0x80, 0x83, 0x91, 0xA0, 0xB1, 0xC8, 0xD1, 0xE2,
    ] {
        let e = err(V5, &[first, 0]);
        assert_rule(&e, "MQTT-2.1.3-1", MALFORMED);
        assert!(matches!(e, DecodeError::ReservedFlags { .. }));
        // MQTT 3.1.1 numbers the same rule differently.
        assert_eq!(
            err(V3_1_1, &[first, 0]).normative_id_for(V3_1_1),
            Some("MQTT-2.2.2-1")
        );
    }
}

#[test]
fn publish_qos_3_mqtt_3_3_1_4() {
    let e = err(V3_1_1, &[0x36, 5, 0, 1, b'a', 0, 1]);
    assert_rule(&e, "MQTT-3.3.1-4", MALFORMED);
}

#[test]
fn dup_on_qos_0_mqtt_3_3_1_2() {
    let e = err(V3_1_1, &[0x38, 3, 0, 1, b'a']);
    assert_rule(&e, "MQTT-3.3.1-2", MALFORMED);
}

#[test]
fn packet_id_zero_mqtt_2_2_1_3() {
    for bytes in [
        &[0x32, 5, 0, 1, b'a', 0, 0][..],
        &[0x40, 2, 0, 0],
        &[0x62, 2, 0, 0],
        &[0x82, 6, 0, 0, 0, 1, b'a', 0],
        &[0xA2, 5, 0, 0, 0, 1, b'a'],
    ] {
        assert_rule(&err(V3_1_1, bytes), "MQTT-2.2.1-3", MALFORMED);
        assert_eq!(
            err(V3_1_1, bytes).normative_id_for(V3_1_1),
            Some("MQTT-2.3.1-1")
        );
    }
}

#[test]
fn ill_formed_utf8_and_surrogates_mqtt_1_5_4_1() {
    // 0xC3 0x28 is an invalid sequence; ED A0 80 encodes the surrogate U+D800.
    assert_rule(
        &err(V5, &[0x30, 5, 0, 2, 0xC3, 0x28, 0]),
        "MQTT-1.5.4-1",
        MALFORMED,
    );
    assert_rule(
        &err(V5, &[0x30, 6, 0, 3, 0xED, 0xA0, 0x80, 0]),
        "MQTT-1.5.4-1",
        MALFORMED,
    );
    assert_eq!(
        err(V3_1_1, &[0x30, 4, 0, 2, 0xC3, 0x28]).normative_id_for(V3_1_1),
        Some("MQTT-1.5.3-1")
    );
}

#[test]
fn null_character_mqtt_1_5_4_2() {
    assert_rule(
        &err(V5, &[0x30, 5, 0, 2, b'a', 0, 0]),
        "MQTT-1.5.4-2",
        MALFORMED,
    );
    // In a user property too.
    let e = err(
        V5,
        &[0x30, 12, 0, 1, b'a', 7, 0x26, 0, 1, 0, 0, 1, b'v', b'p'],
    );
    assert_eq!(e, DecodeError::NullCharacter);
}

fn connect_bytes(name: &[u8], level: u8, flags: u8, tail: &[u8]) -> Vec<u8> {
    let mut body = vec![0, name.len() as u8];
    body.extend_from_slice(name);
    body.extend_from_slice(&[level, flags, 0, 10]);
    if level == 5 {
        body.push(0);
    }
    body.extend_from_slice(&[0, 1, b'c']);
    body.extend_from_slice(tail);
    let mut out = vec![0x10, body.len() as u8];
    out.extend_from_slice(&body);
    out
}

#[test]
fn unknown_protocol_name_mqtt_3_1_2_1() {
    let e = err(V5, &connect_bytes(b"MQTX", 4, 2, &[]));
    assert_rule(&e, "MQTT-3.1.2-1", ReasonCode::UnsupportedProtocolVersion);
}

#[test]
fn unsupported_protocol_level_mqtt_3_1_2_2() {
    // The server answers CONNACK 0x84 (MQTT 5) or return code 1 (MQTT 3).
    let e = err(V3_1_1, &connect_bytes(b"MQTT", 6, 2, &[]));
    assert_eq!(e, DecodeError::UnsupportedProtocolLevel { level: 6 });
    assert_rule(&e, "MQTT-3.1.2-2", ReasonCode::UnsupportedProtocolVersion);
    assert_eq!(e.reason_code().to_v3_connack(), 1);
    assert!(err(V5, &connect_bytes(b"MQIsdp", 4, 2, &[]))
        .reason_code()
        .is_error());
}

#[test]
fn connect_reserved_flag_mqtt_3_1_2_3() {
    assert_rule(
        &err(V3_1_1, &connect_bytes(b"MQTT", 4, 3, &[])),
        "MQTT-3.1.2-3",
        MALFORMED,
    );
    assert_rule(
        &err(V5, &connect_bytes(b"MQTT", 5, 3, &[])),
        "MQTT-3.1.2-3",
        MALFORMED,
    );
}

#[test]
fn will_flags_mqtt_3_1_2_11_12_13() {
    let e = err(V5, &connect_bytes(b"MQTT", 5, 0b0000_1010, &[]));
    assert_rule(&e, "MQTT-3.1.2-11", MALFORMED);
    assert_eq!(e.normative_id_for(V3_1_1), Some("MQTT-3.1.2-13"));
    let e = err(V5, &connect_bytes(b"MQTT", 5, 0b0010_0010, &[]));
    assert_rule(&e, "MQTT-3.1.2-13", MALFORMED);
    assert_eq!(e.normative_id_for(V3_1_1), Some("MQTT-3.1.2-15"));
    let will = [0, 1, b't', 0, 0];
    let e = err(V3_1_1, &connect_bytes(b"MQTT", 4, 0b0001_1110, &will));
    assert_rule(&e, "MQTT-3.1.2-12", MALFORMED);
    assert_eq!(e.normative_id_for(V3_1_1), Some("MQTT-3.1.2-14"));
}

#[test]
fn password_without_user_name_v3_mqtt_3_1_2_22() {
    let e = err(
        V3_1_1,
        &connect_bytes(b"MQTT", 4, 0b0100_0010, &[0, 1, b'p']),
    );
    assert_eq!(e, DecodeError::PasswordWithoutUsername);
    assert_eq!(e.normative_id_for(V3_1_1), Some("MQTT-3.1.2-22"));
    // MQTT 5 allows it.
    let p = ok(V5, &connect_bytes(b"MQTT", 5, 0b0100_0010, &[0, 1, b'p']));
    assert!(matches!(p, Packet::Connect(c) if c.password.is_some() && c.username.is_none()));
}

#[test]
fn mqtt_3_1_connect_bit_0_is_unused_not_reserved() {
    let p = ok(V3_1, &connect_bytes(b"MQIsdp", 3, 3, &[]));
    assert!(matches!(p, Packet::Connect(c) if c.protocol == V3_1));
}

#[test]
fn connack_reserved_flags_mqtt_3_2_2_1() {
    assert_rule(&err(V5, &[0x20, 3, 0x02, 0, 0]), "MQTT-3.2.2-1", MALFORMED);
}

#[test]
fn connack_session_present_on_failure_mqtt_3_2_2_6() {
    assert_rule(
        &err(V5, &[0x20, 3, 0x01, 0x87, 0]),
        "MQTT-3.2.2-6",
        PROTOCOL,
    );
    let e = err(V3_1_1, &[0x20, 2, 0x01, 5]);
    assert_eq!(e.normative_id_for(V3_1_1), Some("MQTT-3.2.2-4"));
}

#[test]
fn reason_codes_must_be_allowed_in_the_packet_section_2_4() {
    // 0x84 Unsupported Protocol Version only exists in CONNACK.
    assert!(matches!(
        err(V5, &[0x40, 3, 0, 1, 0x84]),
        DecodeError::InvalidReasonCode { .. }
    ));
    // 0x03 is not a reason code at all.
    assert!(matches!(
        err(V5, &[0xE0, 1, 0x03]),
        DecodeError::InvalidReasonCode { .. }
    ));
    // MQTT 3 CONNACK return codes stop at 5.
    assert!(matches!(
        err(V3_1_1, &[0x20, 2, 0, 6]),
        DecodeError::InvalidReasonCode { .. }
    ));
    // MQTT 3 SUBACK return codes are 0, 1, 2 and 0x80.
    assert!(matches!(
        err(V3_1_1, &[0x90, 3, 0, 1, 0x87]),
        DecodeError::InvalidReasonCode { .. }
    ));
}

#[test]
fn unknown_property_is_malformed_section_2_2_2_2() {
    let e = err(V5, &[0x30, 6, 0, 1, b'a', 2, 0x7F, 0]);
    assert_eq!(e, DecodeError::UnknownProperty(0x7F));
    assert_eq!(e.reason_code(), MALFORMED);
}

#[test]
fn property_not_allowed_in_packet_section_2_2_2_2() {
    // Session Expiry Interval in PUBLISH.
    let e = err(V5, &[0x30, 9, 0, 1, b'a', 5, 0x11, 0, 0, 0, 1]);
    assert_eq!(
        e,
        DecodeError::PropertyNotAllowed {
            id: PropertyId::SessionExpiryInterval,
            packet: PacketType::Publish,
            in_will: false
        }
    );
    assert_eq!(e.reason_code(), MALFORMED);
    // Will Delay Interval is only allowed among the will properties.
    let e = err(V5, &[0x30, 9, 0, 1, b'a', 5, 0x18, 0, 0, 0, 1]);
    assert!(matches!(e, DecodeError::PropertyNotAllowed { .. }));
}

#[test]
fn duplicated_property_is_a_protocol_error_section_2_2_2_2() {
    let e = err(V5, &[0x30, 10, 0, 1, b'a', 6, 0x23, 0, 1, 0x23, 0, 2]);
    assert_eq!(e, DecodeError::DuplicateProperty(PropertyId::TopicAlias));
    assert_eq!(e.reason_code(), PROTOCOL);
    // User properties and (in PUBLISH) subscription identifiers may repeat.
    ok(V5, &[0x30, 8, 0, 1, b'a', 4, 0x0B, 1, 0x0B, 2]);
    let e = err(V5, &[0x82, 11, 0, 1, 4, 0x0B, 1, 0x0B, 2, 0, 1, b'a', 0]);
    assert_eq!(
        e,
        DecodeError::DuplicateProperty(PropertyId::SubscriptionIdentifier)
    );
}

#[test]
fn forbidden_property_values() {
    // Subscription Identifier 0, Receive Maximum 0, Maximum QoS 2.
    for bytes in [
        &[0x30, 6, 0, 1, b'a', 2, 0x0B, 0][..],
        &[0x20, 6, 0, 0, 3, 0x21, 0, 0],
        &[0x20, 5, 0, 0, 2, 0x24, 2],
    ] {
        let e = err(V5, bytes);
        assert!(matches!(e, DecodeError::InvalidPropertyValue(_)), "{e:?}");
        assert_eq!(e.reason_code(), PROTOCOL);
    }
    assert_eq!(
        err(V5, &[0xF0, 6, 0x18, 4, 0x16, 0, 1, b'x']),
        DecodeError::AuthDataWithoutMethod
    );
}

#[test]
fn property_length_exceeding_remaining_length_is_malformed() {
    let e = err(V5, &[0x30, 6, 0, 1, b'a', 9, 0x23, 0]);
    assert_eq!(
        e,
        DecodeError::UnexpectedEnd {
            packet: PacketType::Publish
        }
    );
    assert_eq!(e.reason_code(), MALFORMED);
}

#[test]
fn trailing_bytes_are_malformed() {
    assert!(matches!(
        err(V3_1_1, &[0x40, 3, 0, 1, 0]),
        DecodeError::TrailingBytes { .. }
    ));
    assert!(matches!(
        err(V5, &[0xC0, 1, 0]),
        DecodeError::TrailingBytes { .. }
    ));
    assert!(matches!(
        err(V3_1_1, &connect_bytes(b"MQTT", 4, 2, &[9])),
        DecodeError::TrailingBytes { .. }
    ));
}

#[test]
fn subscription_options_reserved_bits_mqtt_3_8_3_5() {
    assert_rule(
        &err(V5, &[0x82, 7, 0, 1, 0, 0, 1, b'a', 0x40]),
        "MQTT-3.8.3-5",
        MALFORMED,
    );
    // MQTT 3.1.1 reserves the upper six bits.
    let e = err(V3_1_1, &[0x82, 6, 0, 1, 0, 1, b'a', 0x04]);
    assert_eq!(e.normative_id_for(V3_1_1), Some("MQTT-3-8.3-4"));
}

#[test]
fn subscription_qos_3_and_retain_handling_3_section_3_8_3_1() {
    assert_eq!(
        err(V5, &[0x82, 7, 0, 1, 0, 0, 1, b'a', 0x03]),
        DecodeError::InvalidSubscriptionQoS
    );
    let e = err(V5, &[0x82, 7, 0, 1, 0, 0, 1, b'a', 0x30]);
    assert_eq!(e, DecodeError::InvalidRetainHandling);
    assert_eq!(e.reason_code(), PROTOCOL);
}

#[test]
fn no_local_on_shared_subscription_mqtt_3_8_3_4() {
    let mut bytes = vec![0x82, 16, 0, 1, 0, 0, 10];
    bytes.extend_from_slice(b"$share/g/a");
    bytes.push(0x04);
    assert_rule(&err(V5, &bytes), "MQTT-3.8.3-4", PROTOCOL);
}

#[test]
fn empty_subscribe_mqtt_3_8_3_2() {
    assert_rule(&err(V5, &[0x82, 3, 0, 1, 0]), "MQTT-3.8.3-2", PROTOCOL);
    assert_eq!(
        err(V3_1_1, &[0x82, 2, 0, 1]).normative_id_for(V3_1_1),
        Some("MQTT-3.8.3-3")
    );
}

#[test]
fn empty_unsubscribe_mqtt_3_10_3_2() {
    assert_rule(&err(V5, &[0xA2, 3, 0, 1, 0]), "MQTT-3.10.3-2", PROTOCOL);
    assert_rule(&err(V3_1_1, &[0xA2, 2, 0, 1]), "MQTT-3.10.3-2", PROTOCOL);
}

#[test]
fn suback_without_reason_codes_is_rejected() {
    // A client must not accept a SUBACK answering no filter.
    assert!(matches!(
        err(V3_1_1, &[0x90, 2, 0, 1]),
        DecodeError::EmptyAck { .. }
    ));
    assert!(matches!(
        err(V5, &[0xB0, 3, 0, 1, 0]),
        DecodeError::EmptyAck { .. }
    ));
}

#[test]
fn empty_topic_mqtt_4_7_3_1() {
    assert_rule(&err(V3_1_1, &[0x30, 2, 0, 0]), "MQTT-4.7.3-1", PROTOCOL);
    assert_rule(&err(V5, &[0x30, 3, 0, 0, 0]), "MQTT-4.7.3-1", PROTOCOL);
    assert_rule(
        &err(V3_1_1, &[0x82, 5, 0, 1, 0, 0, 0]),
        "MQTT-4.7.3-1",
        PROTOCOL,
    );
    // MQTT 5: an empty topic is fine with a topic alias.
    ok(V5, &[0x30, 6, 0, 0, 3, 0x23, 0, 1]);
}

#[test]
fn wildcard_in_topic_name_mqtt_3_3_2_2() {
    assert_rule(
        &err(V5, &[0x30, 6, 0, 3, b'a', b'/', b'#', 0]),
        "MQTT-3.3.2-2",
        ReasonCode::TopicNameInvalid,
    );
    assert_rule(
        &err(V3_1_1, &[0x30, 3, 0, 1, b'+']),
        "MQTT-3.3.2-2",
        ReasonCode::TopicNameInvalid,
    );
    // Response Topic is a topic name too.
    let e = err(V5, &[0x30, 9, 0, 1, b'a', 5, 0x08, 0, 2, b'x', b'#']);
    assert_eq!(e, DecodeError::WildcardInTopicName);
    // The topic is scanned once for both: U+0000 (MQTT-1.5.4-2) is reported first, and a
    // DUP on QoS 0 (MQTT-3.3.1-2) before the wildcard, as for every other packet rule.
    let e = err(V3_1_1, &[0x30, 4, 0, 2, b'+', 0]);
    assert_eq!(e, DecodeError::NullCharacter);
    let e = err(V3_1_1, &[0x38, 3, 0, 1, b'#']);
    assert_eq!(e, DecodeError::DupWithQoS0);
}

#[test]
fn topic_alias_zero_is_left_to_the_session() {
    // The codec accepts it; the session answers 0x94 (MQTT-3.3.2-8).
    ok(V5, &[0x30, 7, 0, 1, b'a', 3, 0x23, 0, 0]);
}

#[test]
fn encoder_refuses_what_the_decoder_rejects() {
    let publish = Publish {
        dup: true,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: "a".into(),
        packet_id: None,
        properties: Properties::new(),
        payload: Bytes::new(),
    };
    let mut buf = BytesMut::new();
    let e = Packet::Publish(publish.clone()).encode(V5, &mut buf);
    assert_eq!(e, Err(EncodeError::Invalid(DecodeError::DupWithQoS0)));
    assert!(buf.is_empty());
    let p = Packet::Publish(Publish {
        dup: false,
        topic: "a\0".into(),
        ..publish.clone()
    });
    assert_eq!(
        p.encode(V5, &mut buf),
        Err(EncodeError::Invalid(DecodeError::NullCharacter))
    );
    let p = Packet::Publish(Publish {
        dup: false,
        packet_id: PacketId::new(1),
        ..publish
    });
    assert_eq!(p.encode(V5, &mut buf), Err(EncodeError::PacketIdMismatch));
    // The trusted path skips the content rules, never the size rules (MQTT-2.2.1-2).
    assert_eq!(
        p.encode_trusted(V5, &mut buf),
        Err(EncodeError::PacketIdMismatch)
    );
    let auth = Packet::Auth(Auth::default());
    assert!(matches!(
        auth.encode(V3_1_1, &mut buf),
        Err(EncodeError::NotInVersion { .. })
    ));
    assert!(buf.is_empty());
}

#[test]
fn allowed_properties_follow_table_2_2() {
    use PacketType as T;
    use PropertyId as I;
    assert!(I::TopicAlias.is_allowed_in(T::Publish));
    assert!(!I::TopicAlias.is_allowed_in(T::Connect));
    assert!(I::WillDelayInterval.is_allowed_in_will());
    assert!(!I::WillDelayInterval.is_allowed_in(T::Connect));
    assert!(I::UserProperty.is_allowed_in(T::Auth));
    assert!(!I::UserProperty.is_allowed_in(T::PingReq));
    assert!(I::ReasonString.is_allowed_in(T::PubRel));
    assert!(!I::ReasonString.is_allowed_in(T::Publish));
    assert!(ReasonCode::PacketIdentifierNotFound.is_allowed_in(T::PubComp));
    assert!(!ReasonCode::PacketIdentifierNotFound.is_allowed_in(T::PubAck));
}

/// A flood of user properties is bounded by the packet size and handled in one pass
/// (duplicates are found with a bitset over identifiers, not by rescanning the list).
#[test]
fn user_property_flood_is_decoded_in_one_pass() {
    let n = 20_000;
    let mut props = Vec::new();
    for _ in 0..n {
        props.extend_from_slice(&[0x26, 0, 1, b'k', 0, 1, b'v']);
    }
    props.extend_from_slice(&[0x23, 0, 1]);
    let publish = |props: &[u8]| {
        let mut body = vec![0, 1, b't'];
        let mut len = BytesMut::new();
        let l = props.len();
        len.extend_from_slice(&[
            (l & 0x7F) as u8 | 0x80,
            ((l >> 7) & 0x7F) as u8 | 0x80,
            (l >> 14) as u8,
        ]);
        body.extend_from_slice(&len);
        body.extend_from_slice(props);
        let mut out = vec![0x30];
        let b = body.len();
        out.extend_from_slice(&[
            (b & 0x7F) as u8 | 0x80,
            ((b >> 7) & 0x7F) as u8 | 0x80,
            (b >> 14) as u8,
        ]);
        out.extend_from_slice(&body);
        out
    };
    let Packet::Publish(p) = ok(V5, &publish(&props)) else {
        panic!("expected PUBLISH")
    };
    assert_eq!(p.properties.user_properties().count(), n);
    props.extend_from_slice(&[0x23, 0, 2]);
    assert_eq!(
        err(V5, &publish(&props)),
        DecodeError::DuplicateProperty(PropertyId::TopicAlias)
    );
}
