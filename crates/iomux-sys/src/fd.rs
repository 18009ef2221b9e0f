//! Small questions about file descriptors.
use std::os::fd::RawFd;

/// Whether `fd` names an open file description in this process (`fcntl(fd, F_GETFD)` succeeds).
///
/// Used to validate registrations on backends whose registration makes no syscall (select, poll),
/// and to find which descriptor made `select(2)` fail with `EBADF`.
pub fn is_open(fd: RawFd) -> bool {
    if fd < 0 {
        return false;
    }
    // SAFETY: F_GETFD takes no pointer argument and only reads the descriptor table; any integer
    // is an acceptable argument (an unknown one yields EBADF).
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}
