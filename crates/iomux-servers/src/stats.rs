//! `iomux serve --stats-addr ADDR`: the server's counters, live, as JSON over HTTP on a
//! loopback address, served by iomux's own event loop (the [`crate::http`] server) on a thread
//! of its own.
//!
//! Each server thread keeps its counters to itself, as it always did, and copies them to its
//! slot of a shared [`Board`] at most every [`PUBLISH_EVERY`] (one clock comparison a loop
//! turn when on; nothing when the flag is off). `GET /stats` sums the slots and adds what the
//! process knows (open connections, CPU time). `iomux web` watches that address for its live
//! page.
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iomux_http::{Handler, Method, Reply, Request, Response, Ticket};
use iomux_metadata::Snapshot;

use crate::{http, Counters, Shared};

/// How often a server thread copies its counters to the board.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(200);

/// The latest counters of each server thread.
#[derive(Default)]
pub struct Board {
    slots: Vec<Mutex<Counters>>,
}

impl Board {
    /// A board for `threads` server threads.
    pub fn new(threads: usize) -> Board {
        Board {
            slots: (0..threads).map(|_| Mutex::default()).collect(),
        }
    }

    fn total(&self) -> Counters {
        let mut total = Counters::default();
        for slot in &self.slots {
            total.add(&slot.lock().unwrap_or_else(|e| e.into_inner()));
        }
        total
    }
}

/// One server thread's way to the board (a no-op without `--stats-addr`).
pub struct Publisher {
    board: Option<Arc<Board>>,
    index: usize,
    next: Instant,
    /// Counters changed since the last copy (a turn came before its time).
    behind: bool,
}

impl Publisher {
    /// Server thread `index`'s publisher.
    pub fn new(shared: &Shared, index: usize) -> Publisher {
        Publisher {
            board: shared.board.clone(),
            index,
            next: Instant::now(),
            behind: false,
        }
    }

    /// At the end of a loop turn: copies the counters `current` gives to the board if it is
    /// time, else remembers that the board is behind.
    #[inline]
    pub fn tick(&mut self, now: Instant, current: impl FnOnce() -> Counters) {
        if let Some(board) = &self.board {
            if now >= self.next {
                self.next = now + PUBLISH_EVERY;
                self.behind = false;
                if let Some(slot) = board.slots.get(self.index) {
                    *slot.lock().unwrap_or_else(|e| e.into_inner()) = current();
                }
            } else {
                self.behind = true;
            }
        }
    }

    /// When the loop must wake to bring the board up to date (`None`: it is).
    pub fn deadline(&self) -> Option<Instant> {
        self.behind.then_some(self.next)
    }
}

/// Checks that `addr` is a loopback address: the counters are not for the network.
pub fn check_loopback(addr: SocketAddr) -> Result<(), String> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "--stats-addr {addr} is not a loopback address (127.0.0.0/8 or ::1): the counters are served to this machine only"
        ))
    }
}

/// Binds the stats address (before the server accepts anyone, so a bad address fails early).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot bind --stats-addr {addr}: {e}")))
}

/// Serves `GET /stats` until the server shuts down.
pub fn serve(listener: TcpListener, shared: Arc<Shared>, backend: Option<String>) {
    let started = Instant::now();
    let shutdown = shared.shutdown.clone();
    let result = http::run(listener, iomux_http::Limits::default(), &shutdown, |_| {
        Ok(StatsHandler {
            shared,
            backend,
            started,
        })
    });
    if let Err(e) = result {
        tracing::warn!("the --stats-addr server stopped: {e}");
    }
}

struct StatsHandler {
    shared: Arc<Shared>,
    backend: Option<String>,
    started: Instant,
}

impl StatsHandler {
    fn snapshot(&self) -> Snapshot {
        let total = self
            .shared
            .board
            .as_ref()
            .map(|b| b.total())
            .unwrap_or_default();
        let (user, system) = iomux_sys::process::process_cpu_time().unwrap_or_default();
        let sel = total.selector;
        Snapshot {
            model: self.shared.config.model.name().to_owned(),
            backend: self.backend.clone(),
            threads: self.shared.config.threads,
            pid: std::process::id(),
            uptime_s: self.started.elapsed().as_secs_f64(),
            open: self.shared.limit.open(),
            accepted: total.accepted,
            refused: total.refused,
            bytes_in: total.bytes_in,
            bytes_out: total.bytes_out,
            reads: total.reads,
            waits: sel.wait_calls.max(total.loop_iterations),
            fds_passed: sel.fds_passed,
            events: sel.events_returned,
            ctl_calls: sel.ctl_calls,
            cpu_user_s: user.as_secs_f64(),
            cpu_system_s: system.as_secs_f64(),
            buffered_bytes: total.buffered,
        }
    }
}

impl Handler for StatsHandler {
    fn handle(&self, request: Request, _: Ticket) -> Reply {
        if !matches!(request.method, Method::Get | Method::Head) {
            return Reply::Now(
                Response::error(405, "only GET and HEAD").with_header("Allow", "GET, HEAD"),
            );
        }
        Reply::Now(match request.path() {
            "/stats" => Response::json(&self.snapshot()),
            "/" => Response::new(
                200,
                "text/plain; charset=utf-8",
                &b"iomux serve: GET /stats for this server's counters (JSON)\n"[..],
            ),
            _ => Response::error(404, "not found: GET /stats"),
        })
    }
}
