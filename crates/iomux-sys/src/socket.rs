//! Socket calls the standard library does not offer in the form we need.
use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr;

use crate::cvt::cvt;

/// `accept4(SOCK_NONBLOCK | SOCK_CLOEXEC)`: one syscall where `accept` + `set_nonblocking` take
/// two. The peer address is not asked for (call `peer_addr` when it is needed).
///
/// `EMFILE`/`ENFILE` come back as errors like any other; see the servers for how not to spin.
pub fn accept_nonblocking(listener: &TcpListener) -> io::Result<TcpStream> {
    // SAFETY: listener is a live socket; null address pointers ask the kernel not to store the
    // peer address, which accept4 allows.
    let raw = cvt(unsafe {
        libc::accept4(
            listener.as_raw_fd(),
            ptr::null_mut(),
            ptr::null_mut(),
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    })?;
    // SAFETY: raw is a new connected socket returned by accept4, owned by nothing else.
    Ok(TcpStream::from(unsafe { OwnedFd::from_raw_fd(raw) }))
}

/// Whether an `accept` error means the process or system ran out of descriptors (or memory for
/// one): the listener stays readable, so a readiness loop must back off instead of retrying.
pub fn is_fd_exhaustion(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Whether an `accept` error concerns only the connection being accepted (it was reset or
/// aborted before we took it), so the next accept may well succeed.
pub fn is_transient_accept_error(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(
            libc::ECONNABORTED
                | libc::EPROTO
                | libc::EPERM
                | libc::ENETDOWN
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
        )
    )
}
