//! The live page's data: a watcher thread per watched `iomux serve --stats-addr` address
//! fetches `GET /stats` once a second over one kept-alive connection, turns the totals into
//! rates, and pushes each sample as a Server-Sent Event to every page watching that address.
//!
//! A watched server that stops (or restarts, with a new pid and counters from zero) is said
//! so in a `down` event, and the watcher keeps trying each second: the page picks up the new
//! server by itself. A watcher ends when its last page has gone.
use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use iomux_http::client;
use iomux_metadata::Snapshot;
use iomux_servers::http::{Deliveries, Delivery};

/// How often a watched server is asked.
pub const EVERY: Duration = Duration::from_secs(1);

/// How long one fetch may take.
const TIMEOUT: Duration = Duration::from_millis(800);

/// Stats answers larger than this are refused (a watched address that is not an iomux).
const MAX_ANSWER: usize = 64 * 1024;

/// Distinct addresses watched at once, at most (a watcher is a thread).
const MAX_WATCHED: usize = 16;

/// The pages watching each address, by connection.
#[derive(Clone)]
pub struct Live {
    subscribers: Arc<Mutex<HashMap<SocketAddr, Vec<u64>>>>,
    deliveries: Deliveries,
}

/// One sample, as the live page gets it.
#[derive(Debug, Serialize)]
struct Sample<'a> {
    addr: String,
    /// Seconds since the epoch.
    time: f64,
    stats: &'a Snapshot,
    /// Per second since the previous sample (none for the first after a (re)start).
    rates: Option<Rates>,
}

#[derive(Debug, Serialize)]
struct Rates {
    messages: f64,
    bytes_in: f64,
    bytes_out: f64,
    waits: f64,
    accepted: f64,
    fds_per_wait: f64,
    events_per_wait: f64,
    /// CPU time per wall time, in percent (100 = one core busy).
    cpu_percent: f64,
}

impl Live {
    /// No page watching anything yet; samples reach the event loop through `deliveries`.
    pub fn new(deliveries: Deliveries) -> Live {
        Live {
            subscribers: Arc::default(),
            deliveries,
        }
    }

    /// Connection `conn` watches `addr` from now on; `Err` says why not (too many addresses
    /// watched already).
    pub fn subscribe(&self, addr: SocketAddr, conn: u64) -> Result<(), String> {
        let mut subscribers = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        // An entry, even with no page left, means its watcher is alive (it removes the entry
        // itself, under this lock, when it ends): a new watcher starts only for a new entry.
        let start = !subscribers.contains_key(&addr);
        if start && subscribers.len() >= MAX_WATCHED {
            return Err(format!(
                "{MAX_WATCHED} servers are watched already; close a live page and try again"
            ));
        }
        subscribers.entry(addr).or_default().push(conn);
        if start {
            let live = self.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("iomux-web-watch-{addr}"))
                .spawn(move || live.watch(addr));
            if let Err(e) = spawned {
                subscribers.remove(&addr);
                return Err(format!("cannot watch {addr}: {e}"));
            }
        }
        Ok(())
    }

    /// Connection `conn` has closed.
    pub fn forget(&self, conn: u64) {
        let mut subscribers = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        for list in subscribers.values_mut() {
            list.retain(|&c| c != conn);
        }
    }

    /// The watcher of `addr`: runs until no page watches it.
    fn watch(&self, addr: SocketAddr) {
        let mut stream: Option<TcpStream> = None;
        let mut previous: Option<(Instant, Snapshot)> = None;
        let mut next = Instant::now();
        loop {
            let pages = {
                let mut subscribers = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
                match subscribers.get(&addr) {
                    Some(list) if !list.is_empty() => list.clone(),
                    _ => {
                        subscribers.remove(&addr);
                        return;
                    }
                }
            };
            let message = match fetch(&mut stream, addr) {
                Ok(stats) => {
                    let now = Instant::now();
                    let rates = previous
                        .as_ref()
                        .filter(|(_, p)| p.pid == stats.pid && p.uptime_s <= stats.uptime_s)
                        .map(|(then, p)| rates(p, &stats, now.duration_since(*then)));
                    let sample = Sample {
                        addr: addr.to_string(),
                        time: unix_now(),
                        stats: &stats,
                        rates,
                    };
                    let message = event("stats", &sample);
                    previous = Some((now, stats));
                    message
                }
                Err(e) => {
                    stream = None;
                    previous = None;
                    event(
                        "down",
                        &serde_json::json!({ "addr": addr.to_string(), "time": unix_now(), "error": e.to_string() }),
                    )
                }
            };
            let message: Arc<[u8]> = message.into();
            for conn in pages {
                let push = Delivery::Push {
                    conn,
                    message: message.clone(),
                };
                if self.deliveries.send(push).is_err() {
                    return; // the server has stopped
                }
            }
            next += EVERY;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else {
                next = now;
            }
        }
    }
}

/// One Server-Sent Event.
fn event(name: &str, data: &impl Serialize) -> Vec<u8> {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "{}".into());
    format!("event: {name}\ndata: {json}\n\n").into_bytes()
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn rates(before: &Snapshot, after: &Snapshot, elapsed: Duration) -> Rates {
    let secs = elapsed.as_secs_f64().max(1e-3);
    let per_s = |a: u64, b: u64| b.saturating_sub(a) as f64 / secs;
    let waits = after.waits.saturating_sub(before.waits);
    let per_wait = |a: u64, b: u64| b.saturating_sub(a) as f64 / waits.max(1) as f64;
    let cpu = (after.cpu_user_s + after.cpu_system_s) - (before.cpu_user_s + before.cpu_system_s);
    Rates {
        messages: per_s(before.reads, after.reads),
        bytes_in: per_s(before.bytes_in, after.bytes_in),
        bytes_out: per_s(before.bytes_out, after.bytes_out),
        waits: per_s(before.waits, after.waits),
        accepted: per_s(before.accepted, after.accepted),
        fds_per_wait: per_wait(before.fds_passed, after.fds_passed),
        events_per_wait: per_wait(before.events, after.events),
        cpu_percent: (cpu.max(0.0) / secs) * 100.0,
    }
}

/// `GET /stats` on a kept-alive connection (opened when there is none).
fn fetch(stream: &mut Option<TcpStream>, addr: SocketAddr) -> io::Result<Snapshot> {
    if stream.is_none() {
        let s = TcpStream::connect_timeout(&addr, TIMEOUT)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot reach {addr}: {e}")))?;
        s.set_read_timeout(Some(TIMEOUT))?;
        s.set_write_timeout(Some(TIMEOUT))?;
        s.set_nodelay(true)?;
        *stream = Some(s);
    }
    let s = stream.as_mut().expect("opened above");
    let answer = client::get(s, "/stats", MAX_ANSWER)?;
    if answer.close {
        *stream = None; // the server said this was the connection's last answer
    }
    if answer.status != 200 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("GET /stats answered {}", answer.status),
        ));
    }
    serde_json::from_slice(&answer.body).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{addr} did not answer with iomux stats: {e}"),
        )
    })
}
