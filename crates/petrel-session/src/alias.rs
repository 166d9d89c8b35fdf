//! Topic aliases (section 3.3.2.3.4) in both directions.

use std::collections::HashMap;

use petrel_codec::{ByteString, PropertyId, Publish, ReasonCode};

use crate::error::ProtocolViolation;

/// How outgoing topic aliases are assigned, within the peer's Topic Alias Maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AliasPolicy {
    /// Never send topic aliases.
    #[default]
    Disabled,
    /// Give aliases to the first topics seen until the peer's maximum is reached; never
    /// replace a mapping.
    FirstCome,
    /// Give every topic an alias, replacing the least recently used mapping when all are
    /// taken.
    LeastRecentlyUsed,
}

/// Aliases the peer set for its PUBLISH packets to us.
#[derive(Debug, Clone, Default)]
pub(crate) struct InboundAliases {
    max: u16,
    /// Allocated on first use: most connections never use aliases, and every connection
    /// holds this struct (a box is 8 bytes, an empty map 48).
    #[allow(clippy::box_collection)]
    map: Option<Box<HashMap<u16, ByteString>>>,
}

impl InboundAliases {
    pub(crate) fn new(max: u16) -> Self {
        Self { max, map: None }
    }

    /// Replaces an alias-only topic by the full one and records new mappings; the Topic
    /// Alias property is removed.
    pub(crate) fn resolve(&mut self, p: &mut Publish) -> Result<(), ProtocolViolation> {
        match p.properties.topic_alias() {
            Some(0) => Err(ProtocolViolation::new(
                ReasonCode::TopicAliasInvalid,
                Some("MQTT-3.3.2-8"),
                "topic alias 0",
            )),
            Some(a) if a > self.max => Err(ProtocolViolation::new(
                ReasonCode::TopicAliasInvalid,
                Some("MQTT-3.3.2-9"),
                "topic alias above the maximum",
            )),
            Some(a) => {
                if p.topic.is_empty() {
                    match self.map.as_ref().and_then(|m| m.get(&a)) {
                        Some(t) => p.topic = t.clone(),
                        None => {
                            return Err(ProtocolViolation::new(
                                ReasonCode::ProtocolError,
                                None,
                                "unknown topic alias with an empty topic",
                            ))
                        }
                    }
                } else {
                    let map = self.map.get_or_insert_with(Box::default);
                    map.insert(a, p.topic.clone());
                }
                p.properties.remove(PropertyId::TopicAlias);
                Ok(())
            }
            None if p.topic.is_empty() => Err(ProtocolViolation::protocol(
                "MQTT-3.3.2-1",
                "empty topic name without a topic alias",
            )),
            None => Ok(()),
        }
    }
}

/// What to put in an outgoing PUBLISH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AliasPlan {
    /// Full topic, no alias.
    None,
    /// Empty topic and this existing alias.
    Existing(u16),
    /// Full topic and this alias, establishing the mapping.
    New(u16),
}

/// Aliases we assign to topics we send.
#[derive(Debug, Clone, Default)]
pub(crate) struct OutboundAliases {
    policy: AliasPolicy,
    max: u16,
    /// Allocated on first use: most connections never use aliases, and every connection
    /// holds this struct.
    table: Option<Box<OutboundTable>>,
}

/// The mappings of [`OutboundAliases`].
#[derive(Debug, Clone, Default)]
struct OutboundTable {
    by_topic: HashMap<ByteString, u16>,
    /// Index alias-1: topic and last use tick.
    slots: Vec<(ByteString, u64)>,
    tick: u64,
}

impl OutboundAliases {
    pub(crate) fn new(policy: AliasPolicy, max: u16) -> Self {
        let max = if policy == AliasPolicy::Disabled {
            0
        } else {
            max
        };
        Self {
            policy,
            max,
            table: None,
        }
    }

    pub(crate) fn plan(&self, topic: &ByteString) -> AliasPlan {
        if self.max == 0 || topic.is_empty() {
            return AliasPlan::None;
        }
        let Some(table) = &self.table else {
            return AliasPlan::New(1);
        };
        if let Some(a) = table.by_topic.get(topic) {
            return AliasPlan::Existing(*a);
        }
        if table.slots.len() < usize::from(self.max) {
            // `slots.len() < max <= u16::MAX`, so the new alias fits.
            return AliasPlan::New(u16::try_from(table.slots.len() + 1).unwrap_or(self.max));
        }
        match self.policy {
            AliasPolicy::LeastRecentlyUsed => {
                let oldest = table.slots.iter().enumerate().min_by_key(|(_, (_, t))| *t);
                match oldest.and_then(|(i, _)| u16::try_from(i + 1).ok()) {
                    Some(a) => AliasPlan::New(a),
                    None => AliasPlan::None,
                }
            }
            _ => AliasPlan::None,
        }
    }

    /// Records that a PUBLISH built from `plan` was sent.
    pub(crate) fn commit(&mut self, topic: &ByteString, plan: AliasPlan) {
        if plan == AliasPlan::None {
            return;
        }
        let table = self.table.get_or_insert_with(Box::default);
        table.tick += 1;
        let tick = table.tick;
        match plan {
            AliasPlan::None => {}
            AliasPlan::Existing(a) => {
                if let Some(slot) = table.slots.get_mut(usize::from(a) - 1) {
                    slot.1 = tick;
                }
            }
            AliasPlan::New(a) => {
                let i = usize::from(a) - 1;
                if i == table.slots.len() {
                    table.slots.push((topic.clone(), tick));
                } else if let Some(slot) = table.slots.get_mut(i) {
                    let old = std::mem::replace(slot, (topic.clone(), tick));
                    table.by_topic.remove(&old.0);
                }
                table.by_topic.insert(topic.clone(), a);
            }
        }
    }

    /// Applies `plan` to a PUBLISH (topic and property).
    pub(crate) fn apply(plan: AliasPlan, p: &mut Publish) {
        match plan {
            AliasPlan::None => {}
            AliasPlan::Existing(a) => {
                p.topic = ByteString::new();
                p.properties.set(petrel_codec::Property::TopicAlias(a));
            }
            AliasPlan::New(a) => p.properties.set(petrel_codec::Property::TopicAlias(a)),
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.table.as_ref().map_or(0, |t| t.slots.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_replaces_oldest_within_maximum_mqtt_3_3_2_11() {
        let mut o = OutboundAliases::new(AliasPolicy::LeastRecentlyUsed, 2);
        let (a, b, c) = (
            ByteString::from("a"),
            ByteString::from("b"),
            ByteString::from("c"),
        );
        let pa = o.plan(&a);
        assert_eq!(pa, AliasPlan::New(1));
        o.commit(&a, pa);
        let pb = o.plan(&b);
        o.commit(&b, pb);
        assert_eq!(o.plan(&a), AliasPlan::Existing(1));
        o.commit(&a, AliasPlan::Existing(1));
        assert_eq!(o.plan(&c), AliasPlan::New(2));
        o.commit(&c, AliasPlan::New(2));
        assert_eq!(o.plan(&b), AliasPlan::New(1));
        assert_eq!(o.len(), 2);
    }

    #[test]
    fn first_come_never_replaces() {
        let mut o = OutboundAliases::new(AliasPolicy::FirstCome, 1);
        let (a, b) = (ByteString::from("a"), ByteString::from("b"));
        o.commit(&a, o.plan(&a));
        assert_eq!(o.plan(&b), AliasPlan::None);
        assert_eq!(
            OutboundAliases::new(AliasPolicy::Disabled, 9).plan(&a),
            AliasPlan::None
        );
    }
}
