//! A callback event loop on a [`Selector`]: the shape of the course notes' `selectors` server.
//!
//! Register a source with an interest and a callback; [`EventLoop::run`] waits, and calls each
//! ready source's callback with the loop, the source and its readiness. The loop *owns* each
//! source: [`EventLoop::unregister`] (from inside a callback too) drops it, which closes it.
//! Timers run a closure once after a delay and can be cancelled; a [`StopHandle`] stops the loop
//! from another thread; a [`Notifier`] runs a callback on the loop when another thread asks,
//! and a [`channel`](EventLoop::channel) carries values from other threads into the loop (the
//! results of work done on a worker thread, such as a database query).
//!
//! A round allocates nothing: the event buffer is reused, and callbacks are called in place.
//!
//! A source can be *parked*: [`modify`](EventLoop::modify) with [`Interest::NONE`] takes it out
//! of the kernel's watch (so a persistent condition, such as a peer's end of stream, cannot
//! wake the loop again and again) while the loop keeps the source and its callback; modifying
//! it to a real interest watches it again. A connection waiting for an answer computed on
//! another thread parks this way.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::{TcpListener, TcpStream};
//! use iomux::{EventLoop, Interest};
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! listener.set_nonblocking(true)?;
//! let addr = listener.local_addr()?;
//! let mut lp = EventLoop::new()?;
//! lp.register(listener, Interest::READ, |lp, listener: &mut TcpListener, _| {
//!     let (conn, _) = listener.accept().expect("accept");
//!     conn.set_nonblocking(true).unwrap();
//!     lp.register(conn, Interest::READ, |lp, conn: &mut TcpStream, _| {
//!         let mut buf = [0; 1024];
//!         match conn.read(&mut buf) {
//!             Ok(0) | Err(_) => { lp.unregister_current(); }
//!             Ok(n) => { conn.write_all(&buf[..n].to_ascii_uppercase()).unwrap(); lp.stop(); }
//!         }
//!     }).unwrap();
//! })?;
//!
//! let mut client = TcpStream::connect(addr)?;
//! client.write_all(b"hi")?;
//! lp.run()?; // returns after the first reply, when the callback calls stop()
//! let mut reply = [0; 2];
//! client.read_exact(&mut reply)?;
//! assert_eq!(&reply, b"HI");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend_kind::BackendKind;
use crate::error::Result;
use crate::interest::{Interest, Readiness};
use crate::selector::{Event, Events, Selector, Stats, Waker};

mod cross_thread;
mod running;

pub use self::cross_thread::{Notifier, Sender};
use self::running::Running;

/// A registration's callback, which owns its source: the data the loop keeps with each
/// registration (in the selector, or in `parked`). Shared (`Rc`) so that a dispatch can hold
/// it while the callback borrows the loop mutably and leave the registration in place: no
/// taking it out of its slot and no second lookup to put it back (callgrind: that pair cost
/// about 20 instructions a dispatch). Unregistering from inside the callback drops the loop's
/// reference; the dispatch's, dropped when the callback returns, closes the source.
/// (The closure is boxed inside the `RefCell`: with the `RefCell` itself unsized, every call
/// would compute the closure's offset from its alignment, a dozen instructions.)
type Callback = Rc<RefCell<Box<dyn FnMut(&mut EventLoop, Readiness)>>>;
type TimerCallback = Box<dyn FnOnce(&mut EventLoop)>;

/// Identifies a timer, for [`EventLoop::cancel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(u64);

/// Stops an [`EventLoop`] from any thread: the loop finishes the callbacks of its current round
/// and [`run`](EventLoop::run) returns.
#[derive(Clone, Debug)]
pub struct StopHandle {
    stopped: Arc<AtomicBool>,
    waker: Waker,
}

impl StopHandle {
    /// Asks the loop to stop and wakes it if it is waiting.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        // A failed wake (the loop is gone) needs no report: there is nothing left to stop.
        let _ = self.waker.wake();
    }
}

/// A single-threaded callback event loop. See the [module docs](self).
pub struct EventLoop {
    selector: Selector<Callback>,
    events: Events,
    timers: BinaryHeap<Reverse<(Instant, TimerId)>>,
    timer_callbacks: HashMap<TimerId, TimerCallback>,
    next_timer: u64,
    stopped: Arc<AtomicBool>,
    waker: Waker,
    /// The source whose callback runs and its interest, so that re-asking for it costs no
    /// lookup.
    running: Running,
    /// When the current round's wait returned.
    now: Instant,
    /// Parked sources (see the [module docs](self)): out of the selector, kept by the loop.
    parked: HashMap<RawFd, Callback>,
}

impl EventLoop {
    /// A loop on the default selector (`IOMUX_BACKEND`, else epoll).
    pub fn new() -> Result<Self> {
        Self::with_backend(BackendKind::default_choice()?)
    }

