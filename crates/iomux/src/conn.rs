//! The connection core: one client connection's protocol state and what it owes the peer,
//! shared by every server model.
//!
//! A [`Protocol`] turns bytes received into bytes to send, keeping whatever state it needs
//! across reads (a request split over two reads, a keep-alive count). It never touches a
//! socket: it is handed the input and writes its answers into an [`OutBuffer`], so it can be
//! tested byte by byte, and driven by any loop: a readiness loop that reads and writes itself,
//! a thread with blocking calls, or a completion loop (io_uring) whose kernel did the reads.
//!
//! [`Connection`] wraps a protocol with the rules every model must keep, in one place:
//! - partial writes: what the kernel does not take waits in the [`OutBuffer`], in order, and
//!   the connection asks for WRITE only while something waits;
//! - backpressure: past the buffer's limit it stops reading until the buffer drains, so a peer
//!   that sends but never reads costs bounded memory and no one else's service;
//! - half-close: after the peer's end of stream it still delivers everything owed, then is
//!   finished;
//! - errors (reset, broken pipe) are returned, and the caller closes;
//! - draining: on shutdown it stops reading, delivers what it owes, then is finished;
//! - activity: when it last moved a byte, for idle timeouts.
//!
//! It has two faces. The sans-I/O face ([`receive`](Connection::receive),
//! [`owed`](Connection::owed), [`sent`](Connection::sent), [`receive_end`](Connection::receive_end))
//! is for drivers that own the I/O. The readiness face ([`on_ready`](Connection::on_ready),
//! [`read_available`](Connection::read_available), [`write_owed`](Connection::write_owed)) does
//! the non-blocking reads and writes itself on any stream, and reports the bytes it moved.
//!
//! ```
//! use std::time::Instant;
//! use iomux::conn::{Connection, Protocol};
//! use iomux::OutBuffer;
//!
//! /// Answers each line with its length.
//! #[derive(Default)]
//! struct LineLengths { partial: usize }
//! impl Protocol for LineLengths {
//!     fn on_bytes(&mut self, input: &[u8], out: &mut OutBuffer) {
//!         for &b in input {
//!             if b == b'\n' {
//!                 out.push(format!("{}\n", self.partial).as_bytes());
//!                 self.partial = 0;
//!             } else {
//!                 self.partial += 1;
//!             }
//!         }
//!     }
//! }
//!
//! let mut conn = Connection::new(LineLengths::default(), 1 << 20, Instant::now());
//! conn.receive(b"hel", Instant::now());
//! conn.receive(b"lo\nab\n", Instant::now()); // a line split across two reads
//! assert_eq!(conn.owed(), b"5\n2\n");
//! ```
use std::io::{self, Read, Write};
use std::time::Instant;

use crate::buffer::OutBuffer;
use crate::interest::{Interest, Readiness};

/// What a connection says to the bytes it receives. See the [module docs](self).
pub trait Protocol {
    /// `input` arrived from the peer (any split of the stream: a message may end in a later
    /// call); append the answers to `out`.
    fn on_bytes(&mut self, input: &[u8], out: &mut OutBuffer);

    /// The peer will send nothing more (it may still read). Append any last answer to `out`.
    fn on_end(&mut self, _out: &mut OutBuffer) {}

    /// Whether the protocol wants more input. When it stops wanting it (an HTTP response with
    /// `Connection: close`), the connection delivers what is owed and is finished.
    fn wants_read(&self) -> bool {
        true
    }

    /// Whether answers are still to come from elsewhere (work handed to another thread, such
    /// as a database query). Meanwhile the connection reads nothing more (what the peer sends
    /// waits in the kernel), is not finished, and with nothing owed asks for
    /// [`Interest::NONE`]; the driver hands the answer in with
    /// [`Connection::answer_later`].
    fn awaiting(&self) -> bool {
        false
    }

