//! `io_uring(7)`: a submission ring the program fills and a completion ring the kernel fills,
//! both shared memory, entered with one `io_uring_enter` per batch.
//!
//! The io-uring crate maps the rings and builds the entries; what it leaves `unsafe` is the one
//! thing that can go wrong, memory an operation points to dying before the operation ends.
//! [`Ring`] closes that gap with a safe API: its operations either point to no program memory
//! (poll, accept, cancel, close), or to memory the ring itself owns until the final completion:
//! a send's buffer (an owned `Vec`, handed back in the completion) and the provided-buffer
//! rings of multishot receives (owned by the ring, see `buf_ring.rs`), including received
//! bytes lent to a send ([`Ring::lend`], [`Ring::send_lent`]), kept from the kernel until the
//! send completes.
//!
//! What makes this interface odd, in one place:
//! - A completion for an operation can arrive long after the program stopped caring: a
//!   socket closed with a receive in flight, its fd number reused at once by a new connection.
//!   Operations hold a reference to the *file*, not the number, so closing the fd neither ends
//!   them nor frees the socket; [`Ring::cancel_and_close`] cancels every operation on the fd
//!   and then closes it, in order, inside the kernel. Callers tag operations with a generation
//!   in `user_data` and drop completions of a generation that is gone.
//! - Multishot operations (poll, accept, receive) post many completions; the last one lacks
//!   `IORING_CQE_F_MORE`, and only then must the operation be re-armed.
//! - The completion ring can overflow: the kernel keeps the overflow (`IORING_FEAT_NODROP`)
//!   and hands it over, as much as the ring has room for, at the next `io_uring_enter` with
//!   `GETEVENTS`, which every wait here is. A caller that wants every completion now drains
//!   the ring and calls [`Ring::take_overflow`] until the kernel holds none back.
//! - `SINGLE_ISSUER|DEFER_TASKRUN` (6.1) makes completions cheaper but is refused by older
//!   kernels, and binds the ring to the thread that created it: [`Ring::new`] tries the setups
//!   it is given in order and records the refusals.
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use io_uring::{cqueue, opcode, squeue, types, IoUring};

mod buf_ring;
mod enter;
mod lend;
use buf_ring::{BufRing, CQE_F_BUF_MORE, PBUF_RING_INC};
use enter::{Enter, GeteventsArg, KernelTimespec, IORING_ENTER_EXT_ARG, IORING_ENTER_GETEVENTS};
use lend::SendMsg;
pub use lend::{Lent, MAX_LENT_PER_SEND};

/// `user_data` values with this bit set are the ring's own (operations that own a buffer);
/// callers' tags must leave it clear.
pub const RESERVED_USER_DATA: u64 = 1 << 63;
/// The tag of the ring's own operations that own nothing (the cancellation on drop): reserved,
/// and beyond any index of an owned buffer.
const RING_OWN: u64 = RESERVED_USER_DATA | u32::MAX as u64;

/// Ring setup flags beyond the defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Setup {
    /// `IORING_SETUP_SINGLE_ISSUER` (6.0): only the creating thread submits.
    pub single_issuer: bool,
    /// `IORING_SETUP_DEFER_TASKRUN` (6.1, needs `single_issuer`): completion work runs only
    /// when the program waits, in one batch.
    pub defer_taskrun: bool,
    /// `IORING_SETUP_COOP_TASKRUN` (5.19): no interrupt to run completion work.
    pub coop_taskrun: bool,
    /// `IORING_SETUP_NO_SQARRAY` (6.6): the kernel takes submissions in ring order, with no
    /// index array between (one memory load less per submission, and no array to map).
    pub no_sqarray: bool,
}

impl Setup {
    /// No extra flags: works wherever io_uring does.
    pub const PLAIN: Setup = Setup {
        single_issuer: false,
        defer_taskrun: false,
        coop_taskrun: false,
        no_sqarray: false,
    };
    /// The fastest setup for a ring used by one thread, then the fallbacks, in order: each
    /// kernel since 5.11 accepts one of them (6.6, 6.1, 5.19, any).
    pub const FASTEST_FIRST: [Setup; 4] = [
        Setup {
            no_sqarray: true,
            ..Setup::THREAD_BOUND
        },
        Setup::THREAD_BOUND,
        Setup {
            coop_taskrun: true,
            ..Setup::PLAIN
        },
        Setup::PLAIN,
    ];
    /// `SINGLE_ISSUER|DEFER_TASKRUN`: completion work in one batch at each wait, for a ring
    /// the thread that created it alone uses.
    const THREAD_BOUND: Setup = Setup {
        single_issuer: true,
        defer_taskrun: true,
        ..Setup::PLAIN
    };
}

