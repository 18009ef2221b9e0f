//! [`Config`]: everything a server model needs to know, and the checks that refuse a
//! configuration before anything is bound.
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use iomux::BackendKind;

use iomux_metadata::Model;

use crate::answer::Answer;

/// Everything a server model needs to know.
#[derive(Clone, Debug)]
pub struct Config {
    /// The I/O model (`--model`).
    pub model: Model,
    /// What the server answers (`--proto`).
    pub proto: Answer,
    /// The address to listen on.
    pub addr: SocketAddr,
    /// Event loops, each on its own thread, sharing the port (`--threads`; readiness models).
    pub threads: usize,
    /// At most this many connections open at once (`--max-conns`; `None`: no limit).
    pub max_conns: Option<usize>,
    /// Closes a connection silent both ways for this long (`--idle-timeout`; `None`: never).
    pub idle_timeout: Option<Duration>,
    /// Bytes owed to a client past which the server stops reading from it (`--max-buffer`).
    pub buffer_limit: usize,
    /// On shutdown, how long to keep delivering what is owed before closing anyway (`--grace`).
    pub grace: Duration,
    /// The completion model's ring (`--model uring` only).
    pub ring: RingConfig,
    /// Where to serve the live counters (`--stats-addr`), if anywhere.
    pub stats_addr: Option<SocketAddr>,
    /// Trace mode (`--trace`): where to write the trace, and how many records each loop
    /// keeps (its last turns).
    pub trace: Option<(std::path::PathBuf, usize)>,
}

impl Config {
    /// Refuses what cannot run here, each with one line that says what would: a thread count
    /// the model does not offer, a model or backend this kernel lacks, trace mode or live
    /// counters on a model without them. Returns the selector backend the model will wait with.
    pub fn check(&self) -> io::Result<Option<BackendKind>> {
        let invalid = |message: String| io::Error::new(io::ErrorKind::InvalidInput, message);
        let models_that = |offer: fn(Model) -> bool| {
            Model::all()
                .iter()
                .filter(|&&m| offer(m))
                .map(|m| m.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if self.threads == 0 {
            return Err(invalid("--threads must be at least 1".into()));
        }
        if self.threads > 1 && !self.model.runs_several_loops() {
            return Err(invalid(format!(
                "--threads applies to the readiness models ({}), not {}",
                models_that(Model::runs_several_loops),
                self.model.name()
            )));
        }
        let backend = match self.model {
            Model::Readiness(kind) => Some(kind),
            // A bad IOMUX_BACKEND fails now, with its one-line error.
            Model::Callbacks => Some(BackendKind::default_choice().map_err(iomux::Error::from)?),
            Model::Blocking | Model::Nonblocking | Model::Uring => None,
        };
        if let (Model::Callbacks, Some(kind)) = (self.model, backend) {
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
        if let Err(why) = self.model.probe() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "--model {} cannot run here: {why}; models that work here: {}",
                    self.model.name(),
                    models_that(|m| m.probe().is_ok())
                ),
            ));
        }
        if self.trace.is_some() && !self.model.traces() {
            return Err(invalid(format!(
                "--trace is offered by the models that have loop turns to record ({}), not {}",
                models_that(Model::traces),
                self.model.name()
            )));
        }
        if let Some(addr) = self.stats_addr {
            check_loopback(addr).map_err(invalid)?;
            if !self.model.publishes_stats() {
                return Err(invalid(format!(
                    "--stats-addr is not offered by --model {} (its connection threads keep their counters until they end); models that offer it: {}",
                    self.model.name(),
                    models_that(Model::publishes_stats)
                )));
            }
        }
        Ok(backend)
    }
}

/// The ring's knobs, for `--model uring`.
#[derive(Clone, Debug, clap::Args)]
pub struct RingConfig {
    /// io_uring: submission queue entries per loop (the completion queue gets twice as many).
    #[arg(long, default_value_t = 4096, value_name = "N")]
    pub ring_entries: u32,
    /// io_uring: provided receive buffers per loop (a power of two, at most 32768), shared
    /// by the loop's connections.
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub ring_buffers: u16,
    /// io_uring: the size of each provided receive buffer. On Linux 6.12+ the kernel fills
    /// them incrementally, so small receives share a buffer.
    #[arg(long, default_value_t = 65536, value_name = "BYTES")]
    pub ring_buffer_size: u32,
    /// io_uring: send answers of at least this many bytes with zero-copy sends (SEND_ZC); off
    /// by default: on loopback it measured slower at every size tried (see BENCHMARKS.md).
    #[arg(long, value_name = "BYTES")]
    pub ring_zero_copy_above: Option<usize>,
    /// io_uring: ring setup flags; `auto` tries SINGLE_ISSUER|DEFER_TASKRUN, then
    /// COOP_TASKRUN, then none, taking the first the kernel accepts.
    #[arg(long, value_enum, default_value = "auto")]
    pub ring_setup: RingSetup,
    /// io_uring: batch the wake-ups under load: after a turn that reaped a batch (32 or more
    /// completions), the next wait takes up to this many microseconds more to gather as many
    /// again before it settles for what came; after a lighter turn it waits for the first, as
    /// without it (Linux 6.12+, refused on older kernels). Off by default: it has paid in a
    /// saturated closed loop at small messages and not been shown to pay elsewhere
    /// (BENCHMARKS.md §16, §25).
    #[arg(long, value_name = "USEC")]
    pub ring_min_wait: Option<u32>,
}

/// Which io_uring setup flags to ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RingSetup {
    /// The fastest the kernel accepts.
    Auto,
    /// SINGLE_ISSUER|DEFER_TASKRUN only (Linux 6.1).
    DeferTaskrun,
    /// COOP_TASKRUN only (Linux 5.19).
    CoopTaskrun,
    /// No setup flags.
    Plain,
}

/// Checks that `addr` is a loopback address: the counters are not for the network.
pub fn check_loopback(addr: SocketAddr) -> Result<(), String> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "--stats-addr {addr} is not a loopback address (127.0.0.0/8 or ::1): the counters are served to this machine only"
        ))
    }
}
