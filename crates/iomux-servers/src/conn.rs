//! A client of a non-blocking model: its socket and its [`Connection`] (the library's core,
//! which keeps every rule: partial writes, backpressure, half-close, draining, errors).
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

use iomux::conn::{Connection, Transfer};
use iomux::{Interest, Readiness};
use iomux_sys::socket::DirectStream;
use tracing::debug;

use crate::answer::Answer;
use crate::counters::Counters;
use crate::shared::Shared;

/// How much one read takes at most (one buffer per server thread, shared by its clients).
///
/// 128 KiB, by measurement (BENCHMARKS §22). With 64 KiB the readiness models served the
/// pipelined 16 KiB points unevenly: the connection core reads a connection until a short
/// read, and the load on the other core refilled it as each answer went out, so the loop kept
/// serving the few connections it was on (Jain's index 0.08-1.00 per window). With this buffer
/// they were even (0.91-0.99) and no costlier. The size is not the whole reason: a `Vec` this
/// large is its own mapping, its first byte 16 bytes into a page, where the kernel's receive
/// copy runs several times slower than on a page boundary; the same 128 KiB placed on a page
/// boundary copied fast and was uneven again (0.06-0.65), at 1.4-1.9x the CPU per message at
/// those points. A bound on the reads per readiness report is the principled fix (not built).
pub const READ_BUFFER: usize = 128 * 1024;

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

    /// Handles one readiness report; returns the next interest (`None`: close it).
    pub fn on_ready(
        &mut self,
        readiness: Readiness,
        buf: &mut [u8],
        counters: &mut Counters,
        now: Instant,
    ) -> Option<Interest> {
        let transfer = S::on_ready(&mut self.conn, &self.stream, readiness, buf, now);
        counters.record(&transfer);
        if let Some(e) = transfer.error {
            debug!("connection error: {e}");
            return None;
        }
        self.conn.interest()
    }
}
