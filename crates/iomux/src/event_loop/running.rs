//! Which source's callback is running, and with what interest, packed in one word.
//!
//! A callback asks [`EventLoop::modify`](super::EventLoop::modify) for its interest once per
//! dispatch, and nearly always for the one it has. Packing the fd and the interest into one
//! `u64` makes that test a single comparison, and setting and clearing it around a callback one
//! store each: the callbacks model pays this on every message (measured by callgrind: two
//! `Option` fields cost about ten instructions more per dispatch).
use std::os::fd::RawFd;

use crate::interest::Interest;

/// The high half when the running source's interest is not known (it was unregistered): no
/// interest's bits can equal it, so `modify` takes its slow path and reports the error.
const UNKNOWN: u64 = 0x100;

/// The running callback's fd and interest, or nothing (outside callbacks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Running(u64);

impl Running {
    /// No callback is running.
    pub const NONE: Running = Running(u64::MAX);

    /// The callback of `fd` runs, registered for `interest`.
    #[inline(always)]
    pub fn of(fd: RawFd, interest: Interest) -> Running {
        Running(u64::from(fd as u32) | (u64::from(interest.bits()) << 32))
    }

    /// What a dispatch records for `fd`'s callback: [`of`](Self::of), except that a one-shot
    /// interest never matches it, so the callback's `modify` to the same interest re-arms
    /// the registration instead of being skipped as "unchanged". (Branch-free: it runs on
    /// every dispatch.)
    #[inline(always)]
    pub fn dispatched(fd: RawFd, interest: Interest) -> Running {
        let oneshot = u64::from(interest.is_oneshot());
        Running(Running::of(fd, interest).0 | (oneshot << 48))
    }

    /// The running fd, if a callback runs.
    pub fn fd(self) -> Option<RawFd> {
        (self != Running::NONE).then_some(self.0 as u32 as RawFd)
    }

    /// Whether `fd`'s callback is the one running.
    pub fn is(self, fd: RawFd) -> bool {
        self.fd() == Some(fd)
    }

    /// The same fd with a new interest (no-op outside callbacks).
    pub fn with_interest(self, interest: Interest) -> Running {
        self.fd().map_or(self, |fd| Running::of(fd, interest))
    }

    /// The same fd, its interest forgotten (it was unregistered).
    pub fn forget_interest(self) -> Running {
        match self.fd() {
            Some(fd) => Running(u64::from(fd as u32) | (UNKNOWN << 32)),
            None => self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_fd_and_interest_and_tells_them_apart() {
        let r = Running::of(7, Interest::READ);
        assert_eq!(r.fd(), Some(7));
        assert!(r.is(7) && !r.is(8));
        assert_eq!(r, Running::of(7, Interest::READ));
        assert_ne!(r, Running::of(7, Interest::WRITE));
        assert_ne!(r, Running::of(7, Interest::NONE));
        assert_eq!(
            r.with_interest(Interest::BOTH),
            Running::of(7, Interest::BOTH)
        );
        let forgotten = r.forget_interest();
        assert_eq!(forgotten.fd(), Some(7));
        for interest in [
            Interest::NONE,
            Interest::READ,
            Interest::WRITE,
            Interest::BOTH,
        ] {
            assert_ne!(forgotten, Running::of(7, interest));
        }
        assert_eq!(Running::NONE.fd(), None);
        assert_eq!(Running::NONE.with_interest(Interest::READ), Running::NONE);
        assert_eq!(Running::NONE.forget_interest(), Running::NONE);
        // The largest fd is still an fd, not "nothing running".
        assert_eq!(Running::of(i32::MAX, Interest::BOTH).fd(), Some(i32::MAX));
        // A one-shot registration's callback re-arms it by asking for the same interest.
        let oneshot = Interest::READ.oneshot();
        assert_ne!(Running::dispatched(7, oneshot), Running::of(7, oneshot));
        assert_eq!(Running::dispatched(7, oneshot).fd(), Some(7));
        assert_eq!(
            Running::dispatched(7, Interest::READ.edge()),
            Running::of(7, Interest::READ.edge())
        );
    }
}
