//! The runner every timed experiment shares: load a running server with the load generator for
//! a window, sample the server's CPU at the window's edges, repeat, keep the medians.
use std::io;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use iomux_load::{self as load, WindowEdge};

use crate::process::{CpuSample, ServerProc};
use iomux_store::compare::median;
use iomux_store::record::Point;

/// One measured point of one server (medians over the repeats).
#[derive(Clone, Debug, Default)]
pub struct Measured {
    /// Messages answered per second.
    pub msgs_per_s: f64,
    /// The server's CPU time (user + system) per message, in microseconds.
    pub cpu_us_per_msg: f64,
    /// The server's user CPU time per message, in microseconds.
    pub user_us_per_msg: f64,
    /// The server's system (kernel) CPU time per message, in microseconds.
    pub system_us_per_msg: f64,
    /// Median latency, in microseconds.
    pub p50_us: f64,
    /// 99th percentile latency, in microseconds.
    pub p99_us: f64,
    /// The load generator's CPU time per message (warm-up included), in microseconds.
    pub load_cpu_us_per_msg: f64,
    /// Messages per time the server went to sleep (voluntary context switches of its
    /// threads): how much each wake-up batched.
    pub msgs_per_wakeup: f64,
    /// How evenly the connections were served (Jain's index, 1.0 even; see
    /// `iomux_load::Report::fairness`).
    pub fairness: f64,
    /// The least-served connection's answered messages as a share of the mean.
    pub least_served: f64,
    /// Failed connections and unanswered messages, summed over the repeats.
    pub errors: u64,
    /// Connections whose echo differed from what was sent, summed over the repeats.
    pub mismatches: u64,
    /// Open loop: the share of the window's messages the load sent on schedule (see
    /// `iomux_load::Report::on_schedule`); NaN in a closed loop.
    pub on_schedule: f64,
}

/// How many more times a run the load generator itself disturbed is measured before it is
/// kept as it is: a window in which nothing was answered, or an open loop that sent less
/// than [`ON_SCHEDULE`] of its messages on time. On a 2-core machine another process can
/// hold the load's core for longer than a short window; measuring such a window again costs
/// one window, keeping it would record a server that did no work as one that costs nothing.
pub const REMEASURES: usize = 2;

/// The share of an open loop's messages that must go out on schedule for the run to have
/// offered the load it claims.
pub const ON_SCHEDULE: f64 = 0.9;

/// Whether the load generator, not the server, decided `report`: nothing answered, or an
/// open loop that did not keep its schedule.
fn disturbed(report: &load::Report) -> bool {
    report.messages == 0 || report.on_schedule.is_some_and(|share| share < ON_SCHEDULE)
}

impl Measured {
    /// As a point's metrics.
    pub fn into_point(self, point: Point) -> Point {
        point
            .metric("msgs_per_s", self.msgs_per_s)
            .metric("server_cpu_us_per_msg", known(self.cpu_us_per_msg))
            .metric("server_user_us_per_msg", known(self.user_us_per_msg))
            .metric("server_system_us_per_msg", known(self.system_us_per_msg))
            .metric("p50_us", self.p50_us)
            .metric("p99_us", self.p99_us)
            .metric("load_cpu_us_per_msg", self.load_cpu_us_per_msg)
            .metric("msgs_per_wakeup", self.msgs_per_wakeup)
            .metric("fairness", self.fairness)
            .metric("least_served", self.least_served)
            .metric("errors", self.errors as f64)
            .metric("mismatches", self.mismatches as f64)
            .metric("load_on_schedule", known(self.on_schedule))
    }
}

/// `value` unless it is NaN (not measured).
fn known(value: f64) -> Option<f64> {
    (!value.is_nan()).then_some(value)
}

/// The points of a matrix: every (connections, size, pipeline) combination, in table order
/// (connections outermost).
pub fn matrix(conns: &[usize], sizes: &[usize], pipelines: &[usize]) -> Vec<(usize, usize, usize)> {
    conns
        .iter()
        .flat_map(|&c| {
            sizes
                .iter()
                .flat_map(move |&s| pipelines.iter().map(move |&d| (c, s, d)))
        })
        .collect()
}

/// Runs `config` against `server` `repeat` times and returns the medians.
pub fn measure_server(
    server: &ServerProc,
    config: &load::Config,
    repeat: usize,
) -> io::Result<Measured> {
    let mut runs = Vec::new();
    for _ in 0..repeat.max(1) {
        let progress = Arc::new(AtomicU64::new(0));
        let mut cpu = [CpuSample::default(); 2];
        let mut attempts = 0;
        let report = loop {
            let report = load::run_observed(config, &progress, &mut |edge| {
                cpu[usize::from(edge == WindowEdge::End)] = server.cpu_sample();
            })?;
            attempts += 1;
            if !disturbed(&report) || attempts > REMEASURES {
                break report;
            }
        };
        // No message answered: no cost per message (not the whole window's CPU over one).
        let messages = report.messages as f64;
        let (user, system) = cpu[1].since(&cpu[0]);
        let per_msg = |d: Duration| {
            if report.messages == 0 {
                f64::NAN
            } else {
                d.as_secs_f64() * 1e6 / messages
            }
        };
        runs.push(Measured {
            msgs_per_s: report.msgs_per_s,
            cpu_us_per_msg: per_msg(user + system),
            user_us_per_msg: per_msg(user),
            system_us_per_msg: per_msg(system),
            p50_us: report.p50_us,
            p99_us: report.p99_us,
            load_cpu_us_per_msg: report.load_cpu_s * 1e6
                / (report.msgs_per_s * (config.duration + config.warmup).as_secs_f64()).max(1.0),
            msgs_per_wakeup: messages / cpu[1].sleeps_since(&cpu[0]).max(1) as f64,
            fairness: report.fairness,
            least_served: report.least_served,
            errors: report.errors + report.unanswered,
            mismatches: report.mismatches,
            on_schedule: report.on_schedule.unwrap_or(f64::NAN),
        });
    }
    Ok(merge(&runs))
}

/// Medians of the measurements; errors and mismatches are summed.
pub fn merge(runs: &[Measured]) -> Measured {
    let pick = |f: fn(&Measured) -> f64| median(runs.iter().map(f).collect());
    Measured {
        msgs_per_s: pick(|m| m.msgs_per_s),
        cpu_us_per_msg: pick(|m| m.cpu_us_per_msg),
        user_us_per_msg: pick(|m| m.user_us_per_msg),
        system_us_per_msg: pick(|m| m.system_us_per_msg),
        p50_us: pick(|m| m.p50_us),
        p99_us: pick(|m| m.p99_us),
        load_cpu_us_per_msg: pick(|m| m.load_cpu_us_per_msg),
        msgs_per_wakeup: pick(|m| m.msgs_per_wakeup),
        fairness: pick(|m| m.fairness),
        least_served: pick(|m| m.least_served),
        errors: runs.iter().map(|m| m.errors).sum(),
        mismatches: runs.iter().map(|m| m.mismatches).sum(),
        on_schedule: pick(|m| m.on_schedule),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(messages: u64, on_schedule: Option<f64>) -> load::Report {
        load::Report {
            messages,
            on_schedule,
            ..load::Report::default()
        }
    }

    #[test]
    fn a_window_the_load_did_not_drive_is_disturbed() {
        assert!(disturbed(&report(0, None)), "nothing answered");
        assert!(disturbed(&report(500, Some(0.5))), "half sent late");
        assert!(!disturbed(&report(500, None)), "a closed loop that ran");
        assert!(!disturbed(&report(500, Some(0.97))), "an open loop on time");
    }
}
