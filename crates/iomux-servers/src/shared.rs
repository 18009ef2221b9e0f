//! What the threads of one server share ([`Shared`]), and when a loop must wake for something
//! other than I/O.
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::accept::Acceptor;
use crate::board::{Board, Publisher};
use crate::config::Config;
use crate::shutdown::{ConnLimit, Drain, Shutdown};

/// The shared state each model's threads get.
pub struct Shared {
    /// The server's configuration.
    pub config: Config,
    /// The shutdown request the threads watch.
    pub shutdown: Arc<Shutdown>,
    /// Connections open now, across threads, for `--max-conns`.
    pub limit: ConnLimit,
    /// Where the threads publish their counters (with `--stats-addr`).
    pub board: Option<Arc<Board>>,
    /// Each loop's trace, handed in as its thread ends (with `--trace`).
    pub traces: std::sync::Mutex<Vec<(usize, iomux::trace::Tracer)>>,
}

impl Shared {
    /// Loop `index`'s way to the `--stats-addr` board (a no-op without the flag).
    pub fn publisher(&self, index: usize) -> Publisher {
        Publisher::new(self.board.clone(), index)
    }

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
    publisher: &Publisher,
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
