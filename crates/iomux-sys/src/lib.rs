//! The one crate of iomux that may use `unsafe`.
//!
//! Every syscall iomux makes that the standard library does not already wrap safely goes through a
//! function here, and each of those functions has a safe signature: callers hand in typed values
//! (`BorrowedFd`, slices, `Duration`) and get `io::Result`s back, never raw pointers. Every `unsafe`
//! block carries a `// SAFETY:` comment saying why the call is sound.
//!
//! Return values become errors in exactly one place, [`cvt`]. The EINTR policy is *not* decided
//! here: a wrapper returns `ErrorKind::Interrupted` like any other error, and the caller that knows
//! the deadline (the selector) retries with the time that is left.
//!
//! Linux only: epoll and eventfd do not exist elsewhere, and the whole project targets Linux.
#![cfg(target_os = "linux")]
#![deny(missing_docs)]

pub mod cvt;
pub mod epoll;
pub mod eventfd;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod fd;
pub mod poll;
pub mod process;
mod raw;
pub mod seccomp;
pub mod select;
pub mod socket;
pub mod trace;
pub mod uring;

mod time;
