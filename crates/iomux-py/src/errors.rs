//! iomux's typed errors as the exceptions Python's `selectors` module raises for the same fault.
use pyo3::exceptions::{PyKeyError, PyOSError, PyOverflowError, PyRuntimeError, PyValueError};
use pyo3::PyErr;

/// The exception `selectors` raises where iomux returns `e`.
///
/// Registration faults are `KeyError` (registered twice, not registered) and `ValueError` (no
/// events, a negative fd, an fd select(2) cannot hold); what the kernel refuses is `OSError`
/// with its errno, so that Python picks the subclass (`PermissionError` for epoll's `EPERM` on
/// a regular file, as the standard `EpollSelector` raises).
pub(crate) fn to_py(e: iomux::Error) -> PyErr {
    use iomux::Error;
    match e {
        // The Python layer re-raises these with the file object's repr, as `selectors` words them.
        Error::AlreadyRegistered { fd } | Error::NotRegistered { fd } => PyKeyError::new_err(fd),
        Error::InvalidFd { fd } if fd >= 0 => os_error(libc::EBADF, &e),
        Error::NotPollable { .. } => os_error(libc::EPERM, &e),
        Error::Io(io) => match io.raw_os_error() {
            Some(errno) => os_error(errno, &io),
            None => PyOSError::new_err(io.to_string()),
        },
        Error::Unsupported { .. } => PyOSError::new_err(e.to_string()),
        // Empty interest, negative fd, fd >= FD_SETSIZE, unknown backend name.
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// `OSError(errno, message)`: Python's constructor maps the errno to its subclass.
fn os_error(errno: i32, message: &dyn std::fmt::Display) -> PyErr {
    PyOSError::new_err((errno, message.to_string()))
}

/// What the standard `EpollSelector` raises on a closed selector (its epoll object's message).
pub(crate) fn closed() -> PyErr {
    PyValueError::new_err("I/O operation on closed selector")
}

/// A call that needs the selector while another thread is inside its `select()`. iomux's
/// `Selector` is one owned value (no kernel-side sharing as with a raw epoll fd), so this is
/// refused rather than waited for: waiting could hang until an event nobody else will cause.
pub(crate) fn busy(what: &str) -> PyErr {
    PyRuntimeError::new_err(format!(
        "{what}: another thread is inside select() on this selector; iomux selectors are used \
         from one thread at a time (wake the selecting thread and change registrations there)"
    ))
}

/// A timeout Python's `select` would also refuse.
pub(crate) fn bad_timeout(timeout: f64) -> PyErr {
    if timeout.is_nan() {
        PyValueError::new_err("Invalid value NaN (not a number)")
    } else {
        PyOverflowError::new_err("timeout is too large")
    }
}
