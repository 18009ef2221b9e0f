//! The readiness-loop server, written once and run over any selector backend (select, poll,
//! epoll, epoll-et): the listener and every connection are registered in one selector, whose
//! key map doubles as the connection table.
//!
//! Accepting follows the shared rules of [`crate::accept`]: when accepting pauses, the listener
//! leaves the selector (a level-triggered loop would otherwise spin on it) and comes back when
//! the pause is over.
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

use iomux::{BackendKind, Events, Interest, ReadBuffer, Selector};
use tracing::{debug, warn};

use super::conn::{read_buffer, Client, Socket};
use crate::accept::{Accepted, Acceptor};
use crate::board::Publisher;
use crate::counters::Counters;
use crate::shared::Shared;
use crate::shutdown::Drain;
use iomux_sys::socket::{DirectStream, TracedStream};

enum Entry<S> {
    Listener,
    Client(Client<S>),
}

struct Server<'a, S> {
    shared: &'a Shared,
    selector: Selector<Entry<S>>,
    /// `None` once shutdown closed it.
    listener: Option<TcpListener>,
    acceptor: Acceptor,
    read_buffer: ReadBuffer,
    counters: Counters,
    publisher: Publisher,
    next_idle_sweep: Option<Instant>,
    drain: Option<Drain>,
}

/// Runs loop `index` on a `backend` selector over `listener` until shutdown and its drain;
/// returns what it did.
pub fn serve(
    listener: TcpListener,
    backend: BackendKind,
    shared: &Shared,
    index: usize,
) -> io::Result<Counters> {
    match shared.trace_records() {
        Some(_) => serve_on::<TracedStream>(listener, backend, shared, index),
        None => serve_on::<DirectStream>(listener, backend, shared, index),
    }
}

/// The loop, with clients served on sockets of type `S` (see [`Socket`]).
fn serve_on<S: Socket>(
    listener: TcpListener,
    backend: BackendKind,
    shared: &Shared,
    index: usize,
) -> io::Result<Counters> {
    let mut selector: Selector<Entry<S>> = Selector::with_backend(backend)?;
    if let Some(records) = shared.trace_records() {
        selector.enable_trace(records);
    }
    let waker = selector.waker()?;
    shared.shutdown.on_request(move || {
        let _ = waker.wake();
    });
    selector.register(&listener, Interest::READ, Entry::Listener)?;
    let mut server = Server {
        shared,
        selector,
        listener: Some(listener),
        acceptor: Acceptor::default(),
        read_buffer: read_buffer(),
        counters: Counters::default(),
        publisher: shared.publisher(index),
        next_idle_sweep: crate::shared::first_idle_sweep(shared),
        drain: None,
    };
    server.run()?;
    server.counters.selector = server.selector.stats();
    shared.keep_trace(index, server.selector.take_trace());
    Ok(server.counters)
}

