//! The protocol state of a session between connections, and the one connection that
//! holds it: the connection that serves a session holds the state from CONNACK until it
//! has put it back, so a connection taking the session over waits for it (and nothing
//! else does).
//!
//! This lives in the session's own state ([`SessionState::slot`]) rather than behind an
//! async mutex of its own: that was one more allocation per session (issue 8: memory per
//! idle connection). A waiting connection creates the notification it waits on.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::session::{Saved, Session};

/// The saved state, or who holds it.
#[derive(Debug)]
pub(crate) enum Slot {
    /// No connection holds the state; what was saved, if anything.
    Free(Option<Box<Saved>>),
    /// A connection holds the state; what connections waiting for it wait on (created by
    /// the first of them).
    Held(Option<Arc<Notify>>),
}

impl Default for Slot {
    fn default() -> Self {
        Slot::Free(None)
    }
}

impl Slot {
    /// Puts saved state in (restored from the store, before any connection).
    pub fn restore(&mut self, saved: Saved) {
        if let Slot::Free(s) = self {
            *s = Some(Box::new(saved));
        }
    }

    /// Takes the saved state out (session discarded). A connection holding the state
    /// took it out when it began to.
    pub fn discard(&mut self) -> Option<Box<Saved>> {
        match self {
            Slot::Free(s) => s.take(),
            Slot::Held(_) => None,
        }
    }
}

/// A connection's hold on its session's state; dropping it lets the next connection take
/// the state (without a state put back: see [`SlotHold::put_back`]).
#[derive(Debug)]
pub(crate) struct SlotHold {
    /// `None` once let go.
    session: Option<Arc<Session>>,
}

impl SlotHold {
    /// Waits up to `wait` for the state of `session`, then holds it and returns what was
    /// saved. `None`: another connection still holds it.
    pub async fn acquire(
        session: &Arc<Session>,
        wait: Duration,
    ) -> Option<(Self, Option<Box<Saved>>)> {
        let deadline = Instant::now() + wait;
        loop {
            let waiters = {
                let mut st = session.lock();
                match &mut st.slot {
                    Slot::Free(saved) => {
                        let saved = saved.take();
                        st.slot = Slot::Held(None);
                        let hold = SlotHold {
                            session: Some(session.clone()),
                        };
                        return Some((hold, saved));
                    }
                    Slot::Held(w) => w.get_or_insert_with(Default::default).clone(),
                }
            };
            let notified = waiters.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Let go of between the check and `enable`: taken on the next turn.
            let held = matches!(session.lock().slot, Slot::Held(_));
            if held && tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    /// Puts the state back for the next connection and lets go of it.
    pub fn put_back(mut self, saved: Saved) {
        self.release(Some(Box::new(saved)));
    }

    fn release(&mut self, saved: Option<Box<Saved>>) {
        let Some(session) = self.session.take() else {
            return;
        };
        let waiters = {
            let mut st = session.lock();
            match std::mem::replace(&mut st.slot, Slot::Free(saved)) {
                Slot::Held(w) => w,
                Slot::Free(_) => None,
            }
        };
        if let Some(w) = waiters {
            w.notify_waiters();
        }
    }
}

impl Drop for SlotHold {
    fn drop(&mut self) {
        self.release(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(60);

    /// A connection taking a session over waits until the one holding the state puts it
    /// back, then gets what was put back.
    #[tokio::test]
    async fn a_waiting_connection_gets_the_state_put_back() {
        let session = Session::new("c".into(), 60);
        let (first, saved) = SlotHold::acquire(&session, LONG).await.unwrap();
        assert!(saved.is_none());
        let waiter = tokio::spawn({
            let session = session.clone();
            async move { SlotHold::acquire(&session, LONG).await.map(|(_, s)| s) }
        });
        tokio::task::yield_now().await;
        let mut state = Saved::default();
        state.state.next_packet_id = 7;
        first.put_back(state);
        let got = waiter
            .await
            .unwrap()
            .expect("acquired")
            .expect("saved state");
        assert_eq!(got.state.next_packet_id, 7);
    }

    /// Dropping a hold without putting the state back lets the next connection in (with
    /// nothing saved); while it is held, a waiter gives up at its deadline.
    #[tokio::test]
    async fn a_dropped_hold_lets_go_and_a_held_one_times_out() {
        let session = Session::new("c".into(), 60);
        let (first, _) = SlotHold::acquire(&session, LONG).await.unwrap();
        assert!(SlotHold::acquire(&session, Duration::from_millis(20))
            .await
            .is_none());
        drop(first);
        let (_second, saved) = SlotHold::acquire(&session, Duration::from_millis(20))
            .await
            .expect("free again");
        assert!(saved.is_none());
    }
}
