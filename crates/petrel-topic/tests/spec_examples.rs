//! Every example of section 4.7 (topic names and filters) of MQTT 3.1.1 and MQTT 5.0, and
//! of section 4.8.2 (shared subscriptions) of MQTT 5.0, checked on both the plain matcher
//! and the subscription index.

use petrel_topic::{
    MatchParams, Matches, SubscriptionFilter, SubscriptionIndex, SubscriptionOptions, TopicError,
    TopicFilter, TopicName,
};

/// Checks one (filter, name, expected) triple on `TopicFilter::matches` and on an index
/// holding only that filter.
fn check(filter: &str, name: &str, expected: bool) {
    let f = TopicFilter::new(filter).unwrap();
    let n = TopicName::new(name).unwrap();
    assert_eq!(f.matches(&n), expected, "reference: {filter} vs {name}");
    let mut index = SubscriptionIndex::new();
    index.insert(&f, None, 1u32, SubscriptionOptions::default());
    let mut out = Matches::new();
    index.matches(&n, &MatchParams::default(), &mut out);
    assert_eq!(!out.is_empty(), expected, "index: {filter} vs {name}");
}

fn valid_filter(s: &str) {
    assert!(TopicFilter::new(s).is_ok(), "{s} should be a valid filter");
}

// 4.7.1.2 Multi-level wildcard.
#[test]
fn multi_level_wildcard_matches_parent_and_children_4_7_1_2() {
    check("sport/tennis/player1/#", "sport/tennis/player1", true);
    check(
        "sport/tennis/player1/#",
        "sport/tennis/player1/ranking",
        true,
    );
    check(
        "sport/tennis/player1/#",
        "sport/tennis/player1/score/wimbledon",
        true,
    );
    // "sport/#" also matches the singular "sport", since # includes the parent level.
    check("sport/#", "sport", true);
}

#[test]
fn multi_level_wildcard_validity_mqtt_4_7_1_2() {
    valid_filter("#");
    valid_filter("sport/tennis/#");
    assert_eq!(
        TopicFilter::new("sport/tennis#"),
        Err(TopicError::MultiLevelWildcardNotLast)
    );
    assert_eq!(
        TopicFilter::new("sport/tennis/#/ranking"),
        Err(TopicError::MultiLevelWildcardNotLast)
    );
    assert_eq!(
        TopicError::MultiLevelWildcardNotLast.normative_id(),
        Some("MQTT-4.7.1-2")
    );
}

// 4.7.1.3 Single-level wildcard.
#[test]
fn single_level_wildcard_matches_one_level_4_7_1_3() {
    check("sport/tennis/+", "sport/tennis/player1", true);
    check("sport/tennis/+", "sport/tennis/player2", true);
    check("sport/tennis/+", "sport/tennis/player1/ranking", false);
    check("sport/+", "sport", false);
    check("sport/+", "sport/", true);
    check("+/+", "/finance", true);
    check("/+", "/finance", true);
    check("+", "/finance", false);
}

#[test]
fn single_level_wildcard_validity_mqtt_4_7_1_3() {
    valid_filter("+");
    valid_filter("+/tennis/#");
    valid_filter("sport/+/player1");
    assert_eq!(
        TopicFilter::new("sport+"),
        Err(TopicError::SingleLevelWildcardNotWholeLevel)
    );
    assert_eq!(
        TopicError::SingleLevelWildcardNotWholeLevel.normative_id(),
        Some("MQTT-4.7.1-3")
    );
}

// MQTT-4.7.1-1: wildcards are not allowed in topic names.
#[test]
fn wildcards_rejected_in_names_mqtt_4_7_1_1() {
    for name in ["sport/+", "sport/#", "+", "#", "a+b", "a#"] {
        assert_eq!(
            TopicName::new(name),
            Err(TopicError::WildcardInName),
            "{name}"
        );
    }
    assert_eq!(
        TopicError::WildcardInName.normative_id(),
        Some("MQTT-4.7.1-1")
    );
}

// 4.7.2 Topics beginning with $.
#[test]
fn dollar_topics_not_matched_by_leading_wildcards_mqtt_4_7_2_1() {
    check("#", "$SYS/monitor/Clients", false);
    check("+/monitor/Clients", "$SYS/monitor/Clients", false);
    check("$SYS/#", "$SYS/monitor/Clients", true);
    check("$SYS/monitor/+", "$SYS/monitor/Clients", true);
    check("+", "$SYS", false);
    check("#", "$", false);
    // A `$` later in the name is an ordinary character.
    check("#", "a/$SYS", true);
    check("+/+", "a/$b", true);
    assert!(TopicName::new("$SYS/broker/load").unwrap().is_sys());
}

// 4.7.3 Topic semantic and usage.
#[test]
fn names_and_filters_are_at_least_one_character_mqtt_4_7_3_1() {
    assert_eq!(TopicName::new(""), Err(TopicError::Empty));
    assert_eq!(TopicFilter::new(""), Err(TopicError::Empty));
    assert_eq!(TopicError::Empty.normative_id(), Some("MQTT-4.7.3-1"));
}

#[test]
fn null_character_rejected_mqtt_4_7_3_2() {
    assert_eq!(TopicName::new("a\0b"), Err(TopicError::NullCharacter));
    assert_eq!(TopicFilter::new("a/\0/#"), Err(TopicError::NullCharacter));
    assert_eq!(
        TopicError::NullCharacter.normative_id(),
        Some("MQTT-4.7.3-2")
    );
}

