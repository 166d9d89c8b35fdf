//! Read and write buffers, lent to a connection from a per-thread pool only while bytes
//! are moved, so that an idle connection holds neither (issue 8: memory per idle
//! connection). A read waits for readiness without a buffer, takes one when bytes are
//! there, hands them to the session (which keeps only an undecoded tail) and gives the
//! buffer back within the same poll. A write buffer is lent when the connection wakes up
//! and given back once written.

use std::cell::RefCell;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;

use bytes::BytesMut;
use tokio::io::{AsyncRead, ReadBuf};

use crate::metrics::Metrics;

/// Size of a read buffer: the most one read call takes.
const READ_CHUNK: usize = 8 * 1024;

/// Buffers of each kind kept per thread. Reads give theirs back within one poll, so one
/// is nearly always enough; writes hold theirs while a slow socket drains.
const POOLED: usize = 16;

/// Write buffers grown beyond this are freed rather than pooled.
const MAX_POOLED_WRITE: usize = 64 * 1024;

thread_local! {
    static READ_POOL: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
    static WRITE_POOL: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// Waits until `rd` has bytes, reads at most [`READ_CHUNK`] of them into a pooled buffer
/// and passes them to `consume`, which must copy what it keeps. Returns how many bytes
/// were read: 0 at end of stream or on an error.
pub(super) async fn read_with<R: AsyncRead + Unpin>(
    rd: &mut R,
    metrics: &Metrics,
    mut consume: impl FnMut(&[u8]),
) -> usize {
    poll_fn(|cx| {
        let mut buf = READ_POOL
            .with(|p| p.borrow_mut().pop())
            .unwrap_or_else(|| vec![0; READ_CHUNK].into_boxed_slice());
        let mut rb = ReadBuf::new(&mut buf);
        let read = match Pin::new(&mut *rd).poll_read(cx, &mut rb) {
            Poll::Pending => None,
            Poll::Ready(Ok(())) => Some(rb.filled().len()),
            Poll::Ready(Err(_)) => Some(0),
        };
        if let Some(n @ 1..) = read {
            Metrics::add(&metrics.bytes_received, n as u64);
            consume(&buf[..n]);
        }
        READ_POOL.with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < POOLED {
                p.push(buf);
            }
        });
        read.map_or(Poll::Pending, Poll::Ready)
    })
    .await
}

/// Lends `out` a pooled write buffer if it holds none.
pub(super) fn lend(out: &mut BytesMut) {
    if out.capacity() == 0 {
        if let Some(buf) = WRITE_POOL.with(|p| p.borrow_mut().pop()) {
            *out = buf;
        }
    }
}

/// Takes `out`'s buffer back (its bytes are discarded): `out` holds no memory after.
pub(super) fn give_back(out: &mut BytesMut) {
    let mut buf = std::mem::take(out);
    if buf.capacity() == 0 || buf.capacity() > MAX_POOLED_WRITE {
        return;
    }
    buf.clear();
    WRITE_POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < POOLED {
            p.push(buf);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_read_hands_over_the_bytes_and_keeps_no_buffer() {
        let metrics = Metrics::default();
        let mut input: &[u8] = b"\x30\x03\x00\x01a";
        let mut got = Vec::new();
        let n = read_with(&mut input, &metrics, |b| got.extend_from_slice(b)).await;
        assert_eq!(n, 5);
        assert_eq!(got, b"\x30\x03\x00\x01a");
        assert_eq!(read_with(&mut input, &metrics, |_| panic!()).await, 0);
    }

    #[test]
    fn a_written_buffer_is_given_back_and_lent_again() {
        let mut out = BytesMut::with_capacity(4096);
        out.extend_from_slice(b"packet");
        give_back(&mut out);
        assert_eq!(out.capacity(), 0);
        lend(&mut out);
        assert!(out.capacity() >= 4096);
        assert!(out.is_empty());
        // A buffer grown past the cap is freed, not pooled.
        let mut big = BytesMut::with_capacity(MAX_POOLED_WRITE + 1);
        give_back(&mut big);
        assert_eq!(big.capacity(), 0);
    }
}
