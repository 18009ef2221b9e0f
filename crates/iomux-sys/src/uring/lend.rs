//! Received bytes lent to sends: an echo straight from the provided buffer the bytes landed
//! in, without copying them out (see `buf_ring.rs` for the loan accounting).
//!
//! What makes lending safe to offer on a shared buffer ring, in one place:
//! - A lent buffer is not republished while a loan holds it, so the kernel cannot write over
//!   bytes a send is still reading; the loan ends with the send's completion.
//! - A send of lent bytes never waits (`MSG_DONTWAIT`): a peer that does not read cannot hold
//!   buffers the ring's other receives need. What the socket did not take at once is copied
//!   out at the completion, for the caller to send from its own memory.
//! - At most half the ring is lent at once; past that, the caller copies as before.
use std::io;
use std::os::fd::RawFd;

use io_uring::{opcode, types};

use super::buf_ring::{Loan, CQE_F_BUF_MORE};
use super::{BufGroup, Completion, Held, Ring, RESERVED_USER_DATA};

/// The most loans one [`Ring::send_lent`] takes: a `sendmsg` vector has at most `IOV_MAX`
/// (1,024) slices, and a connection that keeps more chunks than this in one turn gets so many
/// tiny ones that copying them costs no more. Callers copy past it.
pub const MAX_LENT_PER_SEND: usize = 64;

/// A short send injected into a vector: its first slice cut, the rest dropped.
#[cfg(feature = "fault-injection")]
fn short_vector(mut iov: Vec<libc::iovec>) -> Vec<libc::iovec> {
    let first = crate::fault::ring_send_len(iov[0].iov_len as u32) as usize;
    if first < iov[0].iov_len {
        iov[0].iov_len = first;
        iov.truncate(1);
    }
    iov
}

/// A `sendmsg` header and the vector it points to, kept in place while the send is in flight.
pub(super) struct SendMsg {
    header: libc::msghdr,
    iov: Vec<libc::iovec>,
}

// SAFETY: the header's pointers lead to this value's own vector and to the provided buffers of
// the ring that holds it; both move with the ring, and nothing in them is tied to a thread.
unsafe impl Send for SendMsg {}

impl std::fmt::Debug for SendMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SendMsg of {} slices", self.iov.len())
    }
}

/// Received bytes kept in the provided buffer they landed in, away from the kernel, to be sent
/// from there ([`Ring::lend`]). Hand it to [`Ring::send_lent`], or back with
/// [`Ring::give_back`]: a loan dropped otherwise keeps its buffer from the kernel for good.
#[must_use = "a loan keeps its buffer from the kernel until it is sent or given back"]
#[derive(Debug)]
pub struct Lent {
    group: u16,
    loan: Loan,
}

impl Lent {
    /// How many bytes it holds.
    pub fn len(&self) -> usize {
        self.loan.len as usize
    }

    /// Whether it holds no bytes (never: a loan is made of a receive's bytes).
    pub fn is_empty(&self) -> bool {
        self.loan.len == 0
    }
}

impl Ring {
    /// Keeps the bytes a receive completion put in a provided buffer where they are, for a
    /// send of them ([`send_lent`](Self::send_lent)): an echo without a copy. Instead of
    /// [`take_buffer`](Self::take_buffer). `None`, having taken nothing, when the completion
    /// carries no bytes or half the group's buffers are lent already: then take the bytes with
    /// [`take_buffer`](Self::take_buffer).
    pub fn lend(&mut self, group: BufGroup, completion: &Completion) -> Option<Lent> {
        let bid = completion.buffer_id()?;
        let len = usize::try_from(completion.result).ok().filter(|&n| n > 0)?;
        let buf_more = completion.flags & CQE_F_BUF_MORE != 0;
        let loan = self.buf_rings[usize::from(group.0)].lend(bid, len, buf_more)?;
        Some(Lent {
            group: group.0,
            loan,
        })
    }

    /// Ends a loan without sending it (its connection closed).
    pub fn give_back(&mut self, lent: Lent) {
        self.buf_rings[usize::from(lent.group)].end_loan(lent.loan, 0, None);
    }

