//! `iomux runs`: the results store from the command line — list, show, remove, compare,
//! history, export and import of the lab's runs, the noise bands calibrated from them, and the notes' claims checked against them. Every subcommand takes `--db` (or
//! `IOMUX_DB`) and `--json` (but `export`, which has `--format`).
use std::io::{self, Write};
use std::path::PathBuf;

use iomux_store::record::{self, RunRecords};
use iomux_store::{RunFilter, Store};

use iomux_lab::units::{parse_since, Utc};
use iomux_lab::{DbArg, Report};

pub mod claims;
pub mod verdicts;

/// `iomux runs ...`
#[derive(clap::Subcommand)]
pub enum RunsCommand {
    /// The stored runs, newest first.
    List {
        /// Only runs that measured this experiment (wait, echo, idle, busy, store).
        #[arg(long)]
        experiment: Option<String>,
        /// Only runs on this testbed: a fingerprint (or its start) or a host name.
        #[arg(long)]
        testbed: Option<String>,
        /// Only runs of this commit (or its start).
        #[arg(long)]
        commit: Option<String>,
        /// Only runs started since: a date (2026-11-28), a date and time (2026-11-28T14:30, UTC) or an age (12h, 7d).
        #[arg(long)]
        since: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// One run's tables and charts, rendered again from the store.
    Show {
        /// A run id, a unique start of one, `latest` or `latest~N`.
        run: String,
        /// Folder for the charts (default: bench-results/run-ID).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Delete a run and its points from the store.
    Rm { run: String },
    /// Each point of run B against run A: the ratio B/A and whether it is a regression, an
    /// improvement or noise (and which rule said so). Regressions first.
    ///
    /// With one run: the interleaved arms of a run measured with `--against` (arm A, the older
    /// binary, against arm B, this one), judged pair by pair.
    Compare {
        /// The baseline run (or, alone, a run with arms).
        a: String,
        /// The run judged against it.
        b: Option<String>,
        /// Show noise rows too.
        #[arg(long)]
        all: bool,
        /// Only this metric.
        #[arg(long)]
        metric: Option<String>,
        /// Exit with status 2 when there is a regression (for scripts and CI).
        #[arg(long)]
        fail_on_regression: bool,
    },
    /// One point's metric over the stored runs of one testbed, with change points marked.
    History {
        /// experiment/subject/name=value,... as `runs compare` prints it (e.g. echo/epoll/conns=100,pipeline=1,size=64).
        point: String,
        /// The metric (default: the experiment's headline, e.g. server_cpu_us_per_msg).
        #[arg(long)]
        metric: Option<String>,
        /// The testbed (fingerprint, its start, or host); default: the one that ran the point last.
        #[arg(long)]
        testbed: Option<String>,
    },
    /// A run in another tool's format: Bencher Metric Format JSON (bmf) or CSV.
    Export {
        run: String,
        #[arg(long, value_enum, default_value_t = ExportFormat::Bmf)]
        format: ExportFormat,
        /// Write to this file instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// The course notes' claims, each checked against the newest stored run that measures it:
    /// its figures, whether it held here, and the command that measures it.
    Claims {
        /// Only runs of this testbed (a fingerprint, its start, or a host name).
        #[arg(long)]
        testbed: Option<String>,
    },
    /// The noise bands `runs compare` judges two runs by on a testbed: learned from runs of
    /// one clean commit (`iomux bench --calibrate K ...`, or any such runs recorded).
    Calibration {
        /// The testbed (a fingerprint, its start, or a host name); default: the newest run's.
        #[arg(long)]
        testbed: Option<String>,
    },
    /// Store runs from their results.jsonl (a run folder or the file): runs measured with
    /// --no-db, or while the store was unreachable. Points already stored are skipped, so
    /// importing twice changes nothing.
    Import {
        /// Run folders or results.jsonl files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

/// Formats of `runs export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// Bencher Metric Format (JSON).
    Bmf,
    /// One row per metric value.
    Csv,
}

/// Runs an `iomux runs` subcommand; returns the exit status.
pub fn main(db: &DbArg, json: bool, command: RunsCommand) -> io::Result<u8> {
    if json && matches!(command, RunsCommand::Export { .. }) {
        return Err(io::Error::other(
            "runs export writes the format --format names; --json does not apply",
        ));
    }
    let mut store = db.open()?;
    let store = store.as_mut();
    match command {
        RunsCommand::List {
            experiment,
            testbed,
            commit,
            since,
            limit,
        } => {
            let since = since
                .map(|s| parse_since(&s, record::now_unix()))
                .transpose()
                .map_err(io::Error::other)?;
            let filter = RunFilter {
                experiment,
                testbed,
                commit,
                since,
                limit: Some(limit),
            };
            list(store, &filter, json)?;
        }
        RunsCommand::Show { run, out } => {
            let id = store.find_run(&run)?;
            let records = store.load_run(&id)?;
            if json {
                print_json(&records)?;
            } else {
                let dir =
                    out.unwrap_or_else(|| PathBuf::from("bench-results").join(format!("run-{id}")));
                let mut report = Report::new(dir.clone());
                iomux_lab::render_run(&mut report, &records)?;
                report.say(&format!("charts in {}", dir.display()));
            }
        }
        RunsCommand::Rm { run } => {
            let id = store.find_run(&run)?;
            store.remove_run(&id)?;
            if json {
                print_json(&serde_json::json!({ "removed": id }))?;
            } else {
                say(&format!("removed run {id} from {}", store.describe()));
            }
        }
        RunsCommand::Compare {
            a,
            b,
            all,
            metric,
            fail_on_regression,
        } => {
            let regressions =
                verdicts::compare(store, &a, b.as_deref(), metric.as_deref(), all, json)?;
            if fail_on_regression && regressions > 0 {
                return Ok(2);
            }
        }
        RunsCommand::History {
            point,
            metric,
            testbed,
        } => verdicts::history(store, &point, metric.as_deref(), testbed.as_deref(), json)?,
        RunsCommand::Export {
            run,
            format,
            output,
        } => {
            let id = store.find_run(&run)?;
            let records = store.load_run(&id)?;
            let text = match format {
                ExportFormat::Bmf => {
                    let mut text =
                        serde_json::to_string_pretty(&iomux_store::export::bmf(&records))
                            .map_err(io::Error::other)?;
                    text.push('\n');
                    text
                }
                ExportFormat::Csv => iomux_store::export::csv(&records),
            };
            match output {
                Some(path) => std::fs::write(&path, text).map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display()))
                })?,
                None => {
                    let _ = io::stdout().write_all(text.as_bytes());
                }
            }
        }
        RunsCommand::Import { paths } => import(store, &paths, json)?,
        RunsCommand::Claims { testbed } => say(&claims::render(store, testbed.as_deref(), json)?),
        RunsCommand::Calibration { testbed } => {
            verdicts::calibration(store, testbed.as_deref(), json)?
        }
    }
    Ok(0)
}

