//! Topic rules, delegated to `petrel-topic`, plus the broker's configurable level cap.

use bytestring::ByteString;
use petrel_topic::{SubscriptionFilter, TopicName};

/// Why a topic name or filter is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TopicError {
    /// Empty (MQTT-4.7.3-1).
    Empty,
    /// Any other rule of `petrel-topic`: a wildcard in a name (MQTT-3.3.2-2), a misplaced
    /// wildcard in a filter (MQTT-4.7.1-1, MQTT-4.7.1-2), a bad share name (MQTT-4.8.2-1,
    /// MQTT-4.8.2-2), or more levels than allowed.
    Invalid,
}

impl From<petrel_topic::TopicError> for TopicError {
    fn from(e: petrel_topic::TopicError) -> Self {
        match e {
            petrel_topic::TopicError::Empty => Self::Empty,
            _ => Self::Invalid,
        }
    }
}

/// Checks a topic name of a PUBLISH or will (MQTT-3.3.2-2, MQTT-4.7.3-1).
pub(crate) fn validate_name(
    topic: &ByteString,
    max_levels: usize,
) -> Result<TopicName, TopicError> {
    let name = TopicName::new(topic.clone())?;
    name.check_max_levels(max_levels)?;
    Ok(name)
}

/// Parses and validates a subscription filter, including `$share/` (MQTT-4.7.1-1/-2,
/// MQTT-4.8.2-1/-2).
pub(crate) fn parse_filter(
    raw: &ByteString,
    max_levels: usize,
) -> Result<SubscriptionFilter, TopicError> {
    let parsed = SubscriptionFilter::parse(raw.clone())?;
    parsed.filter().check_max_levels(max_levels)?;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_mqtt_3_3_2_2() {
        assert!(validate_name(&"a/b".into(), 8).is_ok());
        assert_eq!(
            validate_name(&"a/+".into(), 8).unwrap_err(),
            TopicError::Invalid
        );
        assert_eq!(validate_name(&"".into(), 8).unwrap_err(), TopicError::Empty);
        assert_eq!(
            validate_name(&"a/b/c".into(), 2).unwrap_err(),
            TopicError::Invalid
        );
    }

    #[test]
    fn filters_mqtt_4_7_1_1_and_2() {
        for ok in ["#", "+", "a/#", "+/+/#", "a//b", "/", "$share/g/a/+"] {
            assert!(parse_filter(&ok.into(), 8).is_ok(), "{ok}");
        }
        for bad in [
            "a/#/b",
            "a+",
            "a#",
            "#/a",
            "",
            "$share/g",
            "$share//a",
            "$share/g+/a",
        ] {
            assert!(parse_filter(&bad.into(), 8).is_err(), "{bad}");
        }
        assert!(parse_filter(&"a/b/c".into(), 2).is_err());
    }
}
