//! The bounded record queue shared by callers and the sender thread.
//!
//! Records are held as encoded frames back to back in one `Vec<u8>` with a
//! list of frame lengths, so enqueueing copies bytes into reused memory and
//! the sender can hand the whole queue to the socket in one write. The
//! sender takes everything at once by swapping buffers (double buffering).
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};

/// Frames back to back, oldest first.
#[derive(Debug, Default)]
pub(crate) struct FrameQueue {
    buf: Vec<u8>,
    /// Bytes of `buf` before this offset are gone (dropped or sent).
    head: usize,
    /// Length of each frame, header included, oldest first.
    lens: VecDeque<usize>,
}

/// Below this many dead bytes at the front the buffer is not compacted:
/// moving a few bytes often costs more than it saves.
const COMPACT_MIN: usize = 64 * 1024;

impl FrameQueue {
    /// Records held.
    pub(crate) fn len(&self) -> usize {
        self.lens.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    /// All frames, back to back.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[self.head..]
    }

    /// Each frame on its own (one datagram each).
    pub(crate) fn frames(&self) -> impl Iterator<Item = &[u8]> {
        let mut at = self.head;
        self.lens.iter().map(move |&len| {
            let frame = &self.buf[at..at + len];
            at += len;
            frame
        })
    }

    /// Appends one frame built by `build`, which must append exactly one
    /// whole frame to the vector it is given.
    pub(crate) fn push_with(&mut self, build: impl FnOnce(&mut Vec<u8>)) {
        if self.head >= COMPACT_MIN && self.head * 2 >= self.buf.len() {
            self.buf.drain(..self.head);
            self.head = 0;
        }
        let start = self.buf.len();
        build(&mut self.buf);
        self.lens.push_back(self.buf.len() - start);
    }

    /// Removes the oldest frame; false when there was none.
    pub(crate) fn pop_oldest(&mut self) -> bool {
        self.remove_front(1) == 1
    }

    /// Removes up to `n` frames from the front; returns how many went.
    pub(crate) fn remove_front(&mut self, n: usize) -> usize {
        let n = n.min(self.lens.len());
        for len in self.lens.drain(..n) {
            self.head += len;
        }
        if self.lens.is_empty() {
            self.clear();
        }
        n
    }

    /// Empties the queue, keeping its memory.
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.lens.clear();
        self.head = 0;
    }

    /// Moves every frame into `into`, which must be empty; `self` keeps
    /// `into`'s old (empty) memory so neither side allocates.
    pub(crate) fn take_into(&mut self, into: &mut FrameQueue) {
        debug_assert!(into.is_empty());
        into.clear();
        std::mem::swap(self, into);
    }

    /// The bytes of up to `max` frames from frame `from` on, and how many
    /// frames they are.
    pub(crate) fn slice(&self, from: usize, max: usize) -> (&[u8], usize) {
        let start = self.head + self.lens.iter().take(from).sum::<usize>();
        let n = max.min(self.lens.len().saturating_sub(from));
        let len: usize = self.lens.iter().skip(from).take(n).sum();
        (&self.buf[start..start + len], n)
    }

    /// Moves the oldest `n` frames (or all, if fewer) to the back of
    /// `into`; returns how many moved.
    pub(crate) fn move_front_into(&mut self, n: usize, into: &mut FrameQueue) -> usize {
        let n = n.min(self.lens.len());
        let bytes: usize = self.lens.iter().take(n).sum();
        into.buf
            .extend_from_slice(&self.buf[self.head..self.head + bytes]);
        into.lens.extend(self.lens.iter().take(n));
        self.remove_front(n)
    }

    /// Puts `front` (frames older than any held here) back before this
    /// queue's frames, leaving `front` empty.
    pub(crate) fn put_back_front(&mut self, front: &mut FrameQueue) {
        if front.is_empty() {
            return;
        }
        front.buf.drain(..front.head);
        front.head = 0;
        front.buf.extend_from_slice(self.bytes());
        front.lens.extend(self.lens.drain(..));
        self.clear();
        std::mem::swap(self, front);
    }
}

