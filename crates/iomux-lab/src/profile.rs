//! The profiling pass (`bench echo --profile`): where each server's CPU goes, by symbol, kernel
//! and user space together, so that the levers on a server's cost are chosen on evidence.
//!
//! Each server runs alone at each point under the usual closed-loop load while `perf record -e
//! cpu-clock -g -p PID` samples the server's threads, in user space and in the kernel (the
//! network work done in their context, softirqs included, counts; other processes on the same
//! CPU do not, which sampling the whole CPU with `-C` would mix in on a shared machine). The
//! `cpu-clock` software event works in virtual machines without hardware counters. `perf
//! report` then writes the symbols by their share of the samples (`profile-SERVER-POINT.txt`
//! in the output folder, with the samples in `.data`), the report shows the top ones side by
//! side, and each server's point records its samples and the kernel's share of them.
use std::io;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use iomux_load::{self as load, WindowEdge};
use iomux_store::record::Point;

use crate::lab::Lab;
use crate::process::ServerSpec;
use crate::table::aligned_table;

/// The `pass` parameter of a profile's points.
pub const PASS: &str = "profile";

/// How many symbols the report shows per server.
const TOP: usize = 12;

/// One symbol's share of a profile.
#[derive(Clone, Debug, PartialEq)]
pub struct Symbol {
    /// Percent of the samples.
    pub percent: f64,
    /// Sampled in the kernel (`[k]`) rather than in user space.
    pub kernel: bool,
    /// The symbol (or an address perf could not name).
    pub name: String,
}

/// Whether `perf` is installed; if not, says the pass is skipped (and with
/// `IOMUX_REQUIRE_TOOLS` set, fails).
pub fn available(lab: &mut Lab) -> io::Result<bool> {
    let ok = Command::new("perf")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var_os("IOMUX_REQUIRE_TOOLS").is_some() {
            return Err(io::Error::other(
                "--profile needs perf (apt-get install linux-perf)",
            ));
        }
        lab.say("\nprofile: skipped (perf is not installed: apt-get install linux-perf)");
    }
    Ok(ok)
}

/// Profiles each server at `point` for `window`; records a point per server and says the top
/// symbols side by side.
pub fn profile_at(
    lab: &mut Lab,
    experiment: &str,
    specs: &[ServerSpec],
    point: (usize, usize, usize),
    window: Duration,
) -> io::Result<()> {
    let (conns, size, pipeline) = point;
    let tag = format!("{conns}c-{size}B-p{pipeline}");
    let mut columns: Vec<(String, Vec<Symbol>)> = Vec::new();
    for spec in specs {
        let data = lab.out().join(format!("profile-{}-{tag}.data", spec.name));
        let text = data.with_extension("txt");
        lab.progress
            .measuring(format!("{} under perf at {tag}", spec.name));
        let server = spec.start(&lab.pinning)?;
        let target = ["-p".to_owned(), server.pid().to_string()];
        let config = load::Config::closed_loop(
            server.addr,
            conns,
            size,
            pipeline,
            window,
            Duration::from_millis(200),
        );
        let progress = Arc::new(AtomicU64::new(0));
        let mut perf: Option<io::Result<Child>> = None;
        load::run_observed(&config, &progress, &mut |edge| match edge {
            WindowEdge::Start => {
                perf = Some(
                    Command::new("perf")
                        .args(["record", "-q", "-e", "cpu-clock", "-g"])
                        .args(&target)
                        .arg("-o")
                        .arg(&data)
                        .args(["--", "sleep", &format!("{:.3}", window.as_secs_f64())])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn(),
                );
            }
            WindowEdge::End => {
                if let Some(Ok(child)) = perf.as_mut() {
                    let _ = child.wait();
                }
            }
        })?;
        drop(server.stop());
        match perf {
            Some(Ok(mut child)) => {
                let _ = child.wait();
            }
            Some(Err(e)) => return Err(io::Error::new(e.kind(), format!("cannot run perf: {e}"))),
            None => {}
        }
        let report = Command::new("perf")
            .args([
                "report",
                "--stdio",
                "--no-children",
                "--sort",
                "sym",
                "-g",
                "none",
                "-i",
            ])
            .arg(&data)
            .stderr(Stdio::null())
            .output()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot run perf report: {e}")))?;
        let body = String::from_utf8_lossy(&report.stdout).into_owned();
        std::fs::write(&text, &body)?;
        let (symbols, samples) = parse_report(&body);
        let symbols = busy(symbols);
        if samples == 0 || symbols.is_empty() {
            return Err(io::Error::other(format!(
                "perf recorded no samples of {} (see {}): is perf allowed here (perf_event_paranoid)?",
                spec.name,
                text.display()
            )));
        }
        let kernel: f64 = symbols.iter().filter(|s| s.kernel).map(|s| s.percent).sum();
        lab.point(
            Point::new(experiment, &spec.name)
                .param("conns", conns)
                .param("size", size)
                .param("pipeline", pipeline)
                .param("pass", PASS)
                .metric("samples", samples as f64)
                .metric("kernel_share", kernel / 100.0),
        )?;
        columns.push((spec.name.clone(), symbols));
    }
    let headers: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
    let rows: Vec<Vec<String>> = (0..TOP)
        .map(|i| {
            columns
                .iter()
                .map(|(_, symbols)| {
                    symbols.get(i).map_or(String::new(), |s| {
                        format!(
                            "{:5.1}% {}{}",
                            s.percent,
                            if s.kernel { "[k] " } else { "" },
                            shorten(&s.name)
                        )
                    })
                })
                .collect()
        })
        .collect();
    lab.say(&format!(
        "\nwhere the server's CPU goes at {conns} conns, {size} B, pipeline {pipeline}: shares of its samples (perf record -e cpu-clock -p on its threads, {:.1} s; [k]: kernel; whole reports in profile-*-{tag}.txt)",
        window.as_secs_f64()
    ));
    let left = vec![false; headers.len()];
    lab.say(&aligned_table(&headers, &rows, &left));
    Ok(())
}

