//! `epoll(7)`: an interest list kept in the kernel and a ready list it fills.
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::cvt::cvt;

pub use libc::{
    EPOLLERR, EPOLLET, EPOLLHUP, EPOLLIN, EPOLLONESHOT, EPOLLOUT, EPOLLPRI, EPOLLRDHUP,
};

/// One event as `epoll_wait` returns it: a readiness mask and the 64 bits of user data that were
/// given at registration.
#[repr(transparent)]
#[derive(Clone, Copy)]
pub struct EpollEvent(libc::epoll_event);

impl EpollEvent {
    /// An empty slot for [`Epoll::wait`] to fill.
    pub const fn zeroed() -> Self {
        EpollEvent(libc::epoll_event { events: 0, u64: 0 })
    }
    /// The readiness bits (`EPOLLIN`, ...), as `u32`.
    pub fn events(&self) -> u32 {
        // A copy, not a reference: the struct is packed on x86-64.
        self.0.events
    }
    /// The user data given at registration.
    pub fn data(&self) -> u64 {
        self.0.u64
    }
}

/// An epoll instance; closed on drop.
///
/// ```
/// use std::io::Write;
/// use std::os::fd::AsRawFd;
/// use std::time::Duration;
/// use iomux_sys::epoll::{Epoll, EpollEvent, EPOLLIN};
///
/// let (reader, mut writer) = std::io::pipe()?;
/// let epoll = Epoll::new()?;
/// epoll.add(reader.as_raw_fd(), EPOLLIN as u32, 42)?;
/// writer.write_all(b"x")?;
/// let mut events = [EpollEvent::zeroed(); 8];
/// let n = epoll.wait(&mut events, Some(Duration::from_secs(1)))?;
/// assert_eq!((n, events[0].data()), (1, 42));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    /// `epoll_create1(EPOLL_CLOEXEC)`.
    pub fn new() -> io::Result<Self> {
        // SAFETY: epoll_create1 takes only a flag word.
        let raw = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: raw was just returned by epoll_create1, so it is an open descriptor that nothing
        // else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Epoll { fd })
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: data };
        // SAFETY: self.fd is our open epoll descriptor; ev is a valid epoll_event alive for the
        // call (the kernel copies it; for EPOLL_CTL_DEL it is ignored but must be non-null on
        // kernels before 2.6.9). An invalid `fd` is reported by the kernel as EBADF.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut ev) })?;
        Ok(())
    }

    /// `EPOLL_CTL_ADD`: start watching `fd` for `events`, tagging its events with `data`.
    pub fn add(&self, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, events, data)
    }

    /// `EPOLL_CTL_MOD`: change the events and data of a watched `fd`.
    pub fn modify(&self, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, events, data)
    }

    /// `EPOLL_CTL_DEL`: stop watching `fd`.
    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0)
    }

    /// Waits for events: fills the front of `buf` with ready events and returns how many. The
    /// kernel *copies* the events into `buf` (there is no shared memory, whatever some notes
    /// say). `None` blocks.
    ///
    /// Uses `epoll_pwait2` (Linux 5.11+), whose timeout has nanosecond resolution, so a caller
    /// waiting for a deadline wakes on time; on older kernels it falls back to `epoll_wait`,
    /// whose millisecond timeout is rounded up (never early).
    pub fn wait(&self, buf: &mut [EpollEvent], timeout: Option<Duration>) -> io::Result<usize> {
        let max = buf.len().min(libc::c_int::MAX as usize) as libc::c_int;
        if max == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "epoll_wait needs room for one event",
            ));
        }
        #[cfg(feature = "fault-injection")]
        if crate::fault::spurious_wait()? {
            return Ok(0);
        }
        if HAS_PWAIT2.load(Ordering::Relaxed) {
            let ts = crate::time::timespec(timeout);
            let ts_ptr = ts
                .as_ref()
                .map_or(std::ptr::null(), |t| t as *const libc::timespec);
            // SAFETY: buf is a valid, exclusively borrowed array of `max` epoll_events
            // (EpollEvent is repr(transparent)); ts_ptr is null or points to a timespec alive for
            // the call; a null sigmask leaves the signal mask alone (its size is then unused).
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_epoll_pwait2,
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr(),
                    max,
                    ts_ptr,
                    std::ptr::null::<libc::sigset_t>(),
                    8,
                )
            };
            match cvt(rc as libc::c_int) {
                Ok(n) => return Ok(n as usize),
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                    HAS_PWAIT2.store(false, Ordering::Relaxed)
                }
                Err(e) => return Err(e),
            }
        }
        let ms = crate::time::timeout_ms_round_up(timeout);
        // SAFETY: EpollEvent is repr(transparent) over epoll_event, so buf is a valid, exclusively
        // borrowed array of `max` events for the kernel to write; self.fd is our epoll descriptor.
        let n = cvt(unsafe {
            libc::epoll_wait(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), max, ms)
        })?;
        Ok(n as usize)
    }
}

/// Whether the kernel has `epoll_pwait2`; cleared on the first `ENOSYS`.
static HAS_PWAIT2: AtomicBool = AtomicBool::new(true);

impl AsRawFd for Epoll {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
