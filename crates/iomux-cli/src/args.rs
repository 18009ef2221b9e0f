//! The command line: every flag of every subcommand, and how each becomes the typed
//! configuration of the library that does the work (`iomux_servers::Config`,
//! `iomux_load::Config`, `iomux_web::Config`, the lab's experiments). Values are parsed at the
//! edge: seconds by one parser (`iomux_lab::units`), addresses by the standard library.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use iomux_lab::experiments::{busy, echo, http, idle, python, soak, store, wait};
use iomux_lab::units::{parse_positive_seconds, parse_seconds};
use iomux_lab::{Chosen, DbArg, LabArgs};
use iomux_metadata::{Model, DEFAULT_ADDR};
use iomux_servers::Answer;

use crate::runs::RunsCommand;

/// Every classic server I/O model, built on one selector library, side by side.
#[derive(Parser)]
#[command(name = "iomux", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// The benchmark lab: measure the models against each other and against tokio, mio and a bare epoll loop.
    Bench(BenchArgs),
    /// The results store: list, show, compare and export the lab's recorded runs.
    Runs {
        #[command(flatten)]
        db: DbArg,
        /// Print JSON instead of text (every subcommand but `export`, which has --format).
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: RunsCommand,
    },
    /// Drive an echo server with verified load; report throughput and latency percentiles.
    ///
    /// Closed loop by default (--pipeline messages in flight per connection); --rate makes it an
    /// open loop that measures latency from each message's intended send time. Every echoed byte
    /// is checked; the exit status is 1 if any byte differed from what was sent.
    Load(LoadArgs),
    /// Run a server in one I/O model until SIGINT or SIGTERM, then print a summary.
    ///
    /// Prints `listening on IP:PORT` once ready (port 0 picks a free port). On SIGINT/SIGTERM it
    /// stops accepting, delivers what it owes (for at most --grace seconds), closes and exits 0;
    /// a second signal meanwhile exits at once (status 130).
    Serve(ServeArgs),
    /// The front end: stored runs as charts, comparisons and a live view of a running server,
    /// over HTTP served by iomux's own event loop. Open the address it prints in a browser.
    Web(WebArgs),
    /// Read a trace written by `iomux serve --trace FILE`.
    Trace {
        #[command(subcommand)]
        command: TraceCommand,
    },
    /// The notes' interactive client: prompt `>>: `, send each non-empty line, print the reply.
    ///
    /// Reads lines from a terminal or a pipe; exits 0 at end of input.
    Client {
        /// Server address.
        #[arg(long, default_value = DEFAULT_ADDR)]
        addr: SocketAddr,
    },
    /// The notes' threaded client: N clients connect at once, send a message, wait, print the reply.
    ///
    /// Exits 1 if any client failed, printing why.
    Hello {
        /// Server address.
        #[arg(long, default_value = DEFAULT_ADDR)]
        addr: SocketAddr,
        /// How many clients.
        #[arg(long, default_value_t = 2)]
        clients: usize,
        /// What each client sends.
        #[arg(long, default_value = "hello")]
        message: String,
        /// How long each client waits after sending before reading the reply.
        #[arg(long, default_value_t = 1000, value_name = "MS")]
        wait_ms: u64,
    },
}

#[derive(Subcommand)]
pub enum TraceCommand {
    /// Print a trace's loop turns, what woke each wait, and the syscalls made between waits.
    Summary {
        /// The trace file.
        file: PathBuf,
    },
}

/// What the server answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProtoName {
    /// Every byte read is written back unchanged, in order.
    Echo,
    /// Each chunk read is answered with its ASCII upper-case followed by `_SB`.
    Upper,
    /// Each chunk read is answered with the fixed text of --reply.
    Reply,
}

/// How the shutdown summary is printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SummaryFormat {
    /// One line for people.
    #[default]
    Text,
    /// One JSON object (for the lab and other programs).
    Json,
}

