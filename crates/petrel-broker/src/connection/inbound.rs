//! Answering the session's events for an established client: routing PUBLISH (and
//! committing it) before its acknowledgement, SUBSCRIBE and UNSUBSCRIBE against the shared
//! index and the store, completed deliveries, the end of the connection.

use petrel_codec::{PacketId, Properties, QoS, ReasonCode, RetainHandling};
use petrel_session::{
    CloseReason, Message as SessionMessage, PendingAck, ServerEvent, SubscribeRequest,
};
use petrel_store::{Batch, Op, StoredSubscription};
use tokio::time::Instant;

use super::{Conn, PendingPublish};
use crate::message::Message;
use crate::metrics::{DropReason, Metrics};
use crate::security::config::Mqtt3PublishDenied::Disconnect;
use crate::session::SubInfo;
use crate::topic::parse_filter;

impl Conn {
    /// Answers one event of the session.
    pub(super) async fn on_event(&mut self, event: ServerEvent) {
        match event {
            ServerEvent::Publish { message, ack } => self.on_publish(message, ack).await,
            ServerEvent::Subscribe {
                packet_id,
                requests,
                properties: _,
            } => self.on_subscribe(packet_id, requests).await,
            ServerEvent::Unsubscribe { filters, .. } => self.on_unsubscribe(filters).await,
            ServerEvent::Delivered(packet_id) | ServerEvent::Failed { packet_id, .. } => {
                self.completed(packet_id);
            }
            ServerEvent::Auth(auth) => self.on_auth(auth).await,
            ServerEvent::Closed {
                reason,
                publish_will,
            } => {
                if let CloseReason::Protocol(v) = &reason {
                    tracing::debug!(client = %self.session.client_id, error = %v, "protocol violation");
                    Metrics::add(&self.core.metrics.protocol_errors, 1);
                }
                // Session Expiry Interval as the DISCONNECT left it (MQTT-3.14.2-2 checked).
                self.session.lock().expiry_interval = self.server.session_expiry_interval();
                self.closed = Some(Box::new((reason, publish_will)));
            }
            // CONNECT was answered by the handshake; nothing else is expected.
            _ => {}
        }
    }

    async fn on_publish(&mut self, m: SessionMessage, ack: Option<PendingAck>) {
        self.core.metrics.received(m.qos, m.payload.len());
        let v5 = self.server.version().is_v5();
        let mut reason = ReasonCode::Success;
        let mut routed = None;
        if m.topic.starts_with("$SYS") {
            // Clients cannot publish to $SYS.
            reason = ReasonCode::NotAuthorized;
            self.core.metrics.dropped(DropReason::NotAuthorized, 1);
        } else if !self.may_publish(&m.topic) {
            // CHECKLIST 19: MQTT 5 gets 0x87; MQTT 3 an ack (message dropped) or a close.
            reason = ReasonCode::NotAuthorized;
            self.core.metrics.dropped(DropReason::NotAuthorized, 1);
            if !v5 && self.core.access.mqtt3_publish_denied == Disconnect {
                self.protocol_error(ReasonCode::NotAuthorized, "publish not authorized");
                return;
            }
        } else {
            // A persistent session's incoming QoS 2 id is stored with the message, so
            // a PUBLISH resent after a crash is recognised and not routed twice.
            let mut extra = Vec::new();
            if let Some(PendingAck {
                packet_id,
                qos: QoS::ExactlyOnce,
            }) = ack
            {
                if self.server.session_expiry_interval() > 0 {
                    extra.push(Op::AddIncomingQos2 {
                        client_id: self.session.client_id.clone(),
                        packet_id,
                    });
                }
            }
            // The time only dates an expiry: the clock is read for expiring messages only.
            let now = if m.properties.message_expiry_interval().is_some() {
                Instant::now()
            } else {
                self.core.started
            };
            let msg = Message::new(
                m.topic,
                m.payload,
                m.qos,
                m.retain,
                &m.properties,
                now,
                Some(self.session.client_id.clone()),
            );
            routed = Some(self.core.route(msg, extra));
        }
        self.queue_publish(PendingPublish {
            routed,
            ack,
            reason,
        })
        .await;
    }

    /// Acknowledges a PUBLISH now when nothing is pending, or after the PUBLISHes still
    /// waiting for their store commits (acknowledgements keep the order of the
    /// PUBLISHes, MQTT-4.6.0-2).
    async fn queue_publish(&mut self, pending: PendingPublish) {
        let ready = pending.routed.as_ref().is_none_or(|r| r.is_ready());
        if self.publishes.is_empty() && ready {
            self.finish_publish(pending).await;
        } else {
            self.publishes.push_back(pending);
        }
    }

