//! `iomux bench soak`: each readiness model and the completion model held under churn for a
//! while — up to `--conns` connections at once, opened and closed all the time, each doing one
//! of four things: talk (echoed messages, every byte checked), half-close (then read to the end),
//! reset (an RST in the middle), idle (then close). Every second the server's RSS, open
//! descriptors, bytes queued in its sockets (the kernel's buffers, from `/proc/net/tcp`) and
//! bytes buffered in its own (owed to clients: its `--stats-addr` answer, which adds up every
//! connection's) are sampled. When the churn stops, all four must be back where they
//! started (within a small bound), with no byte lost or wrong: what a server that leaks a
//! descriptor, a buffer or a connection's state per churned connection would fail.
//!
//! Not part of `bench all` (it runs minutes); `--duration 100` on the six servers is the
//! issue's ten-minute soak.
use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use iomux::{Events, Interest, Selector};
use serde::{Deserialize, Serialize};

use crate::chart::{line_chart, Series};
use crate::experiment::Experiment;
use crate::lab::Lab;
use crate::process::ServerSpec;
use crate::report::Report;
use crate::subjects::Subject;
use crate::table::cell;
use crate::table::table;
use crate::units::parse_seconds;
use iomux_metadata::Model;
use iomux_pattern::EchoCheck;
use iomux_store::record::Point;

/// The experiment's name, in records and on the command line.
pub const NAME: &str = "soak";
/// The subject the others are compared with across testbeds.
pub const REFERENCE: &str = "epoll";

/// RSS a server may keep above where it started once the churn is over (allocators keep some
/// freed memory).
const RSS_SLACK_KIB: f64 = 16.0 * 1024.0;
/// Descriptors it may keep above where it started (a stats or signal descriptor made late).
const FD_SLACK: f64 = 2.0;

/// `iomux bench soak` parameters.
#[derive(clap::Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// The servers: readiness models and the completion model (`uring`).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "select,poll,epoll,epoll-et,io-uring,uring"
    )]
    #[serde(with = "crate::units::names")]
    pub servers: Vec<Subject>,
    /// Connections open at once at most (select: its FD_SETSIZE wall, less room, whatever is asked).
    #[arg(long, default_value_t = 15_000)]
    pub conns: usize,
    /// Seconds of churn per server.
    #[arg(long, value_parser = parse_seconds, default_value = "60", value_name = "SECS")]
    #[serde(with = "crate::units::secs")]
    pub duration: Duration,
    /// Connections opened (and so closed) per second, at most.
    #[arg(long, default_value_t = 2_000)]
    pub churn: usize,
}

impl Experiment for Params {
    const NAME: &'static str = NAME;
    const REFERENCE: &'static str = REFERENCE;
    const HEADLINE: &'static str = "fds_end";