/// `iomux serve` flags.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The I/O model.
    #[arg(long, value_enum, default_value = "epoll")]
    model: Model,
    /// What the server answers.
    #[arg(long, value_enum, default_value = "echo")]
    proto: ProtoName,
    /// Address to listen on.
    #[arg(long, default_value = DEFAULT_ADDR)]
    addr: SocketAddr,
    /// Event loops on as many threads, sharing the port with SO_REUSEPORT (readiness models).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// At most this many connections at once; further clients wait in the kernel's backlog.
    #[arg(long)]
    max_conns: Option<usize>,
    /// Close a connection that has neither sent nor received anything for this many seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    idle_timeout: Option<Duration>,
    /// The fixed answer of `--proto reply`.
    #[arg(long, default_value = "byebye")]
    reply: String,
    /// Bytes owed to a client past which the server stops reading from it until it drains.
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    max_buffer: usize,
    /// On shutdown, how long to keep delivering what is owed before closing anyway.
    #[arg(long, default_value = "5", value_name = "SECS", value_parser = parse_seconds)]
    grace: Duration,
    /// How to print the shutdown summary: one line of text, or one JSON object.
    #[arg(long, value_enum, default_value = "text")]
    pub summary: SummaryFormat,
    /// Print every model this binary offers, one per line, and exit.
    #[arg(long, exclusive = true)]
    pub list_models: bool,
    #[command(flatten)]
    ring: iomux_servers::config::RingConfig,
    /// Serve the live counters (connections, messages, bytes, waits, CPU) as JSON on
    /// http://ADDR/stats, a loopback address; `iomux web --watch ADDR` draws them.
    #[arg(long, value_name = "ADDR")]
    stats_addr: Option<SocketAddr>,
    /// Trace mode: record every loop turn (the wait, why it woke, the syscalls that
    /// followed) and write them on shutdown to FILE as a Chrome trace, for Perfetto or
    /// chrome://tracing, or `iomux trace summary FILE`. Readiness, callbacks and uring models
    /// (for uring: each io_uring_enter, and the completions it reaped).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// With --trace: the records (waits and syscalls) each loop keeps; the oldest turns
    /// are dropped first.
    #[arg(long, default_value_t = 200_000, value_name = "N", requires = "trace")]
    trace_records: usize,
}

impl ServeArgs {
    /// The server's configuration.
    pub fn config(self) -> iomux_servers::Config {
        iomux_servers::Config {
            model: self.model,
            proto: match self.proto {
                ProtoName::Echo => Answer::Echo,
                ProtoName::Upper => Answer::Upper,
                ProtoName::Reply => Answer::Reply(self.reply.into_bytes().into()),
            },
            addr: self.addr,
            threads: self.threads,
            max_conns: self.max_conns,
            idle_timeout: self.idle_timeout,
            buffer_limit: self.max_buffer,
            grace: self.grace,
            ring: self.ring,
            stats_addr: self.stats_addr,
            trace: self.trace.map(|path| (path, self.trace_records)),
        }
    }
}

/// `iomux load` flags.
#[derive(clap::Args)]
pub struct LoadArgs {
    /// The echo server's address (e.g. `iomux serve --proto echo`).
    #[arg(long, default_value = DEFAULT_ADDR)]
    addr: SocketAddr,
    /// Active connections.
    #[arg(long, default_value_t = 100)]
    conns: usize,
    /// Message size in bytes.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Messages in flight per connection (closed loop).
    #[arg(long, default_value_t = 1)]
    pipeline: usize,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value = "10", value_name = "SECS", value_parser = parse_positive_seconds)]
    duration: Duration,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value = "1", value_name = "SECS", value_parser = parse_seconds)]
    warmup: Duration,
    /// Open loop: total messages per second across all connections, on a fixed schedule.
    #[arg(long, value_name = "MSGS_PER_S")]
    rate: Option<f64>,
    /// Extra connections that are opened and never send (to load the server's fd set).
    #[arg(long, default_value_t = 0)]
    idle: usize,
    /// Event loops (threads) to drive the active connections.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Print one JSON summary line on stdout instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

