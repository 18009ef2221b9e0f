//! `iomux load`: a load generator for echo servers that is cheap enough not to be the
//! bottleneck and strict enough never to lie.
//!
//! - Built on iomux's own epoll backend: one event loop per `--threads`, no thread per connection.
//! - Every echoed byte is checked against the stream that was sent ([`iomux_pattern`]); mismatches,
//!   resets and short streams are counted and reported, and a mismatch makes the exit status
//!   non-zero.
//! - Closed loop by default: `--pipeline` messages in flight per connection, a new one sent as
//!   each answer completes. `--rate` switches to an open loop: messages go out on a fixed
//!   schedule whatever the server does, and latency is measured from the *intended* send time,
//!   so a server that stalls cannot hide its stall (no coordinated omission).
//! - Latency goes into an HDR histogram; throughput and latency cover only the window after
//!   `--warmup`.
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use iomux::{BackendKind, Events, Interest, OutBuffer, Selector};
use iomux_pattern::EchoCheck;

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// The echo server's address.
    pub addr: SocketAddr,
    /// Active connections.
    pub conns: usize,
    /// Message size in bytes.
    pub size: usize,
    /// Messages in flight per connection (closed loop).
    pub pipeline: usize,
    /// The measured window (after the warm-up).
    pub duration: Duration,
    /// Load before measuring starts.
    pub warmup: Duration,
    /// Total messages per second across all connections (open loop), or `None` (closed loop).
    pub rate: Option<f64>,
    /// Extra connections that are opened and never send.
    pub idle: usize,
    /// Event loops (threads) driving the active connections.
    pub threads: usize,
    /// How long to wait for the answers still in flight when the run ends.
    pub drain: Duration,
}

impl Config {
    /// A closed-loop run with one thread, no idle connections and a 5 s drain: the lab's usual
    /// shape; set the other fields with struct update syntax.
    pub fn closed_loop(
        addr: SocketAddr,
        conns: usize,
        size: usize,
        pipeline: usize,
        duration: Duration,
        warmup: Duration,
    ) -> Config {
        Config {
            addr,
            conns,
            size,
            pipeline,
            duration,
            warmup,
            rate: None,
            idle: 0,
            threads: 1,
            drain: Duration::from_secs(5),
        }
    }
}

/// What a run measured. Serialized as the `--json` line.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Report {
    /// Messages answered per second in the measured window.
    pub msgs_per_s: f64,
    /// Megabytes (10^6 bytes) echoed per second in the measured window.
    pub mb_per_s: f64,
    /// Median latency, in microseconds.
    pub p50_us: f64,
    /// 99th percentile latency, in microseconds.
    pub p99_us: f64,
    /// 99.9th percentile latency, in microseconds.
    pub p999_us: f64,
    /// Highest latency, in microseconds.
    pub max_us: f64,
    /// Mean latency, in microseconds.
    pub mean_us: f64,
    /// Active connections.
    pub conns: usize,
    /// Idle connections (opened, never sending).
    pub idle: usize,
    /// Message size in bytes.
    pub size: usize,
    /// Messages in flight per connection (closed loop).
    pub pipeline: usize,
    /// Total messages per second asked for (open loop), or `None` (closed loop).
    pub rate: Option<f64>,
    /// Messages completed inside the measured window.
    pub messages: u64,
    /// The measured window, in seconds.
    pub window_s: f64,
    /// Connections that failed: refused, reset, closed early.
    pub errors: u64,
    /// Connections whose echo differed from what was sent.
    pub mismatches: u64,
    /// Messages never answered by the end of the drain period.
    pub unanswered: u64,
    /// How evenly the connections were served in the window: Jain's index over each
    /// connection's answered messages, 1.0 when all got the same and 1/n when one got all.
    /// A closed loop's latency percentiles count messages, so a server that serves a few
    /// connections fast while it starves the rest shows a low p50 beside a huge p99; this
    /// says so directly.
    #[serde(default)]
    pub fairness: f64,
    /// The least-served connection's answered messages in the window, as a share of the
    /// mean (0 when some connection got no answer at all).
    #[serde(default)]
    pub least_served: f64,
    /// Open loop: the share of the messages due in the window that went out on time (within
    /// [`ON_TIME`] of their scheduled moment); `None` in a closed loop. Below 1 the load
    /// generator itself fell behind its schedule (it did not get the CPU, or it is the
    /// bottleneck), so the server was not offered the load the run claims.
    #[serde(default)]
    pub on_schedule: Option<f64>,
    /// The load generator's own CPU time (user + system) during the run.
    pub load_cpu_s: f64,
}

