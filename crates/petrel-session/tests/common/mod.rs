//! Shared helpers for the scripted tests: build packets, push them through the codec into a
//! session, and collect what comes out.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use bytes::BytesMut;
use petrel_codec::{
    ByteString, Connect, Packet, PacketId, Properties, Property, ProtocolVersion, PubResp, Publish,
    QoS, ReasonCode, Subscribe, SubscriptionOptions,
};
use petrel_session::{AcceptParams, ServerConfig, ServerEvent, ServerSession};

pub const V5: ProtocolVersion = ProtocolVersion::V5;
pub const V311: ProtocolVersion = ProtocolVersion::V3_1_1;
pub const VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V3_1,
    ProtocolVersion::V3_1_1,
    ProtocolVersion::V5,
];

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub fn pid(n: u16) -> PacketId {
    PacketId::new(n).expect("non-zero id")
}

pub fn connect(version: ProtocolVersion, client_id: &str, clean: bool, keep_alive: u16) -> Connect {
    Connect {
        protocol: version,
        clean_start: clean,
        keep_alive,
        client_id: client_id.into(),
        will: None,
        username: None,
        password: None,
        properties: Properties::new(),
    }
}

pub fn publish(topic: &str, qos: QoS, id: Option<u16>, payload: &'static [u8]) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: false,
        topic: topic.into(),
        packet_id: id.map(pid),
        properties: Properties::new(),
        payload: bytes::Bytes::from_static(payload),
    }
}

pub fn resp(id: u16) -> PubResp {
    PubResp::new(pid(id))
}

pub fn subscribe(id: u16, filters: &[(&str, QoS)]) -> Subscribe {
    Subscribe {
        packet_id: pid(id),
        filters: filters
            .iter()
            .map(|(f, q)| {
                (
                    ByteString::from(*f),
                    SubscriptionOptions {
                        qos: *q,
                        ..Default::default()
                    },
                )
            })
            .collect(),
        properties: Properties::new(),
    }
}

/// Encodes `p` with `version` and feeds the bytes to the server one chunk at a time.
pub fn feed(s: &mut ServerSession, now: Instant, version: ProtocolVersion, p: Packet) {
    let mut buf = BytesMut::new();
    p.encode(version, &mut buf).expect("test packet encodes");
    let _ = s.handle_bytes(now, &buf);
}

/// Everything the server wants to write, decoded back through the codec.
pub fn sent(s: &mut ServerSession) -> Vec<Packet> {
    let mut buf = BytesMut::new();
    s.encode_transmits(&mut buf).expect("encodes");
    let mut out = Vec::new();
    while let Some(p) =
        petrel_codec::decode(&mut buf, s.version(), u32::MAX).expect("server output decodes")
    {
        out.push(p);
    }
    assert!(buf.is_empty());
    out
}

pub fn events(s: &mut ServerSession) -> Vec<ServerEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// A server session for `version` past CONNECT/CONNACK (both consumed).
pub fn connected(
    now: Instant,
    version: ProtocolVersion,
    config: ServerConfig,
    props: Properties,
) -> ServerSession {
    let mut s = ServerSession::new(now, config);
    let mut c = connect(version, "c1", true, 0);
    c.properties = props;
    feed(&mut s, now, version, Packet::Connect(Box::new(c)));
    assert!(matches!(
        events(&mut s).as_slice(),
        [ServerEvent::Connect(_)]
    ));
    s.accept(now, AcceptParams::new()).expect("accept");
    let out = sent(&mut s);
    assert!(
        matches!(out.as_slice(), [Packet::ConnAck(c)] if c.reason == ReasonCode::Success),
        "{out:?}"
    );
    s
}

pub fn closed_reason(evs: &[ServerEvent]) -> Option<ReasonCode> {
    evs.iter().find_map(|e| match e {
        ServerEvent::Closed { reason, .. } => Some(reason.reason_code()),
        _ => None,
    })
}

pub fn disconnect_reason(out: &[Packet]) -> Option<ReasonCode> {
    out.iter().find_map(|p| match p {
        Packet::Disconnect(d) => Some(d.reason),
        _ => None,
    })
}

pub fn prop(p: Property) -> Properties {
    Properties::new().with(p)
}
