//! MQTT 5 properties (section 2.2.2): identifiers, their data types, the packets each may
//! appear in, and a compact list type that costs nothing when empty.

use bytes::Bytes;
use bytestring::ByteString;

/// One MQTT 5 property with its value. Strings and binary data are slices of the decoded
/// input, never copies.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Property {
    PayloadFormatIndicator(u8),
    MessageExpiryInterval(u32),
    ContentType(ByteString),
    ResponseTopic(ByteString),
    CorrelationData(Bytes),
    /// A variable byte integer from 1 to 268,435,455.
    SubscriptionIdentifier(u32),
    SessionExpiryInterval(u32),
    AssignedClientIdentifier(ByteString),
    ServerKeepAlive(u16),
    AuthenticationMethod(ByteString),
    AuthenticationData(Bytes),
    RequestProblemInformation(u8),
    WillDelayInterval(u32),
    RequestResponseInformation(u8),
    ResponseInformation(ByteString),
    ServerReference(ByteString),
    ReasonString(ByteString),
    ReceiveMaximum(u16),
    TopicAliasMaximum(u16),
    TopicAlias(u16),
    MaximumQoS(u8),
    RetainAvailable(u8),
    /// A name/value pair; may appear any number of times, order is kept.
    UserProperty(ByteString, ByteString),
    MaximumPacketSize(u32),
    WildcardSubscriptionAvailable(u8),
    SubscriptionIdentifierAvailable(u8),
    SharedSubscriptionAvailable(u8),
}

/// The identifier byte of a property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum PropertyId {
    PayloadFormatIndicator = 0x01,
    MessageExpiryInterval = 0x02,
    ContentType = 0x03,
    ResponseTopic = 0x08,
    CorrelationData = 0x09,
    SubscriptionIdentifier = 0x0B,
    SessionExpiryInterval = 0x11,
    AssignedClientIdentifier = 0x12,
    ServerKeepAlive = 0x13,
    AuthenticationMethod = 0x15,
    AuthenticationData = 0x16,
    RequestProblemInformation = 0x17,
    WillDelayInterval = 0x18,
    RequestResponseInformation = 0x19,
    ResponseInformation = 0x1A,
    ServerReference = 0x1C,
    ReasonString = 0x1F,
    ReceiveMaximum = 0x21,
    TopicAliasMaximum = 0x22,
    TopicAlias = 0x23,
    MaximumQoS = 0x24,
    RetainAvailable = 0x25,
    UserProperty = 0x26,
    MaximumPacketSize = 0x27,
    WildcardSubscriptionAvailable = 0x28,
    SubscriptionIdentifierAvailable = 0x29,
    SharedSubscriptionAvailable = 0x2A,
}

impl Property {
    /// The identifier of this property.
    pub const fn id(&self) -> PropertyId {
        use Property as P;
        use PropertyId as I;
        match self {
            P::PayloadFormatIndicator(_) => I::PayloadFormatIndicator,
            P::MessageExpiryInterval(_) => I::MessageExpiryInterval,
            P::ContentType(_) => I::ContentType,
            P::ResponseTopic(_) => I::ResponseTopic,
            P::CorrelationData(_) => I::CorrelationData,
            P::SubscriptionIdentifier(_) => I::SubscriptionIdentifier,
            P::SessionExpiryInterval(_) => I::SessionExpiryInterval,
            P::AssignedClientIdentifier(_) => I::AssignedClientIdentifier,
            P::ServerKeepAlive(_) => I::ServerKeepAlive,
            P::AuthenticationMethod(_) => I::AuthenticationMethod,
            P::AuthenticationData(_) => I::AuthenticationData,
            P::RequestProblemInformation(_) => I::RequestProblemInformation,
            P::WillDelayInterval(_) => I::WillDelayInterval,
            P::RequestResponseInformation(_) => I::RequestResponseInformation,
            P::ResponseInformation(_) => I::ResponseInformation,
            P::ServerReference(_) => I::ServerReference,
            P::ReasonString(_) => I::ReasonString,
            P::ReceiveMaximum(_) => I::ReceiveMaximum,
            P::TopicAliasMaximum(_) => I::TopicAliasMaximum,
            P::TopicAlias(_) => I::TopicAlias,
            P::MaximumQoS(_) => I::MaximumQoS,
            P::RetainAvailable(_) => I::RetainAvailable,
            P::UserProperty(_, _) => I::UserProperty,
            P::MaximumPacketSize(_) => I::MaximumPacketSize,
            P::WildcardSubscriptionAvailable(_) => I::WildcardSubscriptionAvailable,
            P::SubscriptionIdentifierAvailable(_) => I::SubscriptionIdentifierAvailable,
            P::SharedSubscriptionAvailable(_) => I::SharedSubscriptionAvailable,
        }
    }
}

