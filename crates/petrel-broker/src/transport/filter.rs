//! Per-listener admission by source address: allow/deny lists of networks and a cap on
//! simultaneous connections from one address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use ipnet::IpNet;

/// Allow and deny lists of networks (CIDR).
#[derive(Debug, Clone, Default)]
pub(crate) struct AddressFilter {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
}

impl AddressFilter {
    /// A filter: an address in `deny` is refused; with a non-empty `allow`, only
    /// addresses in it are admitted.
    pub fn new(allow: Vec<IpNet>, deny: Vec<IpNet>) -> Self {
        AddressFilter { allow, deny }
    }

    /// Whether `ip` may connect. IPv4-mapped IPv6 addresses count as IPv4.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        if self.deny.iter().any(|n| n.contains(&ip)) {
            return false;
        }
        self.allow.is_empty() || self.allow.iter().any(|n| n.contains(&ip))
    }
}

/// Counts open connections per source address.
#[derive(Debug, Clone)]
pub(crate) struct PerAddress {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One counted connection; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct ConnGuard {
    ip: IpAddr,
    open: Option<Arc<Mutex<HashMap<IpAddr, usize>>>>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let Some(open) = &self.open else { return };
        let mut open = open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

impl PerAddress {
    /// At most `max` connections per address; 0 means no cap.
    pub fn new(max: usize) -> Self {
        PerAddress {
            max,
            open: Arc::default(),
        }
    }

    /// Counts a connection from `ip`, or `None` when the address is at its cap.
    pub fn enter(&self, ip: IpAddr) -> Option<ConnGuard> {
        if self.max == 0 {
            return Some(ConnGuard { ip, open: None });
        }
        let ip = ip.to_canonical();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(ConnGuard {
            ip,
            open: Some(self.open.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn deny_wins_and_allow_restricts() {
        let f = AddressFilter::new(vec![net("10.0.0.0/8")], vec![net("10.1.0.0/16")]);
        assert!(f.allows("10.2.3.4".parse().unwrap()));
        assert!(!f.allows("10.1.3.4".parse().unwrap()));
        assert!(!f.allows("192.168.1.1".parse().unwrap()));
        // IPv4-mapped IPv6 is matched as IPv4.
        assert!(f.allows("::ffff:10.2.3.4".parse().unwrap()));
        assert!(!f.allows("::ffff:10.1.3.4".parse().unwrap()));
        assert!(AddressFilter::default().allows("::1".parse().unwrap()));
    }

    #[test]
    fn per_address_cap_frees_on_drop() {
        let p = PerAddress::new(2);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let a = p.enter(ip).unwrap();
        let _b = p.enter(ip).unwrap();
        assert!(p.enter(ip).is_none());
        assert!(p.enter("127.0.0.2".parse().unwrap()).is_some());
        drop(a);
        assert!(p.enter(ip).is_some());
        assert!(PerAddress::new(0).enter(ip).is_some());
    }
}
