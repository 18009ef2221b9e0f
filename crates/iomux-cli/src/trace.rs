//! Trace files: `iomux serve --trace FILE` writes the loop turns its threads kept (see
//! `iomux::trace`) as one Chrome trace, which Perfetto and `chrome://tracing` open as a
//! timeline; `iomux trace summary FILE` reads one back and prints its turns, wake reasons and
//! syscall histogram.
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use iomux::trace::Tracer;

use crate::table::aligned_table;

/// Writes the traces of a server's threads (thread index, its tracer) into `path`.
pub fn write(path: &Path, traces: &[(usize, Tracer)], command: &str) -> io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    // Times count from the first wait any thread kept, so the timeline starts at zero.
    let epoch = traces
        .iter()
        .filter_map(|(_, t)| t.turns().next().map(|turn| turn.wait.start))
        .min()
        .unwrap_or_else(Instant::now);
    let dropped: u64 = traces.iter().map(|(_, t)| t.dropped_turns()).sum();
    writeln!(
        out,
        "{{\"displayTimeUnit\":\"ns\",\"otherData\":{{\"command\":{},\"dropped_turns\":{dropped}}},\"traceEvents\":[",
        serde_json::to_string(command).expect("a string serializes")
    )?;
    let mut first = true;
    for (index, tracer) in traces {
        if !std::mem::take(&mut first) {
            out.write_all(b",\n")?;
        }
        write!(
            out,
            r#"{{"name":"thread_name","ph":"M","pid":1,"tid":{index},"args":{{"name":"loop {index} ({})"}}}}"#,
            tracer.backend()
        )?;
        tracer.write_events(&mut out, epoch, *index, &mut first)?;
    }
    out.write_all(b"\n]}\n")?;
    out.flush()
}

/// What a trace holds, added up.
#[derive(Clone, Debug, Default)]
pub struct TraceStats {
    /// The command that wrote it.
    pub command: String,
    /// Loop threads.
    pub threads: usize,
    /// Turns kept (one per wait).
    pub turns: u64,
    /// Turns the ring dropped (the oldest).
    pub dropped_turns: u64,
    /// From the first event to the end of the last, in seconds.
    pub span_s: f64,
    /// Turns by why their wait woke.
    pub wakes: BTreeMap<String, u64>,
    /// Time blocked in waits, in microseconds, summed.
    pub blocked_us: f64,
    /// Events the waits returned, summed, and the most one returned.
    pub events: u64,
    pub max_events: u64,
    /// Descriptors handed to the kernel, summed.
    pub fds_passed: u64,
    /// Signals that interrupted waits.
    pub interrupted: u64,
    /// Syscalls between waits by name: (calls, microseconds summed, errors).
    pub syscalls: BTreeMap<String, (u64, f64, u64)>,
}

impl TraceStats {
    /// Per turn, of a sum.
    pub fn per_turn(&self, sum: f64) -> f64 {
        sum / self.turns.max(1) as f64
    }

    /// Syscalls between waits, per turn.
    pub fn syscalls_per_turn(&self) -> f64 {
        self.per_turn(self.syscalls.values().map(|(n, _, _)| *n as f64).sum())
    }

    /// The share of turns whose wait woke for a ready descriptor.
    pub fn woke_for_fd(&self) -> f64 {
        self.per_turn(*self.wakes.get("fd").unwrap_or(&0) as f64)
    }
}

/// Reads a trace file and adds it up.
pub fn stats(path: &Path) -> Result<TraceStats, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let trace: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a trace (JSON trace events): {e}", path.display()))?;
    let events = trace["traceEvents"]
        .as_array()
        .ok_or_else(|| format!("{} is not a trace: no traceEvents array", path.display()))?;
    let mut stats = TraceStats {
        command: trace["otherData"]["command"]
            .as_str()
            .unwrap_or("?")
            .to_owned(),
        dropped_turns: trace["otherData"]["dropped_turns"].as_u64().unwrap_or(0),
        ..TraceStats::default()
    };
    let mut threads = std::collections::BTreeSet::new();
    let (mut first_us, mut last_us) = (f64::INFINITY, 0.0f64);
    for event in events.iter().filter(|e| e["ph"] == "X") {
        let (ts, dur) = (
            event["ts"].as_f64().unwrap_or(0.0),
            event["dur"].as_f64().unwrap_or(0.0),
        );
        first_us = first_us.min(ts);
        last_us = last_us.max(ts + dur);
        threads.insert(event["tid"].as_u64().unwrap_or(0));
        let args = &event["args"];
        match event["cat"].as_str() {
            Some("wait") => {
                stats.turns += 1;
                stats.blocked_us += dur;
                let n = args["events"].as_u64().unwrap_or(0);
                stats.events += n;
                stats.max_events = stats.max_events.max(n);
                stats.fds_passed += args["fds_passed"].as_u64().unwrap_or(0);
                stats.interrupted += args["interrupted"].as_u64().unwrap_or(0);
                let woke = args["woke"].as_str().unwrap_or("?").to_owned();
                *stats.wakes.entry(woke).or_default() += 1;
            }
            Some("syscall") => {
                let name = event["name"].as_str().unwrap_or("?").to_owned();
                let entry = stats.syscalls.entry(name).or_default();
                entry.0 += 1;
                entry.1 += dur;
                if args["result"].as_i64().unwrap_or(0) < 0 {
                    entry.2 += 1;
                }
            }
            _ => {}
        }
    }
    if stats.turns == 0 {
        return Err(format!("{} holds no loop turns", path.display()));
    }
    stats.threads = threads.len();
    stats.span_s = (last_us - first_us).max(0.0) / 1e6;
    Ok(stats)
}

/// What `iomux trace summary` prints about a trace file.
pub fn summary(path: &Path) -> Result<String, String> {
    let s = stats(path)?;
    let turns = s.turns;
    let mut out = String::new();
    out.push_str(&format!(
        "{}: {}\n{} loop thread(s), {turns} turns over {:.3} s{}\n",
        path.display(),
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
    out.push_str("\nsyscalls between waits\n");
    out.push_str(&aligned_table(
        &[
            "syscall", "calls", "per turn", "total us", "mean us", "errors",
        ],
        &rows,
        &[false, true, true, true, true, true],
    ));
    Ok(out)
}
