//! Proptest strategies producing arbitrary but valid packets for a protocol version.
//!
//! Include from a test with `mod strategies;`. [`packet`] gives packets exactly as a peer
//! of that version would decode them; [`any_shape_packet`] gives MQTT 5 shaped packets
//! (with properties and reason codes) to check what the MQTT 3 encoder keeps.
#![allow(dead_code)]

use petrel_codec::*;
use proptest::collection::vec;
use proptest::prelude::*;

/// A string MQTT accepts: no U+0000, a few multi-byte characters.
pub fn text() -> impl Strategy<Value = ByteString> {
    "[a-zA-Z0-9 /_é€😀-]{0,12}".prop_map(ByteString::from)
}

/// A topic name: non-empty, no wildcard.
pub fn topic() -> impl Strategy<Value = ByteString> {
    "[a-z0-9/é]{1,12}".prop_map(ByteString::from)
}

/// A topic filter: non-empty; never a shared subscription, so no-local stays legal.
pub fn filter() -> impl Strategy<Value = ByteString> {
    "[a-z0-9/+#]{1,12}".prop_map(ByteString::from)
}

/// Binary data.
pub fn binary() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..16).prop_map(Bytes::from)
}

fn packet_id() -> impl Strategy<Value = PacketId> {
    (1..=u16::MAX).prop_map(|v| PacketId::new(v).unwrap_or(PacketId::MIN))
}

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

/// A reason code allowed in `packet`.
pub fn reason(packet: PacketType) -> impl Strategy<Value = ReasonCode> {
    let codes: Vec<ReasonCode> = (0..=255u8)
        .filter_map(ReasonCode::from_u8)
        .filter(|r| r.is_allowed_in(packet))
        .collect();
    proptest::sample::select(codes)
}

fn value(id: PropertyId) -> BoxedStrategy<Property> {
    use Property as P;
    use PropertyId as I;
    let flag = || 0..=1u8;
    match id {
        I::PayloadFormatIndicator => flag().prop_map(P::PayloadFormatIndicator).boxed(),
        I::MessageExpiryInterval => any::<u32>().prop_map(P::MessageExpiryInterval).boxed(),
        I::ContentType => text().prop_map(P::ContentType).boxed(),
        I::ResponseTopic => topic().prop_map(P::ResponseTopic).boxed(),
        I::CorrelationData => binary().prop_map(P::CorrelationData).boxed(),
        I::SubscriptionIdentifier => (1..=VARINT_MAX).prop_map(P::SubscriptionIdentifier).boxed(),
        I::SessionExpiryInterval => any::<u32>().prop_map(P::SessionExpiryInterval).boxed(),
        I::AssignedClientIdentifier => text().prop_map(P::AssignedClientIdentifier).boxed(),
        I::ServerKeepAlive => any::<u16>().prop_map(P::ServerKeepAlive).boxed(),
        I::AuthenticationMethod => text().prop_map(P::AuthenticationMethod).boxed(),
        I::AuthenticationData => binary().prop_map(P::AuthenticationData).boxed(),
        I::RequestProblemInformation => flag().prop_map(P::RequestProblemInformation).boxed(),
        I::WillDelayInterval => any::<u32>().prop_map(P::WillDelayInterval).boxed(),
        I::RequestResponseInformation => flag().prop_map(P::RequestResponseInformation).boxed(),
        I::ResponseInformation => text().prop_map(P::ResponseInformation).boxed(),
        I::ServerReference => text().prop_map(P::ServerReference).boxed(),
        I::ReasonString => text().prop_map(P::ReasonString).boxed(),
        I::ReceiveMaximum => (1..=u16::MAX).prop_map(P::ReceiveMaximum).boxed(),
        I::TopicAliasMaximum => any::<u16>().prop_map(P::TopicAliasMaximum).boxed(),
        I::TopicAlias => any::<u16>().prop_map(P::TopicAlias).boxed(),
        I::MaximumQoS => flag().prop_map(P::MaximumQoS).boxed(),
        I::RetainAvailable => flag().prop_map(P::RetainAvailable).boxed(),
        I::UserProperty => (text(), text())
            .prop_map(|(k, v)| P::UserProperty(k, v))
            .boxed(),
        I::MaximumPacketSize => (1..=u32::MAX).prop_map(P::MaximumPacketSize).boxed(),
        I::WildcardSubscriptionAvailable => {
            flag().prop_map(P::WildcardSubscriptionAvailable).boxed()
        }
        I::SubscriptionIdentifierAvailable => {
            flag().prop_map(P::SubscriptionIdentifierAvailable).boxed()
        }
        I::SharedSubscriptionAvailable => flag().prop_map(P::SharedSubscriptionAvailable).boxed(),
    }
}

