//! The selector's typed errors.
use std::fmt;
use std::io;
use std::os::fd::RawFd;

use crate::backend_kind::{BackendKind, UnknownBackend};

/// Everything a [`Selector`](crate::Selector) operation can fail with.
///
/// Each variant says what went wrong in terms of the caller's request; the kernel's own errors
/// come as [`Error::Io`]. Converts into `io::Error` (keeping the message) so `?` works in
/// functions that return `io::Result`.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// `register` on a descriptor that is registered already (Python's `KeyError`).
    AlreadyRegistered {
        /// The descriptor.
        fd: RawFd,
    },
    /// `modify`, `unregister` or a lookup on a descriptor that is not registered.
    NotRegistered {
        /// The descriptor.
        fd: RawFd,
    },
    /// A registration that asks for neither READ nor WRITE (Python's `ValueError`).
    EmptyInterest {
        /// The descriptor.
        fd: RawFd,
    },
    /// The descriptor is negative or not open.
    InvalidFd {
        /// The descriptor.
        fd: RawFd,
    },
    /// The select backend cannot watch descriptors at or above `FD_SETSIZE`.
    FdTooLarge {
        /// The descriptor.
        fd: RawFd,
        /// `FD_SETSIZE`, 1024 on Linux.
        limit: usize,
    },
    /// The backend cannot watch this kind of file (epoll refuses regular files and directories
    /// with `EPERM`).
    NotPollable {
        /// The descriptor.
        fd: RawFd,
    },
    /// `IOMUX_BACKEND` or a command-line flag named no backend iomux knows.
    UnknownBackend(UnknownBackend),
    /// The backend exists but cannot run on this machine.
    Unsupported {
        /// The backend.
        backend: BackendKind,
        /// Why.
        reason: String,
    },
    /// A syscall failed.
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::AlreadyRegistered { fd } => write!(f, "fd {fd} is already registered"),
            Error::NotRegistered { fd } => write!(f, "fd {fd} is not registered"),
            Error::EmptyInterest { fd } => {
                write!(f, "fd {fd}: the interest is empty; ask for READ, WRITE or both")
            }
            Error::InvalidFd { fd } => write!(f, "fd {fd} is not an open file descriptor"),
            Error::FdTooLarge { fd, limit } => write!(
                f,
                "fd {fd} is at or above FD_SETSIZE ({limit}): select(2) cannot watch it; \
                 use the poll or epoll backend instead (e.g. IOMUX_BACKEND=epoll)"
            ),
            Error::NotPollable { fd } => write!(
                f,
                "fd {fd} cannot be watched by epoll (regular files and directories are always ready)"
            ),
            Error::UnknownBackend(e) => write!(f, "{e}"),
            Error::Unsupported { backend, reason } => {
                let working: Vec<&str> = BackendKind::supported()
                    .into_iter()
                    .map(BackendKind::name)
                    .collect();
                write!(
                    f,
                    "the {} backend is not available here: {reason}; backends that work here: {}",
                    backend.name(),
                    working.join(", ")
                )
            }
            Error::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<UnknownBackend> for Error {
    fn from(e: UnknownBackend) -> Self {
        Error::UnknownBackend(e)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(e) => e,
            other => {
                let kind = match other {
                    Error::AlreadyRegistered { .. } => io::ErrorKind::AlreadyExists,
                    Error::NotRegistered { .. } => io::ErrorKind::NotFound,
                    Error::Unsupported { .. } | Error::NotPollable { .. } => {
                        io::ErrorKind::Unsupported
                    }
                    _ => io::ErrorKind::InvalidInput,
                };
                io::Error::new(kind, other.to_string())
            }
        }
    }
}

/// `Result` with the selector's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
