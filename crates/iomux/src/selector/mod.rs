//! The [`Selector`]: one registration API over several kernel mechanisms, chosen at run time.
//!
//! # How the pieces fit
//! The bookkeeping every backend shares lives here, written once: the key map (descriptor →
//! [`SelectorKey`] holding the interest and the caller's data), argument validation, the rule
//! that a failed registration leaves everything as it was, timeouts and `EINTR`, generation
//! numbers against stale events, the [`Waker`], and the [`Stats`] counters. A backend only
//! translates "watch this fd for that, tagged with this token" into its syscalls; the contract is
//! the private `Backend` trait, and [`BackendKind`] dispatches to the implementations with one
//! `match` per method. Adding a backend means adding one file beside `select.rs`, `poll.rs` and
//! `epoll.rs` and one variant to each of the two enums.
//!
//! # Stale events
//! Each registration gets a generation number, and every event carries the generation of the
//! registration it was produced for. [`Selector::resolve`] drops an event whose registration has
//! since been removed or replaced. So when a callback in one dispatch round closes another
//! connection, and a third one is accepted into the same fd number, the old event for that number
//! is not delivered to the newcomer.
//!
//! # Timeouts
//! `None` blocks until an event arrives or the [`Waker`] is woken; `Some(Duration::ZERO)` polls
//! once; any other value waits at least that long. A wait interrupted by a signal (`EINTR`) is
//! retried with the time that is left, and a wait that the kernel ends early without events is
//! resumed, so `select` never returns empty before its timeout unless the waker was woken.
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::interest::{Interest, Readiness};

mod epoll;
mod poll;
mod select;

pub use self::select::FD_SETSIZE;

/// The environment variable that overrides the default backend.
pub const BACKEND_ENV: &str = "IOMUX_BACKEND";

/// The readiness mechanisms a [`Selector`] can run on.
///
/// | kind | syscall | registration | each wait costs | limit |
/// |---|---|---|---|---|
/// | `select` | `select(2)` | bookkeeping only | copy of 3 bitmaps in and out, scan of every fd up to the highest | fds < 1024 (`FD_SETSIZE`) |
/// | `poll` | `ppoll(2)` | bookkeeping only | copy of the whole `pollfd` array in and out, scan of every entry | `RLIMIT_NOFILE` |
/// | `epoll` | `epoll_wait(2)`, level-triggered | one `epoll_ctl` per change | only the ready fds are copied out | `RLIMIT_NOFILE` |
/// | `epoll-et` | `epoll_wait(2)`, edge-triggered | one `epoll_ctl` per change | as `epoll`; each fd reported once per new readiness | `RLIMIT_NOFILE` |
///
/// `io-uring` will join as its own variant in its own file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackendKind {
    /// `select(2)`.
    Select,
    /// `poll(2)`.
    Poll,
    /// `epoll(7)`, level-triggered: a ready fd is reported by every wait until it is no longer ready.
    Epoll,
    /// `epoll(7)`, edge-triggered: a ready fd is reported once per change (new data, new buffer
    /// space); the caller must read or write until `WouldBlock` before waiting for it again.
    EpollEdge,
}

impl BackendKind {
    /// Every backend iomux knows, in the order of the table above.
    pub const ALL: [BackendKind; 4] = [
        BackendKind::Select,
        BackendKind::Poll,
        BackendKind::Epoll,
        BackendKind::EpollEdge,
    ];

    /// The name used by `IOMUX_BACKEND` and the command line.
    pub const fn name(self) -> &'static str {
        match self {
            BackendKind::Select => "select",
            BackendKind::Poll => "poll",
            BackendKind::Epoll => "epoll",
            BackendKind::EpollEdge => "epoll-et",
        }
    }

    /// The backends this machine can run (discovered, not assumed: each one is opened once).
    pub fn supported() -> Vec<BackendKind> {
        Self::ALL
            .into_iter()
            .filter(|k| AnyBackend::new(*k).is_ok())
            .collect()
    }

    /// The best supported backend: level-triggered epoll on Linux.
    pub fn recommended() -> BackendKind {
        BackendKind::Epoll
    }

    /// The backend named by `IOMUX_BACKEND`, if the variable is set (an empty value counts as
    /// unset). An unknown name is an error, never silently ignored.
    pub fn from_env() -> Result<Option<BackendKind>> {
        match std::env::var(BACKEND_ENV) {
            Ok(name) if !name.trim().is_empty() => name.trim().parse().map(Some),
            _ => Ok(None),
        }
    }

    /// The backend a default selector uses: `IOMUX_BACKEND` if set, else [`recommended`](Self::recommended).
    pub fn default_choice() -> Result<BackendKind> {
        Ok(Self::from_env()?.unwrap_or_else(Self::recommended))
    }

    /// Whether each wait hands the whole registered set to the kernel (select, poll).
    pub const fn scans_every_fd(self) -> bool {
        matches!(self, BackendKind::Select | BackendKind::Poll)
    }

    /// Whether readiness is reported once per change rather than while it lasts.
    pub const fn is_edge_triggered(self) -> bool {
        matches!(self, BackendKind::EpollEdge)
    }

    /// Whether errors and hang-ups are reported as such (everything but select, which reports
    /// them as plain readability or writability).
    pub const fn reports_hangup(self) -> bool {
        !matches!(self, BackendKind::Select)
    }
}

