//! `eventfd(2)`: a kernel counter behind a descriptor, the cheapest way to wake a waiting thread.
//!
//! [`EventFd`] is the one type iomux uses for it: the selector's waker, the event loop's
//! notifier and channel, and the items of the `bench wait` chain.
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::cvt::cvt;

/// A non-blocking, close-on-exec eventfd.
///
/// [`signal`](Self::signal) adds 1 to the counter and makes the descriptor readable;
/// [`drain`](Self::drain) takes the counter (all of it, or 1 in semaphore mode) and reports
/// whether there was anything to take. Both work through a shared reference, so one `EventFd`
/// in an `Arc` serves any number of threads.
#[derive(Debug)]
pub struct EventFd {
    file: File,
}

impl EventFd {
    /// An eventfd whose counter starts at zero: each [`drain`](Self::drain) takes all of it, so
    /// any number of signals before a drain collapse into one.
    pub fn new() -> io::Result<EventFd> {
        Self::with_flags(0)
    }

    /// An eventfd in semaphore mode (`EFD_SEMAPHORE`): each [`drain`](Self::drain) takes 1, so N
    /// signals make N drains, as N bytes in a pipe would.
    pub fn semaphore() -> io::Result<EventFd> {
        Self::with_flags(libc::EFD_SEMAPHORE)
    }

    fn with_flags(extra: libc::c_int) -> io::Result<EventFd> {
        // SAFETY: eventfd takes an initial value and a flag word; no pointers.
        let raw = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK | extra) })?;
        // SAFETY: raw is a fresh descriptor returned by eventfd, owned by nothing else.
        let file = File::from(unsafe { OwnedFd::from_raw_fd(raw) });
        Ok(EventFd { file })
    }

    /// Adds 1 to the counter. A saturated counter (a wake is pending already) is not an error.
    pub fn signal(&self) -> io::Result<()> {
        match (&self.file).write(&1u64.to_ne_bytes()) {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(()),
        }
    }

    /// Takes the counter (or 1 of it in semaphore mode). Returns whether it was non-zero;
    /// `false` means another thread's drain got there first, which is not an error.
    pub fn drain(&self) -> io::Result<bool> {
        let mut counter = [0u8; 8];
        loop {
            match (&self.file).read(&mut counter) {
                Ok(_) => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl AsFd for EventFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::EventFd;

    #[test]
    fn signals_collapse_unless_semaphore() {
        let plain = EventFd::new().unwrap();
        assert!(!plain.drain().unwrap());
        plain.signal().unwrap();
        plain.signal().unwrap();
        assert!(plain.drain().unwrap());
        assert!(!plain.drain().unwrap());

        let sem = EventFd::semaphore().unwrap();
        sem.signal().unwrap();
        sem.signal().unwrap();
        assert!(sem.drain().unwrap());
        assert!(sem.drain().unwrap());
        assert!(!sem.drain().unwrap());
    }
}
