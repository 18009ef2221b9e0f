//! What a caller asks to be told about ([`Interest`]) and what the kernel said ([`Readiness`]).
use std::fmt;
use std::ops::BitOr;

/// The events a registration asks for: [`Interest::READ`], [`Interest::WRITE`] or both
/// (`Interest::READ | Interest::WRITE`). Python's `EVENT_READ` and `EVENT_WRITE`.
///
/// Errors and hang-ups need no interest: they are always reported.
///
/// Two modifiers set how a registration is reported, on every backend (natively on epoll and
/// io_uring, emulated on select and poll; see `selector/emulate.rs` for what emulation can and
/// cannot promise):
/// - [`edge`](Self::edge): once per readiness change — a new arrival of data, new buffer space
///   after the socket was full — rather than on every wait while ready. Read or write until
///   `WouldBlock` before waiting again.
/// - [`oneshot`](Self::oneshot): at most one report, after which the registration is silent
///   until it is [modified](crate::Selector::set_interest) again (even to the same interest).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interest(u8);

impl Interest {
    /// Tell me when a read would not block (data, a new connection, end of stream or an error).
    pub const READ: Interest = Interest(0b01);
    /// Tell me when a write would not block (buffer space, or an error).
    pub const WRITE: Interest = Interest(0b10);
    /// Both directions.
    pub const BOTH: Interest = Interest(0b11);
    /// Nothing. A [`Selector`](crate::Selector) refuses it; an
    /// [`EventLoop`](crate::EventLoop) takes it to mean "park this source": watch nothing (not
    /// even errors) until asked again, keeping the source and its callback.
    pub const NONE: Interest = Interest(0);

    const DIRECTIONS: u8 = 0b0011;
    const EDGE: u8 = 0b0100;
    const ONESHOT: u8 = 0b1000;

    /// The same interest, reported edge-triggered (see the type's docs).
    pub const fn edge(self) -> Interest {
        Interest(self.0 | Self::EDGE)
    }
    /// The same interest, reported at most once until modified (see the type's docs).
    pub const fn oneshot(self) -> Interest {
        Interest(self.0 | Self::ONESHOT)
    }
    /// Asks for edge-triggered reports.
    pub const fn is_edge(self) -> bool {
        self.0 & Self::EDGE != 0
    }
    /// Asks for one report at a time.
    pub const fn is_oneshot(self) -> bool {
        self.0 & Self::ONESHOT != 0
    }
    /// The directions alone, without the modifiers.
    pub const fn directions(self) -> Interest {
        Interest(self.0 & Self::DIRECTIONS)
    }

    /// Asks for readability.
    pub const fn is_readable(self) -> bool {
        self.0 & Self::READ.0 != 0
    }
    /// Asks for writability.
    pub const fn is_writable(self) -> bool {
        self.0 & Self::WRITE.0 != 0
    }
    /// Asks for no direction (whatever the modifiers); registering that is an error.
    pub const fn is_empty(self) -> bool {
        self.0 & Self::DIRECTIONS == 0
    }
    /// This interest plus `other`.
    pub const fn add(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }
    /// This interest without `other` (possibly empty).
    pub const fn remove(self, other: Interest) -> Interest {
        Interest(self.0 & !other.0)
    }
    /// The raw bits, for packing an interest beside an fd.
    pub(crate) const fn bits(self) -> u8 {
        self.0
    }
}

impl BitOr for Interest {
    type Output = Interest;
    fn bitor(self, rhs: Interest) -> Interest {
        self.add(rhs)
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_readable(), self.is_writable()) {
            (true, true) => f.write_str("READ | WRITE")?,
            (true, false) => f.write_str("READ")?,
            (false, true) => f.write_str("WRITE")?,
            (false, false) => f.write_str("(empty)")?,
        }
        if self.is_edge() {
            f.write_str(" | EDGE")?;
        }
        if self.is_oneshot() {
            f.write_str(" | ONESHOT")?;
        }
        Ok(())
    }
}

/// What a wait found for one descriptor.
///
/// Besides readable and writable it carries the conditions no caller asks for but every caller
/// must hear about: an error on the socket, and a hang-up. They are reported even on a
/// registration for [`Interest::WRITE`] alone, so a writer learns that its peer is gone.
/// `select(2)` cannot tell them apart from plain readiness: on that backend an error shows up as
/// readable and/or writable, and the following read or write returns it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Readiness(u8);

impl Readiness {
    pub(crate) const READABLE: u8 = 1;
    pub(crate) const WRITABLE: u8 = 2;
    pub(crate) const ERROR: u8 = 4;
    pub(crate) const HANGUP: u8 = 8;
    pub(crate) const READ_CLOSED: u8 = 16;

    pub(crate) const fn from_bits(bits: u8) -> Readiness {
        Readiness(bits)
    }

    /// A read will not block.
    pub const fn is_readable(self) -> bool {
        self.0 & Self::READABLE != 0
    }
    /// A write will not block.
    pub const fn is_writable(self) -> bool {
        self.0 & Self::WRITABLE != 0
    }
    /// The descriptor has a pending error (`EPOLLERR`/`POLLERR`), or is not open (`POLLNVAL`, or
    /// `EBADF` from select).
    pub const fn is_error(self) -> bool {
        self.0 & Self::ERROR != 0
    }
    /// Both directions are shut (`EPOLLHUP`/`POLLHUP`): the peer is gone.
    pub const fn is_hangup(self) -> bool {
        self.0 & Self::HANGUP != 0
    }
    /// The peer shut its writing side (`EPOLLRDHUP`): reads will return end of stream once the
    /// buffered data is consumed. Only reported on registrations that include [`Interest::READ`].
    pub const fn is_read_closed(self) -> bool {
        self.0 & Self::READ_CLOSED != 0
    }
    /// No condition at all.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// Error or hang-up: the condition that ends a connection.
    pub const fn is_error_or_hangup(self) -> bool {
        self.0 & (Self::ERROR | Self::HANGUP) != 0
    }
    /// Every condition of both.
    pub(crate) const fn union(self, other: Readiness) -> Readiness {
        Readiness(self.0 | other.0)
    }
    /// Keeps readable/writable only where `interest` asks for them; errors and hang-ups stay.
    pub(crate) const fn masked_by(self, interest: Interest) -> Readiness {
        let mut keep = Self::ERROR | Self::HANGUP;
        if interest.is_readable() {
            keep |= Self::READABLE | Self::READ_CLOSED;
        }
        if interest.is_writable() {
            keep |= Self::WRITABLE;
        }
        Readiness(self.0 & keep)
    }
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Self::READABLE, "READABLE"),
            (Self::WRITABLE, "WRITABLE"),
            (Self::ERROR, "ERROR"),
            (Self::HANGUP, "HANGUP"),
            (Self::READ_CLOSED, "READ_CLOSED"),
        ];
        let mut first = true;
        for (bit, name) in names {
            if self.0 & bit != 0 {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("(none)")?;
        }
        Ok(())
    }
}