impl FromStr for BackendKind {
    type Err = Error;
    fn from_str(name: &str) -> Result<Self> {
        let wanted = name.to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|k| k.name() == wanted || (wanted == "epoll-lt" && *k == BackendKind::Epoll))
            .ok_or_else(|| Error::UnknownBackend {
                name: name.to_owned(),
            })
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Anything that names a file descriptor for a [`Selector`] call: a reference to a socket, pipe
/// or other `AsFd` type, a `BorrowedFd`, or a raw fd number (needed to unregister an fd that
/// was closed while registered).
pub trait Descriptor {
    /// The descriptor number.
    fn descriptor(&self) -> RawFd;
}

impl Descriptor for RawFd {
    fn descriptor(&self) -> RawFd {
        *self
    }
}

impl<T: AsFd + ?Sized> Descriptor for &T {
    fn descriptor(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl Descriptor for BorrowedFd<'_> {
    fn descriptor(&self) -> RawFd {
        self.as_raw_fd()
    }
}

/// One registration: the descriptor, what it is watched for, and the caller's data.
/// Python's `SelectorKey` (without the file object: the caller keeps that).
#[derive(Debug)]
pub struct SelectorKey<T> {
    fd: RawFd,
    interest: Interest,
    data: T,
}

impl<T> SelectorKey<T> {
    /// The descriptor.
    pub fn fd(&self) -> RawFd {
        self.fd
    }
    /// The events it is watched for.
    pub fn interest(&self) -> Interest {
        self.interest
    }
    /// The caller's data.
    pub fn data(&self) -> &T {
        &self.data
    }
    /// The caller's data, to change in place.
    pub fn data_mut(&mut self) -> &mut T {
        &mut self.data
    }
    /// Takes the data out, ending the key.
    pub fn into_data(self) -> T {
        self.data
    }
}

/// One ready descriptor, as a wait found it. Turn it into a key with [`Selector::resolve`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    token: u64,
    readiness: Readiness,
}

impl Event {
    /// The descriptor.
    pub fn fd(&self) -> RawFd {
        token_fd(self.token)
    }
    /// What was found, unmasked (see [`Selector::resolve`] for the masked form).
    pub fn readiness(&self) -> Readiness {
        self.readiness
    }
}

/// The buffer a wait fills; reuse it across calls to avoid allocating.
#[derive(Debug)]
pub struct Events {
    list: Vec<Event>,
    capacity: usize,
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

impl<'a> IntoIterator for &'a Events {
    type Item = &'a Event;
    type IntoIter = std::slice::Iter<'a, Event>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

/// What a selector has cost so far; read with [`Selector::stats`], zero with
/// [`Selector::reset_stats`]. These are the numbers the lab prints beside its timings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Wait syscalls made (`select`, `ppoll`, `epoll_wait`), retries after `EINTR` included.
    pub wait_calls: u64,
    /// Events handed to the caller (after dropping waker events).
    pub events_returned: u64,
    /// Descriptors handed to the kernel by the wait calls, summed: the whole registered set on
    /// every select and poll call, nothing for epoll (its set lives in the kernel).
    pub fds_passed: u64,
    /// Registration syscalls (`epoll_ctl`); select and poll register without a syscall.
    pub ctl_calls: u64,
    /// Time spent inside the wait syscalls.
    pub wait_time: Duration,
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
    /// can bound it. Counts `fds_passed`; the caller counts the call and its time.
    fn wait(
        &mut self,
        out: &mut Vec<Event>,
        max: usize,
        timeout: Option<Duration>,
        stats: &mut Stats,
    ) -> io::Result<()>;
}

// Each selector holds one backend, never a collection of them, so select's two inline 128-byte
// fd_sets cost nothing worth a pointer chase on every call.
#[allow(clippy::large_enum_variant)]
enum AnyBackend {
    Select(select::SelectBackend),
    Poll(poll::PollBackend),
    Epoll(epoll::EpollBackend),
}

impl AnyBackend {
    fn new(kind: BackendKind) -> Result<AnyBackend> {
        Ok(match kind {
            BackendKind::Select => AnyBackend::Select(select::SelectBackend::new()),
            BackendKind::Poll => AnyBackend::Poll(poll::PollBackend::new()),
            BackendKind::Epoll => {
                AnyBackend::Epoll(epoll::EpollBackend::new(epoll::Trigger::Level)?)
            }
            BackendKind::EpollEdge => {
                AnyBackend::Epoll(epoll::EpollBackend::new(epoll::Trigger::Edge)?)
            }
        })
    }

