//! Edge-triggered and one-shot registrations ([`Interest::edge`], [`Interest::oneshot`]) on
//! the backends that only know level triggering: select and poll. (Epoll and io_uring do both
//! natively, per registration.)
//!
//! How, and what it can and cannot promise:
//! - **One-shot** is exact: after a registration's event is handed out, the backend stops
//!   watching it ([`Backend::disarm`]) until the caller modifies it again.
//! - **Edge** keeps, for each registration, the directions it reported and has not seen
//!   become not-ready since ("quiet"). Quiet directions are not handed to the kernel, so a
//!   socket left readable does not wake every wait (that would be level triggering, or a
//!   spinning loop). Before each wait, one zero-timeout `poll` over the quiet registrations
//!   asks whether they are still ready: a direction that is not is watched again (its next
//!   readiness is a new edge), and a socket still readable whose queue grew since it was
//!   reported (`FIONREAD`) is reported again — new data is an edge, as epoll reports it.
//! - The limits: a quiet socket is not watched *during* a wait, and its queue is compared at
//!   each wait's start only. An edge-triggered program drains a socket before waiting again
//!   (the contract of edge triggering), and a drained socket is not quiet any more, so it is
//!   watched. Only a socket left undrained can miss an edge: for data that arrives during the
//!   wait (reported at the next wait), or for data that arrives after the program read as
//!   much or more since the last wait (the queue did not grow: not reported until it does).
//! - The cost, paid only while registrations are quiet: one `ppoll` per wait, and one
//!   `ioctl(FIONREAD)` per quiet socket still readable.
use std::os::fd::RawFd;

use iomux_sys::poll::{self as sys, PollFd};

use super::contract::{event, token_fd, Backend, Event, Stats};
use super::poll_bits::{poll_events, to_readiness};
use crate::error::Result;
use crate::interest::{Interest, Readiness};

/// How many times the pre-wait probe is asked again after an `EINTR`.
const PROBE_TRIES: u32 = 8;

/// One emulated registration.
struct State {
    /// As asked, with its modifiers.
    interest: Interest,
    /// The selector's token (fd and generation), to tell this registration's events from an
    /// earlier one's.
    token: u64,
    /// Edge: directions reported and not seen not-ready since (not watched by the backend).
    quiet: Interest,
    /// Edge: bytes readable when readability was last reported.
    queued: usize,
    /// One-shot: reported; silent until modified.
    spent: bool,
}

/// The emulated registrations of one selector.
#[derive(Default)]
pub(super) struct Emulation {
    state: Vec<Option<State>>,
    /// Scratch for the pre-wait check: the quiet registrations' poll entries.
    probe: Vec<PollFd>,
}

impl Emulation {
    fn slot(&mut self, fd: RawFd) -> Option<&mut State> {
        self.state.get_mut(usize::try_from(fd).ok()?)?.as_mut()
    }

    /// A registration was made or modified (which re-arms it): emulate it if it asks for a
    /// modifier, else forget it.
    pub fn set(&mut self, fd: RawFd, interest: Interest, token: u64) {
        let index = fd as usize;
        if self.state.len() <= index {
            self.state.resize_with(index + 1, || None);
        }
        self.state[index] = (interest.is_edge() || interest.is_oneshot()).then_some(State {
            interest,
            token,
            quiet: Interest::NONE,
            queued: 0,
            spent: false,
        });
    }

    /// A registration was removed.
    pub fn remove(&mut self, fd: RawFd) {
        if let Some(slot) = self.state.get_mut(fd as usize) {
            *slot = None;
        }
    }

