//! The readiness-loop server, written once and run over any selector backend (select, poll,
//! epoll, epoll-et): the listener and every connection are registered in one selector, whose
//! key map doubles as the connection table.
//!
//! Accepting without spinning: when `accept` fails for want of descriptors (EMFILE/ENFILE) the
//! listener stays readable, so a level-triggered loop would spin at 100% CPU. The loop instead
//! takes the listener out of the selector and looks again after [`ACCEPT_RETRY`], or as soon as
//! one of its own connections closes; pending clients wait in the kernel's backlog meanwhile.
//! `--max-conns` pauses the listener the same way.
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use iomux::{BackendKind, Events, Interest, Readiness, Selector};
use tracing::{debug, warn};

use super::conn::{Conn, Scratch};
use super::{Counters, Shared, ACCEPT_RETRY};

enum Entry {
    Listener,
    Conn(Conn),
}

struct Server<'a> {
    shared: &'a Shared,
    selector: Selector<Entry>,
    listener: Option<TcpListener>,
    listening: bool,
    retry_accept_at: Option<Instant>,
    scratch: Scratch,
    counters: Counters,
    next_idle_sweep: Option<Instant>,
    drain_deadline: Option<Instant>,
    /// One warning per episode of descriptor exhaustion, not one per failed accept.
    warned_exhaustion: bool,
}

pub fn serve(listener: TcpListener, backend: BackendKind, shared: &Shared) -> io::Result<Counters> {
    let mut selector = Selector::with_backend(backend)?;
    let waker = selector.waker()?;
    shared.shutdown.on_request(move || {
        let _ = waker.wake();
    });
    selector.register(&listener, Interest::READ, Entry::Listener)?;
    let mut server = Server {
        shared,
        selector,
        listener: Some(listener),
        listening: true,
        retry_accept_at: None,
        scratch: Scratch::new(),
        counters: Counters::default(),
        next_idle_sweep: shared
            .config
            .idle_timeout
            .map(|t| Instant::now() + sweep_period(t)),
        drain_deadline: None,
        warned_exhaustion: false,
    };
    server.run()?;
    server.counters.selector = server.selector.stats();
    Ok(server.counters)
}

fn sweep_period(idle: Duration) -> Duration {
    (idle / 4).clamp(Duration::from_millis(5), Duration::from_secs(1))
}