    /// A loop on the given backend.
    pub fn with_backend(kind: BackendKind) -> Result<Self> {
        let mut selector = Selector::with_backend(kind)?;
        let waker = selector.waker()?;
        Ok(EventLoop {
            selector,
            events: Events::default(),
            timers: BinaryHeap::new(),
            timer_callbacks: HashMap::new(),
            next_timer: 0,
            stopped: Arc::new(AtomicBool::new(false)),
            waker,
            running: Running::NONE,
            now: Instant::now(),
            parked: HashMap::new(),
        })
    }

    /// The backend the loop waits with.
    pub fn backend(&self) -> BackendKind {
        self.selector.backend()
    }

    /// Hands `source` to the loop: when it is ready for `interest`, `callback` is called with the
    /// loop, the source and the readiness. Returns the source's fd, the name to modify or
    /// unregister it by. On error the source is dropped (closed) and the loop is unchanged.
    pub fn register<S, F>(
        &mut self,
        source: S,
        interest: Interest,
        mut callback: F,
    ) -> Result<RawFd>
    where
        S: AsRawFd + 'static,
        F: FnMut(&mut EventLoop, &mut S, Readiness) + 'static,
    {
        let fd = source.as_raw_fd();
        let mut source = source;
        let callback: Callback = Rc::new(RefCell::new(Box::new(
            move |lp: &mut EventLoop, readiness| callback(lp, &mut source, readiness),
        )));
        self.selector.register(fd, interest, callback)?;
        Ok(fd)
    }

    /// Changes what a registered source is watched for; [`Interest::NONE`] parks it (see the
    /// [module docs](self)). (Inlined: callbacks call it once per dispatch, and the
    /// unchanged-interest test is cheaper than the call.)
    #[inline(always)]
    pub fn modify(&mut self, fd: RawFd, interest: Interest) -> Result<()> {
        if self.running == Running::of(fd, interest) {
            return Ok(()); // the common case in a callback: nothing changes
        }
        self.change_interest(fd, interest)
    }

    /// [`modify`](Self::modify) when something changes (kept out of line, so that the
    /// unchanged case inlines into every callback).
    #[inline(never)]
    fn change_interest(&mut self, fd: RawFd, interest: Interest) -> Result<()> {
        let running = self.running.is(fd);
        if interest.is_empty() || !self.parked.is_empty() {
            self.park_or_unpark(fd, interest)?;
        } else {
            self.selector.set_interest(fd, interest)?;
        }
        if running {
            self.running = self.running.with_interest(interest);
        }
        Ok(())
    }

    #[cold]
    fn park_or_unpark(&mut self, fd: RawFd, interest: Interest) -> Result<()> {
        match (self.parked.remove(&fd), interest.is_empty()) {
            (Some(callback), true) => {
                self.parked.insert(fd, callback);
            }
            (Some(callback), false) => {
                self.selector.register(fd, interest, callback)?;
            }
            (None, true) => {
                let key = self.selector.unregister(fd)?;
                self.parked.insert(fd, key.into_data());
            }
            (None, false) => self.selector.set_interest(fd, interest)?,
        }
        Ok(())
    }

    /// Says that the source `fd` was left with more to read (a callback read its share and
    /// moved on, as the connection core does: [`Transfer::more_to_read`](crate::conn::Transfer)):
    /// its callback runs again next round with `readiness`, on an edge-triggered backend too.
    /// See [`Selector::still_ready`].
    pub fn still_ready(&mut self, fd: RawFd, readiness: Readiness) {
        self.selector.still_ready(fd, readiness);
    }

    /// Stops watching `fd` and drops its source and callback (closing the source). From inside
    /// that source's own callback, the drop happens when the callback returns.
    pub fn unregister(&mut self, fd: RawFd) -> Result<()> {
        if self.running.is(fd) {
            self.running = self.running.forget_interest();
        }
        if self.parked.remove(&fd).is_some() {
            return Ok(());
        }
        self.selector.unregister(fd).map(drop)
    }

    /// The fds of every registered source (parked ones too), in fd order.
    pub fn registered_fds(&self) -> Vec<RawFd> {
        let mut fds: Vec<RawFd> = self.selector.keys().map(|k| k.fd()).collect();
        fds.extend(self.parked.keys());
        fds.sort_unstable();
        fds
    }

    /// When the current round's wait returned: one clock read per round, which callbacks can
    /// use as "now" (for activity stamps) instead of reading the clock each.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The fd whose callback is running, if any.
    pub fn current_fd(&self) -> Option<RawFd> {
        self.running.fd()
    }

    /// Unregisters the source whose callback is running (no-op outside a callback or if done).
    pub fn unregister_current(&mut self) {
        if let Some(fd) = self.running.fd() {
            let _ = self.unregister(fd);
        }
    }

