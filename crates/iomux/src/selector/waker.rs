//! [`Waker`]: interrupts a selector's wait from another thread.
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use iomux_sys::eventfd::EventFd;

/// Wakes a [`Selector`](super::Selector) blocked in [`select`](super::Selector::select) from
/// any thread. Cheap to clone.
///
/// Backed by an eventfd registered in the selector; waking signals it, and the selector drains
/// it before returning, so a wake is never reported as an event.
#[derive(Clone, Debug)]
pub struct Waker {
    eventfd: Arc<EventFd>,
}

impl Waker {
    pub(super) fn new() -> io::Result<Waker> {
        Ok(Waker {
            eventfd: Arc::new(EventFd::new()?),
        })
    }

    /// Makes the selector's current or next `select` return (possibly with no events).
    /// Several wakes before the selector runs collapse into one.
    pub fn wake(&self) -> io::Result<()> {
        self.eventfd.signal()
    }

    /// Resets the wake (after the selector saw it).
    pub(super) fn reset(&self) {
        // Nothing to take means another thread's wake was consumed already: not an error.
        let _ = self.eventfd.drain();
    }

    pub(super) fn fd(&self) -> RawFd {
        self.eventfd.as_raw_fd()
    }
}
