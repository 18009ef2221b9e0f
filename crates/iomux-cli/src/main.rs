//! `iomux`: the course notes' servers and clients in every I/O model, the load generator, the
//! lab, the results store and the front end, as one command. This binary parses flags into the
//! typed configuration of the library that does the work and prints what it returns; see
//! `iomux --help`, and the README for a walk through the models.
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

mod args;
mod clients;
mod runs;

use args::{
    BenchArgs, BenchCommand, Cli, Command, LoadArgs, ServeArgs, SummaryFormat, TraceCommand,
};

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
    match run(cli.command) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("iomux: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<ExitCode, String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    match command {
        Command::Serve(args) => serve(args),
        Command::Load(args) => load(&args),
        Command::Bench(args) => bench(args).map_err(|e| text(&e)),
        Command::Runs { db, json, command } => runs::main(&db, json, command)
            .map(ExitCode::from)
            .map_err(|e| text(&e)),
        Command::Web(args) => {
            let config = args.config().map_err(|e| text(&e))?;
            iomux_web::run(config).map_err(|e| text(&e))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Trace {
            command: TraceCommand::Summary { file },
        } => {
            print!("{}", iomux_lab::trace_summary::summary(&file)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Client { addr } => {
            clients::interactive(addr).map_err(|e| text(&e))?;
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

/// `iomux serve`: runs the server, then prints its summary.
fn serve(args: ServeArgs) -> Result<ExitCode, String> {
    if args.list_models {
        for model in iomux_metadata::Model::all() {
            println!("{model}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let format = args.summary;
    let done = iomux_servers::run(args.config()).map_err(|e| e.to_string())?;
    match format {
        SummaryFormat::Text => println!("{done}"),
        SummaryFormat::Json => println!(
            "{}",
            serde_json::to_string(&done).map_err(|e| e.to_string())?
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// `iomux load`: runs the load (with a progress line on a terminal), then prints its report.
fn load(args: &LoadArgs) -> Result<ExitCode, String> {
    let config = args.config();
    let progress = Arc::new(AtomicU64::new(0));
    let finished = AtomicBool::new(false);
    let report = std::thread::scope(|scope| {
        if !args.json && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            let (progress, finished) = (&progress, &finished);
            scope.spawn(move || {
                iomux_load::show_progress(progress, config.warmup + config.duration, || {
                    finished.load(Ordering::Relaxed)
                })
            });
        }
        let report = iomux_load::run(&config, &progress);
        finished.store(true, Ordering::Relaxed);
        report
    })
    .map_err(|e| e.to_string())?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&report).map_err(|e| e.to_string())?
        );
    } else {
        println!("{}", iomux_load::describe(&report));
    }
    Ok(if report.mismatches > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `iomux bench`: runs the experiments (or renders a stored run again).
fn bench(args: BenchArgs) -> std::io::Result<ExitCode> {
    match args.command {
        BenchCommand::Show { dir } => iomux_lab::show(&dir)?,
        command => {
            if let Some(out) = iomux_lab::run(&args.lab, &command.experiments())? {
                println!("results in {}", out.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
