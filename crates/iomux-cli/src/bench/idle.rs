//! `iomux bench idle`: a few active connections under load while many idle ones are open.
//!
//! The notes' claim: select and poll hand every watched descriptor to the kernel on every wait,
//! so their cost grows with idle connections that never say anything; epoll's does not. Each
//! point starts a fresh server, opens the idle connections, then drives the active ones; the
//! server's own selector counters (from its summary) give the fds passed per wait.
use std::io;
use std::time::Duration;

use serde_json::json;

use super::chart::{line_chart, Series};
use super::echo::{measure, ServerSpec};
use super::{table, Lab};
use crate::load;

#[derive(Clone, Debug)]
pub struct Params {
    pub models: Vec<String>,
    pub idle: Vec<usize>,
    pub active: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub repeat: usize,
}

/// `fds passed per wait` from an `iomux serve` summary.
fn fds_per_wait(summary: &str) -> Option<f64> {
    let at = summary.find(" fds passed per wait")?;
    summary[..at].rsplit(' ').next()?.parse().ok()
}

pub fn run(lab: &mut Lab, p: &Params) -> io::Result<()> {
    let budget = super::fd_budget()?;
    lab.say(&format!(
        "idle: {} active connections (64 B, pipeline 1) while {:?} idle connections are open; {:.1} s measured, median of {}",
        p.active,
        p.idle,
        p.duration.as_secs_f64(),
        p.repeat
    ));
    let mut rows = Vec::new();
    let mut series = Vec::new();
    for model in &p.models {
        let spec = ServerSpec::model(model, &[])?;
        let mut base = None;
        let mut points = Vec::new();
        for &idle in &p.idle {
            let needed = (idle + p.active) as u64 + 64;
            if needed > budget {
                rows.push(vec![
                    model.clone(),
                    idle.to_string(),
                    format!("skipped: needs {needed} fds, RLIMIT_NOFILE is {budget}"),
                    String::new(),
                    String::new(),
                    String::new(),
                ]);
                continue;
            }
            // The server holds 11 descriptors of its own (stdio, listener, the signal socket pair and
            // a clone per signal, two eventfds), and conns take the next numbers.
            if model == "select" && idle + p.active + 11 >= iomux::FD_SETSIZE {
                rows.push(vec![
                    model.clone(),
                    idle.to_string(),
                    "FD_SETSIZE wall".into(),
                    String::new(),
                    String::new(),
                    String::new(),
                ]);
                continue;
            }
            let server = spec.start(lab)?;
            let config = load::Config {
                idle,
                ..load::Config::closed_loop(server.addr, p.active, 64, 1, p.duration, p.warmup)
            };
            let m = measure(&server, &config, p.repeat)?;
            let summary = server.stop();
            let per_wait = fds_per_wait(&summary);
            let base = *base.get_or_insert(m.msgs_per_s);
            points.push((idle.max(1) as f64, m.msgs_per_s / base));
            lab.record(&json!({
                "experiment": "idle", "model": model, "idle": idle, "active": p.active, "msgs_per_s": m.msgs_per_s,
                "relative_to_no_idle": m.msgs_per_s / base, "server_cpu_us_per_msg": m.cpu_us_per_msg, "p99_us": m.p99_us,
                "fds_passed_per_wait": per_wait, "errors": m.errors, "mismatches": m.mismatches,
            }))?;
            rows.push(vec![
                model.clone(),
                idle.to_string(),
                format!("{:.0}", m.msgs_per_s),
                format!("{:.2}", m.msgs_per_s / base),
                format!("{:.2}", m.cpu_us_per_msg),
                per_wait.map_or("-".into(), |v| format!("{v:.0}")),
            ]);
        }
        series.push(Series {
            name: model.clone(),
            points,
        });
    }
    lab.say(&table(
        &[
            "model",
            "idle conns",
            "active msg/s",
            "x no idle",
            "CPU us/msg",
            "fds/wait",
        ],
        &rows,
    ));
    lab.write_chart(
        "idle",
        &line_chart(
            "Active throughput as idle connections grow (1.0 = none idle)",
            "idle connections (0 is plotted at 1)",
            "throughput relative to 0 idle",
            &series,
            true,
            false,
        ),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_fds_per_wait_from_a_summary() {
        let s = "served 3 connections (0 refused); 1 bytes in, 1 bytes out; selector: 10 waits, 1002.0 fds passed per wait, 1.0 events per wait, 0 ctl calls, 0.1 s waiting";
        assert_eq!(super::fds_per_wait(s), Some(1002.0));
        assert_eq!(super::fds_per_wait("served 0 connections"), None);
    }
}