    fn as_dyn(&mut self) -> &mut dyn Backend {
        match self {
            AnyBackend::Select(b) => b,
            AnyBackend::Poll(b) => b,
            AnyBackend::Epoll(b) => b,
        }
    }
}

// A token is the fd in the low 32 bits and the registration's generation in the high 32 bits.
// Generation 0 is never given to a registration; it marks the waker.
fn token(fd: RawFd, generation: u32) -> u64 {
    (u64::from(generation) << 32) | u64::from(fd as u32)
}
fn token_fd(token: u64) -> RawFd {
    token as u32 as RawFd
}
fn token_generation(token: u64) -> u32 {
    (token >> 32) as u32
}
const WAKER_GENERATION: u32 = 0;

struct Slot<T> {
    key: SelectorKey<T>,
    generation: u32,
}

impl<T> Slot<T> {
    /// Whether `event` was produced for this registration (not an earlier one of the same fd).
    fn produced(&self, event: &Event) -> bool {
        self.generation == token_generation(event.token)
    }
}

/// The event's readiness masked by the key's current interest; `None` if nothing is left.
fn live_readiness<T>(event: &Event, key: &SelectorKey<T>) -> Option<Readiness> {
    let readiness = event.readiness.masked_by(key.interest);
    (!readiness.is_empty()).then_some(readiness)
}

/// Wakes a [`Selector`] blocked in [`select`](Selector::select) from any thread. Cheap to clone.
///
/// Backed by an eventfd registered in the selector; waking writes to it, and the selector reads
/// it back before returning, so a wake is never reported as an event.
#[derive(Clone, Debug)]
pub struct Waker {
    eventfd: Arc<File>,
}

impl Waker {
    /// Makes the selector's current or next `select` return (possibly with no events).
    /// Several wakes before the selector runs collapse into one.
    pub fn wake(&self) -> io::Result<()> {
        match (&*self.eventfd).write(&1u64.to_ne_bytes()) {
            Ok(_) => Ok(()),
            // The counter is saturated: a wake is pending already.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// A set of registered descriptors with the caller's data of type `T`, and a way to wait until
/// some of them are ready. Python's `selectors.BaseSelector`.
///
/// ```
/// use std::io::Write;
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
/// use iomux::{Events, Interest, Selector};
///
/// let (a, mut b) = UnixStream::pair()?;
/// let mut sel: Selector<&str> = Selector::new()?;
/// sel.register(&a, Interest::READ, "the a end")?;
///
/// let mut events = Events::with_capacity(64);
/// sel.select(&mut events, Some(Duration::ZERO))?;
/// assert!(events.is_empty()); // nothing written yet
///
/// b.write_all(b"hello")?;
/// sel.select(&mut events, Some(Duration::from_secs(5)))?;
/// let ready: Vec<_> = sel.ready(&events).map(|(key, r)| (*key.data(), r.is_readable())).collect();
/// assert_eq!(ready, [("the a end", true)]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Selector<T> {
    kind: BackendKind,
    backend: AnyBackend,
    slots: Vec<Option<Slot<T>>>,
    len: usize,
    next_generation: u32,
    waker: Option<Waker>,
    stats: Stats,
}

impl<T> Selector<T> {
    /// A selector on the default backend: `IOMUX_BACKEND` if set, else the recommended one.
    pub fn new() -> Result<Self> {
        Self::with_backend(BackendKind::default_choice()?)
    }

    /// A selector on the given backend.
    pub fn with_backend(kind: BackendKind) -> Result<Self> {
        Ok(Selector {
            kind,
            backend: AnyBackend::new(kind)?,
            slots: Vec::new(),
            len: 0,
            next_generation: WAKER_GENERATION + 1,
            waker: None,
            stats: Stats::default(),
        })
    }

    /// The backend in use.
    pub fn backend(&self) -> BackendKind {
        self.kind
    }

    fn slot(&self, fd: RawFd) -> Option<&Slot<T>> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.slots.get(i))
            .and_then(Option::as_ref)
    }

