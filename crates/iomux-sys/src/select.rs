//! `select(2)` and a bounds-checked `fd_set`.
//!
//! An `fd_set` is a fixed bitmap of [`FD_SETSIZE`] (1024) bits. The C macros `FD_SET`/`FD_ISSET`
//! do no bounds check, so setting bit 1500 writes past the end of the structure: memory
//! corruption, the classic select bug. [`FdSet::insert`] refuses such descriptors, and [`select`]
//! refuses an `nfds` larger than the set, so the kernel never reads past it either.
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::ptr;
use std::time::Duration;

use crate::cvt::cvt;

/// The number of descriptors an `fd_set` can hold: descriptors `0..FD_SETSIZE`.
pub const FD_SETSIZE: usize = libc::FD_SETSIZE;

/// A descriptor that does not fit in an `fd_set`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdOutOfRange(pub RawFd);

/// A safe, bounds-checked `fd_set`.
///
/// ```
/// use iomux_sys::select::{FdSet, FdOutOfRange, FD_SETSIZE};
/// let mut set = FdSet::new();
/// set.insert(3).unwrap();
/// assert!(set.contains(3) && !set.contains(4));
/// // The classic select bug, refused instead of writing past the bitmap:
/// assert_eq!(set.insert(FD_SETSIZE as i32), Err(FdOutOfRange(1024)));
/// assert_eq!(set.insert(-1), Err(FdOutOfRange(-1)));
/// ```
#[derive(Clone, Copy)]
pub struct FdSet(libc::fd_set);

impl FdSet {
    /// The empty set.
    pub fn new() -> Self {
        // SAFETY: fd_set is a plain array of integers; the all-zero pattern is a valid value and
        // is exactly what FD_ZERO produces (the empty set).
        FdSet(unsafe { MaybeUninit::<libc::fd_set>::zeroed().assume_init() })
    }

    fn check(fd: RawFd) -> Result<(), FdOutOfRange> {
        if fd < 0 || fd as usize >= FD_SETSIZE {
            Err(FdOutOfRange(fd))
        } else {
            Ok(())
        }
    }

    /// Adds `fd`; refuses descriptors outside `0..FD_SETSIZE`.
    pub fn insert(&mut self, fd: RawFd) -> Result<(), FdOutOfRange> {
        Self::check(fd)?;
        // SAFETY: fd is in 0..FD_SETSIZE (checked above), so FD_SET writes inside the bitmap.
        unsafe { libc::FD_SET(fd, &mut self.0) };
        Ok(())
    }

    /// Removes `fd`; out-of-range descriptors are never members, so this is then a no-op.
    pub fn remove(&mut self, fd: RawFd) {
        if Self::check(fd).is_ok() {
            // SAFETY: fd is in 0..FD_SETSIZE, so FD_CLR writes inside the bitmap.
            unsafe { libc::FD_CLR(fd, &mut self.0) };
        }
    }

    /// Whether `fd` is a member.
    pub fn contains(&self, fd: RawFd) -> bool {
        if Self::check(fd).is_err() {
            return false;
        }
        // SAFETY: fd is in 0..FD_SETSIZE, so FD_ISSET reads inside the bitmap.
        unsafe { libc::FD_ISSET(fd, &self.0) }
    }
}

impl Default for FdSet {
    fn default() -> Self {
        Self::new()
    }
}

/// `select(nfds, read, write, except, timeout)`: waits until a descriptor below `nfds` in one of the
/// sets is ready, and leaves only the ready ones in the sets. Returns how many bits are set.
///
/// `nfds` above [`FD_SETSIZE`] is refused with `InvalidInput` (the kernel would read past the sets).
/// `None` as the timeout blocks; the timeout is rounded up to whole microseconds.
pub fn select(
    nfds: usize,
    read: Option<&mut FdSet>,
    write: Option<&mut FdSet>,
    except: Option<&mut FdSet>,
    timeout: Option<Duration>,
) -> io::Result<usize> {
    if nfds > FD_SETSIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "select: nfds is larger than FD_SETSIZE",
        ));
    }
    #[cfg(feature = "fault-injection")]
    if crate::fault::spurious_wait()? {
        // As the kernel would leave them after a wait that found nothing: empty.
        for set in [read, write, except].into_iter().flatten() {
            *set = FdSet::new();
        }
        return Ok(0);
    }
    let as_ptr = |s: Option<&mut FdSet>| s.map_or(ptr::null_mut(), |s| &mut s.0 as *mut _);
    let mut tv = crate::time::timeval(timeout);
    let tv_ptr = tv
        .as_mut()
        .map_or(ptr::null_mut(), |t| t as *mut libc::timeval);
    // SAFETY: each set pointer is null or points to a live, exclusively borrowed fd_set of
    // FD_SETSIZE bits, and nfds <= FD_SETSIZE so the kernel touches no bit beyond them; tv_ptr is
    // null or points to a timeval that lives until the call returns.
    let n = cvt(unsafe {
        libc::select(
            nfds as libc::c_int,
            as_ptr(read),
            as_ptr(write),
            as_ptr(except),
            tv_ptr,
        )
    })?;
    Ok(n as usize)
}
