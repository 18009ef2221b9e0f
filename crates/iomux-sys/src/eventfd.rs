//! `eventfd(2)`: a kernel counter behind a descriptor, the cheapest way to wake a waiting thread.
use std::fs::File;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use crate::cvt::cvt;

/// Creates a non-blocking, close-on-exec eventfd with a zero counter, as a `File`: writing 8
/// native-endian bytes adds to the counter, reading 8 bytes takes it and resets it to zero.
pub fn eventfd() -> io::Result<File> {
    // SAFETY: eventfd takes an initial value and a flag word; no pointers.
    let raw = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    // SAFETY: raw is a fresh descriptor returned by eventfd, owned by nothing else.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(raw) }))
}

/// Like [`eventfd`], in semaphore mode (`EFD_SEMAPHORE`): each read takes 1 from the counter
/// (returning 1) instead of all of it, so N writes make N reads, as N bytes in a pipe would.
pub fn eventfd_semaphore() -> io::Result<File> {
    // SAFETY: eventfd takes an initial value and a flag word; no pointers.
    let raw = cvt(unsafe {
        libc::eventfd(
            0,
            libc::EFD_CLOEXEC | libc::EFD_NONBLOCK | libc::EFD_SEMAPHORE,
        )
    })?;
    // SAFETY: raw is a fresh descriptor returned by eventfd, owned by nothing else.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(raw) }))
}
