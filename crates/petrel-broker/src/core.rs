//! The state every connection task shares: configuration, subscription index, retained
//! messages, the session registry, metrics and the store. Publishing happens here, on the
//! publisher's own task: look up targets, push into their queues, wake them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytestring::ByteString;
use petrel_codec::QoS;
use petrel_store::{Batch, Op, QueueTarget, Store, StoredSession, StoredSubscription};
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::config::Config;
use crate::index::SubscriptionIndex;
use crate::message::Message;
use crate::metrics::{DropReason, Metrics};
use crate::registry::Registry;
use crate::retained::{RetainOutcome, RetainedIndex};
use crate::security::Access;
use crate::session::{Delivery, Owner, Session, SubInfo};
use crate::topic::parse_filter;
use petrel_topic::{TopicFilter, TopicName};

/// A message routed by [`Core::route`], waiting for its store commit before it is
/// queued for its targets.
pub(crate) struct Routed {
    deliveries: Vec<(Arc<Session>, Delivery, bool)>,
    stored: Option<u64>,
    commit: Option<petrel_store::StoreFuture<'static, ()>>,
}

impl Routed {
    /// True when nothing has to be waited for.
    pub fn is_ready(&self) -> bool {
        self.commit.is_none()
    }
}

/// Shared broker state.
#[derive(Debug)]
pub(crate) struct Core {
    pub config: Config,
    pub index: SubscriptionIndex,
    pub retained: RetainedIndex,
    pub metrics: Metrics,
    pub store: Arc<dyn Store>,
    pub started: Instant,
    pub shutdown: watch::Receiver<bool>,
    /// Authentication and authorisation.
    pub access: Access,
    /// The protocol limits every connection's session enforces, one copy for all
    /// (issue 8: memory per idle connection).
    pub session_config: Arc<petrel_session::ServerConfig>,
    sessions: Mutex<Registry>,
    wills: Mutex<HashMap<ByteString, AbortHandle>>,
    pending: Mutex<HashMap<IpAddr, usize>>,
    next_conn: AtomicU64,
    /// The next store id of a durable message.
    next_message: AtomicU64,
}

/// A connection that has not completed CONNECT, counted per source address until dropped.
#[derive(Debug)]
pub(crate) struct PendingGuard<'a> {
    core: &'a Core,
    ip: IpAddr,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        let mut pending = self.core.pending.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = pending.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                pending.remove(&self.ip);
            }
        }
    }
}

