//! The syscall half of iomux's trace mode: each read, write and accept made through a
//! [`TracedStream`](crate::socket::TracedStream) (and each accept, once [`enable`] switched
//! accept records on) is timed and kept on its thread, for the selector that owns the
//! thread's loop to collect into its trace (`iomux::trace`).
//!
//! What tracing costs a server that does not trace: nothing on reads and writes (it uses
//! [`DirectStream`](crate::socket::DirectStream), whose calls test no switch), and one relaxed
//! load and a branch per accept.
use std::cell::RefCell;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Switches accept records on for the whole process (a server started with `--trace`).
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether accept records are on.
#[inline(always)]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The traced calls: syscalls a readiness loop makes, and the completions a ring's loop reaps
/// (the kernel did that work on its own; the record marks when the loop learnt of it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// A socket read (`recvfrom`).
    Read,
    /// A socket write (`sendto`).
    Write,
    /// `accept4`.
    Accept,
    /// An io_uring accept's completion (the result: the new descriptor).
    AcceptDone,
    /// An io_uring receive's completion (bytes received).
    RecvDone,
    /// An io_uring send's completion (bytes sent).
    SendDone,
}

impl Op {
    /// The call's name, as a trace shows it.
    pub fn name(self) -> &'static str {
        match self {
            Op::Read => "recvfrom",
            Op::Write => "sendto",
            Op::Accept => "accept4",
            Op::AcceptDone => "accept completion",
            Op::RecvDone => "recv completion",
            Op::SendDone => "send completion",
        }
    }

    /// Its category in a trace: `syscall` or `completion`.
    pub fn category(self) -> &'static str {
        match self {
            Op::Read | Op::Write | Op::Accept => "syscall",
            Op::AcceptDone | Op::RecvDone | Op::SendDone => "completion",
        }
    }
}

/// One syscall: which, on which descriptor, when, for how long, and what it returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallRecord {
    /// The call.
    pub op: Op,
    /// The descriptor it was made on (the listener, for accept).
    pub fd: i32,
    /// When it started.
    pub start: Instant,
    /// How long it took.
    pub duration: Duration,
    /// Bytes moved or the new descriptor, or `-errno`.
    pub result: i64,
}

thread_local! {
    static RECORDS: RefCell<Vec<SyscallRecord>> = const { RefCell::new(Vec::new()) };
}

/// Runs `call` timed, and keeps its record on this thread. (Out of line: only a traced
/// process comes here.)
#[cold]
#[inline(never)]
pub(crate) fn timed(
    op: Op,
    fd: i32,
    call: impl FnOnce() -> io::Result<usize>,
) -> io::Result<usize> {
    let start = Instant::now();
    let result = call();
    let duration = start.elapsed();
    let result_code = match &result {
        Ok(n) => *n as i64,
        Err(e) => -i64::from(e.raw_os_error().unwrap_or(0)),
    };
    RECORDS.with(|r| {
        r.borrow_mut().push(SyscallRecord {
            op,
            fd,
            start,
            duration,
            result: result_code,
        })
    });
    result
}

/// Keeps a record made by the caller (a ring's completion, reaped now) on this thread, for the
/// running turn of its loop's trace.
#[cold]
#[inline(never)]
pub fn record(op: Op, fd: i32, result: i64) {
    let record = SyscallRecord {
        op,
        fd,
        start: Instant::now(),
        duration: Duration::ZERO,
        result,
    };
    RECORDS.with(|r| r.borrow_mut().push(record));
}

/// Moves this thread's records made since the last call onto the end of `into`.
pub fn take(into: &mut Vec<SyscallRecord>) {
    RECORDS.with(|r| into.append(&mut r.borrow_mut()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_stay_on_their_thread_until_taken() {
        let ok = timed(Op::Read, 5, || Ok(64)).unwrap();
        assert_eq!(ok, 64);
        let err = timed(Op::Write, 6, || {
            Err(io::Error::from_raw_os_error(libc::EPIPE))
        });
        assert!(err.is_err());
        std::thread::spawn(|| {
            let mut none = Vec::new();
            take(&mut none);
            assert!(none.is_empty());
        })
        .join()
        .unwrap();
        let mut taken = Vec::new();
        take(&mut taken);
        let summary: Vec<_> = taken.iter().map(|r| (r.op, r.fd, r.result)).collect();
        assert_eq!(
            summary,
            [(Op::Read, 5, 64), (Op::Write, 6, -i64::from(libc::EPIPE))]
        );
        take(&mut taken);
        assert_eq!(taken.len(), 2, "taken once");
    }
}
