//! Topic name and filter rules used by the router (a private adapter until the broker
//! moves onto `petrel-topic`'s types).

/// Why a topic name or filter is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TopicError {
    /// Empty.
    Empty,
    /// A wildcard in a topic name (MQTT-3.3.2-2) or a misplaced wildcard in a filter
    /// (MQTT-4.7.1-1, MQTT-4.7.1-2).
    Wildcard,
    /// More levels than allowed.
    TooManyLevels,
    /// A malformed `$share/{group}/{filter}`.
    BadShare,
}

/// Checks a topic name of a PUBLISH or will (MQTT-3.3.2-2, MQTT-4.7.3-1).
pub(crate) fn validate_name(topic: &str, max_levels: usize) -> Result<(), TopicError> {
    if topic.is_empty() {
        return Err(TopicError::Empty);
    }
    if topic.contains(['+', '#']) {
        return Err(TopicError::Wildcard);
    }
    if topic.split('/').count() > max_levels {
        return Err(TopicError::TooManyLevels);
    }
    Ok(())
}

/// Checks a topic filter (MQTT-4.7.1-1, MQTT-4.7.1-2, MQTT-4.7.3-1).
pub(crate) fn validate_filter(filter: &str, max_levels: usize) -> Result<(), TopicError> {
    if filter.is_empty() {
        return Err(TopicError::Empty);
    }
    let levels: Vec<&str> = filter.split('/').collect();
    if levels.len() > max_levels {
        return Err(TopicError::TooManyLevels);
    }
    let last = levels.len() - 1;
    for (i, level) in levels.iter().enumerate() {
        match *level {
            "+" => {}
            "#" if i == last => {}
            l if l.contains(['+', '#']) => return Err(TopicError::Wildcard),
            _ => {}
        }
    }
    Ok(())
}

/// A filter split into its optional shared-subscription group and the real filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedFilter<'a> {
    /// `Some(group)` for `$share/{group}/{filter}`.
    pub group: Option<&'a str>,
    /// The filter that is matched against topics.
    pub filter: &'a str,
}

/// Parses and validates a subscription filter, including `$share/` (MQTT-4.8.2-1, -2).
pub(crate) fn parse_filter(raw: &str, max_levels: usize) -> Result<ParsedFilter<'_>, TopicError> {
    if let Some(rest) = raw.strip_prefix("$share/") {
        let (group, filter) = rest.split_once('/').ok_or(TopicError::BadShare)?;
        if group.is_empty() || group.contains(['+', '#']) || filter.is_empty() {
            return Err(TopicError::BadShare);
        }
        validate_filter(filter, max_levels)?;
        return Ok(ParsedFilter {
            group: Some(group),
            filter,
        });
    }
    if raw == "$share" {
        return Err(TopicError::BadShare);
    }
    validate_filter(raw, max_levels)?;
    Ok(ParsedFilter {
        group: None,
        filter: raw,
    })
}

/// True when `filter` matches `topic`. Wildcards at the first level never match a topic
/// starting with `$` (MQTT-4.7.2-1).
pub(crate) fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("a/b", 8).is_ok());
        assert_eq!(validate_name("a/+", 8), Err(TopicError::Wildcard)); // MQTT-3.3.2-2
        assert_eq!(validate_name("", 8), Err(TopicError::Empty));
        assert_eq!(validate_name("a/b/c", 2), Err(TopicError::TooManyLevels));
    }

    #[test]
    fn filters_mqtt_4_7_1_1_and_2() {
        for ok in ["#", "+", "a/#", "+/+/#", "a//b", "/"] {
            assert!(validate_filter(ok, 8).is_ok(), "{ok}");
        }
        for bad in ["a/#/b", "a+", "a#", "#/a", ""] {
            assert!(validate_filter(bad, 8).is_err(), "{bad}");
        }
    }

    #[test]
    fn shared() {
        let p = parse_filter("$share/g/a/+", 8).unwrap();
        assert_eq!(p.group, Some("g"));
        assert_eq!(p.filter, "a/+");
        for bad in ["$share/g", "$share//a", "$share/g+/a", "$share"] {
            assert!(parse_filter(bad, 8).is_err(), "{bad}");
        }
    }

    #[test]
    fn matching_mqtt_4_7_2_1() {
        assert!(matches("a/#", "a"));
        assert!(matches("a/#", "a/b/c"));
        assert!(matches("a/+/c", "a/b/c"));
        assert!(!matches("a/+", "a/b/c"));
        assert!(matches("+/+", "/x"));
        assert!(!matches("#", "$SYS/x"));
        assert!(!matches("+/x", "$SYS/x"));
        assert!(matches("$SYS/#", "$SYS/x"));
    }
}