impl std::fmt::Display for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names = Vec::new();
        if self.single_issuer {
            names.push("SINGLE_ISSUER");
        }
        if self.defer_taskrun {
            names.push("DEFER_TASKRUN");
        }
        if self.coop_taskrun {
            names.push("COOP_TASKRUN");
        }
        if self.no_sqarray {
            names.push("NO_SQARRAY");
        }
        if names.is_empty() {
            f.write_str("no setup flags")
        } else {
            f.write_str(&names.join("|"))
        }
    }
}

/// How to build a [`Ring`].
#[derive(Clone, Debug)]
pub struct RingOptions {
    /// Submission queue entries (a power of two; the kernel rounds up).
    pub entries: u32,
    /// Completion queue entries; `None`: the kernel's default, twice `entries`.
    pub cq_entries: Option<u32>,
    /// The setups to try, in order; the first the kernel accepts is used.
    pub setups: Vec<Setup>,
    /// Enter the ring by an index registered on the creating thread instead of its descriptor
    /// (5.18; see `enter.rs`): for a ring that thread alone uses, which it then also drops.
    pub register_ring_fd: bool,
}

impl Default for RingOptions {
    fn default() -> Self {
        RingOptions {
            entries: 256,
            cq_entries: None,
            setups: vec![Setup::PLAIN],
            register_ring_fd: false,
        }
    }
}

/// What a ring has cost so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingCounters {
    /// Submission queue entries handed to the kernel.
    pub submissions: u64,
    /// Completion queue entries taken.
    pub completions: u64,
    /// `io_uring_enter` calls.
    pub enters: u64,
    /// Times the completion queue was found to have overflowed, the kernel holding completions
    /// back: at the start of a wait, or by [`Ring::take_overflow`] once the queue was drained.
    pub cq_overflows: u64,
}

/// One completion.
#[derive(Debug)]
pub struct Completion {
    /// The tag given to the operation.
    pub user_data: u64,
    /// The operation's result: a count or value, or a negated errno.
    pub result: i32,
    /// `IORING_CQE_F_*` flags.
    pub flags: u32,
    /// A send's buffer, handed back (see [`Ring::send`]).
    pub sent_buffer: Option<Vec<u8>>,
    /// A send of lent bytes ([`Ring::send_lent`]) ended: what it did not send, copied out
    /// (empty when it sent everything, or failed with an error other than `EAGAIN`).
    pub lent_unsent: Option<Vec<u8>>,
    /// The connection an accept completion brought, owned (see [`Ring::accept_multi`]).
    pub accepted: Option<OwnedFd>,
}

impl Completion {
    /// Whether the (multishot) operation goes on posting completions; if not, it has ended
    /// and must be re-armed to continue.
    pub fn more(&self) -> bool {
        cqueue::more(self.flags)
    }
    /// Whether this is a zero-copy send's notification (the kernel is done with the buffer,
    /// handed back here), not its result.
    pub fn is_notification(&self) -> bool {
        cqueue::notif(self.flags)
    }
    /// The provided buffer a receive filled, if it took one.
    pub fn buffer_id(&self) -> Option<u16> {
        cqueue::buffer_select(self.flags)
    }
    /// The result as an `io::Result`.
    pub fn io_result(&self) -> io::Result<u32> {
        if self.result < 0 {
            Err(io::Error::from_raw_os_error(-self.result))
        } else {
            Ok(self.result as u32)
        }
    }
}

/// A provided-buffer group registered with a [`Ring`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufGroup(u16);

/// What a send in flight holds until its last completion.
#[derive(Debug)]
enum Held {
    /// Its own buffer, handed back in [`Completion::sent_buffer`].
    Buffer(Vec<u8>),
    /// Received bytes in provided buffers, lent to it, in order; with the message header and
    /// its vector when there is more than one.
    Lent(Vec<Lent>, Option<Box<SendMsg>>),
}

