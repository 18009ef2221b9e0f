//! Turning C return conventions into `io::Result`, in one place.
use std::io;

/// Integer types a syscall can return where `-1` means "failed, see errno".
pub trait IsMinusOne: Copy {
    /// Whether this value is the error sentinel.
    fn is_minus_one(self) -> bool;
}

impl IsMinusOne for i32 {
    fn is_minus_one(self) -> bool {
        self == -1
    }
}

impl IsMinusOne for isize {
    fn is_minus_one(self) -> bool {
        self == -1
    }
}

/// Returns `Ok(ret)` unless `ret` is `-1`, in which case it returns the thread's `errno` as an
/// `io::Error`. Must be called right after the syscall, before anything can overwrite `errno`.
///
/// `EINTR` comes back as `ErrorKind::Interrupted`; retrying is the caller's decision.
pub fn cvt<T: IsMinusOne>(ret: T) -> io::Result<T> {
    if ret.is_minus_one() {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}