    fn slot_mut(&mut self, fd: RawFd) -> Option<&mut Slot<T>> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.slots.get_mut(i))
            .and_then(Option::as_mut)
    }

    fn take_generation(&mut self) -> u32 {
        let generation = self.next_generation;
        self.next_generation = self
            .next_generation
            .wrapping_add(1)
            .max(WAKER_GENERATION + 1);
        generation
    }

    /// Starts watching `fd` for `interest`, keeping `data` with it. Python's `register`.
    ///
    /// Fails, leaving the selector exactly as it was, when the fd is registered already, is not
    /// open, the interest is empty, or the backend cannot watch it (select: fd >= 1024).
    pub fn register(
        &mut self,
        fd: impl Descriptor,
        interest: Interest,
        data: T,
    ) -> Result<&mut SelectorKey<T>> {
        let fd = fd.descriptor();
        if fd < 0 {
            return Err(Error::InvalidFd { fd });
        }
        if interest.is_empty() {
            return Err(Error::EmptyInterest { fd });
        }
        if self.slot(fd).is_some() || self.is_waker_fd(fd) {
            return Err(Error::AlreadyRegistered { fd });
        }
        let generation = self.take_generation();
        // The syscall first, the bookkeeping after: if the kernel refuses, nothing has changed.
        self.backend
            .as_dyn()
            .register(fd, interest, token(fd, generation), &mut self.stats)?;
        let index = fd as usize;
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, || None);
        }
        self.len += 1;
        let slot = self.slots[index].insert(Slot {
            key: SelectorKey { fd, interest, data },
            generation,
        });
        Ok(&mut slot.key)
    }

    /// Changes the interest and replaces the data of a registered fd. Python's `modify`.
    /// Makes no syscall when the interest does not change.
    pub fn modify(
        &mut self,
        fd: impl Descriptor,
        interest: Interest,
        data: T,
    ) -> Result<&mut SelectorKey<T>> {
        let fd = fd.descriptor();
        self.set_interest(fd, interest)?;
        let slot = self
            .slot_mut(fd)
            .expect("set_interest checked the registration");
        slot.key.data = data;
        Ok(&mut slot.key)
    }

    /// Changes only the interest of a registered fd, keeping its data.
    pub fn set_interest(&mut self, fd: impl Descriptor, interest: Interest) -> Result<()> {
        let fd = fd.descriptor();
        if interest.is_empty() {
            return Err(Error::EmptyInterest { fd });
        }
        let slot = self.slot(fd).ok_or(Error::NotRegistered { fd })?;
        if slot.key.interest == interest {
            return Ok(());
        }
        let tok = token(fd, slot.generation);
        self.backend
            .as_dyn()
            .modify(fd, interest, tok, &mut self.stats)?;
        self.slot_mut(fd).expect("checked above").key.interest = interest;
        Ok(())
    }

    /// Stops watching `fd` and returns its key. Python's `unregister`. Works (and is needed)
    /// also for an fd that was closed while registered; call it *before* closing when you can.
    pub fn unregister(&mut self, fd: impl Descriptor) -> Result<SelectorKey<T>> {
        let fd = fd.descriptor();
        if self.slot(fd).is_none() {
            return Err(Error::NotRegistered { fd });
        }
        self.backend.as_dyn().unregister(fd, &mut self.stats)?;
        self.len -= 1;
        let slot = self.slots[fd as usize].take().expect("checked above");
        Ok(slot.key)
    }

    /// The key of a registered fd. Python's `get_key`.
    pub fn get_key(&self, fd: impl Descriptor) -> Option<&SelectorKey<T>> {
        self.slot(fd.descriptor()).map(|s| &s.key)
    }

    /// The key of a registered fd, with its data mutable.
    pub fn get_key_mut(&mut self, fd: impl Descriptor) -> Option<&mut SelectorKey<T>> {
        self.slot_mut(fd.descriptor()).map(|s| &mut s.key)
    }

    /// Every registered key, in fd order. Python's `get_map().values()`.
    pub fn keys(&self) -> impl Iterator<Item = &SelectorKey<T>> {
        self.slots.iter().flatten().map(|s| &s.key)
    }

    /// How many fds are registered.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no fd is registered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The key an event belongs to and the event's readiness masked by that key's *current*
    /// interest, or `None` when the event is stale: its registration was removed or replaced
    /// since the wait (the fd was unregistered, perhaps closed and reused, earlier in this round).
    pub fn resolve(&self, event: &Event) -> Option<(&SelectorKey<T>, Readiness)> {
        let slot = self.slot(event.fd()).filter(|s| s.produced(event))?;
        live_readiness(event, &slot.key).map(|r| (&slot.key, r))
    }

    /// [`resolve`](Self::resolve), with the key's data mutable.
    pub fn resolve_mut(&mut self, event: &Event) -> Option<(&mut SelectorKey<T>, Readiness)> {
        let key = self.registration_of_mut(event)?;
        live_readiness(event, key).map(|r| (key, r))
    }

    /// The key an event was produced for, if that registration still exists, whatever its
    /// interest is now (unlike [`resolve_mut`](Self::resolve_mut), which also masks readiness).
    pub fn registration_of_mut(&mut self, event: &Event) -> Option<&mut SelectorKey<T>> {
        self.slot_mut(event.fd())
            .filter(|s| s.produced(event))
            .map(|s| &mut s.key)
    }

    /// The keys and readiness of a wait's events, stale ones dropped. Python's `select()` result.
    pub fn ready<'a>(
        &'a self,
        events: &'a Events,
    ) -> impl Iterator<Item = (&'a SelectorKey<T>, Readiness)> + 'a {
        events.iter().filter_map(move |e| self.resolve(e))
    }

    /// Waits until at least one registered fd is ready, the timeout passes, or the [`Waker`] is
    /// woken, and fills `events` (cleared first). Returns the number of events.
    ///
    /// `None` blocks; `Some(Duration::ZERO)` checks and returns at once; otherwise it waits at
    /// least `timeout`. `EINTR` is retried with the remaining time.
    pub fn select(&mut self, events: &mut Events, timeout: Option<Duration>) -> Result<usize> {
        // One clock read serves as both the deadline's base and the first wait's start.
        let mut started = Instant::now();
        let deadline = timeout.and_then(|t| started.checked_add(t));
        let mut remaining = timeout;
        loop {
            events.list.clear();
            let result = self.backend.as_dyn().wait(
                &mut events.list,
                events.capacity,
                remaining,
                &mut self.stats,
            );
            let now = Instant::now();
            self.stats.wait_calls += 1;
            self.stats.wait_time += now - started;
            match result {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
            let woken = self.take_waker_events(&mut events.list);
            if woken || !events.list.is_empty() {
                self.stats.events_returned += events.list.len() as u64;
                return Ok(events.list.len());
            }
            match (timeout, deadline) {
                (Some(t), _) if t.is_zero() => return Ok(0),
                (Some(_), Some(deadline)) => {
                    if now >= deadline {
                        return Ok(0);
                    }
                    remaining = Some(deadline - now);
                }
                _ => {} // blocking (or a deadline beyond Instant's range): wait again
            }
            started = now;
        }
    }

    /// A [`Waker`] for this selector (created on first use; later calls return clones).
    pub fn waker(&mut self) -> Result<Waker> {
        if let Some(w) = &self.waker {
            return Ok(w.clone());
        }
        let eventfd = iomux_sys::eventfd::eventfd()?;
        let fd = eventfd.as_raw_fd();
        if self.slot(fd).is_some() {
            return Err(Error::AlreadyRegistered { fd });
        }
        self.backend.as_dyn().register(
            fd,
            Interest::READ,
            token(fd, WAKER_GENERATION),
            &mut self.stats,
        )?;
        let waker = Waker {
            eventfd: Arc::new(eventfd),
        };
        self.waker = Some(waker.clone());
        Ok(waker)
    }

    fn is_waker_fd(&self, fd: RawFd) -> bool {
        self.waker
            .as_ref()
            .is_some_and(|w| w.eventfd.as_raw_fd() == fd)
    }

    /// Removes waker events from `list`, resetting the eventfd; returns whether there was one.
    fn take_waker_events(&mut self, list: &mut Vec<Event>) -> bool {
        let Some(waker) = &self.waker else {
            return false;
        };
        let before = list.len();
        list.retain(|e| token_generation(e.token) != WAKER_GENERATION);
        if list.len() == before {
            return false;
        }
        let mut counter = [0u8; 8];
        // Nonblocking read; WouldBlock just means another thread's wake was consumed already.
        let _ = (&*waker.eventfd).read(&mut counter);
        true
    }

    /// The cost counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Sets every cost counter back to zero.
    pub fn reset_stats(&mut self) {
        self.stats = Stats::default();
    }
}

impl<T> std::fmt::Debug for Selector<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Selector")
            .field("backend", &self.kind)
            .field("registered", &self.len)
            .finish()
    }
}

/// Builds an event (for backends).
pub(crate) fn event(token: u64, readiness: Readiness) -> Event {
    Event { token, readiness }
}
