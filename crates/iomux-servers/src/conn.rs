//! A client of a non-blocking model: its socket and its [`Connection`] (the library's core,
//! which keeps every rule: partial writes, backpressure, half-close, draining, errors).
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

use iomux::conn::{Connection, Transfer};
use iomux::{Interest, ReadBuffer, Readiness};
use iomux_sys::socket::DirectStream;
use tracing::debug;

use crate::answer::Answer;
use crate::counters::Counters;
use crate::shared::Shared;

/// How much one read takes at most (one buffer per server thread, shared by its clients), and
/// so the budget of one readiness report ([`Connection::read_available`]): a connection read
/// full is served again after the others (BENCHMARKS §23).
///
/// 128 KiB, by measurement (§22): one read then takes what a pipelined connection usually has
/// queued, and the loop moves on. With 64 KiB, and no budget, the readiness models served the
/// pipelined 16 KiB points unevenly (Jain's index 0.08-1.00 per window); the budget now keeps
/// them even whatever the size. The buffer is an [`iomux::ReadBuffer`]: placed in its page
/// where the kernel's copies into it and out of it are fastest.
const READ_BUFFER: usize = 128 * 1024;

/// A loop's read buffer: `READ_BUFFER` bytes (above).
pub fn read_buffer() -> ReadBuffer {
    ReadBuffer::new(READ_BUFFER)
}

/// The socket types a client is served on: [`DirectStream`] (bare syscalls: no libc
/// cancellation points around each read and write), or, when the server traces (`--trace`),
/// [`TracedStream`](iomux_sys::socket::TracedStream), which times and records each call. A
/// model is compiled for each, and picks one when it starts: a server that does not trace runs
/// code without a single test of a trace switch on its reads and writes.
pub trait Socket: AsRawFd + From<TcpStream> + 'static {
    /// The connection core's readiness step on this socket.
    fn on_ready(
        conn: &mut Connection<Answer>,
        stream: &Self,
        readiness: Readiness,
        buf: &mut [u8],
        now: Instant,
    ) -> Transfer;
}

impl<S> Socket for S
where
    S: AsRawFd + From<TcpStream> + 'static,
    for<'a> &'a S: Read + Write,
{
    #[inline]
    fn on_ready(
        conn: &mut Connection<Answer>,
        stream: &Self,
        readiness: Readiness,
        buf: &mut [u8],
        now: Instant,
    ) -> Transfer {
        conn.on_ready(stream, readiness, buf, now)
    }
}

/// A client connection of a non-blocking model: its socket and its connection core.
pub struct Client<S = DirectStream> {
    /// The client's socket.
    pub stream: S,
    /// The connection core: the protocol and what it owes the client.
    pub conn: Connection<Answer>,
}

impl<S: AsRawFd> AsRawFd for Client<S> {
    fn as_raw_fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }
}

impl<S: Socket> Client<S> {
    /// A client on `stream`, answering as the server's `--proto` within its `--max-buffer`.
    pub fn new(stream: TcpStream, shared: &Shared, now: Instant) -> Client<S> {
        Client {
            stream: S::from(stream),
            conn: Connection::new(shared.config.proto.clone(), shared.config.buffer_limit, now),
        }
    }

    /// Handles one readiness report; says what to wait for next.
    pub fn on_ready(
        &mut self,
        readiness: Readiness,
        buf: &mut [u8],
        counters: &mut Counters,
        now: Instant,
    ) -> Served {
        let transfer = S::on_ready(&mut self.conn, &self.stream, readiness, buf, now);
        counters.record(&transfer);
        if let Some(e) = transfer.error {
            debug!("connection error: {e}");
            return Served {
                interest: None,
                more_to_read: false,
            };
        }
        Served {
            interest: self.conn.interest(),
            more_to_read: transfer.more_to_read,
        }
    }
}

/// What a client's readiness step leaves its driver to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Served {
    /// The next interest; `None`: close it.
    pub interest: Option<Interest>,
    /// It read its budget and may have more: serve it again next round
    /// ([`Transfer::more_to_read`]; on edge-triggered backends through `still_ready`).
    pub more_to_read: bool,
}
