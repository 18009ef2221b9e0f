//! The course notes' first server: non-blocking sockets tried one after another in an endless
//! loop, with no readiness API at all. It answers as fast as any model, and pays for it with a
//! whole CPU even when no client says anything: every pass makes an `accept` and a `read` per
//! connection that mostly fail with `EAGAIN`. The summary prints the passes and CPU seconds.
//! Otherwise it is held to the same standard as the others (partial writes, backpressure,
//! half-close, idle timeout, descriptor exhaustion), through the same connection core and the
//! same accept rules.
use std::io;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use tracing::debug;

use super::conn::{read_buffer, Client};
use crate::accept::{Accepted, Acceptor};
use crate::counters::Counters;
use crate::shared::Shared;
use crate::shutdown::Drain;

/// Serves on `listener` by polling every socket in turn until shutdown and its drain; returns
/// what it did.
pub fn serve(listener: TcpListener, shared: &Shared) -> io::Result<Counters> {
    let config = &shared.config;
    let mut listener = Some(listener);
    let mut acceptor = Acceptor::default();
    let mut clients: Vec<Client> = Vec::new();
    let mut read_buffer = read_buffer();
    let mut counters = Counters::default();
    let mut publisher = shared.publisher(0);
    let mut drain: Option<Drain> = None;
    let idle = config.idle_timeout.unwrap_or(Duration::MAX);
    loop {
        counters.loop_iterations += 1;
        let now = Instant::now();
        publisher.tick(now, || Counters {
            buffered: Some(clients.iter().map(|c| c.conn.owed_len() as u64).sum()),
            ..counters
        });
        if shared.shutdown.is_requested() && drain.is_none() {
            drain = Some(Drain::start(now, config.grace));
            listener = None;
            acceptor.stop();
            for client in &mut clients {
                client.conn.start_draining();
            }
        }
        if drain.is_some_and(|d| d.is_over(now, clients.len())) {
            return Ok(counters);
        }
        if let Some(l) = &listener {
            if !acceptor.is_paused() || acceptor.resume_due(now) {
                if let Accepted::Conn(stream) = acceptor.accept(l, &shared.limit, now) {
                    clients.push(Client::new(stream, shared, now));
                    counters.accepted += 1;
                    shared.limit.opened();
                    debug!("connection opened");
                }
            }
        }
        // The busy part: try every connection whether or not it has anything to say.
        let mut closed = 0;
        clients.retain_mut(|client| {
            let write = client.conn.write_owed(&client.stream, now);
            let read = match write.error {
                None => client
                    .conn
                    .read_available(&client.stream, &mut read_buffer, now, false),
                Some(_) => Default::default(),
            };
            counters.record(&write);
            counters.record(&read);
            let keep = write.error.is_none()
                && read.error.is_none()
                && client.conn.interest().is_some()
                && now.duration_since(client.conn.last_active()) < idle;
            if !keep {
                shared.limit.closed();
                debug!("connection closed");
                closed += 1;
            }
            keep
        });
        if closed > 0 {
            acceptor.on_close(now);
        }
    }
}
