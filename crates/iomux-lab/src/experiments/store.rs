//! `iomux bench store`: what the results store costs the lab, against the store's goals —
//! recording adds under 1% to a `bench echo` run, `runs compare` of two 10,000-point runs
//! answers in under 100 ms, an import runs at 20,000 points/s or more.
//!
//! Each engine (SQLite always, in a scratch file; MySQL/MariaDB with `--mysql URL`, in that
//! database, whose scratch runs are removed after) gets synthetic runs shaped like `bench
//! echo`'s (nine metrics a point) and is timed doing what the lab and `iomux runs` do.
use std::io;
use std::time::Instant;

use iomux_store::compare::{compare_stored, Noise};
use iomux_store::record::{ExperimentParams, Point, Run, Testbed};
use iomux_store::DbUrl;
use serde::{Deserialize, Serialize};

use super::echo;
use crate::chart::bar_chart;
use crate::experiment::Experiment;
use crate::lab::Lab;
use crate::report::Report;
use crate::table::table;
use iomux_store::compare::median;

/// The experiment's name, in records and on the command line.
pub const NAME: &str = "store";
/// The subject the others are compared with across testbeds.
pub const REFERENCE: &str = "sqlite";

/// The goals the issue set, which the table and chart measure against.
const GOAL_IMPORT_POINTS_PER_S: f64 = 20_000.0;
const GOAL_COMPARE_MS: f64 = 100.0;
const GOAL_RECORDING_SHARE: f64 = 0.01;

/// `iomux bench store` parameters; their defaults are the flags' defaults.
#[derive(clap::Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Points in each of the two runs `runs compare` reads.
    #[arg(long, default_value_t = 10_000)]
    pub points: usize,
    /// Points imported in one go (`runs import`).
    #[arg(long, default_value_t = 100_000)]
    pub import_points: usize,
    /// Points recorded one at a time, as a live `bench` run records them.
    #[arg(long, default_value_t = 500)]
    pub live_points: usize,
    /// Repeats per engine (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Also measure this MySQL/MariaDB store (mysql://USER:PASSWORD@HOST:PORT/DATABASE). Not
    /// kept in the run record: it may hold a password.
    #[arg(long, value_name = "URL")]
    #[serde(skip)]
    pub mysql: Option<String>,
}

impl Experiment for Params {
    const NAME: &'static str = NAME;
    const REFERENCE: &'static str = REFERENCE;
    const HEADLINE: &'static str = "compare_ms";

