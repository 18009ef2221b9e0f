//! select(2): the oldest readiness API, and the most expensive per call.
//!
//! Why this mechanism is odd:
//! - The interest sets are bitmaps of `FD_SETSIZE` (1024) bits, and the kernel *overwrites* them
//!   with the result, so every call must copy the master sets anew, hand them in, and scan every
//!   bit up to the highest fd on the way out: O(highest fd) per call however few are ready.
//! - A descriptor number >= 1024 cannot be represented at all. The C macros would write past the
//!   end of the `fd_set`; here registration refuses it with [`Error::FdTooLarge`].
//! - Errors and hang-ups have no bit of their own: they show up as readable and/or writable.
//! - A closed descriptor in the set makes the whole call fail with `EBADF`; we then find the
//!   culprits and report them as errors instead of failing the wait.
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use iomux_sys::select::{self as sys, FdSet};

use super::contract::{event, Backend, Event, Stats};
use crate::error::{Error, Result};
use crate::interest::{Interest, Readiness};

/// Descriptors at or above this number cannot be used with the select backend (1024 on Linux).
pub const FD_SETSIZE: usize = sys::FD_SETSIZE;

pub(crate) struct SelectBackend {
    read_set: FdSet,
    write_set: FdSet,
    /// Token of each registered fd, indexed by fd (all below FD_SETSIZE).
    tokens: Vec<Option<u64>>,
    count: usize,
    /// One past the highest registered fd: the `nfds` argument.
    nfds: usize,
}

impl SelectBackend {
    pub(crate) fn new() -> Self {
        SelectBackend {
            read_set: FdSet::new(),
            write_set: FdSet::new(),
            tokens: vec![None; FD_SETSIZE],
            count: 0,
            nfds: 0,
        }
    }

    fn set_interest(&mut self, fd: RawFd, interest: Interest) -> Result<()> {
        // Check both inserts can succeed before touching either set.
        if fd < 0 || fd as usize >= FD_SETSIZE {
            return Err(Error::FdTooLarge {
                fd,
                limit: FD_SETSIZE,
            });
        }
        self.read_set.remove(fd);
        self.write_set.remove(fd);
        let too_large = |_| Error::FdTooLarge {
            fd,
            limit: FD_SETSIZE,
        };
        if interest.is_readable() {
            self.read_set.insert(fd).map_err(too_large)?;
        }
        if interest.is_writable() {
            self.write_set.insert(fd).map_err(too_large)?;
        }
        Ok(())
    }
}

impl Backend for SelectBackend {
    fn register(&mut self, fd: RawFd, interest: Interest, token: u64, _: &mut Stats) -> Result<()> {
        if fd as usize >= FD_SETSIZE {
            return Err(Error::FdTooLarge {
                fd,
                limit: FD_SETSIZE,
            });
        }
        if !iomux_sys::fd::is_open(fd) {
            return Err(Error::InvalidFd { fd });
        }
        self.set_interest(fd, interest)?;
        self.tokens[fd as usize] = Some(token);
        self.count += 1;
        self.nfds = self.nfds.max(fd as usize + 1);
        Ok(())
    }

    fn modify(&mut self, fd: RawFd, interest: Interest, token: u64, _: &mut Stats) -> Result<()> {
        self.set_interest(fd, interest)?;
        self.tokens[fd as usize] = Some(token);
        Ok(())
    }

    fn disarm(&mut self, fd: RawFd) -> Result<()> {
        if self.tokens.get(fd as usize).and_then(|t| *t).is_none() {
            return Err(Error::NotRegistered { fd });
        }
        // Out of both sets, token kept: `modify` puts it back.
        self.read_set.remove(fd);
        self.write_set.remove(fd);
        Ok(())
    }

    fn unregister(&mut self, fd: RawFd, _: &mut Stats) -> Result<()> {
        self.read_set.remove(fd);
        self.write_set.remove(fd);
        if self.tokens[fd as usize].take().is_some() {
            self.count -= 1;
        }
        while self.nfds > 0 && self.tokens[self.nfds - 1].is_none() {
            self.nfds -= 1;
        }
        Ok(())
    }

    fn wait(
        &mut self,
        out: &mut Vec<Event>,
        _max: usize,
        timeout: Option<Duration>,
        stats: &mut Stats,
    ) -> io::Result<()> {
        // The kernel overwrites the sets, so it gets copies: this copy is part of select's cost.
        let mut readable = self.read_set;
        let mut writable = self.write_set;
        stats.fds_passed += self.count as u64;
        match sys::select(
            self.nfds,
            Some(&mut readable),
            Some(&mut writable),
            None,
            timeout,
        ) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EBADF) => {
                // A registered fd was closed: report it (and any others) instead of failing.
                for fd in 0..self.nfds {
                    if let Some(token) = self.tokens[fd] {
                        if !iomux_sys::fd::is_open(fd as RawFd) {
                            out.push(event(token, Readiness::from_bits(Readiness::ERROR)));
                        }
                    }
                }
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        // The scan over every fd up to the highest: the other half of select's cost.
        for (fd, token) in self.tokens[..self.nfds].iter().enumerate() {
            let Some(token) = *token else { continue };
            let mut bits = 0;
            if readable.contains(fd as RawFd) {
                bits |= Readiness::READABLE;
            }
            if writable.contains(fd as RawFd) {
                bits |= Readiness::WRITABLE;
            }
            if bits != 0 {
                out.push(event(token, Readiness::from_bits(bits)));
            }
        }
        Ok(())
    }
}
