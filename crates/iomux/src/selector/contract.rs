//! The seam between the selector and its backends: the `Backend` trait each backend file
//! implements, the tokens backends hand back, the [`Event`]s a wait fills in, and the [`Stats`]
//! counters they update. Backends depend on this file alone, never on the selector itself.
use std::io;
use std::ops::AddAssign;
use std::os::fd::RawFd;
use std::time::Duration;

use crate::error::Result;
use crate::interest::{Interest, Readiness};

/// One ready descriptor, as a wait found it. Turn it into a key with
/// [`Selector::resolve`](super::Selector::resolve).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub(crate) token: u64,
    pub(crate) readiness: Readiness,
}

impl Event {
    /// The descriptor.
    pub fn fd(&self) -> RawFd {
        token_fd(self.token)
    }
    /// What was found, unmasked (see [`Selector::resolve`](super::Selector::resolve) for the
    /// masked form).
    pub fn readiness(&self) -> Readiness {
        self.readiness
    }
}

/// The buffer a wait fills; reuse it across calls to avoid allocating.
#[derive(Debug)]
pub struct Events {
    pub(crate) list: Vec<Event>,
    pub(crate) capacity: usize,
}

impl Events {
    /// Room for `capacity` events per wait on epoll (select and poll return every ready fd).
    pub fn with_capacity(capacity: usize) -> Events {
        let capacity = capacity.max(1);
        Events {
            list: Vec::with_capacity(capacity),
            capacity,
        }
    }
    /// The events of the last wait.
    pub fn iter(&self) -> std::slice::Iter<'_, Event> {
        self.list.iter()
    }
    /// How many events the last wait returned.
    pub fn len(&self) -> usize {
        self.list.len()
    }
    /// Whether the last wait returned nothing.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
    /// The `i`-th event.
    pub fn get(&self, i: usize) -> Option<Event> {
        self.list.get(i).copied()
    }
    /// Forgets the events.
    pub fn clear(&mut self) {
        self.list.clear();
    }
}

impl Default for Events {
    /// Room for 1,024 events per wait, allocated on first use.
    fn default() -> Events {
        Events {
            list: Vec::new(),
            capacity: 1024,
        }
    }
}

impl<'a> IntoIterator for &'a Events {
    type Item = &'a Event;
    type IntoIter = std::slice::Iter<'a, Event>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

/// What a selector has cost so far; read with [`Selector::stats`](super::Selector::stats), zero
/// with [`Selector::reset_stats`](super::Selector::reset_stats). These are the numbers the lab prints beside its timings.
///
/// With the `serde` feature it is a record: each counter by its name, and the wait time as
/// `wait_s`, in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Stats {
    /// Waits made (`select`, `ppoll`, `epoll_wait`, `io_uring_enter`), retries after `EINTR`
    /// included.
    pub wait_calls: u64,
    /// Events handed to the caller (after dropping waker events).
    pub events_returned: u64,
    /// Descriptors handed to the kernel by the wait calls, summed: the whole registered set on
    /// every select and poll call, nothing for epoll (its set lives in the kernel).
    pub fds_passed: u64,
    /// Registration changes that cost the kernel work: `epoll_ctl` syscalls, or io_uring
    /// poll requests queued (submitted with the next wait, no syscall of their own). Select
    /// and poll register by bookkeeping alone.
    pub ctl_calls: u64,
    /// io_uring only: submission queue entries handed to the kernel (polls, re-arms, removals).
    pub submissions: u64,
    /// io_uring only: completion queue entries taken.
    pub completions: u64,
    /// io_uring only: `io_uring_enter` calls: one per wait (none when completions were ready
    /// and nothing was queued), plus one each time the submission queue filled up (1,024
    /// polls), one each time a wait took completions the kernel held back after the
    /// completion queue overflowed, and one per unregister of a poll in flight.
    pub enter_calls: u64,
    /// Time spent inside the wait syscalls.
    #[cfg_attr(feature = "serde", serde(rename = "wait_s", with = "seconds"))]
    pub wait_time: Duration,
}

