//! The course notes' first server: non-blocking sockets tried one after another in an endless
//! loop, with no readiness API at all. It answers as fast as any model, and pays for it with a
//! whole CPU even when no client says anything: every pass makes an `accept` and a `read` per
//! connection that mostly fail with `EAGAIN`. The summary prints the passes and CPU seconds.
//! Otherwise it is held to the same standard as the others (partial writes, backpressure,
//! half-close, idle timeout, descriptor exhaustion), through the same connection state machine.
use std::io;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use super::conn::{Conn, Scratch};
use super::{Counters, Shared, ACCEPT_RETRY};

pub fn serve(listener: TcpListener, shared: &Shared) -> io::Result<Counters> {
    let config = &shared.config;
    let mut listener = Some(listener);
    let mut conns: Vec<Conn> = Vec::new();
    let mut scratch = Scratch::new();
    let mut counters = Counters::default();
    let mut accept_paused_until: Option<Instant> = None;
    let mut drain_deadline: Option<Instant> = None;
    loop {
        counters.loop_iterations += 1;
        let now = Instant::now();
        if shared.shutdown.is_requested() && drain_deadline.is_none() {
            drain_deadline = Some(now + config.grace);
            listener = None;
            conns.iter_mut().for_each(Conn::start_draining);
        }
        if let Some(deadline) = drain_deadline {
            if conns.is_empty() || now >= deadline {
                return Ok(counters);
            }
        }
        if let Some(l) = &listener {
            if accept_paused_until.is_none_or(|t| now >= t) && !shared.limit.is_full() {
                accept_paused_until = None;
                match iomux_sys::socket::accept_nonblocking(l) {
                    Ok(stream) => {
                        let _ = stream.set_nodelay(true);
                        conns.push(Conn::new(stream, config.buffer_limit, now));
                        counters.accepted += 1;
                        shared.limit.opened();
                        debug!("connection opened");
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if iomux_sys::socket::is_fd_exhaustion(&e) => {
                        warn!("accept: {e}; pausing accepts for {ACCEPT_RETRY:?}");
                        accept_paused_until = Some(now + ACCEPT_RETRY);
                    }
                    Err(e) => debug!("accept: {e}"),
                }
            }
        }
        // The busy part: try every connection whether or not it has anything to say.
        let idle = config.idle_timeout.unwrap_or(Duration::MAX);
        conns.retain_mut(|conn| {
            let keep = conn
                .write_owed(&mut counters, now)
                .and_then(|()| {
                    conn.read_and_answer(&config.proto, &mut scratch, &mut counters, now, false)
                })
                .is_ok()
                && conn.interest().is_some()
                && now.duration_since(conn.last_active) < idle;
            if !keep {
                shared.limit.closed();
                debug!("connection closed");
            }
            keep
        });
    }
}