/// An io_uring instance with a safe set of operations. See the [module docs](self).
pub struct Ring {
    // Field order is drop order: the ring's registration (which holds the ring open) goes
    // first, then the ring (and with it the kernel's use of the buffer rings), then the
    // buffer rings' memory.
    enter: Enter,
    ring: IoUring,
    buf_rings: Vec<BufRing>,
    /// Memory held by operations in flight, with the caller's tag, indexed by the low bits of
    /// their `user_data`.
    owned: Vec<Option<(u64, Held)>>,
    free_owned: Vec<u32>,
    /// The tags of the multishot accepts in flight: their results are new descriptors.
    accept_tags: Vec<u64>,
    /// Operations submitted or queued whose last completion has not been taken.
    in_flight: usize,
    setup: Setup,
    refused: Vec<(Setup, io::Error)>,
    counters: RingCounters,
    /// Batched waits ([`set_min_wait`](Ring::set_min_wait)): the bounded extra wait, in µs.
    min_wait_usec: Option<u32>,
}

impl std::os::fd::AsRawFd for Ring {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.ring.as_raw_fd()
    }
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("setup", &self.setup)
            .field("in_flight", &self.in_flight)
            .finish()
    }
}

fn build(options: &RingOptions, setup: Setup) -> io::Result<IoUring> {
    let mut builder = IoUring::builder();
    if let Some(cq) = options.cq_entries {
        builder.setup_cqsize(cq);
    }
    if setup.single_issuer {
        builder.setup_single_issuer();
    }
    if setup.defer_taskrun {
        builder.setup_defer_taskrun();
    }
    if setup.coop_taskrun {
        builder.setup_coop_taskrun();
    }
    if setup.no_sqarray {
        builder.setup_no_sqarray();
    }
    builder.build(options.entries)
}

/// Why io_uring cannot be used on this machine, in one line, or `Ok` if a plain ring opens
/// and has what iomux needs (`IORING_FEAT_EXT_ARG` for timed waits, 5.11).
pub fn probe() -> Result<(), String> {
    let ring = match IoUring::new(2) {
        Ok(ring) => ring,
        Err(e) => {
            let why = match std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled") {
                Ok(v) if v.trim() != "0" => format!(
                    " (/proc/sys/kernel/io_uring_disabled is {}: the administrator turned it off)",
                    v.trim()
                ),
                _ if e.raw_os_error() == Some(libc::ENOSYS) => {
                    " (the kernel has no io_uring, or a seccomp filter hides it)".to_owned()
                }
                _ if e.raw_os_error() == Some(libc::EPERM) => {
                    " (refused: a seccomp filter or a container policy)".to_owned()
                }
                _ => String::new(),
            };
            return Err(format!("io_uring_setup failed: {e}{why}"));
        }
    };
    if !ring.params().is_feature_ext_arg() {
        return Err("this kernel's io_uring lacks IORING_FEAT_EXT_ARG (Linux 5.11)".to_owned());
    }
    Ok(())
}

/// Whether the running kernel is at least `major.minor` (from `uname -r`).
pub fn kernel_at_least(major: u32, minor: u32) -> bool {
    let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else {
        return false;
    };
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    let (Some(a), Some(b)) = (parts.next(), parts.next()) else {
        return false;
    };
    (a, b) >= (major, minor)
}

impl Ring {
    /// A ring with the first of `options.setups` the kernel accepts. Fails with every
    /// refusal named when none is accepted.
    pub fn new(options: &RingOptions) -> io::Result<Ring> {
        let mut refused = Vec::new();
        for &setup in &options.setups {
            match build(options, setup) {
                Ok(ring) => {
                    let fd = ring.as_raw_fd();
                    let enter = if options.register_ring_fd {
                        Enter::registered(fd)
                    } else {
                        Enter::by_descriptor(fd)
                    };
                    return Ok(Ring {
                        enter,
                        ring,
                        buf_rings: Vec::new(),
                        owned: Vec::new(),
                        free_owned: Vec::new(),
                        accept_tags: Vec::new(),
                        in_flight: 0,
                        setup,
                        refused,
                        counters: RingCounters::default(),
                        min_wait_usec: None,
                    });
                }
                Err(e) => refused.push((setup, e)),
            }
        }
        let tried: Vec<String> = refused.iter().map(|(s, e)| format!("{s}: {e}")).collect();
        let kind = refused
            .last()
            .map_or(io::ErrorKind::InvalidInput, |(_, e)| e.kind());
        Err(io::Error::new(
            kind,
            format!(
                "io_uring_setup refused every setup tried ({})",
                tried.join("; ")
            ),
        ))
    }

