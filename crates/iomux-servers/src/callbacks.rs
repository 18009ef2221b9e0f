//! The course notes' selectors server, grown up: the listener and each connection are handed to
//! iomux's callback [`EventLoop`] with an accept or a read/write callback. The loop's backend is
//! the default selector's (`IOMUX_BACKEND`, else epoll).
//!
//! The listener follows the accept rules on the loop as [`LoopListener`] does for every
//! callback-loop server. Idle connections are closed by a timer per connection; shutdown
//! arrives through a [`iomux::Notifier`].
use std::cell::{Cell, RefCell};
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use iomux::conn::Connection;
use iomux::{EventLoop, Interest, ReadBuffer, Readiness};
use tracing::{debug, warn};

use iomux_sys::socket::{DirectStream, TracedStream};

use crate::answer::Answer;
use crate::board::Publisher;
use crate::conn::{read_buffer, Client, Socket};
use crate::counters::Counters;
use crate::listener::{ListenerOwner, LoopListener};
use crate::shared::Shared;
use crate::shutdown::give_up;

/// State the callbacks of one loop share.
struct Ctx {
    shared: Arc<Shared>,
    /// The loop's read buffer and counters, together: one borrow per callback.
    io: RefCell<LoopIo>,
    listener: LoopListener,
    draining: Cell<bool>,
    /// The bytes the loop's connections owe, added up for the `--stats-addr` board (`None`
    /// without a board: then no callback pays for it).
    owed: Option<Rc<Cell<u64>>>,
    /// Accepts and registers clients on the socket type the server runs with (see
    /// [`Socket`]): chosen once, so the client callbacks are compiled for that type alone.
    accept: fn(&mut EventLoop, &TcpListener, &Context),
}

type Context = Rc<Ctx>;

impl ListenerOwner for Ctx {
    fn listener(&self) -> &LoopListener {
        &self.listener
    }

    fn accept_ready(self: &Rc<Self>, lp: &mut EventLoop, socket: &TcpListener) {
        (self.accept)(lp, socket, self)
    }
}

/// What every client callback of one loop reads into and counts on.
struct LoopIo {
    read_buffer: ReadBuffer,
    counters: Counters,
}

/// Serves `listener` on one callback loop until the shutdown; returns what the loop counted.
pub fn serve(listener: TcpListener, shared: &Arc<Shared>) -> io::Result<Counters> {
    let mut lp = EventLoop::new()?;
    if let Some(records) = shared.trace_records() {
        lp.enable_trace(records);
    }
    let ctx: Context = Rc::new(Ctx {
        shared: shared.clone(),
        io: RefCell::new(LoopIo {
            read_buffer: read_buffer(),
            counters: Counters::default(),
        }),
        listener: LoopListener::new(listener),
        draining: Cell::new(false),
        owed: shared.board.is_some().then(Rc::default),
        accept: match shared.trace_records() {
            Some(_) => accept_all::<TracedStream>,
            None => accept_all::<DirectStream>,
        },
    });
    let on_shutdown = {
        let ctx = ctx.clone();
        lp.notifier(move |lp| start_draining(lp, &ctx))?
    };
    shared.shutdown.on_request(move || {
        let _ = on_shutdown.notify();
    });
    LoopListener::listen(&ctx, &mut lp)?;
    if shared.board.is_some() {
        publish(&mut lp, &ctx, shared.publisher(0));
    }
    lp.run()?;
    let counters = loop_counters(&lp, &ctx);
    shared.keep_trace(0, lp.take_trace());
    Ok(counters)
}

/// What the loop counted so far, with its selector's counters and the bytes it owes.
fn loop_counters(lp: &EventLoop, ctx: &Ctx) -> Counters {
    Counters {
        selector: lp.stats(),
        buffered: ctx.owed.as_ref().map(|owed| owed.get()),
        ..ctx.io.borrow().counters
    }
}

/// Copies the counters to the `--stats-addr` board now and then (a timer: the loop may sleep
/// long while nothing happens, and then nothing changes).
fn publish(lp: &mut EventLoop, ctx: &Context, mut publisher: Publisher) {
    let counters = loop_counters(lp, ctx);
    publisher.tick(Instant::now(), || counters);
    if !ctx.draining.get() {
        let ctx = ctx.clone();
        lp.call_later(crate::board::PUBLISH_EVERY, move |lp| {
            publish(lp, &ctx, publisher)
        });
    }
}

fn accept_all<S: Socket>(lp: &mut EventLoop, listener: &TcpListener, ctx: &Context) {
    while let Some(stream) = LoopListener::accept(ctx, lp, listener, &ctx.shared.limit) {
        let now = Instant::now();
        let client = Client::<S>::new(stream, &ctx.shared, now);
        // Activity is tracked only for an idle timeout (a cell write per message otherwise).
        let activity = ctx
            .shared
            .config
            .idle_timeout
            .map(|_| Rc::new(Cell::new(now)));
        let conn_ctx = ctx.clone();
        let mut watched = Watched::new(activity.clone(), ctx.owed.clone().map(OwedShare::new));
        let registered = lp.register(
            client,
            Interest::READ,
            move |lp, client: &mut Client<S>, readiness| {
                on_client_ready(lp, client, readiness, &conn_ctx, watched.as_mut())
            },
        );
        match registered {
            Ok(fd) => {
                ctx.io.borrow_mut().counters.accepted += 1;
                ctx.shared.limit.opened();
                debug!(fd, "connection opened");
                if let Some(idle) = ctx.shared.config.idle_timeout {
                    if let Some(activity) = &activity {
                        watch_idle(lp, fd, Rc::downgrade(activity), idle, ctx.clone());
                    }
                }
            }
            Err(e) => {
                ctx.io.borrow_mut().counters.refused += 1;
                warn!("refused a connection: {e}");
            }
        }
    }
}