impl LoadArgs {
    /// The load generator's configuration.
    pub fn config(&self) -> iomux_load::Config {
        iomux_load::Config {
            addr: self.addr,
            conns: self.conns,
            size: self.size,
            pipeline: self.pipeline,
            duration: self.duration,
            warmup: self.warmup,
            rate: self.rate,
            idle: self.idle,
            threads: self.threads,
            drain: Duration::from_secs(5),
        }
    }
}

/// `iomux web` flags.
#[derive(clap::Args, Debug)]
pub struct WebArgs {
    /// Address to serve on. Loopback by default: the front end has no login, and anyone who
    /// reaches it can delete nothing but can read every stored run.
    #[arg(long, default_value = "127.0.0.1:8700")]
    addr: SocketAddr,
    #[command(flatten)]
    db: DbArg,
    /// A running `iomux serve --stats-addr ADDR` to list on the live page (repeatable; any
    /// loopback address can also be typed there).
    #[arg(long, value_name = "ADDR")]
    watch: Vec<SocketAddr>,
    /// A trace file (`iomux serve --trace FILE`) to draw as a timeline on the traces page, or
    /// a folder whose trace*.json files are listed (a `bench echo --trace-point` run's folder,
    /// looked at again on each visit). Repeatable.
    #[arg(long, value_name = "PATH")]
    trace: Vec<PathBuf>,
    /// Serve the pages' files from this folder instead of the copies built in (to work on
    /// them without rebuilding).
    #[arg(long, value_name = "DIR")]
    assets: Option<PathBuf>,
    /// A request must arrive whole within this many seconds of its first byte (else 408 and
    /// the connection is closed: a slowloris client holds nothing for long).
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_positive_seconds)]
    head_timeout: Duration,
    /// A keep-alive connection with no request in progress is closed after this many seconds.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_positive_seconds)]
    idle_timeout: Duration,
}

impl WebArgs {
    /// The front end's configuration.
    pub fn config(self) -> iomux_store::Result<iomux_web::Config> {
        Ok(iomux_web::Config {
            addr: self.addr,
            db: self.db.url()?,
            watch: self.watch,
            trace: self.trace,
            assets: self.assets,
            limits: iomux_http::Limits {
                head_timeout: self.head_timeout,
                idle_timeout: self.idle_timeout,
                ..iomux_http::Limits::default()
            },
        })
    }
}

/// `iomux bench ...`: the lab's options (global: they may come before or after the
/// experiment) and which experiment.
#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(flatten, next_help_heading = "Lab options (any experiment)")]
    pub lab: LabArgs,
    #[command(subcommand)]
    pub command: BenchCommand,
}

/// The experiments `iomux bench` runs, and `bench show`.
#[derive(Subcommand)]
pub enum BenchCommand {
    /// select/poll/epoll wait cost vs number of fds: the libevent bench.c chain, per backend.
    Wait(wait::Params),
    /// Every serve model and the tokio, mio and bare-epoll peers under the same echo load.
    Echo(echo::Params),
    /// Active throughput while thousands of idle connections are open, per readiness model.
    Idle(idle::Params),
    /// The busy-polling model vs epoll with idle clients and a trickle of messages.
    Busy(busy::Params),
    /// What the results store costs: import rate, recording per point, compare time, per engine.
    Store(store::Params),
    /// iomux web vs nginx (one worker) under wrk: requests/s and server CPU per request.
    Http(http::Params),
    /// The notes' selectors server and an asyncio server in Python, on the standard library vs
    /// iomux's selectors (and uvloop): server CPU per message.
    Python(python::Params),
    /// Each readiness model and the completion model under churn (up to 15,000 connections
    /// opened and closed all the time): RSS, descriptors and queued bytes must end where they
    /// started, no byte lost.
    Soak(soak::Params),
    /// wait, echo, idle and busy, each with exactly its subcommand's defaults (about two
    /// minutes on 2 cores).
    All,
    /// Render a stored run's tables and charts again from its results.jsonl.
    Show {
        /// The run's folder (the one holding results.jsonl).
        dir: PathBuf,
    },
}