/// The symbols of busy samples, their shares taken of those: a profile of a whole CPU would
/// also sample it idling (in a closed loop the server waits for the load generator about half
/// the time), which is no one's cost; a process's profile has none, and this is a guard.
fn busy(symbols: Vec<Symbol>) -> Vec<Symbol> {
    let idle = |s: &Symbol| {
        s.kernel
            && [
                "safe_halt",
                "cpuidle",
                "default_idle",
                "intel_idle",
                "acpi_idle",
                "poll_idle",
                "mwait_idle",
                "do_idle",
            ]
            .iter()
            .any(|i| s.name.contains(i))
    };
    let busy_total: f64 = symbols.iter().filter(|s| !idle(s)).map(|s| s.percent).sum();
    if busy_total <= 0.0 {
        return Vec::new();
    }
    symbols
        .into_iter()
        .filter(|s| !idle(s))
        .map(|s| Symbol {
            percent: s.percent * 100.0 / busy_total,
            ..s
        })
        .collect()
}

/// A symbol's name cut to a table column's width.
fn shorten(name: &str) -> String {
    const WIDTH: usize = 34;
    if name.chars().count() <= WIDTH {
        name.to_owned()
    } else {
        let cut: String = name.chars().take(WIDTH - 1).collect();
        format!("{cut}…")
    }
}

/// Reads `perf report --stdio --sort sym -g none`: each symbol's percent and whether it is a
/// kernel one, largest first, and the samples' count from its header.
pub fn parse_report(text: &str) -> (Vec<Symbol>, u64) {
    let mut samples = 0;
    let mut symbols = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("# Samples:") {
            // "# Samples: 3K of event 'cpu-clock'" or "# Samples: 3995 of event ..."
            let n = rest.split_whitespace().next().unwrap_or("0");
            samples = match n.strip_suffix('K') {
                Some(k) => (k.parse::<f64>().unwrap_or(0.0) * 1000.0) as u64,
                None => n.parse().unwrap_or(0),
            };
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let Some(percent) = words
            .next()
            .and_then(|w| w.strip_suffix('%'))
            .and_then(|w| w.parse::<f64>().ok())
        else {
            continue;
        };
        let Some(kind) = words.next() else { continue };
        let name: Vec<&str> = words.collect();
        symbols.push(Symbol {
            percent,
            kernel: kind == "[k]",
            name: name.join(" "),
        });
    }
    (symbols, samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_perfs_report() {
        let text =
            "# To display the perf.data header info, please use --header/--header-only options.
#
#
# Total Lost Samples: 0
#
# Samples: 3K of event 'cpu-clock'
# Event count (approx.): 998750000
#
# Overhead  Symbol
# ........  ..........................
#
    21.40%  [k] finish_task_switch.isra.0
     5.06%  [.] tokio::runtime::io::driver::Driver::turn
     0.03%  [k] 0xffffffff81234567
";
        let (symbols, samples) = parse_report(text);
        assert_eq!(samples, 3000);
        assert_eq!(symbols.len(), 3);
        assert_eq!(
            symbols[0],
            Symbol {
                percent: 21.40,
                kernel: true,
                name: "finish_task_switch.isra.0".into()
            }
        );
        assert!(!symbols[1].kernel);
        let busy = busy(vec![
            Symbol {
                percent: 50.0,
                kernel: true,
                name: "pv_native_safe_halt".into(),
            },
            Symbol {
                percent: 30.0,
                kernel: true,
                name: "tcp_ack".into(),
            },
            Symbol {
                percent: 20.0,
                kernel: false,
                name: "main".into(),
            },
        ]);
        assert_eq!(busy.len(), 2);
        assert!((busy[0].percent - 60.0).abs() < 1e-9);
        assert_eq!(symbols[1].name, "tokio::runtime::io::driver::Driver::turn");
    }
}
