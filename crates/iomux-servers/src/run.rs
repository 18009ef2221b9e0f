//! [`run`]: a server from its configuration to its summary. Every model goes through the same
//! four steps: check the configuration, start the workers (one thread per loop, each with its
//! listening socket), wait for SIGINT or SIGTERM (or a worker that failed), and sum up what the
//! workers did.
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use iomux::BackendKind;
use iomux_metadata::{announce, SelectorSummary, Summary};
use tracing::warn;

use crate::config::Config;
use crate::counters::Counters;
use crate::shared::Shared;
use crate::shutdown::{self, ConnLimit};
use crate::{blocking, callbacks, nonblocking, readiness, stats, uring};
use iomux_metadata::Model;

/// Runs a server until SIGINT or SIGTERM; returns what it did.
///
/// Prints `listening on ADDR` once every listener is bound (and `stats on URL` with
/// `--stats-addr`): from then on clients may connect.
pub fn run(config: Config) -> io::Result<Summary> {
    let backend = config.check()?;
    // Use every descriptor the hard limit allows; failing to raise it is not fatal.
    if let Err(e) = iomux_sys::process::raise_nofile_limit() {
        warn!("could not raise RLIMIT_NOFILE: {e}");
    }
    let listeners = bind(config.addr, config.threads)?;
    let local = listeners[0].local_addr()?;
    let stats_listener = config.stats_addr.map(stats::bind).transpose()?;
    let shared = Arc::new(Shared {
        limit: ConnLimit::new(config.max_conns),
        shutdown: Arc::default(),
        board: stats_listener
            .is_some()
            .then(|| Arc::new(crate::board::Board::new(config.threads))),
        traces: Default::default(),
        config,
    });
    // Everything the main thread needs exists before any client can be accepted: once
    // workers run, clients may take every descriptor the limit allows.
    let (requested, wait_for_request) = mpsc::channel();
    shared.shutdown.on_request(move || {
        let _ = requested.send(());
    });
    shutdown::stop_on_signals(&shared.shutdown)?;
    let cpu_before = iomux_sys::process::process_cpu_time()?;
    let workers = start_workers(listeners, &shared)?;

    println!("{}", announce::listening(local));
    let stats_server = match stats_listener {
        Some(listener) => {
            let stats_local = listener.local_addr()?;
            let shared = shared.clone();
            let backend = backend.map(|k| k.name().to_owned());
            let thread = std::thread::Builder::new()
                .name("iomux-stats".into())
                .spawn(move || stats::serve(listener, shared, backend))?;
            // Like the line before it; a closed stdout must not stop the server.
            let _ = writeln!(io::stdout(), "{}", announce::stats(stats_local));
            Some(thread)
        }
        None => None,
    };
    io::stdout().flush()?;

    // A signal, or a worker that failed, requests the shutdown; the workers see it and drain.
    let _ = wait_for_request.recv();
    let total = join(workers, stats_server)?;
    if let Some((path, _)) = &shared.config.trace {
        write_trace(&shared, path)?;
    }
    let cpu_after = iomux_sys::process::process_cpu_time()?;
    let cpu = (cpu_after.0 + cpu_after.1).saturating_sub(cpu_before.0 + cpu_before.1);
    Ok(sum_up(&shared.config, backend, &total, cpu.as_secs_f64()))
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

type Worker = JoinHandle<io::Result<Counters>>;

/// One thread per listener, running the model's loop on it.
fn start_workers(listeners: Vec<TcpListener>, shared: &Arc<Shared>) -> io::Result<Vec<Worker>> {
    listeners
        .into_iter()
        .enumerate()
        .map(|(i, listener)| {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("iomux-serve-{i}"))
                .spawn(move || {
                    let result = match shared.config.model {
                        Model::Blocking => blocking::serve(listener, &shared),
                        Model::Nonblocking => nonblocking::serve(listener, &shared),
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
        .collect()
}

/// Waits for every worker (and the stats thread) to finish; their counters, added up, or the
/// first failure.
fn join(workers: Vec<Worker>, stats_server: Option<JoinHandle<()>>) -> io::Result<Counters> {
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
    match failure {
        Some(e) => Err(e),
        None => Ok(total),
    }
}

/// Writes the loops' traces (trace mode), in loop order.
fn write_trace(shared: &Shared, path: &std::path::Path) -> io::Result<()> {
    let mut traces = std::mem::take(&mut *shared.traces.lock().unwrap_or_else(|p| p.into_inner()));
    traces.sort_by_key(|(index, _)| *index);
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    iomux_metadata::trace::write(path, &traces, &command)
        .map_err(|e| with_context(e, &format!("writing the trace to {}", path.display())))
}

/// The summary of a server that used `cpu_s` CPU seconds and did `total`.
fn sum_up(config: &Config, backend: Option<BackendKind>, total: &Counters, cpu_s: f64) -> Summary {
    let sel = total.selector;
    Summary {
        model: config.model.name().to_owned(),
        backend: backend.map(|k| k.name().to_owned()),
        threads: config.threads,
        accepted: total.accepted,
        refused: total.refused,
        bytes_in: total.bytes_in,
        bytes_out: total.bytes_out,
        loop_iterations: total.loop_iterations,
        out_of_buffers: total.out_of_buffers,
        cq_overflows: total.cq_overflows,
        sent_in_place: total.sent_in_place,
        cpu_s,
        selector: (sel.wait_calls > 0).then(|| SelectorSummary::of(&sel)),
    }
}

fn with_context(e: io::Error, context: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{context}: {e}"))
}
