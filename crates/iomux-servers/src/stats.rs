//! `iomux serve --stats-addr ADDR`: the server's counters, live, as JSON over HTTP on a
//! loopback address, served by iomux's own event loop (the [`crate::http`] server) on a thread
//! of its own.
//!
//! `GET /stats` sums the threads' slots of the [`crate::board::Board`] and adds what the
//! process knows (open connections, CPU time). `iomux web` watches that address for its live
//! page.
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Instant;

use iomux_http::{Handler, Method, Reply, Request, Response, Ticket};
use iomux_metadata::Snapshot;

use crate::http;
use crate::shared::Shared;

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
