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
//! The files: `contract.rs` is the seam (the `Backend` trait, tokens, [`Event`], [`Stats`]) and
//! the only thing a backend file depends on; `waker.rs` is the [`Waker`]; this file is the
//! [`Selector`] and its key map; [`BackendKind`] (the list of backends) is in the crate's
//! `backend_kind.rs`.
//!
//! # Stale events
//! Each registration gets a generation number, and every event carries the generation of the
//! registration it was produced for. [`Selector::resolve`] drops an event whose registration has
//! since been removed or replaced. So when a callback in one dispatch round closes another
//! connection, and a third one is accepted into the same fd number, the old event for that number
//! is not delivered to the newcomer.
//!
//! # Still ready
//! A program may stop reading a socket before it is drained, to be fair to the others (the
//! connection core reads one buffer per report). A level-triggered backend reports it again
//! at the next wait; an edge-triggered registration would not, until new data arrived. So the
//! program says so with [`Selector::still_ready`], and the next wait hands the event back
//! itself, without blocking: one list, here, instead of one per program.
//!
//! # Timeouts
//! `None` blocks until an event arrives or the [`Waker`] is woken; `Some(Duration::ZERO)` polls
//! once; any other value waits at least that long. A wait interrupted by a signal (`EINTR`) is
//! retried with the time that is left, and a wait that the kernel ends early without events is
//! resumed, so `select` never returns empty before its timeout unless the waker was woken.
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;
use std::time::Instant;

use crate::backend_kind::BackendKind;
use crate::error::{Error, Result};
use crate::interest::{Interest, Readiness};
use crate::trace::{Tracer, Wait, Wake};

mod contract;
mod emulate;
mod epoll;
mod poll;
mod poll_bits;
mod select;
mod uring;
mod waker;

use self::contract::{event, token, token_fd, token_generation, Backend, WAKER_GENERATION};
pub use self::contract::{Event, Events, Stats};
pub use self::select::FD_SETSIZE;
pub use self::waker::Waker;

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
/// How many interrupted looks in a row a wait with no time left retries before it answers
/// "nothing ready" ([`Selector::select`]).
const MAX_LATE_INTERRUPTIONS: u32 = 8;

struct Slot<T> {
    key: SelectorKey<T>,
    generation: u32,
    /// What it was said to be [still ready](Selector::still_ready) for since the last wait:
    /// every report's readiness together (empty: not in the still-ready list). One entry per
    /// wait however often it is said, and no report's condition lost: an edge backend can
    /// report one fd several times in one wait (io_uring's multishot polls post a completion
    /// per wake-up), and only one of them may carry the peer's end of stream, which will not
    /// be reported again.
    again: Readiness,
}

impl<T> Slot<T> {
    /// Whether `event` was produced for this registration (not an earlier one of the same fd).
    fn produced(&self, event: &Event) -> bool {
        self.holds(event.token)
    }
    /// Whether `token` names this registration (not an earlier one of the same fd).
    fn holds(&self, token: u64) -> bool {
        self.generation == token_generation(token)
    }
}

/// The event's readiness masked by the key's current interest; `None` if nothing is left.
fn live_readiness<T>(event: &Event, key: &SelectorKey<T>) -> Option<Readiness> {
    let readiness = event.readiness.masked_by(key.interest);
    (!readiness.is_empty()).then_some(readiness)
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
    /// Trace mode's record of the turns, when switched on ([`enable_trace`](Self::enable_trace)).
    tracer: Option<Box<Tracer>>,
    /// Edge and one-shot registrations on a backend that lacks them (select, poll); made on
    /// the first one.
    emulation: Option<Box<emulate::Emulation>>,
    /// Set by a wait that the waker ended, and `EINTR`s seen: read by a traced wait only.
    woken: bool,
    interrupted: u32,
    /// The registrations (tokens) the program said are still ready on edge-triggered
    /// registrations ([`still_ready`](Self::still_ready)), in order: handed back by the next
    /// wait, with the readiness their slot gathered.
    again: Vec<u64>,
}

impl<T> Selector<T> {
    /// A selector on the default backend: `IOMUX_BACKEND` if set, else the recommended one.
    pub fn new() -> Result<Self> {
        Self::with_backend(BackendKind::default_choice()?)
    }