    /// Ends a loan, its bytes appended to `into` first: for bytes that must now wait behind
    /// a send that may wait, where a loan must not.
    pub fn copy_back(&mut self, lent: Lent, into: &mut Vec<u8>) {
        self.buf_rings[usize::from(lent.group)].end_loan(lent.loan, 0, Some(into));
    }

    /// `IORING_OP_SEND` (or `SENDMSG`, for several) of lent bytes to `fd`, in order, straight
    /// from the provided buffers they landed in; takes every loan out of `lents`.
    ///
    /// The send never waits (`MSG_DONTWAIT`), so a peer that does not read cannot keep buffers
    /// the loop's other connections share: what the socket did not take at once comes back
    /// copied in [`Completion::lent_unsent`] (`EAGAIN` is reported as 0 bytes sent), for the
    /// caller to send from its own memory, and every loan ends with the completion.
    pub fn send_lent(
        &mut self,
        fd: RawFd,
        lents: &mut Vec<Lent>,
        user_data: u64,
    ) -> io::Result<()> {
        Self::check_tag(user_data)?;
        if lents.len() > MAX_LENT_PER_SEND {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a send of lent bytes takes at most {MAX_LENT_PER_SEND} loans"),
            ));
        }
        let lents = std::mem::take(lents);
        let flags = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT;
        let (entry, msg) = match lents.as_slice() {
            [] => return Ok(()),
            [one] => {
                let ptr = self.buf_rings[usize::from(one.group)].loan_ptr(&one.loan);
                let len = one.loan.len;
                #[cfg(feature = "fault-injection")]
                let len = crate::fault::ring_send_len(len);
                (
                    opcode::Send::new(types::Fd(fd), ptr, len)
                        .flags(flags)
                        .build(),
                    None,
                )
            }
            many => {
                let iov: Vec<libc::iovec> = many
                    .iter()
                    .map(|l| libc::iovec {
                        iov_base: self.buf_rings[usize::from(l.group)]
                            .loan_ptr(&l.loan)
                            .cast_mut()
                            .cast(),
                        iov_len: l.loan.len as usize,
                    })
                    .collect();
                #[cfg(feature = "fault-injection")]
                let iov = short_vector(iov);
                // SAFETY: msghdr is a plain C struct for which all zeroes is a valid value
                // (no name, no control data, no vector yet).
                let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
                header.msg_iovlen = iov.len();
                let mut msg = Box::new(SendMsg { header, iov });
                // The vector's heap memory, and the boxed header, do not move when the box
                // moves into the table: the kernel reads both until the completion.
                msg.header.msg_iov = msg.iov.as_mut_ptr();
                let entry = opcode::SendMsg::new(types::Fd(fd), &msg.header)
                    .flags(flags as u32)
                    .build();
                (entry, Some(msg))
            }
        };
        let index = self.hold(user_data, Held::Lent(lents, msg));
        if let Err(e) = self.push(entry.user_data(RESERVED_USER_DATA | u64::from(index))) {
            self.end_held(index as usize, 0);
            return Err(e);
        }
        Ok(())
    }

    /// Takes entry `index` out of the table of held memory (its operation is over), ending a
    /// loan: `result` is the send's. Returns the caller's tag and what to hand back.
    pub(super) fn end_held(&mut self, index: usize, result: i32) -> Option<(u64, Held)> {
        let (user_data, held) = self.owned.get_mut(index)?.take()?;
        self.free_owned.push(index as u32);
        if let Held::Lent(lents, _msg) = held {
            // The rest is copied after a short send or EAGAIN; after any other error the
            // connection is done for, and nothing is copied.
            let copy_rest = result >= 0 || result == -libc::EAGAIN;
            let mut sent = usize::try_from(result).unwrap_or(0);
            let mut rest = Vec::new();
            for lent in lents {
                let len = lent.len();
                self.buf_rings[usize::from(lent.group)].end_loan(
                    lent.loan,
                    sent.min(len),
                    copy_rest.then_some(&mut rest),
                );
                sent = sent.saturating_sub(len);
            }
            return Some((user_data, Held::Buffer(rest)));
        }
        Some((user_data, held))
    }
}
