//! `iomux bench busy`: the notes' busy-polling server against epoll when there is little to do:
//! idle clients and a trickle of messages. What a message costs in CPU, and its latency.
use std::io;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::chart::bar_chart;
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
pub const NAME: &str = "busy";
/// The subject the others are compared with across testbeds.
pub const REFERENCE: &str = "epoll";

/// `iomux bench busy` parameters; their defaults are the flags' defaults.
#[derive(clap::Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Models to measure.
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "nonblocking,epoll"
    )]
    #[serde(with = "crate::units::names")]
    pub models: Vec<Model>,
    /// Idle clients.
    #[arg(long, default_value_t = 100)]
    pub idle: usize,
    /// Active clients.
    #[arg(long, default_value_t = 10)]
    pub active: usize,
    /// Messages per second, in all.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// Measured seconds.
    #[arg(long, value_parser = parse_seconds, default_value = "2", value_name = "SECS")]
    #[serde(with = "crate::units::secs")]
    pub duration: Duration,
}

impl Experiment for Params {
    const NAME: &'static str = NAME;
    const REFERENCE: &'static str = REFERENCE;

    fn measure(&self, lab: &mut Lab) -> io::Result<()> {
        let p = self;
        let duration = if lab.quick {
            quick::DURATION * 2
        } else {
            p.duration
        };
        for &model in &p.models {
            let server = ServerSpec::new(Subject::Model(model))?.start(&lab.pinning)?;
            let config = load::Config {
                rate: Some(p.rate),
                idle: p.idle,
                ..load::Config::closed_loop(
                    server.addr,
                    p.active,
                    64,
                    1,
                    duration,
                    Duration::from_millis(200),
                )
            };
            let m = measure_server(&server, &config, 1)?;
            drop(server.stop());
            let core_share = m.cpu_us_per_msg * m.msgs_per_s / 1e6;
            let point = Point::new(NAME, model.name())
                .param("idle", p.idle)
                .param("active", p.active)
                .param("rate", p.rate);
            lab.point(m.into_point(point).metric("server_cpu_share", core_share))?;
        }
        Ok(())
    }

    fn render(&self, report: &mut Report, points: &[Point]) -> io::Result<()> {
        let p = self;
        report.say(&format!(
            "busy: {} idle clients, {} active sending {:.0} msg/s in all (open loop), {:.1} s measured",
            p.idle,
            p.active,
            p.rate,
            p.duration.as_secs_f64()
        ));
        let fmt = crate::table::cell;
        let mine: Vec<&Point> = p
            .models
            .iter()
            .filter_map(|m| points.iter().find(|pt| pt.subject == m.name()))
            .collect();
        let rows: Vec<Vec<String>> = mine
            .iter()
            .map(|pt| {
                vec![
                    pt.subject.clone(),
                    fmt(pt.get("msgs_per_s"), 0),
                    fmt(pt.get("server_cpu_us_per_msg"), 1),
                    pt.get("server_cpu_share")
                        .map_or("?".into(), |s| format!("{:.0}%", s * 100.0)),
                    fmt(pt.get("p50_us"), 0),
                    fmt(pt.get("p99_us"), 0),
                ]
            })
            .collect();
        report.say(&table(
            &[
                "model",
                "msg/s",
                "CPU us/msg",
                "CPU use",
                "p50 us",
                "p99 us",
            ],
            &rows,
        ));
        let names: Vec<String> = mine.iter().map(|pt| pt.subject.clone()).collect();
        let values: Vec<Vec<f64>> = mine
            .iter()
            .map(|pt| {
                vec![
                    pt.get("server_cpu_us_per_msg").unwrap_or(f64::NAN),
                    pt.get("server_cpu_share").map_or(f64::NAN, |s| s * 100.0),
                ]
            })
            .collect();
        report.write_chart(
            "busy",
            &bar_chart(
                "A trickle of messages: what waiting costs (lower is better)",
                "server CPU: microseconds per message, and % of a core",
                &["CPU us per message".to_owned(), "% of a core".to_owned()],
                &names,
                &values,
            ),
        )
    }
}
