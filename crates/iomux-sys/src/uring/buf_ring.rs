//! A provided-buffer ring (`IORING_REGISTER_PBUF_RING`, Linux 5.19): a ring of buffer
//! descriptions that the kernel takes buffers from when a receive completes, so a multishot
//! receive needs no buffer per socket. The io-uring crate has no safe type for it; this is one.
//!
//! Layout: one anonymous mapping holds the ring (`entries` descriptions of 16 bytes, its tail
//! aliased on the `resv` field of the first one, as the kernel ABI says) followed by the
//! buffers themselves (`entries` × `buf_size` bytes). The mapping is page-aligned, as the
//! kernel requires, and owned by this value.
//!
//! Ownership of each buffer moves: the kernel owns a buffer from the moment its description is
//! published (the tail is stored with `Release`) until a completion names it (`IORING_CQE_F_BUFFER`,
//! the buffer id in the upper 16 bits of the flags); the program then owns it, reads it, and
//! gives it back (in [`BufRing::consume`]). A buffer is only read between those two points.
//!
//! A buffer can also be *lent* to sends ([`BufRing::lend`]): the program answers from the
//! bytes where they landed instead of copying them out. It then goes back to the kernel only
//! when both are over: the kernel's own filling (in incremental mode it may still be putting
//! later bytes past the lent ones) and every loan ([`BufRing::end_loan`]). At most half the
//! ring is lent at once, so loans can never starve the receives.
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;

/// `IOU_PBUF_RING_INC` (Linux 6.12, include/uapi/linux/io_uring.h): the kernel consumes each
/// buffer incrementally, so many small receives share one large buffer.
pub(crate) const PBUF_RING_INC: u16 = 2;
/// `IORING_CQE_F_BUF_MORE`: under incremental consumption, the kernel keeps the buffer for
/// more data; it is not the program's to give back yet.
pub(crate) const CQE_F_BUF_MORE: u32 = 16;

/// The buffers of one buffer group, and the ring that hands them to the kernel.
pub(crate) struct BufRing {
    map: NonNull<u8>,
    map_len: usize,
    entries: u16,
    buf_size: u32,
    /// The tail as last published (the kernel reads it; the head is the kernel's own).
    tail: u16,
    /// Registered with incremental consumption: then `consumed[bid]` is where the next
    /// completion's bytes start in buffer `bid`.
    incremental: bool,
    consumed: Vec<u32>,
    /// Sends in flight from each buffer.
    loans: Vec<u16>,
    /// The kernel is done filling the buffer but loans still hold it: the last loan's end
    /// gives it back.
    awaiting_loans: Vec<bool>,
    /// Buffers with at least one loan.
    lent_buffers: u16,
    /// Buffers published and not yet handed back as done: what receives can still fill.
    with_kernel: u16,
}

/// Bytes of a provided buffer lent to a send: where they are, for [`BufRing::end_loan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Loan {
    pub(crate) bid: u16,
    pub(crate) start: u32,
    pub(crate) len: u32,
}

// SAFETY: the mapping is owned by this value alone; moving it to another thread moves that
// ownership. The kernel side is tied to the io_uring instance, not to a thread.
unsafe impl Send for BufRing {}