    /// Whether the answer to any input is that input itself, byte for byte (an echo), so a
    /// driver may send received bytes from where they landed instead of handing them to
    /// [`on_bytes`](Self::on_bytes) (see [`Connection::answers_in_place`]).
    fn answer_is_input(&self) -> bool {
        false
    }
}

/// Bytes one call moved, and the error that ended the connection, if one did.
#[derive(Debug, Default)]
#[must_use = "an error in a transfer means the connection must be closed"]
pub struct Transfer {
    /// Bytes read from the peer.
    pub bytes_in: u64,
    /// Bytes written to the peer.
    pub bytes_out: u64,
    /// Reads that returned data (each one's bytes were answered at once: "messages").
    pub reads: u64,
    /// A read or write failed (reset, broken pipe, ...): close the connection.
    pub error: Option<io::Error>,
    /// The read stopped at its budget (one full buffer) and the socket may hold more: serve
    /// the connection again without waiting for news. A level-triggered wait reports it again
    /// by itself; under edge triggering tell the selector
    /// ([`Selector::still_ready`](crate::Selector::still_ready)).
    pub more_to_read: bool,
}

impl Transfer {
    /// Adds another call's transfer (the first error stays). Inlined, and the error moved
    /// only when there is one: this runs for every read of every message (callgrind counted
    /// ~40 instructions a message for it as an out-of-line call).
    #[inline]
    fn add(&mut self, other: Transfer) {
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.reads += other.reads;
        self.more_to_read |= other.more_to_read;
        if let Some(e) = other.error {
            self.error.get_or_insert(e);
        }
    }
}

/// A protocol and what it owes its peer, with the rules every model keeps. See the
/// [module docs](self).
#[derive(Debug)]
pub struct Connection<P> {
    protocol: P,
    out: OutBuffer,
    /// Owed bytes a driver took out with `take_owed` and has not reported sent.
    taken: usize,
    peer_done: bool,
    draining: bool,
    last_active: Instant,
}

impl<P: Protocol> Connection<P> {
    /// A connection that stops reading while more than `buffer_limit` bytes are owed.
    pub fn new(protocol: P, buffer_limit: usize, now: Instant) -> Self {
        Connection {
            protocol,
            out: OutBuffer::with_limit(buffer_limit),
            taken: 0,
            peer_done: false,
            draining: false,
            last_active: now,
        }
    }

    /// The protocol's state.
    pub fn protocol(&self) -> &P {
        &self.protocol
    }

    /// The protocol's state, mutable.
    pub fn protocol_mut(&mut self) -> &mut P {
        &mut self.protocol
    }

    /// When the connection last moved a byte (or was created).
    pub fn last_active(&self) -> Instant {
        self.last_active
    }

    /// Whether the connection should read now: the peer has not ended, the server is not
    /// shutting down, the protocol wants input, and the buffer is not over its limit.
    pub fn wants_read(&self) -> bool {
        !self.peer_done
            && !self.draining
            && !self.is_over_limit()
            && self.protocol.wants_read()
            && !self.protocol.awaiting()
    }

    /// More than the buffer limit is owed, counting bytes taken out and not yet sent.
    fn is_over_limit(&self) -> bool {
        self.out.len() + self.taken > self.out.limit()
    }

    /// Bytes owed in all: buffered, or taken out by the driver and not yet reported sent.
    pub fn owed_len(&self) -> usize {
        self.out.len() + self.taken
    }

    /// Whether everything is done: nothing more will be read, and nothing is owed. Close it.
    pub fn is_finished(&self) -> bool {
        self.out.is_empty()
            && self.taken == 0
            && !self.protocol.awaiting()
            && (self.peer_done || self.draining || !self.protocol.wants_read())
    }

    /// What to wait for next; `None` means the connection is finished and should be closed.
    pub fn interest(&self) -> Option<Interest> {
        if self.is_finished() {
            return None;
        }
        Some(match (self.wants_read(), !self.out.is_empty()) {
            (true, true) => Interest::BOTH,
            (false, true) => Interest::WRITE,
            (true, false) => Interest::READ,
            // Not reading, nothing owed, not finished: an answer is still to come (the buffer
            // limit cannot be passed with nothing buffered). Park until it does.
            (false, false) => Interest::NONE,
        })
    }

