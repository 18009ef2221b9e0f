//! Scripted faults at the syscall layer, for tests (the `fault-injection` feature; without it
//! this module does not exist and the wrappers make their syscalls untouched).
//!
//! A [`Schedule`] decides, call by call, whether a socket read or write, an accept or a wait
//! fails the way a kernel can make it fail: `EINTR`, a short write of one byte, `EAGAIN`, a
//! reset peer, `EMFILE`/`ENFILE`/`ECONNABORTED` on accept, a wait that returns at once with no
//! event, or an accepted connection given the number of a descriptor closed a moment before
//! ([`Fault::ReuseFd`]). Decisions come from a seeded generator, so a failing seed replays the
//! same faults in the same order (on one thread: each thread has its own schedule).
//!
//! io_uring programs get what a ring can be made to do faithfully: a send submitted for one
//! byte (the kernel's short send), `EINTR` or an early return from `io_uring_enter`, and the
//! reused number on an accept completion. Errors inside completions are not faked: a
//! completion the kernel did not post would leave its real twin in flight.
//!
//! Only faults a real kernel can produce are injected, and a [`Mix`] says which: an
//! edge-triggered program is entitled to take `EAGAIN` (and a short read) as "drained, wait for
//! the next edge", so those are injected only into level-triggered schedules, where a spurious
//! one costs a wake-up and never a lost connection.
//!
//! A schedule is installed per thread, by a test ([`install`]) or, for a whole process, from
//! the environment: `IOMUX_FAULTS=seed,per_mille[,edge][,resets][,interrupts]` (e.g.
//! `42,50,resets`); each thread then runs the schedule of that seed mixed with its own creation
//! order.
use std::cell::RefCell;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};

/// The calls a schedule can make fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Call {
    /// A socket read (`recvfrom`).
    Read,
    /// A socket write (`sendto`).
    Write,
    /// `accept4`.
    Accept,
    /// A selector's wait (`epoll_wait`, `poll`, `select`) or a ring's `io_uring_enter`.
    Wait,
    /// An io_uring send, as it is submitted.
    RingSend,
    /// An io_uring accept completion.
    RingAccept,
}

/// How many kinds of [`Call`] there are.
const CALLS: usize = 6;

/// What happens to one call instead of the plain syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The call fails with this errno without reaching the kernel.
    Errno(i32),
    /// A read or write moves at most one byte.
    Short,
    /// A wait returns at once, with no event.
    SpuriousWake,
    /// An accepted connection gets the number of a descriptor this thread accepted before and
    /// has since closed (the most recent one free), rather than the lowest free number: the
    /// reuse another thread's opens and closes can cause. Events still on their way for the
    /// old connection must not reach the new one.
    ReuseFd,
}

/// Which faults a schedule draws from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mix {
    /// The program waits edge-triggered, or blocks: no `EAGAIN` on reads, writes and accepts,
    /// and no short reads (an edge-triggered program may take either as "drained", and to a
    /// blocking one an `EAGAIN` means its timeout passed).
    pub edge_triggered: bool,
    /// Also break connections: `ECONNRESET` on reads, `EPIPE` on writes. Without it every byte
    /// must arrive; with it a connection may end early, never with wrong bytes.
    pub resets: bool,
    /// Nothing but `EINTR` on waits, which a selector retries with the time left: a program on
    /// a selector must not see a single one of these, so any test of it can run under them.
    pub interrupts_only: bool,
}

impl Mix {
    /// The faults `call` may get under this mix.
    pub fn faults(self, call: Call) -> Vec<Fault> {
        use Fault::*;
        if self.interrupts_only {
            return match call {
                Call::Wait => vec![Errno(libc::EINTR)],
                _ => Vec::new(),
            };
        }
        match call {
            Call::RingSend => return vec![Short],
            Call::RingAccept => return vec![ReuseFd],
            _ => {}
        }
        let mut faults = vec![Errno(libc::EINTR)];
        let level = !self.edge_triggered;
        match call {
            Call::Read => {
                if level {
                    faults.extend([Errno(libc::EAGAIN), Short]);
                }
                if self.resets {
                    faults.push(Errno(libc::ECONNRESET));
                }
            }
            Call::Write => {
                faults.push(Short);
                if level {
                    faults.push(Errno(libc::EAGAIN));
                }
                if self.resets {
                    faults.push(Errno(libc::EPIPE));
                }
            }
            Call::Accept => {
                faults.extend([
                    Errno(libc::EMFILE),
                    Errno(libc::ENFILE),
                    Errno(libc::ECONNABORTED),
                    ReuseFd,
                ]);
                if level {
                    faults.push(Errno(libc::EAGAIN));
                }
            }
            Call::Wait => faults.push(SpuriousWake),
            Call::RingSend | Call::RingAccept => unreachable!("answered above"),
        }
        faults
    }
}

