//! Accepting, written once for every model: how each `accept` error is classified, when to
//! pause, when to resume, and when to say so.
//!
//! | outcome of `accept4` | meaning | what the model does |
//! |---|---|---|
//! | a connection | | serve it |
//! | `EAGAIN` | the backlog is empty | wait for the listener to be readable again |
//! | `EINTR`, or an error of that one connection (`ECONNABORTED`, `EPROTO`, ...) | the next one may work | accept again at once (each such error took a connection off the backlog, so this ends) |
//! | `EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM` | out of descriptors or memory | **pause**: the listener stays readable, so retrying at once would spin at 100% CPU |
//! | any other error | something persistent | pause as well: never spin on it |
//! | `--max-conns` reached | | pause without accepting |
//!
//! A paused model stops watching the listener (pending clients wait in the kernel's backlog)
//! and resumes after [`ACCEPT_RETRY`], or at once when one of its own connections closes and
//! so frees a descriptor and a `--max-conns` place. A warning is printed once per episode of
//! trouble, not once per failed accept.
use std::io;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use tracing::warn;

use crate::shutdown::ConnLimit;

/// How long a paused listener waits before it looks again.
pub const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// What one [`Acceptor::accept`] got.
#[derive(Debug)]
pub enum Accepted {
    /// A new connection, non-blocking, with `TCP_NODELAY` set.
    Conn(TcpStream),
    /// The backlog is empty.
    Drained,
    /// Accepting is paused (out of descriptors, `--max-conns`, a persistent error): stop
    /// watching the listener until [`Acceptor::resume_due`] says to look again.
    Paused,
}

/// The accept state of one listener. See the [module docs](self).
#[derive(Debug, Default)]
pub struct Acceptor {
    /// When to look again, while paused.
    retry_at: Option<Instant>,
    /// The current episode of trouble has been reported.
    warned: bool,
}

impl Acceptor {
    /// Accepts one connection, classifying the errors as the [module docs](self) say.
    pub fn accept(&mut self, listener: &TcpListener, limit: &ConnLimit, now: Instant) -> Accepted {
        loop {
            if limit.is_full() {
                return self.pause(now);
            }
            match iomux_sys::socket::accept_nonblocking(listener) {
                Ok(stream) => {
                    self.succeeded();
                    // Small answers go out at once; a failure here only costs latency.
                    let _ = stream.set_nodelay(true);
                    return Accepted::Conn(stream);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Accepted::Drained,
                Err(e) => {
                    if let Some(outcome) = self.failed(&e, now) {
                        return outcome;
                    }
                }
            }
        }
    }

    /// An accept succeeded (by `accept4` or a completion): the episode of trouble is over.
    pub fn succeeded(&mut self) {
        self.warned = false;
    }

    /// An accept failed with `e` (from `accept4`, or a multishot accept's completion):
    /// `None` means try again at once (`EINTR`, an error of that one connection); otherwise
    /// accepting pauses, and the first failure of an episode is reported.
    pub fn failed(&mut self, e: &io::Error, now: Instant) -> Option<Accepted> {
        if e.kind() == io::ErrorKind::Interrupted || iomux_sys::socket::is_transient_accept_error(e)
        {
            return None;
        }
        if !self.warned {
            self.warned = true;
            let why = if iomux_sys::socket::is_fd_exhaustion(e) {
                "out of descriptors"
            } else {
                "accept keeps failing"
            };
            warn!("accept: {e}: {why}; pausing accepts (retrying every {ACCEPT_RETRY:?} and whenever a connection closes); existing clients are still served");
        }
        Some(self.pause(now))
    }

    /// Pauses because `--max-conns` is reached.
    pub fn pause_full(&mut self, now: Instant) {
        self.pause(now);
    }

    fn pause(&mut self, now: Instant) -> Accepted {
        self.retry_at = Some(now + ACCEPT_RETRY);
        Accepted::Paused
    }

    /// Whether accepting is paused.
    pub fn is_paused(&self) -> bool {
        self.retry_at.is_some()
    }

    /// When a paused acceptor wants to look again (a deadline for the model's wait).
    pub fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// Whether a pause is over: then the model watches the listener again and accepts.
    pub fn resume_due(&mut self, now: Instant) -> bool {
        if self.retry_at.is_some_and(|t| now >= t) {
            self.retry_at = None;
            return true;
        }
        false
    }

    /// One of this listener's connections closed: a descriptor and a `--max-conns` place came
    /// free, so a pause ends at once.
    pub fn on_close(&mut self, now: Instant) {
        if self.retry_at.is_some() {
            self.retry_at = Some(now);
        }
    }

    /// Ends any pause for good (shutdown: the listener is closed).
    pub fn stop(&mut self) {
        self.retry_at = None;
    }
}
