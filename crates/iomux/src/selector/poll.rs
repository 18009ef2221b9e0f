//! poll(2): an array of (fd, events) with no fd-number limit, still copied and scanned per call.
//!
//! Why this mechanism is odd:
//! - Unlike select there is no `FD_SETSIZE`: the array holds any descriptor numbers, and the
//!   kernel writes results into a separate `revents` field, so the array need not be rebuilt.
//! - But every call still copies the whole array into the kernel, which polls every entry, and
//!   copies it back; we then scan it all to find the few ready ones. O(registered) per call.
//! - Errors (`POLLERR`), hang-ups (`POLLHUP`) and closed descriptors (`POLLNVAL`) are always
//!   reported, whatever was asked for.
//! - Removal swaps the last entry into the hole, so the array stays dense.
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use iomux_sys::poll::{self as sys, PollFd};

use super::contract::{event, Backend, Event, Stats};
use super::poll_bits::{poll_events, to_readiness};
use crate::error::{Error, Result};
use crate::interest::Interest;

pub(crate) struct PollBackend {
    fds: Vec<PollFd>,
    tokens: Vec<u64>,
    /// Position in `fds` of each registered fd, indexed by fd.
    position: Vec<Option<usize>>,
}

impl PollBackend {
    pub(crate) fn new() -> Self {
        PollBackend {
            fds: Vec::new(),
            tokens: Vec::new(),
            position: Vec::new(),
        }
    }

    fn position(&self, fd: RawFd) -> Option<usize> {
        self.position.get(fd as usize).copied().flatten()
    }
}

// (Entries disarmed for emulated triggers keep their fd negated: `descriptor()` reads it back.)

impl Backend for PollBackend {
    fn register(&mut self, fd: RawFd, interest: Interest, token: u64, _: &mut Stats) -> Result<()> {
        if !iomux_sys::fd::is_open(fd) {
            return Err(Error::InvalidFd { fd });
        }
        let index = fd as usize;
        if self.position.len() <= index {
            self.position.resize(index + 1, None);
        }
        self.position[index] = Some(self.fds.len());
        self.fds.push(PollFd::new(fd, poll_events(interest)));
        self.tokens.push(token);
        Ok(())
    }

    fn modify(&mut self, fd: RawFd, interest: Interest, token: u64, _: &mut Stats) -> Result<()> {
        let at = self.position(fd).ok_or(Error::NotRegistered { fd })?;
        self.fds[at].set_events(poll_events(interest));
        self.fds[at].set_enabled(true);
        self.tokens[at] = token;
        Ok(())
    }

    fn unregister(&mut self, fd: RawFd, _: &mut Stats) -> Result<()> {
        let at = self.position(fd).ok_or(Error::NotRegistered { fd })?;
        self.position[fd as usize] = None;
        self.fds.swap_remove(at);
        self.tokens.swap_remove(at);
        if let Some(moved) = self.fds.get(at) {
            self.position[moved.descriptor() as usize] = Some(at);
        }
        Ok(())
    }

    fn disarm(&mut self, fd: RawFd) -> Result<()> {
        let at = self.position(fd).ok_or(Error::NotRegistered { fd })?;
        self.fds[at].set_enabled(false);
        Ok(())
    }

    fn wait(
        &mut self,
        out: &mut Vec<Event>,
        _max: usize,
        timeout: Option<Duration>,
        stats: &mut Stats,
    ) -> io::Result<()> {
        stats.fds_passed += self.fds.len() as u64;
        let mut left = sys::poll(&mut self.fds, timeout)?;
        // The scan of the whole array for the `left` entries with news.
        for (pfd, &token) in self.fds.iter().zip(&self.tokens) {
            if left == 0 {
                break;
            }
            let revents = pfd.revents();
            if revents != 0 {
                left -= 1;
                out.push(event(token, to_readiness(revents)));
            }
        }
        Ok(())
    }
}
