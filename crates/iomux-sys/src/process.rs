//! Process limits, CPU accounting and CPU affinity.
use std::io;
use std::mem::MaybeUninit;
use std::time::Duration;

use crate::cvt::cvt;

/// The soft and hard `RLIMIT_NOFILE`: how many descriptors this process may have open.
pub fn nofile_limit() -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid rlimit for getrlimit to fill.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) })?;
    Ok((lim.rlim_cur, lim.rlim_max))
}

/// Sets the soft `RLIMIT_NOFILE` to `soft`, keeping the hard limit. Fails with `EINVAL` above the
/// hard limit (and only root may raise that).
pub fn set_nofile_soft_limit(soft: u64) -> io::Result<()> {
    let (_, hard) = nofile_limit()?;
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: lim is a valid rlimit read by setrlimit.
    cvt(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) })?;
    Ok(())
}

/// Raises the soft `RLIMIT_NOFILE` as far as the hard limit allows and returns the new soft limit.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let (soft, hard) = nofile_limit()?;
    if soft < hard {
        set_nofile_soft_limit(hard)?;
    }
    Ok(hard.max(soft))
}

/// User and system CPU time used so far by this whole process (all threads).
pub fn process_cpu_time() -> io::Result<(Duration, Duration)> {
    let mut ru = MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: ru points to writable storage for one rusage, which getrusage fills.
    cvt(unsafe { libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()) })?;
    // SAFETY: getrusage succeeded, so it initialised the structure (and zeroed() did already).
    let ru = unsafe { ru.assume_init() };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    Ok((tv(ru.ru_utime), tv(ru.ru_stime)))
}

/// Pins the calling thread (pid 0 = the caller) to the given CPUs.
pub fn pin_current_thread(cpus: &[usize]) -> io::Result<()> {
    // SAFETY: cpu_set_t is a plain bitmap; all zeroes is the empty set (CPU_ZERO).
    let mut set: libc::cpu_set_t = unsafe { MaybeUninit::zeroed().assume_init() };
    for &cpu in cpus {
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "CPU number out of range",
            ));
        }
        // SAFETY: cpu < CPU_SETSIZE (checked above), so CPU_SET writes inside the bitmap.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: set is a valid cpu_set_t of the size we pass.
    cvt(unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) })?;
    Ok(())
}

/// A thread of this process that can be sent a signal, e.g. to interrupt its blocking syscall
/// with `EINTR` (tests use this to prove waits are resumed). Names the thread by its kernel
/// thread id, so a handle that outlives its thread is harmless (the signal fails with `ESRCH`).
#[derive(Clone, Copy, Debug)]
pub struct ThreadHandle(libc::pid_t);

impl ThreadHandle {
    /// The calling thread.
    pub fn current() -> Self {
        // SAFETY: gettid has no arguments and cannot fail.
        ThreadHandle(unsafe { libc::gettid() })
    }

    /// Sends `signal` to the thread (`tgkill`, scoped to this process).
    pub fn signal(&self, signal: libc::c_int) -> io::Result<()> {
        // SAFETY: tgkill takes three integers; an unknown thread id yields ESRCH, not UB.
        let rc = unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), self.0, signal) };
        cvt(rc as libc::c_int)?;
        Ok(())
    }
}

/// Asks the kernel to wake the calling thread's timed waits as close to their deadline as it
/// can (`prctl(PR_SET_TIMERSLACK, 1)`; the default slack is 50 µs). For a load generator whose
/// schedule is the measurement.
pub fn minimize_timer_slack() -> io::Result<()> {
    // SAFETY: PR_SET_TIMERSLACK takes an integer argument; no pointers are involved.
    cvt(unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) })?;
    Ok(())
}

/// Sends `signal` (e.g. `libc::SIGTERM`) to the process `pid` (`kill(2)`). Callers name only
/// processes they started themselves, by the PID they were given.
pub fn kill(pid: u32, signal: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "process id out of range"))?;
    if pid <= 0 {
        // 0 and negative values name process groups, never one process.
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a single process id",
        ));
    }
    // SAFETY: kill takes two integers; an unknown pid yields ESRCH, not undefined behaviour.
    cvt(unsafe { libc::kill(pid, signal) })?;
    Ok(())
}

/// The parent's process id, by the `getppid(2)` syscall itself (glibc does not cache it): the
/// cheapest real syscall, which the lab's planted changes make to add a known number of
/// syscalls per message.
pub fn getppid_syscall() -> u32 {
    // SAFETY: getppid takes no arguments and cannot fail.
    let pid = unsafe { libc::syscall(libc::SYS_getppid) };
    u32::try_from(pid).unwrap_or(0)
}
