//! `iomux bench echo`: every `iomux serve` model and the reference peers under the same load.
//!
//! Peers: an echo server on tokio's current-thread runtime, one on mio, and the floor, a bare
//! level-triggered epoll loop (the `peer-*` binaries of `crates/iomux-cli`). For each point of the matrix (connections
//! x message size x pipeline depth) it reports messages/s, the server's CPU time per message
//! and its ratio to tokio's and to the floor's, and p50/p99 latency. With strace present it
//! also counts the server's syscalls per message, at one point or (`--syscalls every`) at each,
//! in passes of their own (strace slows the server, so they are kept out of the timings).
use std::io;
use std::path::Path;
use std::time::Duration;

use iomux_load as load;
use serde::{Deserialize, Serialize};

use super::fixed_rate;
use crate::arms::ArmsArgs;
use crate::chart::bar_chart;
use crate::experiment::Experiment;
use crate::lab::Lab;
use crate::params::quick;
use crate::process::ServerSpec;
use crate::report::Report;
use crate::runner::{measure_server, merge, Measured};
use crate::spread;
use crate::subjects::{Peer, Subject};
use crate::table::table;
use crate::tools::{count_at, tool_available, Counter};
use crate::units::parse_seconds;
use iomux_store::compare::geomean;
use iomux_store::record::Point;

/// The experiment's name, in records and on the command line.
pub const NAME: &str = "echo";
/// The subject the others are compared with across testbeds: tokio, the anchor peer.
pub const REFERENCE: &str = "tokio";

/// `iomux bench echo` parameters; their defaults are the flags' defaults.
#[derive(clap::Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Servers: serve models (`iomux serve --list-models`) and the peers tokio, mio, floor and monoio
    /// (default: every model, then every peer).
    #[arg(long, value_delimiter = ',')]
    #[serde(with = "crate::units::names")]
    pub servers: Vec<Subject>,
    /// Connection counts.
    #[arg(long, value_delimiter = ',', default_value = "1,100,1000")]
    pub conns: Vec<usize>,
    /// Message sizes in bytes.
    #[arg(long, value_delimiter = ',', default_value = "64,4096,16384")]
    pub sizes: Vec<usize>,
    /// Pipeline depths.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    pub pipelines: Vec<usize>,
    /// Measured seconds per point.
    #[arg(long, value_parser = parse_seconds, default_value = "0.3", value_name = "SECS")]
    #[serde(with = "crate::units::secs")]
    pub duration: Duration,
    /// Warm-up seconds per point.
    #[arg(long, value_parser = parse_seconds, default_value = "0.1", value_name = "SECS")]
    #[serde(with = "crate::units::secs")]
    pub warmup: Duration,
    /// Runs per point (the median is reported; every run is recorded).
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Fixed-rate points: after the closed loop at each point, every server again under an
    /// open loop at these percentages of the slowest server's closed-loop rate there (the same
    /// offered load for all, so CPU per message does not depend on the load's pacing), with
    /// messages per wake-up beside it. E.g. 25,50,75. With --against, in both arms too.
    #[arg(long, value_delimiter = ',', value_name = "PERCENTS", value_parser = clap::value_parser!(u32).range(1..=100))]
    #[serde(default)]
    pub rates: Vec<u32>,
    /// Where to count syscalls per message under strace: off, at one probe point, or at every point.
    #[arg(long, value_enum, default_value = "probe")]
    pub syscalls: SyscallCount,
    /// Also count each server's user-space instructions per message under callgrind (slow).
    #[arg(long)]
    pub callgrind: bool,
    /// Also profile each server at every point of the matrix (`perf record -e cpu-clock -p`
    /// on its threads, 1 s or --duration): its top symbols, kernel and user, side by side, and
    /// the whole reports in the output folder.
    #[arg(long)]
    #[serde(default)]
    pub profile: bool,
    /// Also record a trace of the probe point (`iomux serve --trace`) for each iomux model that
    /// waits on a selector: trace-SERVER-POINT.json in the output folder, added up in a table.
    #[arg(long)]
    #[serde(default)]
    pub trace_point: bool,
    /// The interleaved mode (`--against`, `--pairs`).
    #[command(flatten)]
    #[serde(flatten)]
    pub arms: ArmsArgs,
}

