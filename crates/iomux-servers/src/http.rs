//! Serving a [`Handler`] over HTTP/1.1 on a callback [`EventLoop`].
//!
//! One loop, one thread. The listener and every connection are the loop's sources; each
//! connection is the library's [`Connection`] around an [`Http`] protocol, so partial writes,
//! backpressure, half-close and resets are handled as in every other iomux server. Accepting
//! follows the one accept rule ([`crate::accept`], on the loop as [`LoopListener`]): out of
//! descriptors, it pauses instead of spinning.
//!
//! Answers computed on other threads (store queries) and event-stream messages come back as
//! [`Delivery`]s through the loop's channel; a connection waiting for one is parked (watched
//! for nothing), so a client that half-closes meanwhile cannot make the loop spin.
//!
//! Each connection has one timer: a request that has begun must be complete within
//! [`Limits::head_timeout`] (else 408 and close: slowloris), and a keep-alive connection with
//! nothing in progress is closed after [`Limits::idle_timeout`].
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use iomux::conn::{Connection, Protocol};
use iomux::{EventLoop, Interest, ReadBuffer, Readiness, TimerId};
use iomux_sys::socket::DirectStream;
use tracing::{debug, warn};

use crate::listener::{ListenerOwner, LoopListener};
use crate::shutdown::{give_up, ConnLimit, Shutdown};
use iomux_http::protocol::Http;
use iomux_http::{Handler, Limits, Response, Ticket};

/// Something for the loop from another thread.
#[derive(Debug)]
pub enum Delivery {
    /// The answer to a request whose handler replied [`Reply::Later`](iomux_http::Reply::Later).
    Answer(Ticket, Response),
    /// A message for the event stream of connection `conn` (framed: `data: ...\n\n`).
    Push {
        /// The connection whose event stream it goes to.
        conn: u64,
        /// The message, framed.
        message: Arc<[u8]>,
    },
}

/// Where other threads send [`Delivery`]s.
pub type Deliveries = iomux::Sender<Delivery>;