/// Per-thread results, merged into a [`Report`].
struct Tally {
    histogram: Histogram<u64>,
    messages: u64,
    errors: u64,
    mismatches: u64,
    unanswered: u64,
    /// Each connection's answered messages in the window (closed or open loop alike).
    per_conn: Vec<u64>,
    /// Open loop: messages due in the window that went out within [`ON_TIME`] of it.
    on_time: u64,
}

/// How late an open loop's message may go out and still count as sent on schedule: a few
/// scheduler ticks, far less than any window, far more than a busy loop's ordinary jitter.
pub const ON_TIME: Duration = Duration::from_millis(2);

impl Tally {
    fn new() -> Tally {
        Tally {
            // 1 ns .. 100 s at 3 significant figures.
            histogram: Histogram::new_with_bounds(1, 100_000_000_000, 3)
                .expect("valid histogram bounds"),
            messages: 0,
            errors: 0,
            mismatches: 0,
            unanswered: 0,
            per_conn: Vec::new(),
            on_time: 0,
        }
    }
}

/// One load connection: its stream, what it still has to write, and its place in the pattern.
struct LoadConn {
    stream: TcpStream,
    out: OutBuffer,
    /// Its place in the pattern: bytes queued for sending, and received and verified.
    check: EchoCheck,
    /// Send (or, open loop, intended send) time of each message not yet fully answered, in
    /// nanoseconds since the thread's [`Plan::epoch`] (a subtraction per message, not an
    /// `Instant` difference).
    in_flight: VecDeque<u64>,
    /// What the connection is registered for, so unchanged interest costs no selector call.
    interest: Interest,
    alive: bool,
    /// Messages answered inside the measured window.
    answered_in_window: u64,
}

/// Per-run constants shared by a thread's connections.
struct Plan {
    size: usize,
    closed_loop: bool,
    epoch: Instant,
}

impl Plan {
    /// `at` as nanoseconds since the epoch.
    fn nanos(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_nanos() as u64
    }
}

impl LoadConn {
    fn queue_messages(&mut self, count: usize, sent_at: u64, plan: &Plan) -> io::Result<()> {
        let mut bytes = count * plan.size;
        for _ in 0..count {
            self.in_flight.push_back(sent_at);
        }
        while bytes > 0 {
            let chunk = self.check.send(bytes);
            self.out.write_or_buffer(&mut &self.stream, chunk)?;
            bytes -= chunk.len();
        }
        Ok(())
    }

    /// Reads and verifies what arrived; completes messages. Returns how many completed.
    fn on_readable(
        &mut self,
        buf: &mut [u8],
        tally: &mut Tally,
        measuring: bool,
        now: u64,
    ) -> usize {
        let mut completed = 0;
        loop {
            let n = match (&self.stream).read(buf) {
                Ok(0) => {
                    // The server closed while answers were owed: a short stream.
                    tally.errors += 1;
                    self.alive = false;
                    return completed;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return completed,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    tally.errors += 1;
                    self.alive = false;
                    return completed;
                }
            };
            let Ok(done) = self.check.take(&buf[..n]) else {
                tally.mismatches += 1;
                self.alive = false;
                return completed;
            };
            for _ in 0..done {
                let sent_at = self.in_flight.pop_front().expect("a message was in flight");
                if measuring {
                    tally
                        .histogram
                        .saturating_record(now.saturating_sub(sent_at).max(1));
                    tally.messages += 1;
                    self.answered_in_window += 1;
                }
                completed += 1;
            }
            if n < buf.len() {
                return completed;
            }
        }
    }
}

/// Connects `count` sockets to `addr`, moving to the next loopback source address
/// (127.0.0.2, 127.0.0.3, ...) whenever one runs out of ephemeral ports (tested in a network
/// namespace with a narrowed port range: `load_spreads_over_loopback_sources_when_ports_run_out`).
fn connect_all(addr: SocketAddr, count: usize, first_id: usize) -> io::Result<Vec<TcpStream>> {
    let mut source: u8 = 1;
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        match connect_from(addr, source) {
            Ok(stream) => out.push(stream),
            Err(e)
                if e.raw_os_error() == Some(libc::EADDRNOTAVAIL)
                    && addr.ip().is_loopback()
                    && source < 254 =>
            {
                source += 1;
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!(
                        "connection {} of {count} to {addr} failed: {e}",
                        first_id + out.len() + 1
                    ),
                ))
            }
        }
    }
    Ok(out)
}

fn connect_from(addr: SocketAddr, source: u8) -> io::Result<TcpStream> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    if source > 1 {
        let from = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, source)), 0);
        socket.bind(&from.into())?;
    }
    socket.connect(&addr.into())?;
    socket.set_nodelay(true)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Checks the descriptor budget before opening anything, so a limit stops the run with a clear
