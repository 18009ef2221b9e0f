//! A trace file's summary as text: what `iomux trace summary FILE` prints, and what the front
//! end shows under a trace's timeline. The file format and its statistics are
//! `iomux_metadata::trace`'s.
use std::path::Path;

use iomux_metadata::trace::{self, TraceStats};

use crate::table::aligned_table;

/// What `iomux trace summary` prints about a trace file.
pub fn summary(path: &Path) -> Result<String, String> {
    Ok(summary_of(
        &path.display().to_string(),
        &trace::stats(path)?,
    ))
}

/// A trace's summary, as `iomux trace summary` prints it, the trace named `name`.
pub fn summary_of(name: &str, s: &TraceStats) -> String {
    let turns = s.turns;
    let mut out = String::new();
    out.push_str(&format!(
        "{name}: {}\n{} loop thread(s), {turns} turns over {:.3} s{}\n",
        s.command,
        s.threads,
        s.span_s,
        if s.dropped_turns > 0 {
            format!(
                " (the {} oldest turns were dropped to stay within the ring)",
                s.dropped_turns
            )
        } else {
            String::new()
        }
    ));
    let wake_line: Vec<String> = s
        .wakes
        .iter()
        .map(|(w, n)| format!("{w} {n} ({:.1}%)", *n as f64 * 100.0 / turns as f64))
        .collect();
    out.push_str(&format!("woke for: {}\n", wake_line.join(", ")));
    out.push_str(&format!(
        "waits: {:.3} s blocked in all, {:.1} µs per wait; {:.1} events per wait (most {}); {:.1} fds passed per wait; {} interrupted by signals\n",
        s.blocked_us / 1e6,
        s.per_turn(s.blocked_us),
        s.per_turn(s.events as f64),
        s.max_events,
        s.per_turn(s.fds_passed as f64),
        s.interrupted,
    ));
    let rows: Vec<Vec<String>> = s
        .syscalls
        .iter()
        .map(|(name, (n, total, errors))| {
            vec![
                name.clone(),
                n.to_string(),
                format!("{:.1}", s.per_turn(*n as f64)),
                format!("{:.0}", total),
                format!("{:.2}", total / *n as f64),
                errors.to_string(),
            ]
        })
        .collect();
    out.push_str("\ncalls between waits (syscalls made; for a ring, completions reaped)\n");
    out.push_str(&aligned_table(
        &["call", "calls", "per turn", "total us", "mean us", "errors"],
        &rows,
        &[false, true, true, true, true, true],
    ));
    out
}
