//! A connection's read buffer: on the heap while it is small, in an
//! anonymous mapping of its own once a frame needs more than [`LARGE`].
//!
//! Why a mapping: glibc keeps freed large blocks in its arenas (it raises
//! its mmap threshold after the first one is freed), so 1,000 connections
//! closed over `max_buffered_bytes` left RSS about 30 MiB above the budget.
//! A mapping goes back to the system the moment it is dropped, so memory
//! held in partial frames follows the budget however it churns.
use std::io;
use std::ops::Deref;

use memmap2::MmapMut;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Buffers above this many bytes live in their own mapping.
pub const LARGE: usize = 256 * 1024;

/// Mappings are made in whole pages of this size (the smallest on Linux).
const PAGE: usize = 4096;

/// Bytes read from a connection and not yet decoded.
#[derive(Debug, Default)]
pub struct FrameBuf {
    heap: Vec<u8>,
    map: Option<Mapped>,
}

#[derive(Debug)]
struct Mapped {
    mem: MmapMut,
    len: usize,
}

impl FrameBuf {
    /// An empty buffer holding no memory.
    pub fn new() -> FrameBuf {
        FrameBuf::default()
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.map.as_ref().map_or(self.heap.len(), |m| m.len)
    }

    /// True when no byte is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the buffer can hold without growing (what it costs in memory).
    pub fn capacity(&self) -> usize {
        self.map
            .as_ref()
            .map_or(self.heap.capacity(), |m| m.mem.len())
    }

    /// Makes room for at least `total` bytes in all, mapping the buffer
    /// when `total` is above [`LARGE`] (a frame's size is known from its
    /// header, so a large frame is mapped once, at its exact size).
    pub fn reserve_total(&mut self, total: usize) -> io::Result<()> {
        if total <= self.capacity() {
            return Ok(());
        }
        if total <= LARGE && self.map.is_none() {
            self.heap.reserve_exact(total - self.heap.len());
            return Ok(());
        }
        // Whole pages: the capacity counted in the budget is what the map
        // can come to occupy.
        let mut mem = MmapMut::map_anon(total.next_multiple_of(PAGE))?;
        let len = self.len();
        mem[..len].copy_from_slice(self);
        self.heap = Vec::new();
        self.map = Some(Mapped { mem, len });
        Ok(())
    }

    /// Reads once from `stream` into the spare room (make some first with
    /// [`FrameBuf::reserve_total`]); returns the bytes read, 0 at the end.
    pub async fn read_from<S: AsyncRead + Unpin>(&mut self, stream: &mut S) -> io::Result<usize> {
        match &mut self.map {
            None => stream.read_buf(&mut self.heap).await,
            Some(m) => {
                let n = stream.read(&mut m.mem[m.len..]).await?;
                m.len += n;
                Ok(n)
            }
        }
    }

    /// Drops the first `n` bytes (decoded). A mapped buffer left with no
    /// more than [`LARGE`] bytes moves back to the heap, releasing the map.
    pub fn consume(&mut self, n: usize) {
        match &mut self.map {
            None => {
                self.heap.drain(..n);
            }
            Some(m) => {
                let rest = m.len - n;
                if rest <= LARGE {
                    self.heap = m.mem[n..m.len].to_vec();
                    self.map = None;
                } else {
                    m.mem.copy_within(n..m.len, 0);
                    m.len = rest;
                }
            }
        }
    }

    /// Holds no memory any more; the bytes held are dropped.
    pub fn release(&mut self) {
        *self = FrameBuf::new();
    }
}

impl Deref for FrameBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.map {
            None => &self.heap,
            Some(m) => &m.mem[..m.len],
        }
    }
}

impl From<Vec<u8>> for FrameBuf {
    fn from(heap: Vec<u8>) -> FrameBuf {
        FrameBuf { heap, map: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_large_frame_is_mapped_read_whole_and_released_when_consumed() {
        let data: Vec<u8> = (0..LARGE * 3 + 5).map(|i| (i % 251) as u8).collect();
        let mut src: &[u8] = &data;
        let mut buf = FrameBuf::new();
        buf.reserve_total(16).unwrap();
        assert!(buf.capacity() < LARGE && buf.map.is_none());
        buf.read_from(&mut src).await.unwrap();
        buf.reserve_total(data.len()).unwrap();
        assert!(buf.map.is_some());
        assert_eq!(buf.capacity(), data.len().next_multiple_of(PAGE));
        while buf.len() < data.len() {
            assert!(buf.read_from(&mut src).await.unwrap() > 0);
        }
        assert_eq!(&*buf, &data[..]);
        // Consuming part keeps it mapped while the rest is large ...
        buf.consume(10);
        assert!(buf.map.is_some());
        assert_eq!(&*buf, &data[10..]);
        // ... and moves the rest to the heap once it is small.
        buf.consume(LARGE * 2);
        assert!(buf.map.is_none());
        assert_eq!(&*buf, &data[10 + LARGE * 2..]);
        buf.release();
        assert_eq!((buf.len(), buf.capacity()), (0, 0));
    }

    #[test]
    fn small_buffers_stay_on_the_heap() {
        let mut buf = FrameBuf::from(b"abcdef".to_vec());
        buf.reserve_total(LARGE).unwrap();
        assert!(buf.map.is_none());
        buf.consume(2);
        assert_eq!(&*buf, b"cdef");
    }
}