/// Valid properties for `packet` (or its will): each allowed property at most once (user
/// properties and PUBLISH subscription identifiers several times), in random order.
pub fn properties(packet: PacketType, in_will: bool) -> BoxedStrategy<Properties> {
    let allowed = |id: PropertyId| {
        if in_will {
            id.is_allowed_in_will()
        } else {
            id.is_allowed_in(packet)
        }
    };
    let mut singles = Vec::new();
    let mut repeats = Vec::new();
    for id in (0..=0x2Au8)
        .filter_map(PropertyId::from_u8)
        .filter(|&id| allowed(id))
    {
        if id.may_repeat_in(packet) {
            repeats.push(vec(value(id), 0..3).boxed());
        } else {
            singles.push(proptest::option::weighted(0.3, value(id)).boxed());
        }
    }
    (singles, repeats)
        .prop_flat_map(|(singles, repeats)| {
            let mut all: Vec<Property> = singles.into_iter().flatten().collect();
            all.extend(repeats.into_iter().flatten());
            let has_method = all
                .iter()
                .any(|p| p.id() == PropertyId::AuthenticationMethod);
            if !has_method {
                all.retain(|p| p.id() != PropertyId::AuthenticationData);
            }
            Just(all).prop_shuffle()
        })
        .prop_map(Properties)
        .boxed()
}

fn options() -> impl Strategy<Value = SubscriptionOptions> {
    let rh = prop_oneof![
        Just(RetainHandling::SendAtSubscribe),
        Just(RetainHandling::SendIfNew),
        Just(RetainHandling::DoNotSend)
    ];
    (qos(), any::<bool>(), any::<bool>(), rh).prop_map(|(qos, no_local, rap, rh)| {
        SubscriptionOptions {
            qos,
            no_local,
            retain_as_published: rap,
            retain_handling: rh,
        }
    })
}

fn will() -> impl Strategy<Value = Will> {
    (
        topic(),
        binary(),
        qos(),
        any::<bool>(),
        properties(PacketType::Connect, true),
    )
        .prop_map(|(topic, payload, qos, retain, properties)| Will {
            topic,
            payload,
            qos,
            retain,
            properties,
        })
}

fn connect(protocol: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let fields = (
        any::<bool>(),
        any::<u16>(),
        text(),
        proptest::option::of(will()),
        proptest::option::of(text()),
        proptest::option::of(binary()),
        properties(PacketType::Connect, false),
    );
    fields.prop_map(
        move |(clean_start, keep_alive, client_id, will, username, password, p)| {
            // MQTT 3 forbids a password without a user name.
            let password = if protocol.is_v5() || username.is_some() {
                password
            } else {
                None
            };
            Packet::Connect(Box::new(Connect {
                protocol,
                clean_start,
                keep_alive,
                client_id,
                will,
                username,
                password,
                properties: p,
            }))
        },
    )
}

fn pub_resp(t: PacketType) -> impl Strategy<Value = PubResp> {
    (packet_id(), reason(t), properties(t, false)).prop_map(|(packet_id, reason, properties)| {
        PubResp {
            packet_id,
            reason,
            properties,
        }
    })
}

