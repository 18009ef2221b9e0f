//! The completion model (`--model uring`): the notes' "asynchronous I/O", where the kernel does
//! the reads and writes and the program only hears that they are done.
//!
//! One io_uring per loop thread. Every operation is queued in the ring's submission queue and
//! the loop makes one `io_uring_enter` per turn, which submits everything queued and waits for
//! completions, so the syscalls per message fall from about two (readiness: a wait and a read
//! or write, batched over the ready sockets) to a fraction.
//! - Accepting is one multishot accept: a completion per connection. It ends on an error
//!   (`EMFILE` when out of descriptors): the accept rules of [`crate::accept`] then pause it,
//!   and it is re-armed when the pause ends, never at once (that would spin).
//! - Receiving is one multishot receive per connection into a provided-buffer ring shared by the
//!   loop's connections, so an idle connection holds no buffer. When the ring runs dry
//!   (`ENOBUFS`) the receive ends and is re-armed once buffers are back; the bytes wait in the
//!   socket meanwhile. Past `--max-buffer` owed bytes the receive is cancelled and not re-armed
//!   until the peer has read: the same backpressure as every model.
//! - Sending: at most one send in flight per connection, so bytes are never reordered. The
//!   owed bytes move into the send (`Connection::take_owed` swaps the connection's buffer for
//!   the connection's spare one: no copy), and new answers buffer meanwhile; a short send
//!   re-sends the rest of the same buffer before anything newer.
//! - Echo answers in place: received bytes that arrive with nothing buffered are kept in the
//!   provided buffer they landed in (`Ring::lend`) and sent from there, the bytes a connection
//!   kept in one turn in one send (`Ring::send_lent`), not copied into its buffer. Such a send
//!   never waits; what the socket did not take comes back copied and goes next (bytes arriving
//!   meanwhile are copied as usual), so a peer that does not read pins no shared buffer. Bytes
//!   are kept only behind such a send, never behind one that may wait.
//! - Closing cancels the connection's operations and closes the fd inside the kernel, in that
//!   order, so the fd number is not reused while completions of the old connection are on
//!   their way; each `user_data` also carries the connection's generation, and completions of
//!   a generation that is gone are dropped (their provided buffers given back).
//!
//! The protocol rules (partial writes, half-close, draining, idle time) are the library's
//! connection core, [`iomux::conn::Connection`], driven through its sans-I/O face.
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use iomux::conn::Connection;
use iomux::trace::{Tracer, Wait, Wake};
use iomux::BackendKind;
use iomux_sys::eventfd::EventFd;
use iomux_sys::uring::{BufGroup, Completion, Lent, Ring, RingOptions, Setup, MAX_LENT_PER_SEND};
use tracing::{debug, info};

use crate::accept::Acceptor;
use crate::answer::Answer;
use crate::board::Publisher;
use crate::config::RingSetup;
use crate::counters::Counters;
use crate::shared::Shared;
use crate::shutdown::Drain;

/// The most completions a batched wait (`--ring-min-wait`) waits for.
const BATCH: u32 = 64;

/// How many completions a wait gathers under `--ring-min-wait` before it settles for what
/// came, after a turn that reaped `reaped` with `open` connections: as many as that turn
/// reaped, when it was a batch (at least [`BATCH_FROM`]), at most one per open connection and
/// [`BATCH`]; else one, which never waits longer than for the first. The load decides: a busy
/// server sleeps once per batch, a lightly loaded one answers each message as it comes.
fn batch_after(reaped: u32, open: usize) -> u32 {
    if reaped < BATCH_FROM {
        return 1;
    }
    reaped
        .min(u32::try_from(open).unwrap_or(u32::MAX))
        .clamp(1, BATCH)
}

/// The fewest completions a turn must have reaped for the next wait to be batched
/// (`--ring-min-wait`): below it the load is not heavy, and waiting for company would add the
/// minimum wait to the answers. Half of [`BATCH`]: with 8, a server at half its load (5–10
/// completions a turn at 100 and 1,000 connections × 64 B) batched and answered 80–90 µs later
/// at the median; with 32 it does not, and the closed loop still batches (BENCHMARKS §25).
const BATCH_FROM: u32 = 32;

