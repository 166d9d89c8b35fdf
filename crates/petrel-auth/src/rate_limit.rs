//! Rate limiting of failed authentication, per source address and per user name.
//!
//! Sans-IO: the caller passes the current time in. After `free_failures` failures a key
//! is blocked for `base_delay`, doubling with each further failure up to `max_delay`.
//! A key with no failure for `forget_after` starts over. Each table holds at most
//! `max_entries` keys; when full, stale keys are dropped first, then the key whose last
//! failure is oldest, so memory stays bounded under a flood of addresses or names.
//!
//! IPv6 addresses are grouped by prefix (`/64` by default), since one host usually owns a
//! whole `/64`.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Longest user name kept as a key (longer names are cut at a character boundary).
const MAX_KEY_LEN: usize = 256;

/// Limiter settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimitConfig {
    /// Failures allowed before blocking starts.
    pub free_failures: u32,
    /// Block time after the first failure beyond `free_failures`.
    pub base_delay: Duration,
    /// Longest block time.
    pub max_delay: Duration,
    /// A key with no failure for this long is forgotten.
    pub forget_after: Duration,
    /// Most keys kept per table (addresses, user names).
    pub max_entries: usize,
    /// IPv6 prefix length addresses are grouped by (0..=128).
    pub ipv6_prefix_len: u8,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            free_failures: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            forget_after: Duration::from_secs(900),
            max_entries: 10_000,
            ipv6_prefix_len: 64,
        }
    }
}

/// Whether an authentication attempt may proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Go ahead and check the credentials.
    Allowed,
    /// Refuse without checking (MQTT 5: CONNACK 0x8A "Server busy"/0x86 or just close).
    Blocked {
        /// How long until the block ends.
        retry_after: Duration,
    },
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: Instant,
    blocked_until: Option<Instant>,
}

#[derive(Debug, Clone)]
struct Table<K> {
    entries: HashMap<K, Entry>,
}

impl<K: Hash + Eq + Clone> Table<K> {
    fn new() -> Self {
        Table {
            entries: HashMap::new(),
        }
    }

    fn blocked(&self, now: Instant, key: &K) -> Option<Duration> {
        let until = self.entries.get(key)?.blocked_until?;
        until.checked_duration_since(now).filter(|d| !d.is_zero())
    }

    fn fail(&mut self, now: Instant, key: K, cfg: &RateLimitConfig) {
        if !self.entries.contains_key(&key) && self.entries.len() >= cfg.max_entries.max(1) {
            self.make_room(now, cfg);
        }
        let entry = self.entries.entry(key).or_insert(Entry {
            failures: 0,
            last_failure: now,
            blocked_until: None,
        });
        if now.saturating_duration_since(entry.last_failure) > cfg.forget_after {
            entry.failures = 0;
            entry.blocked_until = None;
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last_failure = now;
        if entry.failures > cfg.free_failures {
            let excess = entry.failures - cfg.free_failures - 1;
            let factor = 1u32.checked_shl(excess.min(31)).unwrap_or(u32::MAX);
            let delay = cfg.base_delay.saturating_mul(factor).min(cfg.max_delay);
            entry.blocked_until = Some(now + delay);
        }
    }

    fn make_room(&mut self, now: Instant, cfg: &RateLimitConfig) {
        self.entries.retain(|_, e| {
            now.saturating_duration_since(e.last_failure) <= cfg.forget_after
                || e.blocked_until.is_some_and(|u| u > now)
        });
        if self.entries.len() >= cfg.max_entries.max(1) {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_failure)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.entries.remove(&k);
            }
        }
    }

    fn clear(&mut self, key: &K) {
        self.entries.remove(key);
    }
}

/// Failed-authentication limiter keyed by source address and by user name.
#[derive(Debug, Clone)]
pub struct AuthRateLimiter {
    config: RateLimitConfig,
    by_addr: Table<IpAddr>,
    by_user: Table<String>,
}

