//! One client connection of a non-blocking server, as a small state machine shared by the
//! readiness, callbacks and busy-loop models, so each ugly case is handled once:
//!
//! - partial writes: what the kernel does not take waits in an [`OutBuffer`], and the
//!   connection asks for WRITE only while something waits;
//! - backpressure: past the buffer's limit it stops reading until the buffer drains, so a
//!   client that sends but never reads costs bounded memory and no one else's service;
//! - half-close: after the peer's end of stream it still writes everything owed, then closes;
//! - errors (reset, broken pipe): the connection is closed, nothing else is affected;
//! - draining: on shutdown it stops reading, writes what it owes, then closes.
use std::io::{self, Read};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

use iomux::{Interest, OutBuffer};

use crate::proto::Protocol;
use crate::serve::Counters;

/// Per-thread reusable buffers.
pub struct Scratch {
    read: Vec<u8>,
    answer: Vec<u8>,
}

impl Scratch {
    pub fn new() -> Self {
        Scratch {
            read: vec![0; 64 * 1024],
            answer: Vec::with_capacity(64 * 1024 + 3),
        }
    }
}

/// A connection and what it still owes its peer.
pub struct Conn {
    stream: TcpStream,
    out: OutBuffer,
    peer_done: bool,
    draining: bool,
    /// When it last read or wrote anything (for the idle timeout).
    pub last_active: Instant,
}

impl AsRawFd for Conn {
    fn as_raw_fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }
}

impl Conn {
    pub fn new(stream: TcpStream, buffer_limit: usize, now: Instant) -> Self {
        Conn {
            stream,
            out: OutBuffer::with_limit(buffer_limit),
            peer_done: false,
            draining: false,
            last_active: now,
        }
    }

    fn wants_read(&self) -> bool {
        !self.peer_done && !self.draining && !self.out.is_over_limit()
    }

    /// What to wait for next; `None` means the connection is finished and should be closed.
    pub fn interest(&self) -> Option<Interest> {
        match (self.wants_read(), !self.out.is_empty()) {
            (true, true) => Some(Interest::BOTH),
            (true, false) => Some(Interest::READ),
            (false, true) => Some(Interest::WRITE),
            (false, false) if self.peer_done || self.draining => None,
            // Over the limit with nothing buffered cannot happen; read again to be safe.
            (false, false) => Some(Interest::READ),
        }
    }

    /// Stops reading; what is owed is still written (server shutdown).
    pub fn start_draining(&mut self) {
        self.draining = true;
    }

    /// Reads what is available (until a short read, `WouldBlock`, end of stream or the buffer
    /// limit) and answers each chunk. `Err` means: close the connection.
    ///
    /// `peer_closing` says the wait reported the peer's end of stream (`EPOLLRDHUP`, a hang-up):
    /// then a short read is not the end, because the end of stream is queued behind the data
    /// and, under edge-triggering, will not be reported again. Read on until it is consumed.
    pub fn read_and_answer(
        &mut self,
        proto: &Protocol,
        scratch: &mut Scratch,
        counters: &mut Counters,
        now: Instant,
        peer_closing: bool,
    ) -> io::Result<()> {
        while self.wants_read() {
            let n = match (&self.stream).read(&mut scratch.read) {
                Ok(0) => {
                    self.peer_done = true;
                    break;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.last_active = now;
            counters.bytes_in += n as u64;
            let answer = proto.answer(&scratch.read[..n], &mut scratch.answer);
            let owed_before = self.out.len() + answer.len();
            let result = self.out.write_or_buffer(&mut &self.stream, answer);
            counters.bytes_out += (owed_before - self.out.len()) as u64;
            result?;
            // A short read emptied the socket's queue: another read would only say WouldBlock.
            // (Also correct for edge-triggered epoll: data arriving later raises a new edge.)
            if n < scratch.read.len() && !peer_closing {
                break;
            }
        }
        Ok(())
    }

    /// Writes what is owed, as far as the socket takes it. `Err` means: close the connection.
    pub fn write_owed(&mut self, counters: &mut Counters, now: Instant) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let before = self.out.len();
        let result = self.out.flush_to(&mut &self.stream);
        let written = before - self.out.len();
        if written > 0 {
            counters.bytes_out += written as u64;
            self.last_active = now;
        }
        result.map(drop)
    }
}
