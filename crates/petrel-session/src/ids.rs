//! Packet identifier allocation (MQTT-2.2.1-2, MQTT-2.2.1-3).

use std::collections::HashSet;

use petrel_codec::PacketId;

/// Hands out identifiers not currently in use, cycling through 1..=65535.
#[derive(Debug, Clone)]
pub(crate) struct IdAllocator {
    next: u16,
    used: HashSet<u16>,
}

impl IdAllocator {
    pub(crate) fn new(next: u16) -> Self {
        Self {
            next: next.max(1),
            used: HashSet::new(),
        }
    }

    /// The next identifier that would be tried; saved in session state.
    pub(crate) fn next_hint(&self) -> u16 {
        self.next
    }

    pub(crate) fn alloc(&mut self) -> Option<PacketId> {
        if self.used.len() >= usize::from(u16::MAX) {
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
                if self.used.insert(candidate) {
                    return Some(id);
                }
            }
        }
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
}