    /// Before a wait: looks at the quiet registrations (see the module docs); pushes the new
    /// edges found onto `out` and returns whether it pushed any (then the wait must not block).
    pub fn before_wait(
        &mut self,
        backend: &mut dyn Backend,
        out: &mut Vec<Event>,
        stats: &mut Stats,
    ) -> Result<bool> {
        self.probe.clear();
        for state in self.state.iter().flatten() {
            if !state.quiet.is_empty() && !state.spent {
                self.probe
                    .push(PollFd::new(token_fd(state.token), poll_events(state.quiet)));
            }
        }
        if self.probe.is_empty() {
            return Ok(false);
        }
        stats.fds_passed += self.probe.len() as u64;
        // A zero-timeout poll does not sleep, so a signal hardly ever interrupts it; when one
        // does, it is asked again (a few times: a flood of signals must not hang the wait):
        // an `EINTR` must not reach the selector's caller.
        let mut tries = 0;
        loop {
            match sys::poll(&mut self.probe, Some(std::time::Duration::ZERO)) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted && tries < PROBE_TRIES => {
                    tries += 1;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                    // Not looked at this time: the quiet registrations stay quiet until the
                    // next wait's probe.
                    self.probe.clear();
                    return Ok(false);
                }
                other => break other.map(drop)?,
            };
        }
        let mut found = false;
        let probe = std::mem::take(&mut self.probe);
        for entry in &probe {
            let fd = entry.fd();
            let Some(state) = self.slot(fd) else { continue };
            let now = to_readiness(entry.revents());
            let mut still = Interest::NONE;
            if state.quiet.is_readable() && (now.is_readable() || now.is_error_or_hangup()) {
                still = still.add(Interest::READ);
            }
            if state.quiet.is_writable() && (now.is_writable() || now.is_error_or_hangup()) {
                still = still.add(Interest::WRITE);
            }
            if still != state.quiet {
                // A direction that went not-ready is watched again: its next readiness is an edge.
                state.quiet = still;
                let (watched, token) = (state.interest.directions().remove(still), state.token);
                rearm(backend, fd, watched, token, stats)?;
            }
            if still.is_readable() && now.is_readable() && !now.is_error_or_hangup() {
                let queued = iomux_sys::socket::bytes_readable(fd).unwrap_or(0);
                let state = self.slot(fd).expect("looked up above");
                // Grown since the last look: new data, a new edge. Shrunk: the program read
                // some; the smaller queue is the baseline the next arrival is measured from.
                if queued > state.queued {
                    out.push(event(
                        state.token,
                        Readiness::from_bits(Readiness::READABLE),
                    ));
                    found = true;
                }
                state.queued = queued;
            }
        }
        self.probe = probe;
        Ok(found)
    }

    /// After a wait: an emulated registration's event spends a one-shot one, and quiets the
    /// directions an edge-triggered one reported.
    pub fn after_wait(
        &mut self,
        backend: &mut dyn Backend,
        events: &[Event],
        stats: &mut Stats,
    ) -> Result<()> {
        for e in events {
            let fd = token_fd(e.token);
            let Some(state) = self.slot(fd) else { continue };
            if state.token != e.token || state.spent {
                continue; // an earlier registration's, or already spent this wait
            }
            if state.interest.is_oneshot() {
                state.spent = true;
                backend.disarm(fd)?;
                continue;
            }
            let r = e.readiness;
            let trouble = r.is_error_or_hangup();
            let mut reported = Interest::NONE;
            if state.interest.is_readable() && (r.is_readable() || r.is_read_closed() || trouble) {
                reported = reported.add(Interest::READ);
                state.queued = iomux_sys::socket::bytes_readable(fd).unwrap_or(0);
            }
            if state.interest.is_writable() && (r.is_writable() || trouble) {
                reported = reported.add(Interest::WRITE);
            }
            let quiet = state.quiet.add(reported);
            if quiet != state.quiet {
                state.quiet = quiet;
                let (watched, token) = (state.interest.directions().remove(quiet), state.token);
                rearm(backend, fd, watched, token, stats)?;
            }
        }
        Ok(())
    }
}

/// Hands the backend the directions to watch now: some, or none (disarmed).
fn rearm(
    backend: &mut dyn Backend,
    fd: RawFd,
    watched: Interest,
    token: u64,
    stats: &mut Stats,
) -> Result<()> {
    if watched.is_empty() {
        backend.disarm(fd)
    } else {
        backend.modify(fd, watched, token, stats)
    }
}