    /// Measures each engine `repeat` times and records a point per repeat and their median.
    fn measure(&self, lab: &mut Lab) -> io::Result<()> {
        let declared = self;
        let p = &if lab.quick {
            declared.quick()
        } else {
            declared.clone()
        };
        // The lab pins this thread to the load generator's CPU; a store reads two runs at once
        // on two threads, so this experiment runs on every CPU, and gives the pinning back after.
        let cpus: Vec<usize> =
            (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect();
        let _ = iomux_sys::process::pin_current_thread(&cpus);
        let outcome = measure_engines(lab, p);
        lab.pinning.pin_load_thread();
        outcome
    }

    fn render(&self, report: &mut Report, points: &[Point]) -> io::Result<()> {
        let p = self;
        let medians: Vec<&Point> = points.iter().filter(|pt| pt.repeat.is_none()).collect();
        // The sizes measured (a --quick run measures smaller ones than it declares).
        let size = |name: &str, declared: usize| {
            medians
                .first()
                .and_then(|pt| pt.at(name))
                .map_or(declared as u64, |v| v)
        };
        report.say(&format!(
            "store: import {} points, record {} one by one, compare two runs of {} points; median of {} repeats",
            size("import_points", p.import_points),
            size("live_points", p.live_points),
            size("points", p.points),
            p.repeat.max(1)
        ));
        let fmt = crate::table::cell;
        let verdict = |met: bool| if met { "met" } else { "NOT met" };
        let rows: Vec<Vec<String>> = medians
            .iter()
            .map(|pt| {
                let import = pt.get("import_points_per_s");
                let record = pt.get("record_point_us");
                let compare = pt.get("compare_ms");
                let share = record.map(echo_recording_share);
                vec![
                    pt.subject.clone(),
                    // The import goal is the embedded store's (a server's rate is its network's).
                    if pt.subject == "sqlite" {
                        format!(
                            "{} ({})",
                            fmt(import, 0),
                            verdict(import.is_some_and(|v| v >= GOAL_IMPORT_POINTS_PER_S))
                        )
                    } else {
                        format!("{} (goal is SQLite's)", fmt(import, 0))
                    },
                    fmt(record, 0),
                    format!(
                        "{} ({})",
                        share.map_or("?".into(), |s| format!("{:.3}%", s * 100.0)),
                        verdict(share.is_some_and(|s| s < GOAL_RECORDING_SHARE))
                    ),
                    format!(
                        "{} ({})",
                        fmt(compare, 1),
                        verdict(compare.is_some_and(|v| v < GOAL_COMPARE_MS))
                    ),
                ]
            })
            .collect();
        report.say(&table(
            &[
                "engine",
                "import points/s (SQLite goal >= 20,000)",
                "record us/point",
                "share of a bench echo run (goal < 1%)",
                "compare ms (goal < 100)",
            ],
            &rows,
        ));
        // One chart: each figure as the share of its goal's budget used (under 100%: goal met).
        let groups = [
            "import time".to_owned(),
            "recording".to_owned(),
            "compare time".to_owned(),
        ];
        let names: Vec<String> = medians.iter().map(|pt| pt.subject.clone()).collect();
        let values: Vec<Vec<f64>> = medians
            .iter()
            .map(|pt| {
                vec![
                    pt.get("import_points_per_s")
                        .map_or(f64::NAN, |v| 100.0 * GOAL_IMPORT_POINTS_PER_S / v),
                    pt.get("record_point_us").map_or(f64::NAN, |v| {
                        100.0 * echo_recording_share(v) / GOAL_RECORDING_SHARE
                    }),
                    pt.get("compare_ms")
                        .map_or(f64::NAN, |v| 100.0 * v / GOAL_COMPARE_MS),
                ]
            })
            .collect();
        report.write_chart(
            "store",
            &bar_chart(
                "The results store against its goals (lower is better; under 100% meets the goal)",
                "% of the goal's budget used",
                &groups,
                &names,
                &values,
            ),
        )
    }
}

impl Params {
    fn quick(&self) -> Params {
        Params {
            points: self.points.min(500),
            import_points: self.import_points.min(2_000),
            live_points: self.live_points.min(50),
            repeat: 1,
            mysql: self.mysql.clone(),
        }
    }
}

/// `n` points shaped like `bench echo`'s: six subjects, distinct parameters, nine metrics.
fn synthetic_points(n: usize, scale: f64) -> Vec<Point> {
    const SUBJECTS: [&str; 6] = ["epoll", "poll", "select", "callbacks", "tokio", "uring"];
    (0..n)
        .map(|i| {
            let x = (i % 97) as f64 + 1.0;
            Point::new("echo", SUBJECTS[i % SUBJECTS.len()])
                .param("conns", 1 + i / SUBJECTS.len())
                .param("size", 64)
                .param("pipeline", 1)
                .metric("msgs_per_s", 1e5 / x / scale)
                .metric("server_cpu_us_per_msg", x * scale)
                .metric("server_user_us_per_msg", x * 0.2 * scale)
                .metric("server_system_us_per_msg", x * 0.8 * scale)
                .metric("load_cpu_us_per_msg", x * 1.1)
                .metric("p50_us", x * 10.0 * scale)
                .metric("p99_us", x * 30.0 * scale)
                .metric("errors", 0.0)
                .metric("mismatches", 0.0)
        })
        .collect()
}

fn scratch_run(id: String, testbed: &Testbed) -> Run {
    Run {
        id,
        started: iomux_store::record::now_unix(),
        finished: None,
        iomux_version: env!("CARGO_PKG_VERSION").into(),
        git_commit: "bench-store".into(),
        command_line: vec!["iomux".into(), "bench".into(), "store".into()],
        testbed: testbed.clone(),
        quick: false,
        experiments: vec![ExperimentParams {
            experiment: "echo".into(),
            params: serde_json::json!({}),
        }],
    }
}

/// One engine, one repeat: the three timings.
struct Timings {
    import_points_per_s: f64,
    record_point_us: f64,
    compare_ms: f64,
}

/// Times one engine; the scratch runs are removed whatever happens (a shared MySQL database
/// must not keep them).
fn time_engine(url: &DbUrl, p: &Params, tag: &str) -> iomux_store::Result<Timings> {
    let id = |what: &str| format!("bench-store-{}-{tag}-{what}", std::process::id());
    let timed = time_scratch_runs(url, p, tag, &id);
    let mut store = iomux_store::open(url)?;
    for what in ["import", "live", "a", "b"] {
        match store.remove_run(&id(what)) {
            Err(e) if e.kind != iomux_store::ErrorKind::NotFound && timed.is_ok() => return Err(e),
            _ => {}
        }
    }
    timed
}

fn time_scratch_runs(
    url: &DbUrl,
    p: &Params,
    tag: &str,
    id: &dyn Fn(&str) -> String,
) -> iomux_store::Result<Timings> {
    let mut store = iomux_store::open(url)?;
    // The runs being compared have a testbed of their own: the import and live runs must not
    // count as their history (the history rule is measured on its own terms, not here).
    let mut testbed = Testbed::detect(None, None);
    testbed.host = format!("{}/bench-store-{tag}", testbed.host);
    let mut compared = testbed.clone();
    compared.host.push_str("-compared");
    // Import: one run's points in one call, as `runs import` does.
    let points = synthetic_points(p.import_points, 1.0);
    let start = Instant::now();
    // A finished run, as the JSONL of a finished run is imported.
    let mut run = scratch_run(id("import"), &testbed);
    run.finished = Some(run.started);
    store.save_run(&run)?;
    store.save_points(&id("import"), 0, &points)?;
    let import_points_per_s = points.len() as f64 / start.elapsed().as_secs_f64();
    // Live: one point at a time, as a bench run records them.
    let points = synthetic_points(p.live_points, 1.0);
    store.save_run(&scratch_run(id("live"), &testbed))?;
    let start = Instant::now();
    for (seq, point) in points.iter().enumerate() {
        store.save_points(&id("live"), seq, std::slice::from_ref(point))?;
    }
    let record_point_us = start.elapsed().as_secs_f64() * 1e6 / points.len().max(1) as f64;
    // Compare: two runs, read back and judged, as `runs compare` does.
    for (which, scale) in [("a", 1.0), ("b", 1.01)] {
        // As a bench run records: the run, its points, then the run finished.
        let mut run = scratch_run(id(which), &compared);
        store.save_run(&run)?;
        store.save_points(&id(which), 0, &synthetic_points(p.points, scale))?;
        run.finished = Some(iomux_store::record::now_unix());
        store.save_run(&run)?;
    }
    // As `iomux runs compare` does it, from a process of its own: the writer's connection is
    // closed (SQLite then folds its log into the file), the clock starts, the store is opened,
    // and the answer is judged with noise rows counted, not listed. The clock stops at the
    // answer, before the runs read are freed.
    drop(store);
    let start = Instant::now();
    let mut store = iomux_store::open(url)?;
    let (run_a, run_b, comparison) = compare_stored(
        store.as_mut(),
        &id("a"),
        &id("b"),
        &iomux_store::compare::Subjects {
            reference: &|experiment| (experiment == echo::NAME).then_some(echo::REFERENCE),
            peers: &|_| &[],
        },
        Noise::Count,
    )?;
    let compare_ms = start.elapsed().as_secs_f64() * 1e3;
    drop((run_a, run_b));
    if comparison.rows.len() + comparison.noise_rows == 0 {
        return Err(iomux_store::Error::new(
            iomux_store::ErrorKind::Other,
            "the scratch runs compared share no points: the comparison measured nothing",
        ));
    }
    Ok(Timings {
        import_points_per_s,
        record_point_us,
        compare_ms,
    })
}

fn measure_engines(lab: &mut Lab, p: &Params) -> io::Result<()> {
    let mut engines: Vec<(&str, Option<DbUrl>)> = vec![("sqlite", None)];
    match &p.mysql {
        Some(url) => engines.push(("mysql", Some(DbUrl::parse(url)?))),
        None => lab.say("(store: MySQL/MariaDB not measured; --mysql URL measures one)"),
    }
    for (subject, url) in engines {
        let point = || {
            Point::new(NAME, subject)
                .param("points", p.points)
                .param("import_points", p.import_points)
                .param("live_points", p.live_points)
        };
        let mut runs = Vec::new();
        for rep in 0..p.repeat.max(1) {
            let scratch = lab.out().join(format!("store-bench-{rep}.db"));
            let url = url
                .clone()
                .unwrap_or_else(|| DbUrl::Sqlite(scratch.clone()));
            let t = time_engine(&url, p, &rep.to_string())?;
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", scratch.display()));
            }
            if p.repeat > 1 {
                lab.point(with_timings(point(), &t).repeat(rep))?;
            }
            runs.push(t);
        }
        let merged = Timings {
            import_points_per_s: median(runs.iter().map(|t| t.import_points_per_s).collect()),
            record_point_us: median(runs.iter().map(|t| t.record_point_us).collect()),
            compare_ms: median(runs.iter().map(|t| t.compare_ms).collect()),
        };
        lab.point(with_timings(point(), &merged))?;
    }
    Ok(())
}

fn with_timings(point: Point, t: &Timings) -> Point {
    point
        .metric("import_points_per_s", t.import_points_per_s)
        .metric("record_point_us", t.record_point_us)
        .metric("compare_ms", t.compare_ms)
}

/// What recording costs a `bench echo` run with its defaults: each measured window
/// (warm-up + duration) records at most two points (a repeat and, after the last repeat, the
/// median), so the share is at most two recordings per window.
fn echo_recording_share(record_point_us: f64) -> f64 {
    let echo = crate::params::defaults::<echo::Params>();
    let window_us = (echo.duration + echo.warmup).as_secs_f64() * 1e6;
    2.0 * record_point_us / window_us
}
