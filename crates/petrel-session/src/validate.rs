//! Topic name and topic filter checks needed by the protocol rules (section 4.7).
//!
//! The codec already guarantees well-formed UTF-8 without U+0000; these checks add the
//! wildcard rules.

/// True if `topic` may be used as a PUBLISH topic name: not empty and no wildcard
/// (MQTT-3.3.2-2, MQTT-4.7.3-1).
pub fn is_valid_topic_name(topic: &str) -> bool {
    !topic.is_empty() && !topic.contains(['+', '#', '\0'])
}

/// True if `filter` is a valid topic filter (MQTT-4.7.1-1, MQTT-4.7.1-2, MQTT-4.7.3-1),
/// including the `$share/{group}/{filter}` form (MQTT-4.8.2-1, MQTT-4.8.2-2).
pub fn is_valid_topic_filter(filter: &str) -> bool {
    if let Some(rest) = filter.strip_prefix("$share/") {
        return match rest.split_once('/') {
            Some((group, inner)) => {
                !group.is_empty() && !group.contains(['+', '#']) && is_plain_filter(inner)
            }
            None => false,
        };
    }
    is_plain_filter(filter)
}

/// True if `filter` is a shared subscription (`$share/...`).
pub fn is_shared_filter(filter: &str) -> bool {
    filter.starts_with("$share/")
}

/// True if the filter contains `+` or `#`.
pub fn has_wildcard(filter: &str) -> bool {
    filter.contains(['+', '#'])
}

fn is_plain_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.contains('\0') {
        return false;
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        match level {
            "#" if levels.peek().is_some() => return false,
            "#" | "+" => {}
            l if l.contains(['+', '#']) => return false,
            _ => {}
        }
    }
    true
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
