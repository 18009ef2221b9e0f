//! # iomux: one selectors-style API over select, poll, epoll and io_uring
//!
//! iomux is the readiness layer of a server, built so that its mechanisms can be compared: one
//! [`Selector`] API (register / modify / unregister / select, with data of your type per
//! registration, as in Python's `selectors`) over backends chosen **at run time** — `select`,
//! `poll`, `epoll` level-triggered and `epoll-et` edge-triggered, and io_uring polls
//! (`io-uring`, `io-uring-et`) — plus a callback [`EventLoop`] on top, an [`OutBuffer`] for
//! partial writes and backpressure, and the connection core ([`conn`]) every iomux server
//! model drives.
//!
//! ```
//! use iomux::{BackendKind, Selector};
//! // Pick by name (as IOMUX_BACKEND or a CLI flag would), or let Selector::new() choose.
//! let sel: Selector<()> = Selector::with_backend("poll".parse()?)?;
//! assert_eq!(sel.backend(), BackendKind::Poll);
//! assert!(BackendKind::supported().contains(&BackendKind::Epoll));
//! # Ok::<(), iomux::Error>(())
//! ```
//!
//! ## How the mechanisms work, and what they cost
//! **select(2)** takes three bitmaps (`fd_set`) of `FD_SETSIZE` = 1024 bits — read, write,
//! except — and the highest fd plus one. On every call the kernel copies the bitmaps in, polls
//! each fd below that number, writes the ready subset back over the bitmaps and copies them out;
//! the caller then scans every bit to find the ready ones. Cost per call: O(highest fd), however
//! few are ready. An fd of 1024 or more cannot be expressed at all (writing its bit corrupts
//! memory in C); this library refuses it at registration with [`Error::FdTooLarge`].
//!
//! **poll(2)** takes an array of `(fd, events)` and writes results into a separate `revents`
//! field, so there is no fd-number limit and no rebuilding. But the whole array is still copied
//! in and out and every entry polled on every call: O(registered fds) per call.
//!
//! **epoll(7)** splits registration from waiting. `epoll_ctl` adds an fd to an interest list kept
//! in the kernel, once; the kernel hooks the fd's wait queue so that readiness puts it on a
//! *ready list*. `epoll_wait` then copies out just the ready list: O(ready fds) per call, flat
//! in the number registered. (The course notes say epoll hands events over through `mmap`ed
//! shared memory; it does not — `epoll_wait` copies them to the caller's array.)
//! *Level-triggered* (the default) re-reports an fd on every wait while it stays ready, like
//! poll. *Edge-triggered* reports it when it becomes ready (each new arrival), so the caller must
//! drain it (read or write until `WouldBlock`) before waiting again; it saves the repeated
//! reports, not the syscalls the draining costs, so it is faster only in some workloads.
//!
//! Each selector counts what it costs ([`Stats`]): wait calls, events, fds handed to the kernel
//! per wait (the whole set for select and poll, none for epoll), `epoll_ctl` calls and time in the
//! wait syscall.
//!
//! ## Where unsafe lives
//! Nowhere in this crate (`#![forbid(unsafe_code)]`): every syscall goes through the typed
//! wrappers of the `iomux-sys` crate, each `unsafe` block there with its `// SAFETY:` argument.
#![cfg(target_os = "linux")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod backend_kind;
pub mod buffer;
pub mod conn;
mod error;
pub mod event_loop;
mod interest;
pub mod selector;
pub mod trace;

pub use backend_kind::{BackendKind, UnknownBackend, BACKEND_ENV};
pub use buffer::{Flush, OutBuffer, ReadBuffer};
pub use error::{Error, Result};
pub use event_loop::{EventLoop, Notifier, Sender, StopHandle, TimerId};
pub use interest::{Interest, Readiness};
pub use selector::{Descriptor, Event, Events, Selector, SelectorKey, Stats, Waker, FD_SETSIZE};
