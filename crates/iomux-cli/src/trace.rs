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

use crate::bench::aligned_table;

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

/// What `iomux trace summary` prints about a trace file.
pub fn summary(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let trace: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a trace (JSON trace events): {e}", path.display()))?;
    let events = trace["traceEvents"]
        .as_array()
        .ok_or_else(|| format!("{} is not a trace: no traceEvents array", path.display()))?;
    let mut threads = std::collections::BTreeSet::new();
    let (mut turns, mut blocked_us, mut events_sum, mut fds_sum, mut interrupted) =
        (0u64, 0.0f64, 0u64, 0u64, 0u64);
    let mut max_events = 0u64;
    let (mut first_us, mut last_us) = (f64::INFINITY, 0.0f64);
    let mut wakes: BTreeMap<String, u64> = BTreeMap::new();
    // name -> (calls, total µs, errors)
    let mut calls: BTreeMap<String, (u64, f64, u64)> = BTreeMap::new();
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
                turns += 1;
                blocked_us += dur;
                let n = args["events"].as_u64().unwrap_or(0);
                events_sum += n;
                max_events = max_events.max(n);
                fds_sum += args["fds_passed"].as_u64().unwrap_or(0);
                interrupted += args["interrupted"].as_u64().unwrap_or(0);
                let woke = args["woke"].as_str().unwrap_or("?").to_owned();
                *wakes.entry(woke).or_default() += 1;
            }
            Some("syscall") => {
                let name = event["name"].as_str().unwrap_or("?").to_owned();
                let entry = calls.entry(name).or_default();
                entry.0 += 1;
                entry.1 += dur;
                if args["result"].as_i64().unwrap_or(0) < 0 {
                    entry.2 += 1;
                }
            }
            _ => {}
        }
    }
    if turns == 0 {
        return Err(format!("{} holds no loop turns", path.display()));
    }
    let span_s = (last_us - first_us).max(0.0) / 1e6;
    let per = |x: f64| x / turns as f64;
    let mut out = String::new();
    let command = trace["otherData"]["command"].as_str().unwrap_or("?");
    let dropped = trace["otherData"]["dropped_turns"].as_u64().unwrap_or(0);
    out.push_str(&format!(
        "{}: {command}\n{} loop thread(s), {turns} turns over {span_s:.3} s{}\n",
        path.display(),
        threads.len(),
        if dropped > 0 {
            format!(" (the {dropped} oldest turns were dropped to stay within the ring)")
        } else {
            String::new()
        }
    ));
    let wake_line: Vec<String> = wakes
        .iter()
        .map(|(w, n)| format!("{w} {n} ({:.1}%)", *n as f64 * 100.0 / turns as f64))
        .collect();
    out.push_str(&format!("woke for: {}\n", wake_line.join(", ")));
    out.push_str(&format!(
        "waits: {:.3} s blocked in all, {:.1} µs per wait; {:.1} events per wait (most {max_events}); {:.1} fds passed per wait; {interrupted} interrupted by signals\n",
        blocked_us / 1e6,
        per(blocked_us),
        per(events_sum as f64),
        per(fds_sum as f64),
    ));
    let rows: Vec<Vec<String>> = calls
        .iter()
        .map(|(name, (n, total, errors))| {
            vec![
                name.clone(),
                n.to_string(),
                format!("{:.1}", *n as f64 / turns as f64),
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