    /// Lets the protocol append an answer that was computed elsewhere (see
    /// [`Protocol::awaiting`]); then write what is owed and ask [`interest`](Self::interest)
    /// again.
    pub fn answer_later<R>(&mut self, answer: impl FnOnce(&mut P, &mut OutBuffer) -> R) -> R {
        answer(&mut self.protocol, &mut self.out)
    }

    /// Stops reading; what is owed is still delivered (server shutdown).
    pub fn start_draining(&mut self) {
        self.draining = true;
    }

    // The sans-I/O face.

    /// Hands bytes received from the peer to the protocol.
    pub fn receive(&mut self, input: &[u8], now: Instant) {
        self.last_active = now;
        self.protocol.on_bytes(input, &mut self.out);
    }

    /// Whether bytes received now may be answered in place, by the driver sending them from
    /// where they landed: the protocol's answer is its input, and nothing is buffered here to
    /// go before them. (Bytes the driver took out, or answered in place before, go first: the
    /// driver keeps those in order itself.)
    #[inline]
    pub fn answers_in_place(&self) -> bool {
        self.out.is_empty() && self.protocol.answer_is_input()
    }

    /// `n` bytes received were answered in place (see [`answers_in_place`](Self::answers_in_place)):
    /// the driver sends them itself. They count as owed, taken out, until [`sent`](Self::sent)
    /// reports them delivered.
    #[inline]
    pub fn receive_answered_in_place(&mut self, n: usize, now: Instant) {
        debug_assert!(self.answers_in_place(), "bytes owed before the echoed ones");
        self.last_active = now;
        self.taken += n;
    }

    /// The peer ended its stream.
    pub fn receive_end(&mut self) {
        if !self.peer_done {
            self.peer_done = true;
            self.protocol.on_end(&mut self.out);
        }
    }

    /// The bytes owed to the peer and still buffered, oldest first (after any taken out).
    pub fn owed(&self) -> &[u8] {
        self.out.as_slice()
    }

    /// Takes every buffered owed byte out, for a driver whose send completes later and needs
    /// the bytes to stay put meanwhile (io_uring): no copy, the buffer continues on `spare`'s
    /// storage. The bytes still count as owed (for backpressure and
    /// [`is_finished`](Self::is_finished)) until [`sent`](Self::sent) reports them delivered.
    pub fn take_owed(&mut self, spare: Vec<u8>) -> Vec<u8> {
        let taken = self.out.take(spare);
        self.taken += taken.len();
        taken
    }

    /// The first `n` owed bytes were delivered: those taken out first, then buffered ones.
    pub fn sent(&mut self, n: usize, now: Instant) {
        if n > 0 {
            let from_taken = n.min(self.taken);
            self.taken -= from_taken;
            self.out.consume(n - from_taken);
            self.last_active = now;
        }
    }

    // The readiness face: non-blocking reads and writes on `stream`.

    /// Handles one readiness report: writes what is owed if writable, reads and answers if
    /// readable. Errors and hang-ups surface as failed reads or writes, so both run for them.
    /// Then [`interest`](Self::interest) says what to wait for next.
    #[inline]
    pub fn on_ready<S>(
        &mut self,
        stream: &S,
        readiness: Readiness,
        buf: &mut [u8],
        now: Instant,
    ) -> Transfer
    where
        for<'a> &'a S: Read + Write,
    {
        let failed = readiness.is_error_or_hangup();
        let mut transfer = Transfer::default();
        if readiness.is_writable() || failed {
            transfer = self.write_owed(stream, now);
            if transfer.error.is_some() {
                return transfer;
            }
        }
        if readiness.is_readable() || failed {
            let peer_closing = readiness.is_read_closed() || failed;
            transfer.add(self.read_available(stream, buf, now, peer_closing));
        }
        transfer
    }

