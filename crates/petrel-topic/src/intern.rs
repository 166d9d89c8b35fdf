//! Level interning and the hasher for trie edges.
//!
//! Every distinct literal level (`site`, `42`, `temp`) is stored once and named by a `u32`.
//! Trie edges are then keyed by `(parent node, level id)` packed into a `u64`, which keeps
//! an edge at 12 bytes and makes edge lookups a multiply and a probe.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::Arc;

/// Marker for "no node / no level".
pub(crate) const NIL: u32 = u32::MAX;

/// Interned level strings with reference counts (one count per trie edge using the level).
#[derive(Debug, Default)]
pub(crate) struct Interner {
    /// Level string to id, with a randomly keyed hasher (level text comes from peers).
    ids: HashMap<Arc<str>, u32, StrHasherBuilder>,
    /// Id to (string, references); a freed slot has `None`.
    slots: Vec<(Option<Arc<str>>, u32)>,
    free: Vec<u32>,
}

impl Interner {
    /// The id of `level`, or [`NIL`] when no edge uses it.
    #[inline]
    pub(crate) fn lookup(&self, level: &str) -> u32 {
        self.ids.get(level).copied().unwrap_or(NIL)
    }

    /// The id of `level`, adding one reference (creating the entry when needed).
    pub(crate) fn acquire(&mut self, level: &str) -> u32 {
        if let Some(&id) = self.ids.get(level) {
            self.slots[id as usize].1 += 1;
            return id;
        }
        let name: Arc<str> = Arc::from(level);
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = (Some(name.clone()), 1);
                id
            }
            None => {
                self.slots.push((Some(name.clone()), 1));
                (self.slots.len() - 1) as u32
            }
        };
        self.ids.insert(name, id);
        id
    }

    /// Drops one reference to `id`, forgetting the level when none remain.
    pub(crate) fn release(&mut self, id: u32) {
        let Some(slot) = self.slots.get_mut(id as usize) else {
            return;
        };
        slot.1 = slot.1.saturating_sub(1);
        if slot.1 == 0 {
            if let Some(name) = slot.0.take() {
                self.ids.remove(&name);
                self.free.push(id);
            }
        }
    }

    /// The text of level `id` (empty for an unknown id).
    #[inline]
    pub(crate) fn name(&self, id: u32) -> &str {
        match self.slots.get(id as usize) {
            Some((Some(name), _)) => name,
            _ => "",
        }
    }
}

/// Builds [`StrHasher`]s with per-index random keys.
#[derive(Debug, Clone)]
pub(crate) struct StrHasherBuilder {
    seed: u64,
    key: u64,
}

impl Default for StrHasherBuilder {
    fn default() -> Self {
        let state = RandomState::new();
        Self {
            seed: state.hash_one(1_u64),
            key: state.hash_one(2_u64) | (1 << 63) | 1,
        }
    }
}

impl BuildHasher for StrHasherBuilder {
    type Hasher = StrHasher;
    fn build_hasher(&self) -> StrHasher {
        StrHasher {
            state: self.seed,
            key: self.key,
        }
    }
}

/// A keyed multiply-fold hasher for short level strings: eight bytes per multiplication,
/// several times faster than SipHash on typical levels, with random per-index keys so
/// peers cannot precompute colliding levels.
#[derive(Debug, Clone)]
pub(crate) struct StrHasher {
    state: u64,
    key: u64,
}

impl Hasher for StrHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.state
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.state;
        let n = bytes.len();
        // The last word is the last eight bytes (overlapping the previous word), or all of
        // a shorter string: every byte is read, with fixed-size loads and no copy.
        let last = if n >= 8 {
            let mut words = bytes[..n - 1].chunks_exact(8);
            for chunk in &mut words {
                h = fold_mul(h ^ word8(chunk), self.key);
            }
            word8(&bytes[n - 8..])
        } else if n >= 4 {
            u64::from(word4(&bytes[..4])) | u64::from(word4(&bytes[n - 4..])) << 32
        } else if n > 0 {
            u64::from(bytes[0]) | u64::from(bytes[n / 2]) << 8 | u64::from(bytes[n - 1]) << 16
        } else {
            0
        };
        self.state = fold_mul(h ^ last, self.key ^ n as u64);
    }

    #[inline]
    fn write_u8(&mut self, b: u8) {
        self.state = fold_mul(self.state ^ u64::from(b), MUL);
    }
}

const MUL: u64 = 0x9e37_79b9_7f4a_7c15;

/// The first eight bytes of `b` (at least eight long) as a little-endian word.
#[inline]
fn word8(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_le_bytes(w)
}

/// The first four bytes of `b` (at least four long) as a little-endian word.
#[inline]
fn word4(b: &[u8]) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[..4]);
    u32::from_le_bytes(w)
}

/// Builds [`EdgeHasher`]s with a per-index random seed.
#[derive(Debug, Clone)]
pub(crate) struct EdgeHasherBuilder(u64);

impl Default for EdgeHasherBuilder {
    fn default() -> Self {
        Self(RandomState::new().hash_one(0x7065_7472_656c_u64) | 1)
    }
}

impl BuildHasher for EdgeHasherBuilder {
    type Hasher = EdgeHasher;
    fn build_hasher(&self) -> EdgeHasher {
        EdgeHasher(self.0)
    }
}

/// A seeded multiply-fold hasher for the `u64` edge keys (ids we assign, not peer bytes).
#[derive(Debug, Clone)]
pub(crate) struct EdgeHasher(u64);

#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

impl Hasher for EdgeHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    #[inline]
    fn write_u64(&mut self, k: u64) {
        self.0 = fold_mul(self.0 ^ k, MUL);
    }
}

/// The edge key for literal child `atom` of node `parent`.
#[inline]
pub(crate) fn edge_key(parent: u32, atom: u32) -> u64 {
    (u64::from(parent) << 32) | u64::from(atom)
}

#[cfg(test)]
mod tests {
    use std::hash::{BuildHasher, Hasher};

    use super::StrHasherBuilder;

    fn hash(b: &StrHasherBuilder, bytes: &[u8]) -> u64 {
        let mut h = b.build_hasher();
        h.write(bytes);
        h.finish()
    }

    /// Every byte of a level takes part in its hash, whatever the length (the short and
    /// the overlapping-tail paths included), and so does the length.
    #[test]
    fn every_byte_and_the_length_count() {
        let b = StrHasherBuilder::default();
        let text: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
        let mut seen = std::collections::HashSet::new();
        for n in 0..text.len() {
            let s = &text[..n];
            assert!(seen.insert(hash(&b, s)), "length {n}");
            for i in 0..n {
                let mut t = s.to_vec();
                t[i] ^= 0x20;
                assert_ne!(hash(&b, s), hash(&b, &t), "byte {i} of {n}");
            }
        }
    }
}
