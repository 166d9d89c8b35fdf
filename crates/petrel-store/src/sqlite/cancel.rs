//! Cancelling, inside one group commit, the writes of a delivery that is over before it
//! was ever written.
//!
//! A QoS 1 message is queued for a session (`Enqueue`), sent (`MarkSent`) and acknowledged
//! (`Complete`), or dropped (`Dequeue`). When all of that arrives before the writer got to
//! the `Enqueue`, the queue row would be inserted, updated and deleted in the same
//! transaction: the net effect is nothing, so none of it is written. The batches keep
//! their places and resolve when the group commits, exactly as if the rows had been
//! written and deleted. Message ids are never reused, so a row of a message enqueued in
//! the group cannot exist on disk yet and the cancelled operations touch nothing else.

use std::collections::{HashMap, HashSet};

use bytestring::ByteString;

use crate::{Batch, MessageId, Op};

/// Where an operation is: batch index, operation index.
type At = (usize, usize);

/// A queue entry (`client_id`, message) created by an `Enqueue` of the group.
#[derive(Default)]
struct Entry {
    /// The `Enqueue` that creates it.
    enqueue: Option<At>,
    /// The `MarkSent` operations that touched it.
    marks: Vec<At>,
}

/// Removes from `batches` the operations whose net effect is nothing: an `Enqueue` target
/// whose queue entry is completed (`MarkSent` then `Complete`) or dequeued later in the
/// same group, with those operations, and a `MarkSent` of an entry written earlier that a
/// `Dequeue` of the group deletes. Returns the number of queue entries cancelled.
pub(crate) fn cancel_completed(batches: &mut [&mut Batch]) -> usize {
    let mut entries: HashMap<(ByteString, MessageId), Entry> = HashMap::new();
    // (client, packet id) -> message, for the entries sent in this group.
    let mut sent: HashMap<(ByteString, u16), MessageId> = HashMap::new();
    let mut drop_ops: HashSet<At> = HashSet::new();
    let mut drop_targets: Vec<(At, ByteString)> = Vec::new();
    let mut cancelled = 0;
    let mut finish = |key: (ByteString, MessageId),
                      entries: &mut HashMap<(ByteString, MessageId), Entry>,
                      at: At,
                      drop_ops: &mut HashSet<At>| {
        let Some(entry) = entries.remove(&key) else {
            return false;
        };
        let Some(enqueue) = entry.enqueue else {
            return false;
        };
        drop_ops.extend(entry.marks);
        drop_ops.insert(at);
        drop_targets.push((enqueue, key.0));
        cancelled += 1;
        true
    };
    for (b, batch) in batches.iter().enumerate() {
        for (i, op) in batch.ops().iter().enumerate() {
            match op {
                Op::Enqueue {
                    message_id,
                    targets,
                    ..
                } => {
                    for t in targets {
                        entries
                            .entry((t.client_id.clone(), *message_id))
                            .or_default()
                            .enqueue = Some((b, i));
                    }
                }
                Op::MarkSent {
                    client_id,
                    message_id,
                    packet_id,
                } => {
                    let key = (client_id.clone(), *message_id);
                    entries.entry(key).or_default().marks.push((b, i));
                    sent.insert((client_id.clone(), packet_id.get()), *message_id);
                }
                Op::Complete {
                    client_id,
                    packet_id,
                } => {
                    if let Some(m) = sent.remove(&(client_id.clone(), packet_id.get())) {
                        finish((client_id.clone(), m), &mut entries, (b, i), &mut drop_ops);
                    }
                }
                Op::Dequeue {
                    client_id,
                    message_id,
                } => {
                    let key = (client_id.clone(), *message_id);
                    let earlier = entries.get(&key).map(|e| e.enqueue.is_none());
                    match earlier {
                        None => continue,
                        Some(true) => {
                            // Enqueued by an earlier group: the row is deleted, so setting
                            // its packet id in the same transaction is pointless.
                            if let Some(entry) = entries.remove(&key) {
                                drop_ops.extend(entry.marks);
                            }
                        }
                        Some(false) => {
                            finish(key, &mut entries, (b, i), &mut drop_ops);
                        }
                    }
                    sent.retain(|(c, _), m| !(c == client_id && m == message_id));
                }
                Op::MarkReleased {
                    client_id,
                    packet_id,
                } => {
                    // QoS 2 state of an entry of the group: written as it comes.
                    if let Some(m) = sent.remove(&(client_id.clone(), packet_id.get())) {
                        entries.remove(&(client_id.clone(), m));
                    }
                }
                // A whole-session change: its entries are left to the database.
                Op::DeleteSession(client_id) => {
                    entries.retain(|(c, _), _| c != client_id);
                    sent.retain(|(c, _), _| c != client_id);
                }
                Op::Expire { .. } => {
                    entries.clear();
                    sent.clear();
                }
                _ => {}
            }
        }
    }
    if drop_ops.is_empty() {
        return 0;
    }
    let mut by_enqueue: HashMap<At, Vec<ByteString>> = HashMap::new();
    for (at, client) in drop_targets {
        by_enqueue.entry(at).or_default().push(client);
    }
    for (b, batch) in batches.iter_mut().enumerate() {
        let ops = batch.ops_mut();
        let mut i = 0;
        ops.retain_mut(|op| {
            let at = (b, i);
            i += 1;
            if drop_ops.contains(&at) {
                return false;
            }
            if let (Some(clients), Op::Enqueue { targets, .. }) = (by_enqueue.get(&at), &mut *op) {
                targets.retain(|t| !clients.contains(&t.client_id));
                return !targets.is_empty();
            }
            true
        });
    }
    cancelled
}