    /// Reads what is available into `buf`, hands it to the protocol and writes its answers at
    /// once. It reads until a short read, `WouldBlock`, the end of stream or the buffer limit,
    /// and at most one full buffer: its **budget**. A read that fills `buf` ends the call with
    /// [`Transfer::more_to_read`], so that one connection whose peer refills it as fast as the
    /// loop answers cannot keep the loop to itself while others wait (BENCHMARKS §23 measured
    /// it: without the budget, the loop's service at 100 connections × 16 KiB × pipeline 16
    /// depended on how fast the kernel copied into `buf`). The caller serves it again after the
    /// others: at the next level-triggered wait, or, under edge triggering, through
    /// [`Selector::still_ready`](crate::Selector::still_ready).
    ///
    /// `peer_closing` says the wait reported the peer's end of stream (`EPOLLRDHUP`, a
    /// hang-up): then a short read is not the end, because the end of stream is queued behind
    /// the data and, under edge-triggering, will not be reported again. It reads on until it
    /// is consumed (or the budget is spent: then the same readiness must be reported again).
    ///
    /// Inline, like [`on_ready`](Self::on_ready): a driver's readiness step is then one
    /// function, not three (callgrind: ~40 instructions a message of calls, returns and moves).
    #[inline(always)]
    pub fn read_available<S>(
        &mut self,
        stream: &S,
        buf: &mut [u8],
        now: Instant,
        peer_closing: bool,
    ) -> Transfer
    where
        for<'a> &'a S: Read + Write,
    {
        let mut transfer = Transfer::default();
        while self.wants_read() {
            let n = match (&mut &*stream).read(buf) {
                Ok(0) => {
                    self.receive_end();
                    break;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    transfer.error = Some(e);
                    return transfer;
                }
            };
            transfer.bytes_in += n as u64;
            transfer.reads += 1;
            let answered = if self.answers_in_place() {
                self.send_in_place(stream, &buf[..n], now)
            } else {
                self.receive(&buf[..n], now);
                self.write_owed(stream, now)
            };
            transfer.add(answered);
            if transfer.error.is_some() {
                return transfer;
            }
            if n == buf.len() {
                transfer.more_to_read = true;
                break;
            }
            // A short read emptied the socket's queue: another read would only say WouldBlock.
            // (Also correct for edge-triggered epoll: data arriving later raises a new edge.)
            if !peer_closing {
                break;
            }
        }
        // An end of stream can make the protocol answer (and write) once more.
        if self.peer_done && !self.out.is_empty() && transfer.error.is_none() {
            transfer.add(self.write_owed(stream, now));
        }
        transfer
    }

    /// Answers an echo with nothing queued before it by writing `input` from where it landed
    /// (the read buffer): only what the socket does not take is copied into the queue, behind
    /// which later answers wait (BENCHMARKS §23).
    #[inline(always)]
    fn send_in_place<S>(&mut self, stream: &S, input: &[u8], now: Instant) -> Transfer
    where
        for<'a> &'a S: Write,
    {
        let mut transfer = Transfer::default();
        self.last_active = now;
        match (&mut &*stream).write(input) {
            Ok(written) => {
                transfer.bytes_out = written as u64;
                if written < input.len() {
                    self.receive(&input[written..], now);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                self.receive(input, now)
            }
            Err(e) => transfer.error = Some(e),
        }
        transfer
    }

    /// Writes what is owed, as far as the stream takes it.
    #[inline]
    pub fn write_owed<S>(&mut self, stream: &S, now: Instant) -> Transfer
    where
        for<'a> &'a S: Write,
    {
        let mut transfer = Transfer::default();
        if self.out.is_empty() {
            return transfer;
        }
        let before = self.out.len();
        let result = self.out.flush_to(&mut &*stream);
        let written = before - self.out.len();
        if written > 0 {
            transfer.bytes_out = written as u64;
            self.last_active = now;
        }
        transfer.error = result.err();
        transfer
    }
}