/// The properties of one packet (or of a will), in wire order.
///
/// Stored as a small vector so that a packet without properties (the common case, and every
/// MQTT 3 packet) allocates nothing. Look-ups scan the list, which holds a handful of entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Properties(pub Vec<Property>);

macro_rules! getter {
    ($(#[$doc:meta] $name:ident: $variant:ident -> $ty:ty;)*) => {
        $(
            #[$doc]
            pub fn $name(&self) -> Option<$ty> {
                self.0.iter().find_map(|p| match p {
                    Property::$variant(v) => Some(v.clone()),
                    _ => None,
                })
            }
        )*
    };
}

impl Properties {
    /// No properties.
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// True when there are no properties.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds a property, replacing an earlier one with the same identifier unless the
    /// identifier may repeat (user property, subscription identifier).
    pub fn set(&mut self, prop: Property) {
        let id = prop.id();
        if !matches!(
            id,
            PropertyId::UserProperty | PropertyId::SubscriptionIdentifier
        ) {
            if let Some(slot) = self.0.iter_mut().find(|p| p.id() == id) {
                *slot = prop;
                return;
            }
        }
        self.0.push(prop);
    }

    /// Builder form of [`Properties::set`].
    pub fn with(mut self, prop: Property) -> Self {
        self.set(prop);
        self
    }

    /// Removes every property with this identifier.
    pub fn remove(&mut self, id: PropertyId) {
        self.0.retain(|p| p.id() != id);
    }

    /// The user properties, in order.
    pub fn user_properties(&self) -> impl Iterator<Item = (&ByteString, &ByteString)> {
        self.0.iter().filter_map(|p| match p {
            Property::UserProperty(k, v) => Some((k, v)),
            _ => None,
        })
    }

    /// The subscription identifiers, in order.
    pub fn subscription_identifiers(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().filter_map(|p| match p {
            Property::SubscriptionIdentifier(v) => Some(*v),
            _ => None,
        })
    }

    getter! {
        /// Payload Format Indicator (0x01).
        payload_format_indicator: PayloadFormatIndicator -> u8;
        /// Message Expiry Interval in seconds (0x02).
        message_expiry_interval: MessageExpiryInterval -> u32;
        /// Content Type (0x03).
        content_type: ContentType -> ByteString;
        /// Response Topic (0x08).
        response_topic: ResponseTopic -> ByteString;
        /// Correlation Data (0x09).
        correlation_data: CorrelationData -> Bytes;
        /// Session Expiry Interval in seconds (0x11).
        session_expiry_interval: SessionExpiryInterval -> u32;
        /// Assigned Client Identifier (0x12).
        assigned_client_identifier: AssignedClientIdentifier -> ByteString;
        /// Server Keep Alive in seconds (0x13).
        server_keep_alive: ServerKeepAlive -> u16;
        /// Authentication Method (0x15).
        authentication_method: AuthenticationMethod -> ByteString;
        /// Authentication Data (0x16).
        authentication_data: AuthenticationData -> Bytes;
        /// Request Problem Information (0x17).
        request_problem_information: RequestProblemInformation -> u8;
        /// Will Delay Interval in seconds (0x18).
        will_delay_interval: WillDelayInterval -> u32;
        /// Request Response Information (0x19).
        request_response_information: RequestResponseInformation -> u8;
        /// Response Information (0x1A).
        response_information: ResponseInformation -> ByteString;
        /// Server Reference (0x1C).
        server_reference: ServerReference -> ByteString;
        /// Reason String (0x1F).
        reason_string: ReasonString -> ByteString;
        /// Receive Maximum (0x21).
        receive_maximum: ReceiveMaximum -> u16;
        /// Topic Alias Maximum (0x22).
        topic_alias_maximum: TopicAliasMaximum -> u16;
        /// Topic Alias (0x23).
        topic_alias: TopicAlias -> u16;
        /// Maximum QoS (0x24).
        maximum_qos: MaximumQoS -> u8;
        /// Retain Available (0x25).
        retain_available: RetainAvailable -> u8;
        /// Maximum Packet Size (0x27).
        maximum_packet_size: MaximumPacketSize -> u32;
        /// Wildcard Subscription Available (0x28).
        wildcard_subscription_available: WildcardSubscriptionAvailable -> u8;
        /// Subscription Identifiers Available (0x29).
        subscription_identifier_available: SubscriptionIdentifierAvailable -> u8;
        /// Shared Subscription Available (0x2A).
        shared_subscription_available: SharedSubscriptionAvailable -> u8;
    }
}