/// The setups `--ring-setup` asks for, fastest first.
fn ring_setups(asked: RingSetup) -> Vec<Setup> {
    let [_, defer, coop, plain] = Setup::FASTEST_FIRST;
    match asked {
        RingSetup::Auto => Setup::FASTEST_FIRST.to_vec(),
        RingSetup::DeferTaskrun => vec![defer],
        RingSetup::CoopTaskrun => vec![coop],
        RingSetup::Plain => vec![plain],
    }
}

/// What an operation was, in the top bits of its `user_data` (below the ring's reserved bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Accept = 0,
    Recv = 1,
    Send = 2,
    /// Cancellations and closes: their completions mean nothing to the loop.
    Close = 3,
    Wake = 4,
}

const OP_SHIFT: u32 = 59;
const GENERATION_MASK: u32 = (1 << 27) - 1;

/// `user_data`: the op in bits 59..62, the connection's generation in bits 32..58, its slot
/// in bits 0..31.
fn tag(op: Op, slot: u32, generation: u32) -> u64 {
    ((op as u64) << OP_SHIFT) | (u64::from(generation & GENERATION_MASK) << 32) | u64::from(slot)
}

fn untag(user_data: u64) -> (Option<Op>, u32, u32) {
    let op = match (user_data >> OP_SHIFT) & 0xf {
        0 => Some(Op::Accept),
        1 => Some(Op::Recv),
        2 => Some(Op::Send),
        3 => Some(Op::Close),
        4 => Some(Op::Wake),
        _ => None,
    };
    (
        op,
        user_data as u32,
        (user_data >> 32) as u32 & GENERATION_MASK,
    )
}

struct Client {
    socket: OwnedFd,
    conn: Connection<Answer>,
    generation: u32,
    /// A multishot receive is in flight.
    receiving: bool,
    /// Its cancellation was queued (backpressure or draining).
    cancelling_receive: bool,
    /// A send is in flight (at most one), of its buffer from this offset.
    sending: bool,
    send_offset: usize,
    /// The send in flight is of lent bytes: it cannot wait, so more may be kept behind it.
    sending_lent: bool,
    /// Received bytes kept where they landed, to be sent next (after `unsent`: there is none
    /// while they are kept), in order.
    lent: Vec<Lent>,
    /// A buffer a short send handed back: its bytes from `send_offset` go next, before
    /// anything newer.
    unsent: Option<Vec<u8>>,
    /// Queued in `Server::touched` for this turn.
    touched: bool,
    /// The send buffer, when no send has it: reused, so steady state allocates nothing.
    spare: Vec<u8>,
    /// A receive or send failed: close once nothing is in flight.
    failed: bool,
    /// Its receive ran dry (`ENOBUFS`): it waits in `Server::starved` for buffers.
    starved: bool,
}

struct Server<'a> {
    shared: &'a Shared,
    ring: Ring,
    group: BufGroup,
    wake: Arc<EventFd>,
    listener: Option<TcpListener>,
    accepting: bool,
    acceptor: Acceptor,
    clients: Vec<Option<Client>>,
    free_slots: Vec<u32>,
    open: usize,
    next_generation: u32,
    /// Connections accepted while `--max-conns` was full: served when places free up.
    parked: std::collections::VecDeque<OwnedFd>,
    /// Slots with news this turn, driven once at the end of it.
    touched: Vec<u32>,
    /// Connections whose receive ran dry, oldest first, with their generations: re-armed at
    /// the end of a turn, as many as the kernel has buffers for.
    starved: std::collections::VecDeque<(u32, u32)>,
    counters: Counters,
    /// Completions the last turn reaped: the next batched wait asks for as many.
    reaped: u32,
    publisher: Publisher,
    next_idle_sweep: Option<Instant>,
    drain: Option<Drain>,
    /// Trace mode (`--trace`): each turn's `io_uring_enter` as its wait, and the completions
    /// it reaped as its calls.
    tracer: Option<Tracer>,
}

