//! `poll(2)` (as `ppoll`, for a nanosecond timeout).
use std::io;
use std::os::fd::RawFd;
use std::ptr;
use std::time::Duration;

use crate::cvt::cvt;

pub use libc::{POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLPRI, POLLRDHUP};

/// One entry of a poll array: a descriptor, the events asked for, and those the kernel returned.
#[repr(transparent)]
#[derive(Clone, Copy)]
pub struct PollFd(libc::pollfd);

impl PollFd {
    /// An entry asking for `events` on `fd`.
    pub fn new(fd: RawFd, events: libc::c_short) -> Self {
        PollFd(libc::pollfd {
            fd,
            events,
            revents: 0,
        })
    }
    /// The descriptor.
    pub fn fd(&self) -> RawFd {
        self.0.fd
    }
    /// The events asked for.
    pub fn events(&self) -> libc::c_short {
        self.0.events
    }
    /// Changes the events asked for.
    pub fn set_events(&mut self, events: libc::c_short) {
        self.0.events = events;
    }
    /// Makes `poll` skip this entry (its fd is stored negated, which poll(2) ignores, errors
    /// and hang-ups included), or watch it again.
    pub fn set_enabled(&mut self, enabled: bool) {
        if (self.0.fd >= 0) != enabled {
            self.0.fd = !self.0.fd;
        }
    }
    /// The descriptor, whether the entry is enabled or not.
    pub fn descriptor(&self) -> RawFd {
        if self.0.fd < 0 {
            !self.0.fd
        } else {
            self.0.fd
        }
    }
    /// What the last [`poll`] found; `POLLERR`, `POLLHUP` and `POLLNVAL` come whether asked or not.
    pub fn revents(&self) -> libc::c_short {
        self.0.revents
    }
}

/// Waits until one of `fds` is ready or the timeout passes (`None` blocks). Returns the number of
/// entries with a non-zero `revents`.
pub fn poll(fds: &mut [PollFd], timeout: Option<Duration>) -> io::Result<usize> {
    #[cfg(feature = "fault-injection")]
    if crate::fault::spurious_wait()? {
        // As the kernel would leave them after a wait that found nothing.
        fds.iter_mut().for_each(|f| f.0.revents = 0);
        return Ok(0);
    }
    let ts = crate::time::timespec(timeout);
    let ts_ptr = ts
        .as_ref()
        .map_or(ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: PollFd is repr(transparent) over libc::pollfd, so the slice is a valid pollfd array
    // of fds.len() entries that we borrow exclusively for the call; ts_ptr is null or points to a
    // timespec alive until the call returns; a null sigmask leaves the signal mask unchanged.
    let n = cvt(unsafe {
        libc::ppoll(
            fds.as_mut_ptr().cast(),
            fds.len() as libc::nfds_t,
            ts_ptr,
            ptr::null(),
        )
    })?;
    Ok(n as usize)
}