    /// A selector on the given backend. A backend this kernel cannot run (io_uring disabled
    /// by sysctl or seccomp, say) is [`Error::Unsupported`], naming why and what works.
    pub fn with_backend(kind: BackendKind) -> Result<Self> {
        let backend = AnyBackend::new(kind).map_err(|e| match kind.probe() {
            Err(reason) => Error::Unsupported {
                backend: kind,
                reason,
            },
            Ok(()) => e,
        })?;
        Ok(Selector {
            kind,
            backend,
            slots: Vec::new(),
            len: 0,
            next_generation: WAKER_GENERATION + 1,
            waker: None,
            stats: Stats::default(),
            tracer: None,
            emulation: None,
            woken: false,
            interrupted: 0,
            again: Vec::new(),
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
        self.emulate(fd, interest, token(fd, generation));
        let index = fd as usize;
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, || None);
        }
        self.len += 1;
        let slot = self.slots[index].insert(Slot {
            key: SelectorKey { fd, interest, data },
            generation,
            again: Readiness::default(),
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
        // A one-shot registration is re-armed by a modify, even to the same interest.
        if slot.key.interest == interest && !interest.is_oneshot() {
            return Ok(());
        }
        let tok = token(fd, slot.generation);
        self.backend
            .as_dyn()
            .modify(fd, interest, tok, &mut self.stats)?;
        self.emulate(fd, interest, tok);
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
        if let Some(emulation) = self.emulation.as_mut() {
            emulation.remove(fd);
        }
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

    /// Says that the program stopped serving `fd` before it was drained (it read its share
    /// and moved on): the next [`select`](Self::select) reports `readiness` for it again, and
    /// does not block. Needed only where the kernel will not report it again by itself: on an
    /// edge-triggered registration (an edge backend, or [`Interest::edge`]); on a
    /// level-triggered one it does nothing, because the next wait reports it anyway.
    ///
    /// Said several times before the next wait (an edge backend may report one fd more than
    /// once per wait), it is handed back once, with every readiness said: a condition such as
    /// the peer's end of stream, which the kernel reports once, is never lost. If `fd` is
    /// unregistered before the next wait (or registered anew), nothing is handed back.
    pub fn still_ready(&mut self, fd: impl Descriptor, readiness: Readiness) {
        let fd = fd.descriptor();
        let edge_backend = self.kind.is_edge_triggered();
        let Some(slot) = self.slot_mut(fd) else {
            return;
        };
        if (!edge_backend && !slot.key.interest.is_edge()) || readiness.is_empty() {
            return;
        }
        let listed = !slot.again.is_empty();
        slot.again = slot.again.union(readiness);
        if !listed {
            let listing = token(fd, slot.generation);
            self.again.push(listing);
        }
    }

    /// The keys and readiness of a wait's events, stale ones dropped. Python's `select()` result.
    pub fn ready<'a>(
        &'a self,
        events: &'a Events,
    ) -> impl Iterator<Item = (&'a SelectorKey<T>, Readiness)> + 'a {
        events.iter().filter_map(move |e| self.resolve(e))
    }

    /// Waits until at least one registered fd is ready, the timeout passes, or the [`Waker`] is
    /// woken, and fills `events` (cleared first). Returns the number of events. Events said to
    /// be [still ready](Self::still_ready) come after the kernel's, and make the wait only look.
    ///
    /// `None` blocks; `Some(Duration::ZERO)` checks and returns at once; otherwise it waits at
    /// least `timeout`. `EINTR` is retried with the remaining time, even none: an interrupted
    /// wait looks once more (up to a few times in a row), so an empty answer means nothing was
    /// ready.
    pub fn select(&mut self, events: &mut Events, timeout: Option<Duration>) -> Result<usize> {
        if self.tracer.is_some() {
            return self.select_traced(events, timeout);
        }
        self.select_untraced(events, timeout)
    }

    /// [`select`](Self::select) in trace mode: ends the running turn (its syscalls), waits,
    /// and begins a turn with the wait's record.
    #[cold]
    #[inline(never)]
    fn select_traced(&mut self, events: &mut Events, timeout: Option<Duration>) -> Result<usize> {
        if let Some(tracer) = self.tracer.as_mut() {
            tracer.end_turn();
        }
        let (before, start) = (self.stats, Instant::now());
        (self.woken, self.interrupted) = (false, 0);
        let result = self.select_untraced(events, timeout);
        let woke = if !events.is_empty() {
            Wake::Fd
        } else if self.woken {
            Wake::Waker
        } else {
            Wake::Timeout
        };
        let wait = Wait {
            start,
            blocked: self.stats.wait_time - before.wait_time,
            timeout,
            fds_passed: self.stats.fds_passed - before.fds_passed,
            events: events.len(),
            woke,
            interrupted: self.interrupted,
        };
        if let Some(tracer) = self.tracer.as_mut() {
            tracer.begin_turn(wait);
        }
        result
    }

    /// Switches trace mode on for this selector (and syscall records on for the process),
    /// keeping the last turns up to `capacity` records. See [`crate::trace`].
    pub fn enable_trace(&mut self, capacity: usize) {
        iomux_sys::trace::enable();
        self.tracer = Some(Box::new(Tracer::new(self.kind, capacity)));
    }

    /// The trace so far, when trace mode is on.
    pub fn trace(&self) -> Option<&Tracer> {
        self.tracer.as_deref()
    }

    /// Takes the trace (ending its last turn), switching trace mode off for this selector.
    pub fn take_trace(&mut self) -> Option<Tracer> {
        let mut tracer = self.tracer.take()?;
        tracer.end_turn();
        Some(*tracer)
    }

    /// Tells the trace that the wait that began the running turn ended for a timer.
    pub(crate) fn trace_timer_wake(&mut self) {
        if let Some(tracer) = self.tracer.as_mut() {
            tracer.woke_for_timer();
        }
    }

    fn select_untraced(&mut self, events: &mut Events, timeout: Option<Duration>) -> Result<usize> {
        // One clock read serves as both the deadline's base and the first wait's start.
        let mut started = Instant::now();
        let deadline = timeout.and_then(|t| started.checked_add(t));
        let mut remaining = timeout;
        // Interrupted looks made with no time left: a few are retried, not for ever (a flood
        // of signals must not turn a zero timeout into a hang).
        let mut late_interruptions = 0;
        loop {
            events.list.clear();
            let mut wait_for = remaining;
            if !self.again.is_empty() {
                wait_for = Some(Duration::ZERO);
            }
            if let Some(emulation) = self.emulation.as_mut() {
                // Edges found before waiting are delivered now: the wait then only looks.
                if emulation.before_wait(
                    self.backend.as_dyn(),
                    &mut events.list,
                    &mut self.stats,
                )? {
                    wait_for = Some(Duration::ZERO);
                }
            }
            let result = self.backend.as_dyn().wait(
                &mut events.list,
                events.capacity,
                wait_for,
                &mut self.stats,
            );
            let now = Instant::now();
            self.stats.wait_calls += 1;
            self.stats.wait_time += now - started;
            let interrupted = match result {
                Ok(()) => false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    self.interrupted += 1;
                    true
                }
                Err(e) => return Err(e.into()),
            };
            let woken = self.take_waker_events(&mut events.list);
            if let Some(emulation) = self.emulation.as_mut() {
                emulation.after_wait(self.backend.as_dyn(), &events.list, &mut self.stats)?;
            }
            self.hand_back_still_ready(events);
            if woken || !events.list.is_empty() {
                self.stats.events_returned += events.list.len() as u64;
                return Ok(events.list.len());
            }
            // An interrupted wait has not looked: it looks again, with whatever time is left
            // (none, for a zero timeout or a deadline passed), so an empty answer always means
            // that nothing was ready.
            match (timeout, deadline) {
                (Some(_), Some(deadline)) if interrupted => {
                    let left = deadline.saturating_duration_since(now);
                    if left.is_zero() {
                        late_interruptions += 1;
                        if late_interruptions > MAX_LATE_INTERRUPTIONS {
                            return Ok(0);
                        }
                    }
                    remaining = Some(left);
                }
                _ if interrupted => {} // blocking: wait again
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

    /// Appends the events said to be [still ready](Self::still_ready), as many as `events`
    /// has room for (the rest wait for the next wait).
    fn hand_back_still_ready(&mut self, events: &mut Events) {
        if self.again.is_empty() {
            return;
        }
        // At least one: the list is served in order, so none of it waits for ever behind a
        // kernel that fills every wait.
        let room = events.capacity.saturating_sub(events.list.len()).max(1);
        let taken = room.min(self.again.len());
        // Taken out (moved, not copied) so the slots can be looked up while it drains.
        let mut again = std::mem::take(&mut self.again);
        for token in again.drain(..taken) {
            // A registration gone since (unregistered, or its fd registered anew) is not handed
            // back: its slot, if any, is another registration's.
            let Some(slot) = self.slot_mut(token_fd(token)).filter(|s| s.holds(token)) else {
                continue;
            };
            events
                .list
                .push(event(token, std::mem::take(&mut slot.again)));
        }
        self.again = again;
    }

    /// Keeps the emulation's view of a registration current, where the backend cannot do edge
    /// or one-shot triggering itself (see `emulate.rs`).
    fn emulate(&mut self, fd: RawFd, interest: Interest, token: u64) {
        let flagged = interest.is_edge() || interest.is_oneshot();
        if (!flagged && self.emulation.is_none()) || self.backend.as_ref().native_triggers() {
            return;
        }
        if interest.is_edge() || interest.is_oneshot() {
            self.emulation
                .get_or_insert_default()
                .set(fd, interest, token);
        } else if let Some(emulation) = self.emulation.as_mut() {
            emulation.set(fd, interest, token);
        }
    }

    /// A [`Waker`] for this selector (created on first use; later calls return clones).
    pub fn waker(&mut self) -> Result<Waker> {
        if let Some(w) = &self.waker {
            return Ok(w.clone());
        }
        let waker = Waker::new()?;
        let fd = waker.fd();
        if self.slot(fd).is_some() {
            return Err(Error::AlreadyRegistered { fd });
        }
        self.backend.as_dyn().register(
            fd,
            Interest::READ,
            token(fd, WAKER_GENERATION),
            &mut self.stats,
        )?;
        self.waker = Some(waker.clone());
        Ok(waker)
    }

    fn is_waker_fd(&self, fd: RawFd) -> bool {
        self.waker.as_ref().is_some_and(|w| w.fd() == fd)
    }

    /// Removes waker events from `list`, resetting the eventfd; returns whether there was one.
    fn take_waker_events(&mut self, list: &mut Vec<Event>) -> bool {
        let Some(waker) = &self.waker else {
            return false;
        };
        let is_waker = |e: &Event| token_generation(e.token) == WAKER_GENERATION;
        // A look first, nearly always all it takes: retain would rewrite every event.
        if !list.iter().any(is_waker) {
            return false;
        }
        list.retain(|e| !is_waker(e));
        waker.reset();
        self.woken = true;
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

    /// The descriptor of the kernel object this selector waits on: the epoll instance or the
    /// io_uring; `None` for select and poll. (Python's `EpollSelector.fileno()`.) It stays the
    /// selector's: do not close it.
    pub fn kernel_fd(&self) -> Option<RawFd> {
        self.backend.as_ref().kernel_fd()
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

// Each selector holds one backend, never a collection of them, so select's two inline 128-byte
// fd_sets cost nothing worth a pointer chase on every call.
#[allow(clippy::large_enum_variant)]
enum AnyBackend {
    Select(select::SelectBackend),
    Poll(poll::PollBackend),
    Epoll(epoll::EpollBackend),
    Uring(uring::UringBackend),
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
            BackendKind::IoUring => {
                AnyBackend::Uring(uring::UringBackend::new(uring::Trigger::Level)?)
            }
            BackendKind::IoUringEdge => {
                AnyBackend::Uring(uring::UringBackend::new(uring::Trigger::Edge)?)
            }
        })
    }

    fn as_ref(&self) -> &dyn Backend {
        match self {
            AnyBackend::Select(b) => b,
            AnyBackend::Poll(b) => b,
            AnyBackend::Epoll(b) => b,
            AnyBackend::Uring(b) => b,
        }
    }

    fn as_dyn(&mut self) -> &mut dyn Backend {
        match self {
            AnyBackend::Select(b) => b,
            AnyBackend::Poll(b) => b,
            AnyBackend::Epoll(b) => b,
            AnyBackend::Uring(b) => b,
        }
    }
}
