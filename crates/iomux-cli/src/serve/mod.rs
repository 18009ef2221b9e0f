//! `iomux serve`: the course notes' servers, one per I/O model, all speaking the same protocols.
//!
//! Every model shares binding, signal handling, the shutdown sequence and the summary; what
//! differs is how a model waits for work:
//! - `blocking` ([`blocking`]): a thread per connection, blocking reads and writes;
//! - `nonblocking` ([`busy`]): one thread trying every socket in a loop, no readiness API;
//! - one readiness model per selector backend ([`readiness`]): one loop, written once, run
//!   over that backend of the selector library;
//! - `callbacks` ([`callbacks`]): the callback event loop, as the notes' selectors server.
//!
//! Every model accepts by the same rules ([`accept`]), serves each client through the library's
//! connection core (`iomux::conn`, paired with its socket in [`conn`]), and drains the same way
//! on shutdown ([`shutdown`]).
//!
//! `--threads N` (readiness models) runs N independent loops, each with its own listening
//! socket bound to the same port with `SO_REUSEPORT`: the kernel spreads new connections over
//! the listeners by a hash of the 4-tuple, so there is no acceptor thread, no hand-off queue and
//! no lock between loops. (The cost: a loop that is busy still gets its share of new
//! connections.)
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use iomux::conn::Transfer;
use iomux::{BackendKind, Interest, Selector};
use serde::Serialize;
use tracing::warn;

use crate::proto::Answer;

mod blocking;
mod busy;
mod callbacks;
pub mod conn;
mod model;
mod readiness;
pub mod stats;
pub mod uring;

pub use self::model::Model;
use crate::shutdown::{ConnLimit, Shutdown};
use crate::{accept, shutdown};

/// How the shutdown summary is printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SummaryFormat {
    /// One line for people.
    #[default]
    Text,
    /// One JSON object (for the lab and other programs).
    Json,
}

/// Everything a server model needs to know.
#[derive(Clone, Debug)]
pub struct Config {
    pub model: Model,
    pub proto: Answer,
    pub addr: SocketAddr,
    pub threads: usize,
    pub max_conns: Option<usize>,
    pub idle_timeout: Option<Duration>,
    pub buffer_limit: usize,
    pub grace: Duration,
    /// The completion model's ring (`--model uring` only).
    pub ring: uring::RingConfig,
    /// Where to serve the live counters (`--stats-addr`), if anywhere.
    pub stats_addr: Option<SocketAddr>,
    /// Trace mode (`--trace`): where to write the trace, and how many records each loop
    /// keeps (its last turns).
    pub trace: Option<(std::path::PathBuf, usize)>,
}

/// What a server did, summed over its threads.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    pub accepted: u64,
    pub refused: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Reads (or receive completions) that brought data.
    pub reads: u64,
    pub loop_iterations: u64,
    /// Multishot receives ended because the provided-buffer ring ran dry (completion model).
    pub out_of_buffers: u64,
    /// Waits that found the completion queue overflowed (completion model).
    pub cq_overflows: u64,
    /// The selector's counters (readiness models), or the ring's (completion model).
    pub selector: iomux::Stats,
    /// A gauge, not a count: the bytes owed to clients and buffered in the server's own
    /// buffers (`Connection::owed_len`) when the counters were published (`None` where a model does not add them up: the
    /// callbacks model's connections live in their callbacks).
    pub buffered: Option<u64>,
}

impl Counters {
    pub fn add(&mut self, other: &Counters) {
        self.accepted += other.accepted;
        self.refused += other.refused;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.reads += other.reads;
        self.loop_iterations += other.loop_iterations;
        self.out_of_buffers += other.out_of_buffers;
        self.cq_overflows += other.cq_overflows;
        self.selector += other.selector;
        self.buffered = match (self.buffered, other.buffered) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }

    /// Counts the bytes a connection moved.
    pub fn record(&mut self, transfer: &Transfer) {
        self.bytes_in += transfer.bytes_in;
        self.bytes_out += transfer.bytes_out;
        self.reads += transfer.reads;
    }
}

/// The shared state each model's threads get.
pub struct Shared {
    pub config: Config,
    pub shutdown: Arc<Shutdown>,
    pub limit: ConnLimit,
    /// Where the threads publish their counters (with `--stats-addr`).
    pub board: Option<Arc<stats::Board>>,
    /// Each loop's trace, handed in as its thread ends (with `--trace`).
    pub traces: std::sync::Mutex<Vec<(usize, iomux::trace::Tracer)>>,
}