/// MQTT 5 shaped packets of every type (AUTH only when `with_auth`).
pub fn any_shape_packet(with_auth: bool) -> BoxedStrategy<Packet> {
    use PacketType as T;
    let publish = (any::<bool>(), qos(), any::<bool>(), topic(), packet_id()).prop_flat_map(
        |(dup, qos, retain, topic, id)| {
            (properties(T::Publish, false), vec(any::<u8>(), 0..64)).prop_map(
                move |(properties, payload)| {
                    let has_id = qos != QoS::AtMostOnce;
                    Packet::Publish(Publish {
                        dup: dup && has_id,
                        qos,
                        retain,
                        topic: topic.clone(),
                        packet_id: has_id.then_some(id),
                        properties,
                        payload: payload.into(),
                    })
                },
            )
        },
    );
    let connack = (
        any::<bool>(),
        reason(T::ConnAck),
        properties(T::ConnAck, false),
    )
        .prop_map(|(sp, reason, properties)| {
            Packet::ConnAck(ConnAck {
                session_present: sp && !reason.is_error(),
                reason,
                properties,
            })
        });
    let subscribe = (
        packet_id(),
        vec((filter(), options()), 1..5),
        properties(T::Subscribe, false),
    )
        .prop_map(|(packet_id, filters, properties)| {
            Packet::Subscribe(Subscribe {
                packet_id,
                filters,
                properties,
            })
        });
    let suback = (
        packet_id(),
        vec(reason(T::SubAck), 1..5),
        properties(T::SubAck, false),
    )
        .prop_map(|(packet_id, reasons, properties)| {
            Packet::SubAck(SubAck {
                packet_id,
                reasons,
                properties,
            })
        });
    let unsubscribe = (
        packet_id(),
        vec(filter(), 1..5),
        properties(T::Unsubscribe, false),
    )
        .prop_map(|(packet_id, filters, properties)| {
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                filters,
                properties,
            })
        });
    let unsuback = (
        packet_id(),
        vec(reason(T::UnsubAck), 1..5),
        properties(T::UnsubAck, false),
    )
        .prop_map(|(packet_id, reasons, properties)| {
            Packet::UnsubAck(UnsubAck {
                packet_id,
                reasons,
                properties,
            })
        });
    let disconnect = (reason(T::Disconnect), properties(T::Disconnect, false))
        .prop_map(|(reason, properties)| Packet::Disconnect(Disconnect { reason, properties }));
    let auth = (reason(T::Auth), properties(T::Auth, false))
        .prop_map(|(reason, properties)| Packet::Auth(Auth { reason, properties }));
    let mut options: Vec<BoxedStrategy<Packet>> = vec![
        publish.boxed(),
        connack.boxed(),
        pub_resp(T::PubAck).prop_map(Packet::PubAck).boxed(),
        pub_resp(T::PubRec).prop_map(Packet::PubRec).boxed(),
        pub_resp(T::PubRel).prop_map(Packet::PubRel).boxed(),
        pub_resp(T::PubComp).prop_map(Packet::PubComp).boxed(),
        subscribe.boxed(),
        suback.boxed(),
        unsubscribe.boxed(),
        unsuback.boxed(),
        Just(Packet::PingReq).boxed(),
        Just(Packet::PingResp).boxed(),
        disconnect.boxed(),
    ];
    if with_auth {
        options.push(auth.boxed());
    }
    proptest::strategy::Union::new(options).boxed()
}

/// Valid packets as a peer speaking `version` decodes them: every type that exists in the
/// version, CONNECT carrying `version` itself.
pub fn packet(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let others = any_shape_packet(version.is_v5()).prop_map(move |p| p.for_version(version));
    prop_oneof![1 => connect(version).prop_map(move |p| p.for_version(version)), 12 => others]
        .boxed()
}

/// Any of the three versions.
pub fn version() -> impl Strategy<Value = ProtocolVersion> {
    prop_oneof![
        Just(ProtocolVersion::V3_1),
        Just(ProtocolVersion::V3_1_1),
        Just(ProtocolVersion::V5)
    ]
}
