//! A client of a non-blocking model: its socket and its [`Connection`] (the library's core,
//! which keeps every rule: partial writes, backpressure, half-close, draining, errors).
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

use iomux::conn::Connection;
use iomux::{Interest, Readiness};
use iomux_sys::socket::DirectStream;
use tracing::debug;

use super::{Counters, Shared};
use crate::proto::Answer;

/// How much one read takes at most (one buffer per server thread, shared by its clients).
pub const READ_BUFFER: usize = 64 * 1024;

/// A client connection of a non-blocking model. Its socket makes bare syscalls
/// ([`DirectStream`]: no libc cancellation points around each read and write).
pub struct Client {
    pub stream: DirectStream,
    pub conn: Connection<Answer>,
}

impl AsRawFd for Client {
    fn as_raw_fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }
}

impl Client {
    pub fn new(stream: TcpStream, shared: &Shared, now: Instant) -> Client {
        Client {
            stream: DirectStream::new(stream),
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
        let transfer = self.conn.on_ready(&self.stream, readiness, buf, now);
        counters.record(&transfer);
        if let Some(e) = transfer.error {
            debug!("connection error: {e}");
            return None;
        }
        self.conn.interest()
    }
}