impl Experiment for Params {
    const NAME: &'static str = NAME;
    const REFERENCE: &'static str = REFERENCE;
    const PEERS: &'static [&'static str] = &Peer::NAMES;

    /// Measures every server at every point, in a rotating order, and records the points.
    fn measure(&self, lab: &mut Lab) -> io::Result<()> {
        let declared = self;
        let p = &if lab.quick {
            declared.quick()
        } else {
            declared.clone()
        };
        let budget = crate::params::fd_budget()?;
        let points = p.matrix();
        if let Some(against) = &p.arms.against {
            return measure_arms(lab, p, against, &points);
        }
        if let Some(&(c, _, _)) = points.iter().find(|(c, _, _)| *c as u64 + 64 > budget) {
            return Err(io::Error::other(format!("{c} connections need more descriptors than RLIMIT_NOFILE ({budget}) allows; lower --conns")));
        }
        let specs = p
            .subjects()
            .into_iter()
            .map(ServerSpec::new)
            .collect::<io::Result<Vec<_>>>()?;
        // All servers run at once (idle ones cost nothing), so each point can visit them in turn,
        // a different order every repeat: drift on a noisy machine then spreads over all servers
        // instead of landing on whichever happened to run during it.
        let servers = specs
            .iter()
            .map(|spec| spec.start(&lab.pinning))
            .collect::<io::Result<Vec<_>>>()?;
        let per_point = if p.repeat > 1 { p.repeat + 1 } else { 1 };
        lab.progress
            .expect((points.len() * specs.len() * per_point * (1 + p.rates.len())) as u64);
        let record = |name: &str, (conns, size, pipeline): (usize, usize, usize)| {
            Point::new(NAME, name)
                .param("conns", conns)
                .param("size", size)
                .param("pipeline", pipeline)
        };
        for &point in &points {
            let (conns, size, pipeline) = point;
            let mut runs: Vec<Vec<Measured>> = vec![Vec::new(); servers.len()];
            let mut window = p.duration;
            let mut rep = 0;
            while rep < p.repeat.max(1) {
                for k in 0..servers.len() {
                    let si = (k + rep) % servers.len();
                    lab.progress.measuring(format!(
                        "{} at {conns} conns, {size} B, pipeline {pipeline}",
                        specs[si].name
                    ));
                    let config = load::Config::closed_loop(
                        servers[si].addr,
                        conns,
                        size,
                        pipeline,
                        window,
                        p.warmup,
                    );
                    runs[si].push(measure_server(&servers[si], &config, 1)?);
                }
                // The first round tells whether the window held a steady state; if not, the
                // point starts over with every server on the window that does.
                if rep == 0 && !lab.quick {
                    let slowest = runs.iter().map(|r| r[0].p50_us).fold(f64::NAN, f64::max);
                    if let Some(longer) = crate::window::lengthened(slowest, window) {
                        window = longer;
                        runs.iter_mut().for_each(Vec::clear);
                        continue;
                    }
                }
                rep += 1;
            }
            let window_s = window.as_secs_f64();
            let mut closed_loop = Vec::with_capacity(specs.len());
            for (si, spec) in specs.iter().enumerate() {
                if p.repeat > 1 {
                    for (rep, m) in runs[si].iter().enumerate() {
                        let at = record(&spec.name, point).repeat(rep);
                        lab.point(m.clone().into_point(at).metric("window_s", window_s))?;
                    }
                }
                let medians = merge(&runs[si]);
                closed_loop.push(medians.msgs_per_s);
                let at = record(&spec.name, point);
                lab.point(medians.into_point(at).metric("window_s", window_s))?;
            }
            if !p.rates.is_empty() {
                let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
                let plan = fixed_rate::Plan {
                    servers: &servers,
                    names: &names,
                    point,
                    closed_loop: &closed_loop,
                    percents: &p.rates,
                    repeat: p.repeat,
                    duration: p.duration,
                    warmup: p.warmup,
                };
                fixed_rate::measure(lab, &plan, &|name| record(name, point))?;
            }
        }
        for server in servers {
            drop(server.stop());
        }
        if p.syscalls == SyscallCount::Every && tool_available(lab, Counter::Syscalls) {
            for &point in &points {
                count_at(lab, NAME, &specs, Counter::Syscalls, point, p.duration)?;
            }
        }
        if p.syscalls == SyscallCount::Probe && tool_available(lab, Counter::Syscalls) {
            count_at(
                lab,
                NAME,
                &specs,
                Counter::Syscalls,
                probe_point(p),
                p.duration,
            )?;
        }
        if p.callgrind && tool_available(lab, Counter::Instructions) {
            count_at(
                lab,
                NAME,
                &specs,
                Counter::Instructions,
                probe_point(p),
                p.duration,
            )?;
        }
        if p.profile && crate::profile::available(lab)? {
            for &point in &points {
                let window = p.duration.max(Duration::from_secs(1));
                crate::profile::profile_at(lab, NAME, &specs, point, window)?;
            }
        }
        if p.trace_point {
            let traceable: Vec<ServerSpec> = p
                .subjects()
                .into_iter()
                .zip(&specs)
                .filter(|(subject, _)| matches!(subject, Subject::Model(m) if m.traces()))
                .map(|(_, spec)| spec.clone())
                .collect();
            crate::trace_point::measure(lab, NAME, &traceable, probe_point(p), p.duration)?;
        }
        Ok(())
    }

    /// The tables (one per point, the ratios to tokio over all points, the counting passes) and
    /// the chart, from the recorded points; in the interleaved mode, the arms' verdicts.
    fn render(&self, report: &mut Report, points: &[Point]) -> io::Result<()> {
        if self.arms.against.is_some() {
            report.say(&format!(
                "echo, interleaved: A = {}, B = this build; {} pairs per point, {:.1} s measured after {:.1} s warm-up",
                self.arms.against.as_deref().unwrap_or(Path::new("?")).display(),
                self.arms.pairs,
                self.duration.as_secs_f64(),
                self.warmup.as_secs_f64()
            ));
            let subjects = iomux_store::compare::Subjects {
                reference: &|_| Some(REFERENCE),
                peers: &|_| &Peer::NAMES,
            };
            crate::arms::render(report, points, &subjects);
            say_short_windows_of_arms(report, points, self.duration);
            say_uneven_service_of_arms(report, points);
            return Ok(());
        }
        let declared = self;
        let subjects = declared.subjects();
        let names: Vec<&str> = subjects.iter().map(|s| s.name()).collect();
        // The matrix as measured (a --quick run caps the connections).
        let mut matrix: Vec<(usize, usize, usize)> = Vec::new();
        for pt in points.iter().filter(|pt| !pt.params.contains_key("pass")) {
            let key = (
                pt.at("conns").unwrap_or(0) as usize,
                pt.at("size").unwrap_or(0) as usize,
                pt.at("pipeline").unwrap_or(0) as usize,
            );
            if !matrix.contains(&key) {
                matrix.push(key);
            }
        }
        report.say(&format!(
            "echo: {} servers; conns {:?} x size {:?} x pipeline {:?}; {:.1} s measured after {:.1} s warm-up, median of {}",
            names.len(),
            declared.conns,
            declared.sizes,
            declared.pipelines,
            declared.duration.as_secs_f64(),
            declared.warmup.as_secs_f64(),
            declared.repeat
        ));
        // A server's point: the median of the repeats (`repeat` None), or one repeat.
        let at_repeat = |name: &str,
                         (c, s, d): (usize, usize, usize),
                         pass: Option<&str>,
                         repeat: Option<usize>| {
            points.iter().find(|pt| {
                pt.subject == name
                    && pt.repeat == repeat
                    && pt.at("conns") == Some(c as u64)
                    && pt.at("size") == Some(s as u64)
                    && pt.at("pipeline") == Some(d as u64)
                    && pt.params.get("pass").and_then(|v| v.as_str()) == pass
                    && !pt.params.contains_key(fixed_rate::RATE_PARAM)
            })
        };
        let at = |name: &str, point, pass: Option<&str>| at_repeat(name, point, pass, None);
        let cpu = |name: &str, point| {
            at(name, point, None).and_then(|pt| pt.get("server_cpu_us_per_msg"))
        };
        let repeats: std::collections::BTreeSet<usize> =
            points.iter().filter_map(|pt| pt.repeat).collect();
        let tokio = Peer::Tokio.name();
        let every = declared.syscalls == SyscallCount::Every;
        let fmt = crate::table::cell;
        let mut short_windows = 0;
        // Per server, the points where it served its connections unevenly.
        let mut uneven: std::collections::BTreeMap<&str, usize> = Default::default();
        // Per server, the points its repeats left unsettled against tokio.
        let mut unsettled: std::collections::BTreeMap<&str, usize> = Default::default();
        for &point in &matrix {
            let (conns, size, pipeline) = point;
            let rows: Vec<Vec<String>> = names
                .iter()
                .filter_map(|&name| {
                    let pt = at(name, point, None)?;
                    let mine = pt.get("server_cpu_us_per_msg");
                    let ratio = |to: &str| match (mine, cpu(to, point)) {
                        (Some(a), Some(b)) if names.contains(&to) => format!("{:.2}", a / b),
                        _ => "-".into(),
                    };
                    let (errors, mismatches) = (
                        pt.get("errors").unwrap_or(0.0),
                        pt.get("mismatches").unwrap_or(0.0),
                    );
                    let mut row = vec![
                        name.to_owned(),
                        fmt(pt.get("msgs_per_s"), 0),
                        fmt(mine, 2),
                        format!(
                            "{}/{}",
                            fmt(pt.get("server_user_us_per_msg"), 2),
                            fmt(pt.get("server_system_us_per_msg"), 2)
                        ),
                        ratio(Peer::Tokio.name()),
                        ratio(Peer::Floor.name()),
                        fmt(pt.get("p50_us"), 0),
                        fmt(pt.get("p99_us"), 0),
                        fmt(pt.get("load_cpu_us_per_msg"), 2),
                        if errors + mismatches > 0.0 {
                            format!("{errors}/{mismatches}")
                        } else {
                            "0".into()
                        },
                    ];
                    if every {
                        row.push(fmt(
                            at(name, point, Some(Counter::Syscalls.pass()))
                                .and_then(|pt| pt.get("per_msg")),
                            2,
                        ));
                    }
                    Some(row)
                })
                .collect();
            report.say(&format!("\n{conns} conns, {size} B, pipeline {pipeline}"));
            let mut headers = vec![
                "server",
                "msg/s",
                "CPU us/msg",
                "usr/sys us",
                "x tokio",
                "x floor",
                "p50 us",
                "p99 us",
                "load us/msg",
                "err/mism",
            ];
            if every {
                headers.push("syscalls/msg");
            }
            report.say(&table(&headers, &rows));
            // A --quick run's windows are short by design (it says so at its top).
            let slowest = names
                .iter()
                .filter_map(|&name| at(name, point, None)?.get("p50_us"))
                .fold(f64::NAN, f64::max);
            let window = point_window(
                names
                    .iter()
                    .filter_map(|&name| at(name, point, None)?.get("window_s")),
                declared.duration,
            );
            if let Some(line) = crate::window::lengthened_note(declared.duration, window) {
                report.say(&line);
            }
            for &name in &names {
                let warned =
                    at(name, point, None).and_then(|pt| crate::evenness::point_warning(name, pt));
                if let Some(line) = warned {
                    *uneven.entry(name).or_default() += 1;
                    report.say(&line);
                }
            }
            if names.contains(&tokio) {
                let spreads = spread::against(tokio, &names, &repeats, |who, r| {
                    at_repeat(who, point, None, Some(r))?.get("server_cpu_us_per_msg")
                });
                for (name, spread) in &spreads {
                    if spread.unsettled() {
                        *unsettled.entry(name).or_default() += 1;
                    }
                }
                if let Some(line) = spread::point_line(tokio, &spreads) {
                    report.say(&line);
                }
            }
            if let Some(line) = crate::window::warning(slowest, window)
                .filter(|_| declared.duration != quick::DURATION)
            {
                short_windows += 1;
                report.say(&line);
            }
        }
        if names.contains(&Peer::Tokio.name()) && !matrix.is_empty() {
            let rows: Vec<Vec<String>> = names
                .iter()
                .map(|&name| {
                    let ratios: Vec<f64> = matrix
                        .iter()
                        .filter_map(|&pt| Some(cpu(name, pt)? / cpu(Peer::Tokio.name(), pt)?))
                        .collect();
                    let geomean = geomean(&ratios).unwrap_or(f64::NAN);
                    let worst = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    vec![
                        name.to_owned(),
                        format!("{geomean:.2}"),
                        format!("{worst:.2}"),
                        uneven.get(name).copied().unwrap_or(0).to_string(),
                        unsettled.get(name).copied().unwrap_or(0).to_string(),
                    ]
                })
                .collect();
            report.say("\nserver CPU per message relative to tokio, over all points");
            report.say(&table(
                &["server", "geomean", "worst", "uneven at", "unsettled at"],
                &rows,
            ));
            if unsettled.values().any(|&n| n > 0) {
                report.say(spread::UNSETTLED_NOTE);
            }
            if uneven.values().any(|&n| n > 0) {
                report.say("(uneven at: points where the server served its connections unevenly, said under their tables; a closed loop hands the favoured connections more work in larger batches, which lowers CPU per message: those ratios are not like for like)");
            }
            if short_windows > 0 {
                report.say(&format!(
                    "({short_windows} of {} points had a window too short for a steady state, said under their tables; their ratios are in these figures)",
                    matrix.len()
                ));
            }
        }
        let groups: Vec<String> = matrix
            .iter()
            .map(|(c, s, d)| format!("{c}c {s}B p{d}"))
            .collect();
        let values: Vec<Vec<f64>> = names
            .iter()
            .map(|&name| {
                matrix
                    .iter()
                    .map(|&pt| cpu(name, pt).unwrap_or(f64::NAN))
                    .collect()
            })
            .collect();
        report.write_chart(
            "echo",
            &bar_chart(
                "Server CPU time per message (lower is better)",
                "microseconds of server CPU per message",
                &groups,
                &names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
                &values,
            ),
        )?;
        for counter in [Counter::Syscalls, Counter::Instructions] {
            if counter == Counter::Syscalls && every {
                continue; // a column of each table already
            }
            let passes: Vec<&Point> = points
                .iter()
                .filter(|pt| pt.params.get("pass").and_then(|v| v.as_str()) == Some(counter.pass()))
                .collect();
            let Some(first) = passes.first() else {
                continue;
            };
            let per_msg = |name: &str| {
                passes
                    .iter()
                    .find(|pt| pt.subject == name)
                    .and_then(|pt| pt.get("per_msg"))
            };
            let tokio = per_msg(Peer::Tokio.name());
            let rows: Vec<Vec<String>> = passes
                .iter()
                .map(|pt| {
                    let each = pt.get("per_msg");
                    if let Some(why) = pt.params.get("skipped").and_then(|v| v.as_str()) {
                        return vec![
                            pt.subject.clone(),
                            format!("skipped: {why}"),
                            "-".into(),
                            "-".into(),
                            "-".into(),
                        ];
                    }
                    vec![
                        pt.subject.clone(),
                        fmt(pt.get("total"), 0),
                        fmt(pt.get("messages"), 0),
                        fmt(each, 2),
                        match (each, tokio) {
                            (Some(e), Some(t)) => format!("{:.2}", e / t),
                            _ => "-".into(),
                        },
                    ]
                })
                .collect();
            report.say(&format!(
                "\n{} per message ({} conns, {} B, pipeline {}; each tool report is in the output folder)",
                counter.noun(),
                first.at("conns").unwrap_or(0),
                first.at("size").unwrap_or(0),
                first.at("pipeline").unwrap_or(0),
            ));
            report.say(&table(
                &["server", "total", "messages", "per message", "x tokio"],
                &rows,
            ));
        }
        fixed_rate::render(report, points, &names, Peer::Tokio.name());
        crate::trace_point::render(report, points);
        Ok(())
    }
}