    /// Runs `callback` once, after `delay` (on the first loop round at or after that time).
    pub fn call_later(
        &mut self,
        delay: Duration,
        callback: impl FnOnce(&mut EventLoop) + 'static,
    ) -> TimerId {
        let id = TimerId(self.next_timer);
        self.next_timer += 1;
        let due = Instant::now() + delay;
        self.timers.push(Reverse((due, id)));
        self.timer_callbacks.insert(id, Box::new(callback));
        id
    }

    /// Cancels a timer; returns whether it was still pending.
    pub fn cancel(&mut self, timer: TimerId) -> bool {
        self.timer_callbacks.remove(&timer).is_some()
    }

    /// Makes [`run`](Self::run) return after the current round.
    pub fn stop(&mut self) {
        self.stopped.store(true, Ordering::Release);
    }

    /// A handle that stops the loop from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            stopped: self.stopped.clone(),
            waker: self.waker.clone(),
        }
    }

    /// How many sources are registered (parked ones too).
    pub fn len(&self) -> usize {
        self.selector.len() + self.parked.len()
    }

    /// Whether no source is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The selector's cost counters.
    pub fn stats(&self) -> Stats {
        self.selector.stats()
    }

    /// Switches trace mode on (see [`crate::trace`]), keeping the last turns up to
    /// `capacity` records.
    pub fn enable_trace(&mut self, capacity: usize) {
        self.selector.enable_trace(capacity);
    }

    /// Takes the trace so far, switching trace mode off.
    pub fn take_trace(&mut self) -> Option<crate::trace::Tracer> {
        self.selector.take_trace()
    }

    /// Runs rounds until [`stop`](Self::stop) or a [`StopHandle`] is called. A stop requested
    /// before `run` makes it return at once; the request is consumed on return.
    pub fn run(&mut self) -> Result<()> {
        while !self.stopped.load(Ordering::Acquire) {
            self.run_once(None)?;
        }
        self.stopped.store(false, Ordering::Release);
        Ok(())
    }

    /// One round: wait (at most `timeout`, and no later than the next timer), call the ready
    /// sources' callbacks, then the due timers. Returns how many callbacks ran.
    pub fn run_once(&mut self, timeout: Option<Duration>) -> Result<usize> {
        let timeout = self.wait_timeout(timeout);
        // Taken out (an empty `Events` allocates nothing) so callbacks can borrow the loop;
        // put back after the round, so its memory is reused by every round.
        let mut events = std::mem::take(&mut self.events);
        let waited = self.selector.select(&mut events, timeout);
        self.now = Instant::now();
        let mut ran = 0;
        if waited.is_ok() {
            // Counted by the events skipped, off the common path (an add per dispatch otherwise).
            let mut skipped = 0;
            for event in &events {
                if !self.dispatch(event) {
                    skipped += 1;
                }
            }
            ran = events.len() - skipped;
        }
        self.events = events;
        waited?;
        let timers = self.run_due_timers();
        if timers > 0 && ran == 0 {
            self.selector.trace_timer_wake();
        }
        Ok(ran + timers)
    }

    fn wait_timeout(&mut self, timeout: Option<Duration>) -> Option<Duration> {
        // Drop cancelled timers from the top so they do not cut waits short.
        while let Some(Reverse((_, id))) = self.timers.peek() {
            if self.timer_callbacks.contains_key(id) {
                break;
            }
            self.timers.pop();
        }
        let until_timer = self
            .timers
            .peek()
            .map(|Reverse((due, _))| due.saturating_duration_since(Instant::now()));
        match (timeout, until_timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn dispatch(&mut self, event: &Event) -> bool {
        let Some((key, readiness)) = self.selector.resolve_mut(event) else {
            return false;
        };
        let interest = key.interest();
        let callback = Rc::clone(key.data());
        // Busy only if a callback runs a round of its own loop (`run_once` from inside a
        // callback) and that round reaches the same source: it is skipped there.
        let Ok(mut call) = callback.try_borrow_mut() else {
            return false;
        };
        // Restored after, not cleared: a round run inside a callback must leave the outer
        // callback's `modify` and `unregister_current` naming the outer source.
        let outer = std::mem::replace(&mut self.running, Running::dispatched(event.fd(), interest));
        call(self, readiness);
        self.running = outer;
        true
    }

    fn run_due_timers(&mut self) -> usize {
        // No clock read on a round without timers: with one busy connection every message is
        // a round (callgrind, 1 connection × 64 B: 823 -> 794 instructions a message).
        if self.timers.is_empty() {
            return 0;
        }
        let now = Instant::now();
        let mut ran = 0;
        while let Some(Reverse((due, id))) = self.timers.peek().copied() {
            if due > now {
                break;
            }
            self.timers.pop();
            if let Some(callback) = self.timer_callbacks.remove(&id) {
                callback(self);
                ran += 1;
            }
        }
        ran
    }
}

impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop")
            .field("selector", &self.selector)
            .field("timers", &self.timer_callbacks.len())
            .finish()
    }
}