/// A seeded sequence of fault decisions, and what it injected so far.
#[derive(Clone, Debug)]
pub struct Schedule {
    seed: u64,
    state: u64,
    per_mille: u32,
    mix: Mix,
    injected: [u64; CALLS],
}

impl Schedule {
    /// Faults on about `per_mille` calls in a thousand, drawn from `mix`, in the order `seed`
    /// gives.
    pub fn new(seed: u64, per_mille: u32, mix: Mix) -> Schedule {
        Schedule {
            seed,
            state: seed,
            per_mille: per_mille.min(1000),
            mix,
            injected: [0; CALLS],
        }
    }

    /// The seed it was made with (print it with a failure, to replay it).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// How many faults it injected into `call` so far.
    pub fn injected(&self, call: Call) -> u64 {
        self.injected[call as usize]
    }

    /// SplitMix64: small, fast, and good enough to scatter faults.
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The fault for the next `call`, if any.
    pub fn decide(&mut self, call: Call) -> Option<Fault> {
        if self.next() % 1000 >= u64::from(self.per_mille) {
            return None;
        }
        let faults = self.mix.faults(call);
        if faults.is_empty() {
            return None;
        }
        let fault = faults[(self.next() % faults.len() as u64) as usize];
        self.injected[call as usize] += 1;
        Some(fault)
    }

    /// A schedule from `IOMUX_FAULTS` (see the [module docs](self)), for thread number
    /// `thread`; `None` if unset. A malformed value panics: a test asked for faults and must
    /// not run without them.
    fn from_env(thread: u64) -> Option<Schedule> {
        let text = std::env::var("IOMUX_FAULTS").ok()?;
        let mut parts = text.split(',');
        let number = |part: Option<&str>| -> u64 {
            part.and_then(|p| p.trim().parse().ok()).unwrap_or_else(|| {
                panic!(
                    "IOMUX_FAULTS={text:?}: expected seed,per_mille[,edge][,resets][,interrupts]"
                )
            })
        };
        let seed = number(parts.next());
        let per_mille = number(parts.next()) as u32;
        let mut mix = Mix::default();
        for flag in parts {
            match flag.trim() {
                "edge" => mix.edge_triggered = true,
                "resets" => mix.resets = true,
                "interrupts" => mix.interrupts_only = true,
                other => panic!("IOMUX_FAULTS={text:?}: unknown flag {other:?}"),
            }
        }
        let thread_seed = seed ^ thread.wrapping_mul(0xA24B_AED4_963E_E407);
        Some(Schedule::new(thread_seed, per_mille, mix))
    }
}

/// Threads that have looked for a schedule, numbered in that order.
static THREADS: AtomicU64 = AtomicU64::new(0);

/// A thread's schedule. One that came from `IOMUX_FAULTS` says what it injected when its
/// thread ends, on stderr: a test of a whole process reads that to know the faults reached it.
struct ThreadSchedule {
    schedule: Option<Schedule>,
    from_env: bool,
}

impl Drop for ThreadSchedule {
    fn drop(&mut self) {
        if let (Some(s), true) = (&self.schedule, self.from_env) {
            let total: u64 = s.injected.iter().sum();
            eprintln!(
                "iomux-sys: {total} faults injected on this thread (read {}, write {}, accept {}, wait {}, ring send {}, ring accept {}; IOMUX_FAULTS thread seed {})",
                s.injected(Call::Read),
                s.injected(Call::Write),
                s.injected(Call::Accept),
                s.injected(Call::Wait),
                s.injected(Call::RingSend),
                s.injected(Call::RingAccept),
                s.seed
            );
        }
    }
}

thread_local! {
    static SCHEDULE: RefCell<ThreadSchedule> = RefCell::new({
        let schedule = Schedule::from_env(THREADS.fetch_add(1, Ordering::Relaxed));
        ThreadSchedule { from_env: schedule.is_some(), schedule }
    });
}

