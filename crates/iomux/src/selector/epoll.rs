//! epoll(7), level- or edge-triggered: register once, and each wait returns only what is ready.
//!
//! Why this mechanism is odd:
//! - The interest list lives in the kernel. Each change is an `epoll_ctl` syscall (counted in
//!   [`Stats::ctl_calls`](super::Stats)), but a wait passes no descriptors at all: the kernel
//!   keeps a ready list, filled by callbacks on each socket's wait queue, and `epoll_wait` copies
//!   out only those entries. Its cost follows the number of ready fds, not the number registered.
//!   (It *copies* them: `epoll_wait` does not share memory with user space through mmap.)
//! - Level-triggered: a ready fd goes back on the ready list after each wait while it stays
//!   ready, like poll. Edge-triggered (`EPOLLET`): it is reported when it *becomes* ready (each
//!   new arrival of data or buffer space), so the caller must drain it (read or write until
//!   `WouldBlock`) or it will not hear about the remainder.
//! - Registrations belong to the open file description, not the fd number: closing an fd whose
//!   description is shared (a `dup`, a forked child) leaves it registered. Unregister before
//!   closing. `EPOLL_CTL_DEL` on an fd already closed fails with `EBADF`; that is not an error
//!   for us, the kernel dropped the registration already.
//! - Regular files and directories are refused with `EPERM` (they are always "ready").
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use iomux_sys::epoll::{self as sys, Epoll, EpollEvent};

use super::contract::{event, Backend, Event, Stats};
use crate::error::{Error, Result};
use crate::interest::{Interest, Readiness};

/// When epoll reports a ready fd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trigger {
    Level,
    Edge,
}

pub(crate) struct EpollBackend {
    epoll: Epoll,
    trigger: Trigger,
    buffer: Vec<EpollEvent>,
}

impl EpollBackend {
    pub(crate) fn new(trigger: Trigger) -> Result<Self> {
        Ok(EpollBackend {
            epoll: Epoll::new()?,
            trigger,
            buffer: Vec::new(),
        })
    }

    fn epoll_events(&self, interest: Interest) -> u32 {
        let mut events = 0;
        if interest.is_readable() {
            // RDHUP only with READ, for the reason given in poll.rs.
            events |= sys::EPOLLIN | sys::EPOLLRDHUP;
        }
        if interest.is_writable() {
            events |= sys::EPOLLOUT;
        }
        if self.trigger == Trigger::Edge || interest.is_edge() {
            events |= sys::EPOLLET;
        }
        if interest.is_oneshot() {
            events |= sys::EPOLLONESHOT;
        }
        events as u32
    }
}

fn ctl_error(fd: RawFd, e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::EBADF) => Error::InvalidFd { fd },
        Some(libc::EPERM) => Error::NotPollable { fd },
        Some(libc::EEXIST) => Error::AlreadyRegistered { fd },
        Some(libc::ENOENT) => Error::NotRegistered { fd },
        _ => Error::Io(e),
    }
}

fn to_readiness(events: u32) -> Readiness {
    let has = |flag: libc::c_int| events & flag as u32 != 0;
    let mut bits = 0;
    if has(sys::EPOLLIN) || has(sys::EPOLLPRI) {
        bits |= Readiness::READABLE;
    }
    if has(sys::EPOLLOUT) {
        bits |= Readiness::WRITABLE;
    }
    if has(sys::EPOLLERR) {
        bits |= Readiness::ERROR;
    }
    if has(sys::EPOLLHUP) {
        bits |= Readiness::HANGUP;
    }
    if has(sys::EPOLLRDHUP) {
        bits |= Readiness::READ_CLOSED;
    }
    Readiness::from_bits(bits)
}

impl Backend for EpollBackend {
    fn native_triggers(&self) -> bool {
        true // EPOLLET and EPOLLONESHOT, per registration
    }

    fn kernel_fd(&self) -> Option<RawFd> {
        Some(self.epoll.as_raw_fd())
    }

    fn register(
        &mut self,
        fd: RawFd,
        interest: Interest,
        token: u64,
        stats: &mut Stats,
    ) -> Result<()> {
        stats.ctl_calls += 1;
        self.epoll
            .add(fd, self.epoll_events(interest), token)
            .map_err(|e| ctl_error(fd, e))
    }

    fn modify(
        &mut self,
        fd: RawFd,
        interest: Interest,
        token: u64,
        stats: &mut Stats,
    ) -> Result<()> {
        stats.ctl_calls += 1;
        self.epoll
            .modify(fd, self.epoll_events(interest), token)
            .map_err(|e| ctl_error(fd, e))
    }

    fn unregister(&mut self, fd: RawFd, stats: &mut Stats) -> Result<()> {
        stats.ctl_calls += 1;
        match self.epoll.delete(fd) {
            Ok(()) => Ok(()),
            // Closed already (EBADF), or closed and the number reused (ENOENT): the kernel
            // removed the registration when the file was closed.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EBADF | libc::ENOENT)) => Ok(()),
            Err(e) => Err(Error::Io(e)),
        }
    }

    fn wait(
        &mut self,
        out: &mut Vec<Event>,
        max: usize,
        timeout: Option<Duration>,
        _: &mut Stats,
    ) -> io::Result<()> {
        if self.buffer.len() < max {
            self.buffer.resize(max, EpollEvent::zeroed());
        }
        let n = self.epoll.wait(&mut self.buffer[..max], timeout)?;
        out.extend(
            self.buffer[..n]
                .iter()
                .map(|e| event(e.data(), to_readiness(e.events()))),
        );
        Ok(())
    }
}