/// message instead of halfway through.
fn check_fd_budget(config: &Config) -> io::Result<()> {
    let limit = iomux_sys::process::raise_nofile_limit()?;
    let needed = (config.conns + config.idle) as u64 + 64;
    if needed > limit {
        let (_, hard) = iomux_sys::process::nofile_limit()?;
        return Err(io::Error::other(format!(
            "{} connections need about {needed} file descriptors, but RLIMIT_NOFILE allows {limit} (hard limit {hard}); \
             lower --conns/--idle, or raise the hard limit (e.g. `ulimit -Hn {needed}` as root)",
            config.conns + config.idle
        )));
    }
    Ok(())
}

/// The edges of the measured window, for callers that sample something alongside (the lab
/// reads the server's CPU time at both).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowEdge {
    /// The warm-up is over: measuring starts.
    Start,
    /// The measured window is over.
    End,
}

/// Runs the load; `progress` (messages completed so far) is updated as it goes.
pub fn run(config: &Config, progress: &Arc<AtomicU64>) -> io::Result<Report> {
    run_observed(config, progress, &mut |_| {})
}

/// [`run`], calling `on_edge` at the start and the end of the measured window.
pub fn run_observed(
    config: &Config,
    progress: &Arc<AtomicU64>,
    on_edge: &mut dyn FnMut(WindowEdge),
) -> io::Result<Report> {
    if config.conns == 0 || config.size == 0 || config.pipeline == 0 || config.threads == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--conns, --size, --pipeline and --threads must be at least 1",
        ));
    }
    if config.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--rate must be a positive number of messages per second",
        ));
    }
    check_fd_budget(config)?;
    let cpu_before = iomux_sys::process::process_cpu_time()?;
    let active = connect_all(config.addr, config.conns, 0)?;
    let idle = connect_all(config.addr, config.idle, config.conns)?;

    let threads = config.threads.min(config.conns);
    let mut groups: Vec<Vec<(usize, TcpStream)>> = (0..threads).map(|_| Vec::new()).collect();
    for (id, stream) in active.into_iter().enumerate() {
        groups[id % threads].push((id, stream));
    }
    let started = Instant::now();
    let warmup_end = started + config.warmup;
    let end = warmup_end + config.duration;
    let handles: Vec<_> = groups
        .into_iter()
        .map(|group| {
            let config = config.clone();
            let progress = progress.clone();
            let share = threads as f64;
            std::thread::spawn(move || {
                drive(
                    group,
                    &config,
                    config.rate.map(|r| r / share),
                    warmup_end,
                    end,
                    &progress,
                )
            })
        })
        .collect();
    std::thread::sleep(warmup_end.saturating_duration_since(Instant::now()));
    on_edge(WindowEdge::Start);
    std::thread::sleep(end.saturating_duration_since(Instant::now()));
    on_edge(WindowEdge::End);
    let mut total = Tally::new();
    // Connections close only here, after the window's end was observed: a server whose threads
    // end with their connections (the blocking model) must still have them when it is sampled.
    let mut finished_conns = Vec::new();
    for handle in handles {
        let (tally, conns) = handle
            .join()
            .map_err(|_| io::Error::other("a load thread panicked"))??;
        finished_conns.push(conns);
        total
            .histogram
            .add(&tally.histogram)
            .map_err(|e| io::Error::other(e.to_string()))?;
        total.messages += tally.messages;
        total.errors += tally.errors;
        total.mismatches += tally.mismatches;
        total.unanswered += tally.unanswered;
        total.per_conn.extend(&tally.per_conn);
        total.on_time += tally.on_time;
    }
    let (fairness, least_served) = evenness(&total.per_conn);
    drop(finished_conns);
    drop(idle);
    let cpu_after = iomux_sys::process::process_cpu_time()?;
    let window = config.duration.as_secs_f64();
    let h = &total.histogram;
    let us = |nanos: u64| nanos as f64 / 1_000.0;
    Ok(Report {
        msgs_per_s: total.messages as f64 / window,
        mb_per_s: (total.messages * config.size as u64) as f64 / window / 1e6,
        p50_us: us(h.value_at_quantile(0.50)),
        p99_us: us(h.value_at_quantile(0.99)),
        p999_us: us(h.value_at_quantile(0.999)),
        max_us: us(h.max()),
        mean_us: h.mean() / 1_000.0,
        conns: config.conns,
        idle: config.idle,
        size: config.size,
        pipeline: config.pipeline,
        rate: config.rate,
        messages: total.messages,
        window_s: window,
        errors: total.errors,
        mismatches: total.mismatches,
        unanswered: total.unanswered,
        fairness,
        least_served,
        // Messages due in the window, whether or not the threads got to them.
        on_schedule: config
            .rate
            .map(|rate| (total.on_time as f64 / (rate * window).max(1.0)).min(1.0)),
        load_cpu_s: ((cpu_after.0 + cpu_after.1).saturating_sub(cpu_before.0 + cpu_before.1))
            .as_secs_f64(),
    })
}