/// Serves on `listener` with one io_uring until shutdown and its drain; returns what it did.
pub fn serve(listener: TcpListener, shared: &Shared) -> io::Result<Counters> {
    let config = &shared.config.ring;
    let ring = Ring::new(&RingOptions {
        entries: config.ring_entries,
        cq_entries: None,
        setups: ring_setups(config.ring_setup),
        // The ring is this thread's alone, created and dropped here.
        register_ring_fd: true,
    })
    .map_err(|e| io::Error::new(e.kind(), format!("--model uring: {e}")))?;
    for (setup, why) in ring.refused() {
        info!("io_uring refused {setup} ({why}); trying the next setup");
    }
    debug!(
        setup = %ring.setup(),
        cq = ring.cq_entries(),
        ring_fd_registered = ring.ring_fd_registered(),
        "io_uring ready"
    );
    let mut ring = ring;
    if let Some(usec) = config.ring_min_wait {
        ring.set_min_wait(Duration::from_micros(u64::from(usec)))
            .map_err(|e| io::Error::new(e.kind(), format!("--ring-min-wait: {e}")))?;
    }
    let group = ring
        .add_buffer_group(config.ring_buffers, config.ring_buffer_size)
        .map_err(|e| io::Error::new(e.kind(), format!("--model uring: buffer ring: {e}")))?;
    let wake = Arc::new(EventFd::new()?);
    let notify = wake.clone();
    shared.shutdown.on_request(move || {
        let _ = notify.signal();
    });
    let mut server = Server {
        shared,
        ring,
        group,
        wake,
        listener: Some(listener),
        accepting: false,
        acceptor: Acceptor::default(),
        clients: Vec::new(),
        free_slots: Vec::new(),
        open: 0,
        reaped: 0,
        next_generation: 0,
        parked: std::collections::VecDeque::new(),
        touched: Vec::new(),
        starved: std::collections::VecDeque::new(),
        counters: Counters::default(),
        publisher: shared.publisher(0),
        next_idle_sweep: crate::shared::first_idle_sweep(shared),
        drain: None,
        tracer: shared
            .trace_records()
            .map(|records| Tracer::new(BackendKind::IoUring, records)),
    };
    server.arm_wake()?;
    server.listen(Instant::now())?;
    let ran = server.run();
    shared.keep_trace(
        0,
        server.tracer.take().map(|mut t| {
            t.end_turn();
            t
        }),
    );
    ran?;
    let c = server.ring.counters();
    server.counters.cq_overflows = c.cq_overflows;
    server.counters.selector = iomux::Stats {
        wait_calls: server.counters.loop_iterations,
        enter_calls: c.enters,
        submissions: c.submissions,
        completions: c.completions,
        ..iomux::Stats::default()
    };
    Ok(server.counters)
}

