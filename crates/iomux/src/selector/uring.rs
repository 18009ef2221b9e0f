//! io_uring(7) as a readiness backend: each registration is an `IORING_OP_POLL_ADD` in flight,
//! and a wait is one `io_uring_enter` that submits what changed and collects the completions.
//!
//! Why this mechanism is odd:
//! - Registration is asynchronous: register, modify and unregister only *queue* entries (a
//!   poll, a poll removal); the next wait submits them all in the same syscall that waits. So
//!   a change costs no syscall of its own (unlike `epoll_ctl`), but a bad descriptor would only
//!   surface in a completion: register checks the fd with `fcntl` first, to fail at once as
//!   the other backends do.
//! - A poll holds a reference to the *file*: closing the fd does not end it, and the socket
//!   would stay open (the peer sees no FIN) until the poll is removed. So unregister submits
//!   its removal at once (one `io_uring_enter`, where epoll makes one `epoll_ctl`); register
//!   and modify wait for the next wait. Unregister before closing, as with epoll.
//! - Completions can outlive their registration (a poll completes while its removal is on
//!   the way): each poll's `user_data` carries the fd and a per-registration sequence number,
//!   and a completion whose sequence is not the fd's current one is dropped.
//! - Ending a poll takes a cancellation (`IORING_OP_ASYNC_CANCEL`), never `POLL_REMOVE`: a
//!   removal that finds the poll busy fails with `EALREADY`, and the poll lives on (found by
//!   the e2e tests: a closed socket kept open by a leftover multishot poll, its FIN never sent).
//! - Multishot polls report *wake-ups*, not states: one completion each time the socket's wait
//!   queue is woken (new data, new buffer space), none for data that is still unread. That is
//!   edge-triggered, so `io-uring-et` uses them, re-armed only when a completion arrives
//!   without `IORING_CQE_F_MORE` (the kernel ended it, on overflow or error). Level-triggered
//!   `io-uring` cannot: it arms one-shot polls and re-arms each one after it is delivered, at
//!   the start of the next wait; a fresh poll checks the current state, so a socket that is
//!   still ready is reported again, as level-triggering demands. The re-arms ride in the
//!   wait's own `io_uring_enter`.
//! - The completion queue (2,048 entries) can overflow when thousands of polls are ready at
//!   once; the kernel keeps the overflow and hands it over when asked, so a wait drains the
//!   queue and asks again until it has every completion (or as many events as the caller has
//!   room for): one select() reports every ready registration, as epoll's does.
//! - A multishot poll can complete several times before a wait collects them (new data, then
//!   the peer's FIN, then buffer space): one wait folds them into one event per registration,
//!   their readiness together, as epoll reports an fd once per wait. Handed over one by one,
//!   a program that serves the first and sets the rest aside could keep a "readable" and lose
//!   the "read side closed" the kernel posts once (BENCHMARKS §24).
//! - The poll mask is poll(2)'s, so the translation is `poll_bits.rs`, shared with `poll.rs`.
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use iomux_sys::uring::{Ring, RingCounters, RingOptions};

use super::contract::{event, Backend, Event, Stats};
use super::poll_bits::{poll_events, to_readiness};
use crate::error::{Error, Result};
use crate::interest::{Interest, Readiness};

/// When a registration is reported (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// One-shot polls, re-armed after each delivery.
    Level,
    /// Multishot polls.
    Edge,
}

/// The `user_data` of the cancellations, whose completions mean nothing to us. Poll tags stay
/// below it: the sequence number has 30 bits.
const REMOVAL: u64 = 1 << 62;
const SEQUENCE_MASK: u32 = (1 << 30) - 1;

fn poll_tag(fd: RawFd, sequence: u32) -> u64 {
    (u64::from(sequence) << 32) | u64::from(fd as u32)
}

struct Registration {
    /// The selector's token, handed back with each event.
    token: u64,
    /// The poll mask asked for.
    events: u32,
    /// Which poll of this fd is the current one.
    sequence: u32,
    /// A poll is in flight (or queued) for it.
    armed: bool,
    /// Multishot polls (edge-triggered: the backend's kind, or `Interest::edge`).
    multishot: bool,
    /// Not re-armed after a report (`Interest::oneshot`) until modified.
    oneshot: bool,
    /// Where its last event went in a wait's list: if this wait's list has its token there, a
    /// second completion in the wait joins that event.
    event_index: u32,
}

pub(crate) struct UringBackend {
    ring: Ring,
    trigger: Trigger,
    registrations: Vec<Option<Registration>>,
    next_sequence: u32,
    /// Registrations whose poll ended and must be armed again at the next wait.
    rearm: Vec<RawFd>,
    /// The ring's counters when the last wait's share was added to the stats.
    counted: RingCounters,
}

