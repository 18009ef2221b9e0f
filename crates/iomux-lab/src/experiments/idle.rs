//! `iomux bench idle`: a few active connections under load while many idle ones are open.
//!
//! The notes' claim: select and poll hand every watched descriptor to the kernel on every wait,
//! so their cost grows with idle connections that never say anything; epoll's does not. Each
//! point starts a fresh server, opens the idle connections, then drives the active ones; the
//! server's own selector counters (from its JSON summary) give the fds passed per wait.
use std::io;
use std::time::Duration;

use iomux::FD_SETSIZE;
use serde::{Deserialize, Serialize};

use crate::chart::{line_chart, Series};
use crate::experiment::Experiment;
use crate::lab::Lab;
use crate::params::quick;
use crate::process::ServerSpec;
use crate::report::Report;
use crate::runner::measure_server;
use crate::subjects::Subject;
use crate::table::table;
use crate::units::parse_seconds;
use iomux_load as load;
use iomux_metadata::Model;
use iomux_store::record::Point;

/// The experiment's name, in records and on the command line.
pub const NAME: &str = "idle";
/// The subject the others are compared with across testbeds.
pub const REFERENCE: &str = "epoll";

/// `iomux bench idle` parameters; their defaults are the flags' defaults.
#[derive(clap::Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Models to measure (default: every readiness model and the completion model).
    #[arg(long, value_delimiter = ',', value_enum)]
    #[serde(with = "crate::units::names")]
    pub models: Vec<Model>,
    /// Idle connection counts.
    #[arg(long, value_delimiter = ',', default_value = "0,1000,5000,15000")]
    pub idle: Vec<usize>,
    /// Active connections.
    #[arg(long, default_value_t = 10)]
    pub active: usize,
    /// Measured seconds per point.
    #[arg(long, value_parser = parse_seconds, default_value = "0.5", value_name = "SECS")]
    #[serde(with = "crate::units::secs")]
    pub duration: Duration,
    /// Warm-up seconds per point.
    #[arg(long, value_parser = parse_seconds, default_value = "0.2", value_name = "SECS")]
    #[serde(with = "crate::units::secs")]
    pub warmup: Duration,
    /// Runs per point (the median is reported).
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
}

impl Experiment for Params {
    const NAME: &'static str = NAME;
    const REFERENCE: &'static str = REFERENCE;

    fn measure(&self, lab: &mut Lab) -> io::Result<()> {
        let p = self;
        let budget = crate::params::fd_budget()?;
        let (duration, warmup, repeat) = if lab.quick {
            (quick::DURATION, quick::WARMUP, 1)
        } else {
            (p.duration, p.warmup, p.repeat)
        };
        for model in p.models() {
            let spec = ServerSpec::new(Subject::Model(model))?;
            for &idle in &p.idle {
                let point = Point::new(NAME, model.name())
                    .param("idle", idle)
                    .param("active", p.active);
                let needed = (idle + p.active) as u64 + 64;
                if lab.quick && idle > quick::MAX_FDS {
                    lab.point(point.param(
                        "skipped",
                        format!("more than {} fds in a --quick run", quick::MAX_FDS),
                    ))?;
                    continue;
                }
                if needed > budget {
                    lab.point(point.param(
                        "skipped",
                        format!("needs {needed} fds, RLIMIT_NOFILE is {budget}"),
                    ))?;
                    continue;
                }
                let server = spec.start(&lab.pinning)?;
                // Connections take the numbers after the server's own descriptors: a backend with
                // an fd-number limit (select) cannot hold them all past it.
                let highest = server.open_fds() + idle + p.active;
                if model
                    .backend()
                    .and_then(|k| k.fd_limit())
                    .is_some_and(|limit| highest >= limit)
                {
                    drop(server.stop());
                    lab.point(point.param("skipped", format!("FD_SETSIZE wall ({FD_SETSIZE})")))?;
                    continue;
                }
                let config = load::Config {
                    idle,
                    ..load::Config::closed_loop(server.addr, p.active, 64, 1, duration, warmup)
                };
                let m = measure_server(&server, &config, repeat)?;
                let per_wait = server
                    .stop()
                    .and_then(|summary| Some(summary.selector?.fds_per_wait));
                lab.point(m.into_point(point).metric("fds_passed_per_wait", per_wait))?;
            }
        }
        Ok(())
    }

    fn render(&self, report: &mut Report, points: &[Point]) -> io::Result<()> {
        let p = self;
        report.say(&format!(
            "idle: {} active connections (64 B, pipeline 1) while {:?} idle connections are open; {:.1} s measured, median of {}",
            p.active,
            p.idle,
            p.duration.as_secs_f64(),
            p.repeat
        ));
        let mut rows = Vec::new();
        let mut series = Vec::new();
        for model in p.models() {
            let mut base = None;
            let mut line = Vec::new();
            for &idle in &p.idle {
                let Some(pt) = points
                    .iter()
                    .find(|pt| pt.subject == model.name() && pt.at("idle") == Some(idle as u64))
                else {
                    continue;
                };
                let mut row = vec![model.name().to_owned(), idle.to_string()];
                match pt.get("msgs_per_s") {
                    Some(rate) => {
                        let base = *base.get_or_insert(rate);
                        line.push((idle.max(1) as f64, rate / base));
                        row.extend([
                            format!("{rate:.0}"),
                            format!("{:.2}", rate / base),
                            pt.get("server_cpu_us_per_msg")
                                .map_or("?".into(), |v| format!("{v:.2}")),
                            pt.get("fds_passed_per_wait")
                                .map_or("-".into(), |v| format!("{v:.0}")),
                        ]);
                    }
                    None => row.push(
                        pt.params
                            .get("skipped")
                            .and_then(|v| v.as_str())
                            .map_or("skipped".into(), |why| format!("skipped: {why}")),
                    ),
                }
                rows.push(row);
            }
            series.push(Series {
                name: model.name().to_owned(),
                points: line,
            });
        }
        report.say(&table(
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
        report.write_chart(
            "idle",
            &line_chart(
                "Active throughput as idle connections grow (1.0 = none idle)",
                "idle connections (0 is plotted at 1)",
                "throughput relative to 0 idle",
                &series,
                true,
                false,
            ),
        )
    }
}

impl Params {
    fn models(&self) -> Vec<Model> {
        if self.models.is_empty() {
            Model::all()
                .iter()
                .copied()
                .filter(|m| m.multiplexes())
                .collect()
        } else {
            self.models.clone()
        }
    }
}