    /// Waits for the store commits of pending PUBLISHes, delivers them and sends their
    /// acknowledgements, in order.
    pub(super) async fn settle_publishes(&mut self) {
        while let Some(pending) = self.publishes.pop_front() {
            self.finish_publish(pending).await;
        }
    }

    /// Delivers a routed PUBLISH once stored and sends its PUBACK/PUBREC: only after
    /// the store commit, never for what was not stored.
    async fn finish_publish(&mut self, pending: PendingPublish) {
        let PendingPublish {
            routed,
            ack,
            mut reason,
        } = pending;
        if let Some(mut routed) = routed {
            // Nothing to wait for (no store commit): no future either.
            if !self.core.deliver_ready(&mut routed) && !self.core.deliver(routed).await {
                reason = ReasonCode::QuotaExceeded;
            }
        }
        let Some(ack) = ack else {
            return;
        };
        if !self.server.version().is_v5() && reason == ReasonCode::QuotaExceeded {
            // MQTT 3 has no way to refuse: never acknowledge what was not stored.
            self.protocol_error(ReasonCode::UnspecifiedError, "store failure");
            return;
        }
        if let Err(e) = self.server.ack_publish(ack, reason) {
            tracing::debug!(client = %self.session.client_id, error = %e, "cannot acknowledge");
        }
    }

    async fn on_subscribe(&mut self, packet_id: PacketId, requests: Vec<SubscribeRequest>) {
        let limits = self.core.config.limits.clone();
        let mut reasons = Vec::with_capacity(requests.len());
        let mut retained = Vec::new();
        let mut batch = Batch::new();
        let persistent = self.server.session_expiry_interval() > 0;
        for req in requests {
            if let Some(r) = req.rejected {
                // Refused by the session (invalid filter, quota, unsupported feature).
                reasons.push(r);
                continue;
            }
            let Ok(parsed) = parse_filter(&req.filter, limits.max_topic_levels) else {
                // MQTT-4.7.1-1, MQTT-4.7.1-2, MQTT-4.8.2-1
                reasons.push(ReasonCode::TopicFilterInvalid);
                continue;
            };
            if !self.may_subscribe(parsed.filter().as_str()) {
                // CHECKLIST 19: SUBACK 0x87 (MQTT 5) or 0x80 (MQTT 3).
                reasons.push(ReasonCode::NotAuthorized);
                continue;
            }
            let (count, exists) = {
                let st = self.session.lock();
                (
                    st.subscriptions.len(),
                    st.subscriptions.contains_key(&req.filter),
                )
            };
            if !exists && count >= limits.max_subscriptions_per_client {
                reasons.push(ReasonCode::QuotaExceeded);
                continue;
            }
            let opts = req.options;
            let info = SubInfo {
                options: opts,
                id: req.identifier,
            };
            let existed = self.core.subscribe(&self.session, &req.filter, info);
            if persistent {
                batch.push(Op::Subscribe {
                    client_id: self.session.client_id.clone(),
                    subscription: StoredSubscription::new(req.filter.clone(), opts, req.identifier),
                });
            }
            reasons.push(match opts.qos {
                QoS::AtMostOnce => ReasonCode::Success,
                QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
                QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
            });
            let send = match opts.retain_handling {
                RetainHandling::SendAtSubscribe => true,
                RetainHandling::SendIfNew => !existed,
                RetainHandling::DoNotSend => false,
            };
            // Shared subscriptions get no retained messages (section 4.8.2).
            if send && !parsed.is_shared() {
                retained.push((parsed.filter().clone(), opts.qos, req.identifier));
            }
        }
        // Ack only after commit.
        if !batch.is_empty() {
            if let Err(e) = self.core.store.commit(batch).await {
                tracing::warn!(error = %e, "store commit failed");
                reasons.fill(ReasonCode::UnspecifiedError);
                retained.clear();
            }
        }
        if let Err(e) = self.server.suback(packet_id, reasons, Properties::new()) {
            tracing::debug!(client = %self.session.client_id, error = %e, "cannot answer SUBSCRIBE");
        }
        for (filter, qos, sub_id) in retained {
            self.core.send_retained(&self.session, &filter, qos, sub_id);
        }
    }

    /// The session answered UNSUBACK; the filters leave routing and the store.
    async fn on_unsubscribe(&mut self, filters: Vec<bytestring::ByteString>) {
        let mut batch = Batch::new();
        let persistent = self.server.session_expiry_interval() > 0;
        for raw in &filters {
            let existed = self.core.unsubscribe(&self.session, raw);
            if persistent && existed {
                batch.push(Op::Unsubscribe {
                    client_id: self.session.client_id.clone(),
                    filter: raw.clone(),
                });
            }
        }
        if !batch.is_empty() {
            let _ = self.core.store.commit(batch).await;
        }
    }
}