    fn measure(&self, lab: &mut Lab) -> io::Result<()> {
        let declared = self;
        let p = &if lab.quick {
            Params {
                conns: declared.conns.min(crate::params::quick::MAX_CONNS),
                duration: Duration::from_secs(2),
                ..declared.clone()
            }
        } else {
            declared.clone()
        };
        let budget = crate::params::fd_budget()? as usize;
        for &subject in &p.servers {
            let Subject::Model(model) = subject else {
                return Err(io::Error::new(
                    ErrorKind::InvalidInput,
                    format!("bench soak runs iomux's own models, not the peer {subject}"),
                ));
            };
            let mut conns = p.conns.min(budget.saturating_sub(200));
            if let Model::Readiness(kind) = model {
                if let Some(limit) = kind.fd_limit() {
                    conns = conns.min(limit.saturating_sub(100));
                }
            }
            if conns < p.conns {
                lab.say(&format!(
                    "{}: {conns} connections at most (its descriptor limit), not {}",
                    model.name(),
                    p.conns
                ));
            }
            let mut spec = ServerSpec::new(subject)?;
            spec.args
                .extend(["--stats-addr".to_owned(), "127.0.0.1:0".to_owned()]);
            let mut server = spec.start(&lab.pinning)?;
            let (pid, addr) = (server.pid(), server.addr);
            let line = server.next_line()?;
            let stats_addr = iomux_metadata::announce::stats_on(&line);
            if stats_addr.is_none() {
                lab.say(&format!(
                    "{}: no stats address (it said {line:?}); its own buffers are not sampled",
                    model.name()
                ));
            }
            let mut stats = StatsLink::connect(stats_addr);
            std::thread::sleep(Duration::from_millis(300));
            let start = sample(pid, addr.port(), &mut stats);
            let stop = Arc::new(AtomicBool::new(false));
            let driver = {
                let stop = stop.clone();
                let churn_rate = p.churn;
                std::thread::spawn(move || churn(addr, conns, churn_rate, &stop))
            };
            let began = Instant::now();
            let mut series = vec![(0.0, start)];
            while began.elapsed() < p.duration {
                std::thread::sleep(Duration::from_secs(1).min(p.duration));
                let now = sample(pid, addr.port(), &mut stats);
                series.push((began.elapsed().as_secs_f64(), now));
            }
            stop.store(true, Ordering::Relaxed);
            let tally = driver
                .join()
                .map_err(|_| io::Error::other("the churn thread panicked"))??;
            // Let the server see every close, then sample where it ends.
            let settle = Instant::now();
            let mut end = sample(pid, addr.port(), &mut stats);
            let holds = |s: &Sample| s.buffered != Some(0.0);
            while (end.fds > start.fds + FD_SLACK || end.queued > 0.0 || holds(&end))
                && settle.elapsed() < Duration::from_secs(10)
            {
                std::thread::sleep(Duration::from_millis(100));
                end = sample(pid, addr.port(), &mut stats);
            }
            drop(stats);
            series.push((began.elapsed().as_secs_f64(), end));
            drop(server.stop());
            let peak = |f: fn(&Sample) -> f64| series.iter().map(|(_, s)| f(s)).fold(0.0, f64::max);
            // Every model soaked publishes its buffered bytes: not knowing them at the end fails
            // the verdict like holding some would.
            if end.buffered.is_none() {
                lab.say(&format!(
                    "{}: its buffered bytes could not be read at the end",
                    model.name()
                ));
            }
            let back = end.fds <= start.fds + FD_SLACK
                && end.queued == 0.0
                && !holds(&end)
                && end.rss_kib <= start.rss_kib + RSS_SLACK_KIB;
            let buffered_peak = series
                .iter()
                .filter_map(|(_, s)| s.buffered)
                .reduce(f64::max);
            let clean = tally.mismatches == 0 && tally.lost == 0;
            for (i, (t, s)) in series.iter().enumerate() {
                lab.point(
                    Point::new(NAME, model.name())
                        .param("sample", i)
                        .metric("t_s", *t)
                        .metric("rss_kib", s.rss_kib)
                        .metric("fds", s.fds)
                        .metric("queued_bytes", s.queued)
                        .metric("buffered_bytes", s.buffered),
                )?;
            }
            lab.point(
                Point::new(NAME, model.name())
                    .param("conns", conns)
                    .param("verdict", if back && clean { "held" } else { "FAILED" })
                    .metric("rss_start_kib", start.rss_kib)
                    .metric("rss_peak_kib", peak(|s| s.rss_kib))
                    .metric("rss_end_kib", end.rss_kib)
                    .metric("fds_start", start.fds)
                    .metric("fds_peak", peak(|s| s.fds))
                    .metric("fds_end", end.fds)
                    .metric("queued_peak_bytes", peak(|s| s.queued))
                    .metric("queued_end_bytes", end.queued)
                    .metric("buffered_peak_bytes", buffered_peak)
                    .metric("buffered_end_bytes", end.buffered)
                    .metric("opened", tally.opened as f64)
                    .metric("messages", tally.messages as f64)
                    .metric("mismatches", tally.mismatches as f64)
                    .metric("lost_bytes", tally.lost as f64)
                    .metric("errors", tally.failed as f64),
            )?;
        }
        Ok(())
    }