/// One thread's event loop over its share of the connections.
fn drive(
    group: Vec<(usize, TcpStream)>,
    config: &Config,
    rate: Option<f64>,
    warmup_end: Instant,
    end: Instant,
    progress: &AtomicU64,
) -> io::Result<(Tally, Vec<LoadConn>)> {
    let plan = Plan {
        size: config.size,
        closed_loop: rate.is_none(),
        epoch: Instant::now(),
    };
    // Open loop: the schedule is the measurement, so wake on time (best effort).
    if rate.is_some() {
        let _ = iomux_sys::process::minimize_timer_slack();
    }
    let mut selector: Selector<usize> = Selector::with_backend(BackendKind::Epoll)?;
    let mut conns: Vec<LoadConn> = Vec::with_capacity(group.len());
    for (index, (id, stream)) in group.into_iter().enumerate() {
        selector.register(&stream, Interest::READ, index)?;
        conns.push(LoadConn {
            stream,
            out: OutBuffer::with_limit(usize::MAX),
            check: EchoCheck::new(id, config.size),
            in_flight: VecDeque::new(),
            interest: Interest::READ,
            alive: true,
            answered_in_window: 0,
        });
    }
    let mut tally = Tally::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut events = Events::with_capacity(1024);
    let begin = Instant::now();
    // Open loop: message j (over this thread's connections) is due at begin + j / rate.
    let interval = rate.map(|r| Duration::from_secs_f64(1.0 / r));
    let mut next_due = begin;
    let mut scheduled: u64 = 0;
    if plan.closed_loop {
        for conn in conns.iter_mut() {
            if conn
                .queue_messages(config.pipeline, plan.nanos(begin), &plan)
                .is_err()
            {
                conn.alive = false;
                tally.errors += 1;
            }
            update_interest(&mut selector, conn);
        }
    }
    let drain_end = end + config.drain;
    loop {
        let now = Instant::now();
        let sending = now < end;
        if !sending
            && (now >= drain_end || conns.iter().all(|c| !c.alive || c.in_flight.is_empty()))
        {
            break;
        }
        if let (true, Some(interval)) = (sending, interval) {
            while next_due <= now && next_due < end {
                let index = (scheduled % conns.len() as u64) as usize;
                let conn = &mut conns[index];
                if conn.alive {
                    if conn.queue_messages(1, plan.nanos(next_due), &plan).is_err() {
                        conn.alive = false;
                        tally.errors += 1;
                    } else if next_due >= warmup_end && now.duration_since(next_due) <= ON_TIME {
                        tally.on_time += 1;
                    }
                    update_interest(&mut selector, conn);
                }
                scheduled += 1;
                next_due = begin + interval.mul_f64(scheduled as f64);
            }
        }
        let wake_at = if sending {
            if interval.is_some() {
                next_due.min(end)
            } else {
                end
            }
        } else {
            drain_end
        };
        selector.select(
            &mut events,
            Some(wake_at.saturating_duration_since(Instant::now())),
        )?;
        let now = Instant::now();
        let measuring = now >= warmup_end && now <= end;
        let now_nanos = plan.nanos(now);
        for event in &events {
            let Some((key, readiness)) = selector.resolve(event) else {
                continue;
            };
            let index = *key.data();
            let conn = &mut conns[index];
            if !conn.alive {
                continue;
            }
            if readiness.is_writable() && conn.out.flush_to(&mut &conn.stream).is_err() {
                conn.alive = false;
                tally.errors += 1;
            }
            if conn.alive && (readiness.is_readable() || readiness.is_error_or_hangup()) {
                let completed = conn.on_readable(&mut buf, &mut tally, measuring, now_nanos);
                progress.fetch_add(completed as u64, Ordering::Relaxed);
                if plan.closed_loop
                    && completed > 0
                    && now < end
                    && conn.alive
                    && conn.queue_messages(completed, now_nanos, &plan).is_err()
                {
                    conn.alive = false;
                    tally.errors += 1;
                }
            }
            update_interest(&mut selector, conn);
        }
    }
    for conn in &conns {
        if conn.alive {
            tally.unanswered += conn.in_flight.len() as u64;
        }
        tally.per_conn.push(conn.answered_in_window);
    }
    Ok((tally, conns))
}

