//! The small MQTT topic-filter logic ACL rules need: validating a filter, matching a
//! topic name against it, and deciding whether every topic one filter matches is also
//! matched by another ("covers").
//!
//! Validation and matching are petrel-topic's (so ACLs and routing agree); coverage is
//! only needed here.

/// Whether `filter` is a valid MQTT topic filter (MQTT-4.7.1-1, MQTT-4.7.1-2): non-empty,
/// no NUL, `#` only as the whole last level, `+` only as a whole level.
pub fn valid_filter(filter: &str) -> bool {
    petrel_topic::TopicFilter::validate(filter).is_ok()
}

/// Whether `topic` (a topic name, no wildcards) matches `filter`.
///
/// A filter starting with a wildcard does not match a topic starting with `$`
/// (MQTT-4.7.2-1). A topic name containing `+` or `#` never matches.
pub fn matches(filter: &str, topic: &str) -> bool {
    !topic.contains(['+', '#']) && petrel_topic::filter_matches(filter, topic)
}

/// Whether every topic name matched by `inner` is also matched by `outer` (both valid
/// filters). Used to decide whether a SUBSCRIBE filter stays inside what an ACL rule
/// grants.
pub fn covers(outer: &str, inner: &str) -> bool {
    // `$`-topics: a wildcard first level in `outer` matches none of them, so an `inner`
    // whose first level is a literal starting with `$` is covered only by a literal.
    let inner_dollar = inner.starts_with('$');
    if inner_dollar && (outer.starts_with('+') || outer.starts_with('#')) {
        return false;
    }
    let mut o = outer.split('/');
    let mut i = inner.split('/');
    loop {
        match (o.next(), i.next()) {
            // `a/#` also matches `a` itself, so it covers whatever remains, even nothing.
            (Some("#"), _) => return true,
            (Some("+"), Some(il)) if il != "#" => {}
            (Some(ol), Some(il)) if ol == il && ol != "+" && ol != "#" => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether some topic name is matched by both filters (both valid).
pub fn overlaps(a: &str, b: &str) -> bool {
    // A leading wildcard never matches a `$` topic, so it cannot meet a filter whose
    // first level is a literal starting with `$`.
    let wild = |f: &str| f.starts_with('+') || f.starts_with('#');
    if (a.starts_with('$') && wild(b)) || (b.starts_with('$') && wild(a)) {
        return false;
    }
    let mut x = a.split('/');
    let mut y = b.split('/');
    loop {
        match (x.next(), y.next()) {
            (Some("#"), _) | (_, Some("#")) => return true,
            (None, None) => return true,
            (Some("+"), Some(_)) | (Some(_), Some("+")) => {}
            (Some(l), Some(r)) if l == r => {}
            // Different literals, or one filter ended while the other goes on with
            // something other than `#` (`a` and `a/#` meet at `a`, handled above).
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn validity_mqtt_4_7_1() {
        for ok in ["#", "+", "a/#", "+/+", "a/+/b", "/", "a//b", "$SYS/#"] {
            assert!(valid_filter(ok), "{ok}");
        }
        for bad in ["", "a/#/b", "a#", "a+", "#/a", "a/b+", "a\0"] {
            assert!(!valid_filter(bad), "{bad:?}");
        }
    }

    #[test]
    fn matching() {
        assert!(matches("a/+/c", "a/b/c"));
        assert!(matches("a/#", "a"));
        assert!(matches("a/#", "a/b/c"));
        assert!(matches("+", ""));
        assert!(matches("a//b", "a//b"));
        assert!(!matches("a/+", "a"));
        assert!(!matches("a/b", "a/b/c"));
        assert!(!matches("a/+", "a/+"));
    }

    /// MQTT-4.7.2-1: wildcards at the first level never match `$` topics.
    #[test]
    fn dollar_topics_mqtt_4_7_2_1() {
        assert!(!matches("#", "$SYS/x"));
        assert!(!matches("+/x", "$SYS/x"));
        assert!(matches("$SYS/#", "$SYS/x"));
        assert!(!covers("#", "$SYS/#"));
        assert!(covers("$SYS/#", "$SYS/+/x"));
    }

    #[test]
    fn coverage() {
        assert!(covers("#", "a/#"));
        assert!(covers("a/#", "a"));
        assert!(covers("a/#", "a/+/c"));
        assert!(covers("a/+", "a/+"));
        assert!(covers("a/+", "a/b"));
        assert!(!covers("a/+", "a/#"));
        assert!(!covers("a/b", "a/+"));
        assert!(!covers("a/#", "#"));
        assert!(!covers("a/+", "a"));
    }

    fn level() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("a".to_owned()),
            Just("b".to_owned()),
            Just("".to_owned()),
            Just("$s".to_owned())
        ]
    }
    fn topic() -> impl Strategy<Value = String> {
        proptest::collection::vec(level(), 1..4).prop_map(|v| v.join("/"))
    }
    fn filter() -> impl Strategy<Value = String> {
        (
            proptest::collection::vec(prop_oneof![level(), Just("+".to_owned())], 1..4),
            any::<bool>(),
        )
            .prop_map(|(mut v, hash)| {
                if hash {
                    v.push("#".to_owned());
                }
                v.join("/")
            })
    }

    #[test]
    fn overlap() {
        assert!(overlaps("#", "a/b"));
        assert!(overlaps("a/#", "a"));
        assert!(overlaps("a", "a/#"));
        assert!(overlaps("+/b", "a/+"));
        assert!(overlaps("a/+/c", "a/b/#"));
        assert!(!overlaps("a/+", "b/+"));
        assert!(!overlaps("a/+", "a"));
        assert!(!overlaps("a/b/c", "a/b"));
        assert!(!overlaps("#", "$SYS/#"));
        assert!(!overlaps("+/x", "$SYS/x"));
        assert!(overlaps("$SYS/#", "$SYS/+"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// A topic matched by both filters means they overlap.
        #[test]
        fn overlaps_is_complete(a in filter(), b in filter(), t in topic()) {
            if matches(&a, &t) && matches(&b, &t) {
                prop_assert!(overlaps(&a, &b), "{a} and {b} both match {t}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// If `outer` covers `inner`, every topic `inner` matches is matched by `outer`.
        #[test]
        fn covers_is_sound(outer in filter(), inner in filter(), t in topic()) {
            if covers(&outer, &inner) && matches(&inner, &t) {
                prop_assert!(matches(&outer, &t), "{outer} covers {inner} but not {t}");
            }
        }
    }
}
