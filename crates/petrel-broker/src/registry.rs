//! The broker's sessions by client id. Each session is held once, keyed by its own client
//! id: a map from a copy of the id would hold 32 more bytes per session in its table
//! (issue 8: memory per idle connection).

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::session::Session;

/// A session in the registry, hashed and compared by its client id.
#[derive(Debug)]
struct Registered(Arc<Session>);

impl PartialEq for Registered {
    fn eq(&self, other: &Self) -> bool {
        self.0.client_id == other.0.client_id
    }
}

impl Eq for Registered {}

impl Hash for Registered {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `str` hashes, so that lookups by `&str` find it (see `Borrow`).
        str::hash(&self.0.client_id, state);
    }
}

impl Borrow<str> for Registered {
    fn borrow(&self) -> &str {
        &self.0.client_id
    }
}

/// The sessions by client id.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    sessions: HashSet<Registered>,
}

impl Registry {
    /// The session of `client_id`.
    pub fn get(&self, client_id: &str) -> Option<&Arc<Session>> {
        self.sessions.get(client_id).map(|r| &r.0)
    }

    /// Registers `session` under its client id, replacing (and returning) the session
    /// registered under it before.
    pub fn insert(&mut self, session: Arc<Session>) -> Option<Arc<Session>> {
        self.sessions.replace(Registered(session)).map(|r| r.0)
    }

    /// Removes and returns the session of `client_id`.
    pub fn remove(&mut self, client_id: &str) -> Option<Arc<Session>> {
        self.sessions.take(client_id).map(|r| r.0)
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Every session.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Session>> {
        self.sessions.iter().map(|r| &r.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_found_replaced_and_removed_by_client_id() {
        let mut r = Registry::default();
        let a = Session::new("a".into(), 0);
        assert!(r.insert(a.clone()).is_none());
        assert!(r.insert(Session::new("b".into(), 0)).is_none());
        assert!(Arc::ptr_eq(r.get("a").unwrap(), &a));
        let a2 = Session::new("a".into(), 0);
        let old = r.insert(a2.clone()).unwrap();
        assert!(Arc::ptr_eq(&old, &a));
        assert!(Arc::ptr_eq(r.get("a").unwrap(), &a2));
        assert_eq!(r.len(), 2);
        assert!(Arc::ptr_eq(&r.remove("a").unwrap(), &a2));
        assert!(r.get("a").is_none());
        assert_eq!(r.iter().count(), 1);
    }
}