impl Server<'_> {
    fn run(&mut self) -> io::Result<()> {
        loop {
            let timeout = crate::shared::time_to_next_deadline(
                &self.acceptor,
                self.next_idle_sweep,
                self.drain.as_ref(),
                &self.publisher,
            );
            if let Some(tracer) = self.tracer.as_mut() {
                tracer.end_turn();
            }
            // The clock is read before the wait only when tracing.
            let began = self.tracer.is_some().then(Instant::now);
            let batch = batch_after(self.reaped, self.open);
            let interrupted = match self.ring.submit_and_wait_batched(timeout, batch) {
                Ok(()) => false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => true,
                Err(e) => return Err(e),
            };
            let now = Instant::now();
            if let Some(began) = began {
                self.trace_wait(began, now, timeout, interrupted);
            }
            self.counters.loop_iterations += 1;
            let mut reaped = 0;
            while let Some(completion) = self.ring.next_completion() {
                reaped += 1;
                self.complete(completion, now)?;
            }
            self.reaped = reaped;
            let mut touched = std::mem::take(&mut self.touched);
            for slot in touched.drain(..) {
                self.drive(slot, now)?;
            }
            self.touched = touched;
            self.rearm_starved()?;
            let counters = &self.counters;
            let clients = &self.clients;
            self.publisher.tick(now, || Counters {
                // Owed in all: buffered, and taken into sends not yet reported sent.
                buffered: Some(
                    clients
                        .iter()
                        .flatten()
                        .map(|c| c.conn.owed_len() as u64)
                        .sum(),
                ),
                ..*counters
            });

            if self.shared.shutdown.is_requested() && self.drain.is_none() {
                self.start_draining(now)?;
            }
            if let Some(drain) = self.drain {
                if drain.is_over(now, self.open) {
                    return Ok(());
                }
                continue;
            }
            if self.acceptor.resume_due(now) {
                self.listen(now)?;
            }
            if self.next_idle_sweep.is_some_and(|t| now >= t) {
                self.sweep_idle(now)?;
            }
        }
    }

    fn arm_wake(&mut self) -> io::Result<()> {
        self.ring.poll_add(
            self.wake.as_raw_fd(),
            libc::POLLIN as u32,
            true,
            tag(Op::Wake, 0, 0),
        )
    }

    /// Serves parked connections while places are free, then (re)arms the multishot accept
    /// unless it is armed already or `--max-conns` is full.
    fn listen(&mut self, now: Instant) -> io::Result<()> {
        while !self.shared.limit.is_full() {
            let Some(socket) = self.parked.pop_front() else {
                break;
            };
            self.open_client(socket, now)?;
        }
        let Some(listener) = &self.listener else {
            return Ok(());
        };
        if self.accepting || self.acceptor.is_paused() {
            return Ok(());
        }
        if self.shared.limit.is_full() {
            self.acceptor.pause_full(now);
            return Ok(());
        }
        self.ring
            .accept_multi(listener.as_raw_fd(), tag(Op::Accept, 0, 0))?;
        self.accepting = true;
        Ok(())
    }

    /// Begins a traced turn: the wait is the `io_uring_enter` just made; its events are the
    /// completions now ready.
    #[cold]
    fn trace_wait(
        &mut self,
        began: Instant,
        now: Instant,
        timeout: Option<Duration>,
        interrupted: bool,
    ) {
        let ready = self.ring.completions_ready();
        // A completion is a descriptor's news (the shutdown eventfd's too); none: the time ran out.
        let woke = if ready == 0 { Wake::Timeout } else { Wake::Fd };
        if let Some(tracer) = self.tracer.as_mut() {
            tracer.begin_turn(Wait {
                start: began,
                blocked: now - began,
                timeout,
                fds_passed: 0,
                events: ready,
                woke,
                interrupted: u32::from(interrupted),
            });
        }
    }

    /// Records a completion for the running traced turn.
    #[cold]
    fn trace_completion(&mut self, op: Op, slot: u32, generation: u32, result: i32) {
        use iomux_sys::trace::Op as Traced;
        let mut client_fd = || {
            live_client(&mut self.clients, slot, generation).map_or(-1, |c| c.socket.as_raw_fd())
        };
        let (traced, fd) = match op {
            Op::Accept => (
                Traced::AcceptDone,
                self.listener.as_ref().map_or(-1, |l| l.as_raw_fd()),
            ),
            Op::Recv => (Traced::RecvDone, client_fd()),
            Op::Send => (Traced::SendDone, client_fd()),
            Op::Close | Op::Wake => return,
        };
        iomux_sys::trace::record(traced, fd, i64::from(result));
    }

    fn complete(&mut self, completion: Completion, now: Instant) -> io::Result<()> {
        let (op, slot, generation) = untag(completion.user_data);
        if self.tracer.is_some() {
            if let Some(op) = op {
                self.trace_completion(op, slot, generation, completion.result);
            }
        }
        match op {
            Some(Op::Accept) => self.accepted(completion, now),
            Some(Op::Recv) => self.received(slot, generation, &completion, now),
            Some(Op::Send) => {
                self.sent(slot, generation, completion, now);
                Ok(())
            }
            Some(Op::Wake) => {
                let _ = self.wake.drain();
                if !completion.more() {
                    self.arm_wake()?;
                }
                Ok(())
            }
            Some(Op::Close) | None => Ok(()),
        }
    }

    fn accepted(&mut self, mut completion: Completion, now: Instant) -> io::Result<()> {
        if !completion.more() {
            self.accepting = false;
        }
        match completion.io_result() {
            Ok(_) => {
                self.acceptor.succeeded();
                let Some(socket) = completion.accepted.take() else {
                    return Ok(());
                };
                if self.drain.is_some() || self.listener.is_none() {
                    return Ok(()); // shutting down: dropped, which closes it
                }
                if self.shared.limit.is_full() {
                    self.parked.push_back(socket);
                    self.stop_accepting(now);
                } else {
                    self.open_client(socket, now)?;
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => {}
            // A transient error re-arms at once below; any other pauses accepting first.
            Err(e) => drop(self.acceptor.failed(&e, now)),
        }
        if !self.accepting && !self.acceptor.is_paused() && self.drain.is_none() {
            self.listen(now)?;
        }
        Ok(())
    }

    /// Cancels the multishot accept (`--max-conns` reached): new clients wait in the backlog.
    fn stop_accepting(&mut self, now: Instant) {
        self.acceptor.pause_full(now);
        if self.accepting {
            let _ = self
                .ring
                .cancel(tag(Op::Accept, 0, 0), tag(Op::Close, 0, 0));
        }
    }

    fn open_client(&mut self, socket: OwnedFd, now: Instant) -> io::Result<()> {
        // Small answers go out at once; a failure here only costs latency.
        let _ = socket2::SockRef::from(&socket).set_nodelay(true);
        let slot = match self.free_slots.pop() {
            Some(slot) => slot,
            None => {
                self.clients.push(None);
                (self.clients.len() - 1) as u32
            }
        };
        let generation = self.next_generation;
        self.next_generation = (self.next_generation + 1) & GENERATION_MASK;
        let config = &self.shared.config;
        self.clients[slot as usize] = Some(Client {
            socket,
            conn: Connection::new(config.proto.clone(), config.buffer_limit, now),
            generation,
            receiving: false,
            cancelling_receive: false,
            sending: false,
            send_offset: 0,
            sending_lent: false,
            lent: Vec::new(),
            unsent: None,
            touched: false,
            spare: Vec::new(),
            failed: false,
            starved: false,
        });
        self.open += 1;
        self.counters.accepted += 1;
        self.shared.limit.opened();
        debug!(slot, "connection opened");
        self.drive(slot, now)
    }

    fn received(
        &mut self,
        slot: u32,
        generation: u32,
        completion: &Completion,
        now: Instant,
    ) -> io::Result<()> {
        let group = self.group;
        let Some(client) = live_client(&mut self.clients, slot, generation) else {
            // A completion of a connection that is gone: give its buffer back, nothing else.
            self.ring.take_buffer(group, completion, |_| ());
            return Ok(());
        };
        if !completion.more() {
            client.receiving = false;
            client.cancelling_receive = false;
        }
        match completion.result {
            n if n > 0 => {
                // Kept only behind a send that cannot wait, with nothing buffered to go first.
                let lent = (!client.sending || client.sending_lent)
                    && client.lent.len() < MAX_LENT_PER_SEND
                    && client.unsent.is_none()
                    && !client.failed
                    && client.conn.answers_in_place()
                    && self
                        .shared
                        .config
                        .ring
                        .ring_zero_copy_above
                        .is_none_or(|min| (n as usize) < min);
                if let Some(lent) = lent.then(|| self.ring.lend(group, completion)).flatten() {
                    self.counters.sent_in_place += 1;
                    client.lent.push(lent);
                    client.conn.receive_answered_in_place(n as usize, now);
                } else {
                    let conn = &mut client.conn;
                    self.ring
                        .take_buffer(group, completion, |bytes| conn.receive(bytes, now));
                }
                self.counters.bytes_in += n as u64;
                self.counters.reads += 1;
                crate::plant::per_message(1);
            }
            0 => client.conn.receive_end(),
            // The buffer ring ran dry: the bytes wait in the socket; the receive waits its
            // turn for buffers (`rearm_starved`).
            e if e == -libc::ENOBUFS => {
                self.counters.out_of_buffers += 1;
                if !client.starved {
                    client.starved = true;
                    self.starved.push_back((slot, generation));
                }
            }
            e if e == -libc::ECANCELED => {}
            e => {
                debug!(slot, "receive failed: {}", io::Error::from_raw_os_error(-e));
                client.failed = true;
            }
        }
        touch(&mut self.touched, client, slot);
        Ok(())
    }

    fn sent(&mut self, slot: u32, generation: u32, completion: Completion, now: Instant) {
        let Some(client) = live_client(&mut self.clients, slot, generation) else {
            return; // the connection is gone; its buffer is simply dropped
        };
        if !completion.is_notification() {
            match completion.result {
                n if n >= 0 => {
                    client.conn.sent(n as usize, now);
                    client.send_offset += n as usize;
                    self.counters.bytes_out += n as u64;
                }
                e => {
                    debug!(slot, "send failed: {}", io::Error::from_raw_os_error(-e));
                    client.failed = true;
                }
            }
        }
        // A send of lent bytes ended: what it did not send goes next, from a copy, and the
        // bytes kept behind it with it (they cannot wait behind a send that may wait).
        if let Some(mut rest) = completion.lent_unsent {
            client.sending = false;
            client.sending_lent = false;
            if !rest.is_empty() && !client.failed {
                for lent in client.lent.drain(..) {
                    self.ring.copy_back(lent, &mut rest);
                }
                client.send_offset = 0;
                client.unsent = Some(rest);
            }
        }
        // The buffer comes back with the send's last completion: its result, or for a
        // zero-copy send the notification that the kernel is done reading it.
        if let Some(buf) = completion.sent_buffer {
            client.sending = false;
            if client.failed || client.send_offset >= buf.len() {
                client.spare = buf;
            } else {
                client.unsent = Some(buf); // a short send: `drive` sends the rest first
            }
        }
        touch(&mut self.touched, client, slot);
    }

    /// Does what a connection needs now: send what is owed, receive or stop receiving, or
    /// close. Called once per turn for each connection with news.
    fn drive(&mut self, slot: u32, now: Instant) -> io::Result<()> {
        let group = self.group;
        let Some(client) = self.clients.get_mut(slot as usize).and_then(Option::as_mut) else {
            return Ok(());
        };
        client.touched = false;
        let fd = client.socket.as_raw_fd();
        let generation = client.generation;
        if client.failed || client.conn.is_finished() {
            if client.failed || !client.sending {
                self.close(slot, now)?;
            }
            return Ok(());
        }
        if !client.sending && !client.lent.is_empty() {
            client.sending = true;
            client.sending_lent = true;
            self.ring
                .send_lent(fd, &mut client.lent, tag(Op::Send, slot, generation))?;
        }
        let client = self.clients[slot as usize].as_mut().expect("present above");
        let next_send = if client.sending {
            None
        } else if let Some(buf) = client.unsent.take() {
            Some(buf)
        } else if !client.conn.owed().is_empty() {
            // The owed bytes move into the send (no copy); the connection goes on buffering
            // on the spare storage.
            client.send_offset = 0;
            Some(client.conn.take_owed(std::mem::take(&mut client.spare)))
        } else {
            None
        };
        if let Some(buf) = next_send {
            client.sending = true;
            let offset = client.send_offset;
            let zero_copy_above = self.shared.config.ring.ring_zero_copy_above;
            send(
                &mut self.ring,
                fd,
                buf,
                offset,
                zero_copy_above,
                tag(Op::Send, slot, generation),
            )?;
        }
        let client = self.clients[slot as usize].as_mut().expect("present above");
        if client.conn.wants_read() {
            if !client.receiving && !client.starved {
                client.receiving = true;
                self.ring
                    .recv_multi(fd, group, tag(Op::Recv, slot, generation))?;
            }
        } else if client.receiving && !client.cancelling_receive {
            // Backpressure or draining: stop the multishot receive. What it delivers before
            // the cancellation lands is still handed to the protocol.
            client.cancelling_receive = true;
            self.ring.cancel(
                tag(Op::Recv, slot, generation),
                tag(Op::Close, slot, generation),
            )?;
        }
        Ok(())
    }

    /// Arms again the receives that ran dry, oldest first, as many as the kernel has buffers
    /// to fill. Arming them all at once had most fail again at once, turn after turn (several
    /// failed receives a message at 1,000 connections × 16 KiB × pipeline 16), and the
    /// connections whose receive stayed armed took the buffers as they came back: a few
    /// were served over and over while the rest starved for seconds (BENCHMARKS §21).
    fn rearm_starved(&mut self) -> io::Result<()> {
        if self.starved.is_empty() {
            return Ok(()); // the usual turn: nothing ran dry
        }
        let group = self.group;
        let mut budget = self.ring.buffers_free(group);
        while budget > 0 {
            let Some((slot, generation)) = self.starved.pop_front() else {
                break;
            };
            let Some(client) = live_client(&mut self.clients, slot, generation) else {
                continue; // closed meanwhile
            };
            client.starved = false;
            // Not wanting to read now (backpressure, draining, failed): `drive` arms it
            // when it does.
            if client.receiving || client.failed || !client.conn.wants_read() {
                continue;
            }
            client.receiving = true;
            let fd = client.socket.as_raw_fd();
            self.ring
                .recv_multi(fd, group, tag(Op::Recv, slot, generation))?;
            budget -= 1;
        }
        Ok(())
    }

    fn close(&mut self, slot: u32, now: Instant) -> io::Result<()> {
        let Some(mut client) = self.clients.get_mut(slot as usize).and_then(Option::take) else {
            return Ok(());
        };
        for lent in client.lent.drain(..) {
            self.ring.give_back(lent);
        }
        self.free_slots.push(slot);
        self.open -= 1;
        self.shared.limit.closed();
        self.acceptor.on_close(now);
        debug!(slot, "connection closed");
        // The kernel cancels what is in flight, then closes: see the module docs.
        self.ring
            .cancel_and_close(client.socket, tag(Op::Close, slot, client.generation))
    }

    fn sweep_idle(&mut self, now: Instant) -> io::Result<()> {
        let Some(idle) = self.shared.config.idle_timeout else {
            return Ok(());
        };
        self.next_idle_sweep = Some(now + crate::shared::sweep_period(idle));
        let expired: Vec<u32> = self
            .clients
            .iter()
            .enumerate()
            .filter_map(|(slot, c)| {
                let c = c.as_ref()?;
                (now.duration_since(c.conn.last_active()) >= idle).then_some(slot as u32)
            })
            .collect();
        for slot in expired {
            debug!(slot, "idle timeout");
            self.close(slot, now)?;
        }
        Ok(())
    }

    fn start_draining(&mut self, now: Instant) -> io::Result<()> {
        self.drain = Some(Drain::start(now, self.shared.config.grace));
        self.acceptor.stop();
        self.next_idle_sweep = None;
        self.parked.clear();
        if let Some(listener) = self.listener.take() {
            self.ring
                .cancel_and_close(OwnedFd::from(listener), tag(Op::Close, 0, 0))?;
            self.accepting = false;
            // Submitted now: clients must find the port closed at once.
            self.ring.submit()?;
        }
        for slot in 0..self.clients.len() as u32 {
            if let Some(client) = self.clients[slot as usize].as_mut() {
                client.conn.start_draining();
                self.drive(slot, now)?;
            }
        }
        Ok(())
    }
}

/// Queues the connection for `drive` at the end of this turn, once however many completions
/// it had.
fn touch(touched: &mut Vec<u32>, client: &mut Client, slot: u32) {
    if !client.touched {
        client.touched = true;
        touched.push(slot);
    }
}

/// The connection in `slot` if it is still the one of `generation` (not closed, not replaced).
fn live_client(clients: &mut [Option<Client>], slot: u32, generation: u32) -> Option<&mut Client> {
    clients
        .get_mut(slot as usize)
        .and_then(Option::as_mut)
        .filter(|c| c.generation == generation)
}

/// Sends `buf[offset..]`, without a copy in the kernel (`SEND_ZC`) when it is at least
/// `zero_copy_above` bytes (`--ring-zero-copy-above`).
fn send(
    ring: &mut Ring,
    fd: RawFd,
    buf: Vec<u8>,
    offset: usize,
    zero_copy_above: Option<usize>,
    user_data: u64,
) -> io::Result<()> {
    if zero_copy_above.is_some_and(|min| buf.len() - offset >= min) {
        ring.send_zero_copy(fd, buf, offset, user_data)
    } else {
        ring.send(fd, buf, offset, user_data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_is_batched_only_after_a_busy_turn_and_never_beyond_the_open_connections() {
        // A light load: every wait settles for the first completion, with no extra wait.
        for reaped in 0..BATCH_FROM {
            assert_eq!(batch_after(reaped, 1000), 1, "after {reaped}");
        }
        // A busy turn: the next wait asks for as many.
        assert_eq!(batch_after(BATCH_FROM, 1000), BATCH_FROM);
        assert_eq!(batch_after(40, 1000), 40);
        // Never more than there are connections to answer, nor than BATCH.
        assert_eq!(batch_after(40, 12), 12);
        assert_eq!(batch_after(500, 1000), BATCH);
        // Completions without connections (accepts, timeouts): still at least one.
        assert_eq!(batch_after(40, 0), 1);
    }
}