/// Installs `schedule` on this thread (replacing any), returning the one it replaced.
pub fn install(schedule: Option<Schedule>) -> Option<Schedule> {
    SCHEDULE.with(|s| {
        let mut s = s.borrow_mut();
        s.from_env = false;
        std::mem::replace(&mut s.schedule, schedule)
    })
}

/// This thread's schedule as it stands (its counts), if it has one.
pub fn current() -> Option<Schedule> {
    SCHEDULE.with(|s| s.borrow().schedule.clone())
}

/// The fault this thread's schedule gives the next `call`, if any.
pub(crate) fn next(call: Call) -> Option<Fault> {
    SCHEDULE.with(|s| s.borrow_mut().schedule.as_mut()?.decide(call))
}

/// For a read or write wrapper: how many of `len` bytes the call may move, or the error it
/// returns without reaching the kernel.
pub(crate) fn allowed(call: Call, len: usize) -> std::io::Result<usize> {
    match next(call) {
        None | Some(Fault::SpuriousWake | Fault::ReuseFd) => Ok(len),
        Some(Fault::Short) => Ok(len.min(1)),
        Some(Fault::Errno(errno)) => Err(std::io::Error::from_raw_os_error(errno)),
    }
}

/// For a wait wrapper: `Ok(true)` if the wait is to return at once with no event, or the
/// error it returns without reaching the kernel.
pub(crate) fn spurious_wait() -> std::io::Result<bool> {
    match next(Call::Wait) {
        None | Some(Fault::Short | Fault::ReuseFd) => Ok(false),
        Some(Fault::SpuriousWake) => Ok(true),
        Some(Fault::Errno(errno)) => Err(std::io::Error::from_raw_os_error(errno)),
    }
}

/// For an accept wrapper, before the call: the error it returns without reaching the kernel,
/// or `Ok(true)` if the descriptor it gets is to be moved with [`accepted`].
pub(crate) fn accept_fault() -> std::io::Result<bool> {
    match next(Call::Accept) {
        Some(Fault::Errno(errno)) => Err(std::io::Error::from_raw_os_error(errno)),
        Some(Fault::ReuseFd) => Ok(true),
        _ => Ok(false),
    }
}

/// For an io_uring send about to be submitted: how many of `len` bytes to submit.
pub(crate) fn ring_send_len(len: u32) -> u32 {
    match next(Call::RingSend) {
        Some(Fault::Short) => len.min(1),
        _ => len,
    }
}

/// For an io_uring accept completion: whether its descriptor is to be moved with [`accepted`].
pub(crate) fn ring_accept_reuses() -> bool {
    next(Call::RingAccept) == Some(Fault::ReuseFd)
}

/// How many recently accepted descriptor numbers a thread remembers.
const REMEMBERED: usize = 64;

thread_local! {
    /// The numbers this thread accepted lately, oldest first.
    static ACCEPTED: RefCell<std::collections::VecDeque<RawFd>> = const {
        RefCell::new(std::collections::VecDeque::new())
    };
}

/// Notes an accepted descriptor; with `reuse`, first moves it to the number of the most recent
/// earlier one that is free now (closed), if there is one. Returns the descriptor to use, which
/// the caller owns either way.
///
/// The move never takes a number from anyone: `F_DUPFD` gives the lowest free number at or
/// above the one asked, and a copy that did not land on it is closed again.
pub(crate) fn accepted(fd: OwnedFd, reuse: bool) -> OwnedFd {
    let fd = if reuse { move_to_freed(fd) } else { fd };
    ACCEPTED.with(|a| {
        let mut a = a.borrow_mut();
        if a.len() == REMEMBERED {
            a.pop_front();
        }
        a.push_back(fd.as_raw_fd());
    });
    fd
}

fn move_to_freed(fd: OwnedFd) -> OwnedFd {
    let candidates: Vec<RawFd> = ACCEPTED.with(|a| a.borrow().iter().rev().copied().collect());
    for number in candidates {
        if number == fd.as_raw_fd() || is_open(number) {
            continue;
        }
        // SAFETY: F_DUPFD on a descriptor we own makes a new one (close-on-exec) at the lowest
        // free number >= `number`; it touches no open descriptor.
        let copy = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, number) };
        if copy < 0 {
            return fd; // no free slot (EMFILE): keep the number the kernel gave
        }
        // SAFETY: `copy` was just made by fcntl for us alone.
        let copy = unsafe { OwnedFd::from_raw_fd(copy) };
        if copy.as_raw_fd() == number {
            return copy; // `fd` is dropped: closed
        }
        // Taken again before us: drop the copy (closing it) and try an older number.
    }
    fd
}