/// Before a close: the end of what we sent is marked (FIN after the data), and what the
/// client sent and we will not read (the rest of a refused upload, requests after
/// `Connection: close`) is read and dropped, up to a bound. A socket closed with unread data
/// is reset, and a reset can destroy the answer still on its way, the error status included.
fn linger(stream: &DirectStream, buf: &mut [u8]) {
    use std::io::Read;
    let _ = stream.stream().shutdown(std::net::Shutdown::Write);
    let mut left = LINGER_BYTES;
    while left > 0 {
        match (&mut &*stream).read(buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

/// At most this much unread input is read and dropped before a close.
const LINGER_BYTES: usize = 256 * 1024;

/// The loop's sources that are not connections: the channel and the shutdown notifier.
const OWN_SOURCES: usize = 2;

/// One read buffer per loop, shared by its connections.
const READ_BUFFER: usize = 64 * 1024;

/// How long, after a shutdown request, connections may take to get what they are owed.
const GRACE: Duration = Duration::from_secs(2);

struct Client<H> {
    stream: DirectStream,
    conn: Connection<Http<H>>,
    /// When the request now arriving began (its first byte), for the head timeout.
    request_started: Option<Instant>,
    /// The connection's one timer (see [`Server::watch`]).
    timer: Option<TimerId>,
}

/// What the loop registers for a connection: the client, shared with the map of connections
/// (by a weak reference there, so unregistering drops and closes it).
struct Source<H>(Rc<RefCell<Client<H>>>, RawFd);

impl<H> AsRawFd for Source<H> {
    fn as_raw_fd(&self) -> RawFd {
        self.1
    }
}

/// A connection as the server's map knows it: its fd, and its client while the loop keeps it.
type Known<H> = (RawFd, Weak<RefCell<Client<H>>>);

struct Server<H> {
    handler: Rc<H>,
    limits: Limits,
    read_buffer: RefCell<ReadBuffer>,
    clients: RefCell<HashMap<u64, Known<H>>>,
    next_id: Cell<u64>,
    limit: ConnLimit,
    listener: LoopListener,
    draining: Cell<bool>,
}

impl<H: Handler + 'static> ListenerOwner for Server<H> {
    fn listener(&self) -> &LoopListener {
        &self.listener
    }

    fn accept_ready(self: &Rc<Self>, lp: &mut EventLoop, socket: &TcpListener) {
        self.accept_all(lp, socket)
    }
}

/// Serves `listener` on this thread until `shutdown` is requested; then stops accepting,
/// delivers what is owed (for a short grace period) and returns. `make_handler` gets the
/// channel its other threads answer through.
pub fn run<H: Handler + 'static>(
    listener: TcpListener,
    limits: Limits,
    shutdown: &Arc<Shutdown>,
    make_handler: impl FnOnce(Deliveries) -> io::Result<H>,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut lp = EventLoop::new()?;
    // The channel's callback needs the server, which needs the handler, which needs the
    // channel: the callback finds the server through a cell filled right after.
    let cell: Rc<std::cell::OnceCell<Rc<Server<H>>>> = Rc::default();
    let deliveries = {
        let cell = cell.clone();
        lp.channel(move |lp, delivery| {
            if let Some(server) = cell.get() {
                server.deliver(lp, delivery);
            }
        })?
    };
    let server = Rc::new(Server {
        handler: Rc::new(make_handler(deliveries)?),
        limits,
        read_buffer: RefCell::new(ReadBuffer::new(READ_BUFFER)),
        clients: RefCell::default(),
        next_id: Cell::new(0),
        limit: ConnLimit::new(None),
        listener: LoopListener::new(listener),
        draining: Cell::new(false),
    });
    let _ = cell.set(server.clone());
    let on_shutdown = {
        let server = server.clone();
        lp.notifier(move |lp| server.start_draining(lp))?
    };
    shutdown.on_request(move || {
        let _ = on_shutdown.notify();
    });
    LoopListener::listen(&server, &mut lp)?;
    lp.run()?;
    Ok(())
}

impl<H: Handler + 'static> Server<H> {
    fn accept_all(self: &Rc<Self>, lp: &mut EventLoop, listener: &TcpListener) {
        while let Some(stream) = LoopListener::accept(self, lp, listener, &self.limit) {
            let id = self.next_id.get();
            self.next_id.set(id + 1);
            let now = lp.now();
            let http = Http::new(self.handler.clone(), id, self.limits);
            let fd = stream.as_raw_fd();
            let client = Rc::new(RefCell::new(Client {
                stream: DirectStream::new(stream),
                conn: Connection::new(http, self.limits.buffer, now),
                request_started: None,
                timer: None,
            }));
            let weak = Rc::downgrade(&client);
            let server = self.clone();
            let registered = lp.register(
                Source(client, fd),
                Interest::READ,
                move |lp, source: &mut Source<H>, readiness| {
                    server.on_ready(lp, id, &source.0, readiness)
                },
            );
            match registered {
                Ok(fd) => {
                    self.clients.borrow_mut().insert(id, (fd, weak.clone()));
                    self.limit.opened();
                    debug!(fd, id, "http connection opened");
                    self.watch(lp, id, weak);
                }
                Err(e) => warn!("refused a connection: {e}"),
            }
        }
    }

    fn on_ready(
        self: &Rc<Self>,
        lp: &mut EventLoop,
        id: u64,
        client: &Rc<RefCell<Client<H>>>,
        readiness: Readiness,
    ) {
        let now = lp.now();
        let (interest, began, more_to_read) = {
            let mut client = client.borrow_mut();
            let client = &mut *client;
            if self.draining.get() {
                client.conn.start_draining();
            }
            let transfer = client.conn.on_ready(
                &client.stream,
                readiness,
                &mut self.read_buffer.borrow_mut(),
                now,
            );
            if let Some(e) = &transfer.error {
                debug!(id, "http connection error: {e}");
                (None, false, false)
            } else {
                let (interest, began) = Self::after_io(client, now, &self.limits);
                (interest, began, transfer.more_to_read)
            }
        };
        self.apply(lp, id, interest);
        if more_to_read && interest.is_some() {
            if let Some(fd) = lp.current_fd() {
                lp.still_ready(fd, readiness);
            }
        }
        if began {
            self.rewatch(lp, id, Rc::downgrade(client));
        }
    }

    /// What a client waits for next (`None`: close it), and whether a request began now (its
    /// timer must then be set to the head timeout).
    fn after_io(client: &mut Client<H>, now: Instant, limits: &Limits) -> (Option<Interest>, bool) {
        // Requests held back while their answers piled up go on once the client has read
        // half of what it owed.
        while client.conn.protocol().is_held() && client.conn.owed_len() <= limits.buffer / 2 {
            client.conn.answer_later(|http, out| http.resume(out));
            if client.conn.write_owed(&client.stream, now).error.is_some() {
                return (None, false);
            }
        }
        let began = if client.conn.protocol().is_partial() {
            client
                .request_started
                .replace(client.request_started.unwrap_or(now))
                .is_none()
        } else {
            client.request_started = None;
            false
        };
        (client.conn.interest(), began)
    }

    fn apply(self: &Rc<Self>, lp: &mut EventLoop, id: u64, next: Option<Interest>) {
        let Some(fd) = self.clients.borrow().get(&id).map(|c| c.0) else {
            return;
        };
        match next.map(|interest| lp.modify(fd, interest)) {
            Some(Ok(())) => {}
            _ => self.close(lp, id),
        }
    }

    fn close(self: &Rc<Self>, lp: &mut EventLoop, id: u64) {
        let Some((fd, client)) = self.clients.borrow_mut().remove(&id) else {
            return;
        };
        if let Some(client) = client.upgrade() {
            let c = client.borrow();
            let dropped = c.conn.protocol().dropped();
            if dropped > 0 {
                debug!(
                    id,
                    dropped, "event-stream messages dropped: the client did not read"
                );
            }
            if let Some(timer) = c.timer {
                lp.cancel(timer);
            }
            linger(&c.stream, &mut self.read_buffer.borrow_mut());
        }
        // Out of the map is closed, whatever unregistering says (a source whose re-watch
        // failed was dropped by the loop already).
        let _ = lp.unregister(fd);
        self.limit.closed();
        debug!(fd, id, "http connection closed");
        self.handler.closed(id);
        if self.draining.get() {
            if lp.len() <= OWN_SOURCES {
                lp.stop();
            }
        } else {
            LoopListener::on_close(self, lp);
        }
    }

    /// Something computed on another thread, for one connection.
    fn deliver(self: &Rc<Self>, lp: &mut EventLoop, delivery: Delivery) {
        let id = match &delivery {
            Delivery::Answer(ticket, _) => ticket.conn,
            Delivery::Push { conn, .. } => *conn,
        };
        let Some(client) = self.client(id) else {
            return; // it closed meanwhile
        };
        let now = lp.now();
        let next = {
            let mut client = client.borrow_mut();
            let client = &mut *client;
            match delivery {
                Delivery::Answer(ticket, response) => client
                    .conn
                    .answer_later(|http, out| http.complete(ticket, response, out)),
                Delivery::Push { message, .. } => client
                    .conn
                    .answer_later(|http, out| http.push(&message, out)),
            }
            let transfer = client.conn.write_owed(&client.stream, now);
            match transfer.error {
                Some(_) => (None, false),
                None => Self::after_io(client, now, &self.limits),
            }
        };
        self.apply(lp, id, next.0);
        if next.1 {
            self.rewatch(lp, id, Rc::downgrade(&client));
        }
    }

    fn client(&self, id: u64) -> Option<Rc<RefCell<Client<H>>>> {
        self.clients.borrow().get(&id).and_then(|c| c.1.upgrade())
    }

    /// The connection's one timer: the head timeout while a request arrives; else, while it
    /// waits for an answer computed elsewhere (the server's delay, not the client's), a look
    /// again after the idle timeout; else the idle timeout from its last byte moved (an event
    /// stream moves bytes every second; one whose client stopped reading does not, and is
    /// closed).
    fn watch(self: &Rc<Self>, lp: &mut EventLoop, id: u64, client: Weak<RefCell<Client<H>>>) {
        let Some(strong) = client.upgrade() else {
            return;
        };
        let now = Instant::now();
        let due = {
            let c = strong.borrow();
            match c.request_started {
                Some(started) => started + self.limits.head_timeout,
                None if c.conn.protocol().awaiting() => now + self.limits.idle_timeout,
                None => c.conn.last_active() + self.limits.idle_timeout,
            }
        };
        let server = self.clone();
        let timer = lp.call_later(due.saturating_duration_since(now), move |lp| {
            server.on_timer(lp, id, client)
        });
        strong.borrow_mut().timer = Some(timer);
    }

    /// Sets the connection's timer again (a request began: the head timeout now applies).
    fn rewatch(self: &Rc<Self>, lp: &mut EventLoop, id: u64, client: Weak<RefCell<Client<H>>>) {
        if let Some(strong) = client.upgrade() {
            if let Some(timer) = strong.borrow_mut().timer.take() {
                lp.cancel(timer);
            }
        }
        self.watch(lp, id, client);
    }

    fn on_timer(self: &Rc<Self>, lp: &mut EventLoop, id: u64, weak: Weak<RefCell<Client<H>>>) {
        let Some(client) = weak.upgrade() else {
            return;
        };
        let now = Instant::now();
        let expired = {
            let mut c = client.borrow_mut();
            let c = &mut *c;
            c.timer = None;
            let awaiting = c.conn.protocol().awaiting();
            match c.request_started {
                Some(started) if now >= started + self.limits.head_timeout => {
                    debug!(id, "request head timeout: 408");
                    c.conn.answer_later(|http, out| http.time_out(out));
                    // One try to say why; a client too slow to send is not waited on to read.
                    let _ = c.conn.write_owed(&c.stream, now);
                    true
                }
                None if !awaiting && now >= c.conn.last_active() + self.limits.idle_timeout => {
                    debug!(id, "idle connection closed");
                    true
                }
                _ => false,
            }
        };
        drop(client);
        if expired {
            self.close(lp, id);
        } else {
            self.watch(lp, id, weak);
        }
    }

    fn start_draining(self: &Rc<Self>, lp: &mut EventLoop) {
        if self.draining.replace(true) {
            return;
        }
        self.listener.close(lp);
        // Every connection gets one more callback (sockets are writable at once): there it
        // stops reading, writes what it owes and closes.
        let ids: Vec<u64> = self.clients.borrow().keys().copied().collect();
        for id in ids {
            if let Some(client) = self.client(id) {
                let next = {
                    let mut c = client.borrow_mut();
                    c.conn.start_draining();
                    c.conn.interest()
                };
                self.apply(lp, id, next.map(|_| Interest::WRITE));
            }
        }
        if lp.len() <= OWN_SOURCES {
            lp.stop();
        }
        lp.call_later(GRACE, |lp| {
            give_up(lp.len().saturating_sub(OWN_SOURCES));
            lp.stop();
        });
    }
}