impl Server<'_> {
    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()));
            self.selector.select(&mut events, timeout)?;
            let now = Instant::now();
            self.counters.loop_iterations += 1;
            for event in &events {
                let Some((key, readiness)) = self.selector.resolve_mut(event) else {
                    continue;
                };
                let fd = key.fd();
                match key.data_mut() {
                    Entry::Listener => self.accept_all(now),
                    Entry::Conn(conn) => {
                        let next = serve_conn(
                            conn,
                            readiness,
                            self.shared,
                            &mut self.scratch,
                            &mut self.counters,
                            now,
                        );
                        self.apply(fd, next);
                    }
                }
            }
            if self.shared.shutdown.is_requested() && self.drain_deadline.is_none() {
                self.start_draining(now);
            }
            if self.drain_deadline.is_some() {
                let conns = self.selector.len();
                if conns == 0 || self.drain_deadline.is_some_and(|d| now >= d) {
                    if conns > 0 {
                        warn!("shutdown: {conns} connection(s) still owed data after the grace period; closing them");
                    }
                    return Ok(());
                }
                continue;
            }
            if self.retry_accept_at.is_some_and(|t| now >= t) {
                self.resume_accepting();
                self.accept_all(now);
            }
            if self.next_idle_sweep.is_some_and(|t| now >= t) {
                self.sweep_idle(now);
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        [
            self.retry_accept_at,
            self.next_idle_sweep,
            self.drain_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Accepts until the backlog is empty (required on edge-triggered epoll), the fd limit or
    /// `--max-conns` is hit.
    fn accept_all(&mut self, now: Instant) {
        let Some(listener) = &self.listener else {
            return;
        };
        loop {
            if self.shared.limit.is_full() {
                self.pause_accepting(now);
                return;
            }
            let stream = match iomux_sys::socket::accept_nonblocking(listener) {
                Ok(stream) => stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if iomux_sys::socket::is_fd_exhaustion(&e) => {
                    if !self.warned_exhaustion {
                        warn!("accept: {e}; pausing accepts until descriptors are free (existing clients are still served)");
                        self.warned_exhaustion = true;
                    }
                    self.pause_accepting(now);
                    return;
                }
                Err(e) if iomux_sys::socket::is_transient_accept_error(&e) => continue,
                Err(e) => {
                    warn!("accept: {e}");
                    self.pause_accepting(now);
                    return;
                }
            };
            self.warned_exhaustion = false;
            let _ = stream.set_nodelay(true);
            let fd = stream.as_raw_fd();
            match self.selector.register(
                fd,
                Interest::READ,
                Entry::Conn(Conn::new(stream, self.shared.config.buffer_limit, now)),
            ) {
                Ok(_) => {
                    self.counters.accepted += 1;
                    self.shared.limit.opened();
                    debug!(fd, "connection opened");
                }
                // The refused connection was dropped (closed) inside register. On the select
                // backend this is where fds >= FD_SETSIZE end, with the error saying so.
                Err(e) => {
                    self.counters.refused += 1;
                    warn!("refused a connection: {e}");
                }
            }
        }
    }

    fn pause_accepting(&mut self, now: Instant) {
        if self.listening {
            if let Some(listener) = &self.listener {
                let _ = self.selector.unregister(listener);
            }
            self.listening = false;
        }
        self.retry_accept_at = Some(now + ACCEPT_RETRY);
    }

    fn resume_accepting(&mut self) {
        self.retry_accept_at = None;
        if !self.listening && self.drain_deadline.is_none() {
            if let Some(listener) = &self.listener {
                if self
                    .selector
                    .register(listener, Interest::READ, Entry::Listener)
                    .is_ok()
                {
                    self.listening = true;
                }
            }
        }
    }

    /// Applies a connection's wish: new interest, or close.
    fn apply(&mut self, fd: RawFd, next: Option<Interest>) {
        match next {
            Some(interest) => {
                if let Err(e) = self.selector.set_interest(fd, interest) {
                    warn!(fd, "cannot change interest: {e}; closing");
                    self.close(fd);
                }
            }
            None => self.close(fd),
        }
    }

    fn close(&mut self, fd: RawFd) {
        if self.selector.unregister(fd).is_ok() {
            // The key, and with it the connection, is dropped here: that closes the socket.
            self.shared.limit.closed();
            debug!(fd, "connection closed");
            if !self.listening && self.drain_deadline.is_none() {
                // A descriptor (and a --max-conns place) just came free: accept at once.
                self.retry_accept_at = Some(Instant::now());
            }
        }
    }

    fn sweep_idle(&mut self, now: Instant) {
        let Some(idle) = self.shared.config.idle_timeout else {
            return;
        };
        self.next_idle_sweep = Some(now + sweep_period(idle));
        let expired: Vec<RawFd> = self
            .selector
            .keys()
            .filter(
                |k| matches!(k.data(), Entry::Conn(c) if now.duration_since(c.last_active) >= idle),
            )
            .map(|k| k.fd())
            .collect();
        for fd in expired {
            debug!(fd, "idle timeout");
            self.close(fd);
        }
    }

    fn start_draining(&mut self, now: Instant) {
        self.drain_deadline = Some(now + self.shared.config.grace);
        self.retry_accept_at = None;
        self.next_idle_sweep = None;
        if let Some(listener) = self.listener.take() {
            if self.listening {
                let _ = self.selector.unregister(&listener);
            }
        }
        self.listening = false;
        let fds: Vec<RawFd> = self.selector.keys().map(|k| k.fd()).collect();
        for fd in fds {
            let next = match self.selector.get_key_mut(fd).map(|k| k.data_mut()) {
                Some(Entry::Conn(conn)) => {
                    conn.start_draining();
                    conn.interest()
                }
                _ => continue,
            };
            self.apply(fd, next);
        }
    }
}

/// Handles one readiness report for a connection; returns its next interest (`None`: close).
pub(super) fn serve_conn(
    conn: &mut Conn,
    readiness: Readiness,
    shared: &Shared,
    scratch: &mut Scratch,
    counters: &mut Counters,
    now: Instant,
) -> Option<Interest> {
    // Errors and hang-ups surface as failed reads or writes, so both paths handle them.
    if readiness.is_writable() || readiness.is_error_or_hangup() {
        if let Err(e) = conn.write_owed(counters, now) {
            debug!("write: {e}");
            return None;
        }
    }
    if readiness.is_readable() || readiness.is_error_or_hangup() {
        let peer_closing = readiness.is_read_closed() || readiness.is_error_or_hangup();
        if let Err(e) =
            conn.read_and_answer(&shared.config.proto, scratch, counters, now, peer_closing)
        {
            debug!("read: {e}");
            return None;
        }
    }
    conn.interest()
}
