//! `bench echo --rates 25,50,75`: fixed-rate points beside the closed loop.
//!
//! In a closed loop a server that answers sooner is sent its next message sooner, so it finds
//! fewer messages waiting each time it wakes and pays for more wake-ups per message: its CPU
//! per message depends on the load's pacing as much as on its own code. At a fixed offered
//! load every server is sent the same messages at the same moments (an open loop: latency is
//! measured from each message's intended send time), so what it spends on them is its own.
//! The rates are percentages of the slowest server's closed-loop rate at the point, so every
//! server can keep up; the servers take turns at each rate, in a rotated order each repeat.
//! Beside CPU per message each point records messages per wake-up (the server's voluntary
//! context switches), which says how much each wake-up batched.
//!
//! The load generator's open loop sends each message on its own schedule (one write each), so
//! it cannot offer what a pipelined closed loop reaches (on a 2-vCPU machine, somewhere near
//! 100,000 messages per second): a point whose server answered less than [`KEPT_UP`] of the
//! offered load is recorded, marked "fell behind" in its table, and left out of the summary,
//! since the servers there were not offered the same load. The load also records how much
//! of its schedule it kept (`load_on_schedule`): a window in which it did not get the CPU to
//! send on time is measured again (see [`crate::runner::REMEASURES`]), and one that stays
//! behind is marked "load fell behind" rather than blamed on the server.
use std::io;

use iomux_load as load;
use iomux_store::compare::{geomean, median};
use iomux_store::record::Point;

use crate::lab::Lab;
use crate::process::ServerProc;
use crate::report::Report;
use crate::runner::{measure_server, merge, Measured};
use crate::spread;
use crate::table::table;

/// The parameter a fixed-rate point carries: the offered load, in percent of the slowest
/// server's closed-loop rate at the point.
pub const RATE_PARAM: &str = "rate_pct";

/// The share of the offered load a server must answer for its point to count: below it, the
/// load generator (or the server) fell behind, and the servers were not loaded alike.
pub const KEPT_UP: f64 = 0.95;

/// What [`measure`] needs of the experiment.
pub struct Plan<'a> {
    /// The servers, running, and their names.
    pub servers: &'a [ServerProc],
    /// Their names, in the same order.
    pub names: &'a [String],
    /// The point: connections, message size, pipeline depth.
    pub point: (usize, usize, usize),
    /// Each server's closed-loop rate at the point (messages per second).
    pub closed_loop: &'a [f64],
    /// The rates, in percent of the slowest closed-loop rate.
    pub percents: &'a [u32],
    /// Repeats per server and rate.
    pub repeat: usize,
    /// The measured window.
    pub duration: std::time::Duration,
    /// The warm-up before it.
    pub warmup: std::time::Duration,
}

/// Measures every server at each fixed rate; records each repeat (when there are several) and
/// the medians, as points with [`RATE_PARAM`] and `offered_per_s`. `record` makes a server's
/// point at the closed-loop point's parameters.
pub fn measure(lab: &mut Lab, plan: &Plan, record: &dyn Fn(&str) -> Point) -> io::Result<()> {
    let (conns, size, pipeline) = plan.point;
    let slowest = plan
        .closed_loop
        .iter()
        .copied()
        .filter(|r| r.is_finite() && *r > 0.0)
        .fold(f64::INFINITY, f64::min);
    if !slowest.is_finite() {
        return Ok(());
    }
    for &percent in plan.percents {
        let offered = slowest * f64::from(percent) / 100.0;
        let mut runs: Vec<Vec<Measured>> = vec![Vec::new(); plan.servers.len()];
        for rep in 0..plan.repeat.max(1) {
            for k in 0..plan.servers.len() {
                let si = (k + rep) % plan.servers.len();
                lab.progress.measuring(format!(
                    "{} at {conns} conns, {size} B, {percent}% of the slowest rate",
                    plan.names[si]
                ));
                let config = load::Config {
                    rate: Some(offered),
                    ..load::Config::closed_loop(
                        plan.servers[si].addr,
                        conns,
                        size,
                        pipeline,
                        plan.duration,
                        plan.warmup,
                    )
                };
                runs[si].push(measure_server(&plan.servers[si], &config, 1)?);
            }
        }
        for (si, name) in plan.names.iter().enumerate() {
            let point = |m: Measured| {
                m.into_point(record(name))
                    .param(RATE_PARAM, percent)
                    .metric("offered_per_s", offered)
            };
            if plan.repeat > 1 {
                for (rep, m) in runs[si].iter().enumerate() {
                    lab.point(point(m.clone()).repeat(rep))?;
                }
            }
            lab.point(point(merge(&runs[si])))?;
        }
    }
    Ok(())
}