impl Shared {
    /// The records each loop's trace keeps, when trace mode is on.
    pub fn trace_records(&self) -> Option<usize> {
        self.config.trace.as_ref().map(|(_, records)| *records)
    }

    /// Hands in loop `index`'s trace.
    pub fn keep_trace(&self, index: usize, trace: Option<iomux::trace::Tracer>) {
        if let Some(trace) = trace {
            let mut traces = self.traces.lock().unwrap_or_else(|p| p.into_inner());
            traces.push((index, trace));
        }
    }
}

/// What `iomux serve` prints when it stops: as one line of text, or as one JSON object.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub model: String,
    /// The selector backend the model waited with (none for blocking and nonblocking).
    pub backend: Option<String>,
    pub threads: usize,
    pub accepted: u64,
    pub refused: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub loop_iterations: u64,
    /// Multishot receives ended by an empty provided-buffer ring (`uring` model; 0 elsewhere).
    pub out_of_buffers: u64,
    /// Waits that found the completion queue overflowed (`uring` model; 0 elsewhere).
    pub cq_overflows: u64,
    /// CPU seconds (user + system) the whole process used while serving.
    pub cpu_s: f64,
    pub selector: Option<SelectorSummary>,
}

/// The selector's cost counters, summed over the server's loops.
#[derive(Clone, Debug, Serialize)]
pub struct SelectorSummary {
    pub wait_calls: u64,
    pub events_returned: u64,
    pub fds_passed: u64,
    pub ctl_calls: u64,
    /// io_uring: entries submitted, completions taken, `io_uring_enter` calls.
    pub submissions: u64,
    pub completions: u64,
    pub enter_calls: u64,
    pub wait_s: f64,
    pub fds_per_wait: f64,
    pub events_per_wait: f64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "served {} connections ({} refused); {} bytes in, {} bytes out",
            self.accepted, self.refused, self.bytes_in, self.bytes_out
        )?;
        if self.model == Model::Uring.name() {
            if let Some(sel) = &self.selector {
                write!(
                    f,
                    "; io_uring: {} turns, {} io_uring_enter calls, {} submissions, {} completions, {} receives out of buffers, {} completion queue overflows",
                    sel.wait_calls, sel.enter_calls, sel.submissions, sel.completions, self.out_of_buffers, self.cq_overflows
                )?;
            }
            return Ok(());
        }
        if let Some(sel) = &self.selector {
            write!(
                f,
                "; selector: {} waits, {:.1} fds passed per wait, {:.1} events per wait, {} ctl calls, {:.3} s waiting",
                sel.wait_calls, sel.fds_per_wait, sel.events_per_wait, sel.ctl_calls, sel.wait_s
            )?;
        }
        if self.model == Model::Nonblocking.name() {
            write!(
                f,
                "; {} loop iterations, {:.2} CPU seconds burnt",
                self.loop_iterations, self.cpu_s
            )?;
        }
        Ok(())
    }
}

/// Binds `count` listening sockets to the address (the same port, with `SO_REUSEPORT` when
/// more than one), non-blocking, with a deep backlog.
fn bind(addr: SocketAddr, count: usize) -> io::Result<Vec<TcpListener>> {
    let mut listeners = Vec::with_capacity(count);
    let mut addr = addr;
    for _ in 0..count {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            None,
        )?;
        socket.set_reuse_address(true)?;
        if count > 1 {
            socket.set_reuse_port(true)?;
        }
        socket
            .bind(&addr.into())
            .map_err(|e| with_context(e, &format!("cannot bind {addr}")))?;
        socket.listen(4096)?;
        socket.set_nonblocking(true)?;
        let listener: TcpListener = socket.into();
        addr = listener.local_addr()?; // port 0 becomes the real port for the next ones
        listeners.push(listener);
    }
    Ok(listeners)
}

/// How often the loops look for idle connections: often enough to close one within a quarter
/// of `--idle-timeout` past its time.
fn sweep_period(idle: Duration) -> Duration {
    (idle / 4).clamp(Duration::from_millis(5), Duration::from_secs(1))
}

/// When a loop first looks for idle connections (`None` without `--idle-timeout`).
fn first_idle_sweep(shared: &Shared) -> Option<std::time::Instant> {
    shared
        .config
        .idle_timeout
        .map(|t| std::time::Instant::now() + sweep_period(t))
}

