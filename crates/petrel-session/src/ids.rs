//! Packet identifier allocation (MQTT-2.2.1-2, MQTT-2.2.1-3).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use petrel_codec::PacketId;

/// A hasher for 16-bit packet identifiers: one multiplication instead of SipHash. The
/// identifiers are chosen by the peer, but a map keyed by them holds at most 65535 entries
/// and is bounded by Receive Maximum, so collisions cost time, never memory.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u8(*b);
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing: spreads consecutive ids over both the low bits (bucket) and
        // the high bits (hashbrown's control byte).
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Builds [`IdHasher`]s.
pub(crate) type IdBuild = BuildHasherDefault<IdHasher>;
/// A set of packet identifiers.
pub(crate) type IdSet<K> = HashSet<K, IdBuild>;
/// A map keyed by packet identifiers.
pub(crate) type IdMap<K, V> = HashMap<K, V, IdBuild>;

/// Hands out identifiers not currently in use, cycling through 1..=65535: an [`IdCursor`]
/// with its own record of the identifiers in use.
#[derive(Debug, Clone)]
pub(crate) struct IdAllocator {
    cursor: IdCursor,
    used: IdSet<u16>,
}

impl IdAllocator {
    pub(crate) fn new(next: u16) -> Self {
        Self {
            cursor: IdCursor::new(next),
            used: IdSet::default(),
        }
    }

    /// The next identifier that would be tried; saved in session state.
    pub(crate) fn next_hint(&self) -> u16 {
        self.cursor.next_hint()
    }

    pub(crate) fn alloc(&mut self) -> Option<PacketId> {
        let used = &self.used;
        let id = self
            .cursor
            .alloc(used.len(), |id| used.contains(&id.get()))?;
        self.used.insert(id.get());
        Some(id)
    }

    pub(crate) fn mark(&mut self, id: PacketId) {
        self.used.insert(id.get());
    }

    pub(crate) fn release(&mut self, id: PacketId) {
        self.used.remove(&id.get());
    }

    #[cfg(test)]
    pub(crate) fn in_use(&self, id: PacketId) -> bool {
        self.used.contains(&id.get())
    }
}

/// Hands out identifiers cycling through 1..=65535, for an owner that already records
/// every identifier it holds (a server session's in-flight window): that record says
/// which are in use, so no second set is updated per message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdCursor {
    next: u16,
}

impl IdCursor {
    pub(crate) fn new(next: u16) -> Self {
        Self { next: next.max(1) }
    }

    /// The next identifier that would be tried; saved in session state.
    pub(crate) fn next_hint(&self) -> u16 {
        self.next
    }

    /// The next identifier for which `in_use` is false; `None` when `held` (how many are
    /// in use) leaves none free.
    pub(crate) fn alloc(
        &mut self,
        held: usize,
        in_use: impl Fn(PacketId) -> bool,
    ) -> Option<PacketId> {
        if held >= usize::from(u16::MAX) {
            return None;
        }
        loop {
            let candidate = self.next;
            self.next = if self.next == u16::MAX {
                1
            } else {
                self.next + 1
            };
            if let Some(id) = PacketId::new(candidate) {
                if !in_use(id) {
                    return Some(id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_used_and_wraps_mqtt_2_2_1_3() {
        let mut a = IdAllocator::new(u16::MAX);
        let first = a.alloc().map(PacketId::get);
        assert_eq!(first, Some(u16::MAX));
        assert_eq!(a.alloc().map(PacketId::get), Some(1));
        let mut b = IdAllocator::new(1);
        b.mark(PacketId::new(1).unwrap_or(PacketId::MIN));
        assert_eq!(b.alloc().map(PacketId::get), Some(2));
        b.release(PacketId::MIN);
        assert!(!b.in_use(PacketId::MIN));
    }

    /// MQTT-2.2.1-3: an identifier still held is never handed out again; the cursor
    /// wraps from 65535 to 1 (0 is not an identifier).
    #[test]
    fn cursor_skips_held_ids_and_wraps_mqtt_2_2_1_3() {
        let held = |n: u16| move |id: PacketId| id.get() == n;
        let mut c = IdCursor::new(u16::MAX);
        assert_eq!(c.alloc(1, held(5)).map(PacketId::get), Some(u16::MAX));
        assert_eq!(c.alloc(1, held(1)).map(PacketId::get), Some(2));
        assert_eq!(c.next_hint(), 3);
        assert_eq!(c.alloc(usize::from(u16::MAX), |_| true), None);
    }
}
