//! `iomux`: the course notes' servers and clients in every I/O model.
//!
//! See `iomux --help`, and the README for a walk through the models.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

mod accept;
mod bench;
mod clients;
mod http;
mod load;
mod proto;
mod runs;
mod serve;
mod shutdown;
mod store;
mod table;
mod trace;
mod units;
mod web;

use proto::Answer;
use serve::{Model, SummaryFormat};

/// Every classic server I/O model, built on one selector library, side by side.
#[derive(Parser)]
#[command(name = "iomux", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ProtoName {
    /// Every byte read is written back unchanged, in order.
    Echo,
    /// Each chunk read is answered with its ASCII upper-case followed by `_SB`.
    Upper,
    /// Each chunk read is answered with the fixed text of --reply.
    Reply,
}

#[derive(Subcommand)]
enum Command {
    /// The benchmark lab: measure the models against each other and against tokio, mio and a bare epoll loop.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// The results store: list, show, compare and export the lab's recorded runs.
    Runs {
        #[command(flatten)]
        db: store::DbArg,
        #[command(subcommand)]
        command: runs::RunsCommand,
    },
    /// Drive an echo server with verified load; report throughput and latency percentiles.
    ///
    /// Closed loop by default (--pipeline messages in flight per connection); --rate makes it an
    /// open loop that measures latency from each message's intended send time. Every echoed byte
    /// is checked; the exit status is 1 if any byte differed from what was sent.
    Load {
        /// The echo server's address (e.g. `iomux serve --proto echo`).
        #[arg(long)]
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
        #[arg(long, default_value_t = 10.0, value_name = "SECS")]
        duration: f64,
        /// Seconds of load before measuring starts.
        #[arg(long, default_value_t = 1.0, value_name = "SECS")]
        warmup: f64,
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
        json: bool,
    },
    /// Run a server in one I/O model until SIGINT or SIGTERM, then print a summary.
    ///
    /// Prints `listening on IP:PORT` once ready (port 0 picks a free port). On SIGINT/SIGTERM it
    /// stops accepting, delivers what it owes (for at most --grace seconds), closes and exits 0;
    /// a second signal meanwhile exits at once (status 130).
    Serve {
        /// The I/O model.
        #[arg(long, value_enum, default_value = "epoll")]
        model: Model,
        /// What the server answers.
        #[arg(long, value_enum, default_value = "echo")]
        proto: ProtoName,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9000")]
        addr: SocketAddr,
        /// Event loops on as many threads, sharing the port with SO_REUSEPORT (readiness models).
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// At most this many connections at once; further clients wait in the kernel's backlog.
        #[arg(long)]
        max_conns: Option<usize>,
        /// Close a connection that has neither sent nor received anything for this many seconds.
        #[arg(long, value_name = "SECS")]
        idle_timeout: Option<f64>,
        /// The fixed answer of `--proto reply`.
        #[arg(long, default_value = "byebye")]
        reply: String,
        /// Bytes owed to a client past which the server stops reading from it until it drains.
        #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
        max_buffer: usize,
        /// On shutdown, how long to keep delivering what is owed before closing anyway.
        #[arg(long, default_value_t = 5.0, value_name = "SECS")]
        grace: f64,
        /// How to print the shutdown summary: one line of text, or one JSON object.
        #[arg(long, value_enum, default_value = "text")]
        summary: SummaryFormat,
        /// Print every model this binary offers, one per line, and exit.
        #[arg(long, exclusive = true)]
        list_models: bool,
        #[command(flatten)]
        ring: serve::uring::RingConfig,
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
    },
    /// The front end: stored runs as charts, comparisons and a live view of a running server,
    /// over HTTP served by iomux's own event loop. Open the address it prints in a browser.
    Web(web::WebArgs),
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
        #[arg(long, default_value = "127.0.0.1:9000")]
        addr: SocketAddr,
    },
    /// The notes' threaded client: N clients connect at once, send a message, wait, print the reply.
    ///
    /// Exits 1 if any client failed, printing why.
    Hello {
        /// Server address.
        #[arg(long, default_value = "127.0.0.1:9000")]
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
enum TraceCommand {
    /// Print a trace's loop turns, what woke each wait, and the syscalls made between waits.
    Summary {
        /// The trace file.
        file: PathBuf,
    },
}

fn seconds(flag: &str, value: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| format!("{flag} must be a non-negative number of seconds, not {value}"))
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Serve {
            model,
            proto,
            addr,
            threads,
            max_conns,
            idle_timeout,
            reply,
            max_buffer,
            grace,
            summary,
            list_models,
            ring,
            stats_addr,
            trace,
            trace_records,
        } => {
            if list_models {
                for model in Model::all() {
                    println!("{model}");
                }
                return Ok(ExitCode::SUCCESS);
            }
            let proto = match proto {
                ProtoName::Echo => Answer::Echo,
                ProtoName::Upper => Answer::Upper,
                ProtoName::Reply => Answer::Reply(reply.into_bytes().into()),
            };
            let config = serve::Config {
                model,
                proto,
                addr,
                threads,
                max_conns,
                idle_timeout: idle_timeout
                    .map(|s| seconds("--idle-timeout", s))
                    .transpose()?,
                buffer_limit: max_buffer,
                grace: seconds("--grace", grace)?,
                ring,
                stats_addr,
                trace: trace.map(|path| (path, trace_records)),
            };
            let done = serve::run(config).map_err(|e| e.to_string())?;
            match summary {
                SummaryFormat::Text => println!("{done}"),
                SummaryFormat::Json => println!(
                    "{}",
                    serde_json::to_string(&done).map_err(|e| e.to_string())?
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Load {
            addr,
            conns,
            size,
            pipeline,
            duration,
            warmup,
            rate,
            idle,
            threads,
            json,
        } => {
            let config = load::Config {
                addr,
                conns,
                size,
                pipeline,
                duration: seconds("--duration", duration)?,
                warmup: seconds("--warmup", warmup)?,
                rate,
                idle,
                threads,
                drain: Duration::from_secs(5),
            };
            if config.duration.is_zero() {
                return Err("--duration must be more than 0 seconds".into());
            }
            let progress = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let finished = std::sync::atomic::AtomicBool::new(false);
            let report = std::thread::scope(|scope| {
                if !json && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                    let (progress, finished) = (&progress, &finished);
                    scope.spawn(move || {
                        load::show_progress(progress, config.warmup + config.duration, || {
                            finished.load(std::sync::atomic::Ordering::Relaxed)
                        })
                    });
                }
                let report = load::run(&config, &progress);
                finished.store(true, std::sync::atomic::Ordering::Relaxed);
                report
            })
            .map_err(|e| e.to_string())?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&report).map_err(|e| e.to_string())?
                );
            } else {
                println!("{}", load::describe(&report));
            }
            Ok(if report.mismatches > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Bench(which) => {
            if let Some(out) = bench::main(which).map_err(|e| e.to_string())? {
                println!("results in {}", out.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Runs { db, command } => {
            let code = runs::main(&db, command).map_err(|e| e.to_string())?;
            Ok(ExitCode::from(code))
        }
        Command::Web(args) => {
            web::run(args).map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Trace {
            command: TraceCommand::Summary { file },
        } => {
            print!("{}", trace::summary(&file)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Client { addr } => {
            clients::interactive(addr).map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Hello {
            addr,
            clients,
            message,
            wait_ms,
        } => {
            let failed = clients::hello(addr, clients, &message, Duration::from_millis(wait_ms));
            if failed > 0 {
                eprintln!("iomux: {failed} of {clients} clients failed");
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("iomux: error: {message}");
            ExitCode::FAILURE
        }
    }
}