    /// The setup the kernel accepted.
    pub fn setup(&self) -> Setup {
        self.setup
    }

    /// Whether the ring is entered by a registered index (asked for in
    /// [`RingOptions::register_ring_fd`] and accepted by the kernel).
    pub fn ring_fd_registered(&self) -> bool {
        self.enter.is_registered()
    }

    /// The setups tried before it, with the kernel's reasons.
    pub fn refused(&self) -> &[(Setup, io::Error)] {
        &self.refused
    }

    /// The size of the completion queue.
    pub fn cq_entries(&self) -> u32 {
        self.ring.params().cq_entries()
    }

    /// What the ring has cost so far.
    pub fn counters(&self) -> RingCounters {
        self.counters
    }

    /// Operations queued or submitted whose last completion has not been taken yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    fn push(&mut self, entry: squeue::Entry) -> io::Result<()> {
        if self.ring.submission().is_full() {
            self.submit()?;
        }
        // SAFETY: every entry built in this module points to no program memory, or to memory
        // the ring owns until the operation's last completion (owned send buffers in
        // `self.owned`, provided buffers in `self.buf_rings`, a lent one kept from the kernel
        // by its loan until the send's completion); see the module docs.
        unsafe { self.ring.submission().push(&entry) }
            .map_err(|_| io::Error::other("io_uring submission queue full after a submit"))?;
        self.in_flight += 1;
        Ok(())
    }

    fn check_tag(user_data: u64) -> io::Result<()> {
        if user_data & RESERVED_USER_DATA != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "user_data with the reserved top bit set",
            ));
        }
        Ok(())
    }

    /// `IORING_OP_POLL_ADD`: a completion with the poll mask (`POLLIN`, ...) when `fd` is
    /// ready for `events`; `multishot`: one per wake-up, until one lacks `F_MORE`.
    pub fn poll_add(
        &mut self,
        fd: RawFd,
        events: u32,
        multishot: bool,
        user_data: u64,
    ) -> io::Result<()> {
        Self::check_tag(user_data)?;
        let entry = opcode::PollAdd::new(types::Fd(fd), events)
            .multi(multishot)
            .build()
            .user_data(user_data);
        self.push(entry)
    }

    /// Multishot `IORING_OP_ACCEPT` (5.19): a completion per new connection, which owns it
    /// ([`Completion::accepted`], close-on-exec); an error (`EMFILE`) ends it. Its tag must
    /// be one no other operation in flight uses.
    pub fn accept_multi(&mut self, listener: RawFd, user_data: u64) -> io::Result<()> {
        Self::check_tag(user_data)?;
        let entry = opcode::AcceptMulti::new(types::Fd(listener))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(user_data);
        self.push(entry)?;
        self.accept_tags.push(user_data);
        Ok(())
    }

    /// `IORING_OP_ASYNC_CANCEL` of the operation(s) tagged `target`; the cancelled ones
    /// complete with `ECANCELED`. This is also how a poll is ended: `IORING_OP_POLL_REMOVE`
    /// fails with `EALREADY` on a poll whose wake-up is being handled, and the poll lives on,
    /// so this API does not offer it.
    pub fn cancel(&mut self, target: u64, user_data: u64) -> io::Result<()> {
        Self::check_tag(user_data)?;
        let entry = opcode::AsyncCancel2::new(types::CancelBuilder::user_data(target).all())
            .build()
            .user_data(user_data);
        self.push(entry)
    }

    /// Registers a provided-buffer ring of `count` buffers of `size` bytes (5.19), consumed
    /// incrementally where the kernel can (6.12: many small receives share a buffer, so large
    /// buffers cost no more memory than small ones), else one buffer per receive.
    pub fn add_buffer_group(&mut self, count: u16, size: u32) -> io::Result<BufGroup> {
        let id = u16::try_from(self.buf_rings.len())
            .map_err(|_| io::Error::other("too many buffer groups"))?;
        let mut buf_ring = BufRing::new(count, size)?;
        let mut result = Err(io::Error::from_raw_os_error(libc::EINVAL));
        for flags in [PBUF_RING_INC, 0] {
            // SAFETY: the ring memory is a page-aligned mapping of `count` entries owned by
            // `buf_ring`, which is stored in `self.buf_rings` and so lives as long as the
            // ring (dropped after it, by field order).
            result = unsafe {
                self.ring.submitter().register_buf_ring_with_flags(
                    buf_ring.ring_addr(),
                    buf_ring.entries(),
                    id,
                    flags,
                )
            };
            if result.is_ok() {
                if flags == PBUF_RING_INC {
                    buf_ring.set_incremental();
                }
                break;
            }
        }
        result?;
        self.buf_rings.push(buf_ring);
        Ok(BufGroup(id))
    }

    /// Whether the kernel consumes the group's buffers incrementally (Linux 6.12).
    pub fn is_incremental(&self, group: BufGroup) -> bool {
        self.buf_rings[usize::from(group.0)].is_incremental()
    }

    /// How many of a group's buffers are lent ([`lend`](Self::lend)).
    pub fn lent_buffers(&self, group: BufGroup) -> u16 {
        self.buf_rings[usize::from(group.0)].lent_buffers()
    }

    /// How many buffers a group has, and their size.
    pub fn buffer_group_shape(&self, group: BufGroup) -> (u16, u32) {
        let ring = &self.buf_rings[usize::from(group.0)];
        (ring.entries(), ring.buf_size())
    }

    /// Multishot `IORING_OP_RECV` (6.0) into buffers of `group`: a completion per arrival,
    /// naming the buffer filled (read it with [`take_buffer`](Self::take_buffer)); result 0
    /// is end of stream; `ENOBUFS` when the group ran dry ends it.
    pub fn recv_multi(&mut self, fd: RawFd, group: BufGroup, user_data: u64) -> io::Result<()> {
        Self::check_tag(user_data)?;
        let entry = opcode::RecvMulti::new(types::Fd(fd), group.0)
            .build()
            .user_data(user_data);
        self.push(entry)
    }

    /// Hands the bytes a receive completion put in a provided buffer to `f`, then gives the
    /// buffer back to the kernel. Must be called for every completion that carries a buffer,
    /// even one the program ignores, or the group runs dry. `None` if it carries none.
    pub fn take_buffer<R>(
        &mut self,
        group: BufGroup,
        completion: &Completion,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Option<R> {
        let bid = completion.buffer_id()?;
        let len = usize::try_from(completion.result).unwrap_or(0);
        let buf_more = completion.flags & CQE_F_BUF_MORE != 0;
        Some(self.buf_rings[usize::from(group.0)].consume(bid, len, buf_more, f))
    }

    /// How many buffers of `group` the kernel has to fill now (a buffer it is partway through
    /// counts): about how many receives that ran dry (`ENOBUFS`) are worth arming again.
    pub fn buffers_free(&self, group: BufGroup) -> u16 {
        self.buf_rings[usize::from(group.0)].with_kernel()
    }

    /// `IORING_OP_SEND` of `buf[offset..]` (with `MSG_NOSIGNAL`: a reset peer is an `EPIPE`
    /// result, not a signal). The ring owns `buf` until the completion, which hands it back in
    /// [`Completion::sent_buffer`]. The result may be short: send the rest then.
    pub fn send(
        &mut self,
        fd: RawFd,
        buf: Vec<u8>,
        offset: usize,
        user_data: u64,
    ) -> io::Result<()> {
        self.send_owned(fd, buf, offset, user_data, false)
    }

    /// `IORING_OP_SEND_ZC` (6.0): like [`send`](Self::send), but the kernel sends from `buf`
    /// itself instead of copying it. Two completions: the result (with `F_MORE`, and no
    /// buffer: the kernel still reads it), then a notification ([`Completion::is_notification`])
    /// when it is done with the memory, which hands `buf` back.
    pub fn send_zero_copy(
        &mut self,
        fd: RawFd,
        buf: Vec<u8>,
        offset: usize,
        user_data: u64,
    ) -> io::Result<()> {
        self.send_owned(fd, buf, offset, user_data, true)
    }

    fn send_owned(
        &mut self,
        fd: RawFd,
        buf: Vec<u8>,
        offset: usize,
        user_data: u64,
        zero_copy: bool,
    ) -> io::Result<()> {
        Self::check_tag(user_data)?;
        if offset > buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "send offset past the end",
            ));
        }
        let len = u32::try_from(buf.len() - offset).unwrap_or(u32::MAX);
        #[cfg(feature = "fault-injection")]
        let len = crate::fault::ring_send_len(len);
        // The Vec's heap memory does not move when the Vec itself moves into the table.
        let ptr = buf[offset..].as_ptr();
        let index = self.hold(user_data, Held::Buffer(buf));
        let tag = RESERVED_USER_DATA | u64::from(index);
        let entry = if zero_copy {
            opcode::SendZc::new(types::Fd(fd), ptr, len)
                .flags(libc::MSG_NOSIGNAL)
                .build()
                .user_data(tag)
        } else {
            opcode::Send::new(types::Fd(fd), ptr, len)
                .flags(libc::MSG_NOSIGNAL)
                .build()
                .user_data(tag)
        };
        if let Err(e) = self.push(entry) {
            self.owned[index as usize] = None;
            self.free_owned.push(index);
            return Err(e);
        }
        Ok(())
    }

    /// Keeps `held` in the table of memory held by operations in flight; returns its index.
    fn hold(&mut self, user_data: u64, held: Held) -> u32 {
        let index = match self.free_owned.pop() {
            Some(i) => i,
            None => {
                self.owned.push(None);
                (self.owned.len() - 1) as u32
            }
        };
        self.owned[index as usize] = Some((user_data, held));
        index
    }

    /// Cancels every operation on `fd` and then closes it, in that order, inside the kernel
    /// (a hard link: the close runs whatever the cancel found). Until the close has run the
    /// fd number stays taken, so no new connection can get it while old completions are on
    /// their way. Both post a completion tagged `user_data`.
    pub fn cancel_and_close(&mut self, fd: OwnedFd, user_data: u64) -> io::Result<()> {
        Self::check_tag(user_data)?;
        // Two entries must go in together: make room for both first.
        let free = {
            let sq = self.ring.submission();
            sq.capacity() - sq.len()
        };
        if free < 2 {
            self.submit()?;
        }
        let raw = fd.into_raw_fd();
        let cancel = opcode::AsyncCancel2::new(types::CancelBuilder::fd(types::Fd(raw)).all())
            .build()
            .flags(squeue::Flags::IO_HARDLINK)
            .user_data(user_data);
        self.push(cancel)?;
        self.push(
            opcode::Close::new(types::Fd(raw))
                .build()
                .user_data(user_data),
        )
    }

    /// Submits what is queued, without waiting.
    pub fn submit(&mut self) -> io::Result<usize> {
        let queued = self.ring.submission().len();
        let result = self.enter(queued, 0, 0, None);
        self.count_submitted(queued);
        result
    }

    /// One `io_uring_enter`: submits `queued` entries and waits for `want` completions (with
    /// `arg`'s timeout and minimum wait, if given). Adds `GETEVENTS` whenever the kernel has
    /// work that only a `GETEVENTS` enter runs: deferred completion work (`IORING_SQ_TASKRUN`)
    /// or completions held back after an overflow.
    fn enter(
        &mut self,
        queued: usize,
        want: u32,
        mut flags: u32,
        arg: Option<&GeteventsArg<'_>>,
    ) -> io::Result<usize> {
        self.counters.enters += 1;
        let held_back = {
            let sq = self.ring.submission();
            sq.taskrun() || sq.cq_overflow()
        };
        if want > 0 || held_back {
            flags |= IORING_ENTER_GETEVENTS;
        }
        if arg.is_some() {
            flags |= IORING_ENTER_EXT_ARG;
        }
        self.enter.enter(queued as u32, want, flags, arg)
    }

    /// Submits what is queued and runs the completion work the kernel has deferred
    /// (`IORING_ENTER_GETEVENTS` with nothing to wait for). Under `COOP_TASKRUN` or
    /// `DEFER_TASKRUN` a cancellation finishes, and drops its operation's hold on the file,
    /// only when that work runs: after this call it has.
    pub fn submit_and_settle(&mut self) -> io::Result<()> {
        let queued = self.ring.submission().len();
        let result = self.enter(queued, 0, IORING_ENTER_GETEVENTS, None);
        self.count_submitted(queued);
        result.map(drop)
    }

    /// Batches the waits of [`submit_and_wait_batched`](Ring::submit_and_wait_batched): the
    /// kernel waits up to `min_wait` for the batch, then returns with whatever completions
    /// there are (at least one), so a wake-up takes several at a light load, at the price of
    /// up to `min_wait` more latency. Linux 6.12+ (`IORING_FEAT_MIN_TIMEOUT`); an older kernel
    /// is refused with one clear error, never ignored.
    pub fn set_min_wait(&mut self, min_wait: Duration) -> io::Result<()> {
        if !self.ring.params().is_feature_min_timeout() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "batched waits need Linux 6.12 (IORING_FEAT_MIN_TIMEOUT), which this kernel lacks",
            ));
        }
        let usec = u32::try_from(min_wait.as_micros())
            .unwrap_or(u32::MAX)
            .max(1);
        self.min_wait_usec = Some(usec);
        Ok(())
    }

    /// Submits what is queued and waits until at least one completion is ready (none if some
    /// are ready already) or `timeout` passes: one `io_uring_enter`. A timeout is not an
    /// error; `EINTR` is (`ErrorKind::Interrupted`), for the caller to retry.
    pub fn submit_and_wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.submit_and_wait_batched(timeout, 1)
    }

    /// [`submit_and_wait`](Ring::submit_and_wait), but with [`set_min_wait`](Ring::set_min_wait)
    /// set, it waits for `batch` completions for up to the minimum wait before it settles for
    /// one.
    pub fn submit_and_wait_batched(
        &mut self,
        timeout: Option<Duration>,
        batch: u32,
    ) -> io::Result<()> {
        let mut want = usize::from(self.ring.completion().is_empty());
        let queued = self.ring.submission().len();
        if self.ring.submission().cq_overflow() {
            self.counters.cq_overflows += 1;
        }
        if want == 0 && queued == 0 {
            return Ok(()); // completions are waiting and nothing is queued: no syscall needed
        }
        // A faulted enter behaves as the kernel's: the queued entries go in first, then the
        // wait is cut short (an early return) or interrupted (`EINTR`).
        #[cfg(feature = "fault-injection")]
        match crate::fault::spurious_wait() {
            Ok(false) => {}
            Ok(true) => return self.submit().map(drop),
            Err(interrupted) => {
                self.submit()?;
                return Err(interrupted);
            }
        }
        let min_wait = self.min_wait_usec.filter(|_| want == 1 && batch > 1);
        if min_wait.is_some() {
            want = batch as usize;
        }
        let ts = timeout.map(|t| KernelTimespec {
            tv_sec: i64::try_from(t.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(t.subsec_nanos()),
        });
        let arg = (ts.is_some() || min_wait.is_some())
            .then(|| GeteventsArg::new(ts.as_ref(), min_wait.unwrap_or(0)));
        let result = self.enter(queued, want as u32, 0, arg.as_ref());
        self.count_submitted(queued);
        match result {
            // ETIME: the timeout passed. EBUSY: the completion queue is full and must be
            // drained first. Neither is an error here (the submissions were taken either way).
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EBUSY)) => Ok(()),
            other => other.map(drop),
        }
    }

    /// Whether the kernel holds completions back because the completion queue overflowed
    /// (`IORING_SQ_CQ_OVERFLOW`; with `IORING_FEAT_NODROP` none is lost).
    pub fn cq_overflowed(&mut self) -> bool {
        self.ring.submission().cq_overflow()
    }

    /// Has the kernel hand over the completions it held back when the completion queue
    /// overflowed, if it holds any: one `io_uring_enter` with `GETEVENTS` and nothing to wait
    /// for (submitting what is queued as well), which moves as many as there is room for into
    /// the completion queue. Drain the queue first, then call this until it returns `false`,
    /// to have every completion. Returns whether it entered the kernel.
    pub fn take_overflow(&mut self) -> io::Result<bool> {
        if !self.cq_overflowed() {
            return Ok(false);
        }
        self.counters.cq_overflows += 1;
        self.submit_and_settle()?;
        Ok(true)
    }

    /// Counts the entries the kernel took out of the `queued` that were waiting.
    fn count_submitted(&mut self, queued: usize) {
        let left = self.ring.submission().len();
        self.counters.submissions += queued.saturating_sub(left) as u64;
    }

    /// Takes the next ready completion, if any.
    pub fn next_completion(&mut self) -> Option<Completion> {
        let cqe = self.ring.completion().next()?;
        self.counters.completions += 1;
        let flags = cqe.flags();
        if !cqueue::more(flags) {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        let mut completion = Completion {
            user_data: cqe.user_data(),
            result: cqe.result(),
            flags,
            sent_buffer: None,
            lent_unsent: None,
            accepted: None,
        };
        if completion.user_data & RESERVED_USER_DATA != 0 {
            // The ring's own: a send handing its buffer back, or RING_OWN (nothing to do).
            let index = (completion.user_data & !RESERVED_USER_DATA) as usize;
            let Some(slot) = self.owned.get(index) else {
                return Some(completion); // RING_OWN
            };
            if cqueue::more(flags) {
                // A zero-copy send's result: the kernel still reads the buffer.
                if let Some((user_data, _)) = slot {
                    completion.user_data = *user_data;
                }
                return Some(completion);
            }
            let lent = matches!(slot, Some((_, Held::Lent(..))));
            if let Some((user_data, Held::Buffer(buf))) = self.end_held(index, completion.result) {
                completion.user_data = user_data;
                if lent {
                    if completion.result == -libc::EAGAIN {
                        completion.result = 0;
                    }
                    completion.lent_unsent = Some(buf);
                } else {
                    completion.sent_buffer = Some(buf);
                }
            }
            return Some(completion);
        }
        if let Some(at) = self
            .accept_tags
            .iter()
            .position(|&t| t == completion.user_data)
        {
            if completion.result >= 0 {
                // SAFETY: an accept's non-negative result is a descriptor the kernel has just
                // installed in our table for this completion alone; it is taken here, once.
                let socket = unsafe { OwnedFd::from_raw_fd(completion.result) };
                #[cfg(feature = "fault-injection")]
                let socket = crate::fault::accepted(socket, crate::fault::ring_accept_reuses());
                completion.accepted = Some(socket);
            }
            if !cqueue::more(flags) {
                self.accept_tags.swap_remove(at);
            }
        }
        Some(completion)
    }

    /// Whether a completion is ready to be taken without entering the kernel.
    pub fn has_completions(&mut self) -> bool {
        !self.ring.completion().is_empty()
    }

    /// How many completions are ready to be taken without entering the kernel.
    pub fn completions_ready(&mut self) -> usize {
        self.ring.completion().len()
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // Operations in flight may still write into buffers this ring owns: cancel them all
        // and wait (briefly) for their last completions before the memory goes.
        if self.in_flight == 0 {
            return;
        }
        // Tagged as the ring's own: a caller's tag here could be taken for an accept (whose
        // result, the count cancelled, would then be "owned" as a descriptor).
        let cancel = opcode::AsyncCancel2::new(types::CancelBuilder::any())
            .build()
            .user_data(RING_OWN);
        if self.push(cancel).is_ok() {
            let deadline = Instant::now() + Duration::from_secs(1);
            while self.in_flight > 0 && Instant::now() < deadline {
                if let Err(e) = self.submit_and_wait(Some(Duration::from_millis(100))) {
                    if e.kind() != io::ErrorKind::Interrupted {
                        break;
                    }
                }
                while self.next_completion().is_some() {}
            }
        }
        if self.in_flight > 0 {
            // Something would not end: leak the memory it might still write to rather than
            // free it under the kernel's feet.
            for ring in self.buf_rings.drain(..) {
                std::mem::forget(ring);
            }
            for (_, held) in self.owned.iter_mut().flatten() {
                if let Held::Buffer(buf) = held {
                    std::mem::forget(std::mem::take(buf));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