impl UringBackend {
    pub(crate) fn new(trigger: Trigger) -> Result<Self> {
        // A selector may be moved between threads, so the ring is not bound to one (no
        // SINGLE_ISSUER, which DEFER_TASKRUN needs). COOP_TASKRUN matters: without it every
        // poll completion interrupts the thread (an IPI, very costly in a VM) while it runs in
        // user space; measured at 3x the CPU per message with 10 active connections.
        // For the same reason its descriptor is not registered (a registration is per thread).
        let [_, _, coop, plain] = iomux_sys::uring::Setup::FASTEST_FIRST;
        let options = RingOptions {
            entries: 1024,
            cq_entries: None,
            setups: vec![coop, plain],
            register_ring_fd: false,
        };
        Ok(UringBackend {
            ring: Ring::new(&options)?,
            trigger,
            registrations: Vec::new(),
            next_sequence: 0,
            rearm: Vec::new(),
            counted: RingCounters::default(),
        })
    }

    fn registration_mut(&mut self, fd: RawFd) -> Option<&mut Registration> {
        self.registrations
            .get_mut(usize::try_from(fd).ok()?)
            .and_then(Option::as_mut)
    }

    /// The sequence of the registration's poll, and whether it is in flight.
    fn current_poll(&mut self, fd: RawFd) -> Result<(u32, bool)> {
        let r = self
            .registration_mut(fd)
            .ok_or(Error::NotRegistered { fd })?;
        Ok((r.sequence, r.armed))
    }

    fn take_sequence(&mut self) -> u32 {
        let sequence = self.next_sequence;
        self.next_sequence = (self.next_sequence + 1) & SEQUENCE_MASK;
        sequence
    }

    fn arm(&mut self, fd: RawFd, events: u32, sequence: u32, multishot: bool) -> io::Result<()> {
        self.ring
            .poll_add(fd, events, multishot, poll_tag(fd, sequence))
    }

    /// Whether a registration for `interest` uses multishot polls: edge-triggered, and not
    /// one-shot (one report, so a one-shot poll, never re-armed until modified).
    fn multishot(&self, interest: Interest) -> bool {
        (self.trigger == Trigger::Edge || interest.is_edge()) && !interest.is_oneshot()
    }

    /// Queues the cancellation of the registration's poll, if one is in flight.
    ///
    /// A cancellation, not `IORING_OP_POLL_REMOVE`: a removal that finds the poll busy (its
    /// wake-up being handled) fails with `EALREADY` and leaves a multishot poll alive, still
    /// posting completions and holding the file open after the caller closed it. A
    /// cancellation marks a busy poll, which then ends.
    fn disarm(&mut self, fd: RawFd, sequence: u32, armed: bool) -> io::Result<()> {
        if armed {
            self.ring.cancel(poll_tag(fd, sequence), REMOVAL)?;
        }
        Ok(())
    }

    fn count(&mut self, stats: &mut Stats) {
        let now = self.ring.counters();
        stats.submissions += now.submissions - self.counted.submissions;
        stats.completions += now.completions - self.counted.completions;
        stats.enter_calls += now.enters - self.counted.enters;
        self.counted = now;
    }

    /// Turns one completion into an event in `out` (or into more readiness for the event its
    /// registration already has there), unless it is stale or means nothing.
    fn deliver(&mut self, completion: iomux_sys::uring::Completion, out: &mut Vec<Event>) {
        let Some((registration, readiness)) = self.report(completion) else {
            return;
        };
        // The same token in this wait's list is this registration's event (tokens are unique
        // among live registrations, and the list is this wait's alone).
        let (token, index) = (registration.token, registration.event_index as usize);
        if let Some(event) = out.get_mut(index).filter(|e| e.token == token) {
            event.readiness = event.readiness.union(readiness);
            return;
        }
        registration.event_index = out.len() as u32;
        out.push(event(token, readiness));
    }

    /// The registration a completion reports on and the readiness it reports, its poll's
    /// bookkeeping done (armed or not, re-armed next wait); `None` when it is stale or means
    /// nothing.
    fn report(
        &mut self,
        completion: iomux_sys::uring::Completion,
    ) -> Option<(&mut Registration, Readiness)> {
        if completion.user_data == REMOVAL {
            return None;
        }
        let fd = completion.user_data as u32 as RawFd;
        let sequence = (completion.user_data >> 32) as u32;
        let more = completion.more();
        // The fields apart: the registration stays borrowed while a re-arm is queued.
        let UringBackend {
            registrations,
            rearm,
            ..
        } = self;
        let registration = registrations.get_mut(usize::try_from(fd).ok()?)?.as_mut()?;
        if registration.sequence != sequence {
            return None; // a poll of an earlier registration, modified or removed since
        }
        let readiness = match completion.result {
            r if r >= 0 => to_readiness(r as u32 as u16 as libc::c_short),
            r if r == -libc::ECANCELED => return None,
            // The poll failed (the fd was closed before the poll was submitted, say): report
            // an error, which the caller's next read or write will explain. Not re-armed.
            _ => {
                registration.armed = false;
                return Some((registration, Readiness::from_bits(Readiness::ERROR)));
            }
        };
        if !registration.multishot || !more {
            registration.armed = false;
            if !registration.oneshot {
                rearm.push(fd);
            }
        }
        Some((registration, readiness))
    }
}

