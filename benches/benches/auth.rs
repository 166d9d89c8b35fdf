//! petrel-auth benchmarks: the ACL decision on the publish/delivery hot path (a file with
//! 1,000 users and patterns), a SUBSCRIBE check with wildcards, and the cost of one
//! password check per hash scheme (which sizes the broker's blocking pool).
//!
//! Run: `cargo bench -p petrel-benches --bench auth`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use petrel_auth::{Access, Acl, HashOptions, HashScheme, PasswordFile, PasswordHash};

fn acl_text(users: usize) -> String {
    let mut s = String::from("topic read public/#\npattern readwrite devices/%c/#\n");
    s.push_str("pattern read users/%u/inbox\npattern deny %u/private/#\n");
    for u in 0..users {
        s.push_str(&format!(
            "user user{u}\ntopic readwrite home/{u}/#\ntopic read shared/+/data\ntopic deny home/{u}/secret/#\n"
        ));
    }
    s
}

fn acl(c: &mut Criterion) {
    let acl = Acl::parse(&acl_text(1000)).expect("valid ACL");
    let mut g = c.benchmark_group("acl_check");
    g.bench_function("deliver_allowed_user_rule", |b| {
        b.iter(|| {
            acl.check(
                black_box("c-500"),
                Some("user500"),
                black_box("home/500/kitchen/temp"),
                Access::Read,
            )
        })
    });
    g.bench_function("deliver_denied", |b| {
        b.iter(|| {
            acl.check(
                black_box("c-500"),
                Some("user500"),
                black_box("home/501/kitchen/temp"),
                Access::Read,
            )
        })
    });
    g.bench_function("publish_via_pattern", |b| {
        b.iter(|| {
            acl.check(
                black_box("dev-42"),
                Some("user7"),
                black_box("devices/dev-42/state"),
                Access::Write,
            )
        })
    });
    g.bench_function("subscribe_wildcard", |b| {
        b.iter(|| {
            acl.check(
                black_box("c-500"),
                Some("user500"),
                black_box("home/500/+/temp"),
                Access::Subscribe,
            )
        })
    });
    g.finish();
}

fn password(c: &mut Criterion) {
    let mut g = c.benchmark_group("password_verify");
    g.sample_size(20);
    for (name, options) in [
        ("pbkdf2_sha512_1000", HashOptions::default()),
        ("pbkdf2_sha512_101", HashOptions::mosquitto_2_0()),
        (
            "sha512_legacy",
            HashOptions::default().with_scheme(HashScheme::Sha512),
        ),
        (
            "argon2id_mosquitto_2_1",
            HashOptions::default().with_scheme(HashScheme::Argon2id),
        ),
    ] {
        let hash = PasswordHash::create(b"correct horse", &options);
        let file = PasswordFile::parse(&format!("alice:{hash}\n")).expect("valid file");
        g.bench_function(name, |b| {
            b.iter(|| file.verify(black_box("alice"), black_box(b"correct horse")))
        });
    }
    g.finish();
}

criterion_group!(benches, acl, password);
criterion_main!(benches);