impl BenchCommand {
    /// The experiments to run (`bench show` runs none: it renders a stored run).
    pub fn experiments(self) -> Vec<Box<dyn Chosen>> {
        match self {
            BenchCommand::Wait(params) => vec![Box::new(params)],
            BenchCommand::Echo(params) => vec![Box::new(params)],
            BenchCommand::Idle(params) => vec![Box::new(params)],
            BenchCommand::Busy(params) => vec![Box::new(params)],
            BenchCommand::Store(params) => vec![Box::new(params)],
            BenchCommand::Http(params) => vec![Box::new(params)],
            BenchCommand::Python(params) => vec![Box::new(params)],
            BenchCommand::Soak(params) => vec![Box::new(params)],
            BenchCommand::All => iomux_lab::all_defaults(),
            BenchCommand::Show { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("iomux").chain(args.iter().copied()))
    }

    /// Issue 22: `iomux serve & iomux load` works: both default to the same address.
    #[test]
    fn serve_load_and_the_clients_default_to_one_address() {
        let default: SocketAddr = DEFAULT_ADDR.parse().unwrap();
        let Command::Load(load) = parse(&["load"]).unwrap().command else {
            panic!("not load")
        };
        assert_eq!(load.config().addr, default);
        let Command::Serve(serve) = parse(&["serve"]).unwrap().command else {
            panic!("not serve")
        };
        assert_eq!(serve.config().addr, default);
        let Command::Hello { addr, .. } = parse(&["hello"]).unwrap().command else {
            panic!("not hello")
        };
        assert_eq!(addr, default);
    }

    /// The lab's options are said once and taken before or after the experiment; `--json` is
    /// said once for every `runs` subcommand.
    #[test]
    fn lab_options_and_json_are_global() {
        for args in [
            &["bench", "--quick", "--no-db", "echo", "--conns", "1"][..],
            &["bench", "echo", "--conns", "1", "--quick", "--no-db"][..],
        ] {
            let Command::Bench(bench) = parse(args).unwrap().command else {
                panic!("not bench")
            };
            assert!(bench.lab.quick && bench.lab.no_db, "{args:?}");
            let experiments = bench.command.experiments();
            assert_eq!(experiments.len(), 1);
            assert_eq!(experiments[0].name(), "echo");
            assert_eq!(
                experiments[0].params_json()["conns"],
                serde_json::json!([1])
            );
        }
        for args in [
            &["runs", "--json", "list"][..],
            &["runs", "list", "--json"][..],
        ] {
            let Command::Runs { json, .. } = parse(args).unwrap().command else {
                panic!("not runs")
            };
            assert!(json, "{args:?}");
        }
        let Command::Bench(all) = parse(&["bench", "all"]).unwrap().command else {
            panic!("not bench")
        };
        let names: Vec<_> = all.command.experiments().iter().map(|e| e.name()).collect();
        assert_eq!(names, ["wait", "echo", "idle", "busy"]);
    }

    /// Every flag in seconds goes through one parser: a bad value is refused by the parser,
    /// with the flag named, and the timeouts and the measured window must be more than zero.
    #[test]
    fn seconds_are_parsed_at_the_edge_by_one_rule() {
        let Command::Serve(serve) = parse(&["serve", "--grace", "0.25", "--idle-timeout", "2"])
            .unwrap()
            .command
        else {
            panic!("not serve")
        };
        let config = serve.config();
        assert_eq!(config.grace, Duration::from_millis(250));
        assert_eq!(config.idle_timeout, Some(Duration::from_secs(2)));
        for (args, flag) in [
            (&["serve", "--grace=-1"][..], "--grace"),
            (&["serve", "--idle-timeout", "soon"][..], "--idle-timeout"),
            (&["load", "--duration", "0"][..], "--duration"),
            (&["web", "--head-timeout", "0"][..], "--head-timeout"),
            (&["bench", "echo", "--duration", "x"][..], "--duration"),
        ] {
            let Err(e) = parse(args) else {
                panic!("{args:?} was taken")
            };
            assert!(e.to_string().contains(flag), "{args:?}: {e}");
        }
    }
}