impl Params {
    fn subjects(&self) -> Vec<Subject> {
        if self.servers.is_empty() {
            Subject::all().to_vec()
        } else {
            self.servers.clone()
        }
    }

    /// The matrix of (connections, size, pipeline), in table order.
    fn matrix(&self) -> Vec<(usize, usize, usize)> {
        crate::runner::matrix(&self.conns, &self.sizes, &self.pipelines)
    }

    /// What a `--quick` run measures instead: the same points with few connections, briefly,
    /// without the counting passes.
    fn quick(&self) -> Params {
        Params {
            conns: quick::conns(&self.conns),
            duration: quick::DURATION,
            warmup: quick::WARMUP,
            repeat: 1,
            syscalls: SyscallCount::Off,
            callgrind: false,
            profile: false,
            trace_point: false,
            ..self.clone()
        }
    }
}

/// Where `bench echo` counts syscalls per message (under strace, in passes of their own).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyscallCount {
    /// Not at all.
    Off,
    /// At one point (100 connections, 64 B, pipeline 1), in a table of its own.
    Probe,
    /// At every point, as a column of each point's table (about 1 s per server and point).
    Every,
}

/// The interleaved mode: every point, every server in both arms (see [`crate::arms`]).
fn measure_arms(
    lab: &mut Lab,
    p: &Params,
    against: &Path,
    points: &[(usize, usize, usize)],
) -> io::Result<()> {
    let subjects = p.subjects();
    let models: Vec<&str> = subjects
        .iter()
        .filter_map(|s| match s {
            Subject::Model(m) => Some(m.name()),
            Subject::Peer(_) => None,
        })
        .collect();
    let against = crate::arms::check_against(against, &models)?;
    let servers = subjects
        .into_iter()
        .map(|s| crate::arms::Armed::new(ServerSpec::new(s)?, &against))
        .collect::<io::Result<Vec<_>>>()?;
    lab.progress.expect(
        (points.len() * servers.len() * (2 * p.arms.pairs + 2) * (1 + p.rates.len())) as u64,
    );
    for &(conns, size, pipeline) in points {
        lab.progress.measuring(format!(
            "both arms at {conns} conns, {size} B, pipeline {pipeline}"
        ));
        let point = |name: &str| {
            Point::new(NAME, name)
                .param("conns", conns)
                .param("size", size)
                .param("pipeline", pipeline)
        };
        let load_for =
            |addr, window| load::Config::closed_loop(addr, conns, size, pipeline, window, p.warmup);
        let arms = crate::arms::EchoArms {
            servers: &servers,
            load_for: &load_for,
            window: std::cell::Cell::new(p.duration),
            lengthens: !lab.quick,
        };
        crate::arms::measure_point(lab, &arms, p.arms.pairs, &point)?;
        if p.rates.is_empty() {
            continue;
        }
        // Fixed rates in both arms: shares of the slowest closed-loop rate any server reached
        // in either arm here (its arm median), the same offered load for every window.
        let slowest = lab
            .points_of(NAME)
            .iter()
            .filter(|pt| {
                pt.repeat.is_none()
                    && pt.params.contains_key(iomux_store::compare::ARM_PARAM)
                    && !pt.params.contains_key(fixed_rate::RATE_PARAM)
                    && pt.at("conns") == Some(conns as u64)
                    && pt.at("size") == Some(size as u64)
                    && pt.at("pipeline") == Some(pipeline as u64)
            })
            .filter_map(|pt| pt.get("msgs_per_s"))
            .filter(|r| *r > 0.0)
            .fold(f64::INFINITY, f64::min);
        if !slowest.is_finite() {
            continue;
        }
        for &percent in &p.rates {
            let offered = slowest * f64::from(percent) / 100.0;
            lab.progress.measuring(format!(
                "both arms at {conns} conns, {size} B, pipeline {pipeline}, {percent}% of the slowest rate"
            ));
            let at_rate = |name: &str| {
                point(name)
                    .param(fixed_rate::RATE_PARAM, percent)
                    .metric("offered_per_s", offered)
            };
            let open_loop = |addr, window| load::Config {
                rate: Some(offered),
                ..load::Config::closed_loop(addr, conns, size, pipeline, window, p.warmup)
            };
            let arms = crate::arms::EchoArms {
                servers: &servers,
                load_for: &open_loop,
                window: std::cell::Cell::new(p.duration),
                lengthens: false,
            };
            crate::arms::measure_point(lab, &arms, p.arms.pairs, &at_rate)?;
        }
    }
    Ok(())
}