impl<S: Socket> Server<'_, S> {
    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = crate::shared::time_to_next_deadline(
                &self.acceptor,
                self.next_idle_sweep,
                self.drain.as_ref(),
                &self.publisher,
            );
            self.selector.select(&mut events, timeout)?;
            let now = Instant::now();
            self.counters.loop_iterations += 1;
            for event in &events {
                let Some((key, readiness)) = self.selector.resolve_mut(event) else {
                    continue;
                };
                let (fd, current) = (key.fd(), key.interest());
                match key.data_mut() {
                    Entry::Listener => self.accept_all(now),
                    Entry::Client(client) => {
                        let served = client.on_ready(
                            readiness,
                            &mut self.read_buffer,
                            &mut self.counters,
                            now,
                        );
                        // Most turns leave the interest as it was: no second key lookup then.
                        if served.interest != Some(current) {
                            self.apply(fd, served.interest, now);
                        }
                        if served.more_to_read {
                            self.selector.still_ready(fd, readiness);
                        }
                    }
                }
            }
            let (counters, selector) = (&self.counters, &self.selector);
            self.publisher.tick(now, || Counters {
                selector: selector.stats(),
                buffered: Some(
                    selector
                        .keys()
                        .map(|key| match key.data() {
                            Entry::Client(client) => client.conn.owed_len() as u64,
                            Entry::Listener => 0,
                        })
                        .sum(),
                ),
                ..*counters
            });
            if self.shared.shutdown.is_requested() && self.drain.is_none() {
                self.start_draining(now);
            }
            if let Some(drain) = self.drain {
                if drain.is_over(now, self.selector.len()) {
                    return Ok(());
                }
                continue;
            }
            if self.acceptor.resume_due(now) {
                self.listen();
                self.accept_all(now);
            }
            if self.next_idle_sweep.is_some_and(|t| now >= t) {
                self.sweep_idle(now);
            }
        }
    }

    /// Accepts until the backlog is empty (required on edge-triggered epoll) or accepting
    /// pauses.
    fn accept_all(&mut self, now: Instant) {
        let Some(listener) = &self.listener else {
            return;
        };
        loop {
            let stream = match self.acceptor.accept(listener, &self.shared.limit, now) {
                Accepted::Conn(stream) => stream,
                Accepted::Drained => return,
                Accepted::Paused => {
                    let _ = self.selector.unregister(listener);
                    return;
                }
            };
            let fd = stream.as_raw_fd();
            let client = Client::new(stream, self.shared, now);
            match self
                .selector
                .register(fd, Interest::READ, Entry::Client(client))
            {
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

    /// Watches the listener again after a pause.
    fn listen(&mut self) {
        if let Some(listener) = &self.listener {
            if self.selector.get_key(listener).is_none() {
                if let Err(e) = self
                    .selector
                    .register(listener, Interest::READ, Entry::Listener)
                {
                    warn!("cannot watch the listener again: {e}; retrying");
                    self.acceptor.on_close(Instant::now());
                }
            }
        }
    }

    /// Applies a connection's wish: new interest, or close.
    fn apply(&mut self, fd: RawFd, next: Option<Interest>, now: Instant) {
        match next {
            Some(interest) => {
                if let Err(e) = self.selector.set_interest(fd, interest) {
                    warn!(fd, "cannot change interest: {e}; closing");
                    self.close(fd, now);
                }
            }
            None => self.close(fd, now),
        }
    }

    fn close(&mut self, fd: RawFd, now: Instant) {
        if self.selector.unregister(fd).is_ok() {
            // The key, and with it the connection, is dropped here: that closes the socket.
            self.shared.limit.closed();
            self.acceptor.on_close(now);
            debug!(fd, "connection closed");
        }
    }

    fn sweep_idle(&mut self, now: Instant) {
        let Some(idle) = self.shared.config.idle_timeout else {
            return;
        };
        self.next_idle_sweep = Some(now + crate::shared::sweep_period(idle));
        let expired: Vec<RawFd> = self
            .selector
            .keys()
            .filter(|k| {
                matches!(k.data(), Entry::Client(c) if now.duration_since(c.conn.last_active()) >= idle)
            })
            .map(|k| k.fd())
            .collect();
        for fd in expired {
            debug!(fd, "idle timeout");
            self.close(fd, now);
        }
    }

    fn start_draining(&mut self, now: Instant) {
        self.drain = Some(Drain::start(now, self.shared.config.grace));
        self.acceptor.stop();
        self.next_idle_sweep = None;
        if let Some(listener) = self.listener.take() {
            let _ = self.selector.unregister(&listener);
        }
        let fds: Vec<RawFd> = self.selector.keys().map(|k| k.fd()).collect();
        for fd in fds {
            let next = match self.selector.get_key_mut(fd).map(|k| k.data_mut()) {
                Some(Entry::Client(client)) => {
                    client.conn.start_draining();
                    client.conn.interest()
                }
                _ => continue,
            };
            self.apply(fd, next, now);
        }
    }
}