impl AuthRateLimiter {
    /// A limiter with the given settings.
    pub fn new(config: RateLimitConfig) -> Self {
        AuthRateLimiter {
            config,
            by_addr: Table::new(),
            by_user: Table::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    fn addr_key(&self, addr: IpAddr) -> IpAddr {
        match addr {
            IpAddr::V4(_) => addr,
            IpAddr::V6(v6) => {
                if let Some(v4) = v6.to_ipv4_mapped() {
                    return IpAddr::V4(v4);
                }
                let len = u32::from(self.config.ipv6_prefix_len.min(128));
                let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
        }
    }

    fn user_key(name: &str) -> String {
        let mut end = name.len().min(MAX_KEY_LEN);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name[..end].to_owned()
    }

    /// Whether an attempt from `addr` for `username` may be checked now. Call before
    /// doing any expensive password hashing.
    pub fn check(&self, now: Instant, addr: Option<IpAddr>, username: Option<&str>) -> Verdict {
        let a = addr.and_then(|a| self.by_addr.blocked(now, &self.addr_key(a)));
        let u = username.and_then(|u| self.by_user.blocked(now, &Self::user_key(u)));
        match a.max(u) {
            Some(retry_after) => Verdict::Blocked { retry_after },
            None => Verdict::Allowed,
        }
    }

    /// Records a failed attempt.
    pub fn record_failure(&mut self, now: Instant, addr: Option<IpAddr>, username: Option<&str>) {
        if let Some(a) = addr {
            let key = self.addr_key(a);
            self.by_addr.fail(now, key, &self.config);
        }
        if let Some(u) = username {
            self.by_user.fail(now, Self::user_key(u), &self.config);
        }
    }

    /// Records a success: the user name's failures are forgotten. The address keeps
    /// its record (one valid account must not reset an address guessing others).
    pub fn record_success(&mut self, _now: Instant, username: Option<&str>) {
        if let Some(u) = username {
            self.by_user.clear(&Self::user_key(u));
        }
    }

    /// Number of keys held (addresses + user names).
    pub fn len(&self) -> usize {
        self.by_addr.entries.len() + self.by_user.entries.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for AuthRateLimiter {
    fn default() -> Self {
        Self::new(RateLimitConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn cfg() -> RateLimitConfig {
        RateLimitConfig {
            free_failures: 2,
            max_entries: 4,
            ..RateLimitConfig::default()
        }
    }

    /// CHECKLIST 20: failures are limited per source address.
    #[test]
    fn blocks_address_after_free_failures_with_backoff() {
        let t0 = Instant::now();
        let mut l = AuthRateLimiter::new(cfg());
        let a = ip("10.0.0.1");
        for _ in 0..2 {
            assert_eq!(l.check(t0, a, None), Verdict::Allowed);
            l.record_failure(t0, a, None);
        }
        assert_eq!(l.check(t0, a, None), Verdict::Allowed);
        l.record_failure(t0, a, None);
        assert_eq!(
            l.check(t0, a, None),
            Verdict::Blocked {
                retry_after: Duration::from_secs(1)
            }
        );
        assert_eq!(l.check(t0, ip("10.0.0.2"), None), Verdict::Allowed);
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(l.check(t1, a, None), Verdict::Allowed);
        l.record_failure(t1, a, None);
        assert_eq!(
            l.check(t1, a, None),
            Verdict::Blocked {
                retry_after: Duration::from_secs(2)
            }
        );
        // Long quiet period: forgotten.
        let t2 = t1 + Duration::from_secs(901);
        l.record_failure(t2, a, None);
        assert_eq!(l.check(t2, a, None), Verdict::Allowed);
    }

    /// CHECKLIST 20: failures are limited per user name, whatever the address.
    #[test]
    fn blocks_user_across_addresses_and_success_clears_it() {
        let t0 = Instant::now();
        let mut l = AuthRateLimiter::new(RateLimitConfig {
            max_entries: 100,
            ..cfg()
        });
        for i in 0..3 {
            l.record_failure(t0, ip(&format!("10.0.1.{i}")), Some("alice"));
        }
        assert!(matches!(
            l.check(t0, ip("192.168.0.1"), Some("alice")),
            Verdict::Blocked { .. }
        ));
        assert_eq!(
            l.check(t0, ip("192.168.0.1"), Some("bob")),
            Verdict::Allowed
        );
        l.record_success(t0, Some("alice"));
        assert_eq!(
            l.check(t0, ip("192.168.0.1"), Some("alice")),
            Verdict::Allowed
        );
    }

    #[test]
    fn delay_is_capped() {
        let t0 = Instant::now();
        let mut l = AuthRateLimiter::new(cfg());
        for _ in 0..100 {
            l.record_failure(t0, None, Some("u"));
        }
        assert_eq!(
            l.check(t0, None, Some("u")),
            Verdict::Blocked {
                retry_after: Duration::from_secs(300)
            }
        );
    }

    #[test]
    fn ipv6_grouped_by_prefix() {
        let t0 = Instant::now();
        let mut l = AuthRateLimiter::new(cfg());
        for i in 1..=3 {
            l.record_failure(t0, ip(&format!("2001:db8::{i}")), None);
        }
        assert!(matches!(
            l.check(t0, ip("2001:db8::ffff"), None),
            Verdict::Blocked { .. }
        ));
        assert_eq!(l.check(t0, ip("2001:db8:0:1::1"), None), Verdict::Allowed);
        // v4-mapped addresses count as the v4 address.
        for _ in 0..3 {
            l.record_failure(t0, ip("::ffff:10.9.9.9"), None);
        }
        assert!(matches!(
            l.check(t0, ip("10.9.9.9"), None),
            Verdict::Blocked { .. }
        ));
    }

    #[test]
    fn table_stays_bounded() {
        let t0 = Instant::now();
        let mut l = AuthRateLimiter::new(cfg());
        for i in 0..1000u32 {
            let t = t0 + Duration::from_millis(u64::from(i));
            l.record_failure(
                t,
                Some(IpAddr::from(i.to_be_bytes())),
                Some(&format!("user{i}")),
            );
        }
        assert!(l.len() <= 8, "{}", l.len());
        // Long names are cut, not stored whole.
        l.record_failure(t0, None, Some(&"é".repeat(1000)));
        assert!(l.by_user.entries.keys().all(|k| k.len() <= MAX_KEY_LEN));
    }
}