fn on_client_ready<S: Socket>(
    lp: &mut EventLoop,
    client: &mut Client<S>,
    readiness: Readiness,
    ctx: &Context,
    watched: Option<&mut Watched>,
) {
    if ctx.draining.get() {
        client.conn.start_draining();
    }
    let now = lp.now();
    let served = {
        let mut io = ctx.io.borrow_mut();
        let io = &mut *io;
        client.on_ready(readiness, &mut io.read_buffer, &mut io.counters, now)
    };
    if let Some(watched) = watched {
        watched.update(&client.conn);
    }
    let fd = client.as_raw_fd();
    let Some(interest) = served.interest else {
        return close(lp, fd, ctx);
    };
    if lp.modify(fd, interest).is_err() {
        return close(lp, fd, ctx);
    }
    if served.more_to_read {
        lp.still_ready(fd, readiness);
    }
}

/// What a connection keeps current for others to read, when someone reads it: its last
/// activity (for the idle timer) and its share of the owed-bytes gauge (for the board). `None`
/// when neither is on, so a dispatch tests one option, not two.
struct Watched {
    activity: Option<Rc<Cell<Instant>>>,
    owed: Option<OwedShare>,
}

impl Watched {
    fn new(activity: Option<Rc<Cell<Instant>>>, owed: Option<OwedShare>) -> Option<Watched> {
        (activity.is_some() || owed.is_some()).then_some(Watched { activity, owed })
    }

    fn update(&mut self, conn: &Connection<Answer>) {
        if let Some(activity) = &self.activity {
            activity.set(conn.last_active());
        }
        if let Some(owed) = &mut self.owed {
            owed.set(conn.owed_len() as u64);
        }
    }
}

/// One connection's part of its loop's owed-bytes gauge ([`Ctx::owed`]). The connection lives
/// in its callback, out of the loop's reach, so it keeps its own part current, and dropping it
/// (the callback is dropped however the connection closes: an error, the idle timer, the end)
/// takes that part back off.
struct OwedShare {
    gauge: Rc<Cell<u64>>,
    counted: u64,
}

impl OwedShare {
    fn new(gauge: Rc<Cell<u64>>) -> Self {
        OwedShare { gauge, counted: 0 }
    }

    fn set(&mut self, owed: u64) {
        self.gauge.set(self.gauge.get() - self.counted + owed);
        self.counted = owed;
    }
}

impl Drop for OwedShare {
    fn drop(&mut self) {
        self.gauge.set(self.gauge.get() - self.counted);
    }
}

fn close(lp: &mut EventLoop, fd: RawFd, ctx: &Context) {
    if lp.unregister(fd).is_ok() {
        ctx.shared.limit.closed();
        debug!(fd, "connection closed");
        if ctx.draining.get() {
            if lp.len() <= 1 {
                lp.stop(); // only the shutdown notifier is left
            }
        } else {
            LoopListener::on_close(ctx, lp);
        }
    }
}

/// Closes the connection once it has been idle for `idle`; the weak reference ends with it, so
/// a reused fd number is never closed by mistake.
fn watch_idle(
    lp: &mut EventLoop,
    fd: RawFd,
    activity: Weak<Cell<Instant>>,
    idle: Duration,
    ctx: Context,
) {
    let Some(last) = activity.upgrade().map(|a| a.get()) else {
        return;
    };
    let due = (last + idle).saturating_duration_since(Instant::now());
    lp.call_later(due, move |lp| {
        let Some(current) = activity.upgrade() else {
            return;
        };
        if current.get().elapsed() >= idle {
            debug!(fd, "idle timeout");
            drop(current);
            close(lp, fd, &ctx); // drops the connection: closes it
        } else {
            watch_idle(lp, fd, activity, idle, ctx);
        }
    });
}

fn start_draining(lp: &mut EventLoop, ctx: &Context) {
    if ctx.draining.replace(true) {
        return;
    }
    ctx.listener.close(lp);
    // Every connection gets one more callback (sockets are writable at once): there it stops
    // reading, writes what it owes and closes. The notifier (the running source) is skipped.
    let me = lp.current_fd();
    for fd in lp.registered_fds() {
        if Some(fd) != me {
            let _ = lp.modify(fd, Interest::WRITE);
        }
    }
    if lp.len() <= 1 {
        lp.stop();
    }
    lp.call_later(ctx.shared.config.grace, |lp| {
        give_up(lp.len().saturating_sub(1));
        lp.stop();
    });
}
