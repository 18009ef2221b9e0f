//! `io_uring_enter` by the ring's registered index (`IORING_REGISTER_RING_FDS`, 5.18).
//!
//! Every enter names the ring by a descriptor, and the kernel looks that descriptor up in the
//! process's file table; when the process has more than one thread (a server with a stats or
//! signal thread does) the lookup takes and drops a shared reference on the file, per enter.
//! A registered ring is named by an index into a table private to the *thread* that
//! registered it, with no reference to take. The io-uring crate remembers the index only in a
//! short-lived `Submitter`, so the ring enters here, by its own syscall.
//!
//! What is odd about it, in one place:
//! - The table is per thread. The same index on another thread names nothing, or that
//!   thread's own ring: so an enter checks it runs on the registering thread (a number no
//!   thread reuses), and a ring moved to another thread enters by its descriptor again.
//! - A registration holds a reference to the ring: it must be undone, on the registering
//!   thread, or the ring outlives its descriptor until that thread exits. [`Drop`] does it;
//!   a ring dropped on another thread cannot, and is freed when the registering thread ends.
//! - A thread may register 16 rings (`IO_RINGFD_REG_MAX`); past that `EBUSY`, and the ring
//!   enters by its descriptor, which works, only slower.
use std::cell::Cell;
use std::io;
use std::marker::PhantomData;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};

const IORING_REGISTER_RING_FDS: libc::c_uint = 20;
const IORING_UNREGISTER_RING_FDS: libc::c_uint = 21;
pub(super) const IORING_ENTER_GETEVENTS: u32 = 1 << 0;
pub(super) const IORING_ENTER_EXT_ARG: u32 = 1 << 3;
const IORING_ENTER_REGISTERED_RING: u32 = 1 << 4;

/// `struct io_uring_rsrc_update`.
#[repr(C)]
struct RsrcUpdate {
    offset: u32,
    resv: u32,
    data: u64,
}

/// `struct __kernel_timespec`.
#[repr(C)]
pub(super) struct KernelTimespec {
    pub(super) tv_sec: i64,
    pub(super) tv_nsec: i64,
}

/// `struct io_uring_getevents_arg` (`IORING_ENTER_EXT_ARG`): a timeout and, from 6.12, the
/// minimum wait of a batched wait. It borrows the timeout it points to.
#[repr(C)]
pub(super) struct GeteventsArg<'t> {
    sigmask: u64,
    sigmask_sz: u32,
    min_wait_usec: u32,
    ts: u64,
    timeout: PhantomData<&'t KernelTimespec>,
}

impl<'t> GeteventsArg<'t> {
    /// No signal mask; no timeout is an unbounded wait.
    pub(super) fn new(timeout: Option<&'t KernelTimespec>, min_wait_usec: u32) -> Self {
        GeteventsArg {
            sigmask: 0,
            sigmask_sz: 0,
            min_wait_usec,
            ts: timeout.map_or(0, |t| t as *const KernelTimespec as u64),
            timeout: PhantomData,
        }
    }
}

/// The kernel checks the size it is given against its own.
const GETEVENTS_ARG_SIZE: usize = 24;
const _: () = assert!(std::mem::size_of::<GeteventsArg<'static>>() == GETEVENTS_ARG_SIZE);

static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);
thread_local! {
    /// This thread's number, never given to another thread: 0 until first asked.
    static THREAD: Cell<u64> = const { Cell::new(0) };
}

fn this_thread() -> u64 {
    THREAD.with(|t| {
        if t.get() == 0 {
            t.set(NEXT_THREAD.fetch_add(1, Ordering::Relaxed));
        }
        t.get()
    })
}

/// How a ring is named to `io_uring_enter`: its descriptor, or its registered index on the
/// thread that registered it.
#[derive(Debug)]
pub(super) struct Enter {
    fd: RawFd,
    registered: Option<(u32, u64)>,
}

impl Enter {
    /// Enters the ring `fd` by its descriptor.
    pub(super) fn by_descriptor(fd: RawFd) -> Enter {
        Enter {
            fd,
            registered: None,
        }
    }

    /// Registers the ring `fd` on this thread; if the kernel refuses (older than 5.18, or 16
    /// rings registered on this thread already), the ring is entered by its descriptor.
    pub(super) fn registered(fd: RawFd) -> Enter {
        let mut update = RsrcUpdate {
            offset: u32::MAX, // any free slot; the kernel writes back which
            resv: 0,
            data: fd as u64,
        };
        // SAFETY: IORING_REGISTER_RING_FDS reads and writes back `nr_args` = 1 update, which
        // is `update`, alive and exclusively borrowed for the call.
        let done = unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                fd,
                IORING_REGISTER_RING_FDS,
                &mut update as *mut RsrcUpdate,
                1 as libc::c_uint,
            )
        };
        let registered = (done == 1).then(|| (update.offset, this_thread()));
        Enter { fd, registered }
    }

    /// Whether enters use the registered index (on the registering thread).
    pub(super) fn is_registered(&self) -> bool {
        self.registered.is_some()
    }

    /// `io_uring_enter(2)`.
    pub(super) fn enter(
        &self,
        to_submit: u32,
        min_complete: u32,
        flags: u32,
        arg: Option<&GeteventsArg<'_>>,
    ) -> io::Result<usize> {
        let (fd, flags) = match self.registered {
            Some((index, thread)) if thread == this_thread() => {
                (index as RawFd, flags | IORING_ENTER_REGISTERED_RING)
            }
            _ => (self.fd, flags),
        };
        let (arg, size) = match arg {
            Some(a) => (
                a as *const GeteventsArg<'_> as *const libc::c_void,
                GETEVENTS_ARG_SIZE,
            ),
            None => (std::ptr::null(), 0),
        };
        // SAFETY: `fd` names this ring (its descriptor, or its index registered on this
        // thread, checked above); the kernel reads the submission entries `push` filled under
        // its SAFETY rules, and `arg`, when given, is a live `io_uring_getevents_arg` of the
        // kernel's size whose timespec pointer, if any, it borrows (so it is alive too).
        let result = unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                fd,
                to_submit,
                min_complete,
                flags,
                arg,
                size,
            )
        };
        if result < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(result as usize)
        }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        let Some((index, thread)) = self.registered else {
            return;
        };
        if thread != this_thread() {
            return; // not ours to undo: the registering thread's exit frees it
        }
        let update = RsrcUpdate {
            offset: index,
            resv: 0,
            data: 0,
        };
        // SAFETY: IORING_UNREGISTER_RING_FDS reads `nr_args` = 1 update, `update`, alive for
        // the call; the index is one this thread registered and has not unregistered.
        unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                self.fd,
                IORING_UNREGISTER_RING_FDS,
                &update as *const RsrcUpdate,
                1 as libc::c_uint,
            );
        }
    }
}
