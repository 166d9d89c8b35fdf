use super::*;

const FILE: &str = "\
# general rules: anonymous clients
topic read public/#

user alice
topic readwrite alice/#
topic deny alice/secret/#
topic write shared/in
topic shared/both

user bob
topic read alice/#

pattern readwrite devices/%c/#
pattern read users/%u/inbox
pattern write %u/out
pattern deny %u/private/#
";

fn acl() -> Acl {
    Acl::parse(FILE).unwrap()
}

#[test]
fn user_rules() {
    let a = acl();
    assert!(a.check("c1", Some("alice"), "alice/x", Access::Write));
    assert!(a.check("c1", Some("alice"), "alice/x", Access::Read));
    assert!(a.check("c1", Some("alice"), "alice/+/y", Access::Subscribe));
    assert!(a.check("c1", Some("alice"), "shared/in", Access::Write));
    assert!(!a.check("c1", Some("alice"), "shared/in", Access::Read));
    // No access word means readwrite.
    assert!(a.check("c1", Some("alice"), "shared/both", Access::Read));
    assert!(a.check("c1", Some("alice"), "shared/both", Access::Write));
    assert!(a.check("c1", Some("bob"), "alice/x", Access::Read));
    assert!(!a.check("c1", Some("bob"), "alice/x", Access::Write));
    assert!(!a.check("c1", Some("carol"), "alice/x", Access::Read));
}

#[test]
fn deny_wins_over_grant() {
    let a = acl();
    assert!(!a.check("c1", Some("alice"), "alice/secret/k", Access::Read));
    assert!(!a.check("c1", Some("alice"), "alice/secret/k", Access::Write));
    assert!(!a.check("c1", Some("alice"), "alice/secret/#", Access::Subscribe));
    // Overlapping but not covered: accepted, the denied part is filtered at delivery.
    assert!(a.check("c1", Some("alice"), "alice/#", Access::Subscribe));
}

#[test]
fn general_rules_are_for_anonymous_by_default() {
    let a = acl();
    assert!(a.check("c1", None, "public/news", Access::Read));
    assert!(!a.check("c1", None, "public/news", Access::Write));
    assert!(!a.check("c1", Some("alice"), "public/news", Access::Read));
    let all = Acl::parse_with_options(FILE, AclOptions::default().general_rules_apply_to_all(true))
        .unwrap();
    assert!(all.check("c1", Some("alice"), "public/news", Access::Read));
    assert!(all.check("c1", None, "public/news", Access::Read));
}

#[test]
fn patterns_substitute_whole_levels() {
    let a = acl();
    assert!(a.check("dev7", None, "devices/dev7/temp", Access::Write));
    assert!(!a.check("dev7", None, "devices/dev8/temp", Access::Write));
    assert!(a.check("dev7", Some("alice"), "users/alice/inbox", Access::Read));
    assert!(!a.check("dev7", Some("alice"), "users/bob/inbox", Access::Read));
    assert!(a.check("x", Some("bob"), "bob/out", Access::Write));
    // Anonymous clients have no %u.
    assert!(!a.check("x", None, "users//inbox", Access::Read));
    // Inside a longer level %c stays literal.
    let lit = Acl::parse("pattern read a/x%c/b").unwrap();
    assert!(lit.check("id", None, "a/x%c/b", Access::Read));
    assert!(!lit.check("id", None, "a/xid/b", Access::Read));
}

/// CHECKLIST 19: `+`, `#` or `/` in a client id or user name never widens access.
#[test]
fn wildcards_in_ids_never_widen_access() {
    let a = acl();
    for id in ["+", "#", "a/b", "dev7/../x", ""] {
        assert!(
            !a.check(id, None, "devices/+/temp", Access::Subscribe),
            "{id}"
        );
        assert!(!a.check(id, None, "devices/#", Access::Subscribe), "{id}");
        assert!(
            !a.check(id, None, "devices/a/b/temp", Access::Write),
            "{id}"
        );
        assert!(
            !a.check(id, None, &format!("devices/{id}/temp"), Access::Read),
            "{id}"
        );
    }
    for user in ["+", "#", "a/b"] {
        assert!(
            !a.check("c", Some(user), "users/+/inbox", Access::Subscribe),
            "{user}"
        );
        assert!(
            !a.check("c", Some(user), "users/a/b/inbox", Access::Read),
            "{user}"
        );
        assert!(
            !a.check("c", Some(user), "a/b/out", Access::Write),
            "{user}"
        );
    }
}

