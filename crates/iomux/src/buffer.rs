//! The byte buffers of non-blocking sockets: [`OutBuffer`] (partial writes and backpressure) and
//! [`ReadBuffer`] (a read buffer placed in its page where the kernel copies fastest).
//!
//! A non-blocking `write` may take only part of what it is given, or nothing (`WouldBlock`).
//! [`OutBuffer`] keeps what the kernel did not take, in order, and writes it out later when the
//! socket is writable again. Its [`limit`](OutBuffer::limit) is the backpressure threshold: a
//! server stops reading from a peer whose buffer is over the limit (a client that sends but never
//! reads), so memory per connection stays bounded.
use std::io::{self, Write};

impl Extend<u8> for OutBuffer {
    /// Appends bytes one by one (for answers computed byte by byte, e.g. a case change).
    fn extend<I: IntoIterator<Item = u8>>(&mut self, bytes: I) {
        self.data.extend(bytes);
    }
}

/// What [`OutBuffer::flush_to`] achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flush {
    /// Everything buffered was written.
    Done,
    /// The writer would block; something is still buffered (wait for writability).
    Blocked,
}

/// A FIFO of bytes waiting to be written, with a soft size limit. See the [module docs](self).
#[derive(Debug, Default)]
pub struct OutBuffer {
    data: Vec<u8>,
    /// Bytes before `start` are written already; compacted lazily.
    start: usize,
    limit: usize,
}

impl OutBuffer {
    /// An empty buffer whose [`is_over_limit`](Self::is_over_limit) turns true past `limit` bytes.
    pub fn with_limit(limit: usize) -> Self {
        OutBuffer {
            data: Vec::new(),
            start: 0,
            limit,
        }
    }

    /// Bytes waiting.
    #[inline]
    pub fn len(&self) -> usize {
        self.data.len() - self.start
    }

    /// Whether nothing is waiting.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The backpressure threshold.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Whether more than [`limit`](Self::limit) bytes are waiting: stop producing (reading from
    /// the peer) until it drains.
    pub fn is_over_limit(&self) -> bool {
        self.len() > self.limit
    }

    /// The waiting bytes, oldest first.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        &self.data[self.start..]
    }

    /// Appends bytes to be written after those already waiting.
    #[inline]
    pub fn push(&mut self, bytes: &[u8]) {
        self.data.extend_from_slice(bytes);
    }

    /// Marks the first `n` waiting bytes as written.
    pub fn consume(&mut self, n: usize) {
        assert!(n <= self.len(), "consumed more than is buffered");
        self.start += n;
        if self.start == self.data.len() {
            self.data.clear();
            self.start = 0;
        } else if self.start > self.data.len() / 2 && self.start > 4096 {
            // Move the tail to the front once the written part dominates, so the buffer's
            // footprint follows what is waiting rather than what was ever pushed.
            self.data.drain(..self.start);
            self.start = 0;
        }
    }

    /// Takes every waiting byte out, as a `Vec` the caller now owns (to hand to a send that
    /// completes later), leaving the buffer empty on `spare`'s storage (cleared): no byte is
    /// copied unless some were written already.
    pub fn take(&mut self, mut spare: Vec<u8>) -> Vec<u8> {
        if self.start > 0 {
            self.data.drain(..self.start);
            self.start = 0;
        }
        spare.clear();
        std::mem::replace(&mut self.data, spare)
    }

    /// Writes waiting bytes to `w` until none are left or `w` would block. `Interrupted` is
    /// retried; any other error is returned (the bytes stay buffered). A write of 0 bytes is
    /// reported as `WriteZero`.
    ///
    /// Inline, the case nearly every answer takes: one write takes everything. Whatever else
    /// the first write says goes to the loop, out of line (callgrind: ~15 instructions a message
    /// saved on the echo servers).
    #[inline]
    pub fn flush_to(&mut self, w: &mut impl Write) -> io::Result<Flush> {
        if self.is_empty() {
            return Ok(Flush::Done);
        }
        let first = w.write(self.as_slice());
        if matches!(first, Ok(n) if n == self.len()) {
            self.data.clear();
            self.start = 0;
            return Ok(Flush::Done);
        }
        self.flush_rest(w, first)
    }

    /// [`flush_to`](Self::flush_to)'s loop, from the outcome of a write of everything waiting.
    #[inline(never)]
    fn flush_rest(
        &mut self,
        w: &mut impl Write,
        mut outcome: io::Result<usize>,
    ) -> io::Result<Flush> {
        loop {
            match outcome {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.consume(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flush::Blocked),
                Err(e) => return Err(e),
            }
            if self.is_empty() {
                return Ok(Flush::Done);
            }
            outcome = w.write(self.as_slice());
        }
    }

    /// Writes `bytes` after what is waiting, straight to `w` when nothing is waiting (no copy
    /// of what it takes), buffering the rest. One direct write, then [`flush_to`](Self::flush_to)'s
    /// loop for whatever it did not take: the write loop is written once.
    pub fn write_or_buffer(&mut self, w: &mut impl Write, bytes: &[u8]) -> io::Result<Flush> {
        if !self.is_empty() {
            self.push(bytes);
            return self.flush_to(w);
        }
        match w.write(bytes) {
            Ok(n) if n == bytes.len() => return Ok(Flush::Done),
            Ok(0) if !bytes.is_empty() => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => self.push(&bytes[n..]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => self.push(bytes),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.push(bytes);
                return Ok(Flush::Blocked);
            }
            Err(e) => return Err(e),
        }
        self.flush_to(w)
    }
}

