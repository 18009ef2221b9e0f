//! poll(2)'s event bits, and their translation to and from [`Interest`] and [`Readiness`]:
//! the language of `poll` and of io_uring's `IORING_OP_POLL_ADD` alike, written once.
use iomux_sys::poll as sys;

use crate::interest::{Interest, Readiness};

pub(super) fn poll_events(interest: Interest) -> libc::c_short {
    let mut events = 0;
    if interest.is_readable() {
        // POLLRDHUP only with READ: on a write-only registration it would fire on every call
        // while the peer's half-close lasts, a busy loop for a writer waiting for buffer space.
        events |= sys::POLLIN | sys::POLLRDHUP;
    }
    if interest.is_writable() {
        events |= sys::POLLOUT;
    }
    events
}

pub(super) fn to_readiness(revents: libc::c_short) -> Readiness {
    let mut bits = 0;
    if revents & (sys::POLLIN | sys::POLLPRI) != 0 {
        bits |= Readiness::READABLE;
    }
    if revents & sys::POLLOUT != 0 {
        bits |= Readiness::WRITABLE;
    }
    if revents & (sys::POLLERR | sys::POLLNVAL) != 0 {
        bits |= Readiness::ERROR;
    }
    if revents & sys::POLLHUP != 0 {
        bits |= Readiness::HANGUP;
    }
    if revents & sys::POLLRDHUP != 0 {
        bits |= Readiness::READ_CLOSED;
    }
    Readiness::from_bits(bits)
}