    fn render(&self, report: &mut Report, points: &[Point]) -> io::Result<()> {
        let p = self;
        let verdicts: Vec<&Point> = points
            .iter()
            .filter(|pt| pt.params.contains_key("verdict"))
            .collect();
        report.say(&format!(
            "soak: {} servers; at most {} connections each, {} opened a second, for {:.0} s; each must end where it started (fds +{FD_SLACK}, RSS +{:.0} MiB, nothing queued in its sockets nor buffered in its own), no byte lost or wrong",
            p.servers.len(),
            p.conns,
            p.churn,
            p.duration.as_secs_f64(),
            RSS_SLACK_KIB / 1024.0
        ));
        let rows: Vec<Vec<String>> = verdicts
            .iter()
            .map(|pt| {
                let kib = |name: &str| cell(pt.get(name).map(|v| v / 1024.0), 1);
                vec![
                    pt.subject.clone(),
                    pt.params
                        .get("verdict")
                        .and_then(|v| v.as_str())
                        .unwrap_or("?")
                        .to_owned(),
                    cell(pt.get("opened"), 0),
                    cell(pt.get("messages"), 0),
                    format!(
                        "{}/{}/{}",
                        kib("rss_start_kib"),
                        kib("rss_peak_kib"),
                        kib("rss_end_kib")
                    ),
                    format!(
                        "{}/{}/{}",
                        cell(pt.get("fds_start"), 0),
                        cell(pt.get("fds_peak"), 0),
                        cell(pt.get("fds_end"), 0)
                    ),
                    format!(
                        "{}/{}",
                        cell(pt.get("queued_peak_bytes"), 0),
                        cell(pt.get("queued_end_bytes"), 0)
                    ),
                    format!(
                        "{}/{}",
                        cell(pt.get("buffered_peak_bytes"), 0),
                        cell(pt.get("buffered_end_bytes"), 0)
                    ),
                    format!(
                        "{}/{}",
                        cell(pt.get("mismatches"), 0),
                        cell(pt.get("lost_bytes"), 0)
                    ),
                ]
            })
            .collect();
        report.say(&table(
            &[
                "server",
                "verdict",
                "opened",
                "messages",
                "RSS MiB start/peak/end",
                "fds start/peak/end",
                "queued B peak/end",
                "buffered B peak/end",
                "wrong/lost",
            ],
            &rows,
        ));
        let series = |metric: &str| -> Vec<Series> {
            p.servers
                .iter()
                .map(|m| Series {
                    name: m.name().to_owned(),
                    points: points
                        .iter()
                        .filter(|pt| pt.subject == m.name() && pt.params.contains_key("sample"))
                        .filter_map(|pt| Some((pt.get("t_s")?, pt.get(metric)?)))
                        .collect(),
                })
                .collect()
        };
        report.write_chart(
            "soak-fds",
            &line_chart(
                "Open descriptors under churn",
                "seconds",
                "descriptors",
                &series("fds"),
                false,
                false,
            ),
        )?;
        report.write_chart(
            "soak-rss",
            &line_chart(
                "Resident memory under churn",
                "seconds",
                "KiB",
                &series("rss_kib"),
                false,
                false,
            ),
        )?;
        Ok(())
    }
}

/// One sample of the server.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    rss_kib: f64,
    fds: f64,
    queued: f64,
    /// Bytes owed to clients in the server's own buffers (`None` if it could not be asked).
    buffered: Option<f64>,
}

/// The server's `--stats-addr` answer, over one kept-alive connection (opened before the first
/// sample, so its descriptor is part of where the server starts).
struct StatsLink {
    addr: Option<SocketAddr>,
    stream: Option<TcpStream>,
}

impl StatsLink {
    fn connect(addr: Option<SocketAddr>) -> StatsLink {
        let stream = addr.and_then(|a| TcpStream::connect(a).ok());
        StatsLink { addr, stream }
    }

    /// Bytes the server owes its clients in its own buffers, as it last published them. A
    /// failed answer is asked again once on a new connection.
    fn buffered(&mut self) -> Option<f64> {
        self.ask().or_else(|| {
            self.stream = self.addr.and_then(|a| TcpStream::connect(a).ok());
            self.ask()
        })
    }

    fn ask(&mut self) -> Option<f64> {
        let stream = self.stream.as_mut()?;
        let answer = iomux_http::client::get(stream, "/stats", 1 << 16).ok()?;
        let snapshot: iomux_metadata::Snapshot = serde_json::from_slice(&answer.body).ok()?;
        snapshot.buffered_bytes.map(|b| b as f64)
    }
}

fn sample(pid: u32, port: u16, stats: &mut StatsLink) -> Sample {
    let rss_kib = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(f64::NAN);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count() as f64)
        .unwrap_or(f64::NAN);
    Sample {
        rss_kib,
        fds,
        queued: queued_bytes(port) as f64,
        buffered: stats.buffered(),
    }
}

/// Bytes waiting in the send and receive queues of the server's sockets (local port `port`),
/// from `/proc/net/tcp`: what the server holds in the kernel for its clients.
fn queued_bytes(port: u16) -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/net/tcp") else {
        return 0;
    };
    let suffix = format!(":{port:04X}");
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1)?;
            if !local.ends_with(&suffix) {
                return None;
            }
            let queues = fields.nth(2)?; // tx_queue:rx_queue
            let (tx, rx) = queues.split_once(':')?;
            Some(u64::from_str_radix(tx, 16).ok()? + u64::from_str_radix(rx, 16).ok()?)
        })
        .sum()
}

/// What the churn did.
#[derive(Debug, Default)]
struct Tally {
    opened: u64,
    messages: u64,
    mismatches: u64,
    /// Bytes a talking or half-closing connection sent that never came back.
    lost: u64,
    /// Connections that failed without being told to (refused, reset by the server).
    failed: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Talk,
    HalfClose,
    Reset,
    Idle,
}

struct Conn {
    stream: TcpStream,
    behaviour: Behaviour,
    /// What it sent, and what came back right.
    check: EchoCheck,
    messages_left: u32,
    half_closed: bool,
    deadline: Instant,
}

const MESSAGE: usize = 64;

