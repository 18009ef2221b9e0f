//! `iomux serve`: the course notes' servers, one per I/O model, all speaking the same protocols.
//!
//! Every model shares binding, signal handling, the shutdown sequence and the summary; what
//! differs is how a model waits for work:
//! - `blocking` ([`blocking`]): a thread per connection, blocking reads and writes;
//! - `nonblocking` ([`busy`]): one thread trying every socket in a loop, no readiness API;
//! - `select`, `poll`, `epoll`, `epoll-et` ([`readiness`]): one readiness loop, written once,
//!   run over that backend of the selector library;
//! - `callbacks` ([`callbacks`]): the callback event loop, as the notes' selectors server.
//!
//! `--threads N` (readiness models) runs N independent loops, each with its own listening
//! socket bound to the same port with `SO_REUSEPORT`: the kernel spreads new connections over
//! the listeners by a hash of the 4-tuple, so there is no acceptor thread, no hand-off queue and
//! no lock between loops. (The cost: a loop that is busy still gets its share of new
//! connections.)
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use iomux::{BackendKind, Interest, Selector};
use tracing::warn;

use crate::proto::Protocol;

mod blocking;
mod busy;
mod callbacks;
pub mod conn;
mod readiness;

/// The I/O models `iomux serve --model` offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Model {
    /// A thread per connection, blocking sockets.
    Blocking,
    /// The notes' first server: non-blocking sockets tried in a busy loop, no readiness API.
    Nonblocking,
    /// The readiness loop on select(2).
    Select,
    /// The readiness loop on poll(2).
    Poll,
    /// The readiness loop on epoll, level-triggered.
    Epoll,
    /// The readiness loop on epoll, edge-triggered.
    #[value(name = "epoll-et")]
    EpollEt,
    /// The notes' selectors server: the callback event loop (IOMUX_BACKEND picks its backend).
    Callbacks,
}

impl Model {
    /// The name `--model` takes.
    pub fn name(self) -> &'static str {
        match self {
            Model::Blocking => "blocking",
            Model::Nonblocking => "nonblocking",
            Model::Select => "select",
            Model::Poll => "poll",
            Model::Epoll => "epoll",
            Model::EpollEt => "epoll-et",
            Model::Callbacks => "callbacks",
        }
    }

    /// The selector backend of a readiness model.
    pub fn backend(self) -> Option<BackendKind> {
        match self {
            Model::Select => Some(BackendKind::Select),
            Model::Poll => Some(BackendKind::Poll),
            Model::Epoll => Some(BackendKind::Epoll),
            Model::EpollEt => Some(BackendKind::EpollEdge),
            _ => None,
        }
    }
}

/// Everything a server model needs to know.
#[derive(Clone, Debug)]
pub struct Config {
    pub model: Model,
    pub proto: Protocol,
    pub addr: SocketAddr,
    pub threads: usize,
    pub max_conns: Option<usize>,
    pub idle_timeout: Option<Duration>,
    pub buffer_limit: usize,
    pub grace: Duration,
}

/// What a server did, summed over its threads.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    pub accepted: u64,
    pub refused: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub loop_iterations: u64,
    /// The selector's counters (readiness models).
    pub selector: iomux::Stats,
}

impl Counters {
    pub fn add(&mut self, other: &Counters) {
        self.accepted += other.accepted;
        self.refused += other.refused;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.loop_iterations += other.loop_iterations;
        let (a, b) = (&mut self.selector, &other.selector);
        a.wait_calls += b.wait_calls;
        a.events_returned += b.events_returned;
        a.fds_passed += b.fds_passed;
        a.ctl_calls += b.ctl_calls;
        a.wait_time += b.wait_time;
    }
}

/// The shutdown request, shared by the main thread and every server thread.
#[derive(Default)]
pub struct Shutdown {
    requested: AtomicBool,
    notify: Mutex<Vec<Box<dyn Fn() + Send>>>,
}

impl Shutdown {
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }
    /// Asks every thread to stop accepting, deliver what it owes, and finish.
    pub fn request(&self) {
        self.requested.store(true, Ordering::Release);
        for notify in self.notify.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            notify();
        }
    }
    /// Runs `notify` on [`request`](Self::request) (at once, if it was requested already).
    pub fn on_request(&self, notify: impl Fn() + Send + 'static) {
        let mut list = self.notify.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_requested() {
            notify();
        }
        list.push(Box::new(notify));
    }
}

/// Connections open now, across threads, for `--max-conns`.
#[derive(Default)]
pub struct ConnLimit {
    open: AtomicUsize,
    max: Option<usize>,
}

impl ConnLimit {
    pub fn new(max: Option<usize>) -> Self {
        ConnLimit {
            open: AtomicUsize::new(0),
            max,
        }
    }
    pub fn is_full(&self) -> bool {
        self.max
            .is_some_and(|max| self.open.load(Ordering::Acquire) >= max)
    }
    pub fn opened(&self) {
        self.open.fetch_add(1, Ordering::AcqRel);
    }
    pub fn closed(&self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The shared state each model's threads get.
pub struct Shared {
    pub config: Config,
    pub shutdown: Arc<Shutdown>,
    pub limit: ConnLimit,
}

/// How often a paused listener (out of fds, or at `--max-conns`) looks again.
pub const ACCEPT_RETRY: Duration = Duration::from_millis(50);

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

fn with_context(e: io::Error, context: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{context}: {e}"))
}

/// Runs `iomux serve` until SIGINT or SIGTERM; returns the summary line.
pub fn run(config: Config) -> io::Result<String> {
    if config.threads == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--threads must be at least 1",
        ));
    }
    let multi_thread = config.model.backend().is_some();
    if config.threads > 1 && !multi_thread {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "--threads applies to the readiness models (select, poll, epoll, epoll-et), not {}",
                config.model.name()
            ),
        ));
    }
    if config.model == Model::Callbacks {
        BackendKind::default_choice().map_err(io::Error::from)?; // a bad IOMUX_BACKEND fails now
    }
    // Use every descriptor the hard limit allows; failing to raise it is not fatal.
    if let Err(e) = iomux_sys::process::raise_nofile_limit() {
        warn!("could not raise RLIMIT_NOFILE: {e}");
    }
    let listeners = bind(config.addr, config.threads)?;
    let local = listeners[0].local_addr()?;

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
                        model => readiness::serve(
                            listener,
                            model.backend().expect("a readiness model"),
                            &shared,
                        ),
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
    if let Some(e) = failure {
        return Err(e);
    }
    let cpu_after = iomux_sys::process::process_cpu_time()?;
    let mut summary = format!(
        "served {} connections ({} refused); {} bytes in, {} bytes out",
        total.accepted, total.refused, total.bytes_in, total.bytes_out
    );
    let sel = total.selector;
    if sel.wait_calls > 0 {
        summary.push_str(&format!(
            "; selector: {} waits, {:.1} fds passed per wait, {:.1} events per wait, {} ctl calls, {:.3} s waiting",
            sel.wait_calls,
            sel.fds_per_wait(),
            sel.events_returned as f64 / sel.wait_calls as f64,
            sel.ctl_calls,
            sel.wait_time.as_secs_f64()
        ));
    }
    if shared.config.model == Model::Nonblocking {
        let cpu = (cpu_after.0 + cpu_after.1).saturating_sub(cpu_before.0 + cpu_before.1);
        summary.push_str(&format!(
            "; {} loop iterations, {:.2} CPU seconds burnt",
            total.loop_iterations,
            cpu.as_secs_f64()
        ));
    }
    Ok(summary)
}