/// Jain's fairness index of `answered` (each connection's count), and the smallest as a share
/// of the mean; (1, 1) when nothing was answered (nothing to be unfair about).
fn evenness(answered: &[u64]) -> (f64, f64) {
    let n = answered.len() as f64;
    let sum: f64 = answered.iter().map(|&x| x as f64).sum();
    if sum == 0.0 {
        return (1.0, 1.0);
    }
    let squares: f64 = answered.iter().map(|&x| (x as f64) * (x as f64)).sum();
    let least = answered.iter().copied().min().unwrap_or(0) as f64;
    (sum * sum / (n * squares), least / (sum / n))
}

fn update_interest(selector: &mut Selector<usize>, conn: &mut LoadConn) {
    let fd = conn.stream.as_raw_fd();
    if !conn.alive {
        if selector.get_key(fd).is_some() {
            let _ = selector.unregister(fd);
        }
        return;
    }
    let interest = if conn.out.is_empty() {
        Interest::READ
    } else {
        Interest::BOTH
    };
    if interest != conn.interest {
        conn.interest = interest;
        if selector.set_interest(fd, interest).is_err() {
            conn.alive = false;
        }
    }
}

/// The human-readable summary.
pub fn describe(r: &Report) -> String {
    let mode = match r.rate {
        Some(rate) => format!("open loop at {rate:.0} msg/s"),
        None => format!("closed loop, pipeline {}", r.pipeline),
    };
    let mut s = format!(
        "{} conns (+{} idle), {} B messages, {mode}, {:.1} s window\n\
         throughput: {:.0} msg/s, {:.2} MB/s ({} messages)\n\
         latency:    p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us\n\
         fairness:   {:.3} (Jain's index over the connections), least-served connection {:.2} of the mean\n\
         load CPU:   {:.2} s{}\n\
         errors: {}, mismatches: {}, unanswered: {}",
        r.conns,
        r.idle,
        r.size,
        r.window_s,
        r.msgs_per_s,
        r.mb_per_s,
        r.messages,
        r.p50_us,
        r.p99_us,
        r.p999_us,
        r.max_us,
        r.fairness,
        r.least_served,
        r.load_cpu_s,
        match r.on_schedule {
            Some(share) => format!(
                ", {:.1}% of the window's messages sent on schedule",
                share * 100.0
            ),
            None => String::new(),
        },
        r.errors,
        r.mismatches,
        r.unanswered
    );
    if r.mismatches > 0 {
        s.push_str(
            "\nTHE SERVER CORRUPTED DATA: echoed bytes differ from those sent \
             (iomux load needs an echo server, e.g. `iomux serve --proto echo`)",
        );
    }
    s
}

/// Draws a progress line on stderr (terminal only) until `done` completes.
pub fn show_progress(progress: &AtomicU64, total: Duration, until: impl Fn() -> bool) {
    let started = Instant::now();
    let mut last = (0u64, started);
    while !until() {
        std::thread::sleep(Duration::from_millis(250));
        let now = Instant::now();
        let count = progress.load(Ordering::Relaxed);
        let rate = (count - last.0) as f64 / (now - last.1).as_secs_f64();
        last = (count, now);
        let elapsed = started.elapsed().min(total);
        let filled = (elapsed.as_secs_f64() / total.as_secs_f64() * 30.0) as usize;
        eprint!(
            "\r[{}{}] {:5.1}/{:.1} s {:>10.0} msg/s",
            "#".repeat(filled),
            ".".repeat(30 - filled.min(30)),
            elapsed.as_secs_f64(),
            total.as_secs_f64(),
            rate
        );
        let _ = io::stderr().flush();
    }
    eprint!("\r{}\r", " ".repeat(70));
}

#[cfg(test)]
mod tests {
    use super::evenness;

    #[test]
    fn evenness_is_one_when_every_connection_got_the_same_and_falls_with_starvation() {
        assert_eq!(evenness(&[5, 5, 5, 5]), (1.0, 1.0));
        assert_eq!(evenness(&[0, 0]), (1.0, 1.0), "nothing answered");
        let (jain, least) = evenness(&[10, 0, 0, 0]);
        assert!((jain - 0.25).abs() < 1e-12, "one of four got all: 1/n");
        assert_eq!(least, 0.0);
        let (jain, least) = evenness(&[8, 12]);
        assert!((jain - 400.0 / 416.0).abs() < 1e-12);
        assert!((least - 0.8).abs() < 1e-12);
    }
}