/// Prints a line; a closed stdout (`| head`) is not an error.
fn say(line: &str) {
    let _ = writeln!(io::stdout(), "{line}");
}

fn print_json(value: &impl serde::Serialize) -> io::Result<()> {
    say(&serde_json::to_string_pretty(value).map_err(io::Error::other)?);
    Ok(())
}

/// A testbed fingerprint as tables show it.
fn short_testbed(fingerprint: &str) -> &str {
    &fingerprint[..fingerprint.len().min(8)]
}

fn list(store: &mut dyn Store, filter: &RunFilter, json: bool) -> io::Result<()> {
    let runs = store.runs(filter)?;
    if json {
        return print_json(&runs);
    }
    if runs.is_empty() {
        say(&format!("no runs in {} match", store.describe()));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                Utc::of(r.started).minutes(),
                r.git_commit.clone(),
                format!("{} {}", r.host, short_testbed(&r.testbed)),
                r.experiments.join(","),
                r.points.to_string(),
                match (r.finished, r.quick) {
                    (None, _) => "unfinished".into(),
                    (Some(_), true) => "quick".into(),
                    (Some(_), false) => "done".into(),
                },
            ]
        })
        .collect();
    say(&iomux_lab::aligned_table(
        &[
            "run",
            "started (UTC)",
            "commit",
            "testbed",
            "experiments",
            "points",
            "state",
        ],
        &rows,
        &[false, false, false, false, false, true, false],
    ));
    Ok(())
}

/// What one file's import did.
#[derive(serde::Serialize)]
struct Imported {
    file: String,
    run: String,
    points: usize,
    new_points: usize,
}

fn import(store: &mut dyn Store, paths: &[PathBuf], json: bool) -> io::Result<()> {
    let mut done = Vec::new();
    for path in paths {
        let file = if path.is_dir() {
            path.join("results.jsonl")
        } else {
            path.clone()
        };
        let jsonl = record::read_jsonl(&file)?;
        if jsonl.truncated_tail {
            eprintln!(
                "iomux: warning: {}: the last line was cut short (its writer was killed); the records before it are imported",
                file.display()
            );
        }
        for RunRecords { run, points } in &jsonl.runs {
            store.save_run(run)?;
            let new_points = store.save_points(&run.id, 0, points)?;
            // What runs of one commit teach about the testbed's noise, as if recorded live.
            iomux_store::compare::calibration::learn_after(store, &run.id, &iomux_lab::SUBJECTS)?;
            done.push(Imported {
                file: file.display().to_string(),
                run: run.id.clone(),
                points: points.len(),
                new_points,
            });
        }
    }
    if json {
        return print_json(&done);
    }
    for i in &done {
        say(&format!(
            "{}: run {}: {} points, {} new, {} already stored",
            i.file,
            i.run,
            i.points,
            i.new_points,
            i.points - i.new_points
        ));
    }
    say(&format!("into {}", store.describe()));
    Ok(())
}
