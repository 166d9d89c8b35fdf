//! [`RetainedIndex`]: retained messages by topic name, looked up by filter.

use crate::intern::NIL;
use crate::trie::{Trie, ROOT};
use crate::{TopicFilter, TopicName};

/// Values stored by topic name (one per name), found by topic filter.
///
/// Names are kept in the same level trie as subscriptions, so a lookup with a filter
/// follows its literal levels directly and only fans out at `+` and `#`: `site/7/#`
/// touches only the names under `site/7`, never the whole store. Leading wildcards skip
/// names starting with `$` (MQTT-4.7.2-1).
#[derive(Debug)]
pub struct RetainedIndex<V> {
    trie: Trie<Box<(TopicName, V)>>,
    len: usize,
}

impl<V> Default for RetainedIndex<V> {
    fn default() -> Self {
        Self {
            trie: Trie::default(),
            len: 0,
        }
    }
}

impl<V> RetainedIndex<V> {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of stored names.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores `value` under `name`, returning the value it replaces.
    pub fn insert(&mut self, name: TopicName, value: V) -> Option<V> {
        let node = self.trie.insert_path(name.levels(), false);
        let slot = &mut self.trie.node_mut(node).data;
        let old = slot.replace(Box::new((name, value)));
        if old.is_none() {
            self.len += 1;
        }
        old.map(|b| b.1)
    }

    /// Removes the value stored under `name`.
    pub fn remove(&mut self, name: &TopicName) -> Option<V> {
        let node = self.trie.find_path(name.levels(), false);
        if node == NIL {
            return None;
        }
        let old = self.trie.node_mut(node).data.take()?;
        self.len -= 1;
        self.trie.prune(node);
        Some(old.1)
    }

    /// The value stored under `name`.
    pub fn get(&self, name: &TopicName) -> Option<&V> {
        let node = self.trie.find_path(name.levels(), false);
        if node == NIL {
            return None;
        }
        self.trie.node(node).data.as_ref().map(|b| &b.1)
    }

    /// Calls `f` with every stored name matching `filter`, and its value (in no particular
    /// order).
    pub fn for_each_match<'s>(
        &'s self,
        filter: &TopicFilter,
        mut f: impl FnMut(&'s TopicName, &'s V),
    ) {
        let levels: Vec<&str> = filter.levels().collect();
        let mut stack: Vec<(u32, usize)> = vec![(ROOT, 0)];
        while let Some((id, depth)) = stack.pop() {
            let Some(&level) = levels.get(depth) else {
                self.visit(id, &mut f);
                continue;
            };
            match level {
                "#" => {
                    // `a/#` matches `a` itself too.
                    if depth > 0 {
                        self.visit(id, &mut f);
                    }
                    self.for_children(id, depth, |child| self.visit_subtree(child, &mut f));
                }
                "+" => self.for_children(id, depth, |child| stack.push((child, depth + 1))),
                literal => {
                    let child = self.trie.child(id, self.trie.lookup_level(literal));
                    if child != NIL {
                        stack.push((child, depth + 1));
                    }
                }
            }
        }
    }

    /// Every stored name matching `filter`, with its value.
    pub fn matches(&self, filter: &TopicFilter) -> Vec<(&TopicName, &V)> {
        let mut out = Vec::new();
        self.for_each_match(filter, |name, value| out.push((name, value)));
        out
    }

    /// Calls `f` on each literal child of `id`; at the root of a wildcard level, children
    /// whose level starts with `$` are skipped (MQTT-4.7.2-1).
    fn for_children(&self, id: u32, depth: usize, mut f: impl FnMut(u32)) {
        let mut child = self.trie.node(id).first_child;
        while child != NIL {
            let node = self.trie.node(child);
            if !(depth == 0 && self.trie.level_text(child).starts_with('$')) {
                f(child);
            }
            child = node.next_sibling;
        }
    }

    fn visit<'s>(&'s self, id: u32, f: &mut impl FnMut(&'s TopicName, &'s V)) {
        if let Some(b) = self.trie.node(id).data.as_ref() {
            f(&b.0, &b.1);
        }
    }

    fn visit_subtree<'s>(&'s self, id: u32, f: &mut impl FnMut(&'s TopicName, &'s V)) {
        let mut stack = vec![id];
        while let Some(id) = stack.pop() {
            self.visit(id, f);
            let mut child = self.trie.node(id).first_child;
            while child != NIL {
                stack.push(child);
                child = self.trie.node(child).next_sibling;
            }
        }
    }
}