/// A buffer to read into, its first byte [`OFFSET`](Self::OFFSET) bytes past a page boundary,
/// whatever the allocator did.
///
/// Where a read buffer starts in its page decides how fast the kernel copies into it and out
/// of it. A forward copy whose destination lies a little above its source, counted modulo
/// 4 KiB, runs several times slower: each load seems to depend on a store just made to the
/// same offset in another page ("4K aliasing"). Received data mostly starts on a page boundary
/// in the kernel's buffers, so a buffer 16 or 64 bytes into a page (where a large `Vec` lands:
/// 16) made the receive copy slow (`_copy_to_iter` 29-50% of an echo server's CPU samples);
/// a buffer on the boundary made the *send* copy out of it slow (`_copy_from_iter` 24-42%,
/// the socket's send buffers start a little past a boundary). 256 bytes in was clear of both
/// (each 9-17%), and cost the epoll echo server 0.41-0.94x the CPU per message of a buffer at
/// 16 bytes at the 1- and 100-connection × 4-16 KiB points, interleaved (BENCHMARKS §23).
/// Measured on one machine (AMD EPYC, virtualised, Linux 6.18): a placement, not a law.
///
/// ```
/// use iomux::buffer::ReadBuffer;
/// let mut buf = ReadBuffer::new(64 * 1024);
/// assert_eq!(buf.len(), 64 * 1024);
/// assert_eq!(buf.as_ptr() as usize % ReadBuffer::PAGE, ReadBuffer::OFFSET);
/// buf[0] = 1; // a plain `[u8]` otherwise
/// ```
pub struct ReadBuffer {
    /// Ends where the buffer ends (truncated once: the allocation stays), so that the buffer
    /// is `storage[start..]`, one bound to check per use (a callback loop takes the slice on
    /// every dispatch: callgrind, 3 instructions fewer an event).
    storage: Vec<u8>,
    start: usize,
}

impl ReadBuffer {
    /// A page, on x86-64 and most arm64 kernels.
    pub const PAGE: usize = 4096;
    /// Where in its page the buffer starts (see above).
    pub const OFFSET: usize = 256;

    /// A zeroed buffer of `len` bytes starting [`OFFSET`](Self::OFFSET) bytes into a page.
    pub fn new(len: usize) -> ReadBuffer {
        let mut storage = vec![0u8; len + Self::PAGE + Self::OFFSET];
        let start = storage.as_ptr().align_offset(Self::PAGE) + Self::OFFSET;
        storage.truncate(start + len);
        ReadBuffer { storage, start }
    }
}

impl std::ops::Deref for ReadBuffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.storage[self.start..]
    }
}

impl std::ops::DerefMut for ReadBuffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..]
    }
}

impl std::fmt::Debug for ReadBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadBuffer")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}
