//! What the threads of one server share ([`Shared`]), what each counts ([`Counters`]), and
//! when a loop must wake for something other than I/O.
use std::sync::Arc;
use std::time::{Duration, Instant};

use iomux::conn::Transfer;

use crate::accept::Acceptor;
use crate::shutdown::{ConnLimit, Drain, Shutdown};
use crate::{stats, Config};

/// What a server did, summed over its threads.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections accepted and then closed unserved (refused by the selector, or no thread).
    pub refused: u64,
    /// Bytes read from clients.
    pub bytes_in: u64,
    /// Bytes written to clients.
    pub bytes_out: u64,
    /// Reads (or receive completions) that brought data.
    pub reads: u64,
    /// Loop turns (the blocking and callbacks models count none).
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
    /// Adds another thread's counters to these (the `buffered` gauges too).
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
    /// The server's configuration.
    pub config: Config,
    /// The shutdown request the threads watch.
    pub shutdown: Arc<Shutdown>,
    /// Connections open now, across threads, for `--max-conns`.
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

/// How often the loops look for idle connections: often enough to close one within a quarter
/// of `--idle-timeout` past its time.
pub(crate) fn sweep_period(idle: Duration) -> Duration {
    (idle / 4).clamp(Duration::from_millis(5), Duration::from_secs(1))
}

/// When a loop first looks for idle connections (`None` without `--idle-timeout`).
pub(crate) fn first_idle_sweep(shared: &Shared) -> Option<Instant> {
    shared
        .config
        .idle_timeout
        .map(|t| Instant::now() + sweep_period(t))
}

/// How long a single-threaded loop may wait: until the accept pause ends, the next idle sweep,
/// the end of the shutdown grace period, or the `--stats-addr` board's next update, whichever
/// comes first (`None`: no deadline).
pub(crate) fn time_to_next_deadline(
    acceptor: &Acceptor,
    next_idle_sweep: Option<Instant>,
    drain: Option<&Drain>,
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
    .map(|d| d.saturating_duration_since(Instant::now()))
}