/// What callers and the sender share, under one lock.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Records waiting for the sender.
    pub(crate) queue: FrameQueue,
    /// Records ever accepted by `send` (including ones later dropped).
    pub(crate) enqueued: u64,
    /// Records that left: written to a socket, or dropped. Because the
    /// queue is FIFO, `removed >= n` means the first `n` records are gone.
    pub(crate) removed: u64,
    /// Records dropped because the buffer was full or the client closed.
    pub(crate) dropped: u64,
    /// Records written to a socket.
    pub(crate) delivered: u64,
    /// The sender sleeps on `wake_sender` and wants a notify.
    pub(crate) sender_waiting: bool,
    /// `close` was called: deliver what is queued, then exit.
    pub(crate) closing: bool,
    /// `close` ran out of time: exit now, whatever is queued.
    pub(crate) abandon: bool,
    /// The sender thread has returned.
    pub(crate) exited: bool,
    /// The last connection or write error, for reports.
    pub(crate) last_error: Option<String>,
    /// Acknowledged delivery: records written on a v2 connection (or one
    /// awaiting the server's welcome) and not yet acknowledged, oldest
    /// first; resent after a reconnect. At most `max_buffer_size`.
    pub(crate) unacked: FrameQueue,
    /// The sequence number of `unacked`'s first record (of the next record
    /// sent, when it is empty).
    pub(crate) unacked_seq: u64,
    /// Records the server acknowledged as refused.
    pub(crate) rejected: u64,
    /// The reason the server gave for the last refused record.
    pub(crate) last_rejection: Option<String>,
}

impl State {
    /// Records accepted and not yet gone (queued or being written).
    pub(crate) fn pending(&self) -> u64 {
        self.enqueued - self.removed
    }

    /// Drops the oldest queued records until at most `max` are queued.
    pub(crate) fn trim_to(&mut self, max: usize) {
        while self.queue.len() > max && self.queue.pop_oldest() {
            self.dropped += 1;
            self.removed += 1;
        }
    }
}

/// The lock and the two wake-ups around [`State`].
#[derive(Debug, Default)]
pub(crate) struct Shared {
    state: Mutex<State>,
    /// The sender waits here for records, `close`, or the end of a back-off.
    pub(crate) wake_sender: Condvar,
    /// `flush`/`close` wait here for progress or the sender's exit.
    pub(crate) progress: Condvar,
}

impl Shared {
    /// Locks the state. A panic while holding the lock cannot leave the
    /// queue half-updated in a way that matters more than losing records,
    /// so a poisoned lock is used as is.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(q: &mut FrameQueue, bytes: &[u8]) {
        q.push_with(|out| out.extend_from_slice(bytes));
    }

    fn frames(q: &FrameQueue) -> Vec<Vec<u8>> {
        q.frames().map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn pop_take_and_put_back_keep_order() {
        let mut q = FrameQueue::default();
        push(&mut q, b"a");
        push(&mut q, b"bb");
        push(&mut q, b"ccc");
        assert!(q.pop_oldest());
        assert_eq!(q.bytes(), b"bbccc");
        let mut batch = FrameQueue::default();
        q.take_into(&mut batch);
        assert!(q.is_empty());
        push(&mut q, b"dd");
        q.put_back_front(&mut batch);
        assert!(batch.is_empty());
        assert_eq!(
            frames(&q),
            vec![b"bb".to_vec(), b"ccc".to_vec(), b"dd".to_vec()]
        );
        assert_eq!(q.remove_front(2), 2);
        assert_eq!(q.bytes(), b"dd");
        push(&mut q, b"e");
        let mut into = FrameQueue::default();
        push(&mut into, b"z");
        assert_eq!(q.move_front_into(1, &mut into), 1);
        assert_eq!(frames(&into), vec![b"z".to_vec(), b"dd".to_vec()]);
        assert_eq!(frames(&q), vec![b"e".to_vec()]);
        assert_eq!(into.slice(1, 5), (&b"dd"[..], 1));
        assert_eq!(into.slice(0, 1), (&b"z"[..], 1));
    }

    #[test]
    fn trim_drops_oldest_and_counts() {
        let mut st = State::default();
        for i in 0..10u8 {
            st.queue.push_with(|out| out.push(i));
            st.enqueued += 1;
        }
        st.trim_to(3);
        assert_eq!(st.dropped, 7);
        assert_eq!(st.pending(), 3);
        assert_eq!(st.queue.bytes(), &[7, 8, 9]);
    }

    #[test]
    fn compaction_keeps_content() {
        let mut q = FrameQueue::default();
        let rec = [5u8; 1000];
        for _ in 0..500 {
            push(&mut q, &rec);
            if q.len() > 10 {
                q.pop_oldest();
            }
        }
        assert_eq!(q.len(), 10);
        assert_eq!(q.bytes().len(), 10_000);
        assert!(q.buf.len() < 200_000, "{}", q.buf.len());
    }
}