#[cfg(test)]
mod tests {
    use super::cancel_completed;
    use crate::{Batch, Op, QueueTarget, StoredMessage};
    use petrel_codec::{PacketId, QoS};

    fn pid(n: u16) -> PacketId {
        PacketId::new(n).expect("non-zero")
    }

    fn enqueue(id: u64, clients: &[&str]) -> Op {
        Op::Enqueue {
            message_id: id,
            message: StoredMessage::new("t", "p", QoS::AtLeastOnce),
            targets: clients
                .iter()
                .map(|c| QueueTarget::new(*c, QoS::AtLeastOnce))
                .collect(),
        }
    }

    fn sent(c: &str, id: u64, p: u16) -> Op {
        Op::MarkSent {
            client_id: c.into(),
            message_id: id,
            packet_id: pid(p),
        }
    }

    fn complete(c: &str, p: u16) -> Op {
        Op::Complete {
            client_id: c.into(),
            packet_id: pid(p),
        }
    }

    fn run(mut batches: Vec<Batch>) -> (usize, Vec<Vec<Op>>) {
        let mut refs: Vec<&mut Batch> = batches.iter_mut().collect();
        let n = cancel_completed(&mut refs);
        (n, batches.into_iter().map(Batch::into_ops).collect())
    }

    #[test]
    fn enqueue_sent_completed_in_one_group_leaves_nothing() {
        let (n, ops) = run(vec![
            enqueue(1, &["a"]).into(),
            sent("a", 1, 7).into(),
            complete("a", 7).into(),
        ]);
        assert_eq!(n, 1);
        assert!(ops.iter().all(Vec::is_empty), "{ops:?}");
    }

    #[test]
    fn only_the_completed_target_of_a_fan_out_is_cancelled() {
        let (n, ops) = run(vec![
            enqueue(1, &["a", "b"]).into(),
            Batch::from_iter([sent("a", 1, 3), sent("b", 1, 4), complete("a", 3)]),
        ]);
        assert_eq!(n, 1);
        assert_eq!(ops[0], vec![enqueue(1, &["b"])]);
        assert_eq!(ops[1], vec![sent("b", 1, 4)]);
    }

    #[test]
    fn dequeue_cancels_and_a_committed_entry_is_left_alone() {
        let (n, ops) = run(vec![
            enqueue(2, &["a"]).into(),
            Op::Dequeue {
                client_id: "a".into(),
                message_id: 2,
            }
            .into(),
            // Message 1 was enqueued by an earlier group: written as it comes.
            Batch::from_iter([sent("a", 1, 5), complete("a", 5)]),
        ]);
        assert_eq!(n, 1);
        assert!(ops[0].is_empty() && ops[1].is_empty());
        assert_eq!(ops[2], vec![sent("a", 1, 5), complete("a", 5)]);
    }

    #[test]
    fn packet_id_of_an_earlier_entry_removed_in_the_group_is_not_written() {
        let dequeue = Op::Dequeue {
            client_id: "a".into(),
            message_id: 1,
        };
        let (n, ops) = run(vec![
            Batch::from_iter([sent("a", 1, 5), sent("a", 2, 6)]),
            dequeue.clone().into(),
        ]);
        assert_eq!(n, 0, "message 1 was written earlier: its removal stays");
        assert_eq!(ops[0], vec![sent("a", 2, 6)]);
        assert_eq!(ops[1], vec![dequeue]);
    }

    #[test]
    fn qos2_release_and_session_changes_keep_the_writes() {
        let released = Op::MarkReleased {
            client_id: "a".into(),
            packet_id: pid(9),
        };
        let (n, ops) = run(vec![Batch::from_iter([
            enqueue(3, &["a"]),
            sent("a", 3, 9),
            released.clone(),
            complete("a", 9),
            enqueue(4, &["b"]),
            Op::DeleteSession("b".into()),
            Op::Dequeue {
                client_id: "b".into(),
                message_id: 4,
            },
        ])]);
        assert_eq!(n, 0);
        assert_eq!(ops[0].len(), 7);
    }
}