#[test]
fn unsafe_names_make_deny_patterns_broader() {
    let a = Acl::parse("user a/b\ntopic readwrite #\npattern deny %u/private/#\n").unwrap();
    // Safe names: only their own private tree is denied.
    let ok = Acl::parse("user ab\ntopic readwrite #\npattern deny %u/private/#\n").unwrap();
    assert!(ok.check("c", Some("ab"), "x/private/1", Access::Read));
    assert!(!ok.check("c", Some("ab"), "ab/private/1", Access::Read));
    // `a/b` cannot be substituted: the deny pattern covers everything.
    assert!(!a.check("c", Some("a/b"), "a/b/private/1", Access::Read));
    assert!(!a.check("c", Some("a/b"), "anything", Access::Write));
}

/// Peers' regression: an empty ACL file allowing everything.
#[test]
fn empty_file_denies_all() {
    for text in ["", "# only a comment\n\n", "user alice\n"] {
        let a = Acl::parse(text).unwrap();
        assert!(a.is_empty());
        for access in [Access::Read, Access::Write, Access::Subscribe] {
            assert!(!a.check("c", None, "t", access));
            assert!(!a.check("c", Some("alice"), "t", access));
        }
    }
}

/// CHECKLIST 21: a malformed line is an error naming the line.
#[test]
fn malformed_lines_name_the_line() {
    let cases = [
        ("topic read a\nuser\n", 2),
        ("topic\n", 1),
        ("topic deny\n", 1),
        ("# c\n\ntopic read a/#/b\n", 3),
        ("pattern write a+\n", 1),
        ("user x\nsubscribe a\n", 2),
        ("topic read\n", 1),
    ];
    for (text, line) in cases {
        match Acl::parse(text) {
            Err(AclError::Line { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
            other => panic!("{text:?}: expected a line error, got {other:?}"),
        }
    }
    assert!(Acl::parse("topic\n")
        .unwrap_err()
        .to_string()
        .contains("line 1"));
}

#[test]
fn filter_with_spaces_and_read_named_topic() {
    let a = Acl::parse("topic read my topic/x\ntopic readwrite read\n").unwrap();
    assert!(a.check("c", None, "my topic/x", Access::Read));
    assert!(a.check("c", None, "read", Access::Write));
    let b = Acl::parse("topic my topic\n").unwrap();
    assert!(b.check("c", None, "my topic", Access::Write));
}

/// MQTT-4.7.2-1: `#` in an ACL rule does not grant `$SYS` topics.
#[test]
fn hash_rule_does_not_grant_dollar_topics_mqtt_4_7_2_1() {
    let a = Acl::parse("topic readwrite #\ntopic read $SYS/#\n").unwrap();
    assert!(a.check("c", None, "x/y", Access::Write));
    assert!(!a.check("c", None, "$SYS/broker/uptime", Access::Write));
    assert!(a.check("c", None, "$SYS/broker/uptime", Access::Read));
    assert!(a.check("c", None, "$SYS/#", Access::Subscribe));
    assert!(!a.check("c", None, "$other/x", Access::Read));
}

#[test]
fn subscribe_refuses_filters_that_can_receive_nothing() {
    let a = Acl::parse("topic read sensors/+/temp\ntopic deny sensors/secret/#\n").unwrap();
    assert!(a.check("c", None, "sensors/+/temp", Access::Subscribe));
    assert!(a.check("c", None, "sensors/k/temp", Access::Subscribe));
    assert!(a.check("c", None, "$share/g/sensors/+/temp", Access::Subscribe));
    // Overlapping filters are accepted; deliveries are then checked per topic.
    assert!(a.check("c", None, "sensors/#", Access::Subscribe));
    assert!(a.check("c", None, "#", Access::Subscribe));
    assert!(!a.check("c", None, "sensors/k/humidity", Access::Read));
    assert!(!a.check("c", None, "sensors/k/humidity", Access::Subscribe));
    assert!(!a.check("c", None, "other/#", Access::Subscribe));
    assert!(!a.check("c", None, "sensors/secret/#", Access::Subscribe));
    assert!(!a.check("c", None, "$SYS/#", Access::Subscribe));
}

#[test]
fn strict_subscribe_needs_coverage() {
    let text = "topic read sensors/+/temp\n";
    let a = Acl::parse_with_options(text, AclOptions::default().strict_subscribe(true)).unwrap();
    assert!(a.check("c", None, "sensors/+/temp", Access::Subscribe));
    assert!(a.check("c", None, "sensors/k/temp", Access::Subscribe));
    assert!(a.check("c", None, "$share/g/sensors/+/temp", Access::Subscribe));
    assert!(!a.check("c", None, "sensors/#", Access::Subscribe));
    assert!(!a.check("c", None, "#", Access::Subscribe));
    assert!(!a.check("c", None, "$share/g", Access::Subscribe));
    assert!(!a.check("c", None, "sensors/a#", Access::Subscribe));
    // A wildcard in a topic name for publish/delivery is never allowed.
    assert!(!a.check("c", None, "sensors/+/temp", Access::Read));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn level() -> impl Strategy<Value = &'static str> {
        prop_oneof![Just("a"), Just("b"), Just("+"), Just("%c"), Just("%u")]
    }

    fn rule_filter() -> impl Strategy<Value = String> {
        (proptest::collection::vec(level(), 1..4), any::<bool>()).prop_map(|(levels, hash)| {
            let mut f = levels.join("/");
            if hash {
                f.push_str("/#");
            }
            f
        })
    }

    fn line() -> impl Strategy<Value = String> {
        let perm = prop_oneof![Just("read"), Just("write"), Just("readwrite"), Just("deny")];
        let kind = prop_oneof![Just("topic"), Just("pattern"), Just("user")];
        (
            kind,
            perm,
            rule_filter(),
            prop_oneof![Just("u"), Just("x+y"), Just("p/q")],
        )
            .prop_map(|(kind, perm, filter, user)| match kind {
                "user" => format!("user {user}"),
                k => format!("{k} {perm} {filter}"),
            })
    }

    fn topic() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("a"),
                Just("b"),
                Just("+"),
                Just("#"),
                Just("p"),
                Just("q")
            ],
            1..5,
        )
        .prop_map(|l| l.join("/"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// CHECKLIST 19: a client id or user name containing `+`, `#` or `/` never gets
        /// more access than a harmless name that appears in no topic.
        #[test]
        fn unsafe_names_never_widen_access(
            lines in proptest::collection::vec(line(), 0..8),
            t in topic(),
            bad_id in prop_oneof![Just("+"), Just("#"), Just("p/q"), Just("")],
            bad_user in prop_oneof![Just("+"), Just("#"), Just("p/q")],
        ) {
            let acl = Acl::parse(&lines.join("\n")).unwrap();
            for access in [Access::Read, Access::Write, Access::Subscribe] {
                if acl.check(bad_id, Some("u"), &t, access) {
                    prop_assert!(acl.check("zz", Some("u"), &t, access), "id {bad_id:?} {access:?} {t}");
                }
                if acl.check("c", Some(bad_user), &t, access) {
                    // The harmless name gets the unsafe name's own `user` rules too.
                    let same_user_rules = lines.iter().all(|l| !l.starts_with("user"));
                    if same_user_rules {
                        prop_assert!(acl.check("c", Some("zz"), &t, access), "user {bad_user:?} {access:?} {t}");
                    }
                }
            }
        }

        /// The allocation-free pattern matcher agrees with substitute-then-match.
        #[test]
        fn pattern_fast_path_agrees(
            lines in proptest::collection::vec(line(), 0..8),
            t in topic(),
            id in prop_oneof![Just("a"), Just("b"), Just("+"), Just("p/q"), Just(""), Just("$x")],
            user in prop_oneof![Just(None), Just(Some("a")), Just(Some("#")), Just(Some("p/q"))],
        ) {
            let t = if t.contains(['+', '#']) { t.replace(['+', '#'], "a") } else { t };
            let t = if t.starts_with('p') { format!("$SYS/{t}") } else { t };
            let acl = Acl::parse(&lines.join("\n")).unwrap();
            for p in &acl.patterns {
                let slow = acl.substitute(p, id, user).is_some_and(|f| matches(&f, &t));
                prop_assert_eq!(pattern_matches(p, id, user, &t), slow, "{:?} {} {:?} {}", p, id, user, t);
            }
        }

        /// A topic name with a wildcard is never readable or writable, and no file makes
        /// check panic.
        #[test]
        fn wildcard_topic_names_are_refused(lines in proptest::collection::vec(line(), 0..8), t in topic()) {
            let acl = Acl::parse(&lines.join("\n")).unwrap();
            if t.contains(['+', '#']) {
                prop_assert!(!acl.check("c", Some("u"), &t, Access::Read));
                prop_assert!(!acl.check("c", Some("u"), &t, Access::Write));
            }
        }
    }
}