/// A `Duration` recorded as seconds (a number).
#[cfg(feature = "serde")]
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Duration::try_from_secs_f64(f64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl AddAssign for Stats {
    /// Sums two selectors' counters (a server's threads each have one).
    fn add_assign(&mut self, other: Stats) {
        self.wait_calls += other.wait_calls;
        self.events_returned += other.events_returned;
        self.fds_passed += other.fds_passed;
        self.ctl_calls += other.ctl_calls;
        self.submissions += other.submissions;
        self.completions += other.completions;
        self.enter_calls += other.enter_calls;
        self.wait_time += other.wait_time;
    }
}

impl Stats {
    /// Descriptors handed to the kernel per wait call, on average.
    pub fn fds_per_wait(&self) -> f64 {
        if self.wait_calls == 0 {
            0.0
        } else {
            self.fds_passed as f64 / self.wait_calls as f64
        }
    }
}

/// The contract each backend file fulfils. Tokens are opaque to backends: they store the token
/// given at registration and hand it back with each readiness they find.
pub(crate) trait Backend {
    /// Start watching `fd`. Must leave the backend unchanged when it fails.
    fn register(
        &mut self,
        fd: RawFd,
        interest: Interest,
        token: u64,
        stats: &mut Stats,
    ) -> Result<()>;
    /// Change the interest and token of a watched `fd`.
    fn modify(
        &mut self,
        fd: RawFd,
        interest: Interest,
        token: u64,
        stats: &mut Stats,
    ) -> Result<()>;
    /// Stop watching `fd`. Must succeed for an fd that was closed while registered.
    fn unregister(&mut self, fd: RawFd, stats: &mut Stats) -> Result<()>;
    /// Wait once (no retry) and push what is ready onto `out`, at most `max` on backends that
    /// can bound it: one event per registration, with everything found for it (a program that
    /// serves the first of two and sets the other aside must not lose a condition the kernel
    /// reports once, such as the peer's end of stream). Counts `fds_passed`; the caller counts
    /// the call and its time.
    fn wait(
        &mut self,
        out: &mut Vec<Event>,
        max: usize,
        timeout: Option<Duration>,
        stats: &mut Stats,
    ) -> io::Result<()>;
    /// The kernel object the backend waits on (epoll's or io_uring's fd), for a caller that
    /// must show it (Python's `selector.fileno()`); `None` for select and poll, which have
    /// none between calls.
    fn kernel_fd(&self) -> Option<RawFd> {
        None
    }
    /// Whether it honours [`Interest::edge`] and [`Interest::oneshot`] per registration itself;
    /// if not, the selector emulates them (`emulate.rs`) with [`disarm`](Self::disarm).
    fn native_triggers(&self) -> bool {
        false
    }
    /// Stops reporting a registered `fd` (until the next [`modify`](Self::modify)), keeping
    /// its registration: for emulated one-shot and edge registrations. Select and poll only.
    fn disarm(&mut self, fd: RawFd) -> Result<()> {
        Err(crate::error::Error::NotRegistered { fd })
    }
}

// A token is the fd in the low 32 bits and the registration's generation in the high 32 bits.
// Generation 0 is never given to a registration; it marks the waker.
pub(crate) fn token(fd: RawFd, generation: u32) -> u64 {
    (u64::from(generation) << 32) | u64::from(fd as u32)
}
pub(crate) fn token_fd(token: u64) -> RawFd {
    token as u32 as RawFd
}
pub(crate) fn token_generation(token: u64) -> u32 {
    (token >> 32) as u32
}
pub(crate) const WAKER_GENERATION: u32 = 0;

/// Builds an event (for backends).
pub(crate) fn event(token: u64, readiness: Readiness) -> Event {
    Event { token, readiness }
}