/// How long a single-threaded loop may wait: until the accept pause ends, the next idle sweep,
/// the end of the shutdown grace period, or the `--stats-addr` board's next update, whichever
/// comes first (`None`: no deadline).
fn time_to_next_deadline(
    acceptor: &accept::Acceptor,
    next_idle_sweep: Option<std::time::Instant>,
    drain: Option<&shutdown::Drain>,
    publisher: &stats::Publisher,
) -> Option<Duration> {
    [
        acceptor.retry_at(),
        next_idle_sweep,
        drain.map(|d| d.deadline()),
        publisher.deadline(),
    ]
    .into_iter()
    .flatten()
    .min()
    .map(|d| d.saturating_duration_since(std::time::Instant::now()))
}

fn with_context(e: io::Error, context: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{context}: {e}"))
}

/// Runs `iomux serve` until SIGINT or SIGTERM; returns what it did.
pub fn run(config: Config) -> io::Result<Summary> {
    if config.threads == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--threads must be at least 1",
        ));
    }
    if config.threads > 1 && !config.model.runs_several_loops() {
        let readiness: Vec<_> = Model::all()
            .iter()
            .filter(|m| m.runs_several_loops())
            .map(|m| m.name())
            .collect();
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "--threads applies to the readiness models ({}), not {}",
                readiness.join(", "),
                config.model.name()
            ),
        ));
    }
    let backend = match config.model {
        Model::Readiness(kind) => Some(kind),
        // A bad IOMUX_BACKEND fails now, with its one-line error.
        Model::Callbacks => Some(BackendKind::default_choice().map_err(iomux::Error::from)?),
        Model::Blocking | Model::Nonblocking | Model::Uring => None,
    };
    if let (Model::Callbacks, Some(kind)) = (config.model, backend) {
        if let Err(reason) = kind.probe() {
            let e = iomux::Error::Unsupported {
                backend: kind,
                reason,
            };
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("{} ({}={kind})", e, iomux::BACKEND_ENV),
            ));
        }
    }
    if let Err(why) = config.model.probe() {
        let working: Vec<_> = Model::all()
            .iter()
            .filter(|m| m.probe().is_ok())
            .map(|m| m.name())
            .collect();
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "--model {} cannot run here: {why}; models that work here: {}",
                config.model.name(),
                working.join(", ")
            ),
        ));
    }
    if config.trace.is_some() && !config.model.traces() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "--trace is offered by the models that have loop turns to record ({}), not {}",
                Model::all()
                    .iter()
                    .filter(|m| m.traces())
                    .map(|m| m.name())
                    .collect::<Vec<_>>()
                    .join(", "),
                config.model.name()
            ),
        ));
    }
    if let Some(addr) = config.stats_addr {
        stats::check_loopback(addr).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        if !config.model.publishes_stats() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "--stats-addr is not offered by --model {} (its connection threads keep their counters until they end); models that offer it: {}",
                    config.model.name(),
                    Model::all()
                        .iter()
                        .filter(|m| m.publishes_stats())
                        .map(|m| m.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    // Use every descriptor the hard limit allows; failing to raise it is not fatal.
    if let Err(e) = iomux_sys::process::raise_nofile_limit() {
        warn!("could not raise RLIMIT_NOFILE: {e}");
    }
    let listeners = bind(config.addr, config.threads)?;
    let local = listeners[0].local_addr()?;
    let stats_listener = config.stats_addr.map(stats::bind).transpose()?;

    // Signals arrive as bytes on a socket pair, which the main thread waits on.
    let (signal_rx, signal_tx) = UnixStream::pair()?;
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::low_level::pipe::register(signal, signal_tx.try_clone()?)?;
    }

    // Everything the main thread needs is allocated before any client can be accepted: once
    // workers run, clients may take every descriptor the limit allows.
    let mut waiter: Selector<()> = Selector::with_backend(BackendKind::Poll)?;
    waiter.register(&signal_rx, Interest::READ, ())?;
    let main_waker = waiter.waker()?;

    let shared = Arc::new(Shared {
        limit: ConnLimit::new(config.max_conns),
        shutdown: Arc::default(),
        board: stats_listener
            .is_some()
            .then(|| Arc::new(stats::Board::new(config.threads))),
        traces: Default::default(),
        config,
    });
    shared.shutdown.on_request(move || {
        let _ = main_waker.wake();
    });
    let cpu_before = iomux_sys::process::process_cpu_time()?;
    let workers: Vec<_> = listeners
        .into_iter()
        .enumerate()
        .map(|(i, listener)| {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("iomux-serve-{i}"))
                .spawn(move || {
                    let result = match shared.config.model {
                        Model::Blocking => blocking::serve(listener, &shared),
                        Model::Nonblocking => busy::serve(listener, &shared),
                        Model::Callbacks => callbacks::serve(listener, &shared),
                        Model::Readiness(kind) => readiness::serve(listener, kind, &shared, i),
                        Model::Uring => uring::serve(listener, &shared),
                    };
                    // A thread that fails takes the whole server down, cleanly.
                    if result.is_err() {
                        shared.shutdown.request();
                    }
                    result
                })
        })
        .collect::<io::Result<_>>()?;

    println!("listening on {local}");
    let stats_server = match stats_listener {
        Some(listener) => {
            let stats_local = listener.local_addr()?;
            let shared = shared.clone();
            let backend = backend.map(|k| k.name().to_owned());
            let thread = std::thread::Builder::new()
                .name("iomux-stats".into())
                .spawn(move || stats::serve(listener, shared, backend))?;
            // Like the line before it; a closed stdout must not stop the server.
            let _ = writeln!(io::stdout(), "{}", stats::announcement(stats_local));
            Some(thread)
        }
        None => None,
    };
    io::stdout().flush()?;

    // Wait for a signal, or for a worker to request shutdown after an error.
    let mut events = iomux::Events::with_capacity(4);
    while !shared.shutdown.is_requested() && events.is_empty() {
        waiter.select(&mut events, None)?;
    }
    shared.shutdown.request();
    // A second SIGINT/SIGTERM while draining means "now": exit without waiting for the grace
    // period. (Each signal is one byte on the pair; the first is still unread.)
    std::thread::spawn(move || {
        let mut seen = 0;
        let mut buf = [0u8; 8];
        while let Ok(n) = (&signal_rx).read(&mut buf) {
            seen += n;
            if n == 0 || seen >= 2 {
                break;
            }
        }
        if seen >= 2 {
            eprintln!("iomux: second signal: exiting without delivering what is still owed");
            std::process::exit(130);
        }
    });

    let mut total = Counters::default();
    let mut failure = None;
    for worker in workers {
        match worker.join() {
            Ok(Ok(counters)) => total.add(&counters),
            Ok(Err(e)) => failure = Some(e),
            Err(_) => failure = Some(io::Error::other("a server thread panicked")),
        }
    }
    if let Some(thread) = stats_server {
        let _ = thread.join();
    }
    if let Some(e) = failure {
        return Err(e);
    }
    if let Some((path, _)) = &shared.config.trace {
        let mut traces =
            std::mem::take(&mut *shared.traces.lock().unwrap_or_else(|p| p.into_inner()));
        traces.sort_by_key(|(index, _)| *index);
        let command = std::env::args().collect::<Vec<_>>().join(" ");
        crate::trace::write(path, &traces, &command)
            .map_err(|e| with_context(e, &format!("writing the trace to {}", path.display())))?;
    }
    let cpu_after = iomux_sys::process::process_cpu_time()?;
    let cpu = (cpu_after.0 + cpu_after.1).saturating_sub(cpu_before.0 + cpu_before.1);
    let sel = total.selector;
    let per_wait = |n: u64| n as f64 / sel.wait_calls.max(1) as f64;
    Ok(Summary {
        model: shared.config.model.name().to_owned(),
        backend: backend.map(|k| k.name().to_owned()),
        threads: shared.config.threads,
        accepted: total.accepted,
        refused: total.refused,
        bytes_in: total.bytes_in,
        bytes_out: total.bytes_out,
        loop_iterations: total.loop_iterations,
        out_of_buffers: total.out_of_buffers,
        cq_overflows: total.cq_overflows,
        cpu_s: cpu.as_secs_f64(),
        selector: (sel.wait_calls > 0).then(|| SelectorSummary {
            wait_calls: sel.wait_calls,
            events_returned: sel.events_returned,
            fds_passed: sel.fds_passed,
            ctl_calls: sel.ctl_calls,
            submissions: sel.submissions,
            completions: sel.completions,
            enter_calls: sel.enter_calls,
            wait_s: sel.wait_time.as_secs_f64(),
            fds_per_wait: per_wait(sel.fds_passed),
            events_per_wait: per_wait(sel.events_returned),
        }),
    })
}