/// The point the strace and callgrind passes measure: 100 connections (or the nearest asked
/// for), 64-byte messages, pipeline 1.
fn probe_point(p: &Params) -> (usize, usize, usize) {
    (
        p.conns
            .iter()
            .copied()
            .find(|&c| c >= 100)
            .unwrap_or(p.conns[0]),
        64,
        1,
    )
}

/// In the interleaved mode, each arm's medians whose connections were served unevenly (see
/// [`crate::evenness`]).
fn say_uneven_service_of_arms(report: &mut Report, points: &[Point]) {
    for pt in points.iter().filter(|pt| {
        pt.repeat.is_none()
            && !pt.params.contains_key("pass")
            && !pt.params.contains_key(fixed_rate::RATE_PARAM)
    }) {
        let (Some(c), Some(s), Some(d)) = (pt.at("conns"), pt.at("size"), pt.at("pipeline")) else {
            continue;
        };
        let arm = pt.params.get("arm").map(ToString::to_string);
        let name = match arm {
            Some(arm) => format!("{} (arm {})", pt.subject, arm.trim_matches('"')),
            None => pt.subject.clone(),
        };
        if let Some(line) = crate::evenness::point_warning(&name, pt) {
            report.say(&format!("{c} conns, {s} B, pipeline {d}: {line}"));
        }
    }
}