/// One table per fixed-rate point: each server's CPU per message, its ratio to `reference`,
/// messages per wake-up, the rate it answered and its latency.
pub fn render(report: &mut Report, points: &[Point], names: &[&str], reference: &str) {
    let medians: Vec<&Point> = points
        .iter()
        .filter(|pt| pt.repeat.is_none() && pt.params.contains_key(RATE_PARAM))
        .collect();
    let mut groups: Vec<(u64, u64, u64, u64)> = Vec::new();
    for pt in &medians {
        let key = (
            pt.at("conns").unwrap_or(0),
            pt.at("size").unwrap_or(0),
            pt.at("pipeline").unwrap_or(0),
            pt.at(RATE_PARAM).unwrap_or(0),
        );
        if !groups.contains(&key) {
            groups.push(key);
        }
    }
    let repeats: std::collections::BTreeSet<usize> = points
        .iter()
        .filter(|pt| pt.params.contains_key(RATE_PARAM))
        .filter_map(|pt| pt.repeat)
        .collect();
    let fmt = crate::table::cell;
    let mut ratios: Vec<(String, Vec<f64>)> =
        names.iter().map(|n| (n.to_string(), Vec::new())).collect();
    for &(conns, size, pipeline, percent) in &groups {
        let here: Vec<&Point> = medians
            .iter()
            .copied()
            .filter(|pt| {
                pt.at("conns") == Some(conns)
                    && pt.at("size") == Some(size)
                    && pt.at("pipeline") == Some(pipeline)
                    && pt.at(RATE_PARAM) == Some(percent)
            })
            .collect();
        let answered = |pt: &Point| Some(pt.get("msgs_per_s")? / pt.get("offered_per_s")?);
        let load_kept = |pt: &Point| {
            pt.get("load_on_schedule")
                .is_none_or(|share| share >= crate::runner::ON_SCHEDULE)
        };
        let kept_up = |pt: &Point| load_kept(pt) && answered(pt).is_some_and(|a| a >= KEPT_UP);
        let base = here
            .iter()
            .find(|pt| pt.subject == reference)
            .filter(|pt| kept_up(pt))
            .and_then(|pt| pt.get("server_cpu_us_per_msg"));
        let offered = here.first().and_then(|pt| pt.get("offered_per_s"));
        let rows: Vec<Vec<String>> = names
            .iter()
            .filter_map(|&name| {
                let pt = here.iter().find(|pt| pt.subject == name)?;
                let mine = pt.get("server_cpu_us_per_msg");
                let ratio = match (mine, base) {
                    _ if !load_kept(pt) => format!(
                        "load fell behind: sent {:.0}% on time",
                        pt.get("load_on_schedule").unwrap_or(0.0) * 100.0
                    ),
                    _ if !kept_up(pt) => format!(
                        "fell behind: answered {:.0}%",
                        answered(pt).unwrap_or(0.0) * 100.0
                    ),
                    (Some(a), Some(b)) if b > 0.0 => {
                        if let Some(entry) = ratios.iter_mut().find(|(n, _)| n == name) {
                            entry.1.push(a / b);
                        }
                        format!("{:.2}", a / b)
                    }
                    _ => "-".into(),
                };
                Some(vec![
                    name.to_owned(),
                    fmt(pt.get("msgs_per_s"), 0),
                    fmt(mine, 2),
                    ratio,
                    fmt(pt.get("msgs_per_wakeup"), 1),
                    fmt(pt.get("p50_us"), 0),
                    fmt(pt.get("p99_us"), 0),
                    fmt(
                        Some(pt.get("errors").unwrap_or(0.0) + pt.get("mismatches").unwrap_or(0.0)),
                        0,
                    ),
                ])
            })
            .collect();
        report.say(&format!(
            "\n{conns} conns, {size} B, pipeline {pipeline}, fixed rate: {percent}% of the slowest closed-loop rate ({} msg/s offered to every server)",
            fmt(offered, 0)
        ));
        let x_reference = format!("x {reference}");
        report.say(&table(
            &[
                "server",
                "msg/s",
                "CPU us/msg",
                &x_reference,
                "msgs/wake-up",
                "p50 us",
                "p99 us",
                "err",
            ],
            &rows,
        ));
        // How far each ratio moved between the repeats (see `spread`), over the repeats where
        // both servers kept up.
        let in_repeat = |name: &str, repeat: usize| {
            points.iter().find(|pt| {
                pt.subject == name
                    && pt.repeat == Some(repeat)
                    && pt.at("conns") == Some(conns)
                    && pt.at("size") == Some(size)
                    && pt.at("pipeline") == Some(pipeline)
                    && pt.at(RATE_PARAM) == Some(percent)
            })
        };
        let spreads = spread::against(reference, names, &repeats, |who, r| {
            in_repeat(who, r)
                .filter(|pt| kept_up(pt))?
                .get("server_cpu_us_per_msg")
        });
        if let Some(line) = spread::point_line(reference, &spreads) {
            report.say(&line);
        }
    }
    let rows: Vec<Vec<String>> = ratios
        .iter()
        .filter(|(_, r)| !r.is_empty())
        .map(|(name, r)| {
            let geomean = geomean(r).unwrap_or(f64::NAN);
            let worst = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            vec![
                name.clone(),
                format!("{geomean:.2}"),
                format!("{worst:.2}"),
                format!("{:.2}", median(r.clone())),
            ]
        })
        .collect();
    if !rows.is_empty() {
        report.say(&format!(
            "\nserver CPU per message relative to {reference} at the fixed rates, over those where both kept up with the offered load (at least {:.0}% answered)",
            KEPT_UP * 100.0
        ));
        report.say(&table(&["server", "geomean", "worst", "median"], &rows));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed-rate point of `subject` at 50% of a 1,000 msg/s rate: answered `answered` of
    /// it, at `cpu` µs a message; `repeat` or the median.
    fn point(subject: &str, repeat: Option<usize>, cpu: f64, answered: f64) -> Point {
        let pt = Point::new("echo", subject)
            .param("conns", 10u64)
            .param("size", 64u64)
            .param("pipeline", 1u64)
            .param(RATE_PARAM, 50u64)
            .metric("offered_per_s", 500.0)
            .metric("msgs_per_s", 500.0 * answered)
            .metric("load_on_schedule", 1.0)
            .metric("server_cpu_us_per_msg", cpu);
        match repeat {
            Some(r) => pt.repeat(r),
            None => pt,
        }
    }

    #[test]
    fn a_fixed_rate_point_says_how_far_each_ratio_moved_over_the_repeats_that_kept_up() {
        let points = vec![
            point("tokio", Some(0), 10.0, 1.0),
            point("uring", Some(0), 9.0, 1.0),
            point("epoll", Some(0), 12.0, 1.0),
            point("tokio", Some(1), 10.0, 1.0),
            point("uring", Some(1), 11.0, 1.0),
            point("epoll", Some(1), 5.0, 0.5), // fell behind: its ratio is not taken
            point("tokio", Some(2), 10.0, 1.0),
            point("uring", Some(2), 9.5, 1.0),
            point("epoll", Some(2), 13.0, 1.0),
            point("tokio", None, 10.0, 1.0),
            point("uring", None, 9.5, 1.0),
            point("epoll", None, 12.0, 1.0),
        ];
        let mut report = Report::in_memory();
        render(&mut report, &points, &["uring", "epoll", "tokio"], "tokio");
        let text = report.text();
        assert!(
            text.contains("x tokio over the 3 repeats (lowest to highest): uring 0.90–1.10, epoll 1.20–1.30 (in 2); unsettled: uring"),
            "{text}"
        );
    }
}