/// Churns connections against `addr` until `stop`, keeping at most `conns` open and opening at
/// most `churn` a second; then closes all of them.
fn churn(addr: SocketAddr, conns: usize, churn: usize, stop: &AtomicBool) -> io::Result<Tally> {
    let mut tally = Tally::default();
    let mut sel: Selector<usize> = Selector::new()?;
    let mut open: HashMap<usize, Conn> = HashMap::new();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    let mut next_id = 0usize;
    let (mut budget, mut refilled) = (0usize, Instant::now());
    // Idle connections live long enough for the population to reach `conns`: a quarter of
    // the connections opened are idle, so their mean lifetime is 4 x conns / churn seconds.
    let idle_ms = (8_000 * conns as u64 / churn.max(1) as u64).max(400);
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut random = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n.max(1)
    };
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let elapsed = now - refilled;
        if elapsed >= Duration::from_millis(10) {
            budget = (budget + churn * elapsed.as_millis() as usize / 1000).min(churn);
            refilled = now;
        }
        while open.len() < conns && budget > 0 {
            budget -= 1;
            let Ok(stream) = TcpStream::connect(addr) else {
                tally.failed += 1;
                continue;
            };
            stream.set_nonblocking(true)?;
            let id = next_id;
            next_id += 1;
            tally.opened += 1;
            let behaviour = match id % 4 {
                0 => Behaviour::Talk,
                1 => Behaviour::HalfClose,
                2 => Behaviour::Reset,
                _ => Behaviour::Idle,
            };
            let mut conn = Conn {
                stream,
                behaviour,
                check: EchoCheck::new(id, MESSAGE),
                messages_left: 1 + random(8) as u32,
                half_closed: false,
                deadline: now + Duration::from_millis(random(idle_ms)),
            };
            if behaviour != Behaviour::Idle && send_message(&mut conn).is_err() {
                tally.failed += 1;
                continue;
            }
            sel.register(conn.stream.as_raw_fd(), Interest::READ, id)?;
            open.insert(id, conn);
        }
        sel.select(&mut events, Some(Duration::from_millis(10)))?;
        let ready: Vec<usize> = sel.ready(&events).map(|(k, _)| *k.data()).collect();
        let mut done = Vec::new();
        for id in ready {
            let Some(conn) = open.get_mut(&id) else {
                continue;
            };
            match step(conn, &mut buf, &mut tally) {
                Ok(true) => {}
                Ok(false) | Err(_) => done.push(id),
            }
        }
        let now = Instant::now();
        for (&id, conn) in open.iter() {
            if conn.behaviour == Behaviour::Idle && now >= conn.deadline {
                done.push(id);
            }
        }
        for id in done {
            if let Some(conn) = open.remove(&id) {
                let _ = sel.unregister(conn.stream.as_raw_fd());
            }
        }
    }
    for (_, conn) in open.drain() {
        let _ = sel.unregister(conn.stream.as_raw_fd());
    }
    Ok(tally)
}

fn send_message(conn: &mut Conn) -> io::Result<()> {
    let bytes = conn.check.send(MESSAGE);
    // 64 bytes on a fresh or drained connection: the socket takes them whole.
    conn.stream.write_all(bytes)?;
    Ok(())
}

/// Handles a readable connection; `false` when it is finished (closed, or to be closed).
fn step(conn: &mut Conn, buf: &mut [u8], tally: &mut Tally) -> io::Result<bool> {
    loop {
        match conn.stream.read(buf) {
            Ok(0) => {
                // The server closed: after our half-close that is the expected end.
                let check = &conn.check;
                if !check.is_answered() && conn.behaviour != Behaviour::Reset {
                    tally.lost += check.sent() - check.received();
                }
                if !conn.half_closed {
                    tally.failed += 1;
                }
                return Ok(false);
            }
            Ok(n) => {
                if conn.check.take(&buf[..n]).is_err() {
                    tally.mismatches += 1;
                    return Ok(false);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => {
                tally.failed += 1;
                return Ok(false);
            }
        }
    }
    if !conn.check.is_answered() {
        return Ok(true); // the rest of the echo is on its way
    }
    tally.messages += 1;
    match conn.behaviour {
        Behaviour::Talk if conn.messages_left > 1 => {
            conn.messages_left -= 1;
            send_message(conn)?;
            Ok(true)
        }
        Behaviour::Talk => Ok(false),
        Behaviour::HalfClose if !conn.half_closed => {
            conn.stream.shutdown(std::net::Shutdown::Write)?;
            conn.half_closed = true;
            Ok(true) // the end of stream comes next
        }
        Behaviour::HalfClose => Ok(true),
        Behaviour::Reset => {
            // An RST instead of a FIN: linger on, zero seconds.
            let _ = socket2::SockRef::from(&conn.stream).set_linger(Some(Duration::ZERO));
            Ok(false)
        }
        Behaviour::Idle => Ok(true),
    }
}
