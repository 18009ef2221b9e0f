//! `iomux`: the course notes' servers and clients in every I/O model.
//!
//! See `iomux --help`, and the README for a walk through the models.
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

mod bench;
mod clients;
mod load;
mod proto;
mod serve;

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
enum BenchCommand {
    /// select/poll/epoll wait cost vs number of fds: the libevent bench.c chain, per backend.
    Wait {
        /// Numbers of registered descriptors to try (one eventfd each).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "100,1000,5000,10000,15000"
        )]
        fds: Vec<usize>,
        /// Descriptors made ready at the start of each round (libevent's default: 1, a pure chain).
        #[arg(long, default_value_t = 1)]
        active: usize,
        /// Chained writes per round.
        #[arg(long, default_value_t = 100)]
        writes: usize,
        /// Timed rounds per point (the median is reported).
        #[arg(long, default_value_t = 25)]
        rounds: usize,
        /// Backends to measure.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "select,poll,epoll,epoll-et"
        )]
        backends: Vec<String>,
        #[command(flatten)]
        out: OutArg,
    },
    /// Every serve model and the tokio, mio and bare-epoll peers under the same echo load.
    Echo {
        /// Servers: serve models (blocking, nonblocking, select, poll, epoll, epoll-et, callbacks) and peers (tokio, mio, floor).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "blocking,nonblocking,select,poll,epoll,epoll-et,callbacks,tokio,mio,floor"
        )]
        servers: Vec<String>,
        /// Connection counts.
        #[arg(long, value_delimiter = ',', default_value = "1,100,1000")]
        conns: Vec<usize>,
        /// Message sizes in bytes.
        #[arg(long, value_delimiter = ',', default_value = "64,4096")]
        sizes: Vec<usize>,
        /// Pipeline depths.
        #[arg(long, value_delimiter = ',', default_value = "1,16")]
        pipelines: Vec<usize>,
        /// Measured seconds per point.
        #[arg(long, default_value_t = 0.3)]
        duration: f64,
        /// Warm-up seconds per point.
        #[arg(long, default_value_t = 0.1)]
        warmup: f64,
        /// Runs per point (the median is reported).
        #[arg(long, default_value_t = 1)]
        repeat: usize,
        /// Where to count syscalls per message under strace: off, at one probe point, or at every point.
        #[arg(long, value_enum, default_value = "probe")]
        syscalls: bench::echo::SyscallCount,
        /// Also count each server's user-space instructions per message under callgrind (slow).
        #[arg(long)]
        callgrind: bool,
        #[command(flatten)]
        out: OutArg,
    },
    /// Active throughput while thousands of idle connections are open, per readiness model.
    Idle {
        /// Models to measure.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "select,poll,epoll,epoll-et"
        )]
        models: Vec<String>,
        /// Idle connection counts.
        #[arg(long, value_delimiter = ',', default_value = "0,1000,5000,15000")]
        idle: Vec<usize>,
        /// Active connections.
        #[arg(long, default_value_t = 10)]
        active: usize,
        /// Measured seconds per point.
        #[arg(long, default_value_t = 0.5)]
        duration: f64,
        /// Warm-up seconds per point.
        #[arg(long, default_value_t = 0.2)]
        warmup: f64,
        /// Runs per point (the median is reported).
        #[arg(long, default_value_t = 1)]
        repeat: usize,
        #[command(flatten)]
        out: OutArg,
    },
    /// The busy-polling model vs epoll with idle clients and a trickle of messages.
    Busy {
        /// Models to measure.
        #[arg(long, value_delimiter = ',', default_value = "nonblocking,epoll")]
        models: Vec<String>,
        /// Idle clients.
        #[arg(long, default_value_t = 100)]
        idle: usize,
        /// Active clients.
        #[arg(long, default_value_t = 10)]
        active: usize,
        /// Messages per second, in all.
        #[arg(long, default_value_t = 200.0)]
        rate: f64,
        /// Measured seconds.
        #[arg(long, default_value_t = 2.0)]
        duration: f64,
        #[command(flatten)]
        out: OutArg,
    },
    /// All four experiments with their defaults (about two minutes on 2 cores).
    All {
        #[command(flatten)]
        out: OutArg,
    },
}