impl Core {
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        shutdown: watch::Receiver<bool>,
        access: Access,
    ) -> Self {
        Self {
            access,
            session_config: Arc::new(crate::connection::server_config(&config)),
            config,
            index: SubscriptionIndex::default(),
            retained: RetainedIndex::default(),
            metrics: Metrics::default(),
            store,
            started: Instant::now(),
            shutdown,
            sessions: Mutex::new(Registry::default()),
            wills: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
            next_message: AtomicU64::new(1),
        }
    }

    fn sessions(&self) -> MutexGuard<'_, Registry> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wills(&self) -> MutexGuard<'_, HashMap<ByteString, AbortHandle>> {
        self.wills.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a new connection from `ip` as pending CONNECT; `None` when the address is
    /// over `max_pending_per_address`.
    pub fn pending_guard(&self, ip: IpAddr) -> Option<PendingGuard<'_>> {
        let max = self.config.limits.max_pending_per_address;
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let n = pending.entry(ip).or_insert(0);
        if max > 0 && *n >= max {
            return None;
        }
        *n += 1;
        Some(PendingGuard { core: self, ip })
    }

    /// A fresh connection number.
    pub fn next_conn_id(&self) -> NonZeroU64 {
        NonZeroU64::MIN.saturating_add(self.next_conn.fetch_add(1, Ordering::Relaxed))
    }

    /// Wakes the connection of every session (at shutdown: each sees the flag and closes).
    pub fn wake_all(&self) {
        let sessions: Vec<Arc<Session>> = self.sessions().iter().cloned().collect();
        for session in sessions {
            session.notify.notify_one();
        }
    }

    /// Number of sessions (connected or not).
    pub fn session_count(&self) -> usize {
        self.sessions().len()
    }

    /// Messages waiting in the longest session queue (read when metrics are scraped).
    pub fn max_queue_len(&self) -> usize {
        let sessions: Vec<Arc<Session>> = self.sessions().iter().cloned().collect();
        sessions
            .iter()
            .map(|s| s.lock().queue.len())
            .max()
            .unwrap_or(0)
    }

    /// Routes a message: updates the retained store when RETAIN=1, then queues it for
    /// every matching session. Returns false when a store commit failed.
    pub async fn publish(&self, msg: Arc<Message>) -> bool {
        self.publish_with(msg, Vec::new()).await
    }

    /// [`Core::publish`], committing `extra` operations in the same store batch as the
    /// message's durable queue entries. A QoS 1/2 message for a persistent session is
    /// committed to the store before it is queued anywhere and before this returns; when
    /// that commit fails the message is not delivered and false is returned.
    pub async fn publish_with(&self, msg: Arc<Message>, extra: Vec<Op>) -> bool {
        let routed = self.route(msg, extra);
        self.deliver(routed).await
    }

    /// First half of [`Core::publish_with`]: updates the retained index, finds the
    /// targets and starts the store commit (retained change, durable queue entries and
    /// `extra`). Nothing is queued yet; [`Core::deliver`] finishes. A connection starts
    /// several of these before waiting, so that its messages share group commits.
    pub fn route(&self, msg: Arc<Message>, extra: Vec<Op>) -> Routed {
        let mut batch: Batch = extra.into_iter().collect();
        let mut deliveries = Vec::new();
        let mut stored = None;
        // A QoS 0/1 message is queued for its targets at once, before its commit: online
        // subscribers get it without waiting for the disk, and a delivery acknowledged
        // before its enqueue was written is never written (see `crate::persist`). While the
        // store is failing, deliveries wait: a refused message is not delivered.
        let at_once = msg.qos != QoS::ExactlyOnce && self.store.is_healthy();
        if let Ok(name) = TopicName::new(msg.topic.clone()) {
            if msg.retain {
                let (outcome, op) =
                    self.retained
                        .apply(&name, &msg, self.config.limits.max_retained_messages);
                if let RetainOutcome::Full = outcome {
                    tracing::debug!(topic = %msg.topic, "retained message limit reached");
                }
                if let Some(op) = op {
                    batch.push(op);
                }
            }
            let origin = msg.origin.as_deref();
            let mut targets = Vec::new();
            let mut found = false;
            let mut dropped = Batch::new();
            self.index.route_each(&name, msg.qos, origin, |t| {
                found = true;
                let mut delivery = Delivery {
                    msg: msg.clone(),
                    qos: t.qos,
                    // MQTT-3.3.1-12 / -13: RETAIN kept only with Retain As Published.
                    retain: msg.retain && t.retain_as_published,
                    sub_ids: t.sub_ids,
                    stored: None,
                };
                if at_once {
                    // Queued now unless durable (decided under the same lock); a durable
                    // one waits below until its enqueue is ordered in the store.
                    let limits = &self.config.limits;
                    match t.session.enqueue_volatile(delivery, limits, &self.metrics) {
                        Ok(ids) => {
                            for id in ids {
                                dropped.push(Op::Dequeue {
                                    client_id: t.session.client_id.clone(),
                                    message_id: id,
                                });
                            }
                            return;
                        }
                        Err(d) => delivery = d,
                    }
                }
                let durable =
                    delivery.qos != QoS::AtMostOnce && t.session.lock().expiry_interval > 0;
                if durable {
                    targets.push(
                        QueueTarget::new(t.session.client_id.clone(), delivery.qos)
                            .with_retain(delivery.retain)
                            .with_subscription_ids(delivery.sub_ids.clone()),
                    );
                }
                deliveries.push((t.session, delivery, durable));
            });
            self.forget(dropped);
            if !found && !msg.retain {
                self.metrics.dropped(DropReason::NoSubscribers, 1);
            }
            if !targets.is_empty() {
                let id = self.next_message.fetch_add(1, Ordering::Relaxed);
                batch.push(Op::Enqueue {
                    message_id: id,
                    message: crate::persist::stored_message(&msg),
                    targets,
                });
                stored = Some(id);
            }
        }
        let commit = (!batch.is_empty()).then(|| self.store.commit(batch));
        let deliveries = if at_once {
            self.queue_deliveries(deliveries, stored);
            Vec::new()
        } else {
            deliveries
        };
        Routed {
            deliveries,
            stored,
            commit,
        }
    }

    /// [`Core::deliver`] for a routed message with no commit to wait for
    /// ([`Routed::is_ready`]): the same, without a future. Returns false when `routed` is
    /// not ready (nothing done then).
    pub fn deliver_ready(&self, routed: &mut Routed) -> bool {
        if !routed.is_ready() {
            return false;
        }
        self.queue_deliveries(std::mem::take(&mut routed.deliveries), routed.stored);
        true
    }

    /// Second half of [`Core::publish_with`]: waits for the commit, then queues a QoS 2
    /// message for its targets. Returns false when the commit failed; a QoS 2 message with
    /// durable targets is then not delivered at all (it was not acknowledged either), a
    /// QoS 1 one was delivered already (the publisher, not acknowledged, sends it again:
    /// at least once).
    pub async fn deliver(&self, routed: Routed) -> bool {
        let ok = match routed.commit {
            Some(commit) => match commit.await {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "store commit failed: message not accepted");
                    false
                }
            },
            None => true,
        };
        if !ok && routed.stored.is_some() {
            // Only a QoS 2 message is still held back here (QoS 0/1 went out at routing).
            if !routed.deliveries.is_empty() {
                self.metrics.dropped(DropReason::StoreFailure, 1);
            }
            return false;
        }
        self.queue_deliveries(routed.deliveries, routed.stored);
        ok
    }

    /// Queues a routed message for its targets; `stored` is its store id, given to the
    /// durable deliveries.
    fn queue_deliveries(
        &self,
        deliveries: Vec<(Arc<Session>, Delivery, bool)>,
        stored: Option<u64>,
    ) {
        // Most messages were queued at routing: nothing is left to walk.
        if deliveries.is_empty() {
            return;
        }
        let mut dropped = Batch::new();
        for (session, mut delivery, durable) in deliveries {
            if durable {
                delivery.stored = stored;
            }
            for id in session.enqueue(delivery, &self.config.limits, &self.metrics) {
                dropped.push(Op::Dequeue {
                    client_id: session.client_id.clone(),
                    message_id: id,
                });
            }
        }
        self.forget(dropped);
    }

    /// Sends a batch to the store without waiting: it is ordered before every later
    /// commit (the store orders batches when `commit` is called).
    pub fn forget(&self, batch: Batch) {
        if !batch.is_empty() {
            drop(self.store.commit(batch));
        }
    }

    /// Records a newly attached session in the store before CONNACK: a fresh session
    /// replaces whatever was stored under the client id; a resumed one gets its new
    /// expiry (none while connected).
    /// The will of a persistent session is stored with it, so that a crash does not
    /// lose it.
    pub async fn persist_attach(
        &self,
        session: &Session,
        present: bool,
        will: Option<&(Arc<Message>, u32)>,
    ) {
        let expiry = session.lock().expiry_interval;
        let mut batch = Batch::new();
        if present {
            batch.push(Op::SetSessionExpiry {
                client_id: session.client_id.clone(),
                expiry_interval: expiry,
                expires_at_ms: None,
            });
        } else {
            batch.push(Op::DeleteSession(session.client_id.clone()));
            if expiry > 0 {
                batch.push(Op::PutSession(StoredSession::new(
                    session.client_id.clone(),
                    expiry,
                )));
            }
        }
        match will {
            Some((msg, delay)) if expiry > 0 => batch.push(Op::SetWill {
                client_id: session.client_id.clone(),
                will: petrel_store::StoredWill::new(crate::persist::stored_message(msg), *delay),
            }),
            _ if present => batch.push(Op::ClearWill(session.client_id.clone())),
            _ => {}
        }
        if let Err(e) = self.store.commit(batch).await {
            tracing::warn!(client = %session.client_id, error = %e, "store commit failed at connect");
        }
    }

    /// Attaches a connection to the session of `client_id`, creating or replacing it.
    /// Any connection attached before is woken and, no longer the owner, closes with 0x8E
    /// (session takeover, MQTT-3.1.4-3). Returns the session and the Session Present flag.
    /// (No channel per connection for this: issue 8, memory per idle connection.)
    pub fn attach(
        &self,
        client_id: &ByteString,
        clean_start: bool,
        expiry_interval: u32,
        conn_id: NonZeroU64,
    ) -> (Arc<Session>, bool) {
        if let Some(will) = self.wills().remove(client_id) {
            will.abort();
        }
        let mut sessions = self.sessions();
        let existing = sessions.get(client_id).cloned();
        let owner = Owner { conn_id };
        if let Some(old) = existing {
            let mut st = old.lock();
            let taken_over = st.owner.take().is_some();
            let resumed = !clean_start && !st.ended;
            if resumed {
                st.owner = Some(owner);
                st.expiry_interval = expiry_interval;
                old.online.store(true, Ordering::Relaxed);
            }
            drop(st);
            if !resumed {
                self.discard(&old);
            }
            if taken_over {
                // Only the connection taken over waits on this session's notification
                // now: this one waits for the protocol state first (`crate::slot`).
                old.notify.notify_one();
            }
            if resumed {
                return (old, true);
            }
        }
        let session = Session::new(client_id.clone(), expiry_interval);
        session.lock().owner = Some(owner);
        session.online.store(true, Ordering::Relaxed);
        sessions.insert(session.clone());
        (session, false)
    }

    /// Removes a session's subscriptions and empties it (registry entry left to caller).
    fn discard(&self, session: &Arc<Session>) {
        let subs: Vec<ByteString> = session.lock().subscriptions.keys().cloned().collect();
        for raw in subs {
            if let Ok(parsed) = parse_filter(&raw, usize::MAX) {
                self.index.unsubscribe(&parsed, session);
            }
        }
        session.discard(&self.metrics);
    }

    /// Removes a session from the registry if it is still the registered one.
    async fn remove(&self, session: &Arc<Session>) {
        let removed = {
            let mut sessions = self.sessions();
            match sessions.get(&session.client_id) {
                Some(s) if Arc::ptr_eq(s, session) => sessions.remove(&session.client_id).is_some(),
                _ => false,
            }
        };
        if removed {
            self.discard(session);
            let _ = self
                .store
                .commit(Op::DeleteSession(session.client_id.clone()).into())
                .await;
        }
    }

    /// Detaches connection `conn_id` from its session when the connection ends. A session
    /// with expiry 0 is removed; others expire later unless a client resumes them.
    pub async fn detach(self: &Arc<Self>, session: &Arc<Session>, conn_id: NonZeroU64) {
        let expiry = {
            let mut st = session.lock();
            if !st.owned_by(conn_id) {
                return;
            }
            st.owner = None;
            session.online.store(false, Ordering::Relaxed);
            st.expiry_interval
        };
        if expiry == 0 {
            self.remove(session).await;
            return;
        }
        let mut batch = Batch::new();
        let mut record = StoredSession::new(session.client_id.clone(), expiry);
        record.expires_at_ms = (expiry != u32::MAX)
            .then(|| crate::persist::wall_ms().saturating_add(u64::from(expiry) * 1000));
        record.subscriptions = session
            .lock()
            .subscriptions
            .iter()
            .map(|(f, i)| StoredSubscription::new(f.clone(), i.options, i.id))
            .collect();
        batch.push(Op::PutSession(record));
        let _ = self.store.commit(batch).await;
        self.schedule_expiry(session, expiry, Duration::from_secs(u64::from(expiry)));
    }

    /// Removes `session` after `after` unless a client attaches to it meanwhile
    /// (MQTT-3.1.2-23). An `expiry` interval of `u32::MAX` never expires.
    fn schedule_expiry(self: &Arc<Self>, session: &Arc<Session>, expiry: u32, after: Duration) {
        if expiry == u32::MAX {
            return;
        }
        let epoch = {
            let mut st = session.lock();
            st.offline_epoch += 1;
            st.offline_epoch
        };
        let core = self.clone();
        let session = session.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let expired = {
                let st = session.lock();
                st.owner.is_none() && st.offline_epoch == epoch
            };
            if expired {
                core.remove(&session).await;
            }
        });
    }

    /// Publishes a will now, or after `delay` unless the client reconnects first.
    pub fn schedule_will(
        self: &Arc<Self>,
        client_id: &ByteString,
        will: Arc<Message>,
        delay: Duration,
    ) {
        if delay.is_zero() {
            let core = self.clone();
            let id = client_id.clone();
            tokio::spawn(async move {
                core.publish(will).await;
                core.forget(Op::ClearWill(id).into());
            });
            return;
        }
        let core = self.clone();
        let id = client_id.clone();
        let task = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            core.wills().remove(&id);
            core.publish(will).await;
            core.forget(Op::ClearWill(id).into());
        });
        if let Some(old) = self.wills().insert(client_id.clone(), task.abort_handle()) {
            old.abort();
        }
    }

    /// Adds a subscription to a session and the index; returns true when it existed.
    pub fn subscribe(&self, session: &Arc<Session>, raw: &ByteString, info: SubInfo) -> bool {
        let Ok(parsed) = parse_filter(raw, usize::MAX) else {
            return false;
        };
        session.lock().subscriptions.insert(raw.clone(), info);
        self.index.subscribe(&parsed, session, info)
    }

    /// Removes a subscription; returns true when it existed.
    pub fn unsubscribe(&self, session: &Arc<Session>, raw: &ByteString) -> bool {
        let Ok(parsed) = parse_filter(raw, usize::MAX) else {
            return false;
        };
        session.lock().subscriptions.remove(raw);
        self.index.unsubscribe(&parsed, session)
    }

    /// Restores sessions and retained messages from the store at start-up.
    pub async fn restore(self: &Arc<Self>) -> Result<(), petrel_store::StoreError> {
        let snapshot = self.store.load().await?;
        // Expired sessions and messages leave the store before anything is restored.
        self.forget(
            Op::Expire {
                now_ms: crate::persist::wall_ms(),
            }
            .into(),
        );
        self.next_message
            .store(snapshot.max_message_id + 1, Ordering::Relaxed);
        let now = Instant::now();
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        for m in snapshot.retained {
            let expires_at = match m.expires_at_ms {
                Some(at) if u128::from(at) <= wall => continue,
                Some(at) => Some(now + Duration::from_millis(at - wall as u64)),
                None => None,
            };
            let mut msg = Message::new(m.topic, m.payload, m.qos, true, &m.properties, now, None);
            Arc::make_mut(&mut msg).expires_at = expires_at;
            self.retained.restore(msg);
        }
        let wall_now = crate::persist::wall_ms();
        let mut wills = Vec::new();
        for s in snapshot.sessions {
            let will = s.will.as_ref().and_then(|w| {
                let msg = crate::persist::restored_message(&w.message, now, wall_now)?;
                Some((
                    s.client_id.clone(),
                    msg,
                    will_due_in(&s, w.delay_interval, wall_now),
                ))
            });
            if s.expires_at_ms.is_some_and(|at| at <= wall_now) {
                // The session ended while the broker was down: its will was due then, so it
                // goes out now (MQTT-3.1.3-9), and the session stays gone.
                wills.extend(will.map(|(id, msg, _)| (id, msg, Duration::ZERO)));
                continue;
            }
            wills.extend(will);
            let session = Session::new(s.client_id.clone(), s.expiry_interval);
            crate::persist::restore_queue(&session, &s, &self.metrics);
            for sub in s.subscriptions {
                self.subscribe(
                    &session,
                    &sub.filter,
                    SubInfo {
                        options: sub.options,
                        id: sub.identifier,
                    },
                );
            }
            // A session that was offline before the restart keeps its deadline; one that
            // was connected lost its connection now and gets its whole interval.
            let left = s
                .expires_at_ms
                .map_or(u64::from(s.expiry_interval) * 1000, |at| {
                    at.saturating_sub(wall_now)
                });
            self.schedule_expiry(&session, s.expiry_interval, Duration::from_millis(left));
            self.sessions().insert(session);
        }
        // Once every session is back, so that the wills reach all of them.
        for (client_id, msg, delay) in wills {
            self.schedule_will(&client_id, msg, delay);
        }
        Ok(())
    }

    /// Sends retained messages matching a new subscription to the session.
    pub fn send_retained(
        &self,
        session: &Session,
        filter: &TopicFilter,
        qos: QoS,
        sub_id: Option<u32>,
    ) {
        for msg in self.retained.matching(filter, Instant::now()) {
            let delivery = Delivery {
                qos: msg.qos.min(qos),
                msg,
                // MQTT-3.3.1-9: retained messages sent on subscribe have RETAIN=1.
                retain: true,
                sub_ids: sub_id.into_iter().collect(),
                stored: None,
            };
            let dropped = session.enqueue(delivery, &self.config.limits, &self.metrics);
            self.forget(
                dropped
                    .into_iter()
                    .map(|id| Op::Dequeue {
                        client_id: session.client_id.clone(),
                        message_id: id,
                    })
                    .collect(),
            );
        }
    }
}

/// How long after start-up the stored will of `record` is due. A session that was offline
/// at the stop lost its client at `expires_at_ms - expiry`, so the will keeps the deadline
/// it had then (its delay, capped by the session expiry as at the disconnect). A client
/// still connected at the stop was cut off by the restart: its will gets its whole delay.
fn will_due_in(record: &petrel_store::StoredSession, delay: u32, wall_now: u64) -> Duration {
    let delay_ms = u64::from(delay.min(record.expiry_interval)) * 1000;
    let Some(expires_at) = record.expires_at_ms else {
        return Duration::from_millis(delay_ms);
    };
    let disconnected_at = expires_at.saturating_sub(u64::from(record.expiry_interval) * 1000);
    Duration::from_millis((disconnected_at + delay_ms).saturating_sub(wall_now))
}