impl Backend for UringBackend {
    fn native_triggers(&self) -> bool {
        true // multishot polls for edge, polls not re-armed for one-shot
    }

    fn kernel_fd(&self) -> Option<RawFd> {
        Some(self.ring.as_raw_fd())
    }

    fn register(
        &mut self,
        fd: RawFd,
        interest: Interest,
        token: u64,
        stats: &mut Stats,
    ) -> Result<()> {
        if !iomux_sys::fd::is_open(fd) {
            return Err(Error::InvalidFd { fd });
        }
        stats.ctl_calls += 1;
        let events = poll_events(interest) as u16 as u32;
        let sequence = self.take_sequence();
        let multishot = self.multishot(interest);
        self.arm(fd, events, sequence, multishot)?;
        let index = fd as usize;
        if self.registrations.len() <= index {
            self.registrations.resize_with(index + 1, || None);
        }
        self.registrations[index] = Some(Registration {
            token,
            events,
            sequence,
            armed: true,
            multishot,
            oneshot: interest.is_oneshot(),
            event_index: 0,
        });
        Ok(())
    }

    fn modify(
        &mut self,
        fd: RawFd,
        interest: Interest,
        token: u64,
        stats: &mut Stats,
    ) -> Result<()> {
        let (old_sequence, armed) = self.current_poll(fd)?;
        stats.ctl_calls += 1;
        let events = poll_events(interest) as u16 as u32;
        let sequence = self.take_sequence();
        let multishot = self.multishot(interest);
        self.disarm(fd, old_sequence, armed)?;
        self.arm(fd, events, sequence, multishot)?;
        let r = self.registration_mut(fd).expect("checked above");
        *r = Registration {
            token,
            events,
            sequence,
            armed: true,
            multishot,
            oneshot: interest.is_oneshot(),
            event_index: 0,
        };
        Ok(())
    }

    fn unregister(&mut self, fd: RawFd, stats: &mut Stats) -> Result<()> {
        let (sequence, armed) = self.current_poll(fd)?;
        stats.ctl_calls += 1;
        self.disarm(fd, sequence, armed)?;
        self.registrations[fd as usize] = None;
        if armed {
            // Submitted and settled now, not with the next wait: the poll holds the file, and
            // a caller that closes the fd next expects the socket closed (the peer sees its
            // FIN now).
            self.ring.submit_and_settle()?;
            self.count(stats);
        }
        Ok(())
    }

    fn wait(
        &mut self,
        out: &mut Vec<Event>,
        max: usize,
        timeout: Option<Duration>,
        stats: &mut Stats,
    ) -> io::Result<()> {
        let mut rearm = std::mem::take(&mut self.rearm);
        for (i, &fd) in rearm.iter().enumerate() {
            let Some(r) = self.registration_mut(fd) else {
                continue;
            };
            if r.armed {
                continue; // modified since: the new poll is queued already
            }
            let (events, sequence, multishot) = (r.events, r.sequence, r.multishot);
            if let Err(e) = self.arm(fd, events, sequence, multishot) {
                // Keep the ones not armed yet for the next wait.
                self.rearm.extend_from_slice(&rearm[i..]);
                self.count(stats);
                return Err(e);
            }
            self.registration_mut(fd).expect("checked above").armed = true;
        }
        rearm.clear(); // kept for its capacity
        self.rearm = rearm;
        // Every queued poll goes in with this enter: `Ring::poll_add` submitted a full
        // submission queue's worth each time it filled, so thousands of polls (a re-arm of
        // every ready registration) take as many rounds as they need.
        let mut result = self.ring.submit_and_wait(timeout);
        loop {
            while out.len() < max {
                let Some(completion) = self.ring.next_completion() else {
                    break;
                };
                self.deliver(completion, out);
            }
            if out.len() >= max {
                break; // the rest stay in the ring (or the kernel) for the next wait
            }
            // The completion queue is drained, but it may have overflowed (thousands of polls
            // ready at once, more than its 2,048 entries): the kernel keeps the rest back
            // until asked, and one select() reports every ready registration, as epoll's does.
            match self.ring.take_overflow() {
                Ok(true) if self.ring.has_completions() => {}
                Ok(_) => break,
                Err(e) => {
                    result = result.and(Err(e));
                    break;
                }
            }
        }
        self.count(stats);
        result
    }
}