impl BufRing {
    /// Maps a ring of `entries` buffers of `buf_size` bytes and publishes them all.
    /// `entries` must be a power of two, at most 32,768.
    pub(crate) fn new(entries: u16, buf_size: u32) -> io::Result<BufRing> {
        if entries == 0 || !entries.is_power_of_two() || entries > 32768 || buf_size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a buffer ring needs a power-of-two count of buffers up to 32768 and a non-zero size (got {entries} × {buf_size} bytes)"),
            ));
        }
        let ring_bytes = usize::from(entries) * std::mem::size_of::<BufRingEntry>();
        let map_len = ring_bytes + usize::from(entries) * buf_size as usize;
        // SAFETY: an anonymous private mapping at an address the kernel chooses; no existing
        // memory is touched. The result is checked against MAP_FAILED below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let map = NonNull::new(ptr.cast::<u8>()).expect("mmap never returns null on success");
        let mut ring = BufRing {
            map,
            map_len,
            entries,
            buf_size,
            tail: 0,
            incremental: false,
            consumed: vec![0; usize::from(entries)],
            loans: vec![0; usize::from(entries)],
            awaiting_loans: vec![false; usize::from(entries)],
            lent_buffers: 0,
            with_kernel: 0,
        };
        for bid in 0..entries {
            ring.push(bid);
        }
        ring.publish();
        Ok(ring)
    }

    /// The address of the ring, for registration.
    pub(crate) fn ring_addr(&self) -> u64 {
        self.map.as_ptr() as u64
    }

    /// How many buffers the ring has.
    pub(crate) fn entries(&self) -> u16 {
        self.entries
    }

    /// The size of each buffer.
    pub(crate) fn buf_size(&self) -> u32 {
        self.buf_size
    }

    fn ring_bytes(&self) -> usize {
        usize::from(self.entries) * std::mem::size_of::<BufRingEntry>()
    }

    fn buffer_ptr(&self, bid: u16) -> *mut u8 {
        debug_assert!(bid < self.entries);
        // SAFETY: bid < entries, so the offset stays inside the mapping (ring, then buffers).
        unsafe {
            self.map
                .as_ptr()
                .add(self.ring_bytes() + usize::from(bid) * self.buf_size as usize)
        }
    }

    /// Writes buffer `bid`'s description at the tail (not yet visible to the kernel).
    fn push(&mut self, bid: u16) {
        let slot = usize::from(self.tail & (self.entries - 1));
        let addr = self.buffer_ptr(bid) as u64;
        let entries = self.map.as_ptr().cast::<BufRingEntry>();
        // SAFETY: slot < entries, so the entry is inside the ring part of our mapping. The
        // kernel does not read this slot now: it only reads slots between its head and the
        // published tail, and the ring never holds more than `entries` buffers, so the slot at
        // the tail is free. Only addr, len and bid are written; the tail (resv of entry 0) is
        // only ever written atomically in `publish`.
        unsafe {
            let entry = &mut *entries.add(slot);
            entry.set_addr(addr);
            entry.set_len(self.buf_size);
            entry.set_bid(bid);
        }
        self.tail = self.tail.wrapping_add(1);
        self.with_kernel += 1;
    }

    /// Makes the descriptions written so far visible to the kernel.
    fn publish(&self) {
        // SAFETY: the mapping starts with the first entry, initialized in `new`, and is
        // page-aligned (mmap), so `tail` yields the address of its resv field: a u16 aligned to
        // 2 inside our mapping, which the kernel reads concurrently; AtomicU16 has the same
        // layout as u16, and every access from our side is through this atomic.
        unsafe {
            let tail = BufRingEntry::tail(self.map.as_ptr().cast::<BufRingEntry>());
            AtomicU16::from_ptr(tail.cast_mut()).store(self.tail, Ordering::Release);
        }
    }

    /// Records that the kernel accepted incremental consumption for this ring.
    pub(crate) fn set_incremental(&mut self) {
        self.incremental = true;
    }

    /// Whether the kernel consumes the buffers incrementally.
    pub(crate) fn is_incremental(&self) -> bool {
        self.incremental
    }

    /// Hands the `len` bytes a completion put in buffer `bid` to `f`, then gives the buffer
    /// back to the kernel unless the kernel keeps it for more (`buf_more`, incremental mode).
    /// Panics on an id or length the ring never had (a kernel contract violation).
    pub(crate) fn consume<R>(
        &mut self,
        bid: u16,
        len: usize,
        buf_more: bool,
        f: impl FnOnce(&[u8]) -> R,
    ) -> R {
        let start = self.completion_start(bid, len);
        // SAFETY: the completion that named `bid` handed bytes start..start+len of the
        // buffer to us: the kernel wrote them before posting it, and writes to this range
        // again only after `advance` republishes the buffer (in incremental mode it
        // writes only past start+len until then). Recycling needs `&mut self`, after this
        // borrow ends. The range is inside the mapping (checked above).
        let bytes = unsafe { std::slice::from_raw_parts(self.buffer_ptr(bid).add(start), len) };
        let out = f(bytes);
        self.advance(bid, start, len, buf_more);
        out
    }

    /// Where the bytes of a completion on `bid` start, checked against the buffer's end.
    fn completion_start(&self, bid: u16, len: usize) -> usize {
        assert!(bid < self.entries, "buffer id {bid} out of range");
        let start = if self.incremental {
            self.consumed[usize::from(bid)] as usize
        } else {
            0
        };
        assert!(
            start + len <= self.buf_size as usize,
            "completion past the end of its buffer"
        );
        start
    }

    /// The program is done with a completion's bytes `start..start+len` (read, or lent):
    /// the next completion on `bid` starts past them, or, when the kernel is done with the
    /// buffer, it goes back unless loans still hold it.
    fn advance(&mut self, bid: u16, start: usize, len: usize, buf_more: bool) {
        let b = usize::from(bid);
        if self.incremental && buf_more {
            self.consumed[b] = (start + len) as u32;
        } else {
            self.consumed[b] = 0;
            self.with_kernel -= 1;
            if self.loans[b] == 0 {
                self.push(bid);
                self.publish();
            } else {
                self.awaiting_loans[b] = true;
            }
        }
    }

    /// Lends the `len` bytes a completion put in buffer `bid` to a send: returns where they
    /// are, kept from the kernel until [`end_loan`](Self::end_loan).
    /// `None`, with nothing taken, when half the ring is lent already: the caller copies
    /// instead ([`consume`](Self::consume)).
    pub(crate) fn lend(&mut self, bid: u16, len: usize, buf_more: bool) -> Option<Loan> {
        let start = self.completion_start(bid, len);
        let b = usize::from(bid);
        if self.loans[b] == 0 {
            if self.lent_buffers >= self.entries / 2 {
                return None;
            }
            self.lent_buffers += 1;
        }
        self.loans[b] += 1;
        self.advance(bid, start, len, buf_more);
        Some(Loan {
            bid,
            start: start as u32,
            len: len as u32,
        })
    }

    /// Where a loan's bytes are, for the kernel's send. They stay put and unwritten until
    /// the loan ends: the loan count keeps the buffer from being published again.
    pub(crate) fn loan_ptr(&self, loan: &Loan) -> *const u8 {
        // SAFETY: start + len <= buf_size was checked when the loan was made, so the pointer
        // stays inside the buffer.
        unsafe { self.buffer_ptr(loan.bid).add(loan.start as usize) }.cast_const()
    }

    /// Ends a loan whose send took `sent` of its bytes: appends the rest to `rest` when
    /// given (the caller sends it later, from its own memory), then gives the buffer back if
    /// this was its last loan and the kernel is done with it.
    pub(crate) fn end_loan(&mut self, loan: Loan, sent: usize, rest: Option<&mut Vec<u8>>) {
        let b = usize::from(loan.bid);
        assert!(self.loans[b] > 0, "a loan ended twice");
        if let Some(rest) = rest.filter(|_| sent < loan.len as usize) {
            // SAFETY: the loan's range is inside the buffer (checked when lent) and the buffer
            // has not been published since (this loan still counts), so no one writes to it.
            let bytes = unsafe {
                std::slice::from_raw_parts(
                    self.buffer_ptr(loan.bid).add(loan.start as usize),
                    loan.len as usize,
                )
            };
            rest.extend_from_slice(&bytes[sent..]);
        }
        self.loans[b] -= 1;
        if self.loans[b] == 0 {
            self.lent_buffers -= 1;
            if self.awaiting_loans[b] {
                self.awaiting_loans[b] = false;
                self.push(loan.bid);
                self.publish();
            }
        }
    }

    /// How many buffers loans hold.
    pub(crate) fn lent_buffers(&self) -> u16 {
        self.lent_buffers
    }

    /// How many buffers the kernel has to fill: published and not handed back in a
    /// completion as done (a buffer it is partway through counts).
    pub(crate) fn with_kernel(&self) -> u16 {
        self.with_kernel
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: map/map_len describe the mapping made in `new`, used by nothing else now:
        // the ring that could write into it was unregistered or destroyed first (see Ring's
        // field order and Drop).
        unsafe {
            libc::munmap(self.map.as_ptr().cast(), self.map_len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_counts_the_kernel_would_refuse() {
        assert!(BufRing::new(3, 64).is_err());
        assert!(BufRing::new(0, 64).is_err());
        assert!(BufRing::new(4, 0).is_err());
    }

    #[test]
    fn buffers_are_laid_out_after_the_ring_and_recycled_at_the_tail() {
        let mut ring = BufRing::new(4, 100).unwrap();
        assert_eq!(ring.entries(), 4);
        assert_eq!(ring.buf_size(), 100);
        assert_eq!(ring.tail, 4);
        assert_eq!(
            ring.buffer_ptr(1) as usize - ring.buffer_ptr(0) as usize,
            100
        );
        assert_eq!(ring.consume(2, 10, false, |b| b.to_vec()), [0u8; 10]);
        assert_eq!(ring.tail, 5, "given back at once");
        ring.set_incremental();
        ring.consume(1, 10, true, |_| ());
        assert_eq!((ring.tail, ring.consumed[1]), (5, 10), "kept by the kernel");
        assert_eq!(ring.with_kernel(), 4, "partway through counts");
        ring.consume(1, 20, false, |_| ());
        assert_eq!(
            (ring.tail, ring.consumed[1]),
            (6, 0),
            "consumed to the end, given back"
        );
    }

    #[test]
    fn a_lent_buffer_goes_back_only_when_the_kernel_and_every_loan_are_done() {
        let mut ring = BufRing::new(4, 100).unwrap();
        ring.set_incremental();
        // Two receives into buffer 0, both lent; the kernel still fills it after the first.
        let first = ring.lend(0, 10, true).unwrap();
        let second = ring.lend(0, 5, false).unwrap();
        assert_eq!((first.start, second.start), (0, 10));
        assert_eq!(
            (ring.tail, ring.lent_buffers()),
            (4, 1),
            "kept back by the loans"
        );
        assert_eq!(ring.with_kernel(), 3, "the kernel is done with buffer 0");
        let mut rest = b"a".to_vec();
        ring.end_loan(first, 10, Some(&mut rest));
        assert_eq!(rest, b"a", "all sent: nothing to copy");
        assert_eq!(ring.tail, 4, "the second loan still holds it");
        // SAFETY: (a test) writes inside buffer 0, lent, which no kernel touches here.
        unsafe { ring.buffer_ptr(0).add(10).copy_from(b"hello".as_ptr(), 5) };
        ring.end_loan(second, 2, Some(&mut rest));
        assert_eq!(rest, b"allo", "the unsent rest, appended");
        assert_eq!((ring.tail, ring.lent_buffers()), (5, 0), "given back");
        assert_eq!(ring.with_kernel(), 4);
    }

    #[test]
    fn at_most_half_the_ring_is_lent() {
        let mut ring = BufRing::new(4, 100).unwrap();
        let a = ring.lend(0, 1, false).unwrap();
        ring.lend(1, 1, false).unwrap();
        assert!(
            ring.lend(2, 1, false).is_none(),
            "a third buffer would pass half"
        );
        assert_eq!(
            ring.tail, 4,
            "the refused one was not taken: the caller consumes it"
        );
        ring.consume(2, 1, false, |_| ());
        ring.end_loan(a, 1, None);
        assert!(ring.lend(3, 1, false).is_some(), "room again");
    }
}
