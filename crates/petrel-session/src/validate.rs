//! Topic name and topic filter checks needed by the protocol rules (section 4.7), delegated
//! to `petrel-topic` so the rules live in one place.
//!
//! The codec already guarantees well-formed UTF-8 without U+0000; these checks add the
//! wildcard and length rules.

use petrel_codec::ByteString;
use petrel_topic::{SubscriptionFilter, TopicFilter, TopicName, SHARE_PREFIX};

/// True if `topic` may be used as a PUBLISH topic name: not empty and no wildcard
/// (MQTT-3.3.2-2, MQTT-4.7.3-1).
pub fn is_valid_topic_name(topic: &str) -> bool {
    TopicName::validate(topic).is_ok()
}

/// True if `filter` is a valid topic filter (MQTT-4.7.1-1, MQTT-4.7.1-2, MQTT-4.7.3-1),
/// including the `$share/{group}/{filter}` form (MQTT-4.8.2-1, MQTT-4.8.2-2).
pub fn is_valid_topic_filter(filter: &str) -> bool {
    if is_shared_filter(filter) {
        SubscriptionFilter::parse(ByteString::from(filter)).is_ok()
    } else {
        TopicFilter::validate(filter).is_ok()
    }
}

/// True if `filter` is a shared subscription (`$share/...`).
pub fn is_shared_filter(filter: &str) -> bool {
    filter.starts_with(SHARE_PREFIX)
}

/// True if the filter contains `+` or `#`.
pub fn has_wildcard(filter: &str) -> bool {
    filter.contains(['+', '#'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_mqtt_3_3_2_2() {
        assert!(is_valid_topic_name("a/b"));
        assert!(is_valid_topic_name("/"));
        assert!(!is_valid_topic_name(""));
        assert!(!is_valid_topic_name("a/+"));
        assert!(!is_valid_topic_name("#"));
    }

    #[test]
    fn filters_mqtt_4_7_1_1_and_2() {
        for ok in ["#", "+", "a/#", "+/b/+", "a//b", "$share/g/a/#", "/"] {
            assert!(is_valid_topic_filter(ok), "{ok}");
        }
        for bad in [
            "",
            "a/#/b",
            "a+",
            "a/b#",
            "$share/g",
            "$share//a",
            "$share/g+/a",
            "$share/g/",
        ] {
            assert!(!is_valid_topic_filter(bad), "{bad}");
        }
        assert!(is_shared_filter("$share/g/x"));
        assert!(has_wildcard("a/+"));
    }
}
