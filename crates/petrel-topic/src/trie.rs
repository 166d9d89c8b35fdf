//! The level trie shared by the subscription and retained indexes.
//!
//! Nodes live in one `Vec` and are named by `u32` (no per-node allocation, no pointers).
//! Literal children are found through one global edge map keyed by
//! `(parent, interned level)`; `+` and `#` children hang directly off their parent.
//! Literal children are also linked in a sibling list so a subtree can be walked (retained
//! lookups with `+` or `#`). Empty branches are pruned on removal, and freed node slots and
//! level ids are reused, so memory follows the live set under churn.

use std::collections::HashMap;

use crate::intern::{edge_key, EdgeHasherBuilder, Interner, NIL};

/// `Node::atom` of a `+` child.
const ATOM_PLUS: u32 = u32::MAX - 1;
/// `Node::atom` of a `#` child.
const ATOM_HASH: u32 = u32::MAX - 2;
/// The root node id.
pub(crate) const ROOT: u32 = 0;

/// One trie node. 28 bytes of links plus the payload slot.
#[derive(Debug)]
pub(crate) struct Node<T> {
    parent: u32,
    atom: u32,
    pub(crate) plus: u32,
    pub(crate) hash: u32,
    pub(crate) first_child: u32,
    pub(crate) next_sibling: u32,
    prev_sibling: u32,
    /// What is stored at the path ending here.
    pub(crate) data: Option<T>,
}

impl<T> Node<T> {
    fn new(parent: u32, atom: u32) -> Self {
        Self {
            parent,
            atom,
            plus: NIL,
            hash: NIL,
            first_child: NIL,
            next_sibling: NIL,
            prev_sibling: NIL,
            data: None,
        }
    }
}

/// An arena trie over topic levels with a payload `T` per node.
#[derive(Debug)]
pub(crate) struct Trie<T> {
    nodes: Vec<Node<T>>,
    free: Vec<u32>,
    edges: HashMap<u64, u32, EdgeHasherBuilder>,
    atoms: Interner,
}

impl<T> Default for Trie<T> {
    fn default() -> Self {
        Self {
            nodes: vec![Node::new(NIL, NIL)],
            free: Vec::new(),
            edges: HashMap::default(),
            atoms: Interner::default(),
        }
    }
}

impl<T> Trie<T> {
    /// The node with id `id`. Ids come from this trie, so they are always in range.
    #[inline]
    pub(crate) fn node(&self, id: u32) -> &Node<T> {
        &self.nodes[id as usize]
    }

    #[inline]
    pub(crate) fn node_mut(&mut self, id: u32) -> &mut Node<T> {
        &mut self.nodes[id as usize]
    }

    /// The id of the interned `level`, or [`NIL`] if no literal edge uses it.
    #[inline]
    pub(crate) fn lookup_level(&self, level: &str) -> u32 {
        self.atoms.lookup(level)
    }

    /// The text of a literal node's level.
    pub(crate) fn level_text(&self, id: u32) -> &str {
        self.atoms.name(self.node(id).atom)
    }

    /// The literal child of `node` when it is its only one, or [`NIL`].
    #[inline]
    pub(crate) fn only_child(&self, node: &Node<T>) -> u32 {
        let first = node.first_child;
        if first != NIL && self.node(first).next_sibling == NIL {
            first
        } else {
            NIL
        }
    }

    /// The interned level of literal node `id`.
    #[inline]
    pub(crate) fn atom(&self, id: u32) -> u32 {
        self.node(id).atom
    }

    /// The literal child of `node` for interned level `atom`, or [`NIL`].
    #[inline]
    pub(crate) fn child(&self, node: u32, atom: u32) -> u32 {
        if atom == NIL {
            return NIL;
        }
        self.edges
            .get(&edge_key(node, atom))
            .copied()
            .unwrap_or(NIL)
    }

    fn alloc(&mut self, parent: u32, atom: u32) -> u32 {
        let node = Node::new(parent, atom);
        match self.free.pop() {
            Some(id) => {
                self.nodes[id as usize] = node;
                id
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    fn literal_child_or_insert(&mut self, node: u32, level: &str) -> u32 {
        let found = self.child(node, self.atoms.lookup(level));
        if found != NIL {
            return found;
        }
        let atom = self.atoms.acquire(level);
        let id = self.alloc(node, atom);
        self.edges.insert(edge_key(node, atom), id);
        let head = self.nodes[node as usize].first_child;
        self.nodes[id as usize].next_sibling = head;
        if head != NIL {
            self.nodes[head as usize].prev_sibling = id;
        }
        self.nodes[node as usize].first_child = id;
        id
    }

    /// The node for `levels`, created when missing. With `wildcards`, `+` and `#` levels
    /// become wildcard children; otherwise they are literal text.
    pub(crate) fn insert_path<'a>(
        &mut self,
        levels: impl Iterator<Item = &'a str>,
        wildcards: bool,
    ) -> u32 {
        let mut node = ROOT;
        for level in levels {
            node = match level {
                "+" if wildcards => {
                    let plus = self.nodes[node as usize].plus;
                    if plus != NIL {
                        plus
                    } else {
                        let id = self.alloc(node, ATOM_PLUS);
                        self.nodes[node as usize].plus = id;
                        id
                    }
                }
                "#" if wildcards => {
                    let hash = self.nodes[node as usize].hash;
                    if hash != NIL {
                        hash
                    } else {
                        let id = self.alloc(node, ATOM_HASH);
                        self.nodes[node as usize].hash = id;
                        id
                    }
                }
                _ => self.literal_child_or_insert(node, level),
            };
        }
        node
    }

    /// The node for `levels`, or [`NIL`] when the path does not exist.
    pub(crate) fn find_path<'a>(
        &self,
        levels: impl Iterator<Item = &'a str>,
        wildcards: bool,
    ) -> u32 {
        let mut node = ROOT;
        for level in levels {
            let n = self.node(node);
            node = match level {
                "+" if wildcards => n.plus,
                "#" if wildcards => n.hash,
                _ => self.child(node, self.atoms.lookup(level)),
            };
            if node == NIL {
                return NIL;
            }
        }
        node
    }

    /// Removes `node` and its ancestors while they hold no payload and no children.
    pub(crate) fn prune(&mut self, mut node: u32) {
        while node != ROOT {
            let n = &self.nodes[node as usize];
            if n.data.is_some() || n.plus != NIL || n.hash != NIL || n.first_child != NIL {
                return;
            }
            let (parent, atom, prev, next) = (n.parent, n.atom, n.prev_sibling, n.next_sibling);
            match atom {
                ATOM_PLUS => self.nodes[parent as usize].plus = NIL,
                ATOM_HASH => self.nodes[parent as usize].hash = NIL,
                _ => {
                    self.edges.remove(&edge_key(parent, atom));
                    if prev != NIL {
                        self.nodes[prev as usize].next_sibling = next;
                    } else {
                        self.nodes[parent as usize].first_child = next;
                    }
                    if next != NIL {
                        self.nodes[next as usize].prev_sibling = prev;
                    }
                    self.atoms.release(atom);
                }
            }
            self.nodes[node as usize] = Node::new(NIL, NIL);
            self.free.push(node);
            node = parent;
        }
    }

    /// True when the trie holds nothing but its root.
    #[inline]
    pub(crate) fn is_bare(&self) -> bool {
        let root = self.node(ROOT);
        root.first_child == NIL && root.plus == NIL && root.hash == NIL && root.data.is_none()
    }

    /// Number of live nodes (the root included).
    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len() - self.free.len()
    }
}
