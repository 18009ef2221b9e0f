//! `bench echo --trace-point`: a trace of one point (`iomux serve --trace`) for each iomux model
//! that waits on a selector, written beside the run's other files and added up into a table:
//! how many loop turns the point took, what woke them, how many events and syscalls a turn
//! carried. The trace itself opens in `iomux web --trace FOLDER`, ui.perfetto.dev or `iomux
//! trace summary`.
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::lab::Lab;
use crate::process::ServerSpec;
use crate::report::Report;
use crate::table::cell as fmt;
use crate::table::table;
use iomux_load as load;
use iomux_store::record::Point;

/// The `pass` parameter of its points.
pub const PASS: &str = "trace";

/// Runs each server in `specs` with `--trace` under the point's load; records what its trace
/// holds.
pub fn measure(
    lab: &mut Lab,
    experiment: &str,
    specs: &[ServerSpec],
    (conns, size, pipeline): (usize, usize, usize),
    duration: Duration,
) -> io::Result<()> {
    for spec in specs {
        let file = lab.out().join(format!(
            "trace-{}-{conns}c-{size}B-p{pipeline}.json",
            spec.name
        ));
        let mut traced = spec.clone();
        traced
            .args
            .extend(["--trace".to_owned(), file.display().to_string()]);
        let server = traced.start(&lab.pinning)?;
        let config = crate::process::pass_load(server.addr, (conns, size, pipeline), duration);
        let progress = Arc::new(AtomicU64::new(0));
        load::run(&config, &progress)?;
        drop(server.stop()); // the trace is written as the server shuts down
        let stats = iomux_metadata::trace::stats(&file).map_err(io::Error::other)?;
        let messages = progress.load(Ordering::Relaxed).max(1) as f64;
        lab.point(
            Point::new(experiment, &spec.name)
                .param("conns", conns)
                .param("size", size)
                .param("pipeline", pipeline)
                .param("pass", PASS)
                .metric("turns", stats.turns as f64)
                .metric("messages", messages)
                .metric("events_per_wait", stats.per_turn(stats.events as f64))
                .metric("syscalls_per_turn", stats.syscalls_per_turn())
                .metric("woke_for_fd_share", stats.woke_for_fd())
                .metric("blocked_us_per_wait", stats.per_turn(stats.blocked_us)),
        )?;
    }
    Ok(())
}

/// The table of the trace points, if the run has any.
pub fn render(report: &mut Report, points: &[Point]) {
    let traced: Vec<&Point> = points
        .iter()
        .filter(|pt| pt.params.get("pass").and_then(|v| v.as_str()) == Some(PASS))
        .collect();
    let Some(first) = traced.first() else {
        return;
    };
    let rows: Vec<Vec<String>> = traced
        .iter()
        .map(|pt| {
            vec![
                pt.subject.clone(),
                fmt(pt.get("turns"), 0),
                fmt(pt.get("messages"), 0),
                fmt(pt.get("events_per_wait"), 1),
                fmt(pt.get("syscalls_per_turn"), 1),
                fmt(pt.get("woke_for_fd_share").map(|s| s * 100.0), 1),
                fmt(pt.get("blocked_us_per_wait"), 1),
            ]
        })
        .collect();
    report.say(&format!(
        "\nloop turns, traced ({} conns, {} B, pipeline {}; each trace-SERVER-*.json opens in `iomux web --trace RUN_FOLDER`, ui.perfetto.dev or `iomux trace summary`)",
        first.at("conns").unwrap_or(0),
        first.at("size").unwrap_or(0),
        first.at("pipeline").unwrap_or(0),
    ));
    report.say(&table(
        &[
            "server",
            "turns",
            "messages",
            "events/wait",
            "calls/turn",
            "woke for fd %",
            "blocked us/wait",
        ],
        &rows,
    ));
}
