//! Trace files: `iomux serve --trace FILE` writes the loop turns its threads kept (see
//! `iomux::trace`) as one Chrome trace ([`write()`]), which Perfetto and `chrome://tracing` open
//! as a timeline; [`read`] reads one back, and [`TraceStats`] adds it up (`iomux trace summary`
//! prints that as text, the lab keeps it per point, `iomux web --trace FILE` draws the file).
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use iomux::trace::Tracer;

pub mod read;

pub use read::Trace;

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
    /// The most events one wait returned.
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

    /// Calls between waits (syscalls, or a ring's completions), per turn.
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
    Ok(Trace::read(path)?.stats())
}