/// The window a point was measured with: the longest its points record (`window_s`), or the
/// declared one for points recorded before the lab lengthened windows.
fn point_window(recorded: impl Iterator<Item = f64>, declared: Duration) -> Duration {
    let longest = recorded.fold(0.0, f64::max);
    if longest > 0.0 {
        Duration::from_secs_f64(longest)
    } else {
        declared
    }
}

/// In the interleaved mode, the points whose window was too short (see [`crate::window`]):
/// judged by the slowest median p50 of any server in either arm, against the window each point
/// recorded (`window` is the declared one).
fn say_short_windows_of_arms(report: &mut Report, points: &[Point], window: Duration) {
    use std::collections::BTreeMap;
    // (conns, size, pipeline) -> (server, arm) -> the p50 of each pair.
    type Point3 = (u64, u64, u64);
    let mut p50s: BTreeMap<Point3, BTreeMap<(String, String), Vec<f64>>> = BTreeMap::new();
    let mut windows: BTreeMap<Point3, Vec<f64>> = BTreeMap::new();
    for pt in points.iter().filter(|pt| {
        !pt.params.contains_key("pass") && !pt.params.contains_key(fixed_rate::RATE_PARAM)
    }) {
        let (Some(c), Some(s), Some(d), Some(p50)) = (
            pt.at("conns"),
            pt.at("size"),
            pt.at("pipeline"),
            pt.get("p50_us"),
        ) else {
            continue;
        };
        let arm = pt
            .params
            .get("arm")
            .map(ToString::to_string)
            .unwrap_or_default();
        windows
            .entry((c, s, d))
            .or_default()
            .extend(pt.get("window_s"));
        p50s.entry((c, s, d))
            .or_default()
            .entry((pt.subject.clone(), arm))
            .or_default()
            .push(p50);
    }
    for ((c, s, d), by_server) in p50s {
        let slowest = by_server
            .into_values()
            .filter_map(|mut v| {
                v.sort_by(f64::total_cmp);
                v.get(v.len() / 2).copied()
            })
            .fold(f64::NAN, f64::max);
        let measured = point_window(
            windows.remove(&(c, s, d)).unwrap_or_default().into_iter(),
            window,
        );
        if let Some(line) = crate::window::lengthened_note(window, measured) {
            report.say(&format!("{c} conns, {s} B, pipeline {d}: {line}"));
        }
        if let Some(line) =
            crate::window::warning(slowest, measured).filter(|_| window != quick::DURATION)
        {
            report.say(&format!("{c} conns, {s} B, pipeline {d}: {line}"));
        }
    }
}