#[derive(clap::Args)]
struct OutArg {
    /// Folder for results.jsonl, summary.txt and the charts (default: a new one under bench-results/).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// The benchmark lab: measure the models against each other and against tokio, mio and a bare epoll loop.
    #[command(subcommand)]
    Bench(BenchCommand),
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
            let out = bench_main(which).map_err(|e| e.to_string())?;
            println!("results in {}", out.display());
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

fn backends(names: &[String]) -> Result<Vec<iomux::BackendKind>, String> {
    names
        .iter()
        .map(|n| n.parse::<iomux::BackendKind>().map_err(|e| e.to_string()))
        .collect()
}

fn servers(names: &[String]) -> std::io::Result<Vec<bench::echo::ServerSpec>> {
    names
        .iter()
        .map(|name| match name.as_str() {
            "tokio" => bench::echo::ServerSpec::peer("tokio", "peer-tokio"),
            "mio" => bench::echo::ServerSpec::peer("mio", "peer-mio"),
            "floor" => bench::echo::ServerSpec::peer("floor", "peer-epoll"),
            model => {
                model.parse::<Model>().map_err(|_| {
                    std::io::Error::other(format!(
                        "unknown server {model:?}: name a serve model or tokio, mio, floor"
                    ))
                })?;
                bench::echo::ServerSpec::model(model, &[])
            }
        })
        .collect()
}

fn secs(flag: &str, value: f64) -> std::io::Result<Duration> {
    seconds(flag, value).map_err(std::io::Error::other)
}

fn bench_main(which: BenchCommand) -> std::io::Result<std::path::PathBuf> {
    let all_echo = || -> std::io::Result<bench::echo::Params> {
        Ok(bench::echo::Params {
            servers: servers(
                &[
                    "blocking",
                    "nonblocking",
                    "select",
                    "poll",
                    "epoll",
                    "epoll-et",
                    "callbacks",
                    "tokio",
                    "mio",
                    "floor",
                ]
                .map(String::from),
            )?,
            conns: vec![1, 100, 1000],
            sizes: vec![64, 4096],
            pipelines: vec![1, 16],
            duration: Duration::from_millis(300),
            warmup: Duration::from_millis(100),
            repeat: 1,
            syscalls: bench::echo::SyscallCount::Probe,
            callgrind: false,
        })
    };
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match which {
        BenchCommand::Wait {
            fds,
            active,
            writes,
            rounds,
            backends: names,
            out,
        } => {
            let mut lab = bench::Lab::new(out.out, "wait")?;
            let backends = backends(&names).map_err(std::io::Error::other)?;
            bench::wait::run(
                &mut lab,
                &bench::wait::Params {
                    fds,
                    active,
                    writes,
                    rounds,
                    backends,
                },
            )?;
            lab.finish()
        }
        BenchCommand::Echo {
            servers: names,
            conns,
            sizes,
            pipelines,
            duration,
            warmup,
            repeat,
            syscalls,
            callgrind,
            out,
        } => {
            let mut lab = bench::Lab::new(out.out, "echo")?;
            let params = bench::echo::Params {
                servers: servers(&names)?,
                conns,
                sizes,
                pipelines,
                duration: secs("--duration", duration)?,
                warmup: secs("--warmup", warmup)?,
                repeat,
                syscalls,
                callgrind,
            };
            bench::echo::run(&mut lab, &params)?;
            lab.finish()
        }
        BenchCommand::Idle {
            models,
            idle,
            active,
            duration,
            warmup,
            repeat,
            out,
        } => {
            let mut lab = bench::Lab::new(out.out, "idle")?;
            let params = bench::idle::Params {
                models,
                idle,
                active,
                duration: secs("--duration", duration)?,
                warmup: secs("--warmup", warmup)?,
                repeat,
            };
            bench::idle::run(&mut lab, &params)?;
            lab.finish()
        }
        BenchCommand::Busy {
            models,
            idle,
            active,
            rate,
            duration,
            out,
        } => {
            let mut lab = bench::Lab::new(out.out, "busy")?;
            bench::busy::run(
                &mut lab,
                &bench::busy::Params {
                    models,
                    idle,
                    active,
                    rate,
                    duration: secs("--duration", duration)?,
                },
            )?;
            lab.finish()
        }
        BenchCommand::All { out } => {
            let mut lab = bench::Lab::new(out.out, "all")?;
            bench::wait::run(
                &mut lab,
                &bench::wait::Params {
                    fds: vec![100, 1_000, 5_000, 15_000],
                    rounds: 15,
                    ..Default::default()
                },
            )?;
            lab.say("");
            bench::echo::run(&mut lab, &all_echo()?)?;
            lab.say("");
            let idle = bench::idle::Params {
                models: strings(&["select", "poll", "epoll", "epoll-et"]),
                idle: vec![0, 1_000, 5_000, 15_000],
                active: 10,
                duration: Duration::from_millis(500),
                warmup: Duration::from_millis(200),
                repeat: 1,
            };
            bench::idle::run(&mut lab, &idle)?;
            lab.say("");
            let busy = bench::busy::Params {
                models: strings(&["nonblocking", "epoll"]),
                idle: 100,
                active: 10,
                rate: 200.0,
                duration: Duration::from_secs(2),
            };
            bench::busy::run(&mut lab, &busy)?;
            lab.finish()
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