/// Whether `fd` is an open descriptor of this process.
fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags; on a closed number it fails (EBADF).
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: Mix = Mix {
        edge_triggered: false,
        resets: true,
        interrupts_only: false,
    };

    #[test]
    fn a_seed_replays_the_same_faults() {
        let run = |seed| {
            let mut s = Schedule::new(seed, 300, BOTH);
            (0..500)
                .map(|i| s.decide(if i % 2 == 0 { Call::Read } else { Call::Wait }))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn the_rate_is_about_what_was_asked() {
        let mut s = Schedule::new(1, 100, BOTH);
        let faults = (0..10_000)
            .filter(|_| s.decide(Call::Write).is_some())
            .count();
        assert!((800..1200).contains(&faults), "{faults}");
        assert_eq!(s.injected(Call::Write), faults as u64);
        assert_eq!(Schedule::new(1, 0, BOTH).decide(Call::Read), None);
    }

    #[test]
    fn edge_triggered_mixes_never_fake_a_drained_socket() {
        let edge = Mix {
            edge_triggered: true,
            ..Mix::default()
        };
        for call in [
            Call::Read,
            Call::Write,
            Call::Accept,
            Call::Wait,
            Call::RingSend,
            Call::RingAccept,
        ] {
            let faults = edge.faults(call);
            assert!(!faults.contains(&Fault::Errno(libc::EAGAIN)), "{call:?}");
            assert!(
                !faults.contains(&Fault::Errno(libc::ECONNRESET)),
                "{call:?}"
            );
        }
        assert!(!edge.faults(Call::Read).contains(&Fault::Short));
    }

    #[test]
    fn schedules_are_per_thread() {
        install(Some(Schedule::new(3, 1000, BOTH)));
        assert!(next(Call::Read).is_some());
        std::thread::spawn(|| assert_eq!(next(Call::Read), None))
            .join()
            .unwrap();
        install(None);
        assert_eq!(next(Call::Read), None);
    }

    #[test]
    fn a_reused_number_is_one_closed_since_and_never_an_open_one() {
        // Other tests open and close descriptors on their threads meanwhile: a number may be
        // taken by them at any time, so only what holds whatever they do is asserted.
        let socket = || OwnedFd::from(std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
        let (a, b, c) = (socket(), socket(), socket());
        let (a, b, c) = (accepted(a, false), accepted(b, false), accepted(c, false));
        let (na, nb, nc) = (a.as_raw_fd(), b.as_raw_fd(), c.as_raw_fd());
        drop(c);
        drop(a);
        let fresh = socket();
        let kernel_gave = fresh.as_raw_fd();
        let moved = accepted(fresh, true);
        // Moved to `nc`, the most recent number closed, unless another thread took it first:
        // then to `na` (if the kernel gave a lower one), or left where the kernel put it.
        assert!(
            [nc, na, kernel_gave].contains(&moved.as_raw_fd()),
            "moved to {}, not {nc} (or {na}, or left at {kernel_gave})",
            moved.as_raw_fd()
        );
        assert_ne!(moved.as_raw_fd(), nb, "an open number is never taken");
        // Both sockets work: the move closed nothing of anyone's.
        let b = std::net::UdpSocket::from(b);
        let moved = std::net::UdpSocket::from(moved);
        assert!(b.local_addr().is_ok() && moved.local_addr().is_ok());
        assert_ne!(b.local_addr().unwrap(), moved.local_addr().unwrap());
    }

    #[test]
    fn interrupts_only_is_eintr_on_waits_and_nothing_else() {
        let mix = Mix {
            interrupts_only: true,
            ..Mix::default()
        };
        assert_eq!(mix.faults(Call::Wait), [Fault::Errno(libc::EINTR)]);
        let mut s = Schedule::new(5, 1000, mix);
        for call in [
            Call::Read,
            Call::Write,
            Call::Accept,
            Call::RingSend,
            Call::RingAccept,
        ] {
            assert_eq!(s.decide(call), None, "{call:?}");
            assert_eq!(s.injected(call), 0);
        }
        assert_eq!(s.decide(Call::Wait), Some(Fault::Errno(libc::EINTR)));
    }
}