#[test]
fn at_most_65535_bytes_mqtt_4_7_3_3() {
    let ok = "a".repeat(65_535);
    let long = "a".repeat(65_536);
    assert!(TopicName::new(ok.as_str()).is_ok());
    assert!(TopicFilter::new(ok.as_str()).is_ok());
    assert_eq!(
        TopicName::new(long.as_str()),
        Err(TopicError::TooLong { len: 65_536 })
    );
    assert_eq!(
        TopicFilter::new(long.as_str()),
        Err(TopicError::TooLong { len: 65_536 })
    );
}

#[test]
fn matching_is_exact_without_normalization_mqtt_4_7_3_4() {
    // Case sensitive: "ACCOUNTS" and "Accounts" are different topics.
    check("ACCOUNTS", "Accounts", false);
    check("Accounts", "Accounts", true);
    // Spaces are allowed: "Accounts payable" is a valid name.
    check("Accounts payable", "Accounts payable", true);
    // A leading "/" makes a distinct topic.
    check("/finance", "finance", false);
    check("finance", "/finance", false);
    // "/" alone is valid (two empty levels).
    check("/", "/", true);
    check("+/+", "/", true);
    check("+", "/", false);
}

#[test]
fn invalid_utf8_rejected_mqtt_1_5_4_1() {
    let bad = bytes::Bytes::from_static(&[b'a', 0xff]);
    assert_eq!(
        TopicName::from_bytes(bad.clone()),
        Err(TopicError::InvalidUtf8)
    );
    assert_eq!(TopicFilter::from_bytes(bad), Err(TopicError::InvalidUtf8));
}

#[test]
fn from_bytes_does_not_copy() {
    let bytes = bytes::Bytes::from(b"site/1/device/2/temp".to_vec());
    let ptr = bytes.as_ptr();
    let name = TopicName::from_bytes(bytes).unwrap();
    assert_eq!(name.as_str().as_ptr(), ptr);
    assert_eq!(
        name.levels().collect::<Vec<_>>(),
        ["site", "1", "device", "2", "temp"]
    );
    assert_eq!(name.level_count(), 5);
    assert_eq!(
        name.check_max_levels(4),
        Err(TopicError::TooManyLevels { levels: 5, max: 4 })
    );
    assert!(name.check_max_levels(5).is_ok());
}

// MQTT 5.0 4.8.2 Shared subscriptions.
#[test]
fn shared_subscription_examples_4_8_2() {
    let f = SubscriptionFilter::parse("$share/consumer1/sport/tennis/+").unwrap();
    assert_eq!(f.share_name(), Some("consumer1"));
    assert_eq!(f.filter().as_str(), "sport/tennis/+");
    let f = SubscriptionFilter::parse("$share/consumer2/sport/tennis/+").unwrap();
    assert_eq!(f.share_name(), Some("consumer2"));
    // "$share/consumer1//finance" shares the filter "/finance".
    let f = SubscriptionFilter::parse("$share/consumer1//finance").unwrap();
    assert_eq!(f.filter().as_str(), "/finance");
    let f = SubscriptionFilter::parse("$share/consumer1/+/finance").unwrap();
    assert_eq!(f.filter().as_str(), "+/finance");
    // Not shared: a plain filter, including other `$` filters.
    assert!(!SubscriptionFilter::parse("sport/tennis/+")
        .unwrap()
        .is_shared());
    assert!(!SubscriptionFilter::parse("$SYS/#").unwrap().is_shared());
}

#[test]
fn share_name_must_be_non_empty_and_followed_by_filter_mqtt_4_8_2_1() {
    for bad in ["$share//a", "$share/group", "$share/"] {
        assert_eq!(
            SubscriptionFilter::parse(bad),
            Err(TopicError::ShareNameMissing),
            "{bad}"
        );
    }
    assert_eq!(
        SubscriptionFilter::parse("$share/group/"),
        Err(TopicError::Empty)
    );
    assert_eq!(
        TopicError::ShareNameMissing.normative_id(),
        Some("MQTT-4.8.2-1")
    );
}

#[test]
fn share_name_has_no_wildcards_mqtt_4_8_2_2() {
    for bad in ["$share/a+/x", "$share/+/x", "$share/#/x", "$share/a#b/x"] {
        assert_eq!(
            SubscriptionFilter::parse(bad),
            Err(TopicError::InvalidShareName),
            "{bad}"
        );
    }
    assert_eq!(
        SubscriptionFilter::parse("$share/g/a/#/b"),
        Err(TopicError::MultiLevelWildcardNotLast)
    );
    assert_eq!(
        TopicError::InvalidShareName.normative_id(),
        Some("MQTT-4.8.2-2")
    );
}

#[test]
fn shared_parts_do_not_copy() {
    let s = petrel_topic::ByteString::from("$share/g/a/b");
    let base = s.as_ptr() as usize;
    let SubscriptionFilter::Shared { share_name, filter } = SubscriptionFilter::parse(s).unwrap()
    else {
        panic!("expected a shared filter");
    };
    assert_eq!(share_name.as_ptr() as usize, base + 7);
    assert_eq!(filter.as_str().as_ptr() as usize, base + 9);
}
